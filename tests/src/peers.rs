//! Starting the interop peers (the official Node socket.io server and the python-socketio
//! server) on 127.0.0.1, and stopping them when the test is done.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

static INSTALL: Mutex<bool> = Mutex::new(false);

/// Installs the peers into `.peers/` once per process (the script itself is idempotent).
pub fn ensure_installed() {
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let status = Command::new(repo_root().join("scripts/install-peers"))
        .status()
        .expect("scripts/install-peers could not run");
    assert!(status.success(), "scripts/install-peers failed");
    *done = true;
}

/// The Python of the peers' virtual environment.
pub fn python() -> PathBuf {
    ensure_installed();
    repo_root().join(".peers/venv/bin/python")
}

/// Runs the peers' Python with `args` and returns what it wrote on stdout; panics with its
/// stderr when it fails, and kills it when it runs past `deadline`.
pub fn run_python(args: &[&str], deadline: Duration) -> String {
    use std::io::Read;
    let mut child = Command::new(python())
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the peers' python starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    // Only the script is named: the other arguments may hold the dev server's API key.
    let script = args.first().copied().unwrap_or_default();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python {script} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "python {script} failed ({status}):\n{stderr}"
    );
    stdout
}

/// A peer process; killed when dropped.
pub struct Peer {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Peer {
    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(mut cmd: Command, what: &str) -> Peer {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the peer never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} printed no port within 30 s");
            }
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {line:?}: {e}"));
        let port = v["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("a port");
        Peer { child, port }
    }

    /// The Node socket.io server, offering these transports (`polling,websocket` by default).
    pub fn node(transports: &str) -> Peer {
        ensure_installed();
        let root = repo_root();
        let mut cmd = Command::new("node");
        cmd.arg(root.join("tests/peers/interop_node.cjs"))
            .env("NODE_PATH", root.join(".peers/node/node_modules"))
            .env("TRANSPORTS", transports);
        Peer::start(cmd, "the Node socket.io server")
    }

    /// The python-socketio server, offering these transports.
    pub fn python(transports: &str) -> Peer {
        let mut cmd = Command::new(python());
        cmd.arg(repo_root().join("tests/peers/interop_python.py"))
            .arg(transports);
        Peer::start(cmd, "the python-socketio server")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

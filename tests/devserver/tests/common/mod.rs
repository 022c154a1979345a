//! Helpers for the dev server's integration tests: a tiny std-only HTTP/1.1 client, a raw
//! Engine.IO v4 polling client (hand-written framing is fine here: it is the test's side, the
//! server runs socketioxide), and a runner for the Python peers with deadlines and kill-on-drop.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_devserver::{DevConfig, DevServer};

/// How long any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `cond` every few milliseconds until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A small server for one test.
pub fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default()
    })
    .expect("dev server starts")
}

// ---------------------------------------------------------------------- HTTP

/// A response read to the end.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn decode_chunked(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        b = &b[i + 2..];
        if size == 0 || b.len() < size {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

/// One request on a fresh connection (`Connection: close`); the answer is read to EOF.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(WAIT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let mut has_length = false;
    for (k, v) in headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    read_response(&mut s)
}

pub fn read_response(s: &mut TcpStream) -> io::Result<Resp> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = decode_chunked(&body);
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// `POST path` with a JSON body and an optional bearer token.
pub fn post(server: &DevServer, path: &str, token: Option<&str>, body: &Value) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    request(
        server.local_addr(),
        "POST",
        path,
        &headers,
        body.to_string().as_bytes(),
    )
    .expect("HTTP request")
}

/// `GET path` with an optional bearer token.
pub fn get(server: &DevServer, path: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request(server.local_addr(), "GET", path, &headers, b"").expect("HTTP request")
}

/// A project API call.
pub fn api(server: &DevServer, endpoint: &str, token: &str, body: Value) -> Resp {
    post(
        server,
        &format!("/api/p/{}{endpoint}", server.project()),
        Some(token),
        &body,
    )
}

/// `/auth` with the server's API key: `(JWT, envelope)`.
pub fn auth(server: &DevServer) -> (String, Value) {
    let r = post(
        server,
        &format!("/api/p/{}/auth", server.project()),
        None,
        &json!({"api_key": server.api_key()}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r
        .header("Authorization")
        .expect("JWT in the Authorization header")
        .to_owned();
    (token, r.json())
}

// ---------------------------------------------------------------------- Engine.IO polling

/// A raw Engine.IO v4 polling session (one request per connection).
pub struct Eio {
    addr: SocketAddr,
    pub sid: String,
    pending: VecDeque<String>,
}

impl Eio {
    pub fn open(addr: SocketAddr) -> Eio {
        let r = request(addr, "GET", "/sync/io/?EIO=4&transport=polling", &[], b"").expect("open");
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        let open: Value =
            serde_json::from_str(text.strip_prefix('0').expect("open packet")).expect("open JSON");
        Eio {
            addr,
            sid: open["sid"].as_str().expect("sid").to_owned(),
            pending: VecDeque::new(),
        }
    }

    fn path(&self) -> String {
        format!("/sync/io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    /// Sends Engine.IO packets in one POST.
    pub fn send(&self, packets: &[&str]) {
        let body = packets.join("\u{1e}");
        let r = request(
            self.addr,
            "POST",
            &self.path(),
            &[("Content-Type", "text/plain")],
            body.as_bytes(),
        )
        .expect("post");
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// One long-poll GET: the packets it returns (pings are answered and left out).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let r = request(self.addr, "GET", &self.path(), &[], b"")?;
        if r.status != 200 {
            return Err(io::Error::other(format!(
                "poll status {}: {}",
                r.status,
                r.text()
            )));
        }
        let mut out = Vec::new();
        for p in r.text().split('\u{1e}') {
            if p == "2" {
                self.send(&["3"]);
            } else if !p.is_empty() {
                out.push(p.to_owned());
            }
        }
        Ok(out)
    }

    /// The next non-ping packet.
    pub fn next(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        while self.pending.is_empty() {
            assert!(Instant::now() < deadline, "no packet from the server");
            let got = self.poll().expect("poll");
            self.pending.extend(got);
        }
        self.pending.pop_front().unwrap_or_default()
    }

    /// Socket.IO CONNECT to `/` with an auth payload; returns the server's answer packet.
    pub fn connect(&mut self, auth: Option<Value>) -> String {
        match auth {
            Some(a) => self.send(&[&format!("40{a}")]),
            None => self.send(&["40"]),
        }
        self.next()
    }

    /// Connect with a JWT, then `initsync`; returns the ack's arguments.
    pub fn connect_and_sync(&mut self, token: &str, project: &str, cc: u64, cursor: u64) -> Value {
        let answer = self.connect(Some(json!({"JWT": token})));
        assert!(answer.starts_with("40{"), "connect refused: {answer}");
        self.initsync(
            1,
            &json!({"cc.cursor": cc, "project": project, "cursor": cursor}),
        )
    }

    /// Emits `initsync` with ack id `id`; returns the ack's argument list.
    pub fn initsync(&mut self, id: u32, payload: &Value) -> Value {
        self.send(&[&format!("42{id}{}", json!(["initsync", payload]))]);
        let ack = self.next();
        let prefix = format!("43{id}");
        let args = ack
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("expected ack {id}, got {ack}"));
        serde_json::from_str(args).expect("ack JSON")
    }

    /// The next `sync` event's argument list.
    pub fn next_event(&mut self) -> (String, Vec<Value>) {
        let p = self.next();
        let body = p
            .strip_prefix("42")
            .unwrap_or_else(|| panic!("expected an event, got {p}"));
        let mut v: Vec<Value> = serde_json::from_str(body).expect("event JSON");
        let name = v.remove(0).as_str().unwrap_or_default().to_owned();
        (name, v)
    }
}

// ---------------------------------------------------------------------- Python peers

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The peers' Python, installing them first (scripts/install-peers, idempotent) when missing.
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let root = repo_root();
        let py = root.join(".peers/venv/bin/python");
        if !py.exists() {
            let mut child = KillOnDrop(
                Command::new("bash")
                    .arg(root.join("scripts/install-peers"))
                    .current_dir(&root)
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("run scripts/install-peers"),
            );
            let status = child
                .wait_timeout(Duration::from_secs(900))
                .expect("install-peers finished in time");
            assert!(status.success(), "scripts/install-peers failed: {status}");
        }
        assert!(py.exists(), "no {}", py.display());
        py
    })
    .clone()
}

/// A child process that is killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Waits for the exit, polling; `None` on timeout (the child is then killed on drop).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a peer script did.
pub struct PeerRun {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl PeerRun {
    /// The JSON summary on the last stdout line; panics with the full output otherwise.
    pub fn summary(&self) -> Value {
        let ok = self.status.is_some_and(|s| s.success());
        let last = self.stdout.lines().last().unwrap_or_default();
        match serde_json::from_str::<Value>(last) {
            Ok(v) if ok => v,
            _ => panic!(
                "peer failed (status {:?})\n--- stdout\n{}\n--- stderr\n{}",
                self.status, self.stdout, self.stderr
            ),
        }
    }
}

/// Runs `tests/peers/<script>` with the peers' Python; killed after `timeout`.
pub fn run_peer(script: &str, args: &[&str], timeout: Duration) -> PeerRun {
    run_python(&repo_root().join("tests/peers").join(script), args, timeout)
}

/// Runs a Python script with the peers' Python; killed after `timeout`.
pub fn run_python(path: &Path, args: &[&str], timeout: Duration) -> PeerRun {
    let mut child = KillOnDrop(
        Command::new(python())
            .arg(path)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python"),
    );
    let mut out = child.0.stdout.take().expect("stdout");
    let mut err = child.0.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = child.wait_timeout(timeout);
    drop(child); // kills it if it is still running, which closes its pipes
    PeerRun {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

//! The `mirror` example, run as a user would (a process of its own, stopped with SIGTERM),
//! recording its session; the replay of that log gives no divergence and the same store the
//! mirror wrote.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unicat_devserver::{DevConfig, DevServer};
use unicat_replay::{replay, Log, Mode};

fn example(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps; cargo builds the examples beside them.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_recorded_mirror_session_replays_strictly_to_the_file_it_wrote() {
    let mirror = example("mirror");
    assert!(mirror.exists(), "{} is not built", mirror.display());
    let server = DevServer::start(DevConfig {
        records: 30,
        ..DevConfig::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("unicat-mirror-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, log) = (dir.join("mirror.json"), dir.join("session.jsonl"));
    let mut child = Command::new(&mirror)
        .args([
            "--out",
            out.to_str().unwrap(),
            "--all-records",
            "--record",
            log.to_str().unwrap(),
        ])
        .env("UNICAT_URL", server.url())
        .env("UNICAT_PROJECT", server.project())
        .env("UNICAT_API_KEY", server.api_key())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let cursor_in_file = |out: &PathBuf| -> Option<u64> {
        let text = std::fs::read_to_string(out).ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()?["cursor"].as_u64()
    };
    wait_until("the first write", || out.exists());
    server.control().change_records(30, Some("price")).unwrap();
    server.control().drop_transports();
    server.control().change_records(10, Some("stock")).unwrap();
    let (_, cursor) = server.control().cursors();
    wait_until("the mirror catching up", || {
        cursor_in_file(&out) == Some(cursor)
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mirror did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "mirror exited with {exit}");

    let written = std::fs::read_to_string(&out).unwrap();
    let recorded = std::fs::read_to_string(&log).unwrap();
    assert!(!recorded.contains(server.api_key()));
    let outcome = replay(&Log::open(&log).unwrap(), Mode::Strict).unwrap_or_else(|e| panic!("{e}"));
    let replayed: serde_json::Value = serde_json::from_str(&outcome.store.to_json()).unwrap();
    let mirrored: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        replayed, mirrored,
        "the replayed store differs from the mirror file"
    );
    assert_eq!(replayed["data"]["records"].as_object().unwrap().len(), 31);
    let _ = std::fs::remove_dir_all(&dir);
}

//! The examples' logs hold no secret, even at `RUST_LOG=trace`: their filter drops the
//! transport crates' traffic dumps, and a whole session through a re-authentication, run as a
//! user runs it, leaves neither the API key nor any JWT in stderr.

#[path = "../../runtimes/examples/common.rs"]
mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use log::{Level, Metadata};
use unicat_devserver::{DevConfig, DevServer};
use unicat_tests::examples::example;

#[test]
fn no_traffic_dump_passes_the_examples_filter_at_trace() {
    for target in [
        "tungstenite::protocol",
        "async_tungstenite",
        "ureq_proto::util",
        "ureq::unversioned::transport",
    ] {
        let trace = Metadata::builder()
            .target(target)
            .level(Level::Trace)
            .build();
        assert!(!common::shows(&trace), "{target} at TRACE");
        let debug = Metadata::builder()
            .target(target)
            .level(Level::Debug)
            .build();
        assert!(common::shows(&debug), "{target} at DEBUG");
    }
    let ours = Metadata::builder()
        .target("unicat_core::client")
        .level(Level::Trace)
        .build();
    assert!(common::shows(&ours));
}

/// Runs `watch` at TRACE through a JWT that expires while the socket is down, so the example
/// refuses, re-authenticates with its kept key and reconnects; returns its stderr.
fn watch_log(name: &str, server: &DevServer) -> String {
    let gid = server.control().record_gids(1)[0].clone();
    let dir = std::env::temp_dir().join(format!("unicat-logs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(example(name))
        .arg(&gid)
        .env("UNICAT_URL", server.url())
        .env("UNICAT_PROJECT", server.project())
        .env("UNICAT_API_KEY", server.api_key())
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let lines = |n: usize| {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            >= n
    };
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "{name}: {what} not within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("the first line", &|| lines(1));
    let control = server.control();
    control.reset_counters();
    control.expire_jwts();
    control.drop_transports();
    wait("the re-authentication", &|| {
        control.counters().get("/auth").copied().unwrap_or(0) >= 1
            && control.synced_socket_count() >= 1
    });
    control
        .set_field(&gid, Some("en"), "price", serde_json::json!(7.25))
        .unwrap();
    wait("the change after it", &|| lines(2));
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    std::fs::File::open(&err)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    log
}

fn assert_no_secret(name: &str, log: &str, server: &DevServer) {
    assert!(
        log.contains("DEBUG"),
        "{name}: the log was verbose: {} bytes",
        log.len()
    );
    let mut secrets = vec![server.api_key().to_string()];
    secrets.extend(server.control().issued_jwts());
    assert!(
        secrets.len() >= 3,
        "{name}: tokens were issued: {secrets:?}"
    );
    // Hex dumps print 16 bytes a row, its ASCII beside it: a secret split over rows shows as
    // pieces, so every 8-byte piece of every secret is looked for.
    for secret in &secrets {
        let bytes = secret.as_bytes();
        for piece in bytes.windows(8.min(bytes.len())) {
            let piece = String::from_utf8_lossy(piece);
            assert!(
                !log.contains(piece.as_ref()),
                "{name}: a piece of a secret in the log: {piece}"
            );
        }
    }
}

#[test]
fn the_blocking_watch_example_logs_no_secret_at_trace() {
    let server = DevServer::start(DevConfig {
        records: 5,
        jwt_renew_after: Some(Duration::from_millis(1)),
        ..DevConfig::default()
    })
    .unwrap();
    let log = watch_log("watch", &server);
    assert_no_secret("watch", &log, &server);
}

#[test]
fn the_smol_watch_example_logs_no_secret_at_trace() {
    let server = DevServer::start(DevConfig {
        records: 5,
        jwt_renew_after: Some(Duration::from_millis(1)),
        ..DevConfig::default()
    })
    .unwrap();
    let log = watch_log("smol_watch", &server);
    assert_no_secret("smol_watch", &log, &server);
}

//! The binary prints exactly one JSON line, `{"url", "project", "api_key"}`, then serves until
//! killed; and the library's handles can cross threads.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::*;
use serde_json::json;

#[test]
fn the_binary_prints_one_json_line_then_serves() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_unicat-devserver"))
            .args(["--port", "0", "--records", "7", "--job-step-delay", "1ms"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the binary"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Anything more on stdout would break callers that read one line.
        let _ = tx.send(lines.next());
    });
    let line = rx
        .recv_timeout(WAIT)
        .expect("a line in time")
        .expect("a line")
        .expect("UTF-8");
    assert!(line.starts_with(r#"{"url":"http://127.0.0.1:"#), "{line}");
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&str> = ready
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let url = ready["url"].as_str().unwrap();
    let project = ready["project"].as_str().unwrap();
    let addr: std::net::SocketAddr = url.strip_prefix("http://").unwrap().parse().unwrap();

    let r = request(
        addr,
        "POST",
        &format!("/api/p/{project}/auth"),
        &[],
        json!({"api_key": ready["api_key"]}).to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let token = r.header("Authorization").unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let r = request(
        addr,
        "POST",
        &format!("/api/p/{project}/records/children"),
        &[("Authorization", &bearer)],
        json!({"record": r.json()["result"]["user"]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 422);
    let info = request(addr, "GET", "/_dev/info", &[], b"").unwrap().json();
    assert_eq!(info["project"], project);
    let children = request(addr, "POST", "/_dev/record_gids", &[], br#"{"count": 100}"#)
        .unwrap()
        .json();
    assert_eq!(children["records"].as_array().unwrap().len(), 7);

    assert!(child.0.try_wait().unwrap().is_none(), "still serving");
    drop(child);
    assert!(
        matches!(rx.recv_timeout(WAIT), Ok(None | Some(Err(_)))),
        "nothing else on stdout"
    );
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<unicat_devserver::Control>();
    send_sync::<unicat_devserver::DevServer>();
    send_sync::<unicat_devserver::DevConfig>();
    send_sync::<unicat_devserver::ControlError>();
}

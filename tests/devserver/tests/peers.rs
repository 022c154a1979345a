//! Fidelity: clients that are not ours, against the dev server.
//!
//! * `tests/peers/fidelity.py`: the seed's async connector (python-socketio) sees a field
//!   change arrive through a `sync` event; the official SDK's `sync()` sees more changes
//!   through `/sync/get` (following `warning` over pages) and downloads a published asset.
//! * `tests/peers/sio_drops.py`: a python-socketio client sees a transport-level drop (over
//!   WebSocket and over polling), reconnects and resyncs; a server-side disconnect ends it
//!   without a reconnect.
//!
//! The peers live in `.peers/venv` (created by `scripts/install-peers` when missing).

mod common;

use std::time::Duration;

use common::*;
use unicat_devserver::{DevConfig, DevServer};

const PEER_TIMEOUT: Duration = Duration::from_secs(90);

fn args(server: &DevServer) -> [String; 3] {
    [
        server.url().to_owned(),
        server.project().to_owned(),
        server.api_key().to_owned(),
    ]
}

#[test]
fn seed_connector_and_official_sdk_follow_changes() {
    let server = DevServer::start(DevConfig {
        records: 100,
        sync_page_limit: 10,
        ..DevConfig::default()
    })
    .unwrap();
    let a = args(&server);
    let run = run_peer("fidelity.py", &[&a[0], &a[1], &a[2]], PEER_TIMEOUT);
    let summary = run.summary();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["connector"]["after"], 0.30000000000000004);
    assert_eq!(summary["sdk"]["stock"], 778);
    assert_eq!(summary["sdk"]["sync_calls"], 3, "26 items over pages of 10");
    let c = server.control().counters();
    for key in [
        "/auth",
        "/records/get",
        "//users/get",
        "socket.io connect",
        "initsync",
        "/sync/get",
        "dam/publish",
        "dam/transform",
        "media",
    ] {
        // `//users/get` is not called by these flows; every other key must be there.
        if key == "//users/get" {
            continue;
        }
        assert!(
            c.get(key).copied().unwrap_or(0) >= 1,
            "{key} never counted: {c:?}"
        );
    }
    assert_eq!(c.get("/auth"), Some(&2), "one connector, one SDK");
}

fn drops(mode: &str) -> serde_json::Value {
    let server = server(5);
    let a = args(&server);
    run_peer("sio_drops.py", &[&a[0], &a[1], &a[2], mode], PEER_TIMEOUT).summary()
}

#[test]
fn a_websocket_client_sees_the_transport_drop_and_reconnects() {
    let s = drops("transport-websocket");
    assert_eq!(s["transport"], "websocket");
    assert_eq!(s["connects"], 2);
    assert_ne!(s["reason"], "io server disconnect");
}

#[test]
fn a_polling_client_sees_the_transport_drop_and_reconnects() {
    let s = drops("transport-polling");
    assert_eq!(s["transport"], "polling");
    assert_eq!(s["connects"], 2);
}

#[test]
fn a_server_disconnect_is_final() {
    let s = drops("server-disconnect");
    assert_eq!(s["disconnected"], 1);
    assert_eq!(s["connects"], 1);
}

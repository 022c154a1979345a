//! The golden replay logs in `tests/replays/`: sessions of the blocking runtime recorded
//! against the dev server, one per situation worth keeping. `UPDATE_REPLAYS=1 cargo test -p
//! unicat-tests --test replays` records them again; review the diff like a snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use unicat_blocking::UnicatApi;
use unicat_core::client::Event;
use unicat_devserver::{DevConfig, DevServer};

use crate::peers::repo_root;

/// Where the golden logs live.
pub fn dir() -> PathBuf {
    repo_root().join("tests/replays")
}

const WAIT: Duration = Duration::from_secs(20);

/// The golden sessions, by file name.
pub const SESSIONS: [&str; 6] = [
    "quiet",
    "erp_burst",
    "reconnect_storm",
    "restore",
    "version_change",
    "jwt_expiry",
];

fn wait_for(api: &UnicatApi, what: &str, pred: impl Fn(&Event) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        if api.next_event(left).is_some_and(|e| pred(&e)) {
            return;
        }
    }
    panic!("{what} did not happen within {WAIT:?}");
}

/// Waits, at most 20 s, until the client's project cursor is the server's.
pub fn converge(api: &UnicatApi, server: &DevServer) {
    let (_, cursor) = server.control().cursors();
    let deadline = std::time::Instant::now() + WAIT;
    while api.store().cursor() as u64 != cursor {
        assert!(std::time::Instant::now() < deadline, "no convergence");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records one session into `path`, against a fresh dev server with a fixed seed.
pub fn record(name: &str, path: &Path) {
    let server = DevServer::start(DevConfig {
        records: 20,
        job_step_delay: Duration::from_millis(5),
        ..DevConfig::default()
    })
    .expect("dev server");
    let control = server.control();
    let api = UnicatApi::builder(server.url(), server.project())
        .keep_api_key(true)
        .seed(7)
        .record(path)
        .build()
        .expect("client");
    api.connect(server.api_key()).expect("connect");
    api.wait_caught_up(WAIT).expect("caught up");
    let held = control.record_gids(10);
    api.call("/records/get", json!({"records": held}))
        .expect("records/get");
    match name {
        "quiet" => {}
        "erp_burst" => {
            for (i, gid) in held.iter().enumerate() {
                control
                    .set_field(gid, Some("en"), "price", json!(20.0 + i as f64 * 0.25))
                    .unwrap();
            }
            control.change_records(20, Some("stock")).unwrap();
            converge(&api, &server);
        }
        "reconnect_storm" => {
            for round in 0..5 {
                control.drop_transports();
                control
                    .change_records(5, Some(if round % 2 == 0 { "price" } else { "stock" }))
                    .unwrap();
                wait_for(&api, "reconnect", |e| matches!(e, Event::Connected));
            }
            converge(&api, &server);
        }
        "restore" => {
            control.backup().unwrap();
            wait_for(
                &api,
                "backup done",
                |e| matches!(e, Event::Job { job, .. } if job.job == "backup_project" && job.status == "done"),
            );
            control.change_records(10, Some("price")).unwrap();
            converge(&api, &server);
            control.restore().unwrap();
            wait_for(&api, "store reset", |e| matches!(e, Event::StoreReset));
            converge(&api, &server);
        }
        "version_change" => {
            control.bump_version(None);
            wait_for(&api, "version change", |e| {
                matches!(e, Event::VersionChanged { .. })
            });
        }
        "jwt_expiry" => {
            control.pause_sync();
            control.expire_jwts();
            control.drop_transports();
            control.change_records(10, Some("price")).unwrap();
            control.resume_sync();
            wait_for(&api, "reconnect", |e| matches!(e, Event::Connected));
            api.wait_caught_up(WAIT).expect("caught up");
            converge(&api, &server);
        }
        other => panic!("no golden session {other}"),
    }
    api.close();
}

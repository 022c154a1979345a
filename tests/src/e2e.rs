//! The end-to-end suite against the embedded dev server, written once and run for every
//! runtime: each runtime implements [`UnicatHandle`] over its `UnicatApi`.
//!
//! Faults are real: transports are dropped by the server, tokens expire on the server, the
//! server restores its data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::api::CallError;
use unicat_core::client::{ClientConfig, Event, Health, Stats};
use unicat_core::store::{DataType, Store};
use unicat_core::sync::Action;
use unicat_devserver::{DevConfig, DevServer};

/// How the suite wants a client built.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep the API key for re-authentication.
    pub keep_api_key: bool,
    /// The asset folder.
    pub asset_folder: Option<PathBuf>,
    /// Trust only this root certificate (DER), for a dev server in TLS mode.
    pub tls_root: Option<Vec<u8>>,
    /// Adjusts the core's configuration (shorter timeouts and backoff for fault tests).
    pub configure: Option<fn(ClientConfig) -> ClientConfig>,
}

/// A runtime's Unicat client, as the suite drives it. Errors are flattened to [`CallError`]
/// where the call was made, or `None` for runtime-level failures.
pub trait UnicatHandle: Sized + Send + Sync {
    /// Builds a client for the server.
    fn build(url: &str, project: &str, options: Options) -> Self;
    /// Authenticates and starts live sync.
    fn connect(&self, api_key: &str) -> Result<Value, Option<CallError>>;
    /// Calls an endpoint.
    fn call(&self, endpoint: &str, body: Value) -> Result<Value, Option<CallError>>;
    /// Downloads an asset.
    fn download(&self, asset: &str, pathname: Option<&str>) -> Result<String, Option<CallError>>;
    /// Waits until connected and caught up.
    fn wait_caught_up(&self, timeout: Duration) -> bool;
    /// The next event.
    fn next_event(&self, timeout: Duration) -> Option<Event>;
    /// Reads the store.
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T;
    /// The handle's `Debug` output.
    fn debug(&self) -> String;
    /// How live sync is doing.
    fn health(&self) -> Health;
    /// Queue lengths.
    fn stats(&self) -> Stats;
    /// A snapshot of the store, to keep.
    fn store(&self) -> Store;
    /// Closes the client; returns once it is closed.
    fn close(&self);
}

const WAIT: Duration = Duration::from_secs(20);

fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default()
    })
    .expect("the dev server starts")
}

fn connected<H: UnicatHandle>(server: &DevServer, options: Options) -> H {
    let h = H::build(server.url(), server.project(), options);
    h.connect(server.api_key()).expect("connect");
    assert!(h.wait_caught_up(WAIT), "not caught up within {WAIT:?}");
    h
}

/// Waits for the first event `pred` accepts; panics after [`WAIT`].
pub fn wait_for<H: UnicatHandle>(h: &H, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(e) = h.next_event(left) {
            if pred(&e) {
                return e;
            }
            if seen.len() < 50 {
                seen.push(e);
            }
        }
    }
    panic!("no {what} within {WAIT:?}; saw {seen:#?}");
}

/// Polls `cond` on the store until it holds; panics after [`WAIT`].
pub fn eventually<H: UnicatHandle>(h: &H, what: &str, mut cond: impl FnMut(&Store) -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if h.with_store(&mut cond) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{what}: not true within {WAIT:?}");
}

fn price(store: &Store, gid: &str) -> Option<Value> {
    store.record(gid)?.pointer("/fields/en/price")
}

/// Connect: the store is loaded from scratch and live sync catches up.
pub fn connect_loads_the_store<H: UnicatHandle>() {
    let server = server(20);
    let h: H = connected(&server, Options::default());
    let (cc, cursor) = server.control().cursors();
    h.with_store(|s| {
        assert_eq!(s.version(), server.control().version());
        assert_eq!((s.cc_cursor() as u64, s.cursor() as u64), (cc, cursor));
        assert!(s.get(DataType::Languages, "nl").is_some());
        assert!(!s.map(DataType::Definitions).is_empty());
        assert!(!s.map(DataType::ProjectsMembers).is_empty());
    });
}

/// Watch: an ERP changes a field; the change arrives by itself and the store has the value.
pub fn an_erp_change_is_seen<H: UnicatHandle>() {
    let server = server(20);
    let h: H = connected(&server, Options::default());
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server
        .control()
        .set_field(&gid, Some("en"), "price", json!(123.45))
        .unwrap();
    wait_for(
        &h,
        "Changed",
        |e| matches!(e, Event::Changed { data_type: DataType::Records, key, action: Action::Update } if *key == gid),
    );
    assert_eq!(h.with_store(|s| price(s, &gid)), Some(json!(123.45)));
}

/// A delete on the server removes the record from the store.
pub fn a_delete_is_seen<H: UnicatHandle>() {
    let server = server(20);
    let h: H = connected(&server, Options::default());
    let gid = server.control().record_gids(2)[1].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server.control().delete_record(&gid).unwrap();
    wait_for(
        &h,
        "Changed Delete",
        |e| matches!(e, Event::Changed { action: Action::Delete, key, .. } if *key == gid),
    );
    assert!(h.with_store(|s| s.record(&gid).is_none()));
}

/// A new definition is fetched on its INSERT.
pub fn a_schema_insert_is_fetched<H: UnicatHandle>() {
    let server = server(5);
    let h: H = connected(&server, Options::default());
    let gid = server.control().add_definition("accessory", &[]).unwrap();
    wait_for(
        &h,
        "Changed Insert",
        |e| matches!(e, Event::Changed { data_type: DataType::Definitions, action: Action::Insert, key } if *key == gid),
    );
    let name = h.with_store(|s| {
        s.get(DataType::Definitions, &gid)
            .and_then(|d| d.pointer("/name"))
    });
    assert_eq!(name, Some(json!("accessory")));
}

/// A server version bump is reported.
pub fn a_version_change_is_reported<H: UnicatHandle>() {
    let server = server(5);
    let h: H = connected(&server, Options::default());
    let old = server.control().version();
    let new = server.control().bump_version(None);
    let e = wait_for(&h, "VersionChanged", |e| {
        matches!(e, Event::VersionChanged { .. })
    });
    assert_eq!(
        e,
        Event::VersionChanged {
            old,
            new: new.clone()
        }
    );
    assert_eq!(h.with_store(|s| s.version().to_string()), new);
}

/// A restore: the store is reset and reloaded, and held records show their restored values.
pub fn a_restore_resets_and_reloads<H: UnicatHandle>() {
    let server = server(10);
    let h: H = connected(&server, Options::default());
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    let before = h.with_store(|s| price(s, &gid)).unwrap();
    server.control().backup().unwrap();
    wait_for(
        &h,
        "backup done",
        |e| matches!(e, Event::Job { job, .. } if job.job == "backup_project" && job.status == "done"),
    );
    server
        .control()
        .set_field(&gid, Some("en"), "price", json!(999.99))
        .unwrap();
    eventually(&h, "the change", |s| price(s, &gid) == Some(json!(999.99)));
    server.control().restore().unwrap();
    wait_for(&h, "StoreReset", |e| matches!(e, Event::StoreReset));
    eventually(&h, "the restored value", |s| {
        price(s, &gid) == Some(before.clone())
    });
    assert!(h.with_store(|s| !s.map(DataType::Definitions).is_empty()));
}

/// Compares every record the client holds with the server's canonical state.
fn assert_converged<H: UnicatHandle>(h: &H, server: &DevServer, held: &[String]) {
    let state = server.control().state();
    let (_, cursor) = server.control().cursors();
    eventually(h, "the cursor reaches the server's", |s| {
        s.cursor() as u64 == cursor
    });
    h.with_store(|s| {
        for gid in held {
            let want = &state["data"]["records"][gid];
            let got = s.record(gid).map(|o| o.to_value());
            match got {
                Some(v) => assert_eq!(&v, want, "record {gid}"),
                None => assert!(want.is_null(), "record {gid} is missing"),
            }
        }
    });
}

/// The socket dropped 20 times during 2,000 changes, each drop cutting a live socket;
/// afterwards every held record equals the server's.
pub fn twenty_drops_during_two_thousand_changes<H: UnicatHandle>() {
    let server = server(200);
    let h: H = connected(
        &server,
        Options {
            // Short reconnect delays, so twenty drops fit in the test.
            configure: Some(crate::faults::quick),
            ..Options::default()
        },
    );
    let held = server.control().record_gids(200);
    for chunk in held.chunks(100) {
        h.call("/records/get", json!({"records": chunk})).unwrap();
    }
    crate::faults::drain(&h);
    let changing = AtomicBool::new(true);
    let mut dropped = 0;
    std::thread::scope(|scope| {
        let control = server.control();
        let changing = &changing;
        scope.spawn(move || {
            for round in 0..20 {
                control
                    .change_records(100, Some(if round % 2 == 0 { "stock" } else { "price" }))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            changing.store(false, Ordering::SeqCst);
        });
        for _ in 0..20 {
            // The drop cuts the socket the client has now: it sees it go, and comes back.
            assert!(server.control().drop_transports() >= 1);
            wait_for(&h, "Disconnected", |e| {
                matches!(e, Event::Disconnected { .. })
            });
            dropped += 1;
            wait_for(&h, "Connected again", |e| matches!(e, Event::Connected));
        }
    });
    assert!(!changing.load(Ordering::SeqCst));
    assert_eq!(dropped, 20);
    assert!(h.wait_caught_up(WAIT));
    assert_converged(&h, &server, &held);
}

/// The JWT expires while the client is disconnected: the reconnect is refused, the client
/// re-authenticates with the kept key, and catches up without losing a change.
pub fn an_expired_jwt_while_disconnected_re_authenticates<H: UnicatHandle>() {
    let server = server(20);
    let h: H = connected(
        &server,
        Options {
            keep_api_key: true,
            ..Options::default()
        },
    );
    let held = server.control().record_gids(20);
    h.call("/records/get", json!({"records": held})).unwrap();
    // The first connection's events are spent: a Connected seen below is the reconnect's.
    crate::faults::drain(&h);
    server.control().reset_counters();
    server.control().pause_sync();
    server.control().expire_jwts();
    server.control().drop_transports();
    server.control().change_records(20, Some("price")).unwrap();
    server.control().resume_sync();
    wait_for(&h, "Connected again", |e| matches!(e, Event::Connected));
    let counters = server.control().counters();
    assert_eq!(
        counters.get("socket.io connect_error"),
        Some(&1),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("/auth"),
        Some(&1),
        "one re-authentication: {counters:?}"
    );
    assert!(h.wait_caught_up(WAIT));
    assert_converged(&h, &server, &held);
    // Calls work with the new token too.
    h.call("/records/get", json!({"record": held[0]})).unwrap();
}

/// Over HTTPS and WSS (the dev server's TLS mode, trusted through its certificate alone):
/// connect, catch up, see a change.
pub fn works_over_tls<H: UnicatHandle>() {
    let server = DevServer::start(DevConfig {
        records: 10,
        tls: true,
        ..DevConfig::default()
    })
    .unwrap();
    assert!(server.url().starts_with("https://"));
    let root = server.tls_root_der().unwrap().to_vec();
    let h: H = connected(
        &server,
        Options {
            tls_root: Some(root),
            ..Options::default()
        },
    );
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server
        .control()
        .set_field(&gid, Some("en"), "price", json!(7.5))
        .unwrap();
    eventually(&h, "the change over TLS", |s| {
        price(s, &gid) == Some(json!(7.5))
    });
    // Without the root, the certificate is refused.
    let stranger = H::build(server.url(), server.project(), Options::default());
    match stranger.connect(server.api_key()) {
        Err(Some(CallError::Transport(e))) => {
            assert_eq!(e.kind, unicat_core::error::TransportErrorKind::Tls, "{e}")
        }
        other => panic!("an unknown certificate was accepted: {other:?}"),
    }
}

/// A download whose path the server made hostile is refused, and nothing is written outside
/// the asset folder.
pub fn a_download_leaving_the_asset_folder_is_refused<H: UnicatHandle>() {
    let server = server(5);
    let dir = temp_dir("e2e");
    let folder = dir.join("assets");
    std::fs::create_dir_all(&folder).unwrap();
    let state = server.control().state();
    let (gid, _) = state["data"]["assets"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, a)| a["is_file"] == json!(true))
        .expect("a file asset");
    let gid = gid.clone();
    // By default media comes over https from the API's domain only: the dev server's plain
    // http on loopback is refused before a byte is fetched.
    let strict: H = connected(
        &server,
        Options {
            asset_folder: Some(folder.clone()),
            ..Options::default()
        },
    );
    strict.call("/assets/get", json!({"asset": gid})).unwrap();
    server.control().reset_counters();
    match strict.download(&gid, None) {
        Err(Some(CallError::UntrustedUrl { reason, .. })) => assert_eq!(reason, "plain http"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(server.control().counters().get("media"), None);
    let h: H = connected(
        &server,
        Options {
            asset_folder: Some(folder.clone()),
            configure: Some(|c| c.media_hosts(unicat_core::api::MediaHosts::local_dev())),
            ..Options::default()
        },
    );
    h.call("/assets/get", json!({"asset": gid})).unwrap();
    // A normal download lands inside the folder.
    let rel = h.download(&gid, None).unwrap();
    assert!(folder.join(&rel).is_file(), "{rel}");
    // The server gives the asset a pathname that climbs out of the folder.
    server
        .control()
        .patch(
            "assets",
            &gid,
            json!({"pathname": "/../../escape/evil.jpg"}),
        )
        .unwrap();
    eventually(&h, "the hostile pathname", |s| {
        s.asset(&gid).and_then(|a| a.pointer("/pathname")) == Some(json!("/../../escape/evil.jpg"))
    });
    match h.download(&gid, None) {
        Err(Some(CallError::UnsafePath(_))) => {}
        other => panic!("not refused: {other:?}"),
    }
    match h.download(&gid, Some("../../../x.jpg")) {
        Err(Some(CallError::UnsafePath(_))) => {}
        other => panic!("not refused: {other:?}"),
    }
    assert!(!dir.join("escape").exists());
    assert!(!std::env::temp_dir().join("escape").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A redirect is an answer, not an instruction: the API never sends one, and following it
/// would take the client's requests to whatever host the `Location` names. The call fails and
/// the other host never hears from the client.
pub fn a_redirect_is_not_followed<H: UnicatHandle>() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let location = format!(
        "http://{}/api/p/elsewhere/auth",
        elsewhere.local_addr().unwrap()
    );
    let redirector = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        // The whole request, so the client is not cut off mid-write.
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            if seen.ends_with(b"}") {
                break;
            }
        }
        let answer = format!(
            "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        conn.write_all(answer.as_bytes()).unwrap();
    });
    let h = H::build(
        &url,
        "a4b5c6d7-0000-4000-8000-000000000001",
        Options::default(),
    );
    let result = h.connect("the-key-that-must-not-travel");
    redirector.join().unwrap();
    assert!(
        matches!(result, Err(Some(_))),
        "a redirect answered a call: {result:?}"
    );
    match elsewhere.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the client followed the redirect: {other:?}"),
    }
}

fn unique() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// A new, empty folder of its own under the system's temporary folder.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("unicat-{tag}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// Neither the API key nor any JWT shows in `Debug` output or in the logs captured while the
/// client connected, synced, re-authenticated and renewed its token.
pub fn secrets_stay_out_of_debug_and_logs<H: UnicatHandle>(logs: &dyn Fn() -> String) {
    let server = DevServer::start(DevConfig {
        records: 5,
        jwt_renew_after: Some(Duration::from_millis(1)),
        ..DevConfig::default()
    })
    .unwrap();
    let h: H = connected(
        &server,
        Options {
            keep_api_key: true,
            ..Options::default()
        },
    );
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server.control().push_authorization();
    server.control().expire_jwts();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server
        .control()
        .set_field(&gid, None, "stock", json!(1))
        .unwrap();
    wait_for(&h, "Changed", |e| matches!(e, Event::Changed { .. }));
    let debug = h.debug();
    let logs = logs();
    let mut secrets = vec![server.api_key().to_string()];
    secrets.extend(server.control().issued_jwts());
    assert!(secrets.len() > 2, "tokens were issued: {secrets:?}");
    for secret in &secrets {
        assert!(
            !debug.contains(secret.as_str()),
            "a secret in Debug output: {debug}"
        );
        let leaks: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(secret.as_str()))
            .take(5)
            .collect();
        assert!(leaks.is_empty(), "a secret in the logs: {leaks:#?}");
        // Hex dumps print 16 bytes a row: look for every 16-byte piece too.
        let bytes = secret.as_bytes();
        for piece in bytes.windows(16.min(bytes.len())) {
            let piece = String::from_utf8_lossy(piece);
            assert!(
                !logs.contains(piece.as_ref()),
                "a piece of a secret in the logs: {piece}"
            );
        }
    }
    assert!(
        logs.contains("POST"),
        "the logs were captured: {} bytes",
        logs.len()
    );
}

/// A snapshot of the store is the application's to keep: calls go on while it is held (no
/// lock is taken, so none can deadlock), live sync goes on, and the snapshot stays as it was
/// taken while a newer one shows the change.
pub fn a_snapshot_outlives_calls_and_changes<H: UnicatHandle>() {
    let server = server(10);
    let h: H = connected(&server, Options::default());
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    let snapshot = h.store();
    let before = price(&snapshot, &gid).expect("a price");
    // Calls while the snapshot is held, the pattern that deadlocked a read guard:
    // `if let Some(r) = api.store().record(g) { api.call(..) }`.
    if snapshot.record(&gid).is_some() {
        h.call("/records/get", json!({"record": gid})).unwrap();
    }
    server
        .control()
        .set_field(&gid, Some("en"), "price", json!(1234.5))
        .unwrap();
    eventually(&h, "the new price", |s| {
        price(s, &gid) == Some(json!(1234.5))
    });
    assert_eq!(price(&snapshot, &gid), Some(before), "the snapshot changed");
    assert!(h.wait_caught_up(WAIT));
}

/// The whole client over the IPv6 loopback: `http://[::1]:PORT`, whose bracketed host must
/// reach the resolver bare, for HTTP and for the WebSocket alike.
pub fn over_the_ipv6_loopback<H: UnicatHandle>() {
    let server = DevServer::start(DevConfig {
        records: 5,
        ipv6: true,
        ..DevConfig::default()
    })
    .expect("a dev server on [::1]");
    assert!(
        server.url().starts_with("http://[::1]:"),
        "{}",
        server.url()
    );
    let h: H = connected(&server, Options::default());
    assert!(matches!(h.health(), Health::Connected | Health::CatchingUp));
    let gid = server.control().record_gids(1)[0].clone();
    h.call("/records/get", json!({"record": gid})).unwrap();
    server
        .control()
        .set_field(&gid, Some("en"), "price", json!(6.0))
        .unwrap();
    eventually(&h, "the change, over the socket on [::1]", |s| {
        price(s, &gid) == Some(json!(6.0))
    });
}

/// Closing never waits for the network: with ten calls and two downloads under way against a
/// server that stopped answering, `close` returns at once, and every caller gets its error
/// well before its 60-second timeout.
pub fn close_abandons_what_a_silent_server_holds<H: UnicatHandle + 'static>() {
    let server = server(5);
    let dir = temp_dir("e2e");
    let h: Arc<H> = Arc::new(connected(
        &server,
        Options {
            asset_folder: Some(dir.join("assets")),
            configure: Some(|c| c.media_hosts(unicat_core::api::MediaHosts::local_dev())),
            ..Options::default()
        },
    ));
    let assets = file_assets(&server, 2);
    for a in &assets {
        h.call("/assets/get", json!({"asset": a})).unwrap();
    }
    let gid = server.control().record_gids(1)[0].clone();
    // From now on no answer comes for ten minutes.
    server.control().delay_api(Duration::from_secs(600));
    let mut callers = Vec::new();
    for _ in 0..10 {
        let (h, gid) = (Arc::clone(&h), gid.clone());
        callers.push(std::thread::spawn(move || {
            h.call("/records/get", json!({"record": gid})).map(drop)
        }));
    }
    for a in assets {
        let h = Arc::clone(&h);
        callers.push(std::thread::spawn(move || h.download(&a, None).map(drop)));
    }
    let deadline = Instant::now() + WAIT;
    while h.stats().pending_calls < 12 {
        assert!(Instant::now() < deadline, "the calls did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    h.close();
    let closed_in = started.elapsed();
    for c in callers {
        let r = c.join().unwrap();
        assert!(r.is_err(), "a call succeeded against a silent server");
    }
    let all_in = started.elapsed();
    assert!(
        closed_in < Duration::from_secs(5),
        "close took {closed_in:?}"
    );
    assert!(
        all_in < Duration::from_secs(5),
        "the calls took {all_in:?} to fail"
    );
    server.control().clear_faults();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gids of `n` file assets of the dev server's project.
fn file_assets(server: &DevServer, n: usize) -> Vec<String> {
    let state = server.control().state();
    let found: Vec<String> = state["data"]["assets"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, a)| a["is_file"] == json!(true))
        .map(|(gid, _)| gid.clone())
        .take(n)
        .collect();
    assert_eq!(found.len(), n, "not enough file assets");
    found
}

/// Downloads land through a temporary file nobody can plant: links waiting at the names the
/// previous release used (`<file>.part-<pid>-<n>`) are never followed, and a file named with
/// the file system's full 255 bytes downloads, its temporary name being short.
pub fn downloads_ignore_planted_links_and_take_long_names<H: UnicatHandle>() {
    let server = server(5);
    let dir = temp_dir("e2e");
    let folder = dir.join("assets");
    std::fs::create_dir_all(&folder).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let h: H = connected(
        &server,
        Options {
            asset_folder: Some(folder.clone()),
            configure: Some(|c| c.media_hosts(unicat_core::api::MediaHosts::local_dev())),
            ..Options::default()
        },
    );
    let gid = file_assets(&server, 1).remove(0);
    let long = format!("/{}.jpg", "n".repeat(251));
    h.call("/assets/get", json!({"asset": gid})).unwrap();
    let dest = folder.join(&long[1..]);
    #[cfg(unix)]
    for n in 0..50 {
        let planted = folder.join(format!("short.jpg.part-{}-{n}", std::process::id()));
        std::os::unix::fs::symlink(&victim, planted).unwrap();
    }
    let short = h.download(&gid, Some("/short.jpg")).unwrap();
    assert!(folder.join(&short).is_file(), "{short}");
    let rel = h.download(&gid, Some(&long)).unwrap();
    assert!(dest.is_file(), "{rel}");
    assert_eq!(dest.file_name().unwrap().len(), 255);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".unicat-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

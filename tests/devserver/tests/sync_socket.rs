//! The Sync API over Socket.IO, driven with a raw Engine.IO polling client: auth on connect,
//! the `initsync` ack, `sync` broadcasts (single and bulk), pause/resume, `authorization`
//! pushes, the server-side disconnect and the transport-level drop.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use unicat_devserver::{DevConfig, DevServer};

/// Polls until a poll fails; `Ok` if it never did within a few polls.
fn keep_polling(eio: &mut Eio) -> std::io::Result<()> {
    for _ in 0..20 {
        eio.poll()?;
    }
    Ok(())
}

fn item_cursors(list: &Value) -> Vec<u64> {
    list.as_array()
        .expect("a list of items")
        .iter()
        .map(|i| i["cursor"].as_u64().unwrap())
        .collect()
}

#[test]
fn connect_needs_a_valid_jwt() {
    let server = server(2);
    let (token, _) = auth(&server);
    let cases = [
        None,
        Some(json!({})),
        Some(json!({"JWT": 5})),
        Some(json!({"JWT": "nope"})),
    ];
    for auth_payload in cases {
        let mut eio = Eio::open(server.local_addr());
        let answer = eio.connect(auth_payload.clone());
        let err: Value = serde_json::from_str(
            answer
                .strip_prefix("44")
                .unwrap_or_else(|| panic!("{answer}")),
        )
        .unwrap();
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .starts_with("Permission denied"),
            "{err}"
        );
    }
    let mut eio = Eio::open(server.local_addr());
    assert!(eio
        .connect(Some(json!({"JWT": token})))
        .starts_with("40{\"sid\":"));
    server.control().expire_jwts();
    let mut eio = Eio::open(server.local_addr());
    assert!(
        eio.connect(Some(json!({"JWT": token}))).starts_with("44"),
        "an expired JWT is refused"
    );
    let c = server.control().counters();
    assert_eq!(c.get("socket.io connect"), Some(&1));
    assert_eq!(c.get("socket.io connect_error"), Some(&5));
}

#[test]
fn initsync_acks_one_list_of_the_items_after_the_cursors() {
    let server = server(5);
    let control = server.control();
    let (token, init) = auth(&server);
    let (cc, cursor) = (
        init["result"]["cc.cursor"].as_u64().unwrap(),
        init["result"]["cursor"].as_u64().unwrap(),
    );
    let gids = control.record_gids(2);
    control
        .set_field(&gids[0], Some("en"), "price", json!(0.5))
        .unwrap();
    let version = control.bump_version(None);
    control
        .set_field(&gids[1], None, "stock", json!(1))
        .unwrap();

    let mut eio = Eio::open(server.local_addr());
    let args = eio.connect_and_sync(&token, server.project(), cc, cursor);
    let args = args.as_array().expect("ack arguments");
    assert_eq!(args.len(), 1, "one argument: the bare list");
    let items = &args[0];
    assert_eq!(
        items,
        &json!([
            {"type": server.project(), "cursor": cursor + 1, "action": "UPDATE", "data_type": "records", "data_key": gids[0]},
            {"type": "cc", "cursor": cc + 1, "action": "UPDATE", "data_type": "cc.version", "data_key": version},
            {"type": server.project(), "cursor": cursor + 2, "action": "UPDATE", "data_type": "records", "data_key": gids[1]},
        ])
    );
    // Per family: only what is newer than each cursor.
    let again = eio.initsync(
        2,
        &json!({"cc.cursor": cc + 1, "project": server.project(), "cursor": cursor + 1}),
    );
    assert_eq!(item_cursors(&again[0]), vec![cursor + 2]);
    let nothing = eio.initsync(
        3,
        &json!({"cc.cursor": cc + 1, "project": server.project(), "cursor": cursor + 2}),
    );
    assert_eq!(nothing, json!([[]]));
    // Another project: null.
    assert_eq!(
        eio.initsync(4, &json!({"cc.cursor": 0, "project": "other", "cursor": 0})),
        json!([null])
    );
    assert_eq!(eio.initsync(5, &json!("garbage")), json!([null]));
    assert_eq!(control.counters().get("initsync"), Some(&5));
}

#[test]
fn changes_are_broadcast_once_synced_single_at_once_bulk_in_hundreds() {
    let server = server(300);
    let control = server.control();
    let (token, init) = auth(&server);
    let cursor = init["result"]["cursor"].as_u64().unwrap();
    let mut eio = Eio::open(server.local_addr());
    assert_eq!(
        eio.connect_and_sync(&token, server.project(), 100, cursor),
        json!([[]])
    );
    assert_eq!(control.synced_socket_count(), 1);

    let gid = control.record_gids(1)[0].clone();
    control
        .set_field(&gid, Some("nl"), "price", json!(1.25))
        .unwrap();
    let (name, args) = eio.next_event();
    assert_eq!(name, "sync");
    assert_eq!(
        args,
        vec![
            json!([{"type": server.project(), "cursor": cursor + 1, "action": "UPDATE", "data_type": "records", "data_key": gid}])
        ]
    );

    control.change_records(250, None).unwrap();
    let mut sizes = Vec::new();
    let mut cursors = Vec::new();
    while cursors.len() < 250 {
        let (name, args) = eio.next_event();
        assert_eq!((name.as_str(), args.len()), ("sync", 1));
        sizes.push(args[0].as_array().unwrap().len());
        cursors.extend(item_cursors(&args[0]));
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(cursors, (cursor + 2..=cursor + 251).collect::<Vec<_>>());

    // An insert or a delete is one change of two items (the record, then its parent), sent
    // together; schema additions are INSERT items.
    let new = control.insert_record(None, None).unwrap();
    let (_, args) = eio.next_event();
    let actions = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["action"].as_str().unwrap().to_owned(),
                    i["data_key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let root = control.root_record();
    assert_eq!(
        actions(&args[0]),
        [
            ("INSERT".to_owned(), new.clone()),
            ("UPDATE".to_owned(), root.clone())
        ]
    );
    control.delete_record(&new).unwrap();
    let (_, args) = eio.next_event();
    assert_eq!(
        actions(&args[0]),
        [
            ("DELETE".to_owned(), new.clone()),
            ("UPDATE".to_owned(), root.clone())
        ]
    );
    let field = control.add_field("weight", "decimal", None).unwrap();
    let (_, args) = eio.next_event();
    assert_eq!(
        args[0],
        json!([{"type": server.project(), "cursor": cursor + 256, "action": "INSERT", "data_type": "fields", "data_key": field}])
    );
    let def = control.add_definition("extra", &[&field]).unwrap();
    let (_, args) = eio.next_event();
    assert_eq!(
        (
            args[0][0]["data_type"].as_str(),
            args[0][0]["data_key"].as_str()
        ),
        (Some("definitions"), Some(def.as_str()))
    );
}

#[test]
fn paused_broadcasts_are_held_and_sent_on_resume() {
    let server = server(10);
    let control = server.control();
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    eio.connect_and_sync(&token, server.project(), 100, 1000);
    control.pause_sync();
    assert!(control.is_sync_paused());
    control.change_records(3, None).unwrap();
    control.bump_version(None);
    // Still served to a new socket's initsync while paused.
    let mut late = Eio::open(server.local_addr());
    let args = late.connect_and_sync(&token, server.project(), 100, 1000);
    assert_eq!(args[0].as_array().unwrap().len(), 4);
    control.resume_sync();
    // The held items arrive together (they were not sent one by one while paused).
    let (_, args) = eio.next_event();
    assert_eq!(args[0].as_array().unwrap().len(), 4);
    // The late socket already had them: its next event is the next change.
    control
        .set_field(&control.record_gids(1)[0], None, "stock", json!(0))
        .unwrap();
    let (_, args) = late.next_event();
    assert_eq!(item_cursors(&args[0]), vec![1004]);
    let (_, args) = eio.next_event();
    assert_eq!(item_cursors(&args[0]), vec![1004]);
}

#[test]
fn jobs_are_cc_items_with_data() {
    let server = DevServer::start(DevConfig {
        records: 3,
        job_step_delay: Duration::from_millis(1),
        ..DevConfig::default()
    })
    .unwrap();
    let control = server.control();
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    eio.connect_and_sync(&token, server.project(), 100, 1000);
    let job = control.backup().unwrap();
    let mut statuses = Vec::new();
    while statuses.len() < 3 {
        let (_, args) = eio.next_event();
        for item in args[0].as_array().unwrap() {
            assert_eq!(item["type"], "cc");
            if item["data_type"] == "jobs" {
                assert_eq!(item["data_key"], job);
                assert_eq!(item["data"]["job"], "backup_project");
                assert_eq!(item["data"]["project_gid"], server.project());
                statuses.push(item["data"]["status"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(item["data_type"], "cc.projects");
            }
        }
    }
    assert_eq!(statuses, ["queued", "processing", "done"]);
}

#[test]
fn authorization_events_carry_a_fresh_jwt() {
    let server = DevServer::start(DevConfig {
        records: 1,
        authorization_push_period: Some(Duration::from_millis(50)),
        ..DevConfig::default()
    })
    .unwrap();
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    assert!(eio.connect(Some(json!({"JWT": token}))).starts_with("40"));
    let (name, args) = eio.next_event();
    assert_eq!(name, "authorization");
    let fresh = args[0]["JWT"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    assert_eq!(api(&server, "/records/root", &fresh, json!({})).status, 200);
    assert!(server.control().push_authorization() >= 1);
}

#[test]
fn server_side_disconnect_sends_41() {
    let server = server(1);
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    eio.connect_and_sync(&token, server.project(), 100, 1000);
    assert_eq!(server.control().socket_count(), 1);
    assert_eq!(server.control().disconnect_sockets(), 1);
    assert_eq!(eio.next(), "41");
    assert_eq!(server.control().socket_count(), 0);
}

#[test]
fn dropping_transports_kills_a_pending_long_poll() {
    let server = server(1);
    let control = server.control().clone();
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    eio.connect_and_sync(&token, server.project(), 100, 1000);
    // Every test request used its own connection; wait until the server has reaped them.
    wait_until("earlier connections to close", WAIT, || {
        control.open_connections() == 0
    });
    // engineioxide pings right after the handshake: keep polling (answering pings) until the
    // transport dies, as a client would.
    let poll = std::thread::spawn(move || keep_polling(&mut eio));
    wait_until("the long poll to be open", WAIT, || {
        control.open_connections() == 1
    });
    assert_eq!(control.drop_transports(), 1);
    let outcome = poll.join().expect("poll thread");
    assert!(
        outcome.is_err(),
        "the long poll should die, got {outcome:?}"
    );
    // Nothing said goodbye at the Socket.IO level: the socket is still registered.
    assert_eq!(control.socket_count(), 1);
}

#[test]
fn shutdown_closes_every_connection() {
    let server = server(1);
    let (token, _) = auth(&server);
    let control = server.control().clone();
    let mut eio = Eio::open(server.local_addr());
    eio.connect_and_sync(&token, server.project(), 100, 1000);
    wait_until("earlier connections to close", WAIT, || {
        control.open_connections() == 0
    });
    // engineioxide pings right after the handshake: keep polling (answering pings) until the
    // transport dies, as a client would.
    let poll = std::thread::spawn(move || keep_polling(&mut eio));
    wait_until("the long poll to be open", WAIT, || {
        control.open_connections() == 1
    });
    let addr = server.local_addr();
    server.shutdown();
    assert!(poll.join().expect("poll thread").is_err());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
    assert!(
        control.backup().is_err(),
        "a control handle outliving the server says so"
    );
}

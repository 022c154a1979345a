//! The Unicat rules of the core on HTTP polling sync and jobs (rule 7), one test per rule, each
//! named after it.

use std::time::Duration;

use serde_json::json;
use unicat_core::api::CallError;
use unicat_tests::script::{envelope, held, item, Script};

#[test]
fn rule_7_sync_now_pages_while_the_server_warns() {
    let mut s = Script::new(|c| c.live_sync(false));
    let _ = s.authenticate(10, 10, held(&[("r1", 1.0)]));
    let call = s.client.sync_now(s.now).unwrap();
    let p1 = s.take("/sync/get");
    assert_eq!(p1.uri, "http://unicat.test/sync/get");
    assert_eq!(
        p1.body,
        json!({"cc_cursor": 10, "project": "p1", "cursor": 10})
    );
    s.reply(
        p1.id,
        200,
        envelope(
            json!({"sync": [item("p1", 11, "UPDATE", "records", "r1")], "warning": "more"}),
            json!({}),
        ),
        None,
    );
    assert!(
        !s.has("/sync/get"),
        "the next page waits until page 1 is applied"
    );
    let f = s.take("/records/get");
    s.reply(f.id, 200, envelope(json!({}), held(&[("r1", 5.0)])), None);
    let p2 = s.take("/sync/get");
    assert_eq!(p2.body["cursor"], 11);
    s.reply(
        p2.id,
        200,
        envelope(
            json!({"sync": [item("p1", 12, "DELETE", "records", "r1")]}),
            json!({}),
        ),
        None,
    );
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"cc.cursor": 10, "cursor": 12})))
    );
}

#[test]
fn rule_7_a_page_that_warns_of_more_but_brings_nothing_new_is_the_last() {
    // Asking again from the same cursors would bring the same page, for ever.
    let mut s = Script::new(|c| c.live_sync(false));
    let _ = s.authenticate(10, 10, held(&[("r1", 1.0)]));
    // An empty page, then a page of nothing past the cursors.
    for page in [json!([]), json!([item("p1", 9, "UPDATE", "records", "r1")])] {
        let call = s.client.sync_now(s.now).unwrap();
        let p = s.take("/sync/get");
        s.reply(
            p.id,
            200,
            envelope(json!({"sync": page, "warning": "more"}), json!({})),
            None,
        );
        assert!(!s.has("/sync/get"), "not asked again");
        assert_eq!(
            s.result(call),
            Some(&Ok(json!({"cc.cursor": 10, "cursor": 10})))
        );
    }
}

#[test]
fn too_many_items_under_a_load_without_live_sync_open_no_socket() {
    // The job poll's page lands while /init is out: the held items overflow. Live sync is
    // off, so there is no connection to restart: the items are dropped, and nothing opens a
    // socket behind the application's back.
    let mut s = Script::new(|c| c.live_sync(false).max_held_sync_items(2));
    let _ = s.authenticate(10, 10, held(&[("r1", 1.0)]));
    let _ = s.client.track_job(s.now, "t1", None).unwrap();
    let _ = s.client.init(s.now).unwrap();
    let _init = s.take("/init");
    s.advance_until(10, |s| s.has("/sync/get"));
    let p = s.take("/sync/get");
    let items: Vec<_> = (11..14)
        .map(|c| item("p1", c, "UPDATE", "records", "r1"))
        .collect();
    s.reply(p.id, 200, envelope(json!({"sync": items}), json!({})), None);
    s.advance(std::time::Duration::from_secs(30));
    assert!(
        s.ws.is_none() && s.ws_opening.is_empty(),
        "no socket was opened"
    );
    assert_eq!(s.client.health(), unicat_core::client::Health::Idle);
}

#[test]
fn rule_7_sync_cursors_reports_the_servers_without_moving_ours() {
    let mut s = Script::connected(10, 20, json!({}), |c| c);
    let call = s.client.sync_cursors(s.now).unwrap();
    let r = s.take("/sync/cursors");
    assert_eq!(r.uri, "http://unicat.test/sync/cursors");
    assert_eq!(r.body, json!({}));
    s.land(r.id, (50, 60), json!({}));
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"cc.cursor": 50, "cursor": 60})))
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (10, 20)
    );
}

#[test]
fn rule_7_track_job_until_done_rejected_or_timeout() {
    let mut s = Script::connected(10, 10, json!({}), |c| c);
    let done = s
        .client
        .track_job(s.now, "t1", Some(Duration::from_secs(60)))
        .unwrap();
    let rejected = s.client.track_job(s.now, "t2", None).unwrap();
    let slow = s
        .client
        .track_job(s.now, "t3", Some(Duration::from_secs(5)))
        .unwrap();
    let job = |cursor: i64, token: &str, status: &str| json!({"type": "cc", "cursor": cursor, "action": "UPDATE", "data_type": "jobs", "data_key": token, "data": {"project_gid": "p1", "job": "copy_record_channels_down", "status": status, "info": {}}});
    s.push(json!([
        job(11, "t1", "processing"),
        job(12, "t1", "done"),
        job(13, "t2", "rejected")
    ]));
    assert!(matches!(s.result(done), Some(Ok(v)) if v["status"] == "done"));
    assert!(
        matches!(s.result(rejected), Some(Err(CallError::JobFailed { status, .. })) if status == "rejected")
    );
    s.advance_until(10, |s| s.result(slow).is_some());
    assert_eq!(s.result(slow), Some(&Err(CallError::Timeout)));
}

#[test]
fn rule_7_two_commands_following_one_job_both_get_its_result() {
    let mut s = Script::connected(10, 10, json!({}), |c| c);
    let first = s.client.track_job(s.now, "t1", None).unwrap();
    let second = s.client.track_job(s.now, "t1", None).unwrap();
    s.push(json!([{"type": "cc", "cursor": 11, "action": "UPDATE", "data_type": "jobs", "data_key": "t1", "data": {"project_gid": "p1", "job": "backup_project", "status": "done", "info": {}}}]));
    assert!(matches!(s.result(first), Some(Ok(v)) if v["status"] == "done"));
    assert!(matches!(s.result(second), Some(Ok(v)) if v["status"] == "done"));
}

#[test]
fn rule_7_track_job_polls_sync_get_while_the_socket_is_down() {
    let mut s = Script::new(|c| c.live_sync(false));
    let _ = s.authenticate(10, 10, json!({}));
    let call = s.client.track_job(s.now, "t1", None).unwrap();
    s.advance_until(5, |s| s.has("/sync/get"));
    let p = s.take("/sync/get");
    let item = json!({"type": "cc", "cursor": 11, "action": "UPDATE", "data_type": "jobs", "data_key": "t1", "data": {"project_gid": "p1", "job": "backup_project", "status": "done", "info": {}}});
    s.reply(
        p.id,
        200,
        envelope(json!({"sync": [item]}), json!({})),
        None,
    );
    assert!(matches!(s.result(call), Some(Ok(_))));
}

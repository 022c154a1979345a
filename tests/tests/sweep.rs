//! Malformed-input sweep (after str0m's malformed-packet-injection): every truncation and every
//! single bit flip of valid frames goes through the public API inside `catch_unwind`, and every
//! panic is collected before the test fails. A panic on input is always a bug in the core.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use unicat_core::config::SessionConfig;
use unicat_core::io::{Input, Machine, Output, WsFrame};
use unicat_core::session::Session;
use unicat_tests::drive::{connected_polling, connected_ws, drain, ok, OPEN};

const WS_FRAMES: &[&str] = &[
    r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
    r#"42["sync",[{"type":"cc","cursor":91,"action":"UPDATE","data_type":"jobs","data_key":"t","data":{"status":"done"}}]]"#,
    r#"4212["question",{"a":[1,2.5,"\ud83d\ude00"]}]"#,
    r#"43/admin,13["bar"]"#,
    r#"451-["baz",{"_placeholder":true,"num":0}]"#,
    r#"462-15["bar",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    r#"44{"message":"unauthorized","data":{"why":"bad"}}"#,
    r#"44/nope,"Unable to connect""#,
    "41",
    "2",
    "2probe",
    "6",
    "1",
];

const POLLING_BODIES: &[&str] = &[
    "4hello\x1e2\x1e42[\"a\",1]",
    "451-[\"blob\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA==",
    "6\x1e1",
];

fn mutations(valid: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for len in 0..valid.len() {
        out.push(valid[..len].to_vec());
    }
    for byte in 0..valid.len() {
        for bit in 0..8 {
            let mut m = valid.to_vec();
            m[byte] ^= 1 << bit;
            out.push(m);
        }
    }
    out
}

fn as_frame(bytes: Vec<u8>) -> WsFrame {
    match String::from_utf8(bytes) {
        Ok(text) => WsFrame::Text(text),
        Err(e) => WsFrame::Binary(e.into_bytes()),
    }
}

/// Runs one case; returns a description of the panic, if any.
fn case(name: &str, f: impl FnOnce()) -> Option<String> {
    catch_unwind(AssertUnwindSafe(f)).err().map(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{name}: {msg}")
    })
}

fn exercise(s: &mut Session, now: Instant) {
    while s.poll_output().is_some() {}
    s.handle_timeout(now + Duration::from_secs(3600));
    while s.poll_output().is_some() {}
}

#[test]
fn no_truncation_or_bit_flip_panics() {
    let now = Instant::now();
    let mut panics = Vec::new();
    let mut cases = 0usize;

    for valid in WS_FRAMES.iter().chain([&OPEN]) {
        for m in mutations(valid.as_bytes()) {
            cases += 1;
            let label = format!("ws {:?}", String::from_utf8_lossy(&m));
            panics.extend(case(&label, || {
                let (mut s, ws) = connected_ws(now);
                s.handle_input(
                    now,
                    Input::WsMessage {
                        id: ws,
                        frame: as_frame(m.clone()),
                    },
                );
                // Attachments that may be due, then whatever comes next.
                s.handle_input(
                    now,
                    Input::WsMessage {
                        id: ws,
                        frame: WsFrame::Binary(vec![1, 2]),
                    },
                );
                s.handle_input(
                    now,
                    Input::WsMessage {
                        id: ws,
                        frame: as_frame(m),
                    },
                );
                exercise(&mut s, now);
            }));
        }
    }

    for m in mutations(OPEN.as_bytes()) {
        cases += 1;
        let label = format!("open {:?}", String::from_utf8_lossy(&m));
        panics.extend(case(&label, || {
            let cfg = SessionConfig::new("http://127.0.0.1:1", "/sync/io").unwrap();
            let mut s = Session::new(cfg, now);
            s.connect(now).unwrap();
            let id = match drain(&mut s).first() {
                Some(Output::OpenWs { id, .. }) => *id,
                other => panic!("{other:?}"),
            };
            s.handle_input(now, Input::WsOpened { id });
            s.handle_input(
                now,
                Input::WsMessage {
                    id,
                    frame: as_frame(m),
                },
            );
            exercise(&mut s, now);
        }));
    }

    for valid in POLLING_BODIES {
        for m in mutations(valid.as_bytes()) {
            cases += 1;
            let label = format!("poll {:?}", String::from_utf8_lossy(&m));
            panics.extend(case(&label, || {
                let (mut s, get) = connected_polling(now);
                s.handle_input(
                    now,
                    Input::HttpResponse {
                        id: get,
                        response: ok(m),
                    },
                );
                exercise(&mut s, now);
            }));
        }
    }

    assert!(cases > 5000, "only {cases} cases");
    assert!(
        panics.is_empty(),
        "{} of {cases} cases panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

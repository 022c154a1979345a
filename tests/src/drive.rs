//! Driving a lone [`Session`] by hand, output by output, for tests that script the server
//! side byte for byte.

use std::time::Instant;

use unicat_core::config::{SessionConfig, TransportMode};
use unicat_core::io::{Body, Input, Machine, Output, RequestId, WsFrame, WsId};
use unicat_core::session::{Session, SessionEvent};

/// The open packet a scripted server sends.
pub const OPEN: &str =
    r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// A 200 response with this body.
pub fn ok(body: impl Into<Vec<u8>>) -> http::Response<Body> {
    http::Response::builder()
        .status(200)
        .body(Body(body.into()))
        .unwrap()
}

/// Drains the session's outputs.
pub fn drain(s: &mut Session) -> Vec<Output<SessionEvent>> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

/// The events among outputs.
pub fn events(outputs: &[Output<SessionEvent>]) -> Vec<SessionEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The id of the last long-poll GET among outputs.
pub fn last_get(outputs: &[Output<SessionEvent>]) -> Option<RequestId> {
    outputs.iter().rev().find_map(|o| match o {
        Output::Http { id, request } if request.request.method() == http::Method::GET => Some(*id),
        _ => None,
    })
}

/// A session over a WebSocket, connected to `/`, and the socket's id.
pub fn connected_ws(now: Instant) -> (Session, WsId) {
    let cfg = SessionConfig::new("http://127.0.0.1:1", "/sync/io").unwrap();
    let mut s = Session::new(cfg, now);
    s.connect(now).unwrap();
    let id = match drain(&mut s).as_slice() {
        [Output::OpenWs { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    s.handle_input(now, Input::WsOpened { id });
    s.handle_input(
        now,
        Input::WsMessage {
            id,
            frame: WsFrame::Text(OPEN.into()),
        },
    );
    drain(&mut s);
    s.authenticate(now, "/", None).unwrap();
    s.handle_input(
        now,
        Input::WsMessage {
            id,
            frame: WsFrame::Text(r#"40{"sid":"x"}"#.into()),
        },
    );
    drain(&mut s);
    assert!(s.is_connected("/"));
    (s, id)
}

/// A session over long-polling, connected to `/`, and the id of its pending GET.
pub fn connected_polling(now: Instant) -> (Session, RequestId) {
    let cfg = SessionConfig::new("http://127.0.0.1:1", "/sync/io")
        .unwrap()
        .transport(TransportMode::Polling);
    let mut s = Session::new(cfg, now);
    s.connect(now).unwrap();
    let hs = last_get(&drain(&mut s)).unwrap();
    s.handle_input(
        now,
        Input::HttpResponse {
            id: hs,
            response: ok(OPEN),
        },
    );
    let get = last_get(&drain(&mut s)).unwrap();
    s.authenticate(now, "/", None).unwrap();
    let post = drain(&mut s)
        .iter()
        .find_map(|o| match o {
            Output::Http { id, request } if request.request.method() == http::Method::POST => {
                Some(*id)
            }
            _ => None,
        })
        .unwrap();
    s.handle_input(
        now,
        Input::HttpResponse {
            id: post,
            response: ok("ok"),
        },
    );
    s.handle_input(
        now,
        Input::HttpResponse {
            id: get,
            response: ok(r#"40{"sid":"x"}"#),
        },
    );
    let get = last_get(&drain(&mut s)).unwrap();
    assert!(s.is_connected("/"));
    (s, get)
}

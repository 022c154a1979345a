//! The fault matrix, seen from a raw client: every fault the control surface orders is made
//! for real, on the socket or in the server, and this is what a client meets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use unicat_devserver::{ApiFailure, Fault};

/// A raw TCP connection that has sent half a request, so the server keeps reading it; the
/// server then has `open` connections.
fn half_request(server: &unicat_devserver::DevServer, open: usize) -> TcpStream {
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"POST /sync/cursors HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    wait_until("the server sees the connection", WAIT, || {
        server.control().open_connections() == open
    });
    s
}

#[test]
fn a_drop_is_a_fin_and_a_reset_is_an_rst() {
    let server = server(2);
    let mut fin = half_request(&server, 1);
    server.control().drop_transports();
    let mut buf = [0u8; 64];
    assert_eq!(fin.read(&mut buf).unwrap(), 0, "a FIN reads as the end");
    wait_until("the server lets go", WAIT, || {
        server.control().open_connections() == 0
    });

    let mut rst = half_request(&server, 1);
    assert_eq!(server.control().reset_transports(), 1);
    match rst.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("read {n} bytes instead of a reset"),
    }
}

#[test]
fn a_silenced_connection_answers_nothing_and_never_closes() {
    let server = server(2);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    wait_until("the server sees the connection", WAIT, || {
        server.control().open_connections() >= 1
    });
    assert_eq!(server.control().silence_transports(), 1);
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    s.write_all(b"POST /sync/cursors HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        ),
        Ok(n) => panic!("the silenced server said {n} bytes (0 is a FIN)"),
    }
    // New connections are served as usual.
    assert_eq!(post(&server, "/sync/cursors", None, &json!({})).status, 401);
}

/// Opens a raw WebSocket to the Sync API; returns the stream after the 101.
fn websocket(server: &unicat_devserver::DevServer) -> TcpStream {
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /sync/io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Reads one server frame: opcode and payload.
fn frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

#[test]
fn a_websocket_gets_a_close_frame_and_nothing_else() {
    let server = server(2);
    let mut ws = websocket(&server);
    let (op, open) = frame(&mut ws);
    assert_eq!(op, 1);
    assert!(
        open.starts_with(b"0{"),
        "{}",
        String::from_utf8_lossy(&open)
    );
    // An HTTP connection open at the same time is left alone.
    let mut http = half_request(&server, 2);
    assert_eq!(server.control().close_websockets(), 2);
    loop {
        let (op, payload) = frame(&mut ws);
        if op == 9 || (op == 1 && payload == b"2") {
            continue; // a ping that was on its way
        }
        assert_eq!(
            op,
            8,
            "a close frame: {}",
            String::from_utf8_lossy(&payload)
        );
        assert_eq!(payload, [0x03, 0xe8], "code 1000");
        break;
    }
    http.write_all(b"Connection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut http).unwrap();
    assert_eq!(answer.status, 401, "the HTTP connection still works");
}

#[test]
fn connects_are_refused_for_a_while_with_any_message() {
    let server = server(2);
    let (token, _) = auth(&server);
    server
        .control()
        .refuse_connects(Duration::from_millis(400), "Service unavailable");
    let mut eio = Eio::open(server.local_addr());
    let answer = eio.connect(Some(json!({"JWT": token})));
    assert_eq!(answer, r#"44{"message":"Service unavailable"}"#);
    std::thread::sleep(Duration::from_millis(450));
    let mut eio = Eio::open(server.local_addr());
    assert!(eio.connect(Some(json!({"JWT": token}))).starts_with("40{"));

    server.control().inject(&Fault::Refuse {
        duration: Duration::from_secs(5),
        message: "Permission denied: try later".into(),
    });
    let mut eio = Eio::open(server.local_addr());
    let answer = eio.connect(Some(json!({"JWT": token})));
    assert!(answer.contains("Permission denied: try later"), "{answer}");
    server.control().clear_faults();
    let mut eio = Eio::open(server.local_addr());
    assert!(eio.connect(Some(json!({"JWT": token}))).starts_with("40{"));
}

#[test]
fn api_answers_fail_as_told_then_heal() {
    let server = server(2);
    let (token, _) = auth(&server);
    server.control().fail_api(Some(ApiFailure {
        statuses: vec![503],
        fraction: 1.0,
        count: Some(2),
        html: false,
    }));
    for _ in 0..2 {
        let r = api(&server, "/records/root", &token, json!({}));
        assert_eq!(r.status, 503);
        assert_eq!(r.header("Retry-After"), Some("1"));
        assert_eq!(r.json()["result"]["code"], 503);
    }
    assert_eq!(api(&server, "/records/root", &token, json!({})).status, 200);

    server.control().fail_api(Some(ApiFailure {
        statuses: vec![502],
        fraction: 1.0,
        count: None,
        html: true,
    }));
    let r = post(&server, "/sync/cursors", Some(&token), &json!({}));
    assert_eq!(r.status, 502);
    assert!(r.text().starts_with("<html>"), "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    server.control().fail_api(None);
    assert_eq!(
        post(&server, "/sync/cursors", Some(&token), &json!({})).status,
        200
    );
    assert_eq!(server.control().counters().get("fault 503"), Some(&2));
}

#[test]
fn api_answers_come_late_when_delayed() {
    let server = server(2);
    let (token, _) = auth(&server);
    server.control().delay_api(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(api(&server, "/records/root", &token, json!({})).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    server.control().delay_api(Duration::ZERO);
}

#[test]
fn a_stalled_answer_stops_halfway() {
    let server = server(2);
    let (token, _) = auth(&server);
    server.control().stall_responses(1);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let body = json!({}).to_string();
    write!(
        s,
        "POST /api/p/{}/records/root HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        server.project(),
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("the server closed: {}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    let text = String::from_utf8_lossy(&got);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(body.len() < length, "{} of {length} bytes", body.len());
    assert!(!body.is_empty());
    // The next answer is whole.
    assert_eq!(api(&server, "/records/root", &token, json!({})).status, 200);
}

#[test]
fn a_restart_cuts_everything_refuses_for_a_while_and_keeps_the_data() {
    let server = server(3);
    let (token, _) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    assert!(eio.connect(Some(json!({"JWT": token}))).starts_with("40{"));
    let mut held = half_request(&server, 1);
    let cursors = server.control().cursors();
    server.control().restart(Duration::from_millis(600));
    let mut buf = [0u8; 16];
    // A FIN, or an RST when the kernel closes a socket with bytes unread, as a process that
    // exits does: never an answer.
    match held.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("not cut: {other:?}"),
    }
    wait_until("nothing listens", WAIT, || {
        TcpStream::connect(server.local_addr())
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
    });
    wait_until("listening again", WAIT, || {
        TcpStream::connect(server.local_addr()).is_ok()
    });
    assert_eq!(server.control().cursors(), cursors, "the data is kept");
    // JWTs live on; Engine.IO sessions do not.
    assert_eq!(api(&server, "/records/root", &token, json!({})).status, 200);
    let gone = eio.poll().unwrap_err();
    assert!(gone.to_string().contains("400"), "{gone}");
}

#[test]
fn broadcasts_come_late_in_order_when_delayed() {
    let server = server(3);
    let (token, init) = auth(&server);
    let mut eio = Eio::open(server.local_addr());
    let acked = eio.connect_and_sync(
        &token,
        server.project(),
        init["result"]["cc.cursor"].as_u64().unwrap(),
        init["result"]["cursor"].as_u64().unwrap(),
    );
    assert_eq!(acked, json!([[]]));
    server.control().delay_sync(Duration::from_millis(300));
    let gid = server.control().record_gids(1)[0].clone();
    let t = Instant::now();
    let first = server
        .control()
        .set_field(&gid, Some("en"), "stock", json!(1))
        .unwrap();
    server.control().delay_sync(Duration::ZERO);
    let second = server
        .control()
        .set_field(&gid, Some("en"), "stock", json!(2))
        .unwrap();
    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < 2 {
        let (name, args) = eio.next_event();
        assert_eq!(name, "sync");
        seen.extend(
            args[0]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["cursor"].as_u64().unwrap()),
        );
    }
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(seen, [first, second], "the undelayed one waited its turn");
}

#[test]
fn faults_are_ordered_over_http_too() {
    let server = server(2);
    let ops: [(&str, Value, &str); 6] = [
        (
            "refuse_connects",
            json!({"seconds": 0.2, "message": "busy"}),
            "{}",
        ),
        (
            "fail_api",
            json!({"statuses": [500, 429], "fraction": 0.5}),
            "{}",
        ),
        ("delay_api", json!({"ms": 0}), "{}"),
        ("delay_sync", json!({"ms": 0}), "{}"),
        ("stall_responses", json!({"count": 0}), "{}"),
        ("clear_faults", json!({}), "{}"),
    ];
    for (op, body, answer) in ops {
        let r = post(&server, &format!("/_dev/{op}"), None, &body);
        assert_eq!((r.status, r.text().as_str()), (200, answer), "{op}");
    }
    for (op, key) in [
        ("reset_transports", "reset"),
        ("silence_transports", "silenced"),
        ("close_websockets", "closed"),
    ] {
        let r = post(&server, &format!("/_dev/{op}"), None, &json!({}));
        assert_eq!(r.status, 200, "{op}");
        assert!(r.json()[key].is_u64(), "{op}: {}", r.text());
    }
    let r = post(&server, "/_dev/restart", None, &json!({"ms": 100}));
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(50));
    wait_until("listening again", WAIT, || {
        request(server.local_addr(), "GET", "/_dev/info", &[], b"").is_ok_and(|r| r.status == 200)
    });
}

//! A server that stops reading: frames for it wait in bounded buffers, and once those are
//! full the socket fails like a broken one and the session reconnects. Nothing grows with
//! what the application keeps emitting.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use unicat_core::config::{SessionConfig, TransportMode};
use unicat_core::session::SessionEvent;

/// A Socket.IO server on one WebSocket that opens the session, accepts the CONNECT of `/`,
/// and then never reads another byte. Returns its URL; the thread keeps the socket open until
/// the test process ends.
fn stalling_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let mut ws = tungstenite::accept(tcp).unwrap();
        let open = r#"0{"sid":"s1","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":100000000}"#;
        ws.send(tungstenite::Message::text(open)).unwrap();
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) if t.starts_with("40") => break,
                Ok(_) => {}
                Err(_) => return,
            }
        }
        ws.send(tungstenite::Message::text(r#"40{"sid":"n1"}"#))
            .unwrap();
        // Stop reading; keep the connection.
        let mut stalled = ws.into_inner();
        std::thread::sleep(Duration::from_secs(600));
        let _ = stalled.read(&mut [0u8; 1]);
    });
    url
}

fn config(url: &str) -> SessionConfig {
    SessionConfig::new(url, "/sync/io")
        .unwrap()
        .transport(TransportMode::WebSocket)
}

/// 100 KB per emit: the kernel's buffers and the bounded write buffer fill within a few
/// hundred emits.
fn big() -> Vec<serde_json::Value> {
    vec![json!("x".repeat(100_000))]
}

const MAX_EMITS: usize = 5_000;

#[test]
fn blocking_a_stalled_server_fails_the_socket() {
    let url = stalling_server();
    let sio =
        unicat_blocking::socketio::SocketIo::connect(config(&url), Arc::new(|_| None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sio.is_connected("/") {
        assert!(Instant::now() < deadline, "never connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut emitted = 0;
    // The bound on emits is the assertion: a socket that never fails trips it.
    loop {
        assert!(
            emitted < MAX_EMITS,
            "{emitted} emits went into a stalled socket"
        );
        if sio.emit("/", "big", big()).is_err() {
            break;
        }
        emitted += 1;
        if let Some(SessionEvent::Disconnected { .. }) = sio.next_event(Duration::ZERO) {
            break;
        }
        if !sio.is_connected("/") {
            break;
        }
    }
}

#[test]
fn smol_a_stalled_server_fails_the_socket() {
    let url = stalling_server();
    let sio = unicat_smol::socketio::SocketIo::connect(config(&url), Arc::new(|_| None)).unwrap();
    unicat_smol::block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sio.is_connected("/") {
            assert!(Instant::now() < deadline, "never connected");
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
        let mut emitted = 0;
        loop {
            assert!(
                emitted < MAX_EMITS,
                "{emitted} emits went into a stalled socket"
            );
            if sio.emit("/", "big", big()).await.is_err() || !sio.is_connected("/") {
                break;
            }
            emitted += 1;
        }
    });
}

//! A driver that ends badly: a panic on the driver (here in the application's auth callback,
//! which runs there) fails every call waiting on it, and every later call, at once, in both
//! runtimes, through the one mechanism they share (the driver's side is dropped as the panic
//! unwinds, and its waiters with it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use unicat_core::config::SessionConfig;
use unicat_devserver::{DevConfig, DevServer};
use unicat_runtime_support::Error;

fn server() -> DevServer {
    DevServer::start(DevConfig {
        records: 1,
        ..DevConfig::default()
    })
    .unwrap()
}

fn config(server: &DevServer) -> SessionConfig {
    SessionConfig::new(server.url(), "/sync/io").unwrap()
}

/// Asked for at the namespace CONNECT. It says when it has started, then keeps the driver
/// busy long enough for an emit sent meanwhile to wait in the driver's inbox, then panics.
fn panicking_auth() -> (
    Arc<unicat_runtime_support::sio::AuthFn>,
    std::sync::mpsc::Receiver<()>,
) {
    let (started, rx) = std::sync::mpsc::sync_channel(1);
    let auth = Arc::new(move |_: &str| -> Option<serde_json::Value> {
        let _ = started.try_send(());
        std::thread::sleep(Duration::from_millis(300));
        panic!("the application's auth callback failed");
    });
    (auth, rx)
}

#[test]
fn blocking_a_panic_on_the_driver_fails_the_waiting_ack() {
    let server = server();
    let (auth, started) = panicking_auth();
    let sio = unicat_blocking::socketio::SocketIo::connect(config(&server), auth).unwrap();
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    let sent = Instant::now();
    let waiting = sio.emit_with_ack("/", "hello", Vec::new(), Duration::from_secs(60));
    assert!(matches!(waiting, Err(Error::Closed)), "{waiting:?}");
    assert!(sent.elapsed() < Duration::from_secs(10));
    let later = sio.emit("/", "hello", Vec::new());
    assert!(matches!(later, Err(Error::Closed)), "{later:?}");
}

/// The emit is in the driver's inbox when the panic unwinds the driver task: the inbox is
/// drained as the task goes, so the emit's answer fails instead of waiting for ever.
#[test]
fn smol_a_panic_on_the_driver_fails_the_waiting_ack() {
    let server = server();
    let (auth, started) = panicking_auth();
    let sio = unicat_smol::socketio::SocketIo::connect(config(&server), auth).unwrap();
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    let sent = Instant::now();
    // On a thread of its own, so that a wait that never ends fails the test instead of
    // hanging it.
    let sio = Arc::new(sio);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let waiter = Arc::clone(&sio);
    std::thread::spawn(move || {
        let answer = unicat_smol::block_on(waiter.emit_with_ack(
            "/",
            "hello",
            Vec::new(),
            Duration::from_secs(60),
        ));
        let _ = tx.send(answer);
    });
    let answer = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiting ack fails within 10 s");
    assert!(matches!(answer, Err(Error::Closed)), "{answer:?}");
    assert!(sent.elapsed() < Duration::from_secs(10));
    let later = unicat_smol::block_on(sio.emit("/", "hello", Vec::new()));
    assert!(matches!(later, Err(Error::Closed)), "{later:?}");
}

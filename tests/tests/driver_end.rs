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

/// Asked for at the namespace CONNECT: late enough for an emit to be waiting on its ack.
fn panicking_auth() -> Arc<unicat_runtime_support::sio::AuthFn> {
    Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(200));
        panic!("the application's auth callback failed");
    })
}

#[test]
fn blocking_a_panic_on_the_driver_fails_the_waiting_ack() {
    let server = server();
    let sio =
        unicat_blocking::socketio::SocketIo::connect(config(&server), panicking_auth()).unwrap();
    let started = Instant::now();
    let waiting = sio.emit_with_ack("/", "hello", Vec::new(), Duration::from_secs(60));
    assert!(matches!(waiting, Err(Error::Closed)), "{waiting:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let later = sio.emit("/", "hello", Vec::new());
    assert!(matches!(later, Err(Error::Closed)), "{later:?}");
}

#[test]
fn smol_a_panic_on_the_driver_fails_the_waiting_ack() {
    let server = server();
    let sio = unicat_smol::socketio::SocketIo::connect(config(&server), panicking_auth()).unwrap();
    unicat_smol::block_on(async {
        let started = Instant::now();
        let waiting = sio
            .emit_with_ack("/", "hello", Vec::new(), Duration::from_secs(60))
            .await;
        assert!(matches!(waiting, Err(Error::Closed)), "{waiting:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let later = sio.emit("/", "hello", Vec::new()).await;
        assert!(matches!(later, Err(Error::Closed)), "{later:?}");
    });
}

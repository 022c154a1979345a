//! The interop suite on the blocking runtime, against the official Node socket.io server and
//! the python-socketio server (both installed into .peers/ by scripts/install-peers).

use unicat_core::config::TransportMode;
use unicat_tests::interop::{self, Server};
use unicat_tests::runtimes::BlockingSio;

macro_rules! suite {
    ($($server:ident / $mode:ident => $name:ident;)*) => {$(
        mod $name {
            use super::*;
            const S: Server = Server::$server;
            const M: TransportMode = TransportMode::$mode;
            #[test] fn connect_with_auth_and_a_refusal() { interop::connect_with_auth_and_a_refusal::<BlockingSio>(S, M) }
            #[test] fn acks_in_both_directions() { interop::acks_in_both_directions::<BlockingSio>(S, M) }
            #[test] fn binary_events_are_reassembled() { interop::binary_events_are_reassembled::<BlockingSio>(S, M) }
            #[test] fn heartbeats_hold() { interop::heartbeats_hold::<BlockingSio>(S, M) }
            #[test] fn server_disconnect_does_not_reconnect() { interop::server_disconnect_does_not_reconnect::<BlockingSio>(S, M) }
            #[test] fn an_engine_io_close_reconnects_with_fresh_auth() { interop::an_engine_io_close_reconnects_with_fresh_auth::<BlockingSio>(S, M) }
        }
    )*};
}

suite! {
    Node / WebSocket => node_websocket;
    Node / Polling => node_polling;
    Python / WebSocket => python_websocket;
    Python / Polling => python_polling;
}

#[test]
fn node_websocket_a_reset_tcp_connection_reconnects_with_fresh_auth() {
    interop::a_reset_tcp_connection_reconnects_with_fresh_auth::<BlockingSio>()
}

#[test]
fn node_polling_then_upgrade() {
    interop::polling_then_upgrade::<BlockingSio>(Server::Node)
}

#[test]
fn python_polling_then_upgrade() {
    interop::polling_then_upgrade::<BlockingSio>(Server::Python)
}

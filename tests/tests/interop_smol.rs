//! The interop suite on the smol runtime, against the official Node socket.io server and the
//! python-socketio server (both installed into .peers/ by scripts/install-peers). The suite
//! drives a blocking handle; each method here polls the async client to completion.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use unicat_core::config::{SessionConfig, TransportMode};
use unicat_core::session::{AckError, SessionEvent};
use unicat_smol::block_on;
use unicat_smol::socketio::SocketIo;
use unicat_tests::interop::{self, Auth, Server, SioHandle};

struct Smol(SocketIo);

impl SioHandle for Smol {
    fn connect(cfg: SessionConfig, auth: Auth) -> Self {
        Smol(SocketIo::connect(cfg, Arc::new(move |ns: &str| auth(ns))).unwrap())
    }
    fn emit(&self, ns: &str, event: &str, args: Vec<Value>) {
        self.0.emit(ns, event, args).unwrap()
    }
    fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        block_on(self.0.emit_with_ack(ns, event, args, timeout)).unwrap()
    }
    fn ack(&self, ns: &str, id: u64, args: Vec<Value>) {
        self.0.ack(ns, id, args).unwrap()
    }
    fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        block_on(self.0.next_event(timeout))
    }
}

macro_rules! suite {
    ($($server:ident / $mode:ident => $name:ident;)*) => {$(
        mod $name {
            use super::*;
            const S: Server = Server::$server;
            const M: TransportMode = TransportMode::$mode;
            #[test] fn connect_with_auth_and_a_refusal() { interop::connect_with_auth_and_a_refusal::<Smol>(S, M) }
            #[test] fn acks_in_both_directions() { interop::acks_in_both_directions::<Smol>(S, M) }
            #[test] fn binary_events_are_reassembled() { interop::binary_events_are_reassembled::<Smol>(S, M) }
            #[test] fn heartbeats_hold() { interop::heartbeats_hold::<Smol>(S, M) }
            #[test] fn server_disconnect_does_not_reconnect() { interop::server_disconnect_does_not_reconnect::<Smol>(S, M) }
            #[test] fn dropped_transport_reconnects_with_fresh_auth() { interop::dropped_transport_reconnects_with_fresh_auth::<Smol>(S, M) }
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
fn node_polling_then_upgrade() {
    interop::polling_then_upgrade::<Smol>(Server::Node)
}

#[test]
fn python_polling_then_upgrade() {
    interop::polling_then_upgrade::<Smol>(Server::Python)
}

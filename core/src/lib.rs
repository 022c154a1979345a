//! Sans-IO core of the Unicat client: every protocol rule, no I/O.
//!
//! This crate holds the Engine.IO v4 and Socket.IO v5 framing, the connection lifecycle
//! (handshake, namespace auth, heartbeat, reconnect with backoff), and — on top of that — the
//! Unicat API, the local store and the sync rules. It owns no socket, no clock, no thread and
//! no random source: time comes in as an [`Instant`](std::time::Instant) argument, randomness
//! from a seed in the config. Runtimes (`unicat-blocking`, `unicat-smol`, `unicat-replay`)
//! move bytes and time between the network and these machines.
//!
//! # The run loop
//!
//! Every machine implements [`io::Machine`]:
//!
//! 1. wait for the first of: the [`poll_timeout`](io::Machine::poll_timeout) deadline, a
//!    transport completion, an application command;
//! 2. turn it into exactly one call: [`handle_input`](io::Machine::handle_input),
//!    [`handle_timeout`](io::Machine::handle_timeout), or a command method, with `now`;
//! 3. drain [`poll_output`](io::Machine::poll_output) to `None`, performing each
//!    [`io::Output`] in order (start an HTTP request, open, write to or close a WebSocket,
//!    hand an event to the application);
//! 4. read `poll_timeout` again and re-arm the one timer.
//!
//! # Errors
//!
//! Three tiers (see [`error`]): a caller's misuse returns `Err` and changes nothing; a peer's
//! fault never returns `Err` from `handle_input` but becomes a state change and an event that
//! says what happened; after `close` everything is inert. No input can make the core panic.
//!
//! # A handshake by hand
//!
//! The Socket.IO [`session::Session`] fed the way a runtime would feed it, over a WebSocket:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use unicat_core::config::SessionConfig;
//! use unicat_core::io::{Input, Machine, Output, WsFrame};
//! use unicat_core::session::{Session, SessionEvent};
//!
//! let now = Instant::now();
//! let cfg = SessionConfig::new("https://unicat.app", "/sync/io").unwrap();
//! let mut session = Session::new(cfg, now);
//! session.connect(now).unwrap();
//!
//! // 1. The session asks for a WebSocket.
//! let Some(Output::OpenWs { id, request }) = session.poll_output() else { panic!() };
//! assert_eq!(
//!     request.request.uri(),
//!     "wss://unicat.app/sync/io/?EIO=4&transport=websocket"
//! );
//!
//! // 2. The runtime opened it; the server's first frame is the Engine.IO open packet.
//! session.handle_input(now, Input::WsOpened { id });
//! let open = r#"0{"sid":"lv_VI97","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
//! session.handle_input(now, Input::WsMessage { id, frame: WsFrame::Text(open.into()) });
//! assert!(matches!(session.poll_output(), Some(Output::Event(SessionEvent::Opened { .. }))));
//!
//! // 3. The namespace wants its auth payload, fresh at every (re)connect.
//! let Some(Output::Event(SessionEvent::AuthRequested { ns })) = session.poll_output() else { panic!() };
//! session.authenticate(now, &ns, Some(serde_json::json!({"JWT": "…"}))).unwrap();
//! let Some(Output::WsSend { frame: WsFrame::Text(connect), .. }) = session.poll_output() else { panic!() };
//! assert_eq!(connect, r#"40{"JWT":"…"}"#);
//!
//! // 4. The server accepts; an emit with an ack goes out at once.
//! session.handle_input(now, Input::WsMessage { id, frame: WsFrame::Text(r#"40{"sid":"x"}"#.into()) });
//! assert!(matches!(session.poll_output(), Some(Output::Event(SessionEvent::Connected { .. }))));
//! let ack = session
//!     .emit(now, "/", "initsync", vec![serde_json::json!({"cursor": 0})], vec![], Some(Duration::from_secs(30)))
//!     .unwrap();
//! let Some(Output::WsSend { frame: WsFrame::Text(emit), .. }) = session.poll_output() else { panic!() };
//! assert_eq!(emit, r#"420["initsync",{"cursor":0}]"#);
//!
//! // 5. A ping is answered at once. The next deadline is the ack's (30 s), before the
//! //    heartbeat watchdog's (pingInterval + pingTimeout = 45 s).
//! session.handle_input(now, Input::WsMessage { id, frame: WsFrame::Text("2".into()) });
//! assert!(matches!(session.poll_output(), Some(Output::WsSend { frame: WsFrame::Text(t), .. }) if t == "3"));
//! assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(30)));
//! # let _ = ack;
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

/// Logs through the `log` facade when the `log` feature is on, and compiles to nothing (while
/// still type-checking its arguments) when it is off.
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {{
        #[cfg(feature = "log")]
        {
            ::log::$level!($($arg)*);
        }
        #[cfg(not(feature = "log"))]
        {
            if false {
                let _ = format!($($arg)*);
            }
        }
    }};
}
pub(crate) use log;

pub mod api;
mod backoff;
pub mod client;
pub mod config;
mod digest;
mod engineio;
pub mod error;
pub mod io;
mod json;
#[cfg(feature = "record")]
pub mod record;
mod rng;
pub mod session;
mod socketio;
pub mod store;
pub mod sync;
mod timer;
pub mod view;
pub mod walk;

#[cfg(feature = "_test_exports")]
#[doc(hidden)]
pub mod test_exports;

// What most users name, at the crate root; the modules keep the rest.
pub use api::{CallError, Secret, Transform};
pub use client::{CallId, CallOptions, Client, ClientConfig, Command, Event, Health};
pub use config::SessionConfig;
pub use error::{CommandError, UsageError};
pub use io::{Input, Machine, Output};
#[cfg(feature = "record")]
pub use record::Recording;
pub use session::{Session, SessionEvent};
pub use store::Store;

pub use http;
pub use serde_json;

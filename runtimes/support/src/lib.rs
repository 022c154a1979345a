//! What the Unicat client's two live runtimes, `unicat-blocking` and `unicat-smol`, share:
//! everything that is neither a protocol rule (those live in `unicat-core`) nor the runtime's
//! own way of waiting and performing I/O.
//!
//! - [`driver`]: the step every run loop takes, with the machine owned by the driver and the
//!   application's side ([`driver::Side`]) living on it;
//! - [`shared`]: the state a driver publishes and the waits on it;
//! - [`unicat`] and [`sio`]: the two clients' sides, and their methods, written once for a
//!   blocking and an async façade ([`unicat_methods!`], [`sio_methods!`]);
//! - [`settings`]: the builders' settings and setters ([`builder_setters!`]);
//! - [`files`], [`net`], [`tls`], [`ws`]: the pieces of I/O both runtimes do alike;
//! - [`thread`]: the blocking runtime's driver handle and inbox, and its worker threads;
//! - with the `smol` feature, `spawn` and `task`: where the smol runtime's tasks run, and
//!   its driver task's handle and inbox, timeouts and event streams;
//! - [`Error`], the error both return.
//!
//! It is an implementation detail of those crates, versioned with them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod driver;
mod error;
pub mod files;
mod methods;
pub mod net;
pub mod reading;
pub mod settings;
pub mod shared;
pub mod sio;
#[cfg(feature = "smol")]
pub mod spawn;
#[cfg(feature = "smol")]
pub mod task;
pub mod thread;
pub mod tls;
pub mod unicat;
pub mod ws;

pub use error::{Error, SetupError};

/// The log targets of the transport crates the runtimes use that dump raw traffic at TRACE:
/// tungstenite every frame's payload (the Socket.IO CONNECT carries the JWT), ureq and
/// ureq-proto (both under `ureq`) every request and response head and body in hex rows
/// (`Authorization` headers). A logger that must never see a secret drops their TRACE
/// records; the examples do.
pub const TRAFFIC_DUMP_TARGETS: [&str; 3] = ["tungstenite", "async_tungstenite", "ureq"];

/// Whether TRACE records of this log target dump raw traffic, secrets included.
pub fn dumps_traffic(target: &str) -> bool {
    TRAFFIC_DUMP_TARGETS.iter().any(|t| target.starts_with(t))
}

/// 64 random bits, without a random-number crate: std's hasher keys are random per process,
/// and a counter and the clock make each draw differ.
pub fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one((
        DRAWS.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now(),
    ))
}

/// The names the macros expand to, so a runtime need not import them.
#[doc(hidden)]
pub mod reexport {
    pub use serde_json::Value;
    pub use unicat_core::api::{MediaHosts, Secret};
    pub use unicat_core::client::{
        CallOptions, ClientConfig, Command, FirstConnect, Health, Stats, TransformOptions,
    };
    pub use unicat_core::config::{ReconnectPolicy, TransportMode};
    pub use unicat_core::session::SessionState;
    pub use unicat_core::store::Store;
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_draws_differ() {
        let draws: std::collections::BTreeSet<u64> =
            (0..1000).map(|_| super::random_u64()).collect();
        assert_eq!(draws.len(), 1000);
    }

    #[test]
    fn traffic_dumps_are_recognised_by_target_prefix() {
        assert!(super::dumps_traffic("tungstenite::protocol"));
        assert!(super::dumps_traffic("ureq_proto::client"));
        assert!(!super::dumps_traffic("unicat_core::client"));
    }
}

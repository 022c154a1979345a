//! Sans-IO core of the Unicat client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
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

mod backoff;
pub mod config;
mod engineio;
pub mod error;
pub mod io;
mod json;
pub mod session;
mod socketio;
mod timer;

pub use http;
pub use serde_json;

//! The async runtime of the Unicat client, on `smol` / `async-io`, with no tokio anywhere.
//!
//! Not yet filled: see issue 6.
#![forbid(unsafe_code)]

//! Deterministic replay of recorded Unicat client sessions.
//!
//! Not yet filled: see issue 7.
#![forbid(unsafe_code)]

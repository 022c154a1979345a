//! Sans-IO core of the Unicat client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

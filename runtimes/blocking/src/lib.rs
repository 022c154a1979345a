//! The blocking runtime of the Unicat client: a driver thread, ureq for HTTP and tungstenite
//! for the WebSocket.
//!
//! Not yet filled: see issue 5.
#![forbid(unsafe_code)]

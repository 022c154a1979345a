//! Engine.IO v4: packets, polling payloads and the open handshake.
//!
//! One ASCII digit gives the packet type, then the data. Over a WebSocket each packet is one
//! message and a binary message *is* a message packet. Over long-polling, packets are joined
//! with the record separator `\x1e` and binary messages travel as `b` + base64.

mod handshake;
mod packet;

pub(crate) use handshake::Handshake;
#[cfg(any(test, feature = "_test_exports"))]
pub(crate) use packet::decode_payload;
pub(crate) use packet::{encode_payload, payload_entries, EnginePacket, MAX_PACKETS_PER_POST};

#[cfg(test)]
mod tests;

//! Engine.IO v4: packets, polling payloads, the open handshake, and the socket that keeps one
//! connection.
//!
//! One ASCII digit gives the packet type, then the data. Over a WebSocket each packet is one
//! message and a binary message *is* a message packet. Over long-polling, packets are joined
//! with the record separator `\x1e` and binary messages travel as `b` + base64.

mod handshake;
mod packet;
mod socket;

pub(crate) use handshake::Handshake;
#[cfg(any(test, feature = "_test_exports"))]
pub(crate) use packet::decode_payload;
pub(crate) use packet::{encode_payload, EnginePacket, Payload, MAX_PACKETS_PER_POST};
pub use socket::TransportKind;
pub(crate) use socket::{EngineEvent, Socket, SocketConfig, SocketState};

#[cfg(test)]
mod tests;

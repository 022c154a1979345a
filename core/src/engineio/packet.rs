use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::error::DecodeError;
use crate::io::WsFrame;

/// The record separator that joins packets in a polling payload.
const SEPARATOR: char = '\x1e';

/// python-engineio decodes at most 16 packets of a POST and silently drops the rest, so no
/// POST carries more.
pub(crate) const MAX_PACKETS_PER_POST: usize = 16;

/// One Engine.IO packet. Its `Debug` output shows the kind and length only: a queued packet may
/// be a CONNECT carrying a JWT.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum EnginePacket {
    /// `0` + the handshake JSON, parsed separately by [`super::Handshake`].
    Open(String),
    /// `1`.
    Close,
    /// `2`, with `probe` during an upgrade and empty otherwise.
    Ping(String),
    /// `3`, echoing the ping's data.
    Pong(String),
    /// `4` + text.
    Text(String),
    /// A binary message: a WebSocket binary frame, or `b` + base64 in a polling payload.
    Binary(Vec<u8>),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

impl std::fmt::Debug for EnginePacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnginePacket::Open(t) => write!(f, "Open({} bytes)", t.len()),
            EnginePacket::Close => f.write_str("Close"),
            EnginePacket::Ping(t) => write!(f, "Ping({} bytes)", t.len()),
            EnginePacket::Pong(t) => write!(f, "Pong({} bytes)", t.len()),
            EnginePacket::Text(t) => write!(f, "Text({} bytes)", t.len()),
            EnginePacket::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
            EnginePacket::Upgrade => f.write_str("Upgrade"),
            EnginePacket::Noop => f.write_str("Noop"),
        }
    }
}

impl EnginePacket {
    /// Decodes one text packet as it comes in a WebSocket text frame.
    pub(crate) fn decode_text(text: &str) -> Result<Self, DecodeError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let data = chars.as_str();
        Ok(match kind {
            '0' => EnginePacket::Open(data.to_string()),
            '1' => EnginePacket::Close,
            '2' => EnginePacket::Ping(data.to_string()),
            '3' => EnginePacket::Pong(data.to_string()),
            '4' => EnginePacket::Text(data.to_string()),
            '5' => EnginePacket::Upgrade,
            '6' => EnginePacket::Noop,
            other => return Err(DecodeError::UnknownPacketType(other)),
        })
    }

    /// Decodes one entry of a polling payload, where binary messages are `b` + base64.
    pub(crate) fn decode_polling_entry(entry: &str) -> Result<Self, DecodeError> {
        match entry.strip_prefix('b') {
            Some(b64) => BASE64
                .decode(b64)
                .map(EnginePacket::Binary)
                .map_err(|_| DecodeError::InvalidBase64),
            None => Self::decode_text(entry),
        }
    }

    /// Decodes a WebSocket message.
    pub(crate) fn decode_ws(frame: WsFrame) -> Result<Self, DecodeError> {
        match frame {
            WsFrame::Text(text) => Self::decode_text(&text),
            WsFrame::Binary(bytes) => Ok(EnginePacket::Binary(bytes)),
        }
    }

    fn type_char(&self) -> char {
        match self {
            EnginePacket::Open(_) => '0',
            EnginePacket::Close => '1',
            EnginePacket::Ping(_) => '2',
            EnginePacket::Pong(_) => '3',
            EnginePacket::Text(_) | EnginePacket::Binary(_) => '4',
            EnginePacket::Upgrade => '5',
            EnginePacket::Noop => '6',
        }
    }

    fn data(&self) -> &str {
        match self {
            EnginePacket::Open(d)
            | EnginePacket::Ping(d)
            | EnginePacket::Pong(d)
            | EnginePacket::Text(d) => d,
            _ => "",
        }
    }

    /// Encodes the packet as one WebSocket message.
    pub(crate) fn encode_ws(&self) -> WsFrame {
        match self {
            EnginePacket::Binary(bytes) => WsFrame::Binary(bytes.clone()),
            other => {
                let mut text = String::with_capacity(other.data().len().saturating_add(1));
                text.push(other.type_char());
                text.push_str(other.data());
                WsFrame::Text(text)
            }
        }
    }

    /// Appends the packet as one polling entry.
    pub(crate) fn encode_polling(&self, out: &mut String) {
        match self {
            EnginePacket::Binary(bytes) => {
                out.push('b');
                BASE64.encode_string(bytes, out);
            }
            other => {
                out.push(other.type_char());
                out.push_str(other.data());
            }
        }
    }

    /// The length of the packet as a polling entry, without encoding it.
    pub(crate) fn polling_len(&self) -> usize {
        match self {
            EnginePacket::Binary(bytes) => {
                bytes.len().div_ceil(3).saturating_mul(4).saturating_add(1)
            }
            other => other.data().len().saturating_add(1),
        }
    }
}

/// Splits a polling payload into its packets. An empty body, or an empty entry, is not a
/// packet and is an error.
#[cfg(any(test, feature = "_test_exports"))]
pub(crate) fn decode_payload(body: &[u8]) -> Result<Vec<EnginePacket>, DecodeError> {
    Payload::new(body.to_vec())?.collect()
}

/// The packets of a polling payload, decoded one at a time as they are taken: a body of
/// millions of tiny packets never becomes a list of millions, and a reader may stop between
/// any two (the Engine.IO socket does, to let its owner answer each packet before the next).
pub(crate) struct Payload {
    /// The body, checked to be UTF-8 and not empty.
    text: String,
    /// Where the next entry starts; `None` once the last one was taken.
    next: Option<usize>,
}

/// A payload is the server's data (a CONNECT reply, an event with a JWT): measured, never shown.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let left = self.next.map_or(0, |at| self.text.len().saturating_sub(at));
        write!(f, "Payload({left} bytes left)")
    }
}

impl Payload {
    /// The payload of a polling body: an error if it is not UTF-8 or is empty.
    pub(crate) fn new(body: Vec<u8>) -> Result<Self, DecodeError> {
        let text = String::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
        if text.is_empty() {
            return Err(DecodeError::Empty);
        }
        Ok(Payload {
            text,
            next: Some(0),
        })
    }
}

impl Iterator for Payload {
    type Item = Result<EnginePacket, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.text.get(self.next?..)?;
        let (entry, next) = match rest.find(SEPARATOR) {
            Some(at) => (
                rest.get(..at)?,
                self.next
                    .and_then(|start| start.checked_add(at))
                    .and_then(|end| end.checked_add(SEPARATOR.len_utf8())),
            ),
            None => (rest, None),
        };
        let packet = EnginePacket::decode_polling_entry(entry);
        self.next = next;
        Some(packet)
    }
}

/// Joins packets into one polling payload.
pub(crate) fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a EnginePacket>) -> String {
    let mut out = String::new();
    for (i, p) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        p.encode_polling(&mut out);
    }
    out
}

use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::DecodeError;

/// Event names Socket.IO keeps for itself: a peer may not send them and the application may
/// not emit them.
pub(crate) const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// An ack id is a JS number on the other side; more digits than a `u64` holds is malformed.
const MAX_ACK_DIGITS: usize = 20;

/// The seven Socket.IO packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketType {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl PacketType {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0' => PacketType::Connect,
            '1' => PacketType::Disconnect,
            '2' => PacketType::Event,
            '3' => PacketType::Ack,
            '4' => PacketType::ConnectError,
            '5' => PacketType::BinaryEvent,
            '6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    fn as_char(self) -> char {
        match self {
            PacketType::Connect => '0',
            PacketType::Disconnect => '1',
            PacketType::Event => '2',
            PacketType::Ack => '3',
            PacketType::ConnectError => '4',
            PacketType::BinaryEvent => '5',
            PacketType::BinaryAck => '6',
        }
    }

    pub(crate) fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// One Socket.IO packet, as carried in an Engine.IO message. Its `Debug` output leaves the data
/// out: a CONNECT carries the auth payload, an `authorization` event a JWT.
///
/// The payload is kept as the JSON text it came as (validated, not parsed): a frame costs its
/// own size, and whoever reads it parses what it needs, within bounds ([`SioPacket::value`],
/// [`SioPacket::into_event`]) or straight into its own types.
#[derive(Clone)]
pub(crate) struct SioPacket {
    pub(crate) kind: PacketType,
    pub(crate) nsp: String,
    pub(crate) id: Option<u64>,
    pub(crate) data: Option<Box<RawValue>>,
    /// Binary attachments that follow, for the binary types only.
    pub(crate) attachments: usize,
}

impl std::fmt::Debug for SioPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SioPacket")
            .field("kind", &self.kind)
            .field("nsp", &self.nsp)
            .field("id", &self.id)
            .field("data", &self.data.as_ref().map(|_| "…"))
            .field("attachments", &self.attachments)
            .finish()
    }
}

/// Packets are equal when their parts and their JSON text are.
impl PartialEq for SioPacket {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.nsp == other.nsp
            && self.id == other.id
            && self.attachments == other.attachments
            && self.data.as_deref().map(RawValue::get) == other.data.as_deref().map(RawValue::get)
    }
}

impl SioPacket {
    pub(crate) fn new(kind: PacketType, nsp: &str, data: Option<Value>) -> Self {
        SioPacket {
            kind,
            nsp: nsp.to_string(),
            id: None,
            // Serialising a `Value` cannot fail: its map keys are strings.
            data: data.and_then(|v| serde_json::value::to_raw_value(&v).ok()),
            attachments: 0,
        }
    }

    /// The payload as a tree, refused when it would outgrow four times its text.
    pub(crate) fn value(&self) -> Option<Result<Value, DecodeError>> {
        self.data
            .as_deref()
            .map(|raw| crate::json::tree_bounded(raw.get()))
    }

    /// The name of an EVENT or BINARY_EVENT, read without parsing its arguments.
    pub(crate) fn event_name(&self) -> Option<String> {
        event_head(self.data.as_deref()?)
            .ok()?
            .map(|(name, _)| name)
    }

    /// Encodes the packet as text (without the Engine.IO `4` in front).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.as_char());
        if self.kind.is_binary() {
            out.push_str(&self.attachments.to_string());
            out.push('-');
        }
        if self.nsp != "/" {
            out.push_str(&self.nsp);
            out.push(',');
        }
        if let Some(id) = self.id {
            out.push_str(&id.to_string());
        }
        if let Some(data) = &self.data {
            out.push_str(data.get());
        }
        out
    }

    /// Decodes a text packet. `max_attachments` bounds the count a binary header may declare.
    pub(crate) fn decode(text: &str, max_attachments: usize) -> Result<Self, DecodeError> {
        let mut rest = text;
        let first = rest.chars().next().ok_or(DecodeError::Empty)?;
        let kind = PacketType::from_char(first).ok_or(DecodeError::UnknownPacketType(first))?;
        rest = rest.get(1..).unwrap_or_default();

        let mut attachments = 0;
        if kind.is_binary() {
            let dash = rest.find('-').ok_or(DecodeError::InvalidAttachments)?;
            let digits = rest.get(..dash).unwrap_or_default();
            if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(DecodeError::InvalidAttachments);
            }
            attachments = digits
                .parse::<usize>()
                .map_err(|_| DecodeError::InvalidAttachments)?;
            if attachments > max_attachments {
                return Err(DecodeError::InvalidAttachments);
            }
            rest = rest.get(dash.saturating_add(1)..).unwrap_or_default();
        }

        let nsp = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let nsp = rest.get(..end).unwrap_or_default();
            if nsp.chars().any(char::is_control) {
                return Err(DecodeError::InvalidNamespace);
            }
            rest = rest.get(end.saturating_add(1)..).unwrap_or_default();
            nsp.to_string()
        } else {
            "/".to_string()
        };

        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits == 0 {
            None
        } else {
            if digits > MAX_ACK_DIGITS {
                return Err(DecodeError::InvalidAckId);
            }
            let id = rest
                .get(..digits)
                .and_then(|d| d.parse::<u64>().ok())
                .ok_or(DecodeError::InvalidAckId)?;
            rest = rest.get(digits..).unwrap_or_default();
            Some(id)
        };

        let data = if rest.is_empty() {
            None
        } else if rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            // JSON.stringify never writes it, and accepting it would make `1 18` (no id, the
            // number 18) encode back as `118` (id 18).
            return Err(DecodeError::InvalidJson(
                "whitespace before the payload".into(),
            ));
        } else {
            let raw: Box<RawValue> =
                crate::json::from_str(rest).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
            Some(raw)
        };

        check_payload(kind, data.as_deref())?;
        Ok(SioPacket {
            kind,
            nsp,
            id,
            data,
            attachments,
        })
    }

    /// The event name and arguments (as trees, within bounds) of an EVENT or BINARY_EVENT,
    /// whose shape `decode` checked.
    pub(crate) fn into_event(self) -> Result<(String, Vec<Value>), DecodeError> {
        let mut items = match self.value() {
            Some(Ok(Value::Array(items))) => items,
            Some(Err(e)) => return Err(e),
            _ => {
                return Err(DecodeError::InvalidPayload(
                    "EVENT payload must be an array",
                ))
            }
        };
        if items.is_empty() {
            return Err(DecodeError::InvalidPayload("EVENT without a name"));
        }
        let name = match items.remove(0) {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(DecodeError::InvalidPayload("EVENT without a name")),
        };
        Ok((name, items))
    }
}

/// The first element of a JSON array, and how many elements follow it, reading the rest
/// without building anything.
fn array_head(raw: &RawValue) -> Result<Option<(&RawValue, usize)>, serde_json::Error> {
    struct Head;
    impl<'de> serde::de::Visitor<'de> for Head {
        type Value = Option<(&'de RawValue, usize)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let Some(first) = seq.next_element::<&'de RawValue>()? else {
                return Ok(None);
            };
            let mut rest = 0usize;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                rest = rest.saturating_add(1);
            }
            Ok(Some((first, rest)))
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde::Deserializer::deserialize_seq(&mut de, Head)
}

/// An event's name (a string, or a number as socket.io-parser allows) and how many arguments
/// follow it; `None` for an empty array.
fn event_head(raw: &RawValue) -> Result<Option<(String, usize)>, DecodeError> {
    let bad = || DecodeError::InvalidPayload("EVENT must start with a string or number name");
    let Some((first, rest)) = array_head(raw).map_err(|_| bad())? else {
        return Ok(None);
    };
    let text = first.get();
    let name = if text.starts_with('"') {
        crate::json::from_str::<String>(text).map_err(|_| bad())?
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        text.to_string()
    } else {
        return Err(bad());
    };
    Ok(Some((name, rest)))
}

/// Applies socket.io-parser's `isPayloadValid` rules, from the payload's text: its first
/// character tells an object, an array and a string apart.
fn check_payload(kind: PacketType, data: Option<&RawValue>) -> Result<(), DecodeError> {
    let starts = |c: char| data.is_some_and(|d| d.get().starts_with(c));
    match kind {
        PacketType::Connect => {
            if data.is_none() || starts('{') {
                Ok(())
            } else {
                Err(DecodeError::InvalidPayload(
                    "CONNECT payload must be an object",
                ))
            }
        }
        // python-socketio's `always_connect` refuses with a DISCONNECT that carries a payload;
        // it is accepted and ignored rather than treated as a parse error.
        PacketType::Disconnect => Ok(()),
        PacketType::ConnectError => {
            if starts('{') || starts('"') {
                Ok(())
            } else {
                Err(DecodeError::InvalidPayload(
                    "CONNECT_ERROR payload must be an object or a string",
                ))
            }
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let Some(raw) = data.filter(|_| starts('[')) else {
                return Err(DecodeError::InvalidPayload(
                    "EVENT payload must be an array",
                ));
            };
            match event_head(raw)? {
                Some((name, _)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    Err(DecodeError::InvalidPayload("reserved event name"))
                }
                Some(_) => Ok(()),
                None => Err(DecodeError::InvalidPayload(
                    "EVENT must start with a string or number name",
                )),
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            if starts('[') {
                Ok(())
            } else {
                Err(DecodeError::InvalidPayload("ACK payload must be an array"))
            }
        }
    }
}

//! The namespaces of a session: where each stands, the events that came before its CONNECT
//! reply, the emits that wait for it, and the CONNECT and DISCONNECT packets.

use std::collections::VecDeque;

use serde_json::Value;

use crate::error::{ProtocolViolation, UsageError};
use crate::socketio::{PacketType, SioPacket};

use super::acks::AckId;
use super::SessionEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NsState {
    /// Not connected; asked for auth at the next open.
    Down,
    /// The link is open and the application's auth payload is awaited.
    AwaitingAuth,
    /// CONNECT went out; its reply is awaited.
    Connecting,
    /// The CONNECT was accepted.
    Connected,
    /// The server refused the CONNECT: left alone until the application connects again.
    Refused,
}

/// An emit that waits for its namespace's CONNECT reply.
pub(super) struct Buffered {
    /// The EVENT or BINARY_EVENT, its ack id already in it.
    packet: SioPacket,
    /// Its binary attachments, which follow it.
    attachments: Vec<Vec<u8>>,
}

impl Buffered {
    pub(super) fn new(packet: SioPacket, attachments: Vec<Vec<u8>>) -> Self {
        Buffered {
            packet,
            attachments,
        }
    }

    /// The ack it waits for, if any.
    pub(super) fn ack(&self) -> Option<AckId> {
        self.packet.id.map(AckId)
    }

    pub(super) fn into_parts(self) -> (SioPacket, Vec<Vec<u8>>) {
        (self.packet, self.attachments)
    }
}

/// A namespace whose CONNECT was accepted, with what waited for that.
pub(super) struct Accepted {
    /// The namespace.
    pub(super) ns: String,
    /// Its Socket.IO socket id, from the reply.
    pub(super) sid: String,
    /// The events that came before the reply, to deliver now, in order.
    pub(super) held: Vec<SessionEvent>,
    /// The emits that waited, to send now, in order.
    pub(super) emits: Vec<Buffered>,
}

/// A CONNECT refused: the CONNECT_ERROR's message and data.
pub(super) struct Refusal {
    /// From an object's `message` or a bare string.
    pub(super) message: String,
    /// The object's `data`, if any.
    pub(super) data: Option<Value>,
}

/// What becomes of a server event.
pub(super) enum Arrival {
    /// The namespace is connected: deliver it now.
    Deliver(SessionEvent),
    /// The namespace waits for its CONNECT reply: the event waits with it.
    Held,
    /// The namespace is down: the event is dropped.
    Ignored,
}

/// One configured namespace.
struct Entry {
    /// Its name, `/` or `/…`.
    name: String,
    /// Where it stands.
    state: NsState,
    /// Events that came between the CONNECT and its reply (servers may emit before their
    /// reply arrives), released in order after it. Bounded.
    held: VecDeque<SessionEvent>,
    /// Emits made while it was not connected, sent in order after the next CONNECT reply.
    /// Bounded.
    buffer: VecDeque<Buffered>,
}

/// Held events and buffered emits are the server's and the application's data (an
/// `authorization` event carries a JWT): counted, never shown.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("held", &self.held.len())
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl Entry {
    /// Its CONNECT is on its way or about to be.
    fn is_pending(&self) -> bool {
        matches!(self.state, NsState::AwaitingAuth | NsState::Connecting)
    }
}

/// Every namespace of a session, in the order they were configured; referred to by index.
#[derive(Debug)]
pub(super) struct Namespaces {
    /// The namespaces; an index into this list is how the acks name a namespace.
    list: Vec<Entry>,
}

impl Namespaces {
    pub(super) fn new(names: &[String]) -> Self {
        let list = names
            .iter()
            .map(|name| Entry {
                name: name.clone(),
                state: NsState::Down,
                held: VecDeque::new(),
                buffer: VecDeque::new(),
            })
            .collect();
        Namespaces { list }
    }

    /// The namespace's index, if it is configured.
    pub(super) fn find(&self, ns: &str) -> Option<usize> {
        self.list.iter().position(|n| n.name == ns)
    }

    /// The namespace's index, or the caller's error.
    pub(super) fn index(&self, ns: &str) -> Result<usize, UsageError> {
        self.find(ns)
            .ok_or_else(|| UsageError::UnknownNamespace(ns.to_string()))
    }

    fn state(&self, idx: usize) -> Option<NsState> {
        self.list.get(idx).map(|n| n.state)
    }

    /// Whether the namespace's CONNECT was accepted (on a link that is still open, which the
    /// caller checks).
    pub(super) fn is_connected(&self, idx: usize) -> bool {
        self.state(idx) == Some(NsState::Connected)
    }

    /// The connected namespaces, in order.
    pub(super) fn connected(&self) -> impl Iterator<Item = &str> {
        self.list
            .iter()
            .filter(|n| n.state == NsState::Connected)
            .map(|n| n.name.as_str())
    }

    pub(super) fn awaits_auth(&self, idx: usize) -> bool {
        self.state(idx) == Some(NsState::AwaitingAuth)
    }

    /// Whether a CONNECT is on its way or about to be.
    pub(super) fn any_pending(&self) -> bool {
        self.list.iter().any(Entry::is_pending)
    }

    /// Whether any namespace is connected or on its way: if none is, the link has no use.
    pub(super) fn any_live(&self) -> bool {
        self.list
            .iter()
            .any(|n| n.is_pending() || n.state == NsState::Connected)
    }

    /// How many emits wait in the namespace's buffer.
    pub(super) fn buffered(&self, idx: usize) -> usize {
        self.list.get(idx).map_or(0, |n| n.buffer.len())
    }

    /// An emit waits for the namespace's next CONNECT reply.
    pub(super) fn buffer(&mut self, idx: usize, emit: Buffered) {
        if let Some(n) = self.list.get_mut(idx) {
            n.buffer.push_back(emit);
        }
    }

    /// The emit waiting for ack `id` will not be sent.
    pub(super) fn unbuffer(&mut self, idx: usize, id: AckId) {
        if let Some(n) = self.list.get_mut(idx) {
            n.buffer.retain(|b| b.ack() != Some(id));
        }
    }

    pub(super) fn clear_buffers(&mut self) {
        for n in &mut self.list {
            n.buffer.clear();
        }
    }

    /// The application connects again: namespaces refused earlier are tried again.
    pub(super) fn retry_refused(&mut self) {
        for n in &mut self.list {
            if n.state == NsState::Refused {
                n.state = NsState::Down;
            }
        }
    }

    /// The link opened: every namespace not refused awaits its auth payload. Their names, to
    /// ask for it.
    pub(super) fn on_open(&mut self) -> Vec<String> {
        let mut asks = Vec::new();
        for n in &mut self.list {
            if n.state != NsState::Refused {
                n.state = NsState::AwaitingAuth;
                asks.push(n.name.clone());
            }
        }
        asks
    }

    /// The link is gone: every namespace not refused is down and its held events dropped. The
    /// names of those that were connected.
    pub(super) fn on_close(&mut self) -> Vec<String> {
        let mut down = Vec::new();
        for n in &mut self.list {
            if n.state == NsState::Connected {
                down.push(n.name.clone());
            }
            if n.state != NsState::Refused {
                n.state = NsState::Down;
            }
            n.held.clear();
        }
        down
    }

    /// The CONNECT `0/ns,{…}` for a namespace that awaits its auth payload (the caller checks
    /// that it does): `auth` must be an object, or none.
    pub(super) fn connect(
        &mut self,
        idx: usize,
        auth: Option<Value>,
    ) -> Result<SioPacket, UsageError> {
        let data = match auth {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        };
        if data.as_ref().is_some_and(|d| !d.is_object()) {
            return Err(UsageError::InvalidArgument(
                "the auth payload must be a JSON object".into(),
            ));
        }
        let n = self
            .list
            .get_mut(idx)
            .ok_or_else(|| UsageError::UnknownNamespace(String::new()))?;
        n.state = NsState::Connecting;
        Ok(SioPacket::new(PacketType::Connect, &n.name, data))
    }

    /// The DISCONNECT `1/ns,` of every connected namespace, to leave politely.
    pub(super) fn disconnects(&self) -> Vec<SioPacket> {
        self.connected()
            .map(|ns| SioPacket::new(PacketType::Disconnect, ns, None))
            .collect()
    }

    /// `0/ns,{"sid":…}`: the CONNECT accepted, with what waited for it. `None` (and a log
    /// line) when no CONNECT waited for a reply.
    pub(super) fn on_connect_reply(
        &mut self,
        idx: usize,
        packet: &SioPacket,
    ) -> Result<Option<Accepted>, ProtocolViolation> {
        if self.state(idx) != Some(NsState::Connecting) {
            crate::log!(
                debug,
                "unexpected CONNECT reply for {:?} ignored",
                packet.nsp
            );
            return Ok(None);
        }
        let sid = match packet.value() {
            Some(Ok(v)) => v.get("sid").and_then(Value::as_str).map(str::to_string),
            Some(Err(e)) => return Err(ProtocolViolation::Decode(e)),
            None => None,
        };
        let sid = sid.ok_or(ProtocolViolation::IncompatibleServer)?;
        let Some(n) = self.list.get_mut(idx) else {
            return Ok(None);
        };
        n.state = NsState::Connected;
        crate::log!(debug, "namespace {:?} connected", n.name);
        Ok(Some(Accepted {
            ns: n.name.clone(),
            sid,
            held: n.held.drain(..).collect(),
            emits: n.buffer.drain(..).collect(),
        }))
    }

    /// `4/ns,{"message":…,"data":…}` (or a bare string, from v4 servers): the CONNECT refused.
    /// With `retry`, the namespace is left to the next attempt; otherwise it stays refused.
    /// `None` when no CONNECT waited for a reply.
    pub(super) fn on_connect_error(
        &mut self,
        idx: usize,
        packet: &SioPacket,
        retry: bool,
    ) -> Result<Option<Refusal>, ProtocolViolation> {
        if !self.list.get(idx).is_some_and(Entry::is_pending) {
            return Ok(None);
        }
        let value = match packet.value() {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => return Err(ProtocolViolation::Decode(e)),
            None => None,
        };
        let (message, data) = match value {
            Some(Value::String(s)) => (s, None),
            Some(Value::Object(mut o)) => (
                match o.remove("message") {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                o.remove("data"),
            ),
            _ => (String::new(), None),
        };
        if let Some(n) = self.list.get_mut(idx) {
            n.state = if retry {
                NsState::Down
            } else {
                NsState::Refused
            };
            n.held.clear();
        }
        Ok(Some(Refusal { message, data }))
    }

    /// `1/ns,`: the server left the namespace, and by the protocol's rule it stays down.
    /// Whether it was connected; `None` when it was down already.
    pub(super) fn on_server_disconnect(&mut self, idx: usize) -> Option<bool> {
        let n = self.list.get_mut(idx)?;
        let was = n.state;
        if !matches!(
            was,
            NsState::Connected | NsState::Connecting | NsState::AwaitingAuth
        ) {
            return None;
        }
        n.state = NsState::Down;
        n.held.clear();
        Some(was == NsState::Connected)
    }

    /// A server event for the namespace: delivered if it is connected, held (at most
    /// `max_held`) if it waits for its CONNECT reply, dropped if it is down.
    pub(super) fn on_event(
        &mut self,
        idx: usize,
        event: SessionEvent,
        max_held: usize,
    ) -> Result<Arrival, ProtocolViolation> {
        let Some(n) = self.list.get_mut(idx) else {
            return Ok(Arrival::Ignored);
        };
        match n.state {
            NsState::Connected => Ok(Arrival::Deliver(event)),
            NsState::AwaitingAuth | NsState::Connecting => {
                if n.held.len() >= max_held {
                    return Err(ProtocolViolation::HeldEventsOverflow);
                }
                n.held.push_back(event);
                Ok(Arrival::Held)
            }
            NsState::Down | NsState::Refused => Ok(Arrival::Ignored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn namespaces() -> Namespaces {
        Namespaces::new(&["/".to_string(), "/admin".to_string()])
    }

    fn decode(text: &str) -> SioPacket {
        SioPacket::decode(text, 10).unwrap()
    }

    fn message(ns: &str, event: &str) -> SessionEvent {
        SessionEvent::Message {
            ns: ns.into(),
            event: event.into(),
            args: Vec::new(),
            raw: None,
            attachments: Vec::new(),
            ack: None,
        }
    }

    #[test]
    fn an_open_asks_for_auth_then_40_with_the_payload_goes_out() {
        let mut ns = namespaces();
        assert_eq!(
            ns.index("/nope"),
            Err(UsageError::UnknownNamespace("/nope".into()))
        );
        assert!(!ns.awaits_auth(0));
        assert_eq!(ns.on_open(), ["/", "/admin"]);
        assert!(ns.awaits_auth(0) && ns.any_pending() && ns.any_live());
        assert!(matches!(
            ns.connect(0, Some(json!("a string"))),
            Err(UsageError::InvalidArgument(_))
        ));
        assert!(ns.awaits_auth(0), "a refused payload changes nothing");
        let connect = ns.connect(0, Some(json!({"token": "t"}))).unwrap();
        assert_eq!(connect.encode(), r#"0{"token":"t"}"#);
        let admin = ns.connect(1, Some(Value::Null)).unwrap();
        assert_eq!(admin.encode(), "0/admin,");
        assert!(!ns.awaits_auth(0));
    }

    #[test]
    fn events_before_the_reply_are_held_and_emits_buffered_until_40_sid() {
        let mut ns = namespaces();
        ns.buffer(0, Buffered::new(decode(r#"25["early"]"#), Vec::new()));
        ns.buffer(0, Buffered::new(decode(r#"2["plain"]"#), Vec::new()));
        assert_eq!(ns.buffered(0), 2);
        ns.on_open();
        ns.connect(0, None).unwrap();
        // `42["authorization",…]` before `40{"sid":…}` waits for it.
        assert!(matches!(
            ns.on_event(0, message("/", "authorization"), 1),
            Ok(Arrival::Held)
        ));
        assert_eq!(
            ns.on_event(0, message("/", "second"), 1).err(),
            Some(ProtocolViolation::HeldEventsOverflow)
        );
        let accepted = ns
            .on_connect_reply(0, &decode(r#"0{"sid":"x"}"#))
            .unwrap()
            .unwrap();
        assert_eq!((accepted.ns.as_str(), accepted.sid.as_str()), ("/", "x"));
        assert_eq!(accepted.held, [message("/", "authorization")]);
        let acks: Vec<_> = accepted.emits.iter().map(Buffered::ack).collect();
        assert_eq!(acks, [Some(AckId(5)), None]);
        assert_eq!(ns.buffered(0), 0);
        assert!(ns.is_connected(0));
        assert_eq!(ns.connected().collect::<Vec<_>>(), ["/"]);
        assert!(matches!(
            ns.on_event(0, message("/", "later"), 1),
            Ok(Arrival::Deliver(_))
        ));
        // A second reply is not expected, and `1/admin,` for a namespace that is down is
        // ignored.
        assert!(ns
            .on_connect_reply(0, &decode(r#"0{"sid":"y"}"#))
            .unwrap()
            .is_none());
        assert_eq!(ns.on_server_disconnect(1), Some(false), "it awaited auth");
        assert_eq!(ns.on_server_disconnect(1), None);
    }

    #[test]
    fn a_reply_without_sid_is_a_v2_server() {
        let mut ns = namespaces();
        ns.on_open();
        ns.connect(0, None).unwrap();
        assert_eq!(
            ns.on_connect_reply(0, &decode("0")).err(),
            Some(ProtocolViolation::IncompatibleServer)
        );
    }

    #[test]
    fn a_connect_error_refuses_until_the_application_connects_again() {
        let mut ns = namespaces();
        ns.on_open();
        ns.connect(0, None).unwrap();
        let refusal = ns
            .on_connect_error(
                0,
                &decode(r#"4{"message":"nope","data":{"code":7}}"#),
                false,
            )
            .unwrap()
            .unwrap();
        assert_eq!(refusal.message, "nope");
        assert_eq!(refusal.data, Some(json!({"code": 7})));
        assert!(ns.any_live(), "/admin still awaits auth");
        assert_eq!(ns.on_close(), Vec::<String>::new());
        assert_eq!(ns.on_open(), ["/admin"], "/ stays refused");
        ns.retry_refused();
        assert_eq!(ns.on_open(), ["/", "/admin"]);
        // A bare string, from a v4 server; with retry the namespace is only down.
        ns.connect(1, None).unwrap();
        let refusal = ns
            .on_connect_error(1, &decode(r#"4/admin,"go away""#), true)
            .unwrap()
            .unwrap();
        assert_eq!(refusal.message, "go away");
        assert_eq!(ns.on_open(), ["/", "/admin"]);
    }

    #[test]
    fn leaving_sends_41_for_each_connected_namespace_and_a_lost_link_reports_them() {
        let mut ns = namespaces();
        ns.on_open();
        for idx in [0, 1] {
            ns.connect(idx, None).unwrap();
        }
        ns.on_connect_reply(1, &decode(r#"0/admin,{"sid":"a"}"#))
            .unwrap()
            .unwrap();
        let bye: Vec<String> = ns.disconnects().iter().map(SioPacket::encode).collect();
        assert_eq!(bye, ["1/admin,"]);
        ns.buffer(0, Buffered::new(decode(r#"27["x"]"#), Vec::new()));
        ns.unbuffer(0, AckId(7));
        assert_eq!(ns.buffered(0), 0);
        assert_eq!(ns.on_close(), ["/admin"]);
        assert!(!ns.any_live());
        assert!(matches!(
            ns.on_event(1, message("/admin", "late"), 1),
            Ok(Arrival::Ignored)
        ));
    }
}

use std::time::Duration;

use serde::Deserialize;

use crate::error::DecodeError;

/// Intervals above this are clamped: they come from the network, and every deadline is
/// `now + interval`.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// The longest silence the client waits out before it calls a connection dead, whatever the
/// server advertises.
pub(crate) const MAX_HEARTBEAT: Duration = Duration::from_secs(300);

/// The data of the Engine.IO open packet. Its `Debug` output hides the `sid`, which lets
/// whoever has it inject packets into the session.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// The Engine.IO session id: every polling request and the upgrade's WebSocket name it.
    pub(crate) sid: String,
    /// The transports the session may be upgraded to.
    pub(crate) upgrades: Vec<String>,
    /// How often the server pings.
    pub(crate) ping_interval: Duration,
    /// How long the server waits for the pong, and so how late a ping may be.
    pub(crate) ping_timeout: Duration,
    /// The largest payload the server takes: an emit's and a POST's bound.
    pub(crate) max_payload: usize,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("sid", &"<redacted>")
            .field("upgrades", &self.upgrades)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

/// The open packet's JSON as it comes, each field checked after.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    /// Required.
    sid: Option<String>,
    /// Absent means none.
    #[serde(default)]
    upgrades: Vec<String>,
    /// Required, in milliseconds.
    ping_interval: Option<u64>,
    /// Required, in milliseconds.
    ping_timeout: Option<u64>,
    /// Optional, in bytes.
    max_payload: Option<u64>,
}

impl Handshake {
    /// Parses the JSON of an open packet. `sid`, `pingInterval` and `pingTimeout` are
    /// required; `maxPayload` defaults to the servers' default of 1,000,000 bytes.
    pub(crate) fn parse(json: &str) -> Result<Self, DecodeError> {
        let raw: Raw = crate::json::from_str(json)
            .map_err(|_| DecodeError::InvalidHandshake("not a JSON object of the right shape"))?;
        let sid = raw.sid.ok_or(DecodeError::InvalidHandshake("no sid"))?;
        if sid.is_empty() || sid.len() > 256 || sid.chars().any(|c| c.is_control()) {
            return Err(DecodeError::InvalidHandshake("bad sid"));
        }
        let interval = raw
            .ping_interval
            .ok_or(DecodeError::InvalidHandshake("no pingInterval"))?;
        let timeout = raw
            .ping_timeout
            .ok_or(DecodeError::InvalidHandshake("no pingTimeout"))?;
        Ok(Handshake {
            sid,
            upgrades: raw.upgrades,
            ping_interval: Duration::from_millis(interval).min(MAX_INTERVAL),
            ping_timeout: Duration::from_millis(timeout).min(MAX_INTERVAL),
            max_payload: raw
                .max_payload
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX))
                .unwrap_or(1_000_000),
        })
    }

    /// How long the client waits for the next ping before it calls the connection dead:
    /// `pingInterval + pingTimeout`, never less than one second (python-engineio advertises
    /// sub-second intervals as `0`, which would otherwise expire at once) and never more than
    /// [`MAX_HEARTBEAT`] (a server advertising hours would leave a dead link undetected for
    /// hours).
    pub(crate) fn heartbeat(&self) -> Duration {
        self.ping_interval
            .saturating_add(self.ping_timeout)
            .clamp(Duration::from_secs(1), MAX_HEARTBEAT)
    }

    /// Whether the server offers an upgrade to WebSocket.
    pub(crate) fn offers_websocket(&self) -> bool {
        self.upgrades.iter().any(|u| u == "websocket")
    }
}

//! The Sync API socket's events, part of the client's orchestration: the JWT the CONNECT asks
//! for, `initsync` on each connection, sync items as they come, refusals and losses, and the
//! reasons live sync stops.

use http::header::HeaderValue;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::error::{DisconnectReason, UsageError};
use crate::io::Machine;
use crate::session::{AckError, SessionEvent};
use crate::sync::SyncItem;

use super::health::{self, Cause, InitsyncFailure};
use super::syncing::items_of;
use super::{Client, Event, StopReason};

impl Client {
    /// Gives the socket's CONNECT the JWT (or none, and the server refuses it).
    pub(super) fn authenticate_socket(&mut self) {
        self.live.set_socket_awaits_jwt(false);
        let auth = self.jwt.as_ref().map(|j| json!({"JWT": j.expose()}));
        // The attempt that asked may have ended while `/auth` ran; the next one asks again.
        let authenticated = self
            .session
            .with_ids(&mut self.ids)
            .authenticate(self.now, "/", auth);
        if let Err(e) = authenticated {
            crate::log!(
                debug,
                "the socket's auth payload was not needed any more: {e}"
            );
        }
        self.drain_session();
    }

    /// Takes everything the session has to say: its transport work goes out as it is, and
    /// each of its events is answered as it comes.
    pub(super) fn drain_session(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output.split_event() {
                Ok(transport) => self.out.push_back(transport),
                Err(e) => self.on_session_event(e),
            }
        }
    }

    fn on_session_event(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::AuthRequested { .. } => {
                if self.jwt.is_none() && self.api_key.is_some() {
                    self.live.set_socket_awaits_jwt(true);
                    self.start_reauth(false);
                } else {
                    self.authenticate_socket();
                }
            }
            SessionEvent::Connected { .. } => {
                self.live.connected();
                self.event(Event::Connected);
                self.send_initsync();
            }
            SessionEvent::Message {
                event, raw, ack, ..
            } => {
                if let Some(id) = ack {
                    let acked = self.session.with_ids(&mut self.ids).ack(
                        self.now,
                        "/",
                        id,
                        Vec::new(),
                        Vec::new(),
                    );
                    if let Err(e) = acked {
                        crate::log!(debug, "the server's ack request {id} not answered: {e}");
                    }
                }
                // The arguments come raw (`raw_args`): `[name, first, …]`. Binary events,
                // which come parsed, are nothing the Sync API sends.
                let text = raw.as_ref().map_or("null", |r| r.get());
                crate::json::with_array_items(text, |items| {
                    self.on_message(&event, items.get(1).copied())
                })
                .unwrap_or_else(|| crate::log!(debug, "sync socket event {event:?} unread"));
            }
            SessionEvent::AckReceived { id, raw, .. } => {
                if self.live.initsync_answered(id) {
                    let text = raw.as_ref().map_or("null", |r| r.get());
                    crate::json::with_array_items(text, |items| {
                        self.on_initsync_answer(items.first().copied())
                    })
                    .unwrap_or_else(|| self.on_initsync_answer(None));
                }
            }
            SessionEvent::AckFailed { id, error } => {
                if self.live.initsync_failed(id) && error == AckError::TimedOut {
                    self.fail_attempt(Cause::Initsync(InitsyncFailure::TimedOut));
                }
            }
            SessionEvent::ConnectError { message, data, .. } => {
                self.on_refused(message, data.as_ref())
            }
            SessionEvent::Disconnected { reason } => self.on_disconnected(reason),
            SessionEvent::Reconnecting { attempt, delay } => {
                if let Some(cause) = self.live.reconnect_cause() {
                    self.event(Event::Reconnecting {
                        attempt,
                        delay,
                        cause,
                    });
                }
            }
            SessionEvent::ReconnectFailed { attempts } => {
                self.stop(StopReason::ReconnectFailed { attempts })
            }
            SessionEvent::Opened { .. }
            | SessionEvent::Upgraded
            | SessionEvent::NamespaceDisconnected { .. } => {}
        }
    }

    fn on_message(&mut self, event: &str, first: Option<&RawValue>) {
        match event {
            "sync" => match first.and_then(|raw| items_of(raw.get())) {
                Some(items) => {
                    if self.live.awaits_initsync() {
                        self.hold_sync(items);
                    } else {
                        self.apply_sync(items);
                    }
                }
                None => crate::log!(warn, "sync event without a list ignored"),
            },
            "authorization" => match first
                .and_then(|raw| crate::json::tree_bounded(raw.get()).ok())
                .as_ref()
                .and_then(|v| v.get("JWT"))
                .and_then(Value::as_str)
            {
                Some(token) if !token.is_empty() && HeaderValue::from_str(token).is_ok() => {
                    self.set_jwt(token.to_string());
                }
                _ => crate::log!(warn, "authorization event without a usable JWT ignored"),
            },
            other => crate::log!(debug, "sync socket event {other:?} ignored"),
        }
    }

    /// Sends `initsync` with the applied cursors, once per connection.
    fn send_initsync(&mut self) {
        // The CONNECT reply and a loss may come in one input: an emit now would wait in the
        // buffer and go out after the next CONNECT, beside that connection's own initsync.
        if !self.session.is_connected("/") {
            return;
        }
        let (cc, cursor) = self.sync.applied();
        let payload =
            json!({"cc.cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
        let sent = self.session.with_ids(&mut self.ids).emit(
            self.now,
            "/",
            "initsync",
            vec![payload],
            Vec::new(),
            Some(self.cfg.initsync_timeout),
        );
        match sent {
            Ok(ack) => self.live.initsync_sent(ack),
            Err(UsageError::PayloadTooLarge { size, limit }) => {
                // A server that cannot take 70 bytes breaks the protocol; if it keeps doing
                // so, trying for ever only hides it.
                if self.live.payload_struck() {
                    self.stop(StopReason::PayloadLimit { size, limit });
                } else {
                    self.fail_attempt(Cause::Initsync(InitsyncFailure::TooLarge { size, limit }));
                }
            }
            Err(e) => self.fail_attempt(Cause::Initsync(InitsyncFailure::NotSent(e.to_string()))),
        }
    }

    fn on_initsync_answer(&mut self, answer: Option<&RawValue>) {
        match answer.and_then(|raw| items_of(raw.get())) {
            Some(items) => {
                // Healthy at last: the next loss backs off from the first delay again.
                self.session.mark_healthy();
                // The ack's items, then those that came while it was awaited, in one go: the
                // client is not caught up until both are in the store.
                let items = self.live.healthy(items);
                self.apply_sync(items);
            }
            None => {
                self.live.drop_held();
                // The Python clients read a missing list as an auth problem.
                self.renew_jwt_once();
                self.fail_attempt(Cause::Initsync(InitsyncFailure::NoList));
            }
        }
    }

    /// A refused CONNECT. The session already scheduled the next attempt; what the client
    /// decides here is whether a new JWT is needed first, or whether to stop.
    fn on_refused(&mut self, message: String, data: Option<&Value>) {
        crate::log!(warn, "the sync server refused the connection: {message}");
        if health::names_auth(&message, data) {
            if self.api_key.is_none() {
                self.live.fail(
                    self.now,
                    Cause::Refused {
                        message: message.clone(),
                    },
                );
                return self.stop(StopReason::JwtRejected { message });
            }
            // Renewed before the next attempt's CONNECT.
            self.jwt = None;
        } else {
            // Perhaps an auth problem in disguise: renewing once per streak costs little.
            self.renew_jwt_once();
        }
        self.live.fail(self.now, Cause::Refused { message });
    }

    fn on_disconnected(&mut self, reason: DisconnectReason) {
        self.live.disconnected(self.now, &reason, &mut self.sync);
        self.refresh_cursors();
        let server_said_bye = reason == DisconnectReason::ServerDisconnect;
        self.event(Event::Disconnected { reason });
        if server_said_bye {
            self.stop(StopReason::ServerDisconnect);
        }
        self.jobs.schedule_poll(self.now);
    }

    /// Drops the JWT so the next attempt renews it first, once per streak of refusals.
    fn renew_jwt_once(&mut self) {
        if self.api_key.is_some() && self.live.renewal_due() {
            self.jwt = None;
        }
    }

    /// Gives up on this connection attempt and tries again through the session's backoff.
    /// The caller drains the session.
    pub(super) fn fail_attempt(&mut self, cause: Cause) {
        crate::log!(info, "sync connection attempt failed: {cause}");
        let reason = DisconnectReason::Restart(cause.to_string());
        self.live.fail(self.now, cause);
        self.session
            .with_ids(&mut self.ids)
            .restart(self.now, reason);
    }

    /// Stops live sync for one of the reasons of [`StopReason`]: the socket is closed and
    /// nothing reconnects it until the application calls `connect` again.
    pub(super) fn stop(&mut self, reason: StopReason) {
        if self.closed || !self.live.stop(reason.clone()) {
            return;
        }
        crate::log!(warn, "live sync stopped: {reason}");
        if let Err(e) = self.session.with_ids(&mut self.ids).disconnect(self.now) {
            crate::log!(debug, "the socket was already closed: {e}");
        }
        self.event(Event::Stopped { reason });
    }

    /// Holds sync items that came while `initsync` is awaited; too many, and the client
    /// reconnects and catches up from its cursors instead.
    fn hold_sync(&mut self, items: Vec<SyncItem>) {
        if !self.live.hold(items) {
            crate::log!(
                warn,
                "too many sync items while initsync is pending; reconnecting"
            );
            let limit = self.cfg.max_held_sync_items;
            self.fail_attempt(Cause::Overflow { limit });
        }
    }
}

//! Live sync's own state ([`Live`]): whether it runs or stopped and why, the failures since the
//! connection was last healthy, the `initsync` of each connection and the items held while it
//! is answered, catching up, the reload after a restore, the retry schedule of failed sync
//! fetches, and the pages of `sync_now`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::error::DisconnectReason;
use crate::session::AckId;
use crate::store::{DataType, Store};
use crate::sync::{Action, Batch, Effect, SyncItem, SyncState, Waiter};
use crate::timer::{after, TimerTable};

use super::config::ClientConfig;
use super::health::{Cause, Health, StopReason};
use super::CallId;

/// Attempts in a row whose `initsync` does not fit the server's `maxPayload` before live sync
/// stops: one could be a fluke of a server starting up, three are its configuration.
const PAYLOAD_STRIKES: u32 = 3;

/// Live sync's deadlines.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Sync fetches, paused after one failed, go on then.
    FetchResume,
    /// The reload's `/init`, failed in a way that may heal, is sent again then.
    ReloadRetry,
}

impl From<Timer> for usize {
    fn from(t: Timer) -> usize {
        t as usize
    }
}

/// The failures of one unhealthy stretch, between two healthy connections.
#[derive(Clone, Debug, Default)]
struct Streak {
    /// When the stretch began; `None` while healthy (or before the first failure).
    since: Option<Instant>,
    /// Why the last attempt failed.
    cause: Option<Cause>,
    /// Whether the JWT was renewed since the last accepted CONNECT because of a refusal that
    /// did not name auth: that happens at most once.
    reauthed: bool,
    /// Attempts in a row whose `initsync` did not fit the server's `maxPayload`.
    payload_strikes: u32,
}

/// The reload after a restore: the project's data loaded again, and every record and asset
/// the store held fetched again, while the restore's sync item holds the cursor.
#[derive(Debug)]
struct Reload {
    /// Holds the cursor at the restore's item until the reload is done.
    barrier: Waiter,
    /// The records and assets still to come back (or to be found deleted).
    expect: BTreeSet<(DataType, String)>,
    /// Expected keys dropped from a fetch: done with once nothing fetches them any more.
    recheck: BTreeSet<(DataType, String)>,
    /// The reload's `/init` landed.
    started: bool,
    /// The sync sequence when the reload's fetches were queued: only batches taken after it
    /// bring the restored data.
    since: u64,
}

/// Live sync's state, beside the socket's own (the session) and the sync cursors and fetch
/// queue ([`SyncState`]).
#[derive(Debug)]
pub(super) struct Live {
    /// `connect` was called, and live sync is on.
    started: bool,
    /// Why live sync stopped, if it did.
    stopped: Option<StopReason>,
    /// The failures since the connection was last healthy.
    streak: Streak,
    /// The socket's CONNECT waits for the `/auth` under way.
    socket_awaits_jwt: bool,
    /// The `initsync` emit waiting for its ack.
    initsync: Option<AckId>,
    /// `initsync` was answered on this connection.
    synced: bool,
    /// Sync items that came while `initsync` was awaited, in order.
    held: Vec<SyncItem>,
    /// The most items `held` takes.
    max_held: usize,
    /// `initsync` was answered and [`Event::CaughtUp`](super::Event::CaughtUp) is still due.
    catching_up: bool,
    /// The reload after a restore, while it runs.
    reload: Option<Reload>,
    /// Sync fetches (and reloads) failed in a row: the exponent of the fetch retry delay.
    fetch_failures: u32,
    /// The fetch retry schedule's first and longest wait.
    fetch_retry: (Duration, Duration),
    /// `sync_now` calls waiting for their next page, first first.
    pages: Vec<CallId>,
    /// `sync_now` calls whose last page came, waiting for its items to be in the store.
    pages_done: Vec<CallId>,
    /// The fetch resume and reload retry deadlines.
    timers: TimerTable<Timer, 2>,
}

impl Live {
    /// Live sync not started, with the limits and waits of `cfg`.
    pub(super) fn new(cfg: &ClientConfig) -> Live {
        Live {
            started: false,
            stopped: None,
            streak: Streak::default(),
            socket_awaits_jwt: false,
            initsync: None,
            synced: false,
            held: Vec::new(),
            max_held: cfg.max_held_sync_items,
            catching_up: false,
            reload: None,
            fetch_failures: 0,
            fetch_retry: (cfg.fetch_retry_delay, cfg.fetch_retry_max),
            pages: Vec::new(),
            pages_done: Vec::new(),
            timers: TimerTable::default(),
        }
    }

    // ---- running or stopped ----------------------------------------------------------------

    /// `connect`: a new start, whatever stopped live sync before is the past. It runs only if
    /// `live_sync` says so.
    pub(super) fn start(&mut self, live_sync: bool) {
        self.stopped = None;
        self.streak = Streak::default();
        self.started = live_sync;
    }

    /// Whether live sync runs: started by `connect` and not stopped since.
    pub(super) fn is_running(&self) -> bool {
        self.started && self.stopped.is_none()
    }

    /// Whether live sync stopped.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Live sync stops for `reason`; false if it had stopped already.
    pub(super) fn stop(&mut self, reason: StopReason) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        self.stopped = Some(reason);
        self.socket_awaits_jwt = false;
        true
    }

    /// How live sync is doing, given whether the socket is `connected`, whether everything it
    /// reported is in the store (`caught_up`) and the session's failed `attempts`.
    pub(super) fn health(&self, connected: bool, caught_up: bool, attempts: u32) -> Health {
        if let Some(reason) = &self.stopped {
            return Health::Stopped {
                reason: reason.clone(),
            };
        }
        if !self.started {
            return Health::Idle;
        }
        if connected {
            return if caught_up {
                Health::Connected
            } else {
                Health::CatchingUp
            };
        }
        match (&self.streak.since, &self.streak.cause) {
            (Some(since), Some(cause)) => Health::Reconnecting {
                since: *since,
                attempts,
                cause: cause.clone(),
            },
            _ => Health::Connecting,
        }
    }

    // ---- the streak of failures ------------------------------------------------------------

    /// An attempt failed at `now` for `cause`.
    pub(super) fn fail(&mut self, now: Instant, cause: Cause) {
        self.streak.since.get_or_insert(now);
        self.streak.cause = Some(cause);
    }

    /// The first connection proper starts: the failures before it are history.
    pub(super) fn forget_failures(&mut self) {
        self.streak = Streak::default();
    }

    /// Why the next attempt is made, as a reconnect reports it; `None` once stopped.
    pub(super) fn reconnect_cause(&self) -> Option<Cause> {
        if self.stopped.is_some() {
            return None;
        }
        let cause = self.streak.cause.clone();
        Some(cause.unwrap_or(Cause::Socket(DisconnectReason::TransportClose)))
    }

    /// Whether the JWT is to be renewed for a refusal that may be an auth problem in
    /// disguise: once per streak.
    pub(super) fn renewal_due(&mut self) -> bool {
        !std::mem::replace(&mut self.streak.reauthed, true)
    }

    /// One more attempt whose `initsync` did not fit the server's `maxPayload`: whether that
    /// is one too many, and live sync stops.
    pub(super) fn payload_struck(&mut self) -> bool {
        self.streak.payload_strikes = self.streak.payload_strikes.saturating_add(1);
        self.streak.payload_strikes >= PAYLOAD_STRIKES
    }

    // ---- the socket's auth -----------------------------------------------------------------

    /// Whether the socket's CONNECT waits for the `/auth` under way.
    pub(super) fn socket_awaits_jwt(&self) -> bool {
        self.socket_awaits_jwt
    }

    /// The socket's CONNECT waits for the `/auth` under way (or `false`: not any more).
    pub(super) fn set_socket_awaits_jwt(&mut self, waits: bool) {
        self.socket_awaits_jwt = waits;
    }

    /// Whether the socket's CONNECT waited for `/auth`; it waits no more.
    pub(super) fn take_socket_awaits_jwt(&mut self) -> bool {
        std::mem::take(&mut self.socket_awaits_jwt)
    }

    // ---- one connection: initsync, held items, catching up ---------------------------------

    /// The CONNECT was accepted: a refusal that follows may renew the JWT once more.
    pub(super) fn connected(&mut self) {
        self.streak.reauthed = false;
    }

    /// `initsync` went out, waiting for `ack` (`None`: it was not sent).
    pub(super) fn initsync_sent(&mut self, ack: Option<AckId>) {
        self.initsync = ack;
    }

    /// Whether `initsync` waits for its ack: sync items that come meanwhile are held.
    pub(super) fn awaits_initsync(&self) -> bool {
        self.initsync.is_some()
    }

    /// Whether ack `id` answers `initsync`, which waits no more.
    pub(super) fn initsync_answered(&mut self, id: AckId) -> bool {
        let ours = self.initsync == Some(id);
        if ours {
            self.initsync = None;
        }
        ours
    }

    /// Whether ack `id`, which will never come, was `initsync`'s: then it waits no more, and
    /// the items held for it are dropped (the next connection's `initsync` brings them).
    pub(super) fn initsync_failed(&mut self, id: AckId) -> bool {
        let ours = self.initsync_answered(id);
        if ours {
            self.held.clear();
        }
        ours
    }

    /// `initsync` was answered with its `items`: the connection is healthy, catching up
    /// begins, and the items to apply are those, then the ones held meanwhile.
    pub(super) fn healthy(&mut self, mut items: Vec<SyncItem>) -> Vec<SyncItem> {
        self.synced = true;
        self.streak = Streak::default();
        self.catching_up = true;
        items.append(&mut self.held);
        items
    }

    /// Drops the items held for `initsync`.
    pub(super) fn drop_held(&mut self) {
        self.held.clear();
    }

    /// Holds items that came while `initsync` is awaited. False, with every held item
    /// dropped, when they would be more than the limit.
    pub(super) fn hold(&mut self, items: Vec<SyncItem>) -> bool {
        if self.held.len().saturating_add(items.len()) > self.max_held {
            self.held.clear();
            return false;
        }
        self.held.extend(items);
        true
    }

    /// How many items are held for `initsync`.
    pub(super) fn held_len(&self) -> usize {
        self.held.len()
    }

    /// The socket went down at `now` for `reason`: this connection's `initsync`, held items
    /// and catching up are gone, the items the server has not seen applied will come again
    /// (`sync` forgets their waiters), and the failure goes in the streak.
    pub(super) fn disconnected(
        &mut self,
        now: Instant,
        reason: &DisconnectReason,
        sync: &mut SyncState,
    ) {
        self.initsync = None;
        self.synced = false;
        self.held.clear();
        self.catching_up = false;
        sync.on_disconnect();
        if let Some(r) = self.reload.as_mut() {
            // The restore's item will come again, but a load landing before it does would
            // carry the cursor past it while the reload is not done: keep holding it.
            r.barrier = sync.rehold(&r.barrier);
        }
        match reason {
            DisconnectReason::ClientClose => {}
            // The cause was noted where the client decided (a refusal, a failed initsync).
            DisconnectReason::Refused { .. } | DisconnectReason::Restart(_) => {
                self.streak.since.get_or_insert(now);
            }
            other => self.fail(now, Cause::Socket(other.clone())),
        }
    }

    /// Whether this connection's `initsync` was answered and everything it brought is in,
    /// and no reload runs; the socket and the fetch queue say the rest.
    pub(super) fn caught_up(&self) -> bool {
        self.synced && self.initsync.is_none() && !self.catching_up && self.reload.is_none()
    }

    /// Whether catching up ends now, `settled` saying whether every sync item applied is in
    /// the store: then [`Event::CaughtUp`](super::Event::CaughtUp) is due, once.
    pub(super) fn finish_catching_up(&mut self, settled: bool) -> bool {
        let done = self.catching_up && self.initsync.is_none() && settled && self.reload.is_none();
        if done {
            self.catching_up = false;
        }
        done
    }

    // ---- failed sync fetches ---------------------------------------------------------------

    /// A sync fetch (or the reload) succeeded: the retry schedule starts again.
    pub(super) fn fetched(&mut self) {
        self.fetch_failures = 0;
    }

    /// A sync fetch failed in a way that may heal: fetches pause for the next wait of the
    /// schedule, from `now`.
    pub(super) fn pause_fetches(&mut self, now: Instant) {
        let delay = self.retry_delay();
        self.timers.set(Timer::FetchResume, after(now, delay));
    }

    /// Whether sync fetches are paused.
    pub(super) fn fetches_paused(&self) -> bool {
        self.timers.get(Timer::FetchResume).is_some()
    }

    /// Whether paused fetches go on at `now`; they are paused no more.
    pub(super) fn fetches_resume(&mut self, now: Instant) -> bool {
        self.timers.expired(Timer::FetchResume, now)
    }

    /// The next wait of the schedule: the first, doubled for each failure in a row, capped
    /// at the longest.
    fn retry_delay(&mut self) -> Duration {
        let (first, longest) = self.fetch_retry;
        let factor = 1u32
            .checked_shl(self.fetch_failures.min(16))
            .unwrap_or(u32::MAX);
        self.fetch_failures = self.fetch_failures.saturating_add(1);
        first.saturating_mul(factor).min(longest.max(first))
    }

    // ---- the reload after a restore --------------------------------------------------------

    /// A restore finished: a reload starts, holding the cursor with `barrier`. The barrier of
    /// a reload that was running comes back, to be released.
    pub(super) fn start_reload(&mut self, barrier: Waiter) -> Option<Waiter> {
        let old = self.end_reload();
        self.reload = Some(Reload {
            barrier,
            expect: BTreeSet::new(),
            recheck: BTreeSet::new(),
            started: false,
            since: 0,
        });
        old
    }

    /// The reload's `/init` goes out: no retry is due.
    pub(super) fn reload_sent(&mut self) {
        self.timers.stop(Timer::ReloadRetry);
    }

    /// The reload's `/init` failed in a way that may heal: it goes again after the next wait
    /// of the fetch schedule, from `now`.
    pub(super) fn retry_reload(&mut self, now: Instant) {
        let delay = self.retry_delay();
        if self.reload.is_some() {
            self.timers.set(Timer::ReloadRetry, after(now, delay));
        }
    }

    /// Whether the reload's `/init` is due again at `now`.
    pub(super) fn reload_due(&mut self, now: Instant) -> bool {
        self.timers.expired(Timer::ReloadRetry, now)
    }

    /// Whether a reload runs.
    pub(super) fn reloading(&self) -> bool {
        self.reload.is_some()
    }

    /// The reload ends (done, given up, or overtaken by a load from scratch): its barrier.
    pub(super) fn end_reload(&mut self) -> Option<Waiter> {
        self.timers.stop(Timer::ReloadRetry);
        self.reload.take().map(|r| r.barrier)
    }

    /// The reload's `/init` landed; false if no reload runs.
    pub(super) fn reload_landed(&mut self) -> bool {
        let Some(r) = self.reload.as_mut() else {
            return false;
        };
        r.started = true;
        true
    }

    /// The reload waits for `keys` to come back from fetches taken after sync sequence
    /// `since`.
    pub(super) fn reload_expects(&mut self, keys: BTreeSet<(DataType, String)>, since: u64) {
        if let Some(r) = self.reload.as_mut() {
            r.expect = keys;
            r.since = since;
        }
    }

    /// Ends the reload once every key it waits for is in, or will never be: deleted since, or
    /// refused. Its barrier is released in `sync`.
    pub(super) fn finish_reload_if_done(&mut self, sync: &mut SyncState) {
        let dropped = sync.take_dropped();
        if let Some(r) = self.reload.as_mut() {
            // A key dropped from one fetch may still be queued, or out, for another: look
            // again each time until nothing wants it.
            r.recheck
                .extend(dropped.into_iter().filter(|k| r.expect.contains(k)));
            let gone: Vec<_> = r
                .recheck
                .iter()
                .filter(|(t, k)| !sync.wants(*t, k))
                .cloned()
                .collect();
            for key in gone {
                r.recheck.remove(&key);
                r.expect.remove(&key);
            }
        }
        let done = self
            .reload
            .as_ref()
            .is_some_and(|r| r.started && r.expect.is_empty());
        if done {
            if let Some(barrier) = self.end_reload() {
                sync.release(&barrier);
            }
        }
    }

    /// A fetch `batch` landed, `stored` naming the keys it put in the store: each key the
    /// reload waited for is back (changed), or gone from the server (deleted from `store`).
    pub(super) fn reload_fetched(
        &mut self,
        batch: &Batch,
        stored: &BTreeSet<(DataType, String)>,
        store: &mut Store,
        effects: &mut Vec<Effect>,
    ) {
        let Some(reload) = self.reload.as_mut().filter(|r| batch.sent_seq > r.since) else {
            return;
        };
        let t = batch.data_type;
        for key in &batch.keys {
            if reload.expect.remove(&(t, key.clone())) {
                if stored.contains(&(t, key.clone())) {
                    effects.push(Effect::Changed(t, key.clone(), Action::Update));
                } else if store.remove(t, key).is_some() {
                    effects.push(Effect::Changed(t, key.clone(), Action::Delete));
                }
            }
        }
    }

    // ---- sync_now's pages ------------------------------------------------------------------

    /// A `sync_now` call waits for its first page.
    pub(super) fn queue_page(&mut self, call: CallId) {
        self.pages.push(call);
    }

    /// A page of `call` came: the next one goes first if the server has `more`; otherwise the
    /// call is done once the page's items are in the store.
    pub(super) fn page_answered(&mut self, call: CallId, more: bool) {
        if more {
            self.pages.insert(0, call);
        } else {
            self.pages_done.push(call);
        }
    }

    /// The calls whose last page came.
    pub(super) fn take_pages_done(&mut self) -> Vec<CallId> {
        std::mem::take(&mut self.pages_done)
    }

    /// The call whose page goes next.
    pub(super) fn next_page(&mut self) -> Option<CallId> {
        (!self.pages.is_empty()).then(|| self.pages.remove(0))
    }

    /// Forgets every `sync_now` call: those that waited.
    pub(super) fn close_pages(&mut self) -> Vec<CallId> {
        let mut calls = std::mem::take(&mut self.pages);
        calls.append(&mut self.pages_done);
        calls
    }

    /// When fetches resume or the reload is sent again, whichever is first.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use crate::error::DisconnectReason;
    use crate::session::AckId;
    use crate::store::{DataType, Store};
    use crate::sync::{Action, Effect, SyncItem, SyncState};

    use super::{CallId, Cause, ClientConfig, Health, Live, StopReason};

    fn items(cursors: &[i64]) -> Vec<SyncItem> {
        let list: Vec<String> = cursors
            .iter()
            .map(|c| {
                format!(
                    r#"{{"type":"p1","cursor":{c},"action":"UPDATE","data_type":"records","data_key":"r{c}"}}"#
                )
            })
            .collect();
        crate::sync::parse_items(&format!("[{}]", list.join(",")))
            .unwrap()
            .0
    }

    fn cursors(items: &[SyncItem]) -> Vec<i64> {
        items.iter().map(|i| i.cursor).collect()
    }

    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn live(cfg: ClientConfig) -> (Live, Instant) {
        (Live::new(&cfg), Instant::now())
    }

    fn cfg() -> ClientConfig {
        ClientConfig::new("https://unicat.test", "p1").unwrap()
    }

    #[test]
    fn items_that_come_while_initsync_is_awaited_go_on_top_of_its_answer() {
        let (mut live, _) = live(cfg());
        live.initsync_sent(Some(AckId(0)));
        assert!(live.awaits_initsync());
        assert!(live.hold(items(&[7])));
        assert!(live.hold(items(&[8, 9])));
        assert_eq!(live.held_len(), 3);
        assert!(!live.initsync_answered(AckId(1)), "another emit's ack");
        assert!(live.initsync_answered(AckId(0)));
        assert_eq!(cursors(&live.healthy(items(&[5, 6]))), [5, 6, 7, 8, 9]);
        assert_eq!(live.held_len(), 0);
        // Caught up once the items are in the store, once.
        assert!(!live.caught_up());
        assert!(!live.finish_catching_up(false));
        assert!(live.finish_catching_up(true));
        assert!(!live.finish_catching_up(true));
        assert!(live.caught_up());
    }

    #[test]
    fn more_held_items_than_the_limit_are_all_dropped_and_so_are_those_of_a_failed_initsync() {
        let (mut live, _) = live(cfg().max_held_sync_items(3));
        live.initsync_sent(Some(AckId(4)));
        assert!(live.hold(items(&[1, 2])));
        assert!(!live.hold(items(&[3, 4])));
        assert_eq!(live.held_len(), 0);
        assert!(live.hold(items(&[5])));
        assert!(live.initsync_failed(AckId(4)));
        assert_eq!((live.held_len(), live.awaits_initsync()), (0, false));
    }

    #[test]
    fn health_goes_idle_connecting_catching_up_connected_reconnecting_stopped() {
        let (mut live, t0) = live(cfg());
        assert_eq!(live.health(false, false, 0), Health::Idle);
        live.start(true);
        assert_eq!(live.health(false, false, 0), Health::Connecting);
        assert_eq!(live.health(true, false, 0), Health::CatchingUp);
        assert_eq!(live.health(true, true, 0), Health::Connected);
        live.disconnected(
            t0,
            &DisconnectReason::PingTimeout,
            &mut SyncState::default(),
        );
        let later = t0 + Duration::from_secs(3);
        live.fail(
            later,
            Cause::Refused {
                message: "busy".into(),
            },
        );
        let refused = Cause::Refused {
            message: "busy".into(),
        };
        let reconnecting = Health::Reconnecting {
            since: t0,
            attempts: 2,
            cause: refused.clone(),
        };
        assert_eq!(
            live.health(false, false, 2),
            reconnecting,
            "since the first failure"
        );
        assert_eq!(live.reconnect_cause(), Some(refused));
        assert!(live.stop(StopReason::ServerDisconnect));
        assert!(!live.stop(StopReason::Closed), "stopped once");
        assert!(live.health(false, false, 2).is_stopped());
        assert_eq!(live.reconnect_cause(), None);
        live.start(true);
        assert_eq!(
            live.health(false, false, 0),
            Health::Connecting,
            "a new start"
        );
    }

    #[test]
    fn a_refusal_renews_the_jwt_once_per_streak_and_initsync_too_large_thrice_stops() {
        let (mut live, _) = live(cfg());
        assert!(live.renewal_due());
        assert!(!live.renewal_due());
        live.connected();
        assert!(live.renewal_due(), "an accepted CONNECT starts again");
        assert!(!live.payload_struck());
        assert!(!live.payload_struck());
        assert!(live.payload_struck());
        assert!(live.healthy(Vec::new()).is_empty());
        assert!(
            !live.payload_struck(),
            "a healthy connection forgets the strikes"
        );
    }

    #[test]
    fn failed_fetches_wait_5_10_20_40_then_60_s_and_a_success_starts_again() {
        let (mut live, t0) = live(cfg());
        let mut waits = Vec::new();
        for _ in 0..5 {
            live.pause_fetches(t0);
            assert!(live.fetches_paused());
            waits.push(live.next_deadline().unwrap().duration_since(t0).as_secs());
            assert!(live.fetches_resume(t0 + Duration::from_secs(60)));
        }
        assert_eq!(waits, [5, 10, 20, 40, 60]);
        assert!(!live.fetches_paused());
        live.fetched();
        live.pause_fetches(t0);
        assert!(!live.fetches_resume(t0 + Duration::from_secs(4)));
        assert!(live.fetches_resume(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn a_reload_holds_the_cursor_until_every_record_it_waits_for_is_back() {
        let (mut live, t0) = live(cfg());
        let mut sync = SyncState::default();
        let mut store = Store::default();
        let mut effects = Vec::new();
        let restore = r#"[{"type":"p1","cursor":12,"action":"UPDATE","data_type":"jobs","data_key":"t","data":{"project_gid":"p1","job":"restore_project","status":"done","info":{}}}]"#;
        let (restore, _) = crate::sync::parse_items(restore).unwrap();
        sync.apply(restore, &mut store, "p1", &mut effects);
        let Some(Effect::Reload(barrier)) = effects.drain(..).next() else {
            panic!("a finished restore reloads");
        };
        assert_eq!(sync.applied().1, 11, "held at the restore's item");
        assert!(live.start_reload(barrier).is_none());
        // The reload's /init fails and is sent again after the fetch schedule's wait.
        live.retry_reload(t0);
        assert!(!live.reload_due(t0));
        assert!(live.reload_due(t0 + Duration::from_secs(5)));
        live.reload_sent();
        assert!(live.reload_landed());
        let since = sync.seq();
        let expect: BTreeSet<_> = [(DataType::Records, "r1".to_string())].into();
        sync.want_quietly(DataType::Records, ["r1".to_string()]);
        live.reload_expects(expect.clone(), since);
        live.finish_reload_if_done(&mut sync);
        assert!(live.reloading() && !live.caught_up());
        let batch = sync.take_batch(100, "p1").unwrap();
        live.reload_fetched(&batch, &expect, &mut store, &mut effects);
        assert_eq!(
            effects,
            [Effect::Changed(
                DataType::Records,
                "r1".into(),
                Action::Update
            )]
        );
        live.finish_reload_if_done(&mut sync);
        assert!(!live.reloading());
        assert_eq!(sync.applied().1, 12, "the barrier is released");
    }

    #[test]
    fn a_sync_now_with_more_pages_goes_first_again_and_one_done_waits_to_be_finished() {
        let (mut live, _) = live(cfg());
        live.queue_page(CallId(1));
        live.queue_page(CallId(2));
        assert_eq!(live.next_page(), Some(CallId(1)));
        live.page_answered(CallId(1), true);
        assert_eq!(live.next_page(), Some(CallId(1)));
        live.page_answered(CallId(1), false);
        assert_eq!(live.take_pages_done(), [CallId(1)]);
        assert_eq!(live.next_page(), Some(CallId(2)));
        live.page_answered(CallId(2), false);
        live.queue_page(CallId(3));
        assert_eq!(live.close_pages(), [CallId(3), CallId(2)]);
        assert_eq!(live.next_page(), None);
    }
}

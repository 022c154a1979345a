//! The faults a server makes on purpose, set through the control surface: refused Socket.IO
//! CONNECTs, API answers that fail, come late or stop halfway, and `sync` broadcasts that come
//! late. The transport-level faults (connections cut in every way, restarts) live in
//! [`crate::net`]; [`Fault`] names them all, for tests that pick faults at random.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketioxide::extract::SocketRef;

use crate::store::Obj;

/// One fault, as the fault-matrix tests and the soak inject it with
/// [`Control::inject`](crate::Control::inject).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Every connection shut down with a FIN (see [`Control::drop_transports`](crate::Control::drop_transports)).
    Drop,
    /// Every connection reset with an RST.
    Reset,
    /// Every connection goes silent: no data, no FIN; only heartbeats and timeouts notice.
    Silence,
    /// Every WebSocket gets a close frame.
    CloseFrame,
    /// Socket.IO CONNECTs are refused for a while with this message.
    Refuse {
        /// How long.
        duration: Duration,
        /// The CONNECT_ERROR's message.
        message: String,
    },
    /// A fraction of API answers fail.
    FailApi(ApiFailure),
    /// Every API answer is delayed this long.
    DelayApi(Duration),
    /// Every `sync` broadcast is delayed this long, their order kept.
    DelaySync(Duration),
    /// Every JWT issued so far stops working.
    ExpireJwts,
    /// The server restarts: every connection is cut with no goodbye, nothing listens for
    /// `down`, the Engine.IO sessions are forgotten; the data is kept.
    Restart {
        /// How long nothing listens.
        down: Duration,
    },
    /// The next API answers stop halfway through their body and never finish.
    Stall {
        /// How many answers.
        count: u64,
    },
}

/// Which API answers fail, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// The statuses to answer with, picked at random for each failing answer: 500, 502, 503,
    /// 504, 429, or any other.
    pub statuses: Vec<u16>,
    /// The share of API requests that fail, from 0 to 1.
    pub fraction: f64,
    /// Stop after this many failures; `None` fails until cleared.
    pub count: Option<u64>,
    /// Answer with an HTML page, as a proxy does, rather than Unicat's JSON envelope.
    pub html: bool,
}

/// What to do to one API request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) delay: Duration,
    pub(crate) fail: Option<(u16, bool)>,
    pub(crate) stall: bool,
}

/// The server-side faults in force.
#[derive(Debug)]
pub(crate) struct Faults {
    refuse_until: Option<(Instant, String)>,
    fail: Option<ApiFailure>,
    api_delay: Duration,
    stalls: u64,
    /// SplitMix64 state: the same seed fails the same requests.
    rng: u64,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Faults {
            refuse_until: None,
            fail: None,
            api_delay: Duration::ZERO,
            stalls: 0,
            rng: seed,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn refuse(&mut self, duration: Duration, message: String) {
        self.refuse_until = Some((Instant::now() + duration, message));
    }

    /// The refusal's message while CONNECTs are refused.
    pub(crate) fn refusal(&mut self) -> Option<String> {
        match &self.refuse_until {
            Some((until, message)) if Instant::now() < *until => Some(message.clone()),
            _ => {
                self.refuse_until = None;
                None
            }
        }
    }

    pub(crate) fn fail_api(&mut self, failure: Option<ApiFailure>) {
        self.fail = failure.filter(|f| f.fraction > 0.0 && !f.statuses.is_empty());
    }

    pub(crate) fn delay_api(&mut self, delay: Duration) {
        self.api_delay = delay;
    }

    pub(crate) fn stall(&mut self, count: u64) {
        self.stalls = self.stalls.saturating_add(count);
    }

    /// Clears every server-side fault.
    pub(crate) fn clear(&mut self) {
        self.refuse_until = None;
        self.fail = None;
        self.api_delay = Duration::ZERO;
        self.stalls = 0;
    }

    /// Decides the fate of one API request.
    pub(crate) fn plan(&mut self) -> Plan {
        let mut plan = Plan {
            delay: self.api_delay,
            ..Plan::default()
        };
        if self.stalls > 0 {
            self.stalls -= 1;
            plan.stall = true;
            return plan;
        }
        let Some(f) = self.fail.clone() else {
            return plan;
        };
        let draw = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        if draw >= f.fraction {
            return plan;
        }
        let pick = self.next() % f.statuses.len() as u64;
        plan.fail = Some((f.statuses[pick as usize], f.html));
        if let Some(left) = f.count {
            let left = left.saturating_sub(1);
            self.fail = (left > 0).then_some(ApiFailure {
                count: Some(left),
                ..f
            });
        }
        plan
    }
}

/// The `sync` broadcasts on their way, when they are delayed: one queue in send order, so a
/// delay never reorders them.
#[derive(Debug)]
pub(crate) struct Delivery {
    tx: tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, SocketRef, Obj)>,
    delay: Duration,
    queued: Arc<AtomicUsize>,
}

impl Delivery {
    /// Starts the delivery task on `rt`.
    pub(crate) fn start(rt: &tokio::runtime::Handle) -> Self {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, SocketRef, Obj)>();
        let queued = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&queued);
        rt.spawn(async move {
            while let Some((due, sock, list)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                if let Err(e) = sock.emit("sync", &*list) {
                    log::debug!("delayed sync event to {} not sent: {e}", sock.id);
                }
                count.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Delivery {
            tx,
            delay: Duration::ZERO,
            queued,
        }
    }

    pub(crate) fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// Whether broadcasts go through the queue: while delayed, and until the queue is empty
    /// after that, so a broadcast sent at once never overtakes a delayed one.
    pub(crate) fn is_active(&self) -> bool {
        !self.delay.is_zero() || self.queued.load(Ordering::SeqCst) > 0
    }

    pub(crate) fn send(&self, sock: SocketRef, list: Obj) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let due = tokio::time::Instant::now() + self.delay;
        if self.tx.send((due, sock, list)).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_failure_stops_after_its_count() {
        let mut f = Faults::new(7);
        f.fail_api(Some(ApiFailure {
            statuses: vec![503, 429],
            fraction: 1.0,
            count: Some(3),
            html: false,
        }));
        let fails: Vec<_> = (0..5).map(|_| f.plan().fail.map(|(s, _)| s)).collect();
        assert!(fails[..3].iter().all(|s| matches!(s, Some(503 | 429))));
        assert_eq!(fails[3..], [None, None]);
    }

    #[test]
    fn a_fraction_fails_about_that_share() {
        let mut f = Faults::new(1);
        f.fail_api(Some(ApiFailure {
            statuses: vec![500],
            fraction: 0.25,
            count: None,
            html: true,
        }));
        let failed = (0..10_000).filter(|_| f.plan().fail.is_some()).count();
        assert!((2_200..2_800).contains(&failed), "{failed}");
    }
}

//! Timers as data, after quinn-proto's `TimerTable`: the machine records deadlines, the runtime
//! arms one real timer for the earliest, and `handle_timeout` runs whatever is due.

use std::time::{Duration, Instant};

/// `now + d`, or `None` when that is beyond what `Instant` can hold. Intervals that come from
/// the network are clamped before they get here, so `None` only means "never" in practice.
pub(crate) fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// The earliest of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A fixed set of named deadlines.
#[derive(Clone, Debug)]
pub(crate) struct TimerTable<T: Copy + Into<usize>, const N: usize> {
    at: [Option<Instant>; N],
    _t: std::marker::PhantomData<T>,
}

impl<T: Copy + Into<usize>, const N: usize> Default for TimerTable<T, N> {
    fn default() -> Self {
        TimerTable {
            at: [None; N],
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Copy + Into<usize>, const N: usize> TimerTable<T, N> {
    pub(crate) fn set(&mut self, timer: T, at: Option<Instant>) {
        if let Some(slot) = self.at.get_mut(timer.into()) {
            *slot = at;
        }
    }

    pub(crate) fn stop(&mut self, timer: T) {
        self.set(timer, None);
    }

    pub(crate) fn get(&self, timer: T) -> Option<Instant> {
        self.at.get(timer.into()).copied().flatten()
    }

    /// Stops the timer and says whether it was due at `now`.
    pub(crate) fn expired(&mut self, timer: T, now: Instant) -> bool {
        match self.get(timer) {
            Some(at) if at <= now => {
                self.stop(timer);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    pub(crate) fn clear(&mut self) {
        self.at = [None; N];
    }
}

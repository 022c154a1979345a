//! Acks both ways: the emits that wait for the server's ack (their ids, namespaces and
//! deadlines), and the server's events that asked for ours.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

/// Identifies an emit that waits for an ack. Ids are sequential for the life of the session
/// and never reused, so a late ack can never be mistaken for another.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[must_use = "the ack comes as SessionEvent::AckReceived with this id"]
pub struct AckId(
    /// The number that goes in the packet: `42[…]` asks for ack 2.
    pub u64,
);

/// Why an ack will never come.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckError {
    /// The ack timeout passed.
    TimedOut,
    /// The packet was sent, then the transport was lost before the ack came.
    Disconnected,
    /// The session was closed.
    Closed,
}

/// An emit that waits for its ack.
#[derive(Debug)]
struct Pending {
    /// The namespace it was emitted on: an ack counts only from there.
    ns: usize,
    /// When it fails as timed out, if ever: the key of its entry in the deadlines.
    deadline: Option<Instant>,
    /// Whether it went out. An unsent emit still waits in its namespace's buffer, and a lost
    /// transport does not fail it: it goes out after the next CONNECT.
    sent: bool,
}

/// Where a forgotten emit was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removed {
    /// On the wire: nothing else holds it.
    Sent,
    /// Still in this namespace's buffer, which must drop it too.
    Buffered {
        /// The namespace.
        ns: usize,
    },
}

/// Every ack the session waits for or owes.
#[derive(Debug, Default)]
pub(super) struct Acks {
    /// The emits that wait for an ack, by id.
    pending: BTreeMap<AckId, Pending>,
    /// The same emits' deadlines, earliest first, for the timer.
    deadlines: BTreeSet<(Instant, AckId)>,
    /// The server's events that asked for an ack, as (namespace, id), oldest first; bounded,
    /// so a server that never hears back cannot make the list grow.
    asked: VecDeque<(usize, u64)>,
    /// The id of the next emit with an ack.
    next: u64,
}

impl Acks {
    /// How many emits wait for an ack.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The id the next [`register`](Acks::register) hands out, for the packet it goes in.
    pub(super) fn upcoming(&self) -> u64 {
        self.next
    }

    /// An emit on namespace `ns` now waits for its ack, until `deadline`; `sent` if it went
    /// out at once.
    pub(super) fn register(&mut self, ns: usize, deadline: Option<Instant>, sent: bool) -> AckId {
        let id = AckId(self.next);
        self.next = self.next.saturating_add(1);
        if let Some(at) = deadline {
            self.deadlines.insert((at, id));
        }
        self.pending.insert(id, Pending { ns, deadline, sent });
        id
    }

    /// A buffered emit went out.
    pub(super) fn mark_sent(&mut self, id: AckId) {
        if let Some(ack) = self.pending.get_mut(&id) {
            ack.sent = true;
        }
    }

    /// An ack `3/ns,id[…]` arrived on namespace `ns`: true, and the emit is done, if it answers
    /// an emit sent there; a late or stray ack is false.
    pub(super) fn answer(&mut self, id: AckId, ns: usize) -> bool {
        let ours = self.pending.get(&id).is_some_and(|a| a.ns == ns && a.sent);
        ours && self.remove(id).is_some()
    }

    /// Forgets an emit that will never be acked, and says where it was.
    pub(super) fn remove(&mut self, id: AckId) -> Option<Removed> {
        let ack = self.pending.remove(&id)?;
        if let Some(at) = ack.deadline {
            self.deadlines.remove(&(at, id));
        }
        Some(if ack.sent {
            Removed::Sent
        } else {
            Removed::Buffered { ns: ack.ns }
        })
    }

    /// Every emit that waits.
    pub(super) fn ids(&self) -> Vec<AckId> {
        self.pending.keys().copied().collect()
    }

    /// The emits that went out: a lost transport loses their acks.
    pub(super) fn sent(&self) -> Vec<AckId> {
        self.pending
            .iter()
            .filter(|(_, a)| a.sent)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The earliest emit whose deadline is due at `now`, taken off the deadlines.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<AckId> {
        let &(at, id) = self.deadlines.first()?;
        if at > now {
            return None;
        }
        self.deadlines.remove(&(at, id));
        Some(id)
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// The server's event on namespace `ns` asked for ack `id`. Past `limit` the oldest is
    /// forgotten.
    pub(super) fn remember_asked(&mut self, ns: usize, id: u64, limit: usize) {
        if self.asked.len() >= limit {
            self.asked.pop_front();
        }
        self.asked.push_back((ns, id));
    }

    /// Whether the server waits for ack `id` on namespace `ns`.
    pub(super) fn was_asked(&self, ns: usize, id: u64) -> bool {
        self.asked.contains(&(ns, id))
    }

    /// Ack `id` on namespace `ns` is answered.
    pub(super) fn answered(&mut self, ns: usize, id: u64) {
        if let Some(pos) = self.asked.iter().position(|&a| a == (ns, id)) {
            self.asked.remove(pos);
        }
    }

    /// The server left namespace `ns`: it waits for nothing there any more.
    pub(super) fn forget_asked_on(&mut self, ns: usize) {
        self.asked.retain(|&(n, _)| n != ns);
    }

    /// The connection is gone: the server waits for nothing.
    pub(super) fn forget_asked(&mut self) {
        self.asked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_emit_sent_as_420_is_answered_by_430_on_its_namespace_only() {
        let mut acks = Acks::default();
        assert_eq!(acks.upcoming(), 0);
        let id = acks.register(0, None, true);
        assert_eq!(id, AckId(0));
        assert_eq!(acks.upcoming(), 1);
        // `3/admin,0[]` answers nothing: the emit went to `/`.
        assert!(!acks.answer(id, 1));
        // `430[]` does, once; the same ack again is late.
        assert!(acks.answer(id, 0));
        assert!(!acks.answer(id, 0));
        assert_eq!(acks.len(), 0);
    }

    #[test]
    fn an_emit_still_buffered_is_not_answered_and_is_removed_from_its_buffer() {
        let mut acks = Acks::default();
        let id = acks.register(2, None, false);
        assert!(!acks.answer(id, 2), "never sent, so not ours yet");
        assert!(acks.sent().is_empty());
        acks.mark_sent(id);
        assert_eq!(acks.sent(), [id]);
        let buffered = acks.register(2, None, false);
        assert_eq!(acks.remove(buffered), Some(Removed::Buffered { ns: 2 }));
        assert_eq!(acks.remove(id), Some(Removed::Sent));
        assert_eq!(acks.remove(id), None);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn deadlines_expire_earliest_first_and_leave_with_their_emit() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut acks = Acks::default();
        let late = acks.register(0, Some(t0 + s(30)), true);
        let early = acks.register(0, Some(t0 + s(5)), true);
        let never = acks.register(0, None, true);
        let answered = acks.register(0, Some(t0 + s(1)), true);
        assert!(acks.answer(answered, 0));
        assert_eq!(acks.next_deadline(), Some(t0 + s(5)));
        assert_eq!(acks.pop_expired(t0 + s(4)), None);
        assert_eq!(acks.pop_expired(t0 + s(60)), Some(early));
        assert_eq!(acks.pop_expired(t0 + s(60)), Some(late));
        assert_eq!(acks.pop_expired(t0 + s(60)), None);
        assert_eq!(acks.ids(), [late, early, never]);
    }

    #[test]
    fn acks_the_server_asked_for_are_bounded_and_per_namespace() {
        let mut acks = Acks::default();
        // `21["a"]`, `22["b"]`, `2/admin,3["c"]` with room for two: the first is forgotten.
        acks.remember_asked(0, 1, 2);
        acks.remember_asked(0, 2, 2);
        acks.remember_asked(1, 3, 2);
        assert!(!acks.was_asked(0, 1));
        assert!(acks.was_asked(0, 2));
        assert!(!acks.was_asked(0, 3), "asked on /admin, not on /");
        acks.answered(0, 2);
        assert!(!acks.was_asked(0, 2));
        // `1/admin,`: the server left and waits for nothing there.
        acks.forget_asked_on(1);
        assert!(!acks.was_asked(1, 3));
        acks.remember_asked(0, 4, 2);
        acks.forget_asked();
        assert!(!acks.was_asked(0, 4));
    }
}

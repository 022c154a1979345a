//! The Unicat sync rules: which items to skip, what to delete, what to fetch, and how far the
//! cursors may move.
//!
//! # No lost update
//!
//! Each family (`cc` and the project) has two positions. `seen` is the highest cursor handled
//! or queued; items at or below it are lagging and skipped. The *applied* cursor is what the
//! client sends in its next `initsync` or `/sync/get`: it never passes an item whose effect is
//! not yet in the store. An item that needs a fetch registers a waiter at its cursor; the
//! applied cursor stops just below the oldest waiting item and moves on when the fetch's data is
//! merged. When the connection drops, `seen` falls back to the applied cursor and waiters are
//! forgotten, so the server delivers the unfinished items again.
//!
//! # Batching
//!
//! Keys to fetch are gathered per data type while a sync list is handled (and while earlier
//! fetches are in flight), deduplicated, dropped when a later item deletes them, and sent as
//! plural requests of at most `batch_size` keys.
//!
//! # Loads from scratch
//!
//! A load (`/init` at connect, on request, after a restore) brings the store as of the
//! server's cursors when it read it. Sync items that arrive while a load is out are held back
//! and applied on top of it once it lands (those at or below its cursors are then lagging);
//! fetches sent before it landed do not overwrite it, as their data may be older; and a load
//! sent before the one that landed last is dropped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::store::{DataType, Store};

/// What happened to an object, as sync items say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// A new object.
    Insert,
    /// A changed object.
    Update,
    /// A deleted object.
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "INSERT" => Some(Action::Insert),
            "UPDATE" => Some(Action::Update),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Insert => "INSERT",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        })
    }
}

/// The two cursor sequences of the Sync API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Cc,
    Project,
}

/// One sync item as the server sends it, read straight from the JSON text: no tree of it is
/// ever built, so a list costs about its own size in memory.
#[derive(Debug, Deserialize)]
pub(crate) struct SyncItem {
    #[serde(rename = "type", deserialize_with = "family")]
    pub(crate) family: Family,
    pub(crate) cursor: i64,
    /// `None` for an action this client does not know.
    #[serde(deserialize_with = "action")]
    pub(crate) action: Option<Action>,
    pub(crate) data_type: String,
    pub(crate) data_key: String,
    /// Only `jobs` items carry data, read when they are handled.
    #[serde(default)]
    pub(crate) data: Option<Box<RawValue>>,
}

/// `"cc"` is the global family; any other value the project's.
fn family<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Family, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Family;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a family name")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Family, E> {
            Ok(if v == "cc" {
                Family::Cc
            } else {
                Family::Project
            })
        }
    }
    d.deserialize_str(V)
}

fn action<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Action>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<Action>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an action")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Action>, E> {
            Ok(Action::parse(v))
        }
    }
    d.deserialize_str(V)
}

/// Reads a JSON list of sync items: the items, and how many entries were not sync items
/// (skipped, and reported once per list by the caller). `None` when the text is not a list.
pub(crate) fn parse_items(text: &str) -> Option<(Vec<SyncItem>, usize)> {
    struct Items;
    impl<'de> serde::de::Visitor<'de> for Items {
        type Value = (Vec<SyncItem>, usize);
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of sync items")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            let mut malformed = 0usize;
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                match serde_json::from_str::<SyncItem>(raw.get()) {
                    Ok(item) => items.push(item),
                    Err(_) => malformed = malformed.saturating_add(1),
                }
            }
            Ok((items, malformed))
        }
    }
    let parse = |text: &str| {
        let mut de = serde_json::Deserializer::from_str(text);
        serde::Deserializer::deserialize_seq(&mut de, Items).ok()
    };
    // A lone surrogate escape makes serde_json give up on the whole list: repair, then retry.
    parse(text).or_else(|| match crate::json::repair_surrogates(text) {
        std::borrow::Cow::Owned(fixed) => parse(&fixed),
        std::borrow::Cow::Borrowed(_) => None,
    })
}

/// The progress of a job, from a `jobs` sync item.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JobInfo {
    /// The job's name: `backup_project`, `restore_project`, ...
    #[serde(default)]
    pub job: String,
    /// `queued`, `processing`, `done` or `rejected`.
    #[serde(default)]
    pub status: String,
    /// Progress details such as `{"total": 120, "remaining": 26}`.
    #[serde(default)]
    pub info: Value,
    /// The project the job runs for.
    #[serde(default)]
    pub project_gid: Option<String>,
}

/// A change the application hears about once the store reflects it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    Changed(DataType, String, Action),
    VersionChanged {
        old: String,
        new: String,
    },
    Job {
        token: String,
        job: JobInfo,
    },
    /// A restore of our project finished: reload, holding the item's cursor until done.
    Reload(Waiter),
}

#[derive(Clone, Debug, Default)]
struct Cursors {
    seen: i64,
    outstanding: BTreeMap<i64, u32>,
}

impl Cursors {
    fn applied(&self) -> i64 {
        match self.outstanding.first_key_value() {
            Some((&first, _)) => self.seen.min(first.saturating_sub(1)),
            None => self.seen,
        }
    }
}

/// An item waiting for its effect to reach the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Waiter {
    family: Family,
    cursor: i64,
    generation: u64,
    action: Action,
}

/// Keys waiting to be fetched, for one data type, in the order they were asked for.
#[derive(Debug, Default)]
struct Pending {
    /// The order keys were asked for in. A key leaves `waiters` at once when a delete drops
    /// it, but stays here until it is reached or the stale entries pile up: removing it from
    /// the middle of a long queue for every delete would make a frame of deletes quadratic.
    order: VecDeque<String>,
    /// The keys waiting, each with the items waiting for its fetch: at most one per family
    /// and connection, the oldest, which is the one that holds the cursor back.
    waiters: BTreeMap<String, Vec<Waiter>>,
}

impl Pending {
    /// Drops a key from the queue; its waiters, if it was queued.
    fn remove(&mut self, key: &str) -> Option<Vec<Waiter>> {
        let waiters = self.waiters.remove(key)?;
        // Stale entries are bounded by the live ones (plus a little), amortised O(1).
        if self.order.len() > self.waiters.len().saturating_mul(2).saturating_add(64) {
            let mut kept = BTreeSet::new();
            let live = &self.waiters;
            self.order
                .retain(|k| live.contains_key(k) && kept.insert(k.clone()));
        }
        Some(waiters)
    }
}

/// A batch of keys of one type taken for one request.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) data_type: DataType,
    pub(crate) keys: Vec<String>,
    waiters: Vec<(String, Waiter)>,
    /// The sync sequence when the batch was taken: a delete handled after it wins over data
    /// the request brings back.
    pub(crate) sent_seq: u64,
}

/// The sync state of one client.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    cc: Cursors,
    project: Cursors,
    generation: u64,
    pending: BTreeMap<DataType, Pending>,
    /// Deletes handled recently, with the sequence number they were handled at.
    deletes: BTreeMap<(DataType, String), u64>,
    /// Keys whose fetch is under way, per type, with the sequence number it was sent at.
    in_flight: BTreeMap<DataType, BTreeMap<String, u64>>,
    /// The `sent_seq` of every batch not yet landed, requeued or abandoned, wherever its call
    /// is (sent, waiting for a retry, waiting for a JWT).
    batches_out: BTreeSet<u64>,
    /// Loads from scratch under way, and the sync items held back until they land.
    loads_out: u32,
    held_back: Vec<SyncItem>,
    /// Batches taken at or before this sequence were sent before the last load landed.
    loaded_at: u64,
    /// Keys that left the fetch queue without being fetched (deleted, refused).
    dropped: Vec<(DataType, String)>,
    seq: u64,
}

/// A job item's data, parsed within bounds: `None` when it is not a job.
fn job_info(raw: &RawValue) -> Option<JobInfo> {
    let value = crate::json::tree_bounded(raw.get()).ok()?;
    serde_json::from_value(value).ok()
}

/// Schema types are fetched on INSERT: a new definition or field changes how records read.
fn fetched_on_insert(t: DataType) -> bool {
    matches!(
        t,
        DataType::Definitions
            | DataType::Classes
            | DataType::Fields
            | DataType::Layouts
            | DataType::Queries
            | DataType::Modules
    )
}

impl SyncState {
    fn cursors(&mut self, f: Family) -> &mut Cursors {
        match f {
            Family::Cc => &mut self.cc,
            Family::Project => &mut self.project,
        }
    }

    /// The cursors to send in the next `initsync` or `/sync/get`: `(cc, project)`.
    pub(crate) fn applied(&self) -> (i64, i64) {
        (self.cc.applied(), self.project.applied())
    }

    /// Whether any item still waits for its effect, or for a load to land.
    pub(crate) fn is_settled(&self) -> bool {
        self.cc.outstanding.is_empty()
            && self.project.outstanding.is_empty()
            && self.loads_out == 0
            && self.held_back.is_empty()
    }

    /// Sync items held back until the loads out land.
    pub(crate) fn held_back_len(&self) -> usize {
        self.held_back.len()
    }

    /// Keys waiting to be fetched, of every type.
    pub(crate) fn queued_len(&self) -> usize {
        self.pending.values().map(|p| p.waiters.len()).sum()
    }

    /// Sets both families after a load from scratch (connect, `/init`, the end of a restore).
    /// Cursors only move forward.
    pub(crate) fn load_cursors(&mut self, cc: i64, project: i64) {
        self.cc.seen = self.cc.seen.max(cc);
        self.project.seen = self.project.seen.max(project);
    }

    /// Forgets every waiting item and queued fetch for a load from scratch. The cursors stay:
    /// they only move forward, and the load's own cursors are applied with
    /// [`load_cursors`](SyncState::load_cursors).
    pub(crate) fn reset(&mut self) {
        let (cc, project) = self.applied();
        *self = SyncState {
            generation: self.generation.saturating_add(1),
            seq: self.seq,
            // Fetches already sent still land: their keys must not be fetched twice at once,
            // and data they bring back must not undo a delete handled while they were out.
            in_flight: std::mem::take(&mut self.in_flight),
            batches_out: std::mem::take(&mut self.batches_out),
            deletes: std::mem::take(&mut self.deletes),
            loads_out: self.loads_out,
            held_back: std::mem::take(&mut self.held_back),
            ..SyncState::default()
        };
        self.load_cursors(cc, project);
        self.mark_loaded();
    }

    /// A load from scratch was sent: sync items wait until it lands.
    pub(crate) fn begin_load(&mut self) {
        self.loads_out = self.loads_out.saturating_add(1);
    }

    /// A load landed or failed: once none is out, the items held back, to be applied on top.
    pub(crate) fn end_load(&mut self) -> Vec<SyncItem> {
        self.loads_out = self.loads_out.saturating_sub(1);
        if self.loads_out == 0 {
            std::mem::take(&mut self.held_back)
        } else {
            Vec::new()
        }
    }

    /// A load's data is in the store: fetches already out may carry older data.
    pub(crate) fn mark_loaded(&mut self) {
        self.loaded_at = self.seq;
    }

    /// Whether a batch sent at `sent_seq` went out before the last load landed.
    pub(crate) fn predates_load(&self, sent_seq: u64) -> bool {
        sent_seq <= self.loaded_at
    }

    /// Whether the key waits to be fetched or is being fetched.
    pub(crate) fn wants(&self, t: DataType, key: &str) -> bool {
        self.pending
            .get(&t)
            .is_some_and(|p| p.waiters.contains_key(key))
            || self.in_flight.get(&t).is_some_and(|s| s.contains_key(key))
    }

    /// Keys that left the fetch queue without being fetched since the last call.
    pub(crate) fn take_dropped(&mut self) -> Vec<(DataType, String)> {
        std::mem::take(&mut self.dropped)
    }

    /// The connection dropped: unfinished items will be delivered again from the applied
    /// cursors, so forget their waiters. Keys already queued are still fetched.
    pub(crate) fn on_disconnect(&mut self) {
        self.generation = self.generation.saturating_add(1);
        for c in [&mut self.cc, &mut self.project] {
            c.seen = c.applied();
            c.outstanding.clear();
        }
        for p in self.pending.values_mut() {
            for w in p.waiters.values_mut() {
                w.clear();
            }
        }
    }

    /// Handles a list of sync items in order, changing the store where no fetch is needed and
    /// queueing the fetches that are.
    pub(crate) fn apply(
        &mut self,
        items: Vec<SyncItem>,
        store: &mut Store,
        project: &str,
        effects: &mut Vec<Effect>,
    ) {
        if self.loads_out > 0 {
            // The load's data may be older than these: they go on top of it once it is in.
            self.held_back.extend(items);
            return;
        }
        for item in items {
            self.apply_item(item, store, project, effects);
        }
    }

    /// Whether a load from scratch is out, so that items are held back.
    pub(crate) fn loading(&self) -> bool {
        self.loads_out > 0
    }

    /// Forgets the items held back for a load: the connection restarts from the applied
    /// cursors, and the server sends them again.
    pub(crate) fn drop_held_back(&mut self) {
        self.held_back = Vec::new();
    }

    pub(crate) fn apply_item(
        &mut self,
        item: SyncItem,
        store: &mut Store,
        project: &str,
        effects: &mut Vec<Effect>,
    ) {
        let family = item.family;
        let is_job = item.data_type == "jobs";
        if !is_job && item.cursor <= self.cursors(family).seen {
            return;
        }
        self.seq = self.seq.saturating_add(1);
        let waiter = Waiter {
            family,
            cursor: item.cursor,
            generation: self.generation,
            action: Action::Update,
        };
        match item.data_type.as_str() {
            "cc.version" => {
                if let Some(old) = store.set_version(item.data_key.clone()) {
                    effects.push(Effect::VersionChanged {
                        old,
                        new: item.data_key,
                    });
                }
            }
            "jobs" => match item.data.as_deref().map(job_info) {
                Some(Some(job)) => {
                    let ours = job.project_gid.as_deref().is_none_or(|p| p == project);
                    if ours && job.job == "restore_project" && job.status == "done" {
                        self.hold(&waiter);
                        effects.push(Effect::Reload(waiter));
                    }
                    effects.push(Effect::Job {
                        token: item.data_key,
                        job,
                    });
                }
                _ => crate::log!(warn, "jobs item without job data skipped"),
            },
            name => match (DataType::from_name(name), item.action) {
                (Some(t), Some(action)) => {
                    self.apply_change(t, item.data_key, action, waiter, store, project, effects)
                }
                (None, _) => crate::log!(debug, "sync item of unknown data type {name:?} ignored"),
                (_, None) => crate::log!(
                    debug,
                    "sync item {} with an unknown action ignored",
                    item.cursor
                ),
            },
        }
        let c = self.cursors(family);
        c.seen = c.seen.max(item.cursor);
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_change(
        &mut self,
        t: DataType,
        key: String,
        action: Action,
        mut waiter: Waiter,
        store: &mut Store,
        project: &str,
        effects: &mut Vec<Effect>,
    ) {
        waiter.action = action;
        match action {
            Action::Delete => {
                // Earlier items for this key are superseded: their fetch is no longer wanted.
                if let Some(p) = self.pending.get_mut(&t) {
                    if let Some(ws) = p.remove(&key) {
                        for w in ws {
                            self.release(&w);
                        }
                        self.dropped.push((t, key.clone()));
                    }
                }
                self.deletes.insert((t, key.clone()), self.seq);
                if store.remove(t, &key).is_some() {
                    effects.push(Effect::Changed(t, key, Action::Delete));
                }
            }
            Action::Insert => {
                let wanted = fetched_on_insert(t)
                    || (t == DataType::ProjectsMembers
                        && key.split_once('/').is_some_and(|(p, _)| p == project));
                if wanted {
                    self.want(t, key, waiter);
                }
            }
            Action::Update => {
                // Held also while its fetch is out: that answer may predate this change. Unless
                // the key was deleted after that fetch went out: its answer will be dropped,
                // and fetching the key again would bring back what the server deleted.
                let held = store.contains(t, &key)
                    || self
                        .pending
                        .get(&t)
                        .is_some_and(|p| p.waiters.contains_key(&key))
                    || self
                        .in_flight
                        .get(&t)
                        .and_then(|s| s.get(&key))
                        .is_some_and(|&sent| !self.deleted_since(t, &key, sent));
                if held && t != DataType::Languages {
                    self.want(t, key, waiter);
                }
            }
        }
    }

    fn hold(&mut self, w: &Waiter) {
        let c = self.cursors(w.family);
        // A job item is exempt from the lag check and may come with a cursor the family has
        // already passed: holding it would move the applied cursor back.
        if w.cursor <= c.applied() {
            return;
        }
        let n = c.outstanding.entry(w.cursor).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Holds the cursor at a waiter from before a disconnect again, in the new generation.
    pub(crate) fn rehold(&mut self, w: &Waiter) -> Waiter {
        let w = Waiter {
            generation: self.generation,
            ..w.clone()
        };
        self.hold(&w);
        w
    }

    /// The waiting item's effect is in the store (or no longer wanted).
    pub(crate) fn release(&mut self, w: &Waiter) {
        if w.generation != self.generation {
            return;
        }
        let c = self.cursors(w.family);
        if let Some(n) = c.outstanding.get_mut(&w.cursor) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.outstanding.remove(&w.cursor);
            }
        }
    }

    /// Queues a key for fetching on behalf of an item. A key already queued keeps the waiter
    /// it has: that one is older and holds the cursor back already, and the one fetch covers
    /// both items, however many updates of one key come before it goes out.
    pub(crate) fn want(&mut self, t: DataType, key: String, waiter: Waiter) {
        let p = self.pending.entry(t).or_default();
        match p.waiters.get_mut(&key) {
            Some(ws) => {
                let held = ws
                    .iter()
                    .any(|w| w.family == waiter.family && w.generation == waiter.generation);
                if !held {
                    ws.push(waiter.clone());
                    self.hold(&waiter);
                }
            }
            None => {
                p.order.push_back(key.clone());
                p.waiters.insert(key, vec![waiter.clone()]);
                self.hold(&waiter);
            }
        }
    }

    /// Queues keys for fetching with nobody waiting (a reload after a restore).
    pub(crate) fn want_quietly(&mut self, t: DataType, keys: impl IntoIterator<Item = String>) {
        let p = self.pending.entry(t).or_default();
        for key in keys {
            if !p.waiters.contains_key(&key) {
                p.order.push_back(key.clone());
                p.waiters.insert(key, Vec::new());
            }
        }
    }

    /// Takes the next batch: up to `size` keys of the first data type with keys ready, or one
    /// key for types the API can only fetch one at a time. A key whose fetch is still in
    /// flight stays queued until that fetch is back: two fetches of one key at once could
    /// land out of order and leave the older data in the store.
    pub(crate) fn take_batch(&mut self, size: usize, project: &str) -> Option<Batch> {
        let in_flight = &self.in_flight;
        let busy = |t: &DataType, k: &str| in_flight.get(t).is_some_and(|s| s.contains_key(k));
        let (&t, p) = self.pending.iter_mut().find(|(t, p)| {
            p.order
                .iter()
                .any(|k| p.waiters.contains_key(k) && !busy(t, k))
        })?;
        let mut keys: Vec<String> = Vec::new();
        let mut waiters = Vec::new();
        // Busy keys are set aside and put back in front: there are at most as many as keys in
        // flight, so a batch costs its own size, not the length of the queue.
        let mut busy_keys = Vec::new();
        let mut plural: Option<bool> = None;
        while let Some(key) = p.order.pop_front() {
            if !p.waiters.contains_key(&key) {
                // Dropped by a delete, or a repeat of a key taken already.
                continue;
            }
            if busy(&t, &key) {
                busy_keys.push(key);
                continue;
            }
            let this_plural = plural_key(t, &key, project);
            match plural {
                None => plural = Some(this_plural),
                // A batch holds plural keys of one kind only, and at most `size` of them.
                Some(true) if this_plural && keys.len() < size.max(1) => {}
                Some(_) => {
                    p.order.push_front(key);
                    break;
                }
            }
            for w in p.waiters.remove(&key).unwrap_or_default() {
                waiters.push((key.clone(), w));
            }
            keys.push(key);
            if plural == Some(false) {
                break;
            }
        }
        for key in busy_keys.into_iter().rev() {
            p.order.push_front(key);
        }
        self.seq = self.seq.saturating_add(1);
        let sent_seq = self.seq;
        self.batches_out.insert(sent_seq);
        self.in_flight
            .entry(t)
            .or_default()
            .extend(keys.iter().map(|k| (k.clone(), sent_seq)));
        Some(Batch {
            data_type: t,
            keys,
            waiters,
            sent_seq,
        })
    }

    fn landed(&mut self, batch: &Batch) {
        self.batches_out.remove(&batch.sent_seq);
        if let Some(set) = self.in_flight.get_mut(&batch.data_type) {
            for key in &batch.keys {
                set.remove(key);
            }
        }
    }

    /// The sequence number of the last batch taken: batches taken from now on carry a larger
    /// `sent_seq`.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether data for this key, from a request sent at `sent_seq`, is older than a delete.
    pub(crate) fn deleted_since(&self, t: DataType, key: &str, sent_seq: u64) -> bool {
        self.deletes
            .get(&(t, key.to_string()))
            .is_some_and(|&at| at >= sent_seq)
    }

    /// Forgets deletes older than every batch still out: only those batches can bring back
    /// data a delete must win over.
    pub(crate) fn prune_deletes(&mut self) {
        match self.batches_out.first() {
            None => self.deletes.clear(),
            Some(&oldest) => self.deletes.retain(|_, at| *at >= oldest),
        }
    }

    /// The batch's data is in the store: release its waiters and report the changes.
    pub(crate) fn complete(&mut self, batch: Batch, store: &Store, effects: &mut Vec<Effect>) {
        self.landed(&batch);
        for (key, w) in batch.waiters {
            if w.generation == self.generation && store.contains(batch.data_type, &key) {
                effects.push(Effect::Changed(batch.data_type, key, w.action));
            }
            self.release(&w);
        }
    }

    /// The batch failed in a way a retry may fix: put its keys back at the front, waiters and
    /// all, so the cursors keep waiting for them. A key deleted while the batch was out is
    /// not put back: its delete superseded the items that wanted it.
    pub(crate) fn requeue(&mut self, batch: Batch) {
        self.landed(&batch);
        let t = batch.data_type;
        let mut by_key: BTreeMap<String, Vec<Waiter>> = BTreeMap::new();
        for (k, w) in batch.waiters {
            by_key.entry(k).or_default().push(w);
        }
        let (gone, keys): (Vec<String>, Vec<String>) = batch
            .keys
            .into_iter()
            .partition(|k| self.deleted_since(t, k, batch.sent_seq));
        for key in gone {
            for w in by_key.remove(&key).unwrap_or_default() {
                self.release(&w);
            }
            self.dropped.push((t, key));
        }
        let p = self.pending.entry(t).or_default();
        for key in keys.into_iter().rev() {
            let ws = by_key.remove(&key).unwrap_or_default();
            match p.waiters.get_mut(&key) {
                Some(existing) => existing.extend(ws),
                None => {
                    p.order.push_front(key.clone());
                    p.waiters.insert(key, ws);
                }
            }
        }
    }

    /// The batch failed for good (the API refused it): its items cannot be applied, so stop
    /// waiting for them rather than hold the cursors forever.
    pub(crate) fn abandon(&mut self, batch: Batch) {
        self.landed(&batch);
        for (_, w) in batch.waiters {
            self.release(&w);
        }
        let t = batch.data_type;
        self.dropped.extend(batch.keys.into_iter().map(|k| (t, k)));
    }
}

/// Whether this key can go in a plural request of its type.
fn plural_key(t: DataType, key: &str, project: &str) -> bool {
    match t {
        DataType::Users | DataType::Projects | DataType::Languages => false,
        DataType::ProjectsMembers => key.split_once('/').is_some_and(|(p, _)| p == project),
        _ => true,
    }
}

/// The request that fetches a batch: endpoint and body.
pub(crate) fn fetch_request(
    t: DataType,
    keys: &[String],
    project: &str,
) -> Option<(String, Value)> {
    let one = keys.first()?;
    let plural = |endpoint: &str, name: &str| Some((endpoint.to_string(), json!({ name: keys })));
    match t {
        DataType::Records => plural("/records/get", "records"),
        DataType::Assets => plural("/assets/get", "assets"),
        DataType::Definitions => plural("/definitions/get", "definitions"),
        DataType::Classes => plural("/classes/get", "classes"),
        DataType::Fields => plural("/fields/get", "fields"),
        DataType::Layouts => plural("/layouts/get", "layouts"),
        DataType::Queries => plural("/queries/get", "queries"),
        DataType::Modules => plural("/modules/get", "modules"),
        DataType::Users => Some(("//users/get".into(), json!({ "user": one }))),
        DataType::Projects => Some(("//projects/get".into(), json!({ "project": one }))),
        DataType::ProjectsMembers => {
            if plural_key(t, one, project) {
                let users: Vec<&str> = keys
                    .iter()
                    .filter_map(|k| k.split_once('/').map(|(_, u)| u))
                    .collect();
                Some(("/members/get".into(), json!({ "members": users })))
            } else {
                let (p, u) = one.split_once('/')?;
                Some(("//members/get".into(), json!({ "project": p, "member": u })))
            }
        }
        DataType::Languages => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(cursor: i64, action: &str, key: &str) -> SyncItem {
        let text = json!({"type": "p1", "cursor": cursor, "action": action,
            "data_type": "definitions", "data_key": key})
        .to_string();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_queue_churned_by_inserts_and_deletes_stays_as_long_as_what_it_holds() {
        let (mut sync, mut store, mut effects) =
            (SyncState::default(), Store::default(), Vec::new());
        // A definition inserted and deleted 20,000 times, and 50 others waiting meanwhile.
        let mut cursor = 0;
        for k in 0..50 {
            cursor += 1;
            sync.apply(
                vec![item(cursor, "INSERT", &format!("d{k}"))],
                &mut store,
                "p1",
                &mut effects,
            );
        }
        for _ in 0..20_000 {
            cursor += 2;
            let items = vec![item(cursor - 1, "INSERT", "x"), item(cursor, "DELETE", "x")];
            sync.apply(items, &mut store, "p1", &mut effects);
        }
        let p = &sync.pending[&DataType::Definitions];
        assert_eq!(p.waiters.len(), 50);
        assert!(
            p.order.len() <= 2 * 50 + 64 + 1,
            "{} entries",
            p.order.len()
        );
        // What is taken is what waits, in order, once each.
        let batch = sync.take_batch(100, "p1").unwrap();
        let want: Vec<String> = (0..50).map(|k| format!("d{k}")).collect();
        assert_eq!(batch.keys, want);
        assert!(sync.take_batch(100, "p1").is_none());
    }
}

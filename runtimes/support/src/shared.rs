//! What a driver shares with the application's handles: the state it last published, a
//! wake-up for waits on that state, and whether the driver has ended. Waits work from a
//! thread (with a deadline) and from any executor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use event_listener::{Event, Listener};

/// The published state `P`, replaced after every driver step.
#[derive(Debug)]
pub struct Shared<P> {
    published: Mutex<Arc<P>>,
    changed: Event,
    ended: AtomicBool,
}

impl<P> Shared<P> {
    /// Shared state starting at `first`.
    pub fn new(first: P) -> Self {
        Shared {
            published: Mutex::new(Arc::new(first)),
            changed: Event::new(),
            ended: AtomicBool::new(false),
        }
    }

    /// The state last published. Taking it is a pointer copy under a lock held for nothing
    /// else: it never waits for the driver.
    pub fn get(&self) -> Arc<P> {
        Arc::clone(&self.published.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Publishes a new state and wakes every wait.
    pub fn set(&self, p: P) {
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(p);
        self.changed.notify(usize::MAX);
    }

    /// Whether the driver has ended: nothing published will change any more.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Marks the driver ended and wakes every wait.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.changed.notify(usize::MAX);
    }

    /// Waits on this thread until `check` answers, or `deadline` passes (`None`). `check` sees
    /// the published state and whether the driver has ended.
    pub fn wait_blocking<R>(
        &self,
        deadline: Option<Instant>,
        check: impl Fn(&P, bool) -> Option<R>,
    ) -> Option<R> {
        loop {
            // Listening before checking: a change between the two still wakes the wait.
            let listener = self.changed.listen();
            if let Some(r) = check(&self.get(), self.ended()) {
                return Some(r);
            }
            match deadline {
                Some(d) => {
                    listener.wait_deadline(d)?;
                }
                None => listener.wait(),
            }
        }
    }

    /// Waits until `check` answers; the caller races it against its own timer.
    pub async fn wait<R>(&self, check: impl Fn(&P, bool) -> Option<R>) -> R {
        loop {
            let listener = self.changed.listen();
            if let Some(r) = check(&self.get(), self.ended()) {
                return r;
            }
            listener.await;
        }
    }
}

/// Where a side puts the events the application reads: a bounded queue.
pub trait EventQueue<T>: Send {
    /// Offers `t`; says whether it was taken.
    fn offer(&mut self, t: T) -> Offer;
}

/// What became of an offered event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Taken,
    /// The queue is full.
    Full,
    /// Nobody reads the queue any more.
    Gone,
}

impl<T: Send> EventQueue<T> for std::sync::mpsc::SyncSender<T> {
    fn offer(&mut self, t: T) -> Offer {
        match self.try_send(t) {
            Ok(()) => Offer::Taken,
            Err(std::sync::mpsc::TrySendError::Full(_)) => Offer::Full,
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Offer::Gone,
        }
    }
}

impl<T: Send> EventQueue<T> for async_channel::Sender<T> {
    fn offer(&mut self, t: T) -> Offer {
        match self.try_send(t) {
            Ok(()) => Offer::Taken,
            Err(async_channel::TrySendError::Full(_)) => Offer::Full,
            Err(async_channel::TrySendError::Closed(_)) => Offer::Gone,
        }
    }
}

/// A bounded event queue that drops what the application does not read in time, with one
/// warning per run of drops: the driver never waits for the application.
#[derive(Debug)]
pub struct Lossy<Q> {
    queue: Q,
    dropping: bool,
}

impl<Q> Lossy<Q> {
    /// Wraps `queue`.
    pub fn new(queue: Q) -> Self {
        Lossy {
            queue,
            dropping: false,
        }
    }

    /// Queues `t`, or drops it.
    pub fn push<T>(&mut self, t: T)
    where
        Q: EventQueue<T>,
    {
        match self.queue.offer(t) {
            Offer::Taken => self.dropping = false,
            Offer::Full if !self.dropping => {
                self.dropping = true;
                log::warn!("the application is not reading events; dropping them");
            }
            Offer::Full | Offer::Gone => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_blocking_wait_sees_a_change_and_an_end() {
        let shared = Arc::new(Shared::new(0u32));
        let s = Arc::clone(&shared);
        let t =
            std::thread::spawn(move || s.wait_blocking(None, |n, _| (*n == 3).then_some("three")));
        for n in 1..=3 {
            std::thread::sleep(Duration::from_millis(5));
            shared.set(n);
        }
        assert_eq!(t.join().unwrap(), Some("three"));
        let s = Arc::clone(&shared);
        let t = std::thread::spawn(move || s.wait_blocking(None, |_, ended| ended.then_some(())));
        shared.end();
        assert_eq!(t.join().unwrap(), Some(()));
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            shared.wait_blocking(Some(soon), |n, _| (*n == 9).then_some(())),
            None
        );
    }

    #[test]
    fn an_async_wait_sees_a_change() {
        let shared = Arc::new(Shared::new(0u32));
        let s = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            s.set(7);
        });
        let got = async_io::block_on(shared.wait(|n, _| (*n == 7).then_some(*n)));
        assert_eq!(got, 7);
        t.join().unwrap();
    }

    #[test]
    fn a_full_queue_drops_without_waiting() {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let mut q = Lossy::new(tx);
        for n in 0..5 {
            q.push(n);
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1]);
        q.push(5);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [5]);
    }
}

//! The step both runtimes' run loops take: the driver owns its machine outright, feeds it one
//! message or the clock, drains what it asks for, and publishes its state for readers. Only
//! the waiting (a thread's channel, or a task's) and the performing differ between runtimes.
//!
//! Nothing outside the driver touches the machine: the application's handles send
//! [`Msg::Command`]s and read what the [`Side`] published. So a reader never waits for the
//! core to finish parsing a frame, and a command issued while reading cannot deadlock.

use std::convert::Infallible;
use std::io::Write;
use std::time::Instant;

use unicat_core::io::{Input, Machine, Output};

/// Work for the driver from an application handle, run on the driver with the machine and
/// the side.
pub type Command<M, S> = Box<dyn FnOnce(&mut M, &mut S, Instant) + Send>;

/// Where the answer to a command comes: a oneshot that a thread waits on with
/// `recv_blocking` and a task with `recv().await`. It fails when the driver ends first.
pub type Answer<T> = async_channel::Receiver<T>;

/// What a driver's inbox carries.
pub enum Msg<M, S> {
    /// A transport fact for the machine.
    Input(Input),
    /// A command from the application.
    Command(Command<M, S>),
}

/// What wakes a driver.
pub enum Wakeup<M, S> {
    /// A command, or a transport fact.
    Msg(Msg<M, S>),
    /// The stop, with the last command if one came with it.
    Stop(Option<Command<M, S>>),
    /// The machine's timer.
    Timer,
}

/// How many messages a driver's inbox holds. A transport task that finds it full waits, which
/// stops it reading its socket: the server is slowed down, not buffered without end.
pub const INBOX: usize = 1024;

/// The application's part of a driver, living on it: it gets the machine's events and
/// publishes the machine's state after every step.
///
/// It is dropped when the driver ends, however it ends: stopped, dropped by an executor, or
/// unwound by a panic. Its `Drop` must then fail everything still waiting (the waiters'
/// senders go with it) and mark the shared state ended, which is the one mechanism by which
/// no call ever hangs on a dead driver.
pub trait Side<M: Machine>: Send {
    /// Handles an event of the machine.
    fn event(&mut self, machine: &mut M, now: Instant, event: M::Event);

    /// Publishes the machine's state, after every step.
    fn publish(&mut self, machine: &M);
}

/// A machine a driver can run: it may keep a replay log, whose lines the driver writes after
/// each step.
pub trait Driven: Machine {
    /// The next line of the machine's replay log, if it keeps one.
    fn poll_record(&mut self) -> Option<String> {
        None
    }
}

impl Driven for unicat_core::client::Client {}

impl Driven for unicat_core::session::Session {}

#[cfg(feature = "record")]
impl<M: unicat_core::record::Recordable> Driven for unicat_core::record::Recording<M> {
    fn poll_record(&mut self) -> Option<String> {
        unicat_core::record::Recording::poll_record(self)
    }
}

/// What a step leaves the runtime to do.
#[derive(Debug, Default)]
pub struct Step {
    /// Transport work, in order.
    pub outputs: Vec<Output<Infallible>>,
    /// Replay log lines to write.
    pub record: Vec<String>,
}

/// A machine and its side, as a driver owns them.
pub struct Core<M: Driven, S: Side<M>> {
    machine: M,
    side: S,
}

impl<M: Driven, S: Side<M>> Core<M, S> {
    /// Takes the machine and publishes its first state.
    pub fn new(machine: M, mut side: S) -> Self {
        side.publish(&machine);
        Core { machine, side }
    }

    /// When the machine's next timer is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }

    /// Feeds `msg` in (or only the clock), runs the due timers, and drains the outputs:
    /// transport work is returned; events go to the side, but only after the state they
    /// follow is published, so an application that sees a call's result or a change sees the
    /// store that holds it. A handler may feed the machine again (an auth payload): what
    /// that queues is drained, and published, in turn.
    pub fn step(&mut self, now: Instant, msg: Option<Msg<M, S>>) -> Step {
        match msg {
            Some(Msg::Input(input)) => self.machine.handle_input(now, input),
            Some(Msg::Command(command)) => command(&mut self.machine, &mut self.side, now),
            None => {}
        }
        // The clock is read first and every due timer runs, as quinn's drive_timer does.
        if self.machine.poll_timeout().is_some_and(|d| d <= now) {
            self.machine.handle_timeout(now);
        }
        let mut step = Step::default();
        loop {
            let mut events = Vec::new();
            while let Some(output) = self.machine.poll_output() {
                match output.split_event() {
                    Ok(work) => step.outputs.push(work),
                    Err(event) => events.push(event),
                }
            }
            self.side.publish(&self.machine);
            if events.is_empty() {
                break;
            }
            for event in events {
                self.side.event(&mut self.machine, now, event);
            }
        }
        step.record = std::iter::from_fn(|| self.machine.poll_record()).collect();
        step
    }
}

/// Where a replay log goes. A failing log file stops the recording, not the client.
pub struct RecordLog {
    writer: Option<Box<dyn Write + Send>>,
}

impl RecordLog {
    /// A log written to `writer`.
    pub fn new(writer: Box<dyn Write + Send>) -> Self {
        RecordLog {
            writer: Some(writer),
        }
    }

    /// Writes and flushes `lines` (this blocks).
    pub fn write(&mut self, lines: &[String]) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        if lines.is_empty() {
            return;
        }
        let written = lines.iter().try_for_each(|l| writeln!(w, "{l}"));
        if written.and_then(|()| w.flush()).is_err() {
            log::warn!("the replay log could not be written; recording stops");
            self.writer = None;
        }
    }
}

impl std::fmt::Debug for RecordLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordLog")
            .field("writing", &self.writer.is_some())
            .finish()
    }
}

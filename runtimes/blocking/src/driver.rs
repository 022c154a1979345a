//! The run loop: one thread owns the machine's clock and outputs; ureq workers perform HTTP
//! requests and file reads; one thread per WebSocket reads and writes it. Every result comes
//! back to the driver as an [`Input`] on one channel. No protocol rule lives here.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use unicat_core::io::{FileInfo, Input, Machine, Output, WsId};

use crate::http::{HttpPool, Job};
use crate::ws::WsConn;
use crate::Io;

/// What the driver thread waits for.
pub(crate) enum Msg {
    /// A transport fact for the machine.
    Input(Input),
    /// The application changed the machine: drain its outputs.
    Wake,
    /// Shut down.
    Stop,
}

/// Wakes the driver after the application changed the machine.
#[derive(Clone)]
pub(crate) struct Waker(Sender<Msg>);

impl Waker {
    pub(crate) fn wake(&self) {
        // The driver is gone only after `stop`; then there is nothing left to wake.
        let _ = self.0.send(Msg::Wake);
    }
}

/// Locks for writing, recovering from a poisoned lock: the machine never panics on input, and
/// a panic in an application callback must not take the client down with it.
pub(crate) fn write<M>(lock: &RwLock<M>) -> std::sync::RwLockWriteGuard<'_, M> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Locks for reading, recovering from a poisoned lock.
pub(crate) fn read<M>(lock: &RwLock<M>) -> std::sync::RwLockReadGuard<'_, M> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// A running driver thread.
pub(crate) struct Driver {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    /// Starts the driver for `machine`. `sink` receives the machine's events on the driver
    /// thread, outside the machine's lock.
    pub(crate) fn spawn<M, S>(
        machine: Arc<RwLock<M>>,
        io: Io,
        record: Option<Box<dyn std::io::Write + Send>>,
        mut sink: S,
    ) -> std::io::Result<(Driver, Waker)>
    where
        M: Machine + Send + Sync + 'static,
        M::Event: Send,
        S: FnMut(M::Event, &Waker) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let waker = Waker(tx.clone());
        let inner = waker.clone();
        let thread = std::thread::Builder::new()
            .name("unicat-driver".into())
            .spawn(move || run(machine, io, record, rx, inner, &mut sink))?;
        Ok((
            Driver {
                tx,
                thread: Some(thread),
            },
            waker,
        ))
    }

    /// Stops the driver and every thread it started, and waits for them.
    pub(crate) fn stop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<M, S>(
    machine: Arc<RwLock<M>>,
    io: Io,
    mut record: Option<Box<dyn std::io::Write + Send>>,
    rx: Receiver<Msg>,
    waker: Waker,
    sink: &mut S,
) where
    M: Machine,
    S: FnMut(M::Event, &Waker),
{
    let tx = waker.0.clone();
    let mut http = HttpPool::new(&io, tx.clone());
    let mut sockets: BTreeMap<WsId, WsConn> = BTreeMap::new();
    loop {
        let deadline = read(&machine).poll_timeout();
        let msg = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                _ => None,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        let outputs: Vec<Output<M::Event>> = {
            let mut m = write(&machine);
            let now = Instant::now();
            match msg {
                Some(Msg::Input(input)) => m.handle_input(now, input),
                Some(Msg::Wake) | None => {}
                Some(Msg::Stop) => break,
            }
            // The clock is read first and every due timer runs, as quinn's drive_timer does.
            if m.poll_timeout().is_some_and(|d| d <= now) {
                m.handle_timeout(now);
            }
            let outputs = std::iter::from_fn(|| m.poll_output()).collect();
            if let Some(w) = record.as_mut() {
                write_record(&mut *m, w);
            }
            outputs
        };
        for output in outputs {
            perform(output, &io, &tx, &mut http, &mut sockets, &waker, sink);
        }
    }
    if let Some(w) = record.as_mut() {
        write_record(&mut *write(&machine), w);
    }
    http.stop();
    for conn in std::mem::take(&mut sockets).into_values() {
        conn.close();
    }
}

/// Writes the machine's replay log lines. A failing log file stops the recording, not the
/// client.
fn write_record<M: Machine>(m: &mut M, w: &mut Box<dyn std::io::Write + Send>) {
    let mut failed = false;
    while let Some(line) = m.poll_record() {
        if !failed && writeln!(w, "{line}").is_err() {
            failed = true;
        }
    }
    if failed || w.flush().is_err() {
        log::warn!("the replay log could not be written; recording goes on in memory only");
    }
}

fn perform<E, S>(
    output: Output<E>,
    io: &Io,
    tx: &Sender<Msg>,
    http: &mut HttpPool,
    sockets: &mut BTreeMap<WsId, WsConn>,
    waker: &Waker,
    sink: &mut S,
) where
    S: FnMut(E, &Waker),
{
    match output {
        Output::Http { id, request } => http.submit(Job::Http(id, Box::new(request))),
        Output::ReadFile { id, path, limit } => http.submit(Job::Read(id, path, limit)),
        // ureq cannot abort a request under way; its late answer is ignored by the machine.
        Output::CancelHttp { .. } => {}
        Output::Stat { id, path } => {
            let info = std::fs::metadata(&path).ok().and_then(|m| FileInfo::of(&m));
            let _ = tx.send(Msg::Input(Input::Stat { id, info }));
        }
        Output::OpenWs { id, request } => {
            sockets.insert(id, WsConn::open(id, request, io, tx.clone()));
        }
        Output::WsSend { id, frame } => {
            if let Some(conn) = sockets.get(&id) {
                conn.send(frame);
            }
        }
        Output::CloseWs { id } => {
            if let Some(conn) = sockets.remove(&id) {
                conn.close();
            }
        }
        Output::Event(e) => sink(e, waker),
    }
}

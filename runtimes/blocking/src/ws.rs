//! One thread per WebSocket, with tungstenite over TCP or rustls. tungstenite's `WebSocket` is
//! not split into halves, so one thread both reads and writes: after the (blocking, bounded)
//! handshake the socket turns non-blocking and the thread sleeps in `mio::Poll` until the
//! socket is readable or writable or a frame is queued (a `mio::Waker`), so frames go out at
//! once in both directions without busy polling.

use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Input, WsFrame, WsId, WsRequest};
use unicat_runtime_support::net::Origin;
use unicat_runtime_support::thread::Reply;
use unicat_runtime_support::ws::{self, MAX_QUEUED_FRAMES};

use crate::Io;

const SOCKET: mio::Token = mio::Token(0);
const WAKE: mio::Token = mio::Token(1);

enum Cmd {
    Send(WsFrame),
    Close,
}

/// A WebSocket thread and its queue.
pub(crate) struct WsConn {
    cmds: SyncSender<Cmd>,
    waker: Arc<OnceLock<mio::Waker>>,
    thread: Option<JoinHandle<()>>,
}

impl WsConn {
    pub(crate) fn open(id: WsId, request: WsRequest, io: &Io, reply: Reply) -> WsConn {
        let (cmds, rx) = mpsc::sync_channel(MAX_QUEUED_FRAMES);
        let io = io.clone();
        let waker: Arc<OnceLock<mio::Waker>> = Arc::default();
        let thread_waker = Arc::clone(&waker);
        let thread = std::thread::Builder::new()
            .name(format!("unicat-ws-{}", id.0))
            .spawn(move || run(id, &request, &io, &rx, &*reply, &thread_waker));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                log::warn!("{id}: no thread for the socket: {e}");
                None
            }
        };
        WsConn {
            cmds,
            waker,
            thread,
        }
    }

    fn wake(&self) {
        // Before the poller exists the thread is still handshaking; it drains the queue right
        // after, so a frame queued then is not lost.
        if let Some(w) = self.waker.get() {
            let _ = w.wake();
        }
    }

    /// Queues a frame; `false` when the queue is full because the socket stalled.
    pub(crate) fn send(&self, frame: WsFrame) -> bool {
        let queued = !matches!(
            self.cmds.try_send(Cmd::Send(frame)),
            Err(TrySendError::Full(_))
        );
        self.wake();
        queued
    }

    /// Tells the socket to close. Returns its thread when it is past the handshake, to be
    /// joined once the driver no longer reads its inbox (the thread may be waiting to hand
    /// over a frame); a thread still handshaking is left to finish on its own, bounded by the
    /// request's timeout, so closing never waits on a slow server.
    pub(crate) fn close(mut self) -> Option<JoinHandle<()>> {
        // A full queue is closed by the thread seeing its sender gone.
        let _ = self.cmds.try_send(Cmd::Close);
        self.wake();
        self.thread.take().filter(|_| self.waker.get().is_some())
    }
}

/// A socket dropped without `close` (the driver unwound from a panic) still tells its thread
/// to close, rather than leaving it parked on an open connection.
impl Drop for WsConn {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.cmds.try_send(Cmd::Close);
            self.wake();
        }
    }
}

fn connect(
    request: &WsRequest,
    io: &Io,
) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, TransportError> {
    let origin = Origin::of(request.request.uri())?;
    // A timeout too long for `Instant` means no deadline.
    let deadline = Instant::now().checked_add(request.timeout);
    let left = || {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        })
    };
    let mut last = TransportError::new(TransportErrorKind::Connect, "no address");
    let mut stream = None;
    for addr in origin.resolve()? {
        let attempt = match left() {
            Some(left) => TcpStream::connect_timeout(&addr, left),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = TransportError::with_source(TransportErrorKind::Connect, e),
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    // The handshake itself is bounded by the request's timeout.
    let _ = stream.set_read_timeout(left());
    let _ = stream.set_write_timeout(left());
    let req = ws::handshake_request(request)?;
    let config = ws::config(io.max_ws_message);
    let connector = tungstenite::Connector::Rustls(Arc::clone(&io.tls));
    match tungstenite::client_tls_with_config(req, stream, Some(config), Some(connector)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(ws::handshake_error(e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Err(TransportError::new(
            TransportErrorKind::Timeout,
            "the WebSocket handshake timed out",
        )),
    }
}

fn tcp(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> Option<&TcpStream> {
    match ws.get_ref() {
        MaybeTlsStream::Plain(s) => Some(s),
        MaybeTlsStream::Rustls(s) => Some(s.get_ref()),
        _ => None,
    }
}

/// Registers the socket with a poller and makes the waker that frames queued by the driver
/// ring. The second handle on the socket must stay alive as long as the loop.
fn watch(
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    waker: &OnceLock<mio::Waker>,
) -> std::io::Result<(mio::Poll, mio::net::TcpStream)> {
    let poll = mio::Poll::new()?;
    let stream = tcp(ws).ok_or_else(|| std::io::Error::other("unknown stream"))?;
    stream.set_nonblocking(true)?;
    let mut watched = mio::net::TcpStream::from_std(stream.try_clone()?);
    poll.registry().register(
        &mut watched,
        SOCKET,
        mio::Interest::READABLE | mio::Interest::WRITABLE,
    )?;
    let _ = waker.set(mio::Waker::new(poll.registry(), WAKE)?);
    Ok((poll, watched))
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
}

/// Why the loop ends: `Some` of what to tell the core, or `None` when the core asked for
/// the close (or is gone) and is told nothing.
type End = Option<Input>;

fn run(
    id: WsId,
    request: &WsRequest,
    io: &Io,
    cmds: &Receiver<Cmd>,
    reply: &(dyn Fn(Input) -> bool + Send + Sync),
    waker: &OnceLock<mio::Waker>,
) {
    let mut ws = match connect(request, io) {
        Ok(ws) => ws,
        Err(error) => {
            reply(Input::WsFailed { id, error });
            return;
        }
    };
    let (mut poll, _watched) = match watch(&mut ws, waker) {
        Ok(p) => p,
        Err(e) => {
            reply(ws::failed(id, e));
            return;
        }
    };
    if !reply(Input::WsOpened { id }) {
        return;
    }
    let mut events = mio::Events::with_capacity(8);
    let end = loop {
        if let Some(end) = write_queued(id, &mut ws, cmds) {
            break end;
        }
        if let Some(end) = read_available(id, &mut ws, reply) {
            break end;
        }
        // Pongs tungstenite queued while reading, and frames a full socket held back.
        match ws.flush() {
            Err(e) if !would_block(&e) => break Some(ws::failed(id, e)),
            _ => {}
        }
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                break Some(ws::failed(id, e));
            }
        }
    };
    if let Some(input) = end {
        reply(input);
    }
}

/// Sends what the driver queued, until the queue is empty (`None`) or the socket ends.
fn write_queued(
    id: WsId,
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    cmds: &Receiver<Cmd>,
) -> Option<End> {
    loop {
        match cmds.try_recv() {
            Ok(Cmd::Send(frame)) => match ws.send(ws::message(frame)) {
                // Buffered when the socket is full; it goes out when writable again. A write
                // buffer over its limit fails here, as a stalled server should.
                Err(e) if !would_block(&e) => return Some(Some(ws::failed(id, e))),
                _ => {}
            },
            Ok(Cmd::Close) | Err(TryRecvError::Disconnected) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                return Some(None);
            }
            Err(TryRecvError::Empty) => return None,
        }
    }
}

/// Hands over whatever the server sent, until the socket runs dry (`None`) or ends.
fn read_available(
    id: WsId,
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    reply: &(dyn Fn(Input) -> bool + Send + Sync),
) -> Option<End> {
    loop {
        let input = match ws.read() {
            Ok(message) => ws::received(id, message),
            Err(e) if would_block(&e) => return None,
            Err(e) => return Some(Some(ws::read_error(id, e))),
        };
        let Some(input) = input else { continue };
        if matches!(input, Input::WsClosed { .. }) {
            return Some(Some(input));
        }
        if !reply(input) {
            return Some(None);
        }
    }
}

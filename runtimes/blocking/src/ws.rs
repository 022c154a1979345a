//! One thread per WebSocket, with tungstenite over TCP or rustls. tungstenite's `WebSocket` is
//! not split into halves, so one thread both reads and writes: after the (blocking, bounded)
//! handshake the socket turns non-blocking and the thread sleeps in `mio::Poll` until the
//! socket is readable or writable or a frame is queued (a `mio::Waker`), so frames go out at
//! once in both directions without busy polling.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Input, WsFrame, WsId, WsRequest};

use crate::driver::Msg;
use crate::Io;

const SOCKET: mio::Token = mio::Token(0);
const WAKE: mio::Token = mio::Token(1);

enum Cmd {
    Send(WsFrame),
    Close,
}

/// A WebSocket thread and its queue.
pub(crate) struct WsConn {
    cmds: Sender<Cmd>,
    waker: std::sync::Arc<std::sync::OnceLock<mio::Waker>>,
    thread: Option<JoinHandle<()>>,
}

impl WsConn {
    pub(crate) fn open(id: WsId, request: WsRequest, io: &Io, results: Sender<Msg>) -> WsConn {
        let (cmds, rx) = mpsc::channel();
        let io = io.clone();
        let waker: std::sync::Arc<std::sync::OnceLock<mio::Waker>> = Default::default();
        let thread_waker = std::sync::Arc::clone(&waker);
        let thread = std::thread::Builder::new()
            .name(format!("unicat-ws-{}", id.0))
            .spawn(move || run(id, request, &io, &rx, &results, &thread_waker))
            .ok();
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

    pub(crate) fn send(&self, frame: WsFrame) {
        let _ = self.cmds.send(Cmd::Send(frame));
        self.wake();
    }

    /// Closes the socket. A thread past its handshake closes at once and is waited for; one
    /// still handshaking is left to finish on its own (bounded by the request's timeout, after
    /// which it sees the close), so closing never stalls the driver on a slow server.
    pub(crate) fn close(mut self) {
        let _ = self.cmds.send(Cmd::Close);
        self.wake();
        if self.waker.get().is_some() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

fn failed(id: WsId, kind: TransportErrorKind, message: impl Into<String>) -> Msg {
    Msg::Input(Input::WsFailed {
        id,
        error: TransportError::new(kind, message),
    })
}

fn connect(
    request: &WsRequest,
    io: &Io,
) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, TransportError> {
    let uri = request.request.uri();
    let host = uri
        .host()
        .ok_or_else(|| TransportError::new(TransportErrorKind::Other, "no host"))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    // A timeout too long for `Instant` means no deadline.
    let deadline = Instant::now().checked_add(request.timeout);
    let left = || {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        })
    };
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| TransportError::new(TransportErrorKind::Connect, e.to_string()))?;
    let mut last = TransportError::new(TransportErrorKind::Connect, "no address");
    let mut stream = None;
    for addr in addrs {
        let attempt = match left() {
            Some(left) => TcpStream::connect_timeout(&addr, left),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = TransportError::new(TransportErrorKind::Connect, e.to_string()),
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    // The handshake itself is bounded by the request's timeout.
    let _ = stream.set_read_timeout(left());
    let _ = stream.set_write_timeout(left());

    let mut req = uri
        .to_string()
        .into_client_request()
        .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))?;
    for (name, value) in request.request.headers() {
        req.headers_mut().insert(name, value.clone());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(io.max_ws_message))
        .max_frame_size(Some(io.max_ws_message));
    let connector = tungstenite::Connector::Rustls(io.tls.clone());
    match tungstenite::client_tls_with_config(req, stream, Some(config), Some(connector)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            Err(TransportError::new(
                TransportErrorKind::HandshakeRejected { status },
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
                    .chars()
                    .take(200)
                    .collect::<String>(),
            ))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Tls(e))) => {
            Err(TransportError::new(TransportErrorKind::Tls, e.to_string()))
        }
        Err(e) => Err(TransportError::new(
            TransportErrorKind::Connect,
            e.to_string(),
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

fn run(
    id: WsId,
    request: WsRequest,
    io: &Io,
    cmds: &Receiver<Cmd>,
    results: &Sender<Msg>,
    waker: &std::sync::OnceLock<mio::Waker>,
) {
    let mut ws = match connect(&request, io) {
        Ok(ws) => ws,
        Err(e) => {
            let _ = results.send(failed(id, e.kind, e.message));
            return;
        }
    };
    let setup = (|| -> std::io::Result<(mio::Poll, mio::net::TcpStream)> {
        let poll = mio::Poll::new()?;
        let stream = tcp(&mut ws).ok_or_else(|| std::io::Error::other("unknown stream"))?;
        stream.set_nonblocking(true)?;
        // A second handle on the same socket, registered with the poller; reads and writes go
        // through tungstenite on the first.
        let mut watched = mio::net::TcpStream::from_std(stream.try_clone()?);
        poll.registry().register(
            &mut watched,
            SOCKET,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )?;
        let _ = waker.set(mio::Waker::new(poll.registry(), WAKE)?);
        Ok((poll, watched))
    })();
    // `_watched` stays alive as long as the loop: dropping it would close the registered handle.
    let (mut poll, _watched) = match setup {
        Ok(p) => p,
        Err(e) => {
            let _ = results.send(failed(id, TransportErrorKind::Io, e.to_string()));
            return;
        }
    };
    if results.send(Msg::Input(Input::WsOpened { id })).is_err() {
        return;
    }
    let mut events = mio::Events::with_capacity(8);
    loop {
        // Queued frames first, then whatever the server sent, until the socket runs dry.
        loop {
            match cmds.try_recv() {
                Ok(Cmd::Send(frame)) => {
                    let msg = match frame {
                        WsFrame::Text(t) => Message::text(t),
                        WsFrame::Binary(b) => Message::binary(b),
                    };
                    match ws.send(msg) {
                        Ok(()) => {}
                        // Buffered; it goes out when the socket is writable again.
                        Err(tungstenite::Error::Io(e))
                            if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            let _ = results.send(failed(id, TransportErrorKind::Io, e.to_string()));
                            return;
                        }
                    }
                }
                Ok(Cmd::Close) | Err(TryRecvError::Disconnected) => {
                    let _ = ws.close(None);
                    let _ = ws.flush();
                    return;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let frame = WsFrame::Text(t.as_str().to_string());
                    if results
                        .send(Msg::Input(Input::WsMessage { id, frame }))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Message::Binary(b)) => {
                    let frame = WsFrame::Binary(b.to_vec());
                    if results
                        .send(Msg::Input(Input::WsMessage { id, frame }))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f| u16::from(f.code));
                    let _ = results.send(Msg::Input(Input::WsClosed { id, code }));
                    return;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    break
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    let _ = results.send(Msg::Input(Input::WsClosed { id, code: None }));
                    return;
                }
                Err(e) => {
                    let _ = results.send(failed(id, TransportErrorKind::Io, e.to_string()));
                    return;
                }
            }
        }
        // Pongs tungstenite queued while reading, and frames a full socket held back.
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                let _ = results.send(failed(id, TransportErrorKind::Io, e.to_string()));
                return;
            }
        }
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                let _ = results.send(failed(id, TransportErrorKind::Io, e.to_string()));
                return;
            }
        }
    }
}

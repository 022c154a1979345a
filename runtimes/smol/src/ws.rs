//! One task per WebSocket, with `async-tungstenite` over `unicat-smol-http`'s TCP / TLS stream: it
//! connects and handshakes within the request's timeout, then reads and writes at once,
//! until the server closes, the transport fails, or the core closes it.

use std::time::Duration;

use async_tungstenite::WebSocketStream;
use futures_lite::StreamExt;
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Input, WsFrame, WsId, WsRequest};
use unicat_runtime_support::task::timeout;
use unicat_runtime_support::ws;
use unicat_smol_http::{Origin, Stream};

use crate::http::{transport_error, Io};

/// How long a closing socket waits for the server's close frame before it drops the
/// connection.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the driver tells a socket's task.
pub(crate) enum Cmd {
    Send(WsFrame),
    Close,
}

async fn connect(request: &WsRequest, io: &Io) -> Result<WebSocketStream<Stream>, TransportError> {
    let origin = Origin::of(request.request.uri()).map_err(transport_error)?;
    let stream = io
        .connector
        .connect(&origin)
        .await
        .map_err(transport_error)?;
    let req = ws::handshake_request(request)?;
    let config = ws::config(io.max_ws_message);
    async_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map(|(ws, _)| ws)
        .map_err(ws::handshake_error)
}

fn handshake_timeout(limit: Duration) -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout,
        format!("no WebSocket handshake within {limit:?}"),
    )
}

/// Runs one socket: every fact about it goes to `results` as an [`Input`]; frames to send and
/// the close come from `cmds`. Ends when the socket does, or when `cmds` closes.
pub(crate) async fn run(
    id: WsId,
    request: WsRequest,
    io: Io,
    cmds: async_channel::Receiver<Cmd>,
    results: async_channel::Sender<Input>,
) {
    let limit = request.timeout;
    let opened = timeout(limit, connect(&request, &io)).await;
    let ws = match opened.unwrap_or_else(|| Err(handshake_timeout(limit))) {
        Ok(ws) => ws,
        Err(error) => {
            let _ = results.send(Input::WsFailed { id, error }).await;
            return;
        }
    };
    if results.send(Input::WsOpened { id }).await.is_err() {
        return;
    }
    let (mut tx, mut rx) = ws.split();

    // Reads until the socket ends, and says how it ended.
    let reader = async {
        loop {
            let input = match rx.next().await {
                Some(Ok(message)) => match ws::received(id, message) {
                    Some(input) => input,
                    None => continue,
                },
                None => Input::WsClosed { id, code: None },
                Some(Err(e)) => ws::read_error(id, e),
            };
            let last = !matches!(input, Input::WsMessage { .. });
            if results.send(input).await.is_err() || last {
                return;
            }
        }
    };
    // Writes frames in order until told to close; then waits a moment for the server's close
    // frame (the reader ends on it), and gives up after that.
    let writer = async {
        loop {
            let frame = match cmds.recv().await {
                Ok(Cmd::Send(frame)) => ws::message(frame),
                Ok(Cmd::Close) | Err(_) => break,
            };
            if let Err(e) = tx.send(frame).await {
                let _ = results.send(ws::failed(id, e)).await;
                return;
            }
        }
        let _ = timeout(CLOSE_GRACE, tx.close(None)).await;
        async_io::Timer::after(CLOSE_GRACE).await;
    };
    futures_lite::future::or(reader, writer).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_refused_handshake_reports_its_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 17\r\n\r\nTransport unknown")
                .unwrap();
        });
        let request = WsRequest {
            request: unicat_core::http::Request::get(format!(
                "ws://{addr}/sync/io/?EIO=4&transport=websocket"
            ))
            .body(())
            .unwrap(),
            timeout: Duration::from_secs(5),
        };
        let (_cmds, queue) = async_channel::unbounded();
        let (results, inbox) = async_channel::unbounded();
        futures_lite::future::block_on(run(WsId(7), request, Io::with_roots(&[]), queue, results));
        server.join().unwrap();
        match inbox.try_recv() {
            Ok(Input::WsFailed { id, error }) => {
                assert_eq!(id, WsId(7));
                assert_eq!(
                    error.kind,
                    TransportErrorKind::HandshakeRejected { status: 400 }
                );
            }
            _ => panic!("no WsFailed"),
        }
    }

    #[test]
    fn a_connection_refused_is_a_connect_failure() {
        // A port that was free a moment ago.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let request = WsRequest {
            request: unicat_core::http::Request::get(format!("ws://{addr}/"))
                .body(())
                .unwrap(),
            timeout: Duration::from_secs(5),
        };
        let (_cmds, queue) = async_channel::unbounded();
        let (results, inbox) = async_channel::unbounded();
        futures_lite::future::block_on(run(WsId(1), request, Io::with_roots(&[]), queue, results));
        match inbox.try_recv() {
            Ok(Input::WsFailed { error, .. }) => {
                assert_eq!(error.kind, TransportErrorKind::Connect)
            }
            _ => panic!("no WsFailed"),
        }
    }
}

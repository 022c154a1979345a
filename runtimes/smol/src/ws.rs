//! One task per WebSocket, with `async-tungstenite` over our own TCP / TLS stream: it
//! connects and handshakes within the request's timeout, then reads and writes at once,
//! until the server closes, the transport fails, or the core closes it.

use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::StreamExt;
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Input, WsFrame, WsId, WsRequest};

use crate::driver::Msg;
use crate::net::{Io, Origin, Stream};

/// How long a closing socket waits for the server's close frame before it drops the
/// connection.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the driver tells a socket's task.
pub(crate) enum Cmd {
    Send(WsFrame),
    Close,
}

fn failed(id: WsId, kind: TransportErrorKind, message: impl Into<String>) -> Msg {
    Msg::Input(Input::WsFailed {
        id,
        error: TransportError::new(kind, message),
    })
}

async fn connect(request: &WsRequest, io: &Io) -> Result<WebSocketStream<Stream>, TransportError> {
    let uri = request.request.uri();
    let origin = Origin::of(uri)?;
    let stream = Stream::connect(&origin, io).await?;
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
    match async_tungstenite::client_async_with_config(req, stream, Some(config)).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => {
            let status = resp.status().as_u16();
            Err(TransportError::new(
                TransportErrorKind::HandshakeRejected { status },
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
                    .chars()
                    .take(200)
                    .collect::<String>(),
            ))
        }
        Err(WsError::Tls(e)) => Err(TransportError::new(TransportErrorKind::Tls, e.to_string())),
        Err(e) => Err(TransportError::new(
            TransportErrorKind::Connect,
            e.to_string(),
        )),
    }
}

/// Runs one socket: every fact about it goes to `results` as an [`Input`]; frames to send and
/// the close come from `cmds`. Ends when the socket does, or when `cmds` closes.
pub(crate) async fn run(
    id: WsId,
    request: WsRequest,
    io: Io,
    cmds: async_channel::Receiver<Cmd>,
    results: async_channel::Sender<Msg>,
) {
    let timeout = request.timeout;
    let opened = futures_lite::future::or(connect(&request, &io), async {
        async_io::Timer::after(timeout).await;
        Err(TransportError::new(
            TransportErrorKind::Timeout,
            format!("no WebSocket handshake within {timeout:?}"),
        ))
    })
    .await;
    let ws = match opened {
        Ok(ws) => ws,
        Err(e) => {
            let _ = results
                .send(Msg::Input(Input::WsFailed { id, error: e }))
                .await;
            return;
        }
    };
    if results
        .send(Msg::Input(Input::WsOpened { id }))
        .await
        .is_err()
    {
        return;
    }
    let (mut tx, mut rx) = ws.split();

    // Reads until the socket ends, and says how it ended.
    let reader = async {
        loop {
            let input = match rx.next().await {
                Some(Ok(Message::Text(t))) => Input::WsMessage {
                    id,
                    frame: WsFrame::Text(t.as_str().to_string()),
                },
                Some(Ok(Message::Binary(b))) => Input::WsMessage {
                    id,
                    frame: WsFrame::Binary(b.to_vec()),
                },
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    let _ = results.send(Msg::Input(Input::WsClosed { id, code })).await;
                    return;
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
                None => {
                    let _ = results
                        .send(Msg::Input(Input::WsClosed { id, code: None }))
                        .await;
                    return;
                }
                Some(Err(e)) => {
                    let _ = results
                        .send(failed(id, TransportErrorKind::Io, e.to_string()))
                        .await;
                    return;
                }
            };
            if results.send(Msg::Input(input)).await.is_err() {
                return;
            }
        }
    };
    // Writes frames in order until told to close; then waits a moment for the server's close
    // frame (the reader ends on it), and gives up after that.
    let writer = async {
        loop {
            let frame = match cmds.recv().await {
                Ok(Cmd::Send(WsFrame::Text(t))) => Message::text(t),
                Ok(Cmd::Send(WsFrame::Binary(b))) => Message::binary(b),
                Ok(Cmd::Close) | Err(_) => break,
            };
            if let Err(e) = tx.send(frame).await {
                let _ = results
                    .send(failed(id, TransportErrorKind::Io, e.to_string()))
                    .await;
                return;
            }
        }
        let _ = futures_lite::future::or(tx.close(None), async {
            async_io::Timer::after(CLOSE_GRACE).await;
            Ok(())
        })
        .await;
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
        let io = Io::new(&[], 1, 1 << 20).unwrap();
        futures_lite::future::block_on(run(WsId(7), request, io, queue, results));
        server.join().unwrap();
        match inbox.try_recv() {
            Ok(Msg::Input(Input::WsFailed { id, error })) => {
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
        let io = Io::new(&[], 1, 1 << 20).unwrap();
        futures_lite::future::block_on(run(WsId(1), request, io, queue, results));
        match inbox.try_recv() {
            Ok(Msg::Input(Input::WsFailed { error, .. })) => {
                assert_eq!(error.kind, TransportErrorKind::Connect)
            }
            _ => panic!("no WsFailed"),
        }
    }
}

//! The WebSocket glue both runtimes share: the handshake request, the limits, how a
//! handshake failure and a message read reach the core.

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message;
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Input, WsFrame, WsId, WsRequest};

/// How many bytes of frames may wait in a socket's write buffer for a peer that stopped
/// reading, before writing fails and the core reconnects: a stalled server must not make the
/// client's memory grow.
pub const MAX_WRITE_BUFFER: usize = 8 * 1024 * 1024;

/// How many frames may wait for a socket's writer. Past that the socket is failed, as a
/// stalled one is.
pub const MAX_QUEUED_FRAMES: usize = 4096;

/// The handshake request for the core's `WsRequest`: its URI and its extra headers.
pub fn handshake_request(request: &WsRequest) -> Result<Request, TransportError> {
    let mut req = request
        .request
        .uri()
        .to_string()
        .into_client_request()
        .map_err(|e| TransportError::with_source(TransportErrorKind::Other, e))?;
    for (name, value) in request.request.headers() {
        req.headers_mut().insert(name, value.clone());
    }
    Ok(req)
}

/// The socket's limits: messages and frames up to the core's `max_incoming_payload`, and a
/// bounded write buffer.
pub fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// How a failed handshake is reported: a refusal with its status and the start of its body,
/// a TLS failure, or a failed connection.
pub fn handshake_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            TransportError::new(
                TransportErrorKind::HandshakeRejected { status },
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
                    .chars()
                    .take(200)
                    .collect::<String>(),
            )
        }
        tungstenite::Error::Tls(e) => TransportError::with_source(TransportErrorKind::Tls, e),
        e => TransportError::with_source(TransportErrorKind::Connect, e),
    }
}

/// A failure of an open socket.
pub fn failed(id: WsId, e: impl std::error::Error + Send + Sync + 'static) -> Input {
    Input::WsFailed {
        id,
        error: TransportError::with_source(TransportErrorKind::Io, e),
    }
}

/// The failure of a socket whose writer fell [`MAX_QUEUED_FRAMES`] behind because the server
/// stopped reading: it fails like a broken one, and the core reconnects.
pub fn stalled(id: WsId) -> Input {
    Input::WsFailed {
        id,
        error: TransportError::new(
            TransportErrorKind::Io,
            "the server stopped reading: too many frames queued",
        ),
    }
}

/// The message to send for a core frame.
pub fn message(frame: WsFrame) -> Message {
    match frame {
        WsFrame::Text(t) => Message::text(t),
        WsFrame::Binary(b) => Message::binary(b),
    }
}

/// What a message read means for the core: a frame, the end of the socket, or nothing
/// (pings and pongs, which tungstenite answers itself).
pub fn received(id: WsId, message: Message) -> Option<Input> {
    match message {
        Message::Text(t) => Some(Input::WsMessage {
            id,
            frame: WsFrame::Text(t.as_str().to_string()),
        }),
        Message::Binary(b) => Some(Input::WsMessage {
            id,
            frame: WsFrame::Binary(b.to_vec()),
        }),
        Message::Close(frame) => Some(Input::WsClosed {
            id,
            code: frame.map(|f| u16::from(f.code)),
        }),
        _ => None,
    }
}

/// What a read error means for the core: a close without a frame, or a failure.
pub fn read_error(id: WsId, e: tungstenite::Error) -> Input {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Input::WsClosed { id, code: None }
        }
        e => failed(id, e),
    }
}

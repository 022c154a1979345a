//! The core's HTTP on `unicat-smol-http`: a core request becomes the crate's, a download's
//! body goes to a [`PartFile`], and the crate's error becomes the core's [`TransportError`].

use std::sync::Arc;

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::http::{self, HeaderValue};
use unicat_core::io::{Body, BodyTarget, HttpRequest, FILE_ERROR_BODY_LIMIT, USER_AGENT};
use unicat_smol_http::{rustls, Connector, Destination, ErrorKind, Pool};

use crate::fs::PartFile;

/// What every connection shares: the connector (with the TLS configuration) and the sizes
/// the core set.
#[derive(Clone)]
pub(crate) struct Io {
    pub(crate) connector: Connector,
    /// The most connections open at once to one origin.
    pub(crate) max_connections: usize,
    /// The largest WebSocket message accepted.
    pub(crate) max_ws_message: usize,
}

impl Io {
    /// Connections with this TLS configuration.
    pub(crate) fn new(
        tls: Arc<rustls::ClientConfig>,
        max_connections: usize,
        max_ws_message: usize,
    ) -> Io {
        Io {
            connector: Connector::new(tls),
            max_connections,
            max_ws_message,
        }
    }

    /// The HTTP connection pool, sending the core's `user-agent`.
    pub(crate) fn pool(&self) -> Pool {
        Pool::new(self.connector.clone())
            .max_connections(self.max_connections)
            .user_agent(HeaderValue::from_static(USER_AGENT))
    }
}

/// Performs one of the core's requests on `pool`, within its timeout.
pub(crate) async fn perform(
    pool: &Pool,
    request: HttpRequest,
) -> Result<http::Response<Body>, TransportError> {
    let HttpRequest {
        request,
        timeout,
        target,
    } = request;
    let destination = match target {
        BodyTarget::Memory { limit } => Destination::Memory { limit },
        BodyTarget::File { path, limit } => Destination::Sink {
            sink: Box::new(PartFile::new(path)),
            limit,
            error_body_limit: FILE_ERROR_BODY_LIMIT,
        },
    };
    let request = request.map(Body::into_bytes);
    let response = pool.perform(request, destination, timeout).await;
    response.map(|r| r.map(Body)).map_err(transport_error)
}

/// The core's error for the crate's: the kind the core acts on, the crate's error kept as
/// the source. A download's file error comes back as the [`PartFile`] made it.
pub(crate) fn transport_error(e: unicat_smol_http::Error) -> TransportError {
    let kind = match e.kind() {
        ErrorKind::Connect => TransportErrorKind::Connect,
        ErrorKind::Tls => TransportErrorKind::Tls,
        // A server that does not speak HTTP is a broken connection to the core.
        ErrorKind::Io | ErrorKind::Protocol => TransportErrorKind::Io,
        ErrorKind::Timeout => TransportErrorKind::Timeout,
        ErrorKind::TooLarge => TransportErrorKind::TooLarge,
        ErrorKind::Sink => {
            let source = std::error::Error::source(&e);
            if let Some(own) = source.and_then(|s| s.downcast_ref::<TransportError>()) {
                return own.clone();
            }
            TransportErrorKind::File
        }
        _ => TransportErrorKind::Other,
    };
    TransportError::with_source(kind, e)
}

#[cfg(test)]
impl Io {
    /// Connections trusting the webpki roots, or exactly `roots` when given.
    pub(crate) fn with_roots(roots: &[Vec<u8>]) -> Io {
        Io::new(
            unicat_runtime_support::tls::client_config(roots).unwrap(),
            2,
            1 << 20,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::path::PathBuf;
    use std::time::Duration;

    /// Answers one request on one connection with `answer`, then waits for the client to
    /// close. Gives back the port, and the request's head lines.
    fn answer_once(answer: &'static str) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let head = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&socket);
            let lines: Vec<String> = (&mut reader)
                .lines()
                .map(Result::unwrap)
                .take_while(|l| !l.is_empty())
                .collect();
            (&socket).write_all(answer.as_bytes()).unwrap();
            let _ = reader.read_to_end(&mut Vec::new());
            lines
        });
        (port, head)
    }

    fn get(port: u16, target: BodyTarget) -> HttpRequest {
        HttpRequest {
            request: http::Request::get(format!("http://127.0.0.1:{port}/media/a.jpg"))
                .body(Body::default())
                .unwrap(),
            timeout: Duration::from_secs(5),
            target,
        }
    }

    /// The core's request for a GET answered with `answer`, through a fresh pool.
    fn fetch(
        answer: &'static str,
        target: BodyTarget,
    ) -> Result<http::Response<Body>, TransportError> {
        let (port, _head) = answer_once(answer);
        let pool = Io::with_roots(&[]).pool();
        futures_lite::future::block_on(perform(&pool, get(port, target)))
    }

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("unicat-smol-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_200_file_download_lands_by_rename_and_answers_with_an_empty_body() {
        let dir = folder("download");
        let path = dir.join("sub/photo.jpg");
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nJPEG!!";
        let target = BodyTarget::File {
            path: path.clone(),
            limit: 100,
        };
        let r = fetch(answer, target).unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), b"JPEG!!");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_download_over_its_limit_leaves_nothing() {
        let dir = folder("toolarge");
        let path = dir.join("big.bin");
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789";
        let target = BodyTarget::File {
            path: path.clone(),
            limit: 10,
        };
        assert_eq!(
            fetch(answer, target).unwrap_err().kind,
            TransportErrorKind::TooLarge
        );
        // The temporary file is removed in the background.
        for _ in 0..100 {
            if std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_non_200_file_download_comes_back_in_memory() {
        let dir = folder("notfound");
        let path = dir.join("x.jpg");
        let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found";
        let target = BodyTarget::File {
            path: path.clone(),
            limit: 100,
        };
        let r = fetch(answer, target).unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.body().as_bytes(), b"not found");
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_cannot_be_created_is_a_file_error() {
        let dir = folder("blocked");
        std::fs::create_dir_all(&dir).unwrap();
        // A file where the download's folder would go.
        std::fs::write(dir.join("sub"), b"").unwrap();
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let target = BodyTarget::File {
            path: dir.join("sub/x.jpg"),
            limit: 100,
        };
        let e = fetch(answer, target).unwrap_err();
        assert_eq!(e.kind, TransportErrorKind::File, "{e}");
        assert!(
            std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_crates_errors_keep_the_kinds_the_core_acts_on_and_their_source() {
        let memory = || BodyTarget::Memory { limit: 100 };
        let garbage = fetch("SMTP ready\r\n\r\n\r\n", memory()).unwrap_err();
        assert_eq!(garbage.kind, TransportErrorKind::Io);
        let long = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world";
        let e = fetch(long, BodyTarget::Memory { limit: 10 }).unwrap_err();
        assert_eq!(e.kind, TransportErrorKind::TooLarge);
        let source = std::error::Error::source(&e).unwrap();
        assert!(source.is::<unicat_smol_http::Error>());
        let pool = Io::with_roots(&[]).pool();
        let mut request = get(1, memory());
        *request.request.uri_mut() = "ftp://127.0.0.1/".parse().unwrap();
        let e = futures_lite::future::block_on(perform(&pool, request)).unwrap_err();
        assert_eq!(e.kind, TransportErrorKind::Other);
        assert_eq!(e.message, "unsupported scheme Some(\"ftp\")");
    }

    #[test]
    fn requests_carry_the_cores_user_agent() {
        let (port, head) = answer_once("HTTP/1.1 204 No Content\r\n\r\n");
        let pool = Io::with_roots(&[]).pool();
        let r = futures_lite::future::block_on(perform(
            &pool,
            get(port, BodyTarget::Memory { limit: 0 }),
        ));
        assert_eq!(r.unwrap().status(), 204);
        drop(pool);
        let head = head.join().unwrap();
        assert!(
            head.contains(&format!("user-agent: {USER_AGENT}")),
            "{head:?}"
        );
    }
}

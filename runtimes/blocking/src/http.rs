//! HTTP requests through one pooled ureq agent, on a few worker threads so that a long-poll,
//! a POST and several fetches can be under way at once. File reads for uploads run here too.
//!
//! ureq cannot abort a request that is waiting for its answer, so cancelling one (the core's
//! `CancelHttp`, or closing the client) marks it (see [`Workers`]): a marked body stops being
//! read between chunks.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::http;
use unicat_core::io::{Body, BodyTarget, HttpRequest, Input, FILE_ERROR_BODY_LIMIT};
use unicat_runtime_support::files::{self, TempFile};
use unicat_runtime_support::thread::{Perform, Reply, Workers};

use crate::Io;

/// Work for a worker.
pub(crate) enum Job {
    Http(Box<HttpRequest>),
    Read(PathBuf, u64),
}

/// The worker threads, sharing the ureq agent.
pub(crate) fn workers(io: &Io, reply: &Reply) -> Workers<Job> {
    let agent = io.agent.clone();
    let run: Arc<Perform<Job>> = Arc::new(move |id, job, cancelled| match job {
        Job::Http(request) => match perform(&agent, *request, cancelled) {
            Ok(response) => Input::HttpResponse { id, response },
            Err(error) => Input::HttpFailed { id, error },
        },
        Job::Read(path, limit) => Input::FileRead {
            id,
            result: files::read_capped(&path, limit),
        },
    });
    Workers::new("unicat-http", io.workers, reply, run)
}

fn kind_of(e: &ureq::Error) -> TransportErrorKind {
    match e {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => TransportErrorKind::Tls,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::TooLarge,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportErrorKind::Connect
        }
        // rustls reports a refused certificate as an I/O error of the handshake.
        ureq::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            TransportErrorKind::Tls
        }
        // A body over its limit, seen through the body reader.
        ureq::Error::Io(io)
            if io
                .get_ref()
                .and_then(|e| e.downcast_ref::<ureq::Error>())
                .is_some_and(|u| matches!(u, ureq::Error::BodyExceedsLimit(_))) =>
        {
            TransportErrorKind::TooLarge
        }
        ureq::Error::Io(_) | ureq::Error::Protocol(_) => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    }
}

fn transport(e: ureq::Error) -> TransportError {
    TransportError::with_source(kind_of(&e), e)
}

fn perform(
    agent: &ureq::Agent,
    req: HttpRequest,
    cancelled: &AtomicBool,
) -> Result<http::Response<Body>, TransportError> {
    let (parts, body) = req.request.into_parts();
    let request = http::Request::from_parts(parts, body.into_bytes());
    let request = agent
        .configure_request(request)
        .timeout_global(Some(req.timeout))
        .build();
    let mut response = agent.run(request).map_err(transport)?;
    let status = response.status();
    let mut builder = http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.body_mut();
    let bytes = match req.target {
        BodyTarget::Memory { limit } => {
            let limit = u64::try_from(limit).unwrap_or(u64::MAX);
            let mut bytes = Vec::new();
            pump(body.with_config().limit(limit).reader(), cancelled, |c| {
                bytes.extend_from_slice(c);
                Ok(())
            })?;
            bytes
        }
        BodyTarget::File { path, limit } if status == 200 => {
            let mut tmp = TempFile::create(&path).map_err(files::file_error)?;
            let file = tmp.file().map_err(files::file_error)?;
            pump(body.with_config().limit(limit).reader(), cancelled, |c| {
                file.write_all(c)
            })?;
            tmp.persist().map_err(files::file_error)?;
            Vec::new()
        }
        BodyTarget::File { .. } => body
            .with_config()
            .limit(FILE_ERROR_BODY_LIMIT as u64)
            .read_to_vec()
            .unwrap_or_default(),
    };
    builder
        .body(Body(bytes))
        .map_err(|e| TransportError::with_source(TransportErrorKind::Other, e))
}

/// Moves a body from `reader` to `sink` chunk by chunk, giving up between chunks once the
/// request is cancelled.
fn pump(
    mut reader: impl Read,
    cancelled: &AtomicBool,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), TransportError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cancelled.load(Ordering::Acquire) {
            return Err(TransportError::new(TransportErrorKind::Other, "cancelled"));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(transport(ureq::Error::Io(e))),
        };
        sink(buf.get(..n).unwrap_or_default()).map_err(files::file_error)?;
    }
}

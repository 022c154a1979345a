//! HTTP requests through one pooled ureq agent, on a few worker threads so that a long-poll,
//! a POST and several fetches can be under way at once. File reads for uploads run here too.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::http;
use unicat_core::io::{Body, BodyTarget, HttpRequest, Input, RequestId, FILE_ERROR_BODY_LIMIT};

use crate::driver::Msg;
use crate::Io;

/// Work for a worker.
pub(crate) enum Job {
    Http(RequestId, Box<HttpRequest>),
    Read(RequestId, PathBuf, u64),
}

/// The worker threads.
pub(crate) struct HttpPool {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl HttpPool {
    pub(crate) fn new(io: &Io, results: Sender<Msg>) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..io.workers.max(1))
            .filter_map(|n| {
                let rx = Arc::clone(&rx);
                let results = results.clone();
                let agent = io.agent.clone();
                std::thread::Builder::new()
                    .name(format!("unicat-http-{n}"))
                    .spawn(move || worker(&agent, &rx, &results))
                    .ok()
            })
            .collect();
        HttpPool {
            jobs: Some(jobs),
            threads,
        }
    }

    pub(crate) fn submit(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Lets the workers finish what they are doing, then waits for them.
    pub(crate) fn stop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(agent: &ureq::Agent, jobs: &Mutex<Receiver<Job>>, results: &Sender<Msg>) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let input = match job {
            Job::Http(id, request) => match perform(agent, *request) {
                Ok(response) => Input::HttpResponse { id, response },
                Err(error) => Input::HttpFailed { id, error },
            },
            Job::Read(id, path, limit) => Input::FileRead {
                id,
                result: read_file(&path, limit),
            },
        };
        if results.send(Msg::Input(input)).is_err() {
            return;
        }
    }
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
        ureq::Error::Io(_) | ureq::Error::Protocol(_) => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    }
}

fn transport(e: ureq::Error) -> TransportError {
    TransportError::new(kind_of(&e), e.to_string())
}

fn perform(agent: &ureq::Agent, req: HttpRequest) -> Result<http::Response<Body>, TransportError> {
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
    let body = match req.target {
        BodyTarget::Memory { limit } => response
            .body_mut()
            .with_config()
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_vec()
            .map_err(transport)?,
        BodyTarget::File { path, limit } if status == 200 => {
            let reader = response.body_mut().with_config().limit(limit).reader();
            write_file(&path, reader)?;
            Vec::new()
        }
        BodyTarget::File { .. } => response
            .body_mut()
            .with_config()
            .limit(FILE_ERROR_BODY_LIMIT as u64)
            .read_to_vec()
            .unwrap_or_default(),
    };
    builder
        .body(Body(body))
        .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
}

/// Streams into a temporary file beside `path`, then renames it into place, so a reader never
/// sees half a file and a failed download leaves the old one.
fn write_file(path: &Path, mut reader: impl Read) -> Result<(), TransportError> {
    let file_error =
        |e: std::io::Error| TransportError::new(TransportErrorKind::File, e.to_string());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    let tmp = unicat_core::io::part_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(file_error)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let over_limit = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::BodyExceedsLimit(_)));
                    let kind = if over_limit {
                        TransportErrorKind::TooLarge
                    } else {
                        TransportErrorKind::Io
                    };
                    return Err(TransportError::new(kind, e.to_string()));
                }
            };
            file.write_all(buf.get(..n).unwrap_or_default())
                .map_err(file_error)?;
        }
        file.sync_all().map_err(file_error)?;
        std::fs::rename(&tmp, path).map_err(file_error)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_file(path: &Path, limit: u64) -> Result<Body, TransportError> {
    let file = std::fs::File::open(path)
        .map_err(|e| TransportError::new(TransportErrorKind::File, e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| TransportError::new(TransportErrorKind::File, e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(TransportError::new(
            TransportErrorKind::TooLarge,
            format!("the file is larger than {limit} bytes"),
        ));
    }
    Ok(Body(bytes))
}

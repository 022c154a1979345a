//! [`DevServer`]: the server thread, its tokio runtime, and the state shared by every handler.

use std::collections::{BTreeMap, HashMap};
use std::future::IntoFuture;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use futures_util::future::{select, Either};
use socketioxide::SocketIo;

use crate::config::DevConfig;
use crate::control::Control;
use crate::faults::{Delivery, Faults};
use crate::ids::TokenGen;
use crate::net::{ConnRegistry, KillListener, PeerAddr, Restart};
use crate::store::Inner;
use crate::{api, lock, sio};

/// Largest request body accepted (JSON, multipart, Engine.IO polling payload or WebSocket
/// message); larger HTTP bodies get a 413 envelope.
pub const MAX_BODY: usize = 32 << 20;

/// What the server knows about an issued JWT.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub(crate) user: String,
    pub(crate) project: String,
    pub(crate) issued: Instant,
    expires: Instant,
}

/// Issued JWTs (opaque tokens) and their lifetimes.
#[derive(Debug)]
pub(crate) struct Tokens {
    gen: TokenGen,
    map: HashMap<String, TokenInfo>,
    ttl: Duration,
    /// Every token ever issued, oldest first (bounded), so tests can check that none of them
    /// leaks into a client's logs.
    issued: std::collections::VecDeque<String>,
}

impl Tokens {
    fn new(ttl: Duration) -> Self {
        Self {
            gen: TokenGen::new(),
            map: HashMap::new(),
            ttl,
            issued: std::collections::VecDeque::new(),
        }
    }

    /// Issues a fresh token for `user` in `project`.
    pub(crate) fn mint(&mut self, user: &str, project: &str) -> String {
        let now = Instant::now();
        if self.map.len() >= 4096 {
            self.map.retain(|_, t| t.expires > now);
        }
        let token = self.gen.next_token();
        if self.issued.len() >= 4096 {
            self.issued.pop_front();
        }
        self.issued.push_back(token.clone());
        let expires = now
            .checked_add(self.ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        self.map.insert(
            token.clone(),
            TokenInfo {
                user: user.to_owned(),
                project: project.to_owned(),
                issued: now,
                expires,
            },
        );
        token
    }

    /// The token's info if it is known and not expired (an expired one is forgotten).
    pub(crate) fn check(&mut self, token: &str) -> Option<TokenInfo> {
        let info = self.map.get(token)?;
        if info.expires <= Instant::now() {
            self.map.remove(token);
            return None;
        }
        Some(info.clone())
    }

    /// Every token issued so far, oldest first (the last 4,096).
    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.iter().cloned().collect()
    }

    /// Invalidates every token issued so far.
    pub(crate) fn expire_all(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }
}

/// State shared by the HTTP handlers, the Socket.IO handlers, the jobs and [`Control`].
///
/// Lock order: `inner` may be held while taking `tokens` or `counters`, never the reverse.
pub(crate) struct Shared {
    pub(crate) cfg: DevConfig,
    pub(crate) base_url: String,
    pub(crate) project: String,
    pub(crate) api_key: String,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) tokens: Mutex<Tokens>,
    pub(crate) counters: Mutex<BTreeMap<String, u64>>,
    pub(crate) conns: Arc<ConnRegistry>,
    pub(crate) eio_sessions: Mutex<sio::EioSessions>,
    /// The server-side faults in force.
    pub(crate) faults: Mutex<Faults>,
    /// Restart orders for the listener.
    pub(crate) restarts: tokio::sync::mpsc::UnboundedSender<Restart>,
    pub(crate) io: SocketIo,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) closed: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.base_url)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Counts one request served for `key` (see [`Control::counters`]).
    pub(crate) fn count(&self, key: &str) {
        let mut c = lock(&self.counters);
        match c.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                c.insert(key.to_owned(), 1);
            }
        }
    }
}

/// A running dev server: one in-memory Unicat project served on `127.0.0.1`.
///
/// The server runs on its own thread with its own tokio runtime, so callers need neither tokio
/// nor async: plain threads, smol or anything else can use it. Dropping the value (or calling
/// [`shutdown`](Self::shutdown)) stops the thread and closes every connection.
///
/// ```
/// use unicat_devserver::{DevConfig, DevServer};
///
/// let server = DevServer::start(DevConfig { records: 10, ..DevConfig::default() })?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// let cursor = server.control().cursors().1;
/// let record = server.control().record_gids(1)[0].clone();
/// server.control().set_field(&record, Some("en"), "price", serde_json::json!(9.99))?;
/// assert_eq!(server.control().cursors().1, cursor + 1);
/// server.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DevServer {
    url: String,
    addr: SocketAddr,
    project: String,
    api_key: String,
    tls_der: Option<Vec<u8>>,
    tls_pem: Option<String>,
    control: Control,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DevServer {
    /// Seeds the project, binds `127.0.0.1:<port>` and starts serving on a new thread.
    ///
    /// Errors are those of binding the port or starting the runtime and thread.
    pub fn start(mut cfg: DevConfig) -> io::Result<DevServer> {
        // Values that would make the server panic or its clients loop forever.
        const TICK: Duration = Duration::from_millis(1);
        cfg.sync_page_limit = cfg.sync_page_limit.max(1);
        cfg.ping_interval = cfg.ping_interval.max(TICK);
        cfg.ping_timeout = cfg.ping_timeout.max(TICK);
        cfg.authorization_push_period = cfg.authorization_push_period.map(|p| p.max(TICK));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("unicat-devserver-rt")
            .enable_io()
            .enable_time()
            .build()?;
        let host = if cfg.ipv6 { "::1" } else { "127.0.0.1" };
        let std_listener = StdTcpListener::bind((host, cfg.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let tls = if cfg.tls {
            Some(crate::net::self_signed()?)
        } else {
            None
        };
        let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let (acceptor, tls_der, tls_pem) = match tls {
            Some((a, der, pem)) => (Some(a), Some(der), Some(pem)),
            None => (None, None, None),
        };

        let started = Instant::now();
        let mut inner = Inner::new(cfg.seed, cfg.records);
        inner.delivery = Some(Delivery::start(rt.handle()));
        log::debug!("seeded {} records in {:?}", cfg.records, started.elapsed());
        let project = inner.project.clone();
        let api_key = inner.api_key.clone();

        let _guard = rt.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let (layer, io) = sio::build(&cfg);
        let conns = Arc::new(ConnRegistry::default());
        let (restarts, restart_orders) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            base_url: url.clone(),
            project: project.clone(),
            api_key: api_key.clone(),
            inner: Mutex::new(inner),
            tokens: Mutex::new(Tokens::new(cfg.jwt_ttl)),
            counters: Mutex::new(BTreeMap::new()),
            conns: Arc::clone(&conns),
            eio_sessions: Mutex::new(sio::EioSessions::default()),
            faults: Mutex::new(Faults::new(cfg.seed)),
            restarts,
            io: io.clone(),
            rt: rt.handle().clone(),
            closed: AtomicBool::new(false),
            cfg,
        });
        sio::register(&io, &shared);
        if let Some(period) = shared.cfg.authorization_push_period {
            sio::spawn_authorization_pushes(&shared, period);
        }

        let handler_shared = Arc::downgrade(&shared);
        let app = Router::new()
            .fallback(move |req: Request| {
                let shared = handler_shared.upgrade();
                async move {
                    match shared {
                        Some(shared) => api::handle(shared, req).await,
                        None => api::gone(),
                    }
                }
            })
            .layer(layer)
            .layer(axum::middleware::from_fn({
                let weak = Arc::downgrade(&shared);
                move |req: Request, next: axum::middleware::Next| {
                    sio::session_gate(weak.clone(), req, next)
                }
            }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(
            KillListener::new(listener, Arc::clone(&conns), acceptor, restart_orders)?,
            app.into_make_service_with_connect_info::<PeerAddr>(),
        );
        drop(_guard);

        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("unicat-devserver".into())
            .spawn(move || {
                rt.block_on(async move {
                    let serve = std::pin::pin!(serve.into_future());
                    match select(serve, stop_rx).await {
                        Either::Left((Err(e), _)) => log::error!("dev server stopped: {e}"),
                        Either::Left((Ok(()), _)) | Either::Right(_) => {}
                    }
                });
                thread_shared.closed.store(true, Ordering::SeqCst);
                lock(&thread_shared.inner).sockets.clear();
                conns.kill_all();
                rt.shutdown_timeout(Duration::from_secs(2));
                log::debug!("dev server thread finished");
            })?;
        log::info!("Unicat dev server on {url}, project {project}");
        Ok(DevServer {
            url,
            addr,
            project,
            api_key,
            tls_der,
            tls_pem,
            control: Control::new(shared),
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Base URL, `http://127.0.0.1:<port>` (`https://` with [`DevConfig::tls`]; no trailing
    /// slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// With [`DevConfig::tls`], the self-signed certificate to trust, DER-encoded.
    pub fn tls_root_der(&self) -> Option<&[u8]> {
        self.tls_der.as_deref()
    }

    /// With [`DevConfig::tls`], the self-signed certificate to trust, PEM-encoded.
    pub fn tls_root_pem(&self) -> Option<&str> {
        self.tls_pem.as_deref()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Gid of the seeded project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The API key that `/api/p/<project>/auth` accepts.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The control handle (cheap to clone, usable from any thread).
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops serving, closes every connection and joins the server thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Blocks until the server thread ends (it only ends through [`shutdown`](Self::shutdown) or
    /// drop from another handle, so this is for a `main` that serves until killed).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("dev server thread panicked");
            }
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

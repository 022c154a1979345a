//! [`DevConfig`]: everything that can be tuned when starting a [`DevServer`](crate::DevServer).

use std::time::Duration;

/// Configuration of a [`DevServer`](crate::DevServer).
///
/// All fields are public and [`Default`] gives the documented defaults, so the usual form is
/// struct-update syntax; the `with_*` methods do the same as a builder:
///
/// ```
/// use std::time::Duration;
/// use unicat_devserver::DevConfig;
///
/// let cfg = DevConfig { records: 50, ..DevConfig::default() }
///     .with_jwt_ttl(Duration::from_secs(5))
///     .with_sync_page_limit(10);
/// assert_eq!(cfg.records, 50);
/// assert_eq!(cfg.port, 0);
/// assert_eq!(cfg.sync_page_limit, 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DevConfig {
    /// TCP port on 127.0.0.1; `0` (the default) lets the OS pick a free one.
    pub port: u16,
    /// Number of `article` records seeded under the root record. Default 1,000.
    pub records: usize,
    /// Lifetime of a JWT from the moment it is issued. Default 1 hour.
    pub jwt_ttl: Duration,
    /// A valid call made with a JWT older than this gets a fresh one in its `Authorization`
    /// response header (never on `/dam`). `None` never renews. Default 15 minutes.
    pub jwt_renew_after: Option<Duration>,
    /// Period of the `authorization` events (`{"JWT": fresh}`) pushed to every authorised
    /// socket. `None` (the default) pushes none.
    pub authorization_push_period: Option<Duration>,
    /// Maximum number of sync items in one `/sync/get` answer; a cut list carries `warning`.
    /// Default 1,000.
    pub sync_page_limit: usize,
    /// Engine.IO ping interval. Default 25 s.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout. Default 20 s.
    pub ping_timeout: Duration,
    /// Delay between the `queued`, `processing` and `done` steps of backup and restore jobs.
    /// Default 20 ms.
    pub job_step_delay: Duration,
    /// Seed of the deterministic gids, API key and data. Default 1.
    pub seed: u64,
    /// Serve HTTPS and WSS with a self-signed certificate for `127.0.0.1` and `localhost`,
    /// made at start (see [`DevServer::tls_root_der`](crate::DevServer::tls_root_der)), as the
    /// real Unicat does. Default false.
    pub tls: bool,
    /// Listen on the IPv6 loopback `[::1]` instead of `127.0.0.1`, for clients that must
    /// handle a bracketed host. Default false.
    pub ipv6: bool,
}

impl Default for DevConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 1_000,
            jwt_ttl: Duration::from_secs(3600),
            jwt_renew_after: Some(Duration::from_secs(15 * 60)),
            authorization_push_period: None,
            sync_page_limit: 1_000,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            job_step_delay: Duration::from_millis(20),
            seed: 1,
            tls: false,
            ipv6: false,
        }
    }
}

impl DevConfig {
    /// Sets [`port`](Self::port).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Sets [`records`](Self::records).
    #[must_use]
    pub fn with_records(mut self, records: usize) -> Self {
        self.records = records;
        self
    }
    /// Sets [`jwt_ttl`](Self::jwt_ttl).
    #[must_use]
    pub fn with_jwt_ttl(mut self, ttl: Duration) -> Self {
        self.jwt_ttl = ttl;
        self
    }
    /// Sets [`jwt_renew_after`](Self::jwt_renew_after).
    #[must_use]
    pub fn with_jwt_renew_after(mut self, age: Option<Duration>) -> Self {
        self.jwt_renew_after = age;
        self
    }
    /// Sets [`authorization_push_period`](Self::authorization_push_period).
    #[must_use]
    pub fn with_authorization_push_period(mut self, period: Option<Duration>) -> Self {
        self.authorization_push_period = period;
        self
    }
    /// Sets [`sync_page_limit`](Self::sync_page_limit) (at least 1).
    #[must_use]
    pub fn with_sync_page_limit(mut self, limit: usize) -> Self {
        self.sync_page_limit = limit.max(1);
        self
    }
    /// Sets [`ping_interval`](Self::ping_interval) and [`ping_timeout`](Self::ping_timeout).
    #[must_use]
    pub fn with_ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }
    /// Sets [`job_step_delay`](Self::job_step_delay).
    #[must_use]
    pub fn with_job_step_delay(mut self, delay: Duration) -> Self {
        self.job_step_delay = delay;
        self
    }
    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

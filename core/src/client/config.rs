use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::{MediaHosts, Urls};
use crate::config::{ReconnectPolicy, SessionConfig};
use crate::error::CommandError;

/// How failed reads are retried: HTTP 500, 502, 503 and 504 and transport failures, for reads
/// (`…/get`, `…/root`, `…/children`, `/modules/all`, `/init`, `/sync/…`, DAM, media) and
/// calls marked safe. Mutations are never
/// retried blindly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first. Default: 7, as the Python SDK.
    pub retries: u32,
    /// The first delay; each next one doubles. Default: 100 ms, so about 0.1, 0.2, 0.4, …,
    /// 6.4 s, the SDK's urllib3 schedule.
    pub initial: Duration,
    /// The longest delay. Default: 10 s.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 7,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// What [`Client::connect`](super::Client::connect) does when `/auth` fails with an error
/// that may heal (the server cannot be reached, 5xx, 429, a timeout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FirstConnect {
    /// Try once more, then fail the call with the error, so an application or a command line
    /// learns of a wrong URL or a server that is down at once. The default.
    #[default]
    FailFast,
    /// Keep trying through the reconnect backoff until the server answers, for daemons that
    /// start before the network or the server does. The call finishes when `/auth` succeeds,
    /// or when the key is rejected.
    KeepTrying,
}

/// Configuration of a [`Client`](super::Client): [`ClientConfig::new`], then one setter per
/// setting, each documented with its default and checked where it has a range. The fields
/// are private, so a setting is always read as its setter left it.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub(crate) urls: Urls,
    /// The Sync API session: Socket.IO at `/sync/io` on the same host, WebSocket first.
    pub(crate) session: SessionConfig,
    /// Keep the API key after `connect`, to re-authenticate by itself when the JWT expires
    /// (a 401 with `WWW-Authenticate`, a refused socket). Default: false — the key is
    /// forgotten once the first JWT arrives.
    pub(crate) keep_api_key: bool,
    /// Keep the store fresh through the Sync API socket. Default: true.
    pub(crate) live_sync: bool,
    /// The most keys in one plural fetch. Default: 100.
    pub(crate) batch_size: usize,
    /// Sync fetches in flight at once. Default: 4.
    pub(crate) max_concurrent_fetches: usize,
    /// How long any API request may take. Default: 60 s, as the SDK.
    pub(crate) http_timeout: Duration,
    /// How long a media download may take. Default: 10 minutes.
    pub(crate) download_timeout: Duration,
    /// Retries of failed reads.
    pub(crate) retry: RetryPolicy,
    /// After a sync fetch or the reload after a restore failed even with its retries (5xx,
    /// 429, a timeout), wait this long before trying again; each further failure in a row
    /// doubles the wait, up to [`fetch_retry_max`](ClientConfig::fetch_retry_max). The socket
    /// stays connected meanwhile and the cursors wait. Default: 5 s.
    pub(crate) fetch_retry_delay: Duration,
    /// The longest wait between fetch retries. Default: 60 s.
    pub(crate) fetch_retry_max: Duration,
    /// What `connect` does when `/auth` fails with an error that may heal. Default:
    /// [`FirstConnect::FailFast`]. Once connected, live sync never stops on its own whatever
    /// this says.
    pub(crate) first_connect: FirstConnect,
    /// The largest response body accepted. Default: 256 MiB.
    pub(crate) max_response_bytes: usize,
    /// The largest download accepted. Default: 4 GiB.
    pub(crate) max_download_bytes: u64,
    /// The largest upload, checked from the file size before a byte is read. Default:
    /// 10,000,000 bytes, the SDK's limit.
    pub(crate) max_upload_bytes: u64,
    /// Where downloads go. Default: none, and downloads are refused.
    pub(crate) asset_folder: Option<PathBuf>,
    /// Which hosts downloads may fetch media from. Default: `https://` on the API's domain,
    /// no local address.
    pub(crate) media_hosts: MediaHosts,
    /// Sent with `/auth` and `/init`, as the SDK does. Default: false.
    pub(crate) omit_extended_definitions: bool,
    /// How long to wait for the `initsync` ack. Default: 60 s.
    pub(crate) initsync_timeout: Duration,
    /// How often `track_job` polls `/sync/get` while the socket is down. Default: 1 s.
    pub(crate) job_poll_interval: Duration,
    /// Sync items held while the `initsync` ack is awaited. Default: 1,000,000; past that the
    /// client reconnects and catches up from its cursors instead.
    pub(crate) max_held_sync_items: usize,
}

impl ClientConfig {
    /// A configuration for the project `project` on the server at `base_url`
    /// (`https://unicat.app`, or a dev server's `http://127.0.0.1:PORT`).
    pub fn new(base_url: &str, project: &str) -> Result<Self, CommandError> {
        let urls = Urls::new(base_url, project)?;
        let session = SessionConfig::new(urls.base(), "/sync/io")?;
        Ok(ClientConfig {
            urls,
            session,
            keep_api_key: false,
            live_sync: true,
            batch_size: 100,
            max_concurrent_fetches: 4,
            http_timeout: Duration::from_secs(60),
            download_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            fetch_retry_delay: Duration::from_secs(5),
            fetch_retry_max: Duration::from_secs(60),
            first_connect: FirstConnect::FailFast,
            max_response_bytes: 256 * 1024 * 1024,
            max_download_bytes: 4 * 1024 * 1024 * 1024,
            max_upload_bytes: 10_000_000,
            asset_folder: None,
            media_hosts: MediaHosts::default(),
            omit_extended_definitions: false,
            initsync_timeout: Duration::from_secs(60),
            job_poll_interval: Duration::from_secs(1),
            max_held_sync_items: 1_000_000,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.urls.base()
    }

    /// The project gid.
    pub fn project(&self) -> &str {
        self.urls.project()
    }

    /// The Sync API session's configuration.
    pub fn session_config(&self) -> &SessionConfig {
        &self.session
    }

    /// Where downloads go, if anywhere.
    pub fn asset_folder_path(&self) -> Option<&Path> {
        self.asset_folder.as_deref()
    }

    /// Replaces the Sync API session's configuration (its URL stays the API's).
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Keeps the API key for transparent re-authentication. Default: false.
    pub fn keep_api_key(mut self, keep: bool) -> Self {
        self.keep_api_key = keep;
        self
    }

    /// Turns live sync over the socket on or off. Default: on.
    pub fn live_sync(mut self, on: bool) -> Self {
        self.live_sync = on;
        self
    }

    /// The most keys in one plural fetch, at least 1. Default: 100.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Sync fetches in flight at once, at least 1. Default: 4.
    pub fn max_concurrent_fetches(mut self, n: usize) -> Self {
        self.max_concurrent_fetches = n.max(1);
        self
    }

    /// How long any API request may take. Default: 60 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// How long a media download may take. Default: 10 minutes.
    pub fn download_timeout(mut self, timeout: Duration) -> Self {
        self.download_timeout = timeout;
        self
    }

    /// How failed reads are retried. Default: [`RetryPolicy::default`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The first wait before a failed sync fetch or reload is tried again, and the longest
    /// (the first is raised to at most the longest). Default: 5 s and 60 s.
    pub fn fetch_retry(mut self, first: Duration, longest: Duration) -> Self {
        self.fetch_retry_delay = first.min(longest);
        self.fetch_retry_max = longest;
        self
    }

    /// Sets what `connect` does when the server cannot be reached. Default:
    /// [`FirstConnect::FailFast`].
    pub fn first_connect(mut self, mode: FirstConnect) -> Self {
        self.first_connect = mode;
        self
    }

    /// The largest response body accepted. Default: 256 MiB.
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// The largest download accepted. Default: 4 GiB.
    pub fn max_download_bytes(mut self, n: u64) -> Self {
        self.max_download_bytes = n;
        self
    }

    /// The largest upload, checked from the file size before a byte is read. Default:
    /// 10,000,000 bytes.
    pub fn max_upload_bytes(mut self, n: u64) -> Self {
        self.max_upload_bytes = n;
        self
    }

    /// Sets the asset folder for downloads. Default: none, and downloads are refused.
    pub fn asset_folder(mut self, folder: impl Into<PathBuf>) -> Self {
        self.asset_folder = Some(folder.into());
        self
    }

    /// Sets which hosts downloads may fetch media from. Default: [`MediaHosts::default`].
    pub fn media_hosts(mut self, policy: MediaHosts) -> Self {
        self.media_hosts = policy;
        self
    }

    /// Asks `/auth` and `/init` to leave extended definitions out. Default: false.
    pub fn omit_extended_definitions(mut self, omit: bool) -> Self {
        self.omit_extended_definitions = omit;
        self
    }

    /// How long to wait for the `initsync` ack. Default: 60 s.
    pub fn initsync_timeout(mut self, timeout: Duration) -> Self {
        self.initsync_timeout = timeout;
        self
    }

    /// How often `track_job` polls `/sync/get` while the socket is down. Default: 1 s.
    pub fn job_poll_interval(mut self, interval: Duration) -> Self {
        self.job_poll_interval = interval;
        self
    }

    /// Sync items held while a load or the `initsync` ack is awaited, at least 1. Default:
    /// 1,000,000.
    pub fn max_held_sync_items(mut self, n: usize) -> Self {
        self.max_held_sync_items = n.max(1);
        self
    }

    /// Sets how the Sync API socket reconnects.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.session.reconnect = policy;
        self
    }

    /// Sets the Sync API transport.
    pub fn transport(mut self, mode: crate::config::TransportMode) -> Self {
        self.session.transport = mode;
        self
    }

    /// Sets the reconnection jitter seed (see [`SessionConfig::rng_seed`]).
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.session.rng_seed = seed;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ClientConfig, ReconnectPolicy};

    #[test]
    fn setters_keep_each_setting_in_its_range() {
        let c = ClientConfig::new("https://unicat.app", "p1")
            .unwrap()
            .batch_size(0)
            .max_concurrent_fetches(0)
            .max_held_sync_items(0)
            .fetch_retry(Duration::from_secs(90), Duration::from_secs(30));
        assert_eq!(
            (
                c.batch_size,
                c.max_concurrent_fetches,
                c.max_held_sync_items
            ),
            (1, 1, 1)
        );
        assert_eq!(
            (c.fetch_retry_delay, c.fetch_retry_max),
            (Duration::from_secs(30), Duration::from_secs(30))
        );
        assert_eq!(c.session_config().reconnect, ReconnectPolicy::default());
        assert!(c.asset_folder_path().is_none());
    }

    #[test]
    fn the_client_has_usage_errors_of_its_own() {
        use crate::client::Client;
        use crate::error::{CommandError, UsageError};
        assert!(matches!(
            ClientConfig::new("not a url", "p1"),
            Err(CommandError::InvalidArgument(_))
        ));
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        let cfg = ClientConfig::new("https://unicat.app", "p1").unwrap();
        let mut client = Client::new(cfg, now);
        client.close(now);
        assert_eq!(client.init(now).unwrap_err(), CommandError::Closed);
        // What a session refuses reaches a command in the command's words.
        assert_eq!(
            CommandError::from(UsageError::AlreadyConnected),
            CommandError::AlreadyConnected
        );
        assert_eq!(
            CommandError::from(UsageError::UnknownNamespace("/x".into())),
            CommandError::InvalidArgument("namespace \"/x\" is not configured".into())
        );
    }
}

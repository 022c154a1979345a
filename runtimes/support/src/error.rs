//! The error both runtimes return.

use std::fmt;

use unicat_core::api::CallError;
use unicat_core::client::StopReason;
use unicat_core::error::{CommandError, UsageError};
use unicat_core::walk::WalkError;

/// Why a call to a runtime's client failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A call to a Socket.IO session that it refused (`SocketIo` methods).
    Usage(UsageError),
    /// A command the Unicat client refused (`UnicatApi` methods, the builder).
    Command(CommandError),
    /// The call was made and failed: the API refused, the response was invalid, the transport
    /// failed after its retries.
    Call(CallError),
    /// The client was closed, or its driver ended.
    Closed,
    /// Live sync stopped, for this reason (see
    /// [`Health::Stopped`](unicat_core::client::Health::Stopped)).
    Stopped(StopReason),
    /// The runtime could not start: a thread, the TLS setup, a folder, the replay log.
    Setup(SetupError),
    /// A wait ran out of time.
    Timeout,
    /// A walker or get-or-fetch helper could not read an item or go on (see
    /// [`WalkError`](unicat_core::walk::WalkError)).
    Walk(WalkError),
}

/// What could not be set up, and the error underneath.
#[derive(Debug)]
pub struct SetupError {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SetupError {
    /// `what` failed because of `source`.
    pub fn new(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> SetupError {
        SetupError {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}: {s}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// A setup failure of `what`.
    pub fn setup(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Setup(SetupError::new(what, source))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => write!(f, "usage error: {e}"),
            Error::Command(e) => write!(f, "usage error: {e}"),
            Error::Call(e) => write!(f, "call failed: {e}"),
            Error::Closed => f.write_str("the client is closed"),
            Error::Stopped(reason) => write!(f, "live sync stopped: {reason}"),
            Error::Setup(e) => write!(f, "could not start the client: {e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Walk(e) => write!(f, "walk: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(e) => Some(e),
            Error::Command(e) => Some(e),
            Error::Call(e) => Some(e),
            Error::Setup(e) => Some(e),
            Error::Walk(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// An item a walker listed that the store does not hold: the walk goes on after it.
    pub fn is_not_held(&self) -> bool {
        matches!(self, Error::Walk(WalkError::NotHeld { .. }))
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Error::Command(e)
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Error::Call(e)
    }
}

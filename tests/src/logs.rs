//! A logger that keeps every record in memory, so tests can check what the library logs.

use std::sync::Mutex;

static LOGS: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl log::Log for Capture {
    /// Everything, except what tungstenite logs at TRACE: it dumps every frame's payload there,
    /// the Socket.IO CONNECT auth included. The examples cap it at DEBUG the same way, and the
    /// README tells users to.
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        !(m.target().starts_with("tungstenite") && m.level() == log::Level::Trace)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !log::Log::enabled(self, record.metadata()) {
            return;
        }
        let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        logs.push_str(&format!(
            "{} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        ));
    }

    fn flush(&self) {}
}

/// Installs the capturing logger at trace level (once per process; later calls do nothing).
pub fn capture() {
    if log::set_boxed_logger(Box::new(Capture)).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Everything logged so far.
pub fn captured() -> String {
    LOGS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

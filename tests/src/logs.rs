//! A logger that keeps every record in memory, so tests can check what the library logs.

use std::sync::Mutex;

static LOGS: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl log::Log for Capture {
    /// Everything, except the TRACE records of the crates that dump raw traffic (tungstenite's
    /// frame payloads, ureq-proto's hex rows of heads and bodies), as the examples' logger
    /// does and the README tells users to.
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        !(unicat_runtime_support::dumps_traffic(m.target()) && m.level() == log::Level::Trace)
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

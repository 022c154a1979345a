// Shared by the examples of every runtime (included with `#[path]`), so `watch`, `mirror` and
// `demo` behave the same whichever runtime runs them. Only command-line and file handling
// lives here; every protocol rule is in unicat-core.
//
// Each example uses part of it, and it is private to each example binary.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;

/// The connection settings, from `UNICAT_URL`, `UNICAT_PROJECT` and `UNICAT_API_KEY`.
pub struct Env {
    pub url: String,
    pub project: String,
    pub api_key: String,
}

impl Env {
    pub fn read() -> Result<Env, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        Ok(Env {
            url: var("UNICAT_URL")?,
            project: var("UNICAT_PROJECT")?,
            api_key: var("UNICAT_API_KEY")?,
        })
    }
}

/// Whether a log record may be written: not the TRACE records of the transport crates that
/// dump raw traffic, JWTs included (`unicat_runtime_support::TRAFFIC_DUMP_TARGETS`), whatever
/// `RUST_LOG` says.
pub fn shows(m: &log::Metadata<'_>) -> bool {
    !(m.level() == log::Level::Trace && unicat_runtime_support::dumps_traffic(m.target()))
}

/// Logs to stderr through the `RUST_LOG` filter (default: warnings), except what [`shows`]
/// refuses.
pub fn init_logging() {
    struct Capped(env_logger::Logger);
    impl log::Log for Capped {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            shows(m) && self.0.enabled(m)
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                self.0.log(r);
            }
        }
        fn flush(&self) {
            self.0.flush();
        }
    }
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .target(env_logger::Target::Stderr)
            .build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(Capped(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// `watch <record-gid> [--lang en] [--fields artnr,price]`.
pub struct WatchArgs {
    pub record: String,
    pub lang: String,
    pub fields: Vec<String>,
}

pub fn watch_args(args: impl Iterator<Item = String>) -> Result<WatchArgs, String> {
    let mut record = None;
    let mut lang = "en".to_string();
    let mut fields = vec!["artnr".to_string(), "price".to_string()];
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lang" => lang = args.next().ok_or("--lang needs a value")?,
            "--fields" => {
                fields = args
                    .next()
                    .ok_or("--fields needs a value")?
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => record = Some(other.to_string()),
        }
    }
    Ok(WatchArgs {
        record: record.ok_or("the record gid is missing")?,
        lang,
        fields,
    })
}

pub const WATCH_USAGE: &str = "usage: watch <record-gid> [--lang en] [--fields artnr,price]
environment: UNICAT_URL, UNICAT_PROJECT, UNICAT_API_KEY; RUST_LOG filters the log on stderr";

/// The watched fields' values of a record, as one line: strings as they are, other values as
/// JSON, a missing field as `-`.
pub fn field_line(record: Option<&serde_json::Value>, lang: &str, fields: &[String]) -> String {
    fields
        .iter()
        .map(
            |f| match record.and_then(|r| r.get("fields")?.get(lang)?.get(f)) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "-".to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// `mirror --out FILE [--all-records] [--record FILE]`.
pub struct MirrorArgs {
    pub out: std::path::PathBuf,
    pub all_records: bool,
    pub record: Option<std::path::PathBuf>,
}

pub fn mirror_args(args: impl Iterator<Item = String>) -> Result<MirrorArgs, String> {
    let mut out = None;
    let mut all_records = false;
    let mut record = None;
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = Some(args.next().ok_or("--out needs a file")?.into()),
            "--record" => record = Some(args.next().ok_or("--record needs a file")?.into()),
            "--all-records" => all_records = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(MirrorArgs {
        out: out.ok_or("--out FILE is required")?,
        all_records,
        record,
    })
}

pub const MIRROR_USAGE: &str = "usage: mirror --out FILE [--all-records] [--record FILE]
environment: UNICAT_URL, UNICAT_PROJECT, UNICAT_API_KEY; RUST_LOG filters the log on stderr
Keeps FILE equal to the synced store; exits cleanly on SIGINT and SIGTERM.
--record FILE writes a replay log of the session (needs the `record` feature), for `replay`.";

/// How long the mirror waits after the last applied change before it writes, so that a
/// catch-up of thousands of records is one write, not thousands.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Sets `flag` on SIGINT and SIGTERM.
pub fn stop_on_signals(
    flag: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGINT, std::sync::Arc::clone(flag))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, std::sync::Arc::clone(flag))?;
    Ok(())
}

/// Prints a line on stdout and flushes it at once, for scripts that read it as it comes.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The demo's ERP: another process changing a record's price `changes` times, 300 ms apart,
/// here a thread calling the dev server's control surface directly. It notes when each change
/// was made, so the demo can say how long the change took to reach the store.
pub struct Erp {
    made: std::sync::mpsc::Receiver<(serde_json::Value, std::time::Instant)>,
    thread: std::thread::JoinHandle<()>,
}

impl Erp {
    pub fn start(control: unicat_devserver::Control, gid: String, changes: usize) -> Erp {
        let (made_tx, made) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            for i in 1..=changes {
                std::thread::sleep(std::time::Duration::from_millis(300));
                let price = serde_json::json!(((10.0 + i as f64 * 1.25) * 100.0).round() / 100.0);
                let at = std::time::Instant::now();
                if control
                    .set_field(&gid, Some("en"), "price", price.clone())
                    .is_err()
                {
                    break;
                }
                let _ = made_tx.send((price, at));
            }
        });
        Erp { made, thread }
    }

    /// When the change that set this price was made, forgetting the changes made before it.
    pub fn made_at(&self, price: &serde_json::Value) -> Option<std::time::Instant> {
        self.made
            .try_iter()
            .find_map(|(sent, at)| (&sent == price).then_some(at))
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

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

/// `feed --lang en --fields artnr,price [--definition article] [--header] --out FILE.csv`.
pub struct FeedArgs {
    pub lang: String,
    pub fields: Vec<String>,
    /// Only the records of the definition of this name.
    pub definition: Option<String>,
    pub header: bool,
    pub out: std::path::PathBuf,
}

/// The command line, refused rather than mangled when an argument is not UTF-8
/// (`std::env::args` would panic).
pub fn utf8_args() -> Result<Vec<String>, String> {
    std::env::args_os()
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("{} is not UTF-8", a.to_string_lossy()))
        })
        .collect()
}

/// The feed's command line, from the process's arguments: `None` after printing the usage
/// for `--help`; the usage and exit code 2 for a bad command line.
pub fn feed_args_or_exit() -> Option<FeedArgs> {
    match utf8_args().and_then(|a| feed_args(a.into_iter())) {
        Ok(a) => Some(a),
        Err(e) if e.is_empty() => {
            say(FEED_USAGE);
            None
        }
        Err(e) => {
            log::error!("{e}");
            say(FEED_USAGE);
            std::process::exit(2);
        }
    }
}

pub fn feed_args(args: impl Iterator<Item = String>) -> Result<FeedArgs, String> {
    // An option's value: present, not empty, and not the next option (`--out --header`).
    fn value(args: &mut impl Iterator<Item = String>, option: &str) -> Result<String, String> {
        match args.next() {
            Some(v) if !v.is_empty() && !v.starts_with("--") => Ok(v),
            _ => Err(format!("{option} needs a value")),
        }
    }
    let (mut lang, mut fields, mut definition, mut header, mut out) =
        (None, None, None, false, None);
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lang" => lang = Some(value(&mut args, "--lang")?),
            "--fields" => {
                let names: Vec<String> = value(&mut args, "--fields")?
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    return Err("--fields needs at least one field name".into());
                }
                fields = Some(names);
            }
            "--definition" => definition = Some(value(&mut args, "--definition")?),
            "--header" => header = true,
            "--out" => out = Some(value(&mut args, "--out")?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(FeedArgs {
        lang: lang.ok_or("--lang is required")?,
        fields: fields.ok_or("--fields is required")?,
        definition,
        header,
        out: out.ok_or("--out FILE is required")?,
    })
}

pub const FEED_USAGE: &str =
    "usage: feed --lang en --fields artnr,price [--definition article] [--header] --out FILE.csv
environment: UNICAT_URL, UNICAT_PROJECT, UNICAT_API_KEY; RUST_LOG filters the log on stderr
Walks the record tree in the SDK's order and writes FILE as CSV (RFC 4180, CRLF), one row per
record: its gid, its definition's name, then the fields' values in that language (a reference
as its gid, empty when what it names does not exist; a list joined by `|`). --definition keeps
the records of that definition only; --header writes `gid,definition,<fields>` first.";

/// One CSV field (RFC 4180): in double quotes, its own doubled, when it holds a comma, a
/// double quote, CR or LF; as it is otherwise.
pub fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// One CSV record: the fields, comma-separated, ended by CRLF.
pub fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A field value as the feed writes it, as the SDK's `record.fields[lang][name].value` is:
/// missing or null as empty, text as is, numbers with their exact digits, booleans as
/// `true`/`false`, a list's items joined by `|`. A record, image or file reference is its gid,
/// or empty when the store does not hold what it names (the SDK resolves these and gives
/// `None` when they do not exist; fetch first, see [`Feed::wanted`]); a fieldpicker and the
/// items of a list keep their gids, as the SDK does not resolve them.
pub fn feed_cell(value: Option<&unicat_core::view::FieldValue<'_>>) -> String {
    use unicat_core::view::{Reference, Typed};
    let Some(value) = value else {
        return String::new();
    };
    match value.typed() {
        Typed::Record(Reference::Missing(_)) | Typed::Asset(Reference::Missing(_)) => String::new(),
        _ => value.to_string(),
    }
}

/// Why a feed failed.
#[derive(Debug)]
pub enum FeedError {
    /// A connection setting is missing from the environment.
    Env(String),
    /// The client failed: building, connecting, walking the tree, fetching.
    Client(unicat_runtime_support::Error),
    /// The output file could not be written.
    Write(std::path::PathBuf, std::io::Error),
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedError::Env(e) => f.write_str(e),
            FeedError::Client(e) => write!(f, "{e}"),
            FeedError::Write(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for FeedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeedError::Env(_) => None,
            FeedError::Client(e) => Some(e),
            FeedError::Write(_, e) => Some(e),
        }
    }
}

impl From<unicat_runtime_support::Error> for FeedError {
    fn from(e: unicat_runtime_support::Error) -> Self {
        FeedError::Client(e)
    }
}

/// The feed being written: rows go to a temporary file beside `--out`, moved into place by
/// [`Feed::finish`], so a failed feed leaves no half file (and any old one as it was).
pub struct Feed<'a> {
    args: &'a FeedArgs,
    file: unicat_runtime_support::files::TempFile,
    buf: Vec<u8>,
    rows: u64,
    /// What [`Feed::wanted`] asked for once: never asked for again.
    asked: unicat_core::view::Wanted,
}

impl<'a> Feed<'a> {
    /// Starts the file, with the header row when asked for.
    pub fn create(args: &'a FeedArgs) -> Result<Feed<'a>, FeedError> {
        let file = unicat_runtime_support::files::TempFile::create(&args.out)
            .map_err(|e| FeedError::Write(args.out.clone(), e))?;
        let mut feed = Feed {
            args,
            file,
            buf: Vec::with_capacity(1 << 16),
            rows: 0,
            asked: unicat_core::view::Wanted::default(),
        };
        if args.header {
            let mut header = vec!["gid".to_string(), "definition".to_string()];
            header.extend(args.fields.iter().cloned());
            feed.buf.extend_from_slice(csv_record(&header).as_bytes());
        }
        Ok(feed)
    }

    /// Warns about a language the project does not have and field names no field has: their
    /// columns stay empty.
    pub fn check(&self, store: &unicat_core::store::Store) {
        let view = store.view();
        if view.language(&self.args.lang).is_none() {
            log::warn!("the project has no language {:?}", self.args.lang);
        }
        for name in &self.args.fields {
            if view.field_by_name(name).is_none() {
                log::warn!("the project has no field named {name:?}");
            }
        }
        if let Some(name) = &self.args.definition {
            if view.definition_by_name(name).is_none() {
                log::warn!("the project has no definition named {name:?}");
            }
        }
    }

    /// Whether the feed writes records of the definition of this name.
    fn selects(&self, definition: &str) -> bool {
        self.args
            .definition
            .as_deref()
            .is_none_or(|d| d == definition)
    }

    /// What the store must hold before `record`'s row is written as the SDK writes it: its
    /// definition, the fields and classes that type its values, and what its record, image
    /// and file references among the feed's fields name (whether that exists decides between
    /// the gid and empty). Lists are not resolved, as in the SDK. Nothing is asked for twice:
    /// fetch what this gives and ask again until it is empty.
    fn wanted(&mut self, record: &unicat_core::view::Record<'_>) -> unicat_core::view::Wanted {
        use unicat_core::view::{Reference, Typed, Wanted};
        let mut wanted = Wanted::default();
        match record.definition() {
            None => {}
            Some(Reference::Missing(gid)) => {
                wanted.definitions.insert(gid.into_owned());
            }
            Some(Reference::Held(d)) => {
                if !self.selects(d.name().as_deref().unwrap_or_default()) {
                    return wanted;
                }
                d.want_schema(&mut wanted);
            }
        }
        for name in &self.args.fields {
            match record.field(&self.args.lang, name).map(|v| v.typed()) {
                Some(Typed::Record(r)) => r.want(&mut wanted),
                Some(Typed::Asset(a)) => a.want(&mut wanted),
                _ => {}
            }
        }
        let mut fresh = unicat_core::view::Wanted::default();
        for (data_type, gid) in wanted.iter() {
            if !self.asked.contains(data_type, gid) {
                self.asked.add(data_type, gid);
                fresh.add(data_type, gid);
            }
        }
        fresh
    }

    /// Writes the row of the record `gid` as `store` holds it, when the store holds all the
    /// row needs; otherwise what to fetch first (each gid is asked for once, so a reference the
    /// server does not know is written empty on the next try). A record gone from the store
    /// (deleted while the walk went on) writes no row.
    pub fn write_or_want(
        &mut self,
        store: &unicat_core::store::Store,
        gid: &str,
    ) -> Result<Option<unicat_core::view::Wanted>, FeedError> {
        let Some(record) = store.view().record(gid) else {
            log::debug!("record {gid} left the store before its row was written");
            return Ok(None);
        };
        let wanted = self.wanted(&record);
        if wanted.is_empty() {
            self.write(&record)?;
            return Ok(None);
        }
        Ok(Some(wanted))
    }

    /// Writes `record`'s row, unless `--definition` leaves it out; whether it did.
    fn write(&mut self, record: &unicat_core::view::Record<'_>) -> Result<bool, FeedError> {
        let definition = record
            .definition()
            .and_then(|d| d.held())
            .and_then(|d| d.name())
            .unwrap_or_default();
        if !self.selects(&definition) {
            return Ok(false);
        }
        let mut row = vec![record.gid().to_string(), definition.into_owned()];
        let values = record.values(&self.args.lang);
        for name in &self.args.fields {
            let value = values.as_ref().and_then(|v| v.field(name));
            row.push(feed_cell(value.as_ref()));
        }
        self.buf.extend_from_slice(csv_record(&row).as_bytes());
        self.rows += 1;
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(true)
    }

    fn flush(&mut self) -> Result<(), FeedError> {
        let result = self.file.file().and_then(|f| f.write_all(&self.buf));
        self.buf.clear();
        result.map_err(|e| FeedError::Write(self.args.out.clone(), e))
    }

    /// Writes what is left and moves the file into place; returns how many rows it has.
    pub fn finish(mut self) -> Result<u64, FeedError> {
        self.flush()?;
        let out = self.args.out.clone();
        self.file.persist().map_err(|e| FeedError::Write(out, e))?;
        Ok(self.rows)
    }
}

/// The first seeded record of the embedded dev server, for the demos.
pub fn first_record(server: &unicat_devserver::DevServer) -> Result<String, String> {
    server
        .control()
        .record_gids(1)
        .into_iter()
        .next()
        .ok_or_else(|| "the dev server holds no record".to_string())
}

//! Deterministic replay of recorded Unicat client sessions.
//!
//! A session recorded by a live runtime (the `record` feature, then `Builder::record(path)`
//! in `unicat-blocking` or `unicat-smol`; or `mirror --record FILE`) is a JSON Lines log whose
//! format, versions and redaction [`unicat_core::record`] describes.
//!
//! # Replaying
//!
//! Replaying feeds every recorded input, timeout and command into a
//! fresh [`Client`] at its recorded time offset, on a virtual clock:
//!
//! * [`Mode::Strict`] compares every output the client produces with the recorded one, in
//!   order, polling the client where the log shows the live driver polled it, and the
//!   store's digest with every recorded `state` line; it stops at the first divergence with
//!   its line number and both values. A field bug becomes a deterministic test, and a log
//!   whose recorded responses were altered does not replay as recorded. (Version 2 logs have
//!   no `state` lines and replay strictly on their outputs alone.)
//! * [`Mode::Lenient`] ignores the recorded outputs and answers the client's HTTP requests
//!   from the recorded responses by request (method, URL without the cache buster, body)
//!   rather than by order, and feeds each recorded WebSocket's messages to the socket opened in
//!   its place, so an old log stays useful after harmless changes to the client.
//!
//! Either mode gives back the final [`Store`]; [`Store::to_json`] writes it in the `mirror`
//! file format. The `replay` binary wraps this:
//! `replay FILE [--lenient] [--store-out FILE]`, exiting non-zero on a divergence.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::BufRead;
use std::time::{Duration, Instant};

use serde_json::Value;
use unicat_core::client::{Client, Event};
use unicat_core::io::{Input, Machine, Output, RequestId, WsId};
use unicat_core::record::{
    digest_text, Header, InputRecord, Line, OutputRecord, FORMAT, OLDEST_VERSION, STRICT_SINCE,
    VERSION,
};
use unicat_core::store::Store;

/// A parsed replay log.
#[derive(Clone, Debug)]
pub struct Log {
    /// The header line.
    pub header: Header,
    /// Every other line, with its line number (1-based, the header is line 1).
    pub lines: Vec<(usize, Line)>,
}

/// How to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every output must equal the recorded one.
    Strict,
    /// Recorded outputs are ignored; HTTP answers are matched by request.
    Lenient,
}

/// Why a replay failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The log could not be read.
    Io(std::io::Error),
    /// A line is not valid.
    Parse {
        /// The line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The log is of another format or version.
    Format(String),
    /// The log was recorded in an older format version, by a library whose outputs differ
    /// from this one's: it replays with [`Mode::Lenient`] only.
    NeedsLenient {
        /// The log's format version.
        version: u32,
    },
    /// The client's state after a step differs from the recorded state, though every output
    /// up to there matched: a response the log holds was not the one recorded, or the client
    /// applies it differently.
    StateDivergence {
        /// The line of the recorded state.
        line: usize,
        /// The recorded digest.
        expected: String,
        /// The replaying client's digest.
        actual: String,
    },
    /// The client produced something other than the recorded output.
    Divergence {
        /// The line of the recorded output (or of the next input when the client produced an
        /// output the log does not have).
        line: usize,
        /// The recorded output, as JSON, or `nothing`.
        expected: String,
        /// The produced output, as JSON, or `nothing`.
        actual: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Io(e) => write!(f, "cannot read the log: {e}"),
            ReplayError::Parse { line, message } => write!(f, "line {line}: {message}"),
            ReplayError::Format(m) => write!(f, "not a replay log this version can read: {m}"),
            ReplayError::NeedsLenient { version } => write!(
                f,
                "this log is format version {version}, recorded by an older library whose \
                 events differ from this one's (reconnects and stops now report their cause); \
                 replay it with --lenient"
            ),
            ReplayError::StateDivergence {
                line,
                expected,
                actual,
            } => write!(
                f,
                "the store parts from the recorded one at line {line}: digest {actual}, \
                 recorded {expected}"
            ),
            ReplayError::Divergence {
                line,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "divergence at line {line}:\n  recorded: {expected}\n  replayed: {actual}"
                )
            }
        }
    }
}

impl std::error::Error for ReplayError {}

impl Log {
    /// Reads a log.
    pub fn parse(reader: impl BufRead) -> Result<Log, ReplayError> {
        let mut lines = reader.lines().enumerate();
        let header_text = match lines.next() {
            Some((_, line)) => line.map_err(ReplayError::Io)?,
            None => return Err(ReplayError::Format("the log is empty".into())),
        };
        let header: Header =
            serde_json::from_str(&header_text).map_err(|e| ReplayError::Parse {
                line: 1,
                message: format!("header: {e}"),
            })?;
        if header.format != FORMAT || !(OLDEST_VERSION..=VERSION).contains(&header.version) {
            return Err(ReplayError::Format(format!(
                "{} version {} (this library reads {FORMAT} versions {OLDEST_VERSION} to {VERSION})",
                header.format, header.version
            )));
        }
        let mut parsed = Vec::new();
        for (i, line) in lines {
            let text = line.map_err(ReplayError::Io)?;
            if text.trim().is_empty() {
                continue;
            }
            let n = i.saturating_add(1);
            let line: Line = serde_json::from_str(&text).map_err(|e| ReplayError::Parse {
                line: n,
                message: e.to_string(),
            })?;
            parsed.push((n, line));
        }
        Ok(Log {
            header,
            lines: parsed,
        })
    }

    /// Reads a log file.
    pub fn open(path: &std::path::Path) -> Result<Log, ReplayError> {
        let file = std::fs::File::open(path).map_err(ReplayError::Io)?;
        Log::parse(std::io::BufReader::new(file))
    }
}

/// What a replay ends with.
#[derive(Debug)]
pub struct Outcome {
    /// The client's store at the end.
    pub store: Store,
    /// Inputs, timeouts and commands fed.
    pub steps: usize,
    /// Outputs produced.
    pub outputs: usize,
    /// Lenient mode: requests that no recorded response answered.
    pub unanswered: usize,
}

fn parse_err(line: usize, message: String) -> ReplayError {
    ReplayError::Parse { line, message }
}

fn at(t0: Instant, at_us: u64) -> Instant {
    t0.checked_add(Duration::from_micros(at_us)).unwrap_or(t0)
}

/// Replays a log into a fresh client.
pub fn replay(log: &Log, mode: Mode) -> Result<Outcome, ReplayError> {
    let config = log
        .header
        .config
        .to_config()
        .map_err(|e| ReplayError::Format(format!("config: {e}")))?;
    if mode == Mode::Strict && log.header.version < STRICT_SINCE {
        return Err(ReplayError::NeedsLenient {
            version: log.header.version,
        });
    }
    let t0 = Instant::now();
    let mut client = Client::new(config, t0);
    if log.header.version >= 3 {
        client.keep_digest();
    }
    match mode {
        Mode::Strict => strict(log, client, t0),
        Mode::Lenient => lenient(log, client, t0),
    }
}

fn strict(log: &Log, mut client: Client, t0: Instant) -> Result<Outcome, ReplayError> {
    let mut steps = 0;
    let mut outputs = 0;
    let as_json =
        |o: &Output<Event>| serde_json::to_value(OutputRecord::new(o)).unwrap_or(Value::Null);
    // Outputs are taken when the log shows the live driver took them, not eagerly after each
    // input: a command runs on the caller's thread, so the driver may feed it and a socket
    // message before it polls, and an output built at poll time sees both. A driver step is
    // `In? Timeout? Out*`, drained to the end; so where a step begins and no command came
    // since the last one, the client must have nothing left to give.
    let mut drained = true;
    let mut previous_was_input = false;
    for (n, line) in &log.lines {
        let n = *n;
        let starts_step = match line {
            Line::In { .. } => true,
            Line::Timeout { .. } => !previous_was_input,
            Line::Cmd { .. } | Line::Out { .. } | Line::State { .. } => false,
        };
        if starts_step && drained {
            if let Some(early) = client.poll_output() {
                return Err(ReplayError::Divergence {
                    line: n,
                    expected: "nothing".into(),
                    actual: as_json(&early).to_string(),
                });
            }
        }
        previous_was_input = matches!(line, Line::In { .. });
        match line {
            Line::In { at_us, input } => {
                let input = input.input().map_err(|e| parse_err(n, e))?;
                client.handle_input(at(t0, *at_us), input);
            }
            Line::Cmd { at_us, cmd } => {
                // A command the recorded client refused is refused again; nothing to compare.
                let _ = client.execute(at(t0, *at_us), cmd.command());
                drained = false;
            }
            Line::Timeout { at_us, .. } => client.handle_timeout(at(t0, *at_us)),
            Line::Out { out } => {
                let expected = serde_json::to_value(out).unwrap_or(Value::Null);
                let actual = client.poll_output().map(|o| as_json(&o));
                match actual {
                    Some(actual) if actual == expected => {}
                    actual => {
                        return Err(ReplayError::Divergence {
                            line: n,
                            expected: expected.to_string(),
                            actual: actual.map_or_else(|| "nothing".into(), |a| a.to_string()),
                        })
                    }
                }
                outputs += 1;
                continue;
            }
            Line::State { state } => {
                let actual = client.store().digest().map(digest_text).unwrap_or_default();
                if actual != *state {
                    return Err(ReplayError::StateDivergence {
                        line: n,
                        expected: state.clone(),
                        actual,
                    });
                }
                continue;
            }
        }
        if starts_step {
            drained = true;
        }
        steps += 1;
    }
    if let Some(extra) = client.poll_output() {
        return Err(ReplayError::Divergence {
            line: log.lines.last().map_or(1, |(n, _)| *n).saturating_add(1),
            expected: "nothing".into(),
            actual: as_json(&extra).to_string(),
        });
    }
    Ok(Outcome {
        store: client.store().clone(),
        steps,
        outputs,
        unanswered: 0,
    })
}

/// The key a request is answered by in lenient mode: method, URL without the polling cache
/// buster, and body.
fn request_key(method: &str, uri: &str, body: &Value) -> String {
    let uri = match uri.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.starts_with("t="))
                .collect();
            format!("{path}?{}", kept.join("&"))
        }
        None => uri.to_string(),
    };
    format!("{method} {uri} {body}")
}

/// What the recorded client asked for: its requests by id (to find the key of each recorded
/// answer), and its sockets and file operations in the order they were opened.
#[derive(Default)]
struct Recorded {
    requests: BTreeMap<u64, String>,
    ws: Vec<u64>,
    files: Vec<u64>,
}

impl Recorded {
    fn of(log: &Log) -> Recorded {
        let mut recorded = Recorded::default();
        for (_, line) in &log.lines {
            let Line::Out { out } = line else { continue };
            match out {
                OutputRecord::Http {
                    id,
                    method,
                    uri,
                    body,
                    ..
                } => {
                    let body = serde_json::to_value(body).unwrap_or(Value::Null);
                    recorded
                        .requests
                        .insert(*id, request_key(method, uri, &body));
                }
                OutputRecord::OpenWs { id, .. } => recorded.ws.push(*id),
                OutputRecord::Stat { id, .. } | OutputRecord::ReadFile { id, .. } => {
                    recorded.files.push(*id);
                }
                _ => {}
            }
        }
        recorded
    }
}

fn lenient(log: &Log, mut client: Client, t0: Instant) -> Result<Outcome, ReplayError> {
    let recorded = Recorded::of(log);
    let mut state = Lenient::default();
    let mut now = t0;
    for (n, line) in &log.lines {
        match line {
            Line::In { at_us, input } => {
                now = now.max(at(t0, *at_us));
                if !state.feed(&mut client, now, (*n, input), &recorded)? {
                    continue;
                }
            }
            Line::Cmd { at_us, cmd } => {
                now = now.max(at(t0, *at_us));
                state.steps += 1;
                let _ = client.execute(now, cmd.command());
            }
            Line::Timeout { at_us, .. } => {
                now = now.max(at(t0, *at_us));
                state.steps += 1;
                client.handle_timeout(now);
            }
            Line::Out { .. } | Line::State { .. } => continue,
        }
        state.drain(&mut client, now, &recorded.ws, &recorded.files);
    }
    Ok(Outcome {
        store: client.store().clone(),
        steps: state.steps,
        outputs: state.outputs,
        unanswered: state.waiting.values().map(VecDeque::len).sum(),
    })
}

#[derive(Default)]
struct Lenient {
    /// The client's requests still without an answer, by key.
    waiting: BTreeMap<String, VecDeque<RequestId>>,
    /// Recorded answers whose request the client has not made (yet), by key.
    spare: BTreeMap<String, VecDeque<InputRecord>>,
    ws_map: BTreeMap<u64, WsId>,
    file_map: BTreeMap<u64, RequestId>,
    next_ws: usize,
    next_file: usize,
    steps: usize,
    outputs: usize,
}

impl Lenient {
    /// Feeds one recorded input, renumbered to the client's own requests; false when it
    /// belongs to nothing the client has opened.
    fn feed(
        &mut self,
        client: &mut Client,
        now: Instant,
        (n, input): (usize, &InputRecord),
        recorded: &Recorded,
    ) -> Result<bool, ReplayError> {
        let mapped = match input {
            // An answer is fed when its recorded time comes, to the request of the same key,
            // so fetches batch as they did; an answer nobody asked for yet waits.
            InputRecord::HttpResponse { id, .. } | InputRecord::HttpFailed { id, .. } => {
                let Some(key) = recorded.requests.get(id) else {
                    return Ok(false);
                };
                match self.waiting.get_mut(key).and_then(VecDeque::pop_front) {
                    Some(request) => {
                        let input = input.input().map_err(|e| parse_err(n, e))?;
                        self.steps += 1;
                        client.handle_input(now, with_request_id(input, request));
                    }
                    None => self
                        .spare
                        .entry(key.clone())
                        .or_default()
                        .push_back(input.clone()),
                }
                return Ok(true);
            }
            InputRecord::WsOpened { id }
            | InputRecord::WsMessage { id, .. }
            | InputRecord::WsClosed { id, .. }
            | InputRecord::WsFailed { id, .. } => self.ws_map.get(id).map(|ws| ws.0),
            InputRecord::Stat { id, .. } | InputRecord::FileRead { id, .. } => {
                self.file_map.get(id).map(|r| r.0)
            }
        };
        let Some(new_id) = mapped else {
            return Ok(false);
        };
        let input = renumber(input.input().map_err(|e| parse_err(n, e))?, new_id);
        self.steps += 1;
        client.handle_input(now, input);
        Ok(true)
    }

    fn drain(
        &mut self,
        client: &mut Client,
        now: Instant,
        recorded_ws: &[u64],
        recorded_files: &[u64],
    ) {
        let mut queue: VecDeque<Output<Event>> =
            std::iter::from_fn(|| client.poll_output()).collect();
        while let Some(o) = queue.pop_front() {
            self.outputs += 1;
            match &o {
                Output::Http { id, .. } => {
                    let OutputRecord::Http {
                        method, uri, body, ..
                    } = OutputRecord::new(&o)
                    else {
                        continue;
                    };
                    let body = serde_json::to_value(body).unwrap_or(Value::Null);
                    let key = request_key(&method, &uri, &body);
                    match self
                        .spare
                        .get_mut(&key)
                        .and_then(VecDeque::pop_front)
                        .map(|a| a.input())
                    {
                        Some(Ok(input)) => {
                            client.handle_input(now, with_request_id(input, *id));
                            queue.extend(std::iter::from_fn(|| client.poll_output()));
                        }
                        _ => self.waiting.entry(key).or_default().push_back(*id),
                    }
                }
                Output::CancelHttp { id } => {
                    for q in self.waiting.values_mut() {
                        q.retain(|r| r != id);
                    }
                }
                Output::OpenWs { id, .. } => {
                    if let Some(rec) = recorded_ws.get(self.next_ws) {
                        self.ws_map.insert(*rec, *id);
                    }
                    self.next_ws += 1;
                }
                Output::Stat { id, .. } | Output::ReadFile { id, .. } => {
                    if let Some(rec) = recorded_files.get(self.next_file) {
                        self.file_map.insert(*rec, *id);
                    }
                    self.next_file += 1;
                }
                _ => {}
            }
        }
    }
}

fn with_request_id(input: Input, id: RequestId) -> Input {
    match input {
        Input::HttpResponse { response, .. } => Input::HttpResponse { id, response },
        Input::HttpFailed { error, .. } => Input::HttpFailed { id, error },
        other => other,
    }
}

fn renumber(input: Input, id: u64) -> Input {
    match input {
        Input::WsOpened { .. } => Input::WsOpened { id: WsId(id) },
        Input::WsMessage { frame, .. } => Input::WsMessage {
            id: WsId(id),
            frame,
        },
        Input::WsClosed { code, .. } => Input::WsClosed { id: WsId(id), code },
        Input::WsFailed { error, .. } => Input::WsFailed {
            id: WsId(id),
            error,
        },
        Input::Stat { info, .. } => Input::Stat {
            id: RequestId(id),
            info,
        },
        Input::FileRead { result, .. } => Input::FileRead {
            id: RequestId(id),
            result,
        },
        other => other,
    }
}

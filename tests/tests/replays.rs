//! Recording and replay: the golden logs replay strictly, a freshly recorded session replays
//! to the same store, and a redacted log holds no secret yet still replays.

use std::time::Duration;

use serde_json::json;
use unicat_blocking::UnicatApi;
use unicat_devserver::{DevConfig, DevServer};
use unicat_replay::{replay, Log, Mode, ReplayError};
use unicat_tests::golden;

#[test]
fn golden_logs_replay_strictly() {
    let dir = golden::dir();
    if std::env::var_os("UPDATE_REPLAYS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for name in golden::SESSIONS {
            golden::record(name, &dir.join(format!("{name}.jsonl")));
        }
    }
    for name in golden::SESSIONS {
        let path = dir.join(format!("{name}.jsonl"));
        let log = Log::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let strict = replay(&log, Mode::Strict).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            strict.outputs > 10,
            "{name}: only {} outputs",
            strict.outputs
        );
        let lenient = replay(&log, Mode::Lenient).unwrap();
        assert_eq!(lenient.unanswered, 0, "{name}");
        assert_eq!(
            lenient.store.to_json(),
            strict.store.to_json(),
            "{name}: lenient and strict disagree"
        );
    }
}

#[test]
fn a_log_of_the_previous_format_replays_leniently_and_says_so_when_strict() {
    // The ERP burst as the previous release recorded it (format 1), beside today's recording
    // of the same session.
    let old = Log::open(&golden::dir().join("v1/erp_burst.jsonl")).unwrap();
    assert_eq!(old.header.version, 1);
    match replay(&old, Mode::Strict) {
        Err(e @ ReplayError::NeedsLenient { version: 1 }) => {
            assert!(e.to_string().contains("--lenient"), "{e}")
        }
        other => panic!("not refused clearly: {other:?}"),
    }
    let lenient = replay(&old, Mode::Lenient).unwrap();
    assert_eq!(lenient.unanswered, 0);
    let new = Log::open(&golden::dir().join("erp_burst.jsonl")).unwrap();
    let strict = replay(&new, Mode::Strict).unwrap();
    assert_eq!(lenient.store.to_json(), strict.store.to_json());
}

#[test]
fn logs_of_the_previous_format_replay_strictly_without_state_checks() {
    for name in golden::SESSIONS {
        let path = golden::dir().join(format!("v2/{name}.jsonl"));
        let log = Log::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(log.header.version, 2);
        let strict = replay(&log, Mode::Strict).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(strict.outputs > 10, "{name}");
        assert_eq!(strict.store.digest(), None, "{name}: no digest is kept");
    }
}

#[test]
fn a_response_altered_in_the_log_is_caught_by_its_state() {
    // Eight bytes of a recorded response body overwritten: a record's price. Every output
    // still matches (no request or event names a price), so only the state lines can tell.
    let text = std::fs::read_to_string(golden::dir().join("erp_burst.jsonl")).unwrap();
    let (at, _) = text
        .match_indices("0.24000000000000002")
        .next()
        .expect("the seeded price of A-00002");
    let altered_line = text[..at].lines().count();
    let mut tampered = text.clone();
    tampered.replace_range(at..at + 8, "0.999999");
    let log = Log::parse(tampered.as_bytes()).unwrap();
    match replay(&log, Mode::Strict) {
        Err(e @ ReplayError::StateDivergence { line, .. }) => {
            assert!(line > altered_line, "{e}");
            let state_line = tampered.lines().nth(line - 1).unwrap();
            assert!(state_line.starts_with(r#"{"state":"#), "{state_line}");
            // The first state line after the altered input.
            let between = &tampered.lines().collect::<Vec<_>>()[altered_line..line - 1];
            assert!(
                between.iter().all(|l| !l.starts_with(r#"{"state":"#)),
                "not the first state after the change: {e}"
            );
        }
        other => panic!("the altered log replayed: {other:?}"),
    }
    // The untouched log replays to the end.
    replay(&Log::parse(text.as_bytes()).unwrap(), Mode::Strict).unwrap();
}

#[test]
fn a_recorded_session_replays_strictly_to_the_same_store() {
    let server = DevServer::start(DevConfig {
        records: 50,
        ..DevConfig::default()
    })
    .unwrap();
    let path = std::env::temp_dir().join(format!("unicat-replay-{}.jsonl", std::process::id()));
    let live = {
        let api = UnicatApi::builder(server.url(), server.project())
            .keep_api_key(true)
            .record(&path)
            .build()
            .unwrap();
        api.connect(server.api_key()).unwrap();
        api.load_all_records().unwrap();
        api.wait_caught_up(Duration::from_secs(20)).unwrap();
        server.control().change_records(30, Some("price")).unwrap();
        server.control().drop_transports();
        server.control().change_records(30, Some("stock")).unwrap();
        golden::converge(&api, &server);
        let store = api.store().to_json();
        api.close();
        store
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(server.api_key()),
        "the API key is in the log"
    );
    for jwt in server.control().issued_jwts() {
        assert!(!text.contains(&jwt), "a JWT is in the log");
    }
    assert!(text.contains("REDACTED-API-KEY") && text.contains("REDACTED-JWT-1"));

    let log = Log::open(&path).unwrap();
    let outcome = replay(&log, Mode::Strict).unwrap();
    assert_eq!(
        outcome.store.to_json(),
        live,
        "the replayed store differs from the live one"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_divergence_names_its_line_and_both_values() {
    let log_text = std::fs::read_to_string(golden::dir().join("quiet.jsonl")).unwrap();
    // Change the recorded URL of the first request: the client will produce the real one.
    let tampered = log_text.replacen("/api/p/", "/api/q/", 1);
    let log = Log::parse(tampered.as_bytes()).unwrap();
    match replay(&log, Mode::Strict) {
        Err(ReplayError::Divergence {
            line,
            expected,
            actual,
        }) => {
            assert!(line > 1);
            assert!(expected.contains("/api/q/"), "{expected}");
            assert!(actual.contains("/api/p/"), "{actual}");
        }
        other => panic!("no divergence: {other:?}"),
    }
    let _ = json!(null);
}

#[test]
fn an_output_made_earlier_than_recorded_is_a_divergence() {
    let text = std::fs::read_to_string(golden::dir().join("quiet.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // An input, its one output, and the next input: record the output after that input, as
    // if the live client had made it one step later.
    let is = |l: &str, kind: &str| l.starts_with(&format!("{{\"{kind}\""));
    let i = (1..lines.len() - 2)
        .find(|&i| {
            is(lines[i], "at_us")
                && lines[i].contains("\"in\"")
                && is(lines[i + 1], "out")
                && lines[i + 2].contains("\"in\"")
        })
        .expect("an input with one output followed by an input");
    lines.swap(i + 1, i + 2);
    let log = Log::parse(lines.join("\n").as_bytes()).unwrap();
    match replay(&log, Mode::Strict) {
        Err(ReplayError::Divergence { line, expected, .. }) => {
            assert_eq!(line, i + 2, "1-based: the moved input's line");
            assert_eq!(expected, "nothing");
        }
        other => panic!("no divergence: {other:?}"),
    }
}

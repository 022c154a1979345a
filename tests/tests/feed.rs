//! The `feed` examples of both runtimes, run as a user runs them against the dev server, write
//! what the official Python SDK reads (`tests/peers/feed_sdk.py`): the same rows in the same
//! order, numbers compared as numbers, and both runtimes the same bytes. The CSV is read back
//! by a reader of its own here, and must be RFC 4180 with CRLF, quoted only where needed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::Value;
use unicat_devserver::{DevConfig, DevServer};
use unicat_tests::examples::example;
use unicat_tests::peers::{python, repo_root};

#[path = "../../runtimes/examples/common.rs"]
mod common;

/// How long one run of an example or of the SDK may take.
const DEADLINE: Duration = Duration::from_secs(120);

/// The fields of every type `plant_field_types` plants, as the feed lists them.
const FIELD_TYPES: &str = "t_text,t_textline,t_textlist,t_number,t_decimal,t_boolean,t_record,\
                           t_recordlist,t_image,t_file,t_fieldpicker,t_code,t_barcode";

/// A folder of its own for a test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("unicat-feed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed when dropped (a test that fails mid-run leaves none behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with `args` and the server's connection settings (none without a server),
/// within [`DEADLINE`]; returns its exit status and stderr, and panics when it runs out of
/// time.
fn run_for(
    name: &str,
    program: &Path,
    args: &[OsString],
    server: Option<&DevServer>,
    dir: &Path,
) -> (ExitStatus, String) {
    let err = dir.join(format!("{}.stderr", name.replace([' ', '/'], "-")));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err).unwrap());
    match server {
        Some(s) => cmd
            .env("UNICAT_URL", s.url())
            .env("UNICAT_PROJECT", s.project())
            .env("UNICAT_API_KEY", s.api_key()),
        None => cmd
            .env_remove("UNICAT_URL")
            .env_remove("UNICAT_PROJECT")
            .env_remove("UNICAT_API_KEY"),
    };
    let mut child = Running(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("{name}: {} did not start: {e}", program.display())),
    );
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(child);
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("{name} did not finish within {DEADLINE:?}:\n{log}"));
    (status, log)
}

/// [`run_for`], which must succeed.
fn run(name: &str, program: &Path, args: &[OsString], server: &DevServer, dir: &Path) {
    let (status, log) = run_for(name, program, args, Some(server), dir);
    assert!(status.success(), "{name} failed ({status}):\n{log}");
}

/// Reads RFC 4180 CSV whose every row ends with CRLF; panics on anything else (a quote in
/// an unquoted field, a bare CR or LF outside quotes, a missing final CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => panic!("a quoted field is not closed: {field:?}"),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !matches!(c, ',' | '\r' | '\n')) {
                assert_ne!(c, '"', "a quote in an unquoted field: {field:?}");
                field.push(c);
            }
        }
        row.push(field);
        match chars.next() {
            Some(',') => assert!(chars.peek().is_some(), "a comma ends the file"),
            Some('\r') => {
                assert_eq!(chars.next(), Some('\n'), "a CR without LF after {row:?}");
                rows.push(std::mem::take(&mut row));
            }
            other => panic!("{other:?} after the field in {row:?}"),
        }
    }
    rows
}

/// Writes rows as the feed must: quoted only where a field holds a comma, a quote, CR or
/// LF, quotes doubled, CRLF after each row.
fn write_csv(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|f| {
                if f.contains([',', '"', '\r', '\n']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Our rows against the SDK's: texts equal, numbers equal as `f64`.
fn assert_same_rows(case: &str, ours: &[Vec<String>], sdk: &[Vec<Value>]) {
    for (i, (o, s)) in ours.iter().zip(sdk).enumerate() {
        assert_eq!(
            o.len(),
            s.len(),
            "{case}: row {i} has {o:?}, the SDK's {s:?}"
        );
        for (j, (ours, theirs)) in o.iter().zip(s).enumerate() {
            let same = match theirs {
                Value::String(t) => ours == t,
                Value::Number(n) => ours.parse::<f64>().ok() == n.as_f64(),
                other => panic!("{case}: row {i} column {j}: the SDK gave {other}"),
            };
            assert!(
                same,
                "{case}: row {i} ({}) column {j}: ours {ours:?}, the SDK's {theirs}",
                o[0]
            );
        }
    }
    assert_eq!(ours.len(), sdk.len(), "{case}: the number of rows");
}

/// Runs `feed`, `smol_feed` and the SDK with `args` (each with its own `--out`); checks that
/// both runtimes wrote the same bytes, that they are RFC 4180 with CRLF, and that their rows
/// are the SDK's. Returns the rows.
fn feed_everywhere(server: &DevServer, dir: &Path, case: &str, args: &[&str]) -> Vec<Vec<String>> {
    let with_out = |out: &Path| -> Vec<OsString> {
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        all.extend([OsString::from("--out"), out.into()]);
        all
    };
    let blocking = dir.join(format!("{case}-feed.csv"));
    let smol = dir.join(format!("{case}-smol_feed.csv"));
    let sdk = dir.join(format!("{case}-sdk.jsonl"));
    let script = vec![repo_root().join("tests/peers/feed_sdk.py").into_os_string()];
    for (name, program, first, out) in [
        ("feed", example("feed"), vec![], &blocking),
        ("smol_feed", example("smol_feed"), vec![], &smol),
        ("feed_sdk.py", python(), script, &sdk),
    ] {
        let args = [first, with_out(out)].concat();
        run(&format!("{name} {case}"), &program, &args, server, dir);
    }

    let text = std::fs::read(&blocking).unwrap();
    assert!(
        text == std::fs::read(&smol).unwrap(),
        "{case}: feed and smol_feed wrote different files"
    );
    let text = String::from_utf8(text).expect("the feed is UTF-8");
    let rows = parse_csv(&text);
    assert_eq!(
        write_csv(&rows),
        text,
        "{case}: quoted only where needed, CRLF line ends"
    );
    let sdk: Vec<Vec<Value>> = std::fs::read_to_string(&sdk)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_same_rows(case, &rows, &sdk);
    rows
}

#[test]
fn the_feed_of_a_thousand_records_is_the_sdks() {
    let server = DevServer::start(DevConfig {
        records: 1_000,
        ..DevConfig::default()
    })
    .unwrap();
    let dir = TempDir::new("seeded");
    let fields = ["--fields", "artnr,price,stock", "--header"];

    let en = feed_everywhere(
        &server,
        &dir.0,
        "en",
        &[&["--lang", "en"][..], &fields].concat(),
    );
    assert_eq!(en[0], ["gid", "definition", "artnr", "price", "stock"]);
    assert_eq!(
        en.len(),
        1 + 1 + 1_000,
        "the header, the root and its articles"
    );
    assert_eq!(en[1][1], "catalog");
    assert_eq!(en[1][2..], ["", "", ""], "the root has no values");
    assert_eq!(en[2][1..], ["article", "A-00001", "12.5", "3"]);
    assert_eq!(en[3][3], "0.24000000000000002", "the price's exact digits");

    let args = [&["--lang", "en", "--definition", "article"][..], &fields].concat();
    let articles = feed_everywhere(&server, &dir.0, "article", &args);
    assert_eq!(articles[1..], en[2..], "the articles only");

    let nl = feed_everywhere(
        &server,
        &dir.0,
        "nl",
        &[&["--lang", "nl"][..], &fields].concat(),
    );
    assert_eq!(nl.len(), en.len());
}

/// The text of the JSON value at `path` in `json`, as it is written there.
fn raw_at<'a>(json: &'a str, path: &[&str]) -> &'a str {
    path.iter().fold(json, |text, key| {
        let members: BTreeMap<String, &RawValue> = serde_json::from_str(text).unwrap();
        members
            .get(*key)
            .unwrap_or_else(|| panic!("no {key}"))
            .get()
    })
}

#[test]
fn the_feed_of_every_field_type_is_the_sdks() {
    let server = DevServer::start(DevConfig {
        records: 10,
        ..DevConfig::default()
    })
    .unwrap();
    let control = server.control();
    let planted = control.plant_field_types().unwrap();
    let record = planted["record"].as_str().unwrap();
    // `nl`'s record reference names the second article: gone, the SDK resolves it to None.
    let gone = planted["records"][1].as_str().unwrap();
    control.delete_record(gone).unwrap();
    let state = control.state_json();
    let dir = TempDir::new("types");

    for lang in ["en", "nl"] {
        let args = ["--lang", lang, "--fields", FIELD_TYPES, "--header"];
        let rows = feed_everywhere(&server, &dir.0, lang, &args);
        let header = &rows[0];
        let row = rows
            .iter()
            .find(|r| r[0] == record)
            .expect("the planted record's row");
        let cell = |name: &str| {
            let at = header.iter().position(|h| h == name).unwrap();
            row[at].as_str()
        };
        // More digits than an f64 holds: the exact digits of the record's JSON text.
        let digits = raw_at(
            &state,
            &["data", "records", record, "fields", lang, "t_decimal"],
        );
        assert_eq!(cell("t_decimal"), digits, "{lang}: t_decimal");
        let first = planted["records"][0].as_str().unwrap();
        let missing = planted["missing_record"].as_str().unwrap();
        assert_eq!(
            cell("t_recordlist"),
            format!("{first}|{missing}"),
            "lists keep gids"
        );
        if lang == "en" {
            assert_eq!(digits, "12345678901234567.891");
            assert_eq!(cell("t_record"), first);
            assert_eq!(cell("t_code"), "width, \"depth\"\nheight");
        } else {
            assert_eq!(cell("t_record"), "", "a reference to a record that is gone");
            assert_eq!(cell("t_boolean"), "");
            assert_eq!(cell("t_barcode"), "");
        }
    }
}

#[test]
fn the_feed_command_line_is_checked() {
    let parse = |line: &str| {
        let words = line.split_whitespace().map(str::to_string);
        common::feed_args(std::iter::once("feed".to_string()).chain(words))
    };
    let args =
        parse("--lang nl --fields artnr,,price --definition article --header --out f.csv").unwrap();
    assert_eq!(args.lang, "nl");
    assert_eq!(args.fields, ["artnr", "price"]);
    assert_eq!(args.definition.as_deref(), Some("article"));
    assert!(args.header);
    assert_eq!(args.out, Path::new("f.csv"));
    for (line, error) in [
        ("--fields a --out f", "--lang is required"),
        ("--lang en --out f", "--fields is required"),
        ("--lang en --fields a", "--out FILE is required"),
        ("--lang --fields a --out f", "--lang needs a value"),
        (
            "--lang en --fields , --out f",
            "--fields needs at least one field name",
        ),
        ("--lang en --fields a --out", "--out needs a value"),
        ("--lang en --fields a --out f x", "unknown argument x"),
        ("--help", ""),
    ] {
        assert_eq!(parse(line).err().as_deref(), Some(error), "{line}");
    }
}

#[test]
fn csv_quotes_only_what_needs_it() {
    let row = ["a", "b,c", "say \"hi\"", "x\ny", "cr\r", "", "p|q"];
    let line = common::csv_record(&row);
    assert_eq!(
        line,
        "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\",\"cr\r\",,p|q\r\n"
    );
    assert_eq!(parse_csv(&line), [row]);
}

/// A run that must fail: its name, its arguments, the server (none: no settings in the
/// environment), the exit code, and what the log says.
type Refusal<'a> = (&'a str, Vec<OsString>, Option<&'a DevServer>, i32, &'a str);

/// Bad input ends a feed with an error in the log and a non-zero exit, never a panic, and
/// leaves no file behind.
#[test]
fn the_feed_examples_refuse_bad_input() {
    let server = DevServer::start(DevConfig {
        records: 3,
        ..DevConfig::default()
    })
    .unwrap();
    let dir = TempDir::new("refused");
    let blocker = dir.0.join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let good = |out: &Path| -> Vec<OsString> {
        ["--lang", "en", "--fields", "artnr", "--out"]
            .map(OsString::from)
            .into_iter()
            .chain([out.into()])
            .collect()
    };
    for name in ["feed", "smol_feed"] {
        let program = example(name);
        let cases: [Refusal<'_>; 3] = [
            (
                "usage",
                vec!["--lang".into()],
                Some(&server),
                2,
                "--lang needs a value",
            ),
            (
                "env",
                good(&dir.0.join("x.csv")),
                None,
                1,
                "UNICAT_URL is not set",
            ),
            (
                "file",
                good(&blocker.join("x.csv")),
                Some(&server),
                1,
                "a-file/x.csv",
            ),
        ];
        for (case, args, server, code, error) in cases {
            let what = format!("{name} {case}");
            let (status, log) = run_for(&what, &program, &args, server, &dir.0);
            assert_eq!(status.code(), Some(code), "{what}:\n{log}");
            assert!(log.contains(error), "{what}: {error:?} is not in\n{log}");
            assert!(!log.contains("panicked"), "{what}:\n{log}");
        }
        assert!(!dir.0.join("x.csv").exists());
    }
}

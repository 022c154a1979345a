//! `replay FILE [--lenient] [--store-out FILE]`: replays a recorded Unicat client session.

use std::io::Write;
use std::process::ExitCode;

use unicat_replay::{replay, Log, Mode};

const USAGE: &str = "usage: replay FILE [--lenient] [--store-out FILE]

Replays a session recorded by unicat-blocking or unicat-smol (the `record` feature) into a
fresh client on a virtual clock.

  --lenient         answer HTTP requests from the log by request instead of comparing every
                    output with the recorded one (for logs older than the client)
  --store-out FILE  write the final store in the mirror format

Exit status: 0 when the replay matched, 1 on a divergence, 2 on bad arguments or a bad log.";

fn say(out: &mut impl Write, text: &str) {
    let _ = writeln!(out, "{text}");
}

fn main() -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut file = None;
    let mut store_out = None;
    let mut mode = Mode::Strict;
    // Arguments are read as the OS gives them: a log's path need not be UTF-8.
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("-h" | "--help") => {
                say(&mut stdout, USAGE);
                return ExitCode::SUCCESS;
            }
            Some("--lenient") => mode = Mode::Lenient,
            Some("--store-out") => match args.next() {
                Some(f) => store_out = Some(std::path::PathBuf::from(f)),
                None => {
                    say(&mut stderr, "--store-out needs a file");
                    return ExitCode::from(2);
                }
            },
            Some(other) if other.starts_with('-') => {
                say(&mut stderr, &format!("unknown option {other}\n\n{USAGE}"));
                return ExitCode::from(2);
            }
            _ => file = Some(std::path::PathBuf::from(a)),
        }
    }
    let Some(file) = file else {
        say(&mut stderr, USAGE);
        return ExitCode::from(2);
    };
    let log = match Log::open(&file) {
        Ok(l) => l,
        Err(e) => {
            say(&mut stderr, &format!("{}: {e}", file.display()));
            return ExitCode::from(2);
        }
    };
    match replay(&log, mode) {
        Ok(outcome) => {
            say(
                &mut stdout,
                &format!(
                    "{}: replayed {} steps, {} outputs{}; cursors {}/{}",
                    file.display(),
                    outcome.steps,
                    outcome.outputs,
                    if mode == Mode::Lenient {
                        format!(", {} requests unanswered", outcome.unanswered)
                    } else {
                        ", all as recorded".into()
                    },
                    outcome.store.cc_cursor(),
                    outcome.store.cursor()
                ),
            );
            if let Some(out) = store_out {
                if let Err(e) = std::fs::write(&out, outcome.store.to_json()) {
                    say(&mut stderr, &format!("{}: {e}", out.display()));
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&mut stderr, &format!("{}: {e}", file.display()));
            ExitCode::from(match e {
                unicat_replay::ReplayError::Divergence { .. } => 1,
                _ => 2,
            })
        }
    }
}

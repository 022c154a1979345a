//! `mirror --out FILE [--all-records] [--record FILE]`: keeps FILE equal to the synced store, as
//! `{"cc.version", "cc.cursor", "cursor", "data": {<map>: {<key>: object}}}`, rewritten
//! atomically once a burst of changes settles. Reads `UNICAT_URL`, `UNICAT_PROJECT` and
//! `UNICAT_API_KEY`; logs to stderr through `RUST_LOG`; exits cleanly on SIGINT and SIGTERM.

#[path = "../../examples/common.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use unicat_blocking::UnicatApi;
use unicat_core::client::Event;

fn main() {
    common::init_logging();
    let args = match common::utf8_args().and_then(|a| common::mirror_args(a.into_iter())) {
        Ok(a) => a,
        Err(e) => {
            log::error!("{e}");
            common::say(common::MIRROR_USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

fn run(args: &common::MirrorArgs) -> Result<(), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    common::stop_on_signals(&stop)?;
    let env = common::Env::read()?;
    #[allow(unused_mut)]
    let mut builder = UnicatApi::builder(&env.url, &env.project).keep_api_key(true);
    if let Some(path) = &args.record {
        #[cfg(feature = "record")]
        {
            builder = builder.record(path);
        }
        #[cfg(not(feature = "record"))]
        return Err(format!(
            "--record {}: this build has no `record` feature",
            path.display()
        )
        .into());
    }
    let api = builder.build()?;
    api.connect(&env.api_key)?;
    if args.all_records {
        let loaded = api.load_all_records()?;
        log::info!("loaded {} records", loaded["records"]);
    }
    let write = |api: &UnicatApi| -> std::io::Result<()> {
        let json = api.store().to_json();
        // Atomic: a temporary file nobody can plant, synced, renamed, the folder synced.
        unicat_runtime_support::files::write_atomically(&args.out, json.as_bytes())
    };
    write(&api)?;
    let mut dirty_since: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        // Wake at least every 100 ms to notice the signals.
        let wait = match dirty_since {
            Some(t) => (t + common::SETTLE).saturating_duration_since(Instant::now()),
            None => Duration::from_millis(100),
        };
        match api.next_event(wait.min(Duration::from_millis(100))) {
            Some(
                Event::Changed { .. }
                | Event::StoreReset
                | Event::VersionChanged { .. }
                | Event::CaughtUp { .. },
            ) => {
                dirty_since = Some(Instant::now());
            }
            Some(other) => log::info!("{other:?}"),
            None => {}
        }
        if dirty_since.is_some_and(|t| t.elapsed() >= common::SETTLE) {
            write(&api)?;
            dirty_since = None;
        }
    }
    write(&api)?;
    api.close();
    Ok(())
}

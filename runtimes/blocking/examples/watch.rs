//! `watch <record-gid> [--lang en] [--fields artnr,price]`: prints the record's fields,
//! space-separated, once, then again each time one of them changes. Reads `UNICAT_URL`,
//! `UNICAT_PROJECT` and `UNICAT_API_KEY`; logs to stderr through `RUST_LOG`.

#[path = "../../examples/common.rs"]
mod common;

use std::time::Duration;

use serde_json::json;
use unicat_blocking::UnicatApi;
use unicat_core::client::Event;

fn main() {
    common::init_logging();
    let args = match common::utf8_args().and_then(|a| common::watch_args(a.into_iter())) {
        Ok(a) => a,
        Err(e) => {
            log::error!("{e}");
            common::say(common::WATCH_USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

fn run(args: &common::WatchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let env = common::Env::read()?;
    let api = UnicatApi::builder(&env.url, &env.project)
        .keep_api_key(true)
        .build()?;
    api.connect(&env.api_key)?;
    api.call("/records/get", json!({"record": args.record}))?;
    let line = |api: &UnicatApi| {
        let store = api.store();
        common::field_line(
            store.record(&args.record).map(|r| r.to_value()).as_ref(),
            &args.lang,
            &args.fields,
        )
    };
    let mut last = line(&api);
    common::say(&last);
    loop {
        let Some(event) = api.next_event(Duration::from_secs(3600)) else {
            continue;
        };
        match &event {
            Event::Changed { key, .. } if *key != args.record => continue,
            Event::Changed { .. } | Event::StoreReset | Event::CaughtUp { .. } => {}
            other => {
                log::info!("{other:?}");
                continue;
            }
        }
        let now = line(&api);
        if now != last {
            common::say(&now);
            last = now;
        }
    }
}

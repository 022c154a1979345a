//! `watch <record-gid> [--lang en] [--fields artnr,price]`: prints the record's fields,
//! space-separated, once, then again each time one of them changes. Reads `UNICAT_URL`,
//! `UNICAT_PROJECT` and `UNICAT_API_KEY`; logs to stderr through `RUST_LOG`. The same
//! command line as the blocking runtime's `watch`; run it as `smol_watch`.

#[path = "../../examples/common.rs"]
mod common;

use futures_lite::StreamExt;
use serde_json::json;
use unicat_core::client::Event;
use unicat_smol::UnicatApi;

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
    if let Err(e) = unicat_smol::block_on(run(&args)) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

async fn run(args: &common::WatchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let env = common::Env::read()?;
    let api = UnicatApi::builder(&env.url, &env.project)
        .keep_api_key(true)
        .build()?;
    api.connect(&env.api_key).await?;
    api.call("/records/get", json!({"record": args.record}))
        .await?;
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
    let mut events = api.events();
    while let Some(event) = events.next().await {
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
    Ok(())
}

//! `smol_demo`: starts the embedded dev server in-process, connects, watches a record while a
//! simulated ERP changes its price a few times, prints each change with how long it took to
//! arrive, and exits. No Unicat account needed. The same program as the blocking runtime's
//! `demo`, on the async client.

#[path = "../../examples/common.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use unicat_core::client::Event;
use unicat_devserver::{DevConfig, DevServer};
use unicat_smol::UnicatApi;

const CHANGES: usize = 5;

fn main() {
    common::init_logging();
    if let Err(e) = unicat_smol::block_on(run()) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::start(DevConfig {
        records: 1000,
        ..DevConfig::default()
    })?;
    common::say(&format!(
        "dev server at {} (project {})",
        server.url(),
        server.project()
    ));

    let api = UnicatApi::builder(server.url(), server.project())
        .keep_api_key(true)
        .build()?;
    let started = Instant::now();
    api.connect(server.api_key()).await?;
    api.wait_caught_up(Duration::from_secs(10)).await?;
    common::say(&format!(
        "connected and caught up in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    ));

    let gid = common::first_record(&server)?;
    api.call("/records/get", json!({"record": gid})).await?;
    let fields = ["artnr".to_string(), "price".to_string()];
    let show = |api: &UnicatApi| {
        common::field_line(
            api.store().record(&gid).map(|r| r.to_value()).as_ref(),
            "en",
            &fields,
        )
    };
    common::say(&format!("watching record {gid}: {}", show(&api)));

    let erp = common::Erp::start(server.control().clone(), gid.clone(), CHANGES);

    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < CHANGES && Instant::now() < deadline {
        let Some(Event::Changed { key, .. }) = api.next_event(Duration::from_millis(200)).await
        else {
            continue;
        };
        if key != gid {
            continue;
        }
        let arrived = Instant::now();
        let price = api
            .store()
            .record(&gid)
            .and_then(|r| r.pointer("/fields/en/price"));
        let Some(price) = price else { continue };
        if let Some(at) = erp.made_at(&price) {
            seen += 1;
            common::say(&format!(
                "change {seen}: price is now {price}, seen {:.2} ms after the ERP wrote it: {}",
                (arrived - at).as_secs_f64() * 1e3,
                show(&api)
            ));
        }
    }
    erp.join();
    api.close().await;
    if seen < CHANGES {
        return Err(format!("only {seen} of {CHANGES} changes arrived").into());
    }
    common::say("done");
    Ok(())
}

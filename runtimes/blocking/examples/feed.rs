//! `feed --lang en --fields artnr,price [--definition article] [--header] --out FILE.csv`:
//! walks the record tree in the SDK's order and writes FILE as CSV (RFC 4180), one row per
//! record: its gid, its definition's name, then the fields' values in that language. Reads
//! `UNICAT_URL`, `UNICAT_PROJECT` and `UNICAT_API_KEY`; logs to stderr through `RUST_LOG`.

#[path = "../../examples/common.rs"]
mod common;

use common::FeedError;
use unicat_blocking::UnicatApi;
use unicat_core::view::{Held, Records};

fn main() {
    common::init_logging();
    let Some(args) = common::feed_args_or_exit() else {
        return;
    };
    if let Err(e) = run(&args) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

fn run(args: &common::FeedArgs) -> Result<(), FeedError> {
    let env = common::Env::read().map_err(FeedError::Env)?;
    let api = UnicatApi::builder(&env.url, &env.project)
        .keep_api_key(true)
        .build()?;
    api.connect(&env.api_key)?;
    let written = feed(&api, args);
    api.close();
    let rows = written?;
    log::info!("wrote {rows} rows to {}", args.out.display());
    Ok(())
}

/// Walks the tree and writes each record's row.
fn feed(api: &UnicatApi, args: &common::FeedArgs) -> Result<u64, FeedError> {
    let mut feed = common::Feed::create(args)?;
    feed.check(&api.store());
    for item in api.walk_record_tree(None, None) {
        match item {
            Ok(held) => write(api, &mut feed, &held)?,
            // The walk goes on after a record the server listed but did not send.
            Err(e) if e.is_not_held() => log::warn!("{e}"),
            Err(e) => return Err(e.into()),
        }
    }
    feed.finish()
}

/// Writes a record's row, after fetching what the row needs that the store does not hold
/// (its definition, then the fields that type its values, then the records and assets its
/// listed fields refer to): the SDK writes a reference it cannot fetch as empty.
fn write(
    api: &UnicatApi,
    feed: &mut common::Feed<'_>,
    held: &Held<Records>,
) -> Result<(), FeedError> {
    // The walk's item reads the snapshot of its page; each fetch makes a newer one.
    let mut store = held.store().clone();
    while let Some(wanted) = feed.write_or_want(&store, held.key())? {
        let gone = api.get_wanted(&wanted)?;
        if !gone.is_empty() {
            log::debug!("not on the server, written as missing: {gone:?}");
        }
        store = api.store();
    }
    Ok(())
}

//! Fidelity of the read side: the official Python SDK `unicat`, unmodified, walks the dev
//! server's record tree, asset tree, saved record/asset/schema queries (`/…/bulk/get` paged
//! with `page.cursor`) and modules, reads a record with a field of every type, and learns of
//! planted schema and queries through its own `sync()` (`peers/sdk_walk.py`).
//!
//! The SDK lives in `.peers/venv` (created by `scripts/install-peers` when missing).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn the_official_sdk_walks_trees_queries_and_modules() {
    let server = server(120);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/sdk_walk.py");
    let run = run_python(
        &script,
        &[server.url(), server.project(), server.api_key()],
        Duration::from_secs(120),
    );
    let summary = run.summary();
    assert_eq!(summary["ok"], true);
    // root + 120 articles + a catalog of 150 + its children + the empty-page record + the
    // record with every field type.
    assert_eq!(summary["tree"], 1 + 120 + 1 + 150 + 1 + 1);
    // Stock is (3 i) % 50: zero for i = 50 and 100 among 1..=120 and 1..=150 each.
    assert_eq!(summary["in_stock"], (120 - 2) + (150 - 3));
    assert_eq!(summary["modules"], json!(["erp-connector"]));
    assert_eq!(summary["prices"], json!([["UnicatField", "price"]]));
    assert_eq!(summary["t_code"], "width, \"depth\"\nheight");
    let c = server.control().counters();
    for key in [
        "/records/bulk/get",
        "/assets/bulk/get",
        "/schema/bulk/get",
        "/records/children",
        "/assets/children",
        "/modules/all",
        "/modules/get",
        "/sync/get",
    ] {
        assert!(
            c.get(key).copied().unwrap_or(0) >= 1,
            "{key} never called: {c:?}"
        );
    }
}

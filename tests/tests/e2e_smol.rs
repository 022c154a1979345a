//! The end-to-end suite on the smol runtime, against the embedded dev server. The suite
//! drives a blocking handle; each method here polls the async client to completion.

use std::time::Duration;

use serde_json::Value;
use unicat_core::api::CallError;
use unicat_core::client::Event;
use unicat_core::store::Store;
use unicat_smol::{block_on, Error, UnicatApi};
use unicat_tests::e2e::{self, Options, UnicatHandle};

struct Smol(UnicatApi);

fn flatten(e: Error) -> Option<CallError> {
    match e {
        Error::Call(c) => Some(c),
        _ => None,
    }
}

impl UnicatHandle for Smol {
    fn build(url: &str, project: &str, options: Options) -> Self {
        let mut b = UnicatApi::builder(url, project).keep_api_key(options.keep_api_key);
        if let Some(folder) = options.asset_folder {
            b = b.asset_folder(folder);
        }
        Smol(b.build().unwrap())
    }
    fn connect(&self, api_key: &str) -> Result<Value, Option<CallError>> {
        block_on(self.0.connect(api_key)).map_err(flatten)
    }
    fn call(&self, endpoint: &str, body: Value) -> Result<Value, Option<CallError>> {
        block_on(self.0.call(endpoint, body)).map_err(flatten)
    }
    fn download(&self, asset: &str, pathname: Option<&str>) -> Result<String, Option<CallError>> {
        block_on(self.0.download(asset, pathname, None)).map_err(flatten)
    }
    fn wait_caught_up(&self, timeout: Duration) -> bool {
        block_on(self.0.wait_caught_up(timeout)).is_ok()
    }
    fn next_event(&self, timeout: Duration) -> Option<Event> {
        block_on(self.0.next_event(timeout))
    }
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.0.store())
    }
    fn debug(&self) -> String {
        format!("{:?}", self.0)
    }
}

#[test]
fn connect_loads_the_store() {
    e2e::connect_loads_the_store::<Smol>()
}

#[test]
fn an_erp_change_is_seen() {
    e2e::an_erp_change_is_seen::<Smol>()
}

#[test]
fn a_delete_is_seen() {
    e2e::a_delete_is_seen::<Smol>()
}

#[test]
fn a_schema_insert_is_fetched() {
    e2e::a_schema_insert_is_fetched::<Smol>()
}

#[test]
fn a_version_change_is_reported() {
    e2e::a_version_change_is_reported::<Smol>()
}

#[test]
fn a_restore_resets_and_reloads() {
    e2e::a_restore_resets_and_reloads::<Smol>()
}

#[test]
fn twenty_drops_during_two_thousand_changes() {
    e2e::twenty_drops_during_two_thousand_changes::<Smol>()
}

#[test]
fn an_expired_jwt_while_disconnected_re_authenticates() {
    e2e::an_expired_jwt_while_disconnected_re_authenticates::<Smol>()
}

#[test]
fn a_download_leaving_the_asset_folder_is_refused() {
    e2e::a_download_leaving_the_asset_folder_is_refused::<Smol>()
}

#[test]
fn secrets_stay_out_of_debug_and_logs() {
    unicat_tests::logs::capture();
    e2e::secrets_stay_out_of_debug_and_logs::<Smol>(&unicat_tests::logs::captured)
}

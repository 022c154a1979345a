//! The end-to-end suite on the smol runtime, against the embedded dev server.

use unicat_tests::e2e;
use unicat_tests::runtimes::Smol;

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

#[test]
fn works_over_tls() {
    e2e::works_over_tls::<Smol>()
}

#[test]
fn a_redirect_is_not_followed() {
    e2e::a_redirect_is_not_followed::<Smol>()
}

#[test]
fn a_snapshot_outlives_calls_and_changes() {
    e2e::a_snapshot_outlives_calls_and_changes::<Smol>()
}

#[test]
fn over_the_ipv6_loopback() {
    e2e::over_the_ipv6_loopback::<Smol>()
}

#[test]
fn close_abandons_what_a_silent_server_holds() {
    e2e::close_abandons_what_a_silent_server_holds::<Smol>()
}

#[test]
fn downloads_ignore_planted_links_and_take_long_names() {
    e2e::downloads_ignore_planted_links_and_take_long_names::<Smol>()
}

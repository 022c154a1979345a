//! Typed reading on the blocking runtime, against the embedded dev server (see
//! `unicat_tests::reading`).

use unicat_tests::reading;
use unicat_tests::runtimes::Blocking;

#[test]
fn the_tree_walk_at_its_paging_edges() {
    reading::the_tree_walk_at_its_paging_edges::<Blocking>()
}

#[test]
fn get_or_fetch_helpers() {
    reading::get_or_fetch_helpers::<Blocking>()
}

#[test]
fn query_walkers() {
    reading::query_walkers::<Blocking>()
}

#[test]
fn typed_values_and_missing_references() {
    reading::typed_values_and_missing_references::<Blocking>()
}

#[test]
fn a_rename_through_sync_is_found_by_its_new_name() {
    reading::a_rename_through_sync_is_found_by_its_new_name::<Blocking>()
}

#[test]
fn asset_helpers() {
    reading::asset_helpers::<Blocking>()
}

#[test]
fn walkers_ride_out_bursts_of_server_errors() {
    reading::walkers_ride_out_bursts_of_server_errors::<Blocking>()
}

#[test]
fn walkers_ride_out_a_reset_and_a_restart() {
    reading::walkers_ride_out_a_reset_and_a_restart::<Blocking>()
}

//! Typed reading on the smol runtime, against the embedded dev server (see
//! `unicat_tests::reading`).

use unicat_tests::reading;
use unicat_tests::runtimes::Smol;

#[test]
fn the_tree_walk_at_its_paging_edges() {
    reading::the_tree_walk_at_its_paging_edges::<Smol>()
}

#[test]
fn get_or_fetch_helpers() {
    reading::get_or_fetch_helpers::<Smol>()
}

#[test]
fn query_walkers() {
    reading::query_walkers::<Smol>()
}

#[test]
fn typed_values_and_missing_references() {
    reading::typed_values_and_missing_references::<Smol>()
}

#[test]
fn a_rename_through_sync_is_found_by_its_new_name() {
    reading::a_rename_through_sync_is_found_by_its_new_name::<Smol>()
}

#[test]
fn asset_helpers() {
    reading::asset_helpers::<Smol>()
}

#[test]
fn walkers_ride_out_bursts_of_server_errors() {
    reading::walkers_ride_out_bursts_of_server_errors::<Smol>()
}

#[test]
fn walkers_ride_out_a_reset_and_a_restart() {
    reading::walkers_ride_out_a_reset_and_a_restart::<Smol>()
}

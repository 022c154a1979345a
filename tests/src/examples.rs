//! Finding the runtimes' example binaries, for the suites that run them as a user would.

use std::path::PathBuf;

/// The built example `name` (`watch`, `smol_feed`, …). Tests run from `target/<profile>/deps`;
/// `cargo test --workspace` builds the examples beside them, in `target/<profile>/examples`.
///
/// Panics, saying how to build them, when it is not there.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

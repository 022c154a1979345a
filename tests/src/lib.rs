//! Test harness shared by the integration suites: a simulated clock with a sans-IO fake
//! Socket.IO server, scripted drivers, and helpers to start the interop peers.

pub mod drive;
pub mod e2e;
pub mod examples;
pub mod faults;
pub mod golden;
pub mod interop;
pub mod logs;
pub mod peers;
pub mod reading;
pub mod runtimes;
pub mod script;
pub mod sim;

/// The README's Rust examples, compiled as doctests so they keep up with the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

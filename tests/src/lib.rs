//! Test harness shared by the integration suites: a simulated clock, a sans-IO fake
//! Socket.IO server, and helpers to start the interop peers.

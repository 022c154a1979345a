//! The fault matrix on the blocking runtime: every fault the dev server can make, for real,
//! and the client converges after each.

unicat_tests::fault_matrix!(unicat_tests::runtimes::Blocking);

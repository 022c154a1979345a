#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| unicat_core::test_exports::reading(data));

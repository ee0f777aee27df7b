#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cutover::fuzz::driver(data));

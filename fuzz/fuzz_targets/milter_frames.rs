#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwright_fuzz::milter::milter_frames(data));

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwright_fuzz::smtp::smtp_command(data));

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwright_fuzz::pop3::pop3_command(data));

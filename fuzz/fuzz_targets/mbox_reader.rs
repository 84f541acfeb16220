#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwright_fuzz::mbox::mbox_reader(data));

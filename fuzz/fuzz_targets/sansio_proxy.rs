#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwright_fuzz::sansio::sansio_proxy(data));

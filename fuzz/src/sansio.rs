//! Fuzz target bodies for the `sansio` crate.

use mailwright_sansio::DecodeError;
use mailwright_sansio::proxy::{ProxyConfig, encode, parse, wanted};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[("sansio_proxy", sansio_proxy)];

/// Any octets as a PROXY protocol header: parsing never panics, never takes more than it was
/// given, a header re-encodes to one that parses the same; and `wanted` never asks for octets
/// past the header (every shorter prefix needs exactly more, never fails differently).
pub fn sansio_proxy(data: &[u8]) {
    let config = ProxyConfig::default();
    match parse(data, &config) {
        Ok((header, used)) => {
            assert!(used <= data.len());
            let mut wire = Vec::new();
            encode(&header, &mut wire);
            let (again, n) = parse(&wire, &config).expect("an encoded header parses");
            assert_eq!(n, wire.len());
            assert_eq!(again.command, header.command);
            // Reading by `wanted` from nothing reaches exactly this header.
            let mut got = 0;
            for _ in 0..=used {
                match parse(&data[..got], &config) {
                    Ok((_, n)) => {
                        assert_eq!(n, used);
                        break;
                    }
                    Err(DecodeError::Incomplete) => {
                        let w = wanted(&data[..got], &config);
                        assert!(
                            w > 0 && got + w <= used,
                            "over-read at {got}: {w} of {used}"
                        );
                        got += w;
                    }
                    Err(e) => panic!("a prefix of a header failed: {e}"),
                }
            }
        }
        Err(DecodeError::Incomplete) => assert!(wanted(data, &config) > 0),
        Err(_) => {}
    }
}

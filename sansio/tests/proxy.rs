//! Properties of the PROXY protocol header parser: round trips, every cut needs more, arbitrary
//! octets never panic and are bounded.

use std::net::{IpAddr, SocketAddr};

use mailwright_sansio::DecodeError;
use mailwright_sansio::proxy::{
    ProxyCommand, ProxyConfig, ProxyHeader, ProxyVersion, V1_MAX_LEN, V2_FIXED_LEN, encode, parse,
    wanted,
};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = ProxyHeader> {
    let v4 = (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(s, d, sp, dp)| ProxyCommand::Proxy {
            source: SocketAddr::new(IpAddr::from(s), sp),
            destination: SocketAddr::new(IpAddr::from(d), dp),
        });
    let v6 = (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(s, d, sp, dp)| ProxyCommand::Proxy {
            source: SocketAddr::new(IpAddr::from(s), sp),
            destination: SocketAddr::new(IpAddr::from(d), dp),
        });
    let command = prop_oneof![
        v4,
        v6,
        Just(ProxyCommand::Unknown),
        Just(ProxyCommand::Local)
    ];
    (command, any::<bool>()).prop_map(|(command, v1)| ProxyHeader {
        // Version 1 has no LOCAL.
        version: if v1 && command != ProxyCommand::Local {
            ProxyVersion::V1
        } else {
            ProxyVersion::V2
        },
        command,
    })
}

proptest! {
    #[test]
    fn round_trip_and_every_cut_needs_more(h in header(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut wire = Vec::new();
        encode(&h, &mut wire);
        let len = wire.len();
        prop_assert!(len <= V1_MAX_LEN.max(V2_FIXED_LEN + 36));
        for cut in 0..len {
            prop_assert_eq!(parse(&wire[..cut], &ProxyConfig::default()), Err(DecodeError::Incomplete));
            let w = wanted(&wire[..cut], &ProxyConfig::default());
            prop_assert!(w > 0 && cut + w <= len, "cut {} wanted {} of {}", cut, w, len);
        }
        wire.extend_from_slice(&tail);
        let (got, used) = parse(&wire, &ProxyConfig::default()).unwrap();
        prop_assert_eq!(got, h);
        prop_assert_eq!(used, len);
    }

    #[test]
    fn arbitrary_octets_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let config = ProxyConfig::default();
        let _ = wanted(&data, &config);
        if let Ok((h, used)) = parse(&data, &config) {
            prop_assert!(used <= data.len() && used <= V2_FIXED_LEN + 216);
            let mut again = Vec::new();
            encode(&h, &mut again);
            prop_assert_eq!(parse(&again, &config).unwrap().0.command, h.command);
        }
    }

    #[test]
    fn signature_prefixed_octets_never_panic(v2 in any::<bool>(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut input = if v2 { mailwright_sansio::proxy::V2_SIGNATURE.to_vec() } else { b"PROXY ".to_vec() };
        input.extend_from_slice(&data);
        let _ = wanted(&input, &ProxyConfig::default());
        if let Ok((_, used)) = parse(&input, &ProxyConfig::default()) {
            prop_assert!(used <= input.len());
        }
    }
}

//! Fuzz target bodies for the server's outbound parsers (`mailwright::outbound`).

use mailwright::outbound::mtasts::{Policy, record_id};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[("outbound_mta_sts", outbound_mta_sts)];

/// Any octets as an MTA-STS policy body and TXT record (RFC 8461): parsing never panics, and a
/// policy that parses re-encodes to one that parses to itself.
pub fn outbound_mta_sts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = record_id(&text);
    if let Ok(policy) = Policy::parse(&text) {
        assert_eq!(Policy::parse(&policy.to_text()).expect("re-parses"), policy);
        for mx in &policy.mx {
            let host = mx
                .strip_prefix("*.")
                .map_or_else(|| mx.clone(), |p| format!("a.{p}"));
            assert!(policy.matches(&host), "{mx} does not match {host}");
        }
    }
}

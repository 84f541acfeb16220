//! Fuzz target bodies for the server's outbound parsers (`mailwright::outbound`).

use mailwright::outbound::mtasts::{HttpsUrl, Policy, record_id};
use mailwright::outbound::tlsrpt;

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("outbound_mta_sts", outbound_mta_sts),
    ("outbound_tls_rpt", outbound_tls_rpt),
];

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

/// Any octets as `_smtp._tls` TXT records (RFC 8460 §3), one a line: finding the destinations
/// never panics; an `https:` one that is taken apart puts back together; a day name that
/// parses is the name of its day.
pub fn outbound_tls_rpt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let records: Vec<String> = text.lines().map(str::to_owned).collect();
    for uri in tlsrpt::destinations(&records) {
        if let tlsrpt::ReportUri::Http(url) = uri
            && let Ok(u) = HttpsUrl::parse(&url)
        {
            assert!(u.path.starts_with('/'), "{url}");
            assert!(u.authority.starts_with(u.host), "{url}");
            assert_eq!(
                HttpsUrl::parse(&format!("https://{}{}", u.authority, u.path)),
                Ok(u.clone()),
                "{url}"
            );
        }
    }
    if let Some(day) = tlsrpt::parse_day(text.trim()) {
        assert_eq!(tlsrpt::day_name(day), text.trim());
    }
}

//! Maildir file names: generating unique names and parsing `<base>[:<info>]`.
//!
//! cr.yp.to/proto/maildir.html: a unique name is `time.M<usec>P<pid>Q<n>.host` (the modern form);
//! "the host name ... with / replaced by \057 and : replaced by \072". Courier and Dovecot append
//! `,S=<size>` (bytes on disk) and `,W=<vsize>` (size with CRLF line ends) so that a scan needs
//! no `stat`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flags::Flags;

/// The separator between the unique base name and the info.
pub const INFO_SEPARATOR: char = ':';

/// A parsed Maildir file name, borrowing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName<'a> {
    /// The unique part before `:` (the POP3 UIDL and the `dovecot-uidlist` key).
    pub base: &'a str,
    /// The info after `:`, if any (`2,FS`).
    pub info: Option<&'a str>,
    /// `S=` from the base: the file's size in bytes.
    pub size: Option<u64>,
    /// `W=` from the base: the size with CRLF line ends (the IMAP RFC822.SIZE).
    pub vsize: Option<u64>,
}

impl<'a> FileName<'a> {
    /// Parses a file name found in `new/` or `cur/`. `None` for names a scan must skip: empty,
    /// starting with `.`, or containing `/` or NUL.
    pub fn parse(name: &'a str) -> Option<FileName<'a>> {
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']) {
            return None;
        }
        let (base, info) = match name.split_once(INFO_SEPARATOR) {
            Some((b, i)) => (b, Some(i)),
            None => (name, None),
        };
        if base.is_empty() {
            return None;
        }
        let mut size = None;
        let mut vsize = None;
        for field in base.split(',').skip(1) {
            if let Some(v) = field.strip_prefix("S=") {
                size = parse_u64(v);
            } else if let Some(v) = field.strip_prefix("W=") {
                vsize = parse_u64(v);
            }
        }
        Some(FileName {
            base,
            info,
            size,
            vsize,
        })
    }

    /// The flags, when the info is the `2,` kind with valid flag characters.
    pub fn flags(&self) -> Option<Flags> {
        self.info
            .and_then(|i| i.strip_prefix("2,"))
            .and_then(Flags::parse)
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Orders unique names by delivery: the leading `<secs>`, then `M<usecs>`, `P<pid>`, `Q<n>`
/// compared as numbers (a plain string order puts `M99999` after `M100000`), then the whole
/// name. Names of other forms fall back to the string order after their leading number.
pub fn delivery_order(a: &str, b: &str) -> std::cmp::Ordering {
    order_key(a).cmp(&order_key(b)).then_with(|| a.cmp(b))
}

/// The numeric part of [`delivery_order`].
pub(crate) fn order_key(name: &str) -> [u64; 4] {
    fn number(s: &str) -> (u64, &str) {
        let end = s
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(s.len());
        (s[..end].parse().unwrap_or(u64::MAX), &s[end..])
    }
    let mut key = [0u64; 4];
    let (secs, mut rest) = number(name);
    key[0] = secs;
    let Some(r) = rest.strip_prefix('.') else {
        return key;
    };
    rest = r;
    for (i, tag) in [(1, 'M'), (2, 'P'), (3, 'Q')] {
        let Some(r) = rest.strip_prefix(tag) else {
            break;
        };
        let (n, r) = number(r);
        key[i] = n;
        rest = r;
    }
    key
}

/// Builds `<base>:2,<flags>`.
pub fn with_flags(base: &str, flags: Flags) -> String {
    let mut s = String::with_capacity(base.len() + 10);
    s.push_str(base);
    s.push(INFO_SEPARATOR);
    s.push_str("2,");
    let _ = write!(s, "{flags}");
    s
}

/// Whether `base` can be a message's unique name: non-empty, no `/`, `:`, NUL, not starting `.`.
pub fn is_valid_base(base: &str) -> bool {
    !base.is_empty() && !base.starts_with('.') && !base.contains(['/', ':', '\0'])
}

/// Replaces `/` by `\057` and `:` by `\072` (and `,` by `\054`, since `,` starts the
/// `S=`/`W=` fields), as the spec asks for the host part.
pub fn sanitize_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.trim().chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    if out.is_empty() {
        "localhost".to_owned()
    } else {
        out
    }
}

/// This machine's host name (from `/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`),
/// sanitised; `localhost` if none is found.
pub fn system_hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    sanitize_host(&raw)
}

/// Shared by every thread of the process: with the pid it makes `Q<n>` unique per process.
static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unique base name `<secs>.M<usecs>P<pid>Q<n>.<host>` for delivery time `time`
/// (`host` already sanitised).
pub fn unique_base(time: SystemTime, host: &str) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let n = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        d.as_secs(),
        d.subsec_micros(),
        std::process::id(),
        n,
        host
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn parse_courier_name() {
        let n = FileName::parse("1700000000.M1P2Q3.host,S=120,W=124:2,FS").unwrap();
        assert_eq!(n.base, "1700000000.M1P2Q3.host,S=120,W=124");
        assert_eq!(n.size, Some(120));
        assert_eq!(n.vsize, Some(124));
        assert_eq!(n.flags().unwrap().to_string(), "FS");
        assert!(FileName::parse(".hidden").is_none());
        assert!(FileName::parse(":2,S").is_none());
        let bare = FileName::parse("123.abc").unwrap();
        assert_eq!((bare.size, bare.info), (None, None));
        assert_eq!(FileName::parse("1.x,S=1x").unwrap().size, None);
    }

    #[test]
    fn host_sanitised() {
        assert_eq!(sanitize_host("a/b:c"), "a\\057b\\072c");
        assert_eq!(sanitize_host("\n"), "localhost");
    }

    #[test]
    fn unique_names_differ() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_123);
        let a = unique_base(t, "h");
        let b = unique_base(t, "h");
        assert_ne!(a, b);
        assert!(a.starts_with("1700000000.M123P"));
        assert!(is_valid_base(&a));
    }

    #[test]
    fn delivery_order_is_numeric() {
        use std::cmp::Ordering::Less;
        assert_eq!(delivery_order("1.M99999P1Q1.h", "1.M100000P1Q0.h"), Less);
        assert_eq!(delivery_order("1.M5P1Q9.h", "1.M5P1Q10.h"), Less);
        assert_eq!(delivery_order("99.M1P1Q1.h", "100.M0P1Q0.h"), Less);
        assert_eq!(
            delivery_order("1035478339.27041_118.foo.org", "1035478339.M1P1Q1.h"),
            Less
        );
    }

    proptest! {
        #[test]
        fn name_round_trip(base in "[0-9A-Za-z._=,-]{1,30}", flags in "[!-~]{0,10}") {
            prop_assume!(is_valid_base(&base));
            if let Some(f) = Flags::parse(&flags) {
                let name = with_flags(&base, f);
                let parsed = FileName::parse(&name).unwrap();
                prop_assert_eq!(parsed.base, base.as_str());
                prop_assert_eq!(parsed.flags(), Some(f));
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = FileName::parse(&s);
        }
    }
}

//! Sender Rewriting Scheme for forwarded mail.
//!
//! When an alias forwards mail to another domain, the envelope sender is rewritten to an address
//! of ours, so that the destination's SPF check sees our domain (whose SPF record lists us) instead
//! of the original sender's. Bounces to the rewritten address come back here, are checked and
//! forwarded to the original sender.
//!
//! The form follows the widely deployed SRS0 shape (`SRS0=HASH=TT=domain=local@ours`) with our own
//! hash encoding: `HASH` is 6 base32 characters of HMAC-SHA256 over the rest (keyed by a secret in
//! the data directory) and `TT` the day number modulo 1024 in 2 base32 characters. Everything is
//! lower case, so it survives servers that fold case. Rewritten addresses are valid for
//! [`MAX_AGE_DAYS`] days.
//!
//! ```
//! use mailwright::outbound::srs::Srs;
//! let srs = Srs::new(b"secret");
//! let fwd = srs.forward("alice@example.org", "forwarder.test", 20_000).unwrap();
//! assert!(fwd.starts_with("srs0="));
//! assert_eq!(srs.reverse(&fwd, 20_001).as_deref(), Some("alice@example.org"));
//! ```

use ring::hmac;

/// How many days a rewritten address is accepted back.
pub const MAX_AGE_DAYS: u64 = 21;

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The rewriter, holding the secret.
#[derive(Clone)]
pub struct Srs {
    key: hmac::Key,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srs").finish_non_exhaustive()
    }
}

impl Srs {
    /// A rewriter with this secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Loads the secret from `path`, creating a random one (mode 0600) on first use.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Self> {
        if let Ok(secret) = std::fs::read(path)
            && secret.len() >= 16
        {
            return Ok(Self::new(&secret));
        }
        let mut secret = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| std::io::Error::other("no randomness"))?;
        crate::core::datadir::write_atomic(path, &secret, 0o600)?;
        Ok(Self::new(&secret))
    }

    fn hash(&self, stamp: &str, domain: &str, local: &str) -> String {
        let data = format!("{stamp}={domain}={local}").to_ascii_lowercase();
        let tag = hmac::sign(&self.key, data.as_bytes());
        let bits = u64::from_be_bytes(tag.as_ref()[..8].try_into().unwrap_or_default());
        (0..6)
            .map(|i| B32[((bits >> (59 - 5 * i)) & 31) as usize] as char)
            .collect()
    }

    /// Rewrites `sender` (`local@domain`) into an address at `our_domain`, stamped with `day`
    /// (days since the epoch). `None` for the null sender or a sender without `@`; an address
    /// already rewritten by us is rewritten again from its original.
    pub fn forward(&self, sender: &str, our_domain: &str, day: u64) -> Option<String> {
        let sender = self
            .reverse(sender, day)
            .unwrap_or_else(|| sender.to_owned());
        let (local, domain) = sender.rsplit_once('@')?;
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        let domain = domain.to_ascii_lowercase();
        let stamp = day % 1024;
        let stamp = format!(
            "{}{}",
            B32[(stamp >> 5) as usize] as char,
            B32[(stamp & 31) as usize] as char
        );
        let hash = self.hash(&stamp, &domain, local);
        Some(format!("srs0={hash}={stamp}={domain}={local}@{our_domain}"))
    }

    /// The original sender of a rewritten address, if it is one of ours, untampered and not older
    /// than [`MAX_AGE_DAYS`] at `day`.
    pub fn reverse(&self, address: &str, day: u64) -> Option<String> {
        let (srs_local, _ours) = address.rsplit_once('@')?;
        let rest = srs_local
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("srs0="))
            .map(|_| &srs_local[5..])?;
        let mut parts = rest.splitn(4, '=');
        let (hash, stamp, domain, local) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if local.is_empty() || domain.is_empty() || stamp.len() != 2 {
            return None;
        }
        if !self.hash(stamp, domain, local).eq_ignore_ascii_case(hash) {
            return None;
        }
        let value = |c: u8| {
            B32.iter()
                .position(|&b| b == c.to_ascii_lowercase())
                .map(|p| p as u64)
        };
        let s = stamp.as_bytes();
        let then = value(s[0])? << 5 | value(s[1])?;
        let age = (day % 1024 + 1024 - then) % 1024;
        (age <= MAX_AGE_DAYS).then(|| format!("{local}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_reverse_tamper_and_age() {
        let srs = Srs::new(b"k");
        let f = srs
            .forward("Alice.B@Example.org", "fwd.test", 5000)
            .unwrap();
        assert!(
            f.starts_with("srs0=") && f.ends_with("=example.org=Alice.B@fwd.test"),
            "{f}"
        );
        assert_eq!(
            srs.reverse(&f, 5000).as_deref(),
            Some("Alice.B@example.org")
        );
        // A server that folds case does not break it.
        assert!(
            srs.reverse(&f.to_ascii_uppercase(), 5003)
                .is_some_and(|o| o.eq_ignore_ascii_case("alice.b@example.org"))
        );
        let tampered = f.replace("example.org", "evil.test");
        assert_eq!(srs.reverse(&tampered, 5000), None);
        assert_eq!(srs.reverse(&f, 5000 + MAX_AGE_DAYS + 1), None);
        assert_eq!(Srs::new(b"other").reverse(&f, 5000), None);
        // Rewriting twice keeps the original.
        let again = srs.forward(&f, "fwd2.test", 5001).unwrap();
        assert_eq!(
            srs.reverse(&again, 5001).as_deref(),
            Some("Alice.B@example.org")
        );
        assert!(srs.forward("", "x", 1).is_none());
        assert!(srs.reverse("bob@example.org", 1).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn round_trips_and_never_panics(
            local in "[A-Za-z0-9._+=-]{1,40}",
            domain in "[a-z0-9-]{1,20}\\.[a-z]{2,6}",
            day in 0u64..100_000,
            junk in ".{0,80}",
        ) {
            let srs = Srs::new(b"prop");
            let sender = format!("{local}@{domain}");
            let f = srs.forward(&sender, "fwd.test", day).unwrap();
            proptest::prop_assert_eq!(srs.reverse(&f, day + 3), Some(sender));
            let _ = srs.reverse(&junk, day);
            let _ = srs.reverse(&format!("srs0={junk}@x"), day);
        }
    }
}

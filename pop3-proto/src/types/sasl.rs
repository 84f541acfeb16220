//! SASL PLAIN (RFC 4616), the mechanism every POP3 client and server shares.

use super::Secret;

/// The three fields of a PLAIN message.
///
/// RFC 4616 §2:
/// ```text
/// message   = [authzid] UTF8NUL authcid UTF8NUL passwd
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The identity to act as; empty means the same as `authcid`.
    pub authzid: String,
    /// The identity whose password is given.
    pub authcid: String,
    /// The password.
    pub password: Secret<Vec<u8>>,
}

impl PlainCredentials {
    /// Splits a decoded PLAIN message; `None` when it is not three NUL-separated UTF-8 fields
    /// with a non-empty authcid and password.
    pub fn decode(message: &[u8]) -> Option<Self> {
        let mut parts = message.splitn(3, |&b| b == 0);
        let authzid = std::str::from_utf8(parts.next()?).ok()?;
        let authcid = std::str::from_utf8(parts.next()?).ok()?;
        let password = parts.next()?;
        if authcid.is_empty() || password.is_empty() || password.contains(&0) {
            return None;
        }
        Some(Self {
            authzid: authzid.to_owned(),
            authcid: authcid.to_owned(),
            password: Secret::new(password.to_vec()),
        })
    }

    /// Joins the fields into a PLAIN message (before base64).
    pub fn encode(&self) -> Secret<Vec<u8>> {
        let mut out = Vec::with_capacity(
            self.authzid.len() + self.authcid.len() + self.password.expose().len() + 2,
        );
        out.extend_from_slice(self.authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.authcid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.password.expose());
        Secret::new(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trips() {
        let c = PlainCredentials {
            authzid: String::new(),
            authcid: "tim".into(),
            password: Secret::new(b"tanstaaftanstaaf".to_vec()),
        };
        let m = c.encode();
        assert_eq!(m.expose(), b"\0tim\0tanstaaftanstaaf");
        assert_eq!(PlainCredentials::decode(m.expose()), Some(c));
        assert_eq!(PlainCredentials::decode(b"\0\0pw"), None);
        assert_eq!(PlainCredentials::decode(b"only"), None);
    }
}

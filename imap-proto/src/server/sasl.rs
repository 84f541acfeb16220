//! SASL PLAIN (RFC 4616), the one mechanism the session runs itself.
//!
//! ```text
//! message   = [authzid] UTF8NUL authcid UTF8NUL passwd
//! authcid   = 1*SAFE ; MUST accept up to 255 octets
//! authzid   = 1*SAFE ; MUST accept up to 255 octets
//! passwd    = 1*SAFE ; MUST accept up to 255 octets
//! UTF8NUL   = %x00 ; UTF-8 encoded NUL character
//! SAFE      = UTF1 / UTF2 / UTF3 / UTF4
//!             ;; any UTF-8 encoded Unicode character except NUL
//! ```
//! (RFC 4616 §2.)

use mailwright_sansio::Secret;

/// The credentials of a PLAIN message.
#[derive(Debug)]
pub(crate) struct Plain {
    /// The authorization identity, when given.
    pub(crate) authzid: Option<String>,
    /// The authentication identity.
    pub(crate) authcid: String,
    /// The password.
    pub(crate) password: Secret<String>,
}

/// Splits a decoded PLAIN message; the error says what was wrong, never what was sent.
pub(crate) fn plain(message: &[u8]) -> Result<Plain, &'static str> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("PLAIN message is not authzid NUL authcid NUL passwd");
    };
    if authcid.is_empty() || passwd.is_empty() {
        return Err("PLAIN message with an empty authcid or passwd");
    }
    let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "PLAIN message is not UTF-8");
    Ok(Plain {
        authzid: if authzid.is_empty() {
            None
        } else {
            Some(utf8(authzid)?)
        },
        authcid: utf8(authcid)?,
        password: Secret::new(utf8(passwd)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_examples() {
        // RFC 4616 §4: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
        let p = plain(b"\0tim\0tanstaaftanstaaf").unwrap();
        assert_eq!((p.authzid, p.authcid.as_str()), (None, "tim"));
        assert_eq!(p.password.expose(), "tanstaaftanstaaf");
        let p = plain(b"Ursel\0Kurt\0xipj3plmq").unwrap();
        assert_eq!(p.authzid.as_deref(), Some("Ursel"));
        assert_eq!(format!("{:?}", p.password), "***");
        for bad in [
            &b""[..],
            b"\0tim",
            b"\0\0pw",
            b"\0tim\0",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            assert!(plain(bad).is_err(), "{bad:?}");
        }
    }
}

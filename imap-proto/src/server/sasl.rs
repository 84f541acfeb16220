//! The login exchanges: LOGIN's and AUTHENTICATE's (RFC 3501 §6.2.2, §6.2.3, SASL-IR RFC 4959)
//! end in one [`Event::Login`] for PLAIN, run here, or go to the application for the mechanisms
//! it runs ([`Event::Authenticate`]).
//!
//! SASL PLAIN (RFC 4616):
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

use super::{Busy, Event, Kind, LoginHandle, RejectReason, ServerSession};
use crate::types::command::AuthData;
use crate::types::core::{Atom, Tag};
use crate::types::response::Continue;

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

impl ServerSession {
    pub(super) fn login_event(
        &mut self,
        tag: Tag<'static>,
        authzid: Option<String>,
        username: String,
        password: Secret<String>,
    ) {
        let handle = LoginHandle::new(tag.clone());
        self.decide(handle.id, tag, Kind::Login { sasl: false });
        self.events.push_back(Event::Login {
            handle,
            authzid,
            username,
            password,
        });
    }

    /// AUTHENTICATE (RFC 3501 §6.2.2, SASL-IR RFC 4959): PLAIN runs here, the application's
    /// mechanisms there, the rest are refused.
    pub(super) fn on_authenticate(
        &mut self,
        tag: Tag<'static>,
        mechanism: Atom<'static>,
        initial_response: Option<AuthData<'static>>,
    ) {
        let name = mechanism.as_str();
        if name.eq_ignore_ascii_case("PLAIN") {
            match initial_response {
                Some(ir) => self.on_plain(tag, &ir),
                None => {
                    // RFC 4616 §2: PLAIN has no challenge; the client answers an empty `+`.
                    self.continuation(Continue::base64(b""));
                    self.busy = Busy::Sasl { tag, app: None };
                }
            }
        } else if self
            .config
            .sasl_mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
        {
            let initial_response = match initial_response.as_ref().map(AuthData::decode) {
                None => None,
                Some(Ok(data)) => Some(Secret::new(data)),
                Some(Err(_)) => {
                    self.refuse(
                        Some(tag),
                        RejectReason::MalformedCredentials {
                            why: "Invalid base64 in the initial response",
                        },
                    );
                    return;
                }
            };
            let handle = LoginHandle::new(tag.clone());
            self.decide(handle.id, tag, Kind::Login { sasl: true });
            self.events.push_back(Event::Authenticate {
                handle,
                mechanism,
                initial_response,
            });
        } else {
            self.refuse(Some(tag), RejectReason::UnsupportedMechanism(mechanism));
        }
    }

    /// A PLAIN message (RFC 4616): the credentials become one [`Event::Login`].
    fn on_plain(&mut self, tag: Tag<'static>, data: &AuthData<'_>) {
        let decoded = data.decode().ok();
        match decoded.as_deref().map(plain) {
            Some(Ok(p)) => self.login_event(tag, p.authzid, p.authcid, p.password),
            Some(Err(why)) => self.refuse(Some(tag), RejectReason::UnusableCredentials { why }),
            None => self.refuse(
                Some(tag),
                RejectReason::MalformedCredentials {
                    why: "Invalid base64 in response",
                },
            ),
        }
    }

    pub(super) fn on_sasl_line(&mut self, tag: Tag<'static>, app: Option<u64>, frame: &[u8]) {
        self.busy = Busy::Ready;
        match AuthData::decode_line(frame) {
            Ok((_, AuthData::Cancel)) => {
                self.refuse(Some(tag), RejectReason::AuthenticateCancelled);
            }
            Err(_) => self.refuse(
                Some(tag),
                RejectReason::MalformedCredentials {
                    why: "Invalid base64 in response",
                },
            ),
            Ok((_, data)) => match app {
                None => self.on_plain(tag, &data),
                Some(id) => {
                    let data = data.decode().unwrap_or_default();
                    self.decide(id, tag, Kind::Login { sasl: true });
                    self.events.push_back(Event::AuthenticateData {
                        data: Secret::new(data),
                    });
                }
            },
        }
    }
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

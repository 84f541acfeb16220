//! Checks of mail arriving on the SMTP port: SPF (RFC 7208) of the HELO and MAIL FROM identities,
//! DKIM (RFC 6376), DMARC (RFC 7489) and iprev (RFC 8601 §3), all through `mail-auth` on the
//! server's one resolver, summed up in an `Authentication-Results:` header field (RFC 8601).
//!
//! A DNS failure is never a reason to refuse: it is recorded as `temperror` and the message is
//! delivered. The only refusal is a DMARC failure of a domain publishing `p=reject`, when
//! `inbound.dmarc_reject` is on (RFC 7489 §6.7), refused during the SMTP session with
//! `550 5.7.1` rather than bounced later (RFC 7489 §10.3).

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcResult, IprevResult,
    SpfOutput, SpfResult,
};
use mailwright_smtp_proto::{EnhancedCode, Reply};

use crate::core::Core;

/// One method's result, as RFC 8601 §2.7 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthResult {
    /// The check was not made or found nothing to check (no record, no signature).
    None,
    /// Authenticated.
    Pass,
    /// Authentication failed.
    Fail,
    /// SPF: the domain says the host is probably not authorised (`~all`).
    SoftFail,
    /// SPF: the domain makes no assertion (`?all`); DKIM: a signature was not checkable.
    Neutral,
    /// A temporary (DNS) failure: the message is delivered anyway.
    TempError,
    /// A permanent error in a record or signature.
    PermError,
}

impl std::fmt::Display for AuthResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::None => "none",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::Neutral => "neutral",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        })
    }
}

impl From<SpfResult> for AuthResult {
    fn from(r: SpfResult) -> Self {
        match r {
            SpfResult::Pass => Self::Pass,
            SpfResult::Fail => Self::Fail,
            SpfResult::SoftFail => Self::SoftFail,
            SpfResult::Neutral => Self::Neutral,
            SpfResult::TempError => Self::TempError,
            SpfResult::PermError => Self::PermError,
            SpfResult::None => Self::None,
        }
    }
}

impl From<&DkimResult> for AuthResult {
    fn from(r: &DkimResult) -> Self {
        match r {
            DkimResult::Pass => Self::Pass,
            DkimResult::Neutral(_) => Self::Neutral,
            DkimResult::Fail(_) => Self::Fail,
            DkimResult::PermError(_) => Self::PermError,
            DkimResult::TempError(_) => Self::TempError,
            DkimResult::None => Self::None,
        }
    }
}

impl From<&DmarcResult> for AuthResult {
    fn from(r: &DmarcResult) -> Self {
        match r {
            DmarcResult::Pass => Self::Pass,
            DmarcResult::Fail(_) => Self::Fail,
            DmarcResult::TempError(_) => Self::TempError,
            DmarcResult::PermError(_) => Self::PermError,
            DmarcResult::None => Self::None,
        }
    }
}

impl From<&IprevResult> for AuthResult {
    fn from(r: &IprevResult) -> Self {
        match r {
            IprevResult::Pass => Self::Pass,
            IprevResult::Fail(_) => Self::Fail,
            IprevResult::TempError(_) => Self::TempError,
            IprevResult::PermError(_) => Self::PermError,
            IprevResult::None => Self::None,
        }
    }
}

/// What the checks of one message found.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The `Authentication-Results:` field to prepend, LF line ends, ending in LF.
    pub header: String,
    /// Set when the message must be refused (DMARC `p=reject` with `inbound.dmarc_reject`).
    pub refusal: Option<Reply>,
    /// SPF of the MAIL FROM identity (of `postmaster@<helo>` for the null sender).
    pub spf: AuthResult,
    /// SPF of the HELO identity.
    pub spf_helo: AuthResult,
    /// The best DKIM result over every signature (`none` without signatures).
    pub dkim: AuthResult,
    /// DMARC of the RFC 5322 From domain.
    pub dmarc: AuthResult,
    /// The policy that domain asks for (`none`, `quarantine`, `reject`); empty without a record.
    pub dmarc_policy: &'static str,
    /// Whether the client's address has a PTR whose name resolves back to it.
    pub iprev: AuthResult,
}

/// Checks one message from `client_ip`, which said `helo` and `MAIL FROM:<mail_from>` (empty for
/// the null sender). `message` may have LF or CRLF line ends. Every lookup goes through the
/// server's resolver; all of them together are bounded by `inbound.timeout_secs`, past which
/// every result is `temperror`.
pub async fn check_inbound(
    core: &Core,
    message: &[u8],
    client_ip: IpAddr,
    helo: &str,
    mail_from: &str,
) -> Verdict {
    let limit = Duration::from_secs(core.config.inbound.timeout_secs.max(1));
    match tokio::time::timeout(limit, checks(core, message, client_ip, helo, mail_from)).await {
        Ok(verdict) => verdict,
        Err(_) => {
            let host = &core.config.hostname;
            Verdict {
                header: format!(
                    "Authentication-Results: {host};\n\tspf=temperror;\n\tdkim=temperror;\n\tdmarc=temperror;\n\tiprev=temperror\n"
                ),
                refusal: None,
                spf: AuthResult::TempError,
                spf_helo: AuthResult::TempError,
                dkim: AuthResult::TempError,
                dmarc: AuthResult::TempError,
                dmarc_policy: "",
                iprev: AuthResult::TempError,
            }
        }
    }
}

/// A HELO argument SPF can check: a domain, not an address literal (RFC 7208 §2.3).
fn helo_domain(helo: &str) -> Option<&str> {
    (!helo.is_empty() && !helo.starts_with('[') && helo.contains('.')).then_some(helo)
}

async fn checks(core: &Core, message: &[u8], ip: IpAddr, helo: &str, mail_from: &str) -> Verdict {
    let auth = core.dns.authenticator();
    let host = core.config.hostname.as_str();
    let crlf = super::dkim::to_crlf(message);

    let parsed = AuthenticatedMessage::parse(&crlf);

    // The lookups of the four checks are independent: run them at once.
    // RFC 7208 §2.3: HELO is checked on its own; §2.4: for the null sender, MAIL FROM is
    // postmaster@<HELO>, so the HELO result stands for both.
    let spf_helo = async {
        match helo_domain(helo) {
            Some(h) => Some(
                auth.verify_spf(SpfParameters::verify_ehlo(ip, h, host))
                    .await,
            ),
            None => None,
        }
    };
    let spf_mail_from = async {
        if mail_from.is_empty() {
            None
        } else {
            Some(
                auth.verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo_domain(helo).unwrap_or(helo),
                    host,
                    mail_from,
                ))
                .await,
            )
        }
    };
    let dkim_checks = async {
        match &parsed {
            Some(m) => auth.verify_dkim(m).await,
            None => Vec::new(),
        }
    };
    let (iprev, spf_helo, spf_mail_from, verified) =
        tokio::join!(auth.verify_iprev(ip), spf_helo, spf_mail_from, dkim_checks);
    let spf_from: Option<SpfOutput> = if mail_from.is_empty() {
        spf_helo.clone()
    } else {
        spf_mail_from
    };

    // RFC 6376 §6.1.3: a body hash that does not match is PERMFAIL, which RFC 8601 §2.7.1 calls
    // `fail` ("failed the verification test"); mail-auth says `neutral` there, as OpenDKIM does.
    let dkim: Vec<DkimOutput<'_>> = verified
        .iter()
        .map(|o| match (o.result(), o.signature()) {
            (
                DkimResult::Neutral(e @ mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch)),
                Some(sig),
            ) => DkimOutput::fail(e.clone()).with_signature(sig),
            _ => o.clone(),
        })
        .collect();
    let header_from = parsed
        .as_ref()
        .and_then(|m| m.from.first().cloned())
        .unwrap_or_default();

    // RFC 7489 §3.1.2: the SPF-authenticated identifier is the MAIL FROM domain, or the HELO
    // domain for the null sender.
    let from_domain = mail_from
        .rsplit_once('@')
        .map_or(helo, |(_, d)| d)
        .to_ascii_lowercase();
    let empty_spf = SpfOutput::new(from_domain.clone());
    let spf_for_dmarc = spf_from.as_ref().unwrap_or(&empty_spf);
    let dmarc = match &parsed {
        Some(m) => Some(
            auth.verify_dmarc(DmarcParameters::new(m, &dkim, &from_domain, spf_for_dmarc))
                .await,
        ),
        None => None,
    };

    let mut results = AuthenticationResults::new(host).with_dkim_results(&dkim, &header_from);
    if let (Some(out), Some(h)) = (&spf_helo, helo_domain(helo)) {
        results = results.with_spf_ehlo_result(out, ip, h);
    }
    if let Some(out) = &spf_from
        && !mail_from.is_empty()
    {
        results = results.with_spf_mailfrom_result(out, ip, mail_from, helo);
    }
    if let Some(d) = &dmarc
        && d.dmarc_record().is_some()
    {
        results = results.with_dmarc_result(d);
    }
    results = results.with_iprev_result(&iprev, ip);
    let mut header = results.to_header();
    // RFC 8601 §2.2: say `none` for methods that had nothing to check, so readers need not guess.
    let mut extra = String::new();
    if dkim.is_empty() {
        extra.push_str(";\r\n\tdkim=none");
    }
    if spf_from.is_none() {
        extra.push_str(";\r\n\tspf=none");
    }
    if dmarc.as_ref().is_none_or(|d| d.dmarc_record().is_none()) {
        // No record found, or none could be looked up (a DNS failure is `temperror`).
        let temporary = dmarc
            .as_ref()
            .is_some_and(|d| matches!(d.dkim_result(), DmarcResult::TempError(_)));
        extra.push_str(if temporary {
            ";\r\n\tdmarc=temperror"
        } else {
            ";\r\n\tdmarc=none"
        });
        if let Some(d) = dmarc.as_ref().filter(|d| {
            !d.domain().is_empty()
                && d.domain()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        }) {
            extra.push_str(" header.from=");
            extra.push_str(d.domain());
        }
    }
    if !extra.is_empty() {
        let end = header.len() - 2;
        header.insert_str(end, &extra);
    }
    let header = header.replace("\r\n", "\n");

    let dkim_best = dkim
        .iter()
        .map(|o| AuthResult::from(o.result()))
        .min_by_key(|r| match r {
            AuthResult::Pass => 0,
            AuthResult::TempError => 1,
            AuthResult::Fail => 2,
            AuthResult::PermError => 3,
            AuthResult::Neutral => 4,
            _ => 5,
        })
        .unwrap_or(AuthResult::None);
    let (dmarc_result, policy) = match &dmarc {
        Some(d) if d.dmarc_record().is_some() => (
            AuthResult::from(&d.result()),
            match d.policy() {
                Policy::Reject => "reject",
                Policy::Quarantine => "quarantine",
                Policy::None | Policy::Unspecified => "none",
            },
        ),
        Some(d) if matches!(d.dkim_result(), DmarcResult::TempError(_)) => {
            (AuthResult::TempError, "")
        }
        _ => (AuthResult::None, ""),
    };
    // RFC 7489 §6.7: the receiver applies the domain's policy, §10.3: by refusing in the SMTP
    // session (550 5.7.1, "delivery not authorized"). Only a definite failure refuses: temperror never does.
    let refusal = (core.config.inbound.dmarc_reject
        && dmarc_result == AuthResult::Fail
        && policy == "reject")
        .then(|| {
            let domain = dmarc
                .as_ref()
                .map(|d| d.domain().to_owned())
                .unwrap_or_default();
            Reply::new(
                550,
                EnhancedCode::new(5, 7, 1).ok(),
                &format!("Rejected by the DMARC policy of {domain}"),
            )
            .expect("valid reply")
        });
    Verdict {
        header,
        refusal,
        spf: spf_from.map_or(AuthResult::None, |o| o.result().into()),
        spf_helo: spf_helo.map_or(AuthResult::None, |o| o.result().into()),
        dkim: dkim_best,
        dmarc: dmarc_result,
        dmarc_policy: policy,
        iprev: AuthResult::from(iprev.result()),
    }
}

/// Removes `Authentication-Results:` fields whose authserv-id is `host` from the header of
/// `message` (LF or CRLF): RFC 8601 §5 — a border MTA must not pass on results that claim to be
/// its own. Returns `None` when there was none.
pub fn strip_own_results(message: &[u8], host: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(message.len());
    let mut pos = 0;
    let mut removing = false;
    let mut removed = false;
    while pos < message.len() {
        let end = message[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(message.len(), |i| pos + i + 1);
        let line = &message[pos..end];
        if line == b"\n" || line == b"\r\n" {
            out.extend_from_slice(&message[pos..]);
            break;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            removing = is_own_result(line, host);
            removed |= removing;
        }
        if !removing {
            out.extend_from_slice(line);
        }
        pos = end;
    }
    removed.then_some(out)
}

fn is_own_result(line: &[u8], host: &str) -> bool {
    const NAME: &[u8] = b"authentication-results:";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    // RFC 8601 §2.2: authres-header-field = "Authentication-Results:" authserv-id ...
    let value = String::from_utf8_lossy(&line[NAME.len()..]);
    let id = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    id.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_results_are_stripped_and_others_kept() {
        let msg = b"Authentication-Results: mx.example.org;\n\tdkim=pass\nAuthentication-Results: other.example; spf=pass\nSubject: x\n\nAuthentication-Results: mx.example.org; body\n";
        let out = strip_own_results(msg, "MX.example.org").unwrap();
        assert_eq!(
            out,
            b"Authentication-Results: other.example; spf=pass\nSubject: x\n\nAuthentication-Results: mx.example.org; body\n"
        );
        assert!(strip_own_results(b"Subject: x\n\nbody\n", "mx.example.org").is_none());
        assert!(
            strip_own_results(
                b"Authentication-Results: mx.example.org.evil; a=b\n\n",
                "mx.example.org"
            )
            .is_none()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Arbitrary bytes never panic; what is kept is the input minus whole header lines.
        #[test]
        fn stripping_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Some(out) = strip_own_results(&bytes, "mx.example.org") {
                proptest::prop_assert!(out.len() < bytes.len());
            }
            let crlf = super::super::dkim::to_crlf(&bytes);
            proptest::prop_assert!(crlf.len() >= bytes.len());
        }

        /// Our own field is removed wherever it stands in the header, folded or not.
        #[test]
        fn own_field_is_always_removed(
            before in proptest::collection::vec("[A-Z][a-z]{1,8}: [ -~]{0,20}\n", 0..4),
            after in proptest::collection::vec("[A-Z][a-z]{1,8}: [ -~]{0,20}\n", 0..4),
            folded in proptest::prelude::any::<bool>(),
        ) {
            let own = if folded {
                "Authentication-Results: mx.example.org;\n\tspf=pass\n"
            } else {
                "Authentication-Results: mx.example.org; spf=pass\n"
            };
            let head = format!("{}{own}{}", before.concat(), after.concat());
            let msg = format!("{head}\nbody\n");
            let out = strip_own_results(msg.as_bytes(), "mx.example.org").unwrap();
            let expected = format!("{}{}\nbody\n", before.concat(), after.concat());
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn helo_literals_are_not_spf_checked() {
        assert_eq!(helo_domain("[127.0.0.1]"), None);
        assert_eq!(helo_domain("localhost"), None);
        assert_eq!(helo_domain("mail.example.org"), Some("mail.example.org"));
    }
}

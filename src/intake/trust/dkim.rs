//! DKIM signing (RFC 6376) of outgoing mail, and the keys it uses.
//!
//! Keys live in the data directory as `dkim/<domain>/<selector>.key`: one PEM file per key,
//! PKCS#8 (`BEGIN PRIVATE KEY`, what `full_server dkim generate` writes) or PKCS#1 for RSA
//! (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` writes). The algorithm is read from the key, the
//! selector from the file name. Beside each key, `<selector>.txt` holds the DNS record to publish.
//!
//! A message is signed with **every** key of its RFC 5322 From domain (or, when that domain has
//! none, of the nearest parent domain that has, which DMARC's relaxed alignment accepts), so a
//! domain with an RSA and an Ed25519 key gets both signatures, as RFC 8463 §4 advises while
//! verifiers without Ed25519 remain. To retire a key, rename it away from `*.key`.
//!
//! Signatures use relaxed/relaxed canonicalization (RFC 6376 §3.4.2, §3.4.4) over the message with
//! CRLF line ends, the form the relay puts on the wire: a message stored with LF line ends is
//! signed as if each LF were CRLF.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use mail_auth::common::crypto::{DkimKey as AuthKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::DkimSigner;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;

use super::TrustError;

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// `ed25519-sha256` (RFC 8463).
    Ed25519,
    /// `rsa-sha256` (RFC 6376 §3.3.1).
    Rsa,
}

impl KeyAlgorithm {
    /// The `k=` value of the DNS record (RFC 6376 §3.6.1, RFC 8463 §4.2).
    pub fn dns_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
        }
    }
}

/// RSA key sizes `generate` accepts, in bits. RFC 8301 §3.2: signers MUST use at least 1024 and
/// SHOULD use at least 2048.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 1024..=4096;

/// One signing key of one domain.
pub struct SigningKey {
    domain: String,
    selector: String,
    algorithm: KeyAlgorithm,
    /// PKCS#8 (or PKCS#1 for RSA) DER of the private key.
    der: PrivateKeyDer<'static>,
    /// The `p=` value: the raw public key (Ed25519) or its SubjectPublicKeyInfo DER (RSA).
    public: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Checks that `domain` is a host name that is safe as a directory name; returns it in lower
/// case, an internationalized name as A-labels (RFC 8616 §4: `d=` holds A-labels).
pub fn check_domain(domain: &str) -> Result<String, TrustError> {
    let d = mail_auth::common::to_a_label(domain.trim_end_matches('.')).to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(d)
    } else {
        Err(TrustError::BadName(domain.to_owned()))
    }
}

/// Checks a selector: RFC 6376 §3.1 `selector = sub-domain *( "." sub-domain )`.
pub fn check_selector(selector: &str) -> Result<(), TrustError> {
    check_domain(selector).and_then(|s| {
        if s == selector {
            Ok(())
        } else {
            Err(TrustError::BadName(selector.to_owned()))
        }
    })
}

/// The directory holding a domain's keys.
pub fn key_dir(data_dir: &Path, domain: &str) -> PathBuf {
    data_dir.join("dkim").join(domain)
}

impl SigningKey {
    /// Reads a key from PEM text (PKCS#8 Ed25519 or RSA, or PKCS#1 RSA).
    pub fn from_pem(domain: &str, selector: &str, pem: &[u8]) -> Result<Self, TrustError> {
        let domain = check_domain(domain)?;
        check_selector(selector)?;
        let bad = |why: String| TrustError::BadKey {
            selector: selector.to_owned(),
            domain: domain.clone(),
            why,
        };
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad(e.to_string()))?;
        let (algorithm, public) = match &der {
            PrivateKeyDer::Pkcs8(p8) => match Ed25519Key::from_pkcs8_der(p8.secret_pkcs8_der()) {
                Ok(key) => (KeyAlgorithm::Ed25519, key.public_key()),
                Err(_) => (KeyAlgorithm::Rsa, rsa_public(&der).map_err(bad)?),
            },
            PrivateKeyDer::Pkcs1(_) => (KeyAlgorithm::Rsa, rsa_public(&der).map_err(bad)?),
            _ => return Err(bad("not an RSA or Ed25519 key".to_owned())),
        };
        Ok(Self {
            domain,
            selector: selector.to_owned(),
            algorithm,
            der,
            public,
        })
    }

    /// Makes a new key; returns it and its PKCS#8 PEM text. `rsa_bits` is used for RSA only.
    pub fn generate(
        domain: &str,
        selector: &str,
        algorithm: KeyAlgorithm,
        rsa_bits: usize,
    ) -> Result<(Self, String), TrustError> {
        let der = match algorithm {
            KeyAlgorithm::Ed25519 => {
                Ed25519Key::generate_pkcs8().map_err(|e| TrustError::Generate(e.to_string()))?
            }
            KeyAlgorithm::Rsa => {
                use rsa::pkcs8::EncodePrivateKey as _;
                if !RSA_BITS.contains(&rsa_bits) {
                    return Err(TrustError::Generate(format!(
                        "RSA keys must have {} to {} bits",
                        RSA_BITS.start(),
                        RSA_BITS.end()
                    )));
                }
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, rsa_bits)
                    .map_err(|e| TrustError::Generate(e.to_string()))?;
                key.to_pkcs8_der()
                    .map_err(|e| TrustError::Generate(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let pem = pem_encode("PRIVATE KEY", &der);
        Ok((Self::from_pem(domain, selector, pem.as_bytes())?, pem))
    }

    /// The domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Where the public key is published: `<selector>._domainkey.<domain>` (RFC 6376 §3.6.2.1).
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record's text: `v=DKIM1; k=...; p=...` (RFC 6376 §3.6.1).
    pub fn dns_record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.dns_name(),
            base64::engine::general_purpose::STANDARD.encode(&self.public)
        )
    }

    /// The record as a zone-file line, its text split into 255-octet strings as TXT requires.
    pub fn zone_line(&self) -> String {
        let text = self.dns_record();
        let parts: Vec<String> = text
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        format!("{}. IN TXT {}", self.dns_name(), parts.join(" "))
    }

    /// Signs `message` (CRLF line ends) over `headers`; returns the `DKIM-Signature:` field with
    /// CRLF line ends.
    pub fn sign_crlf(&self, headers: &[String], message: &[u8]) -> Result<String, TrustError> {
        let fail = |e: mail_auth::Error| TrustError::Sign(e.to_string());
        let key: AuthKey = match (self.algorithm, &self.der) {
            (KeyAlgorithm::Ed25519, PrivateKeyDer::Pkcs8(p8)) => {
                Ed25519Key::from_pkcs8_der(p8.secret_pkcs8_der())
                    .map_err(fail)?
                    .into()
            }
            (_, der) => RsaKey::<Sha256>::from_key_der(der.clone_key())
                .map_err(fail)?
                .into(),
        };
        let signature = DkimSigner::from_key(key)
            .domain(self.domain.clone())
            .selector(self.selector.clone())
            .headers(headers.iter().cloned())
            .sign(message)
            .map_err(fail)?;
        Ok(signature.to_header())
    }
}

fn rsa_public(der: &PrivateKeyDer<'_>) -> Result<Vec<u8>, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let key =
        match der {
            PrivateKeyDer::Pkcs8(p8) => rsa::RsaPrivateKey::from_pkcs8_der(p8.secret_pkcs8_der())
                .map_err(|e| e.to_string())?,
            PrivateKeyDer::Pkcs1(p1) => rsa::RsaPrivateKey::from_pkcs1_der(p1.secret_pkcs1_der())
                .map_err(|e| e.to_string())?,
            _ => return Err("not an RSA key".to_owned()),
        };
    // RFC 6376 §3.6.1 and its Appendix C: the SubjectPublicKeyInfo, as `openssl rsa -pubout` gives.
    rsa::RsaPublicKey::from(&key)
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The keys of `domain` (every `*.key` in its directory, by file name). None: empty.
pub fn load_keys(data_dir: &Path, domain: &str) -> Result<Vec<SigningKey>, TrustError> {
    let domain = check_domain(domain)?;
    let dir = key_dir(data_dir, &domain);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TrustError::Io { path: dir, source }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let selector = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pem = std::fs::read(path).map_err(|source| TrustError::Io {
                path: path.clone(),
                source,
            })?;
            SigningKey::from_pem(&domain, &selector, &pem)
        })
        .collect()
}

/// Makes a key and writes it as `dkim/<domain>/<selector>.key` (mode 0600) with its DNS record in
/// `<selector>.txt`. An existing key is never overwritten.
pub fn generate_key_file(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: KeyAlgorithm,
    rsa_bits: usize,
) -> Result<SigningKey, TrustError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let (key, pem) = SigningKey::generate(domain, selector, algorithm, rsa_bits)?;
    let dir = key_dir(data_dir, key.domain());
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TrustError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(format!("{selector}.key"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                TrustError::KeyExists(path.clone())
            } else {
                TrustError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
    file.write_all(pem.as_bytes()).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    let txt = dir.join(format!("{selector}.txt"));
    std::fs::write(&txt, format!("{}\n", key.zone_line())).map_err(io(&txt))?;
    Ok(key)
}

/// `message` with CRLF line ends: unchanged when its first line already ends in CRLF, otherwise
/// (the LF form the spool stores) every LF becomes CRLF, which is the exact inverse of the spool's
/// conversion.
pub fn to_crlf(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match memchr_lf(message) {
        Some(i) if i > 0 && message[i - 1] == b'\r' => std::borrow::Cow::Borrowed(message),
        None => std::borrow::Cow::Borrowed(message),
        Some(_) => {
            let mut out = Vec::with_capacity(message.len() + message.len() / 32);
            for &b in message {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
            std::borrow::Cow::Owned(out)
        }
    }
}

fn memchr_lf(message: &[u8]) -> Option<usize> {
    message.iter().position(|b| *b == b'\n')
}

/// The domain of the RFC 5322 From field (the first address when several), lower case.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?;
    let (_, domain) = address.rsplit_once('@')?;
    Some(domain.trim_end_matches('>').to_ascii_lowercase())
}

/// Signs `message` (LF or CRLF line ends) with the keys of its From domain, or of the nearest
/// parent domain with keys. Returns the `DKIM-Signature:` fields to prepend, with LF line ends;
/// `Ok(None)` when no domain has a key (or signing is off).
pub fn sign_message(
    data_dir: &Path,
    config: &crate::core::config::Dkim,
    message: &[u8],
) -> Result<Option<String>, TrustError> {
    if !config.enabled {
        return Ok(None);
    }
    let Some(domain) = from_domain(message) else {
        return Ok(None);
    };
    let domain = check_domain(&domain)?;
    let crlf = to_crlf(message);
    let mut candidate = domain.as_str();
    loop {
        let keys = load_keys(data_dir, candidate)?;
        if !keys.is_empty() {
            let mut out = String::new();
            for key in &keys {
                out.push_str(&key.sign_crlf(&config.headers, &crlf)?);
            }
            return Ok(Some(out.replace("\r\n", "\n")));
        }
        // Parents down to two labels: "example.org" may sign for "mail.example.org".
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hi\n\nHello.\n";

    #[test]
    fn ed25519_keys_round_trip_and_sign() {
        let (key, pem) =
            SigningKey::generate("Example.ORG", "mail", KeyAlgorithm::Ed25519, 0).unwrap();
        assert_eq!(key.domain(), "example.org");
        let again = SigningKey::from_pem("example.org", "mail", pem.as_bytes()).unwrap();
        assert_eq!(again.dns_record(), key.dns_record());
        assert!(key.dns_record().starts_with("v=DKIM1; k=ed25519; p="));
        let header = key
            .sign_crlf(&crate::core::config::Dkim::default().headers, &to_crlf(MSG))
            .unwrap();
        assert!(
            header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=mail; d=example.org;")
        );
        // Verification: tests/server_trust.rs (dkimpy, and our inbound check through DNS).
        assert!(header.ends_with(";\r\n"));
        assert_eq!(key.dns_name(), "mail._domainkey.example.org");
    }

    #[test]
    fn rsa_keys_round_trip() {
        let (key, pem) =
            SigningKey::generate("example.org", "r1", KeyAlgorithm::Rsa, 1024).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(key.dns_record().starts_with("v=DKIM1; k=rsa; p=MI"));
        let header = key.sign_crlf(&["From".to_owned()], &to_crlf(MSG)).unwrap();
        assert!(header.contains("a=rsa-sha256"));
        assert!(SigningKey::generate("example.org", "r1", KeyAlgorithm::Rsa, 512).is_err());
    }

    #[test]
    fn names_that_could_escape_the_key_directory_are_refused() {
        for bad in ["", "..", "a/b", "a..b", ".a", "a b", "ex\\ample.org"] {
            assert!(check_domain(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_domain("Bücher.Example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert!(check_selector("Mail").is_err());
        assert!(check_selector("2026-11.mail").is_ok());
    }

    #[test]
    fn crlf_form_inverts_the_spool() {
        assert_eq!(&*to_crlf(b"a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(&*to_crlf(b"a\r\nb\n"), b"a\r\nb\n");
        assert_eq!(&*to_crlf(b"a: b\nc\r\n"), b"a: b\r\nc\r\r\n");
        assert_eq!(&*to_crlf(b"abc"), b"abc");
    }

    #[test]
    fn from_domain_and_parent_keys() {
        assert_eq!(from_domain(MSG).as_deref(), Some("example.org"));
        assert_eq!(from_domain(b"Subject: x\n\nbody\n"), None);
        let dir = std::env::temp_dir().join(format!("mw-dkim-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = crate::core::config::Dkim::default();
        assert_eq!(sign_message(&dir, &config, MSG).unwrap(), None);
        generate_key_file(&dir, "example.org", "a", KeyAlgorithm::Ed25519, 0).unwrap();
        assert!(matches!(
            generate_key_file(&dir, "example.org", "a", KeyAlgorithm::Ed25519, 0),
            Err(TrustError::KeyExists(_))
        ));
        let sub = b"From: x@mail.example.org\n\nhi\n";
        let headers = sign_message(&dir, &config, sub).unwrap().unwrap();
        assert!(headers.contains("d=example.org"), "{headers}");
        assert!(!headers.contains('\r'));
        assert!(headers.ends_with(";\n"));
        let off = crate::core::config::Dkim {
            enabled: false,
            ..config
        };
        assert_eq!(sign_message(&dir, &off, sub).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

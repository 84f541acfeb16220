//! MTA-STS (RFC 8461) for outbound mail: the `_mta-sts.<domain>` TXT record, the policy fetched
//! from `https://mta-sts.<domain>/.well-known/mta-sts.txt`, parsed, and cached in memory and under
//! `mta-sts/` in the data directory for its `max_age`.
//!
//! - The policy is fetched again when the TXT record's `id` differs from the cached one (§5.1).
//!   Without a TXT record, or when DNS or the fetch fails, an unexpired cached policy is used;
//!   without one, the domain has no policy (§5.1, §8.3).
//! - The fetch (§3.3): HTTPS with the certificate verified for `mta-sts.<domain>`, `200` only
//!   (redirects are not followed), at most [`MAX_POLICY_SIZE`] octets and [`FETCH_TIMEOUT`].
//!   It speaks HTTP/1.0 (`Connection: close`, no chunked bodies): the one GET the RFC needs,
//!   written here rather than adding an HTTP client's dependency tree.
//! - The relay applies the policy ([`crate::outbound::relay`]): `enforce` keeps the MX hosts that
//!   match and requires verified TLS to them; `testing` logs the hosts that would be refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::outbound::Outbound;
use crate::outbound::queue;

/// The largest policy body accepted (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// The longest a policy fetch may take, from the connection to the last octet (§3.3: 10 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `max_age` (§3.2: 31557600 seconds, about a year).
pub const MAX_MAX_AGE: u64 = 31_557_600;
/// Room for the HTTP status line and headers above the body limit.
const MAX_HEADER_SIZE: usize = 8 * 1024;

/// What a policy asks of senders (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts over TLS with a verified certificate.
    Enforce,
    /// Deliver as without a policy; report (here: log) what would have failed.
    Testing,
    /// The domain has withdrawn its policy.
    None,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Testing => "testing",
            Self::None => "none",
        }
    }
}

/// A parsed policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// The MX patterns, lower case: a host name, or `*.` and a domain (one leftmost label).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

/// Why a policy body is not a valid policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `version` is missing or not `STSv1`.
    #[error("version is missing or not STSv1")]
    Version,
    /// `mode` is missing or not `enforce`, `testing` or `none`.
    #[error("mode is missing or unknown")]
    Mode,
    /// `max_age` is missing, not 1 to 10 digits, or over 31557600.
    #[error("max_age is missing or invalid")]
    MaxAge,
    /// An `mx` pattern is not a host name or `*.` and a domain, or none is given outside `none`.
    #[error("mx patterns are missing or invalid")]
    Mx,
    /// A line is not `key: value`.
    #[error("a line is not \"key: value\"")]
    Syntax,
}

/// Whether `s` is a domain name of LDH labels (what an `mx` pattern may name).
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Policy {
    /// Parses a policy body (RFC 8461 §3.2):
    ///
    /// ```text
    /// sts-policy-record = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP)
    ///                     [sts-policy-term]
    /// sts-policy-term   = LF / CRLF
    /// sts-policy-field-delim = ":" *WSP
    /// ```
    ///
    /// `version`, `mode` and `max_age` once each (the first is taken), `mx` at least once unless
    /// the mode is `none`; other fields are ignored.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = line.trim_end_matches([' ', '\t']);
            if line.is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or(PolicyError::Syntax)?;
            let value = value.trim_start_matches([' ', '\t']);
            match key {
                "version" => {
                    version.get_or_insert(value);
                }
                "mode" => {
                    mode.get_or_insert(value);
                }
                "max_age" => {
                    max_age.get_or_insert(value);
                }
                "mx" => mx.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        if version != Some("STSv1") {
            return Err(PolicyError::Version);
        }
        let mode = match mode {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            _ => return Err(PolicyError::Mode),
        };
        let max_age = max_age
            .filter(|v| (1..=10).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v <= MAX_MAX_AGE)
            .ok_or(PolicyError::MaxAge)?;
        let valid = |p: &String| is_domain(p.strip_prefix("*.").unwrap_or(p));
        if !mx.iter().all(valid) || (mx.is_empty() && mode != Mode::None) {
            return Err(PolicyError::Mx);
        }
        Ok(Self { mode, mx, max_age })
    }

    /// The policy as a body [`Policy::parse`] reads back.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "version: STSv1\r\nmode: {}\r\nmax_age: {}\r\n",
            self.mode.as_str(),
            self.max_age
        );
        for mx in &self.mx {
            s.push_str("mx: ");
            s.push_str(mx);
            s.push_str("\r\n");
        }
        s
    }

    /// Whether an MX host matches one of the patterns (RFC 8461 §4.1): equal ignoring case, or
    /// `*.` matching exactly one leftmost label.
    #[must_use]
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

/// The `id` of an MTA-STS TXT record (RFC 8461 §3.1), or `None` when `txt` is not one:
///
/// ```text
/// sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep]
/// sts-version     = %s"v=STSv1"
/// sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
/// sts-sep         = *WSP %x3B *WSP   ; ";"
/// ```
#[must_use]
pub fn record_id(txt: &str) -> Option<String> {
    let mut fields = txt.split(';').map(|f| f.trim_matches([' ', '\t']));
    if fields.next()? != "v=STSv1" {
        return None;
    }
    fields.find_map(|f| {
        let id = f.strip_prefix("id=")?;
        ((1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| id.to_owned())
    })
}

/// A policy as cached: the record `id` it was fetched for and when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    id: String,
    fetched: u64,
    policy: Policy,
}

impl Cached {
    fn fresh(&self, now: u64) -> bool {
        now < self.fetched.saturating_add(self.policy.max_age)
    }

    fn to_text(&self) -> String {
        format!(
            "id: {}\nfetched: {}\n{}",
            self.id,
            self.fetched,
            self.policy.to_text()
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let (first, rest) = text.split_once('\n')?;
        let (second, body) = rest.split_once('\n')?;
        Some(Self {
            id: first.strip_prefix("id: ")?.to_owned(),
            fetched: second.strip_prefix("fetched: ")?.parse().ok()?,
            policy: Policy::parse(body).ok()?,
        })
    }
}

/// The policies known, in memory and in a directory (one file per domain).
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    memory: Mutex<HashMap<String, Cached>>,
}

impl Cache {
    /// A cache keeping its files in `dir` (made when the first policy is stored).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The file of `domain`, when the name is safe as a file name.
    fn file(&self, domain: &str) -> Option<PathBuf> {
        is_domain(domain).then(|| self.dir.join(domain))
    }

    /// The cached policy of `domain`, from memory or else from disk. Blocking.
    fn get(&self, domain: &str) -> Option<Cached> {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = memory.get(domain) {
            return Some(c.clone());
        }
        let cached = Cached::parse(&std::fs::read_to_string(self.file(domain)?).ok()?)?;
        memory.insert(domain.to_owned(), cached.clone());
        Some(cached)
    }

    /// Stores a policy in memory and on disk (written aside, then renamed). Blocking.
    fn put(&self, domain: &str, cached: Cached) {
        if let Some(file) = self.file(domain) {
            let tmp = file.with_extension("tmp");
            let written = std::fs::create_dir_all(&self.dir)
                .and_then(|()| std::fs::write(&tmp, cached.to_text()))
                .and_then(|()| std::fs::rename(&tmp, &file));
            if let Err(e) = written {
                warn!(%domain, "cannot store the MTA-STS policy: {e}");
            }
        }
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(domain.to_owned(), cached);
    }
}

/// The MTA-STS policy that applies to mail for `domain` now, if any (RFC 8461 §5.1).
pub async fn policy(outbound: &Outbound, domain: &str) -> Option<Policy> {
    policy_checked(outbound, domain).await.0
}

/// Why a domain that publishes an MTA-STS record has no policy in force: the fetch failed and
/// nothing is cached (for TLS-RPT, RFC 8460 §4.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    /// `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid`.
    pub result: crate::outbound::tlsrpt::ResultType,
    /// What went wrong.
    pub text: String,
}

/// [`policy`], and when there is none because the fetch failed, why.
pub async fn policy_checked(
    outbound: &Outbound,
    domain: &str,
) -> (Option<Policy>, Option<FetchFailure>) {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let now = queue::now_secs();
    let cache = &outbound.mta_sts;
    let cached = crate::core::blocking(|| cache.get(&domain)).filter(|c| c.fresh(now));
    let id = match outbound.core.dns.txt(&format!("_mta-sts.{domain}")).await {
        Ok(records) => match the_record(&records) {
            Some(id) => id,
            None => return (cached.map(|c| c.policy), None),
        },
        Err(e) => {
            info!(%domain, "MTA-STS record lookup failed: {e}");
            return (cached.map(|c| c.policy), None);
        }
    };
    if let Some(c) = &cached
        && !wants_fetch(c, &id)
    {
        return (Some(c.policy.clone()), None);
    }
    match fetch(outbound, &domain).await {
        Ok(policy) => {
            info!(%domain, %id, mode = policy.mode.as_str(), "MTA-STS policy fetched");
            let fresh = Cached {
                id,
                fetched: now,
                policy: policy.clone(),
            };
            crate::core::blocking(|| cache.put(&domain, fresh));
            (Some(policy), None)
        }
        Err(e) => {
            warn!(%domain, "MTA-STS policy fetch failed: {}", e.text);
            match cached {
                Some(c) => (Some(c.policy), None),
                None => (None, Some(e)),
            }
        }
    }
}

/// The `id` of the one MTA-STS record among a name's TXT records (§3.1: records that are not
/// `v=STSv1` are discarded; more than one, or one that does not parse, is as if there were none).
fn the_record(records: &[String]) -> Option<String> {
    let mut sts = records
        .iter()
        .filter(|r| r.trim_start_matches([' ', '\t']).starts_with("v=STSv1"));
    match (sts.next(), sts.next()) {
        (Some(r), None) => record_id(r),
        _ => None,
    }
}

/// Whether an unexpired cached policy must be fetched again: the record's `id` changed (§5.1).
fn wants_fetch(cached: &Cached, id: &str) -> bool {
    cached.id != id
}

/// Fetches and parses the policy of `domain` within [`FETCH_TIMEOUT`].
async fn fetch(outbound: &Outbound, domain: &str) -> Result<Policy, FetchFailure> {
    use crate::outbound::tlsrpt::ResultType;
    let failure = |result, text| FetchFailure { result, text };
    let host = format!("mta-sts.{domain}");
    let body = tokio::time::timeout(FETCH_TIMEOUT, get(outbound, &host))
        .await
        .map_err(|_| {
            failure(
                ResultType::StsPolicyFetchError,
                format!("https://{host}/ took more than {FETCH_TIMEOUT:?}"),
            )
        })?
        .map_err(|e| match e {
            HttpsError::Tls(text) => failure(ResultType::StsWebpkiInvalid, text),
            HttpsError::Other(text) => failure(ResultType::StsPolicyFetchError, text),
        })?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        failure(
            ResultType::StsPolicyInvalid,
            "the policy is not UTF-8".to_owned(),
        )
    })?;
    Policy::parse(text)
        .map_err(|e| failure(ResultType::StsPolicyInvalid, format!("invalid policy: {e}")))
}

/// Why an HTTPS exchange failed.
#[derive(Debug)]
enum HttpsError {
    /// The TLS handshake (the certificate did not verify, most often).
    Tls(String),
    /// Anything else: DNS, the connection, the response.
    Other(String),
}

impl From<String> for HttpsError {
    fn from(text: String) -> Self {
        Self::Other(text)
    }
}

impl std::fmt::Display for HttpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(t) | Self::Other(t) => f.write_str(t),
        }
    }
}

/// `GET /.well-known/mta-sts.txt` from `host` over verified HTTPS: the body of a `200`.
async fn get(outbound: &Outbound, host: &str) -> Result<Vec<u8>, HttpsError> {
    let port = outbound.core.config.outbound.mta_sts_port;
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: Mailwright\r\n\
         Connection: close\r\n\r\n"
    );
    let response = exchange(outbound, host, port, request.as_bytes(), b"").await?;
    Ok(parse_response(&response)?)
}

/// `POST`s `body` to an `https://host[:port]/path` URL over verified HTTPS, HTTP/1.0 as the
/// policy fetch (used by TLS-RPT, RFC 8460 §5.4). `Ok` with the status line for a `2xx`.
pub(crate) async fn https_post(
    outbound: &Outbound,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<String, String> {
    let HttpsUrl {
        authority,
        host,
        port,
        path,
    } = HttpsUrl::parse(url)?;
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: Mailwright\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let response = exchange(outbound, host, port, request.as_bytes(), body)
        .await
        .map_err(|e| e.to_string())?;
    let status_line = response.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim_end().to_owned();
    let status = status_line.split(' ').nth(1).unwrap_or("");
    if status_line.starts_with("HTTP/1.") && status.len() == 3 && status.starts_with('2') {
        Ok(status_line)
    } else {
        Err(format!("{url} answered {status_line:?}"))
    }
}

/// An `https:` URL taken apart (RFC 8460 §3 `rua` destinations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl<'a> {
    /// `host[:port]`, for the `Host:` header.
    pub authority: &'a str,
    /// The host.
    pub host: &'a str,
    /// The port (443 when not given).
    pub port: u16,
    /// The path and query, `/` when empty.
    pub path: &'a str,
}

impl<'a> HttpsUrl<'a> {
    /// Takes `https://host[:port][/path]` apart; refuses other schemes, an empty host, user
    /// information, a bad port and a path with controls or spaces (it goes into the request
    /// line as is).
    pub fn parse(url: &'a str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url} is not an https URL"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{url}: bad port"))?),
            None => (authority, 443),
        };
        let bad = |b: u8| b.is_ascii_control() || b == b' ' || !b.is_ascii();
        if host.is_empty()
            || host.contains(['@', '[', ']', '?', '#'])
            || authority.bytes().any(bad)
            || path.bytes().any(bad)
        {
            return Err(format!("{url} is not a usable URL"));
        }
        let path = if path.is_empty() { "/" } else { path };
        Ok(Self {
            authority,
            host,
            port,
            path,
        })
    }
}

/// Writes one request to `host` over verified HTTPS and reads the response to the close (at
/// most [`MAX_HEADER_SIZE`] + [`MAX_POLICY_SIZE`] octets).
async fn exchange(
    outbound: &Outbound,
    host: &str,
    port: u16,
    request: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, HttpsError> {
    let ips = outbound
        .core
        .dns
        .addresses(host)
        .await
        .map_err(|e| e.to_string())?;
    let mut tcp = Err(format!("{host} has no address"));
    for ip in ips {
        tcp = TcpStream::connect((ip, port))
            .await
            .map_err(|e| format!("connect to {host}[{ip}]:{port} failed: {e}"));
        if tcp.is_ok() {
            break;
        }
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{host} is not a TLS server name"))?;
    let mut tls = crate::outbound::relay::tls_connector(outbound, true)
        .connect(name, tcp?)
        .await
        .map_err(|e| HttpsError::Tls(format!("TLS with {host} failed: {e}")))?;
    tls.write_all(request)
        .await
        .map_err(|e| format!("write to {host} failed: {e}"))?;
    tls.write_all(body)
        .await
        .map_err(|e| format!("write to {host} failed: {e}"))?;
    tls.flush()
        .await
        .map_err(|e| format!("write to {host} failed: {e}"))?;
    let limit = MAX_HEADER_SIZE + MAX_POLICY_SIZE;
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() > limit {
                    return Err(format!("the response of {host} is over {limit} octets").into());
                }
            }
            // A server that closes without close_notify: what came is all there is.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read from {host} failed: {e}").into()),
        }
    }
    Ok(response)
}

/// The body of an HTTP response whose status is `200` (RFC 8461 §3.3: no redirects).
fn parse_response(response: &[u8]) -> Result<Vec<u8>, String> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the HTTP response has no end of headers")?;
    let (head, body) = (&response[..split], &response[split + 4..]);
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    let mut parts = status_line.split(' ');
    let (version, status) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1 response".to_owned());
    }
    match status {
        "200" => {}
        s if s.starts_with('3') => {
            return Err(format!(
                "HTTP {s}: redirects are not followed (RFC 8461 §3.3)"
            ));
        }
        s => return Err(format!("HTTP {s}")),
    }
    if body.len() > MAX_POLICY_SIZE {
        return Err(format!("the policy is over {MAX_POLICY_SIZE} octets"));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
                           mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn the_rfc_example_parses() {
        // RFC 8461 §3.2.
        let p = Policy::parse(EXAMPLE).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(
            p.mx,
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        assert_eq!(Policy::parse(&p.to_text()).unwrap(), p);
    }

    #[test]
    fn bad_policies_are_refused() {
        let no_mx = "version: STSv1\nmode: enforce\nmax_age: 86400\n";
        assert_eq!(Policy::parse(no_mx), Err(PolicyError::Mx));
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        assert_eq!(Policy::parse(none).unwrap().mode, Mode::None);
        let v2 = "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n";
        assert_eq!(Policy::parse(v2), Err(PolicyError::Version));
        let old = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n";
        assert_eq!(Policy::parse(old), Err(PolicyError::MaxAge));
        let mode = "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n";
        assert_eq!(Policy::parse(mode), Err(PolicyError::Mode));
        let mx = "version: STSv1\nmode: testing\nmx: a..example\nmax_age: 1\n";
        assert_eq!(Policy::parse(mx), Err(PolicyError::Mx));
        assert_eq!(Policy::parse("version STSv1\n"), Err(PolicyError::Syntax));
    }

    #[test]
    fn wildcards_match_one_label() {
        // RFC 8461 §4.1.
        let p = Policy::parse(EXAMPLE).unwrap();
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("MAIL.Example.com."));
        assert!(p.matches("mx1.example.net"));
        assert!(!p.matches("example.net"));
        assert!(!p.matches("a.b.example.net"));
        assert!(!p.matches("other.example.com"));
    }

    #[test]
    fn txt_records() {
        assert_eq!(
            record_id("v=STSv1; id=20160831085700Z;").as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(record_id("v=STSv1;id=abc").as_deref(), Some("abc"));
        assert_eq!(record_id("id=abc; v=STSv1"), None);
        assert_eq!(record_id("v=STSv1; id=a-b"), None);
        assert_eq!(record_id("v=spf1 -all"), None);
    }

    #[test]
    fn one_sts_record_or_none() {
        let r = |v: &[&str]| the_record(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            r(&["v=spf1 -all", "v=STSv1; id=abc;"]).as_deref(),
            Some("abc")
        );
        assert_eq!(r(&["v=STSv1; id=abc;", "v=STSv1; id=def;"]), None);
        assert_eq!(r(&["v=STSv1; id=a_b;"]), None);
        assert_eq!(r(&[]), None);
    }

    #[test]
    fn a_changed_id_fetches_again() {
        let c = Cached {
            id: "abc".into(),
            fetched: 1000,
            policy: Policy::parse(EXAMPLE).unwrap(),
        };
        assert!(!wants_fetch(&c, "abc"));
        assert!(wants_fetch(&c, "abd"));
    }

    #[test]
    fn the_cache_file_round_trips_and_expires() {
        let c = Cached {
            id: "abc".into(),
            fetched: 1000,
            policy: Policy::parse(EXAMPLE).unwrap(),
        };
        assert_eq!(Cached::parse(&c.to_text()), Some(c.clone()));
        assert!(c.fresh(1000 + 604_799));
        assert!(!c.fresh(1000 + 604_800));
    }

    #[test]
    fn the_disk_cache_outlives_the_process() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mta-sts");
        let c = Cached {
            id: "abc".into(),
            fetched: 1000,
            policy: Policy::parse(EXAMPLE).unwrap(),
        };
        Cache::new(dir.clone()).put("example.com", c.clone());
        // A new cache (a restart) reads it back; a name unsafe as a file name is never stored.
        assert_eq!(Cache::new(dir.clone()).get("example.com"), Some(c.clone()));
        Cache::new(dir.clone()).put("../evil", c);
        assert!(!tmp.path().join("evil").exists());
    }

    #[test]
    fn http_responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nversion: STSv1\r\n";
        assert_eq!(parse_response(ok).unwrap(), b"version: STSv1\r\n");
        let moved = b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n";
        assert!(parse_response(moved).unwrap_err().contains("redirects"));
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = Policy::parse(&text);
            let _ = record_id(&text);
            let _ = parse_response(&bytes);
        }

        #[test]
        fn policies_round_trip(
            mode in prop_oneof![Just(Mode::Enforce), Just(Mode::Testing), Just(Mode::None)],
            mx in proptest::collection::vec("(\\*\\.)?[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}", 1..5),
            max_age in 0..=MAX_MAX_AGE,
        ) {
            let p = Policy { mode, mx, max_age };
            prop_assert_eq!(Policy::parse(&p.to_text()).unwrap(), p);
        }
    }
}

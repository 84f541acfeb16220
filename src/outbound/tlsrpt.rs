//! SMTP TLS reporting (RFC 8460) for outbound mail: what happened to each TLS session the relay
//! opened to a policy domain, recorded per UTC day, and once a day a report to each domain that
//! asks for one in its `_smtp._tls` TXT record.
//!
//! - Recording (when `outbound.tls_rpt` is on, for MX delivery; not through a relayhost): one
//!   line of JSON per session, appended and fsynced to `tls-rpt/<YYYY-MM-DD>` in the data
//!   directory, so a day's counts survive a restart. A line holds the policy in force (the
//!   MTA-STS policy text and its `mx` patterns, or `no-policy-found`) and, for a failed session,
//!   its details (RFC 8460 §4.3: result type, receiving MX host name and IP, our address).
//!   DANE is not implemented, so no `tlsa` policy is ever reported.
//! - Reporting ([`send_day`]): the day's lines are summed per policy domain and policy into the
//!   JSON report of RFC 8460 §4 (mail-auth's [`TlsReport`]), gzipped, and sent to each `rua` of
//!   the domain's one `v=TLSRPTv1` record (§3): `mailto:` as a `multipart/report;
//!   report-type=tlsrpt` message through our own queue (DKIM-signed when we have a key, §5.3),
//!   `https:` as a `POST` with `Content-Type: application/tlsrpt+gzip` (§5.4). A domain without
//!   the record gets no report. The day's file is renamed `<day>.sent.<time>` before it is
//!   read: what is recorded meanwhile starts a new file for the day, sent at the day's end.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mail_auth::common::parse::TxtRecordParser as _;
pub use mail_auth::mta_sts::ReportUri;
use mail_auth::mta_sts::TlsRpt;
pub use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy, PolicyDetails, PolicyType, ResultType, Summary, TlsReport,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::outbound::Outbound;
use crate::outbound::mtasts;

/// One TLS session (or one attempt that ended before it: a policy that could not be fetched),
/// as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The policy in force: its type, text, domain and MX patterns.
    pub policy: PolicyDetails,
    /// Why it failed; `None` for a successful session.
    pub failure: Option<FailureDetails>,
}

impl Session {
    /// A session to `domain` under `policy` (an MTA-STS policy, or none found).
    #[must_use]
    pub fn new(domain: &str, policy: Option<&mtasts::Policy>) -> Self {
        let mut details = PolicyDetails::new(
            if policy.is_some() {
                PolicyType::Sts
            } else {
                PolicyType::NoPolicyFound
            },
            domain.trim_end_matches('.').to_ascii_lowercase(),
        );
        if let Some(p) = policy {
            // §4.3: the policy as fetched, one string per line.
            details.policy_string = p.to_text().lines().map(str::to_owned).collect();
            details.mx_host.clone_from(&p.mx);
        }
        Self {
            policy: details,
            failure: None,
        }
    }

    /// The same session, failed for `result` at `mx` (`ip`), with what else is known.
    #[must_use]
    pub fn failed(
        mut self,
        result: ResultType,
        mx: Option<&str>,
        ip: Option<IpAddr>,
        sending_ip: Option<IpAddr>,
        info: Option<String>,
    ) -> Self {
        self.failure = Some(FailureDetails {
            result_type: result,
            sending_mta_ip: sending_ip,
            receiving_mx_hostname: mx.map(str::to_owned),
            receiving_mx_helo: None,
            receiving_ip: ip,
            failed_session_count: 1,
            additional_information: info,
            failure_reason_code: None,
        });
        self
    }
}

/// The UTC day (days since 1970-01-01) of a time in seconds since the epoch.
#[must_use]
pub fn day_of(secs: u64) -> u64 {
    secs / 86_400
}

/// A day as `YYYY-MM-DD`.
#[must_use]
pub fn day_name(day: u64) -> String {
    let dt = mail_parser::DateTime::from_timestamp(i64::try_from(day * 86_400).unwrap_or(0));
    format!("{:04}-{:02}-{:02}", dt.year, dt.month, dt.day)
}

/// The day named `YYYY-MM-DD`.
#[must_use]
pub fn parse_day(name: &str) -> Option<u64> {
    let b = name.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let dt = mail_parser::DateTime::parse_rfc3339(&format!("{name}T00:00:00Z"))?;
    let secs = u64::try_from(dt.to_timestamp()).ok()?;
    (day_name(day_of(secs)) == name).then_some(day_of(secs))
}

/// The daily records, one file per day in a directory.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    /// Appends from concurrent deliveries go one at a time, so lines never interleave.
    lock: Mutex<()>,
}

impl Recorder {
    /// Records kept in `dir` (made with the first record).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            lock: Mutex::new(()),
        }
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, day: u64) -> PathBuf {
        self.dir.join(day_name(day))
    }

    /// Appends a session to the record of `day`, fsynced. Blocking.
    pub fn record(&self, day: u64, session: &Session) -> io::Result<()> {
        let mut line = serde_json::to_string(session).map_err(io::Error::other)?;
        line.push('\n');
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fs::create_dir_all(&self.dir)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file(day))?;
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    /// The sessions recorded for `day` (a line cut short by a crash is skipped). Blocking.
    pub fn sessions(&self, day: u64) -> io::Result<Vec<Session>> {
        read_sessions(&self.file(day))
    }

    /// The days with a record not yet reported, before `today`. Blocking.
    pub fn unsent_before(&self, today: u64) -> Vec<u64> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut days: Vec<u64> = entries
            .filter_map(|e| parse_day(e.ok()?.file_name().to_str()?))
            .filter(|d| *d < today)
            .collect();
        days.sort_unstable();
        days
    }

    /// Takes the record of `day` to report it: renamed `<day>.sent.<time>` first, so that the
    /// sessions recorded meanwhile (the report's own delivery) start a new record of the day
    /// and are reported with it later. Returns its sessions. Blocking.
    pub fn take(&self, day: u64) -> io::Result<Vec<Session>> {
        let taken = {
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let from = self.file(day);
            if !from.exists() {
                return Ok(Vec::new());
            }
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let to = self.dir.join(format!("{}.sent.{stamp}", day_name(day)));
            fs::rename(from, &to)?;
            to
        };
        read_sessions(&taken)
    }
}

fn read_sessions(path: &Path) -> io::Result<Vec<Session>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The sessions of a day summed per policy domain: each policy in force with its counts and
/// failure details (RFC 8460 §4.4).
#[must_use]
pub fn summarise(sessions: &[Session]) -> BTreeMap<String, Vec<Policy>> {
    let mut out: BTreeMap<String, Vec<Policy>> = BTreeMap::new();
    for s in sessions {
        let policies = out.entry(s.policy.policy_domain.clone()).or_default();
        let i = match policies.iter().position(|p| p.policy == s.policy) {
            Some(i) => i,
            None => {
                policies.push(Policy {
                    policy: s.policy.clone(),
                    summary: Summary {
                        total_success: 0,
                        total_failure: 0,
                    },
                    failure_details: Vec::new(),
                });
                policies.len() - 1
            }
        };
        let p = &mut policies[i];
        match &s.failure {
            None => p.summary.total_success += 1,
            Some(f) => {
                p.summary.total_failure += 1;
                let same = |d: &&mut FailureDetails| {
                    FailureDetails {
                        failed_session_count: 0,
                        ..(*d).clone()
                    } == FailureDetails {
                        failed_session_count: 0,
                        ..f.clone()
                    }
                };
                match p.failure_details.iter_mut().find(same) {
                    Some(d) => d.failed_session_count += f.failed_session_count.max(1),
                    None => p.failure_details.push(FailureDetails {
                        failed_session_count: f.failed_session_count.max(1),
                        ..f.clone()
                    }),
                }
            }
        }
    }
    out
}

/// Who sends the reports.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// `organization-name` (§4.4).
    pub organization: String,
    /// `contact-info` (§4.4).
    pub contact: String,
    /// Our host name: `TLS-Report-Submitter` (§5.3) and the `From:` domain.
    pub hostname: String,
}

/// The report of `day` for one policy domain (RFC 8460 §4.4).
#[must_use]
pub fn report(submitter: &Submitter, domain: &str, day: u64, policies: Vec<Policy>) -> TlsReport {
    let start = i64::try_from(day * 86_400).unwrap_or(0);
    TlsReport {
        organization_name: Some(submitter.organization.clone()),
        date_range: DateRange::from_timestamps(start, start + 86_400 - 1),
        contact_info: Some(submitter.contact.clone()),
        // §4.4: unique per report. A day can be reported twice (a forced run, then the rest of
        // the day at its end), so a queue-style id is part of it.
        report_id: format!(
            "{}_{}_{domain}@{}",
            day_name(day),
            crate::outbound::queue::new_id(),
            submitter.hostname
        ),
        policies,
    }
}

/// The report as `application/tlsrpt+gzip` (§5.1).
pub fn gzip(report: &TlsReport) -> io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(report.to_json().as_bytes())?;
    e.finish()
}

/// The `rua` destinations of `domain`'s one TLSRPT record, from its `_smtp._tls` TXT records
/// (RFC 8460 §3: records not starting `v=TLSRPTv1` are discarded; more or fewer than one left
/// means the domain does not take reports).
#[must_use]
pub fn destinations(records: &[String]) -> Vec<ReportUri> {
    let mut rpt = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=TLSRPTv1"));
    match (rpt.next(), rpt.next()) {
        (Some(r), None) => TlsRpt::parse(r.as_bytes())
            .map(|r| r.rua)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The submitter of this server's reports, from the configuration.
#[must_use]
pub fn submitter(outbound: &Outbound) -> Submitter {
    let config = &outbound.core.config;
    let hostname = config.hostname.clone();
    let or = |s: &str, default: String| {
        if s.is_empty() { default } else { s.to_owned() }
    };
    Submitter {
        organization: or(&config.outbound.tls_rpt_organization, hostname.clone()),
        contact: or(
            &config.outbound.tls_rpt_contact,
            format!("mailto:postmaster@{hostname}"),
        ),
        hostname,
    }
}

/// Records a session when reporting is on (best effort: a lost record loses no mail). Blocking.
pub fn record(outbound: &Outbound, session: &Session) {
    if !outbound.core.config.outbound.tls_rpt {
        return;
    }
    let day = day_of(crate::outbound::queue::now_secs());
    if let Err(e) = outbound.tls_rpt.record(day, session) {
        warn!(domain = %session.policy.policy_domain, "cannot record the TLS session for TLS-RPT: {e}");
    }
}

/// What sending one domain's report came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The domain publishes no (single, valid) TLSRPT record.
    NoRecord,
    /// Sent to each destination (queued for `mailto:`, `2xx` for `https:`), or why not.
    To(Vec<(String, Result<String, String>)>),
}

/// Sends the reports of `day` (each policy domain with a TLSRPT record), then marks the day
/// sent. Returns what happened per domain.
pub async fn send_day(outbound: &Outbound, day: u64) -> io::Result<Vec<(String, Sent)>> {
    let recorder = &outbound.tls_rpt;
    let sessions = crate::core::blocking(|| recorder.take(day))?;
    let submitter = submitter(outbound);
    let mut out = Vec::new();
    for (domain, policies) in summarise(&sessions) {
        let rua = match outbound.core.dns.txt(&format!("_smtp._tls.{domain}")).await {
            Ok(records) => destinations(&records),
            Err(e) => {
                info!(%domain, "TLS-RPT record lookup failed: {e}");
                Vec::new()
            }
        };
        if rua.is_empty() {
            info!(%domain, day = %day_name(day), "no TLS-RPT record: no report");
            out.push((domain, Sent::NoRecord));
            continue;
        }
        let report = report(&submitter, &domain, day, policies);
        let mut results = Vec::new();
        for uri in rua {
            let (shown, result) = match &uri {
                ReportUri::Mail(to) => (
                    format!("mailto:{to}"),
                    crate::core::blocking(|| mail(outbound, &submitter, &domain, &report, to)),
                ),
                ReportUri::Http(url) => (url.clone(), post(outbound, url, &report).await),
            };
            match &result {
                Ok(how) => info!(%domain, to = %shown, "TLS report sent: {how}"),
                Err(e) => warn!(%domain, to = %shown, "TLS report not sent: {e}"),
            }
            results.push((shown, result));
        }
        out.push((domain, Sent::To(results)));
    }
    Ok(out)
}

/// Queues the report for `to` as a message (RFC 8460 §5.3), DKIM-signed when a key is
/// configured for our host name. Blocking.
fn mail(
    outbound: &Outbound,
    submitter: &Submitter,
    domain: &str,
    report: &TlsReport,
    to: &str,
) -> Result<String, String> {
    let from = format!("postmaster@{}", submitter.hostname);
    let mut crlf = Vec::new();
    report
        .write_rfc5322(
            domain,
            &submitter.hostname,
            ("TLS reporting", from.as_str()),
            std::iter::once(to),
            &mut crlf,
        )
        .map_err(|e| e.to_string())?;
    // The queue keeps LF line ends.
    let mut message = Vec::with_capacity(crlf.len());
    let mut it = crlf.iter().peekable();
    while let Some(&b) = it.next() {
        if b == b'\r' && it.peek() == Some(&&b'\n') {
            continue;
        }
        message.push(b);
    }
    let signature = (outbound.sign)(&outbound.core, &message).unwrap_or_default();
    // Sent from `<>` as our other reports are: a report is never answered with a bounce.
    outbound
        .queue
        .enqueue(
            "",
            &[to.to_owned()],
            crate::outbound::queue::Kind::Report,
            signature.as_bytes(),
            &mut &message[..],
            crate::outbound::queue::now_secs(),
        )
        .map(|id| format!("queued as {id}"))
        .map_err(|e| e.to_string())
}

/// `POST`s the gzipped report to an `https:` destination (RFC 8460 §5.4) over verified TLS,
/// within [`mtasts::FETCH_TIMEOUT`]: `Ok` for a `2xx`.
async fn post(outbound: &Outbound, url: &str, report: &TlsReport) -> Result<String, String> {
    let body = gzip(report).map_err(|e| e.to_string())?;
    tokio::time::timeout(
        mtasts::FETCH_TIMEOUT,
        mtasts::https_post(outbound, url, "application/tlsrpt+gzip", &body),
    )
    .await
    .map_err(|_| format!("{url} took more than {:?}", mtasts::FETCH_TIMEOUT))?
}

/// Sends each day's reports not yet sent, once the day is over, until the server stops; and the
/// days asked for with `full_server tlsrpt send` (a `send` file in the directory) at once. The
/// server runs it when `outbound.tls_rpt` is on.
pub async fn run(outbound: std::sync::Arc<Outbound>) {
    loop {
        let requested = crate::core::blocking(|| take_request(outbound.tls_rpt.dir()));
        let days = match requested {
            Some(days) => days,
            None => {
                let today = day_of(crate::outbound::queue::now_secs());
                crate::core::blocking(|| outbound.tls_rpt.unsent_before(today))
            }
        };
        for day in days {
            match send_day(&outbound, day).await {
                Ok(sent) => info!(day = %day_name(day), domains = sent.len(), "TLS reports done"),
                Err(e) => warn!(day = %day_name(day), "TLS reports not sent: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// The name of the request file `full_server tlsrpt send` leaves for a running server.
pub const REQUEST_FILE: &str = "send";

/// Asks a running server to send the reports of `day` now (appended: requests add up).
pub fn request_send(dir: &Path, day: u64) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(REQUEST_FILE))?;
    writeln!(f, "{}", day_name(day))
}

/// Takes the days asked for, if a request is waiting.
fn take_request(dir: &Path) -> Option<Vec<u64>> {
    let path = dir.join(REQUEST_FILE);
    let text = fs::read_to_string(&path).ok()?;
    let _ = fs::remove_file(&path);
    Some(text.split_whitespace().filter_map(parse_day).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_record_text_never_panics(text in "\\PC{0,200}", day in 0u64..200_000) {
            let records: Vec<String> = text.split('|').map(str::to_owned).collect();
            for uri in destinations(&records) {
                if let ReportUri::Http(url) = uri {
                    let _ = mtasts::HttpsUrl::parse(&url);
                }
            }
            let _ = parse_day(&text);
            prop_assert_eq!(parse_day(&day_name(day)), Some(day));
        }

        #[test]
        fn https_destinations_come_apart(
            host in "[a-z]{1,10}(\\.[a-z]{1,10}){0,2}",
            port in proptest::option::of(any::<u16>()),
            path in "(/[a-zA-Z0-9._~-]{0,8}){0,3}",
        ) {
            let authority = port.map_or_else(|| host.clone(), |p| format!("{host}:{p}"));
            let record = format!("v=TLSRPTv1; rua=https://{authority}{path}");
            let rua = destinations(&[record]);
            let [ReportUri::Http(url)] = rua.as_slice() else {
                return Err(TestCaseError::fail(format!("{rua:?}")));
            };
            let u = mtasts::HttpsUrl::parse(url).unwrap();
            prop_assert_eq!(u.host, host.as_str());
            prop_assert_eq!(u.port, port.unwrap_or(443));
            prop_assert_eq!(u.path, if path.is_empty() { "/" } else { path.as_str() });
        }
    }

    fn sts() -> mtasts::Policy {
        mtasts::Policy::parse("version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n")
            .unwrap()
    }

    #[test]
    fn days_are_named_and_parsed() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_429), "2025-12-07");
        assert_eq!(parse_day("2025-12-07"), Some(20_429));
        assert_eq!(parse_day("2025-13-07"), None);
        assert_eq!(parse_day("2025-12-07.sent"), None);
        assert_eq!(parse_day("../etc/pw"), None);
    }

    #[test]
    fn sessions_are_summed_per_domain_and_policy() {
        let ip = "192.0.2.1".parse().ok();
        let fail = |s: Session| {
            s.failed(
                ResultType::CertificateExpired,
                Some("mx.remote.test"),
                ip,
                None,
                None,
            )
        };
        let sessions = vec![
            Session::new("remote.test", Some(&sts())),
            Session::new("Remote.test.", Some(&sts())),
            fail(Session::new("remote.test", Some(&sts()))),
            fail(Session::new("remote.test", Some(&sts()))),
            Session::new("other.test", None).failed(
                ResultType::StartTlsNotSupported,
                Some("mx.other.test"),
                None,
                None,
                None,
            ),
        ];
        let all = summarise(&sessions);
        assert_eq!(all.len(), 2);
        let remote = &all["remote.test"];
        assert_eq!(remote.len(), 1);
        assert_eq!(remote[0].summary.total_success, 2);
        assert_eq!(remote[0].summary.total_failure, 2);
        assert_eq!(remote[0].failure_details.len(), 1);
        assert_eq!(remote[0].failure_details[0].failed_session_count, 2);
        assert_eq!(remote[0].policy.policy_type, PolicyType::Sts);
        assert_eq!(remote[0].policy.mx_host, vec!["mx.remote.test".to_owned()]);
        assert!(
            remote[0]
                .policy
                .policy_string
                .contains(&"mode: enforce".to_owned())
        );
        let other = &all["other.test"];
        assert_eq!(other[0].policy.policy_type, PolicyType::NoPolicyFound);
        assert_eq!(other[0].summary.total_failure, 1);
        let submitter = Submitter {
            organization: "Example".into(),
            contact: "mailto:postmaster@mx.test".into(),
            hostname: "mx.test".into(),
        };
        let json = report(&submitter, "remote.test", 20_429, remote.clone()).to_json();
        let again = report(&submitter, "remote.test", 20_429, remote.clone());
        assert!(!json.contains(&again.report_id), "report ids are unique");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["organization-name"], "Example");
        assert_eq!(v["date-range"]["start-datetime"], "2025-12-07T00:00:00Z");
        assert_eq!(v["date-range"]["end-datetime"], "2025-12-07T23:59:59Z");
        assert_eq!(
            v["policies"][0]["summary"]["total-failure-session-count"],
            2
        );
        assert_eq!(
            v["policies"][0]["failure-details"][0]["result-type"],
            "certificate-expired"
        );
    }

    #[test]
    fn records_survive_a_new_recorder_and_are_marked_sent() {
        let dir = tempfile::tempdir().unwrap();
        let day = 20_429;
        let r = Recorder::new(dir.path().join("tls-rpt"));
        r.record(day, &Session::new("remote.test", Some(&sts())))
            .unwrap();
        r.record(day, &Session::new("remote.test", None)).unwrap();
        // A line cut short by a crash is skipped.
        OpenOptions::new()
            .append(true)
            .open(r.file(day))
            .unwrap()
            .write_all(b"{\"policy\":")
            .unwrap();
        let again = Recorder::new(dir.path().join("tls-rpt"));
        assert_eq!(again.sessions(day).unwrap().len(), 2);
        assert_eq!(again.unsent_before(day + 1), vec![day]);
        assert!(again.unsent_before(day).is_empty());
        assert_eq!(again.take(day).unwrap().len(), 2);
        assert!(again.unsent_before(day + 1).is_empty());
        assert!(again.take(day).unwrap().is_empty());
    }

    #[test]
    fn one_record_or_none() {
        let one = vec!["v=TLSRPTv1; rua=mailto:tls@remote.test,https://r.remote.test/x".to_owned()];
        assert_eq!(
            destinations(&one),
            vec![
                ReportUri::Mail("tls@remote.test".into()),
                ReportUri::Http("https://r.remote.test/x".into())
            ]
        );
        let two = vec![
            one[0].clone(),
            "v=TLSRPTv1; rua=mailto:b@remote.test".to_owned(),
        ];
        assert!(destinations(&two).is_empty());
        assert!(destinations(&["v=spf1 -all".to_owned()]).is_empty());
    }
}

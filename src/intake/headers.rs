//! The trace fields of a message: the ones we add (`Return-Path:`, `Received:`, RFC 5321 §4.4)
//! and the ones we read for loop detection (`Received:` to count hops, `Delivered-To:` to find a
//! message coming back to a mailbox or alias it was delivered to before).

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader};
use std::time::SystemTime;

use mailwright_smtp_proto::server::{HeloKind, Mode};
use mailwright_smtp_proto::{Host, ReversePath};

use crate::core::directory::Address;
use crate::core::net::Peer;
use crate::store::Spool;

/// What the header section of a received message says about where it has been.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// `Received:` fields: the hops so far (Postfix counts them against `hopcount_limit`).
    pub received: usize,
    /// The addresses of its `Delivered-To:` fields, lower case.
    pub delivered_to: BTreeSet<String>,
}

impl Trace {
    /// Whether the message was delivered to `address` before (a mail forwarding loop, as Postfix's
    /// local delivery agent detects it).
    pub fn delivered_to(&self, address: &str) -> bool {
        self.delivered_to.contains(&address.to_ascii_lowercase())
    }
}

/// Reads the header section of `spool` (nothing after it) for its trace. Header lines are bounded
/// by the line length limit the message was received under. Blocking once the spool is on disk.
pub fn scan(spool: &mut Spool) -> io::Result<Trace> {
    let mut trace = Trace::default();
    let mut reader = BufReader::new(spool.reader()?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() || text == b"\r" {
            break;
        }
        let Some(colon) = text.iter().position(|b| *b == b':') else {
            continue;
        };
        // RFC 5322 §4.5.3 (obsolete syntax): white space may come before the colon.
        let name = text[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"received") {
            trace.received += 1;
        } else if name.eq_ignore_ascii_case(b"delivered-to") {
            let value = String::from_utf8_lossy(&text[colon + 1..]);
            let value = value.trim().trim_start_matches('<').trim_end_matches('>');
            if !value.is_empty() {
                trace.delivered_to.insert(value.to_ascii_lowercase());
            }
        }
    }
    Ok(trace)
}

/// The session a message came in, for its `Received:` field.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// SMTP, submission or LMTP.
    pub mode: Mode,
    /// The client's greeting.
    pub helo: Option<&'a (HeloKind, Host)>,
    /// The authenticated user.
    pub user: Option<&'a Address>,
    /// Whether TLS was active.
    pub tls: bool,
    /// The client.
    pub peer: Peer,
}

/// `Return-Path:` and `Received:` (RFC 5321 §4.4; "with" keywords of RFC 3848), LF line ends.
/// `for` names the one recipient when there is just one.
pub fn trace_fields(
    hostname: &str,
    id: &str,
    from: &ReversePath,
    session: &Session<'_>,
    only_rcpt: Option<&str>,
) -> String {
    let helo_name = session
        .helo
        .map_or_else(|| "unknown".to_owned(), |(_, h)| h.to_string());
    let with = match (session.mode, session.helo.map(|(k, _)| *k)) {
        (Mode::Lmtp, _) => "LMTP".to_owned(),
        (_, Some(HeloKind::Helo)) => "SMTP".to_owned(),
        _ => format!(
            "ESMTP{}{}",
            if session.tls { "S" } else { "" },
            if session.user.is_some() { "A" } else { "" }
        ),
    };
    let client = match session.peer.addr {
        Some(a) => format!("[{}]", a.ip()),
        None => "local".to_owned(),
    };
    let for_clause = only_rcpt.map_or_else(String::new, |r| format!("\n\tfor <{r}>"));
    let return_path = match from {
        ReversePath::Null => "<>".to_owned(),
        ReversePath::Mailbox(m) => format!("<{m}>"),
    };
    format!(
        "Return-Path: {return_path}\nReceived: from {helo_name} ({client})\n\tby {hostname} (Mailwright) with {with} id {id}{for_clause};\n\t{}\n",
        crate::core::timefmt::rfc5322(SystemTime::now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hops_and_collects_delivered_to_in_the_header_section_only() {
        let mut spool = Spool::new(std::env::temp_dir());
        spool
            .write(
                b"Received: a\r\n\tcontinued\r\nReceived : b\r\nDelivered-To: Alice@Example.ORG\r\nDelivered-To: <bob@x.test>\r\nSubject: x\r\n\r\nReceived: not a field\r\nDelivered-To: carol@x.test\r\n",
            )
            .unwrap();
        let trace = scan(&mut spool).unwrap();
        assert_eq!(trace.received, 2);
        assert!(trace.delivered_to("alice@example.org"));
        assert!(trace.delivered_to("BOB@x.test"));
        assert!(!trace.delivered_to("carol@x.test"), "the body is not read");
    }
}

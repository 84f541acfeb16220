//! Delivery status notifications (RFC 3464): the bounce, the delay warning and the success
//! notice ("delivered" for local delivery, "relayed" to a server without DSN) sent to the envelope
//! sender, as `multipart/report; report-type=delivery-status` with a human part, the
//! machine-readable `message/delivery-status` part and the original message: its header section
//! (`text/rfc822-headers`, RFC 6522), or the whole message (`message/rfc822`) for a failure when the
//! sender asked with `RET=FULL` (RFC 3461 §4.3) and the message is at most
//! `outbound.bounce_size_limit` octets (default 50000, as Postfix's `bounce_size_limit`; a larger one
//! comes back as its header section). The original is copied through a reader, never held whole.
//!
//! The sender's DSN parameters are honoured (RFC 3461): `NOTIFY=` decides which reports are sent
//! (see [`crate::outbound::queue::RcptDsn::wants`]), `ENVID=` comes back as
//! `Original-Envelope-Id:` and each `ORCPT=` as `Original-Recipient:`.
//!
//! Reports go out from the null sender `<>`, so they are never bounced themselves (RFC 5321 §6.1),
//! and a message from `<>` never causes one. Their `From:` is the postmaster of the host, an
//! address that takes replies (`postmaster@` is always accepted, RFC 5321 §4.5.1).

use std::fmt::Write as _;
use std::io::{self, Read};
use std::time::SystemTime;

use mailwright_smtp_proto::{OriginalRecipient, Ret};

use crate::outbound::queue::{Attempt, Entry, Kind};

/// What the report says about the listed recipients (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Delivery failed for good.
    Failed,
    /// Delivery is still being tried.
    Delayed,
    /// Delivered into the recipient's mailbox.
    Delivered,
    /// Handed to a server that sends no delivery notifications (RFC 3461 §4.1).
    Relayed,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// The enhanced status code (RFC 3463) inside a reply line like `550 5.1.1 No such user`, or one
/// derived from its basic code.
pub fn status_of(reply: &str, action: Action) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or_default();
    if let Some(enhanced) = words.next().filter(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return enhanced.to_owned();
    }
    match (action, code.as_bytes().first()) {
        (Action::Delivered | Action::Relayed, _) => "2.0.0".to_owned(),
        (Action::Delayed, _) | (_, Some(b'4')) => "4.0.0".to_owned(),
        _ => "5.0.0".to_owned(),
    }
}

/// The most of a header section a report returns.
pub const MAX_RETURNED_HEADERS: u64 = 64 * 1024;

/// The header section of a stored message (up to the first empty line), at most 64 KiB.
pub fn header_section(message: &[u8]) -> &[u8] {
    let end = memchr_blank_line(message).unwrap_or(message.len());
    &message[..end.min(64 * 1024)]
}

fn memchr_blank_line(m: &[u8]) -> Option<usize> {
    if m.starts_with(b"\n") {
        return Some(0);
    }
    m.windows(2).position(|w| w == b"\n\n").map(|p| p + 1)
}

/// Reads the header section of a message from a reader (what [`header_section`] cuts from a
/// slice): up to the first empty line, at most [`MAX_RETURNED_HEADERS`] octets.
struct HeaderSection<R> {
    inner: io::Take<R>,
    /// The octet before was a line end (true at the start: a leading empty line ends it).
    after_lf: bool,
    done: bool,
}

impl<R: Read> Read for HeaderSection<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' && self.after_lf {
                self.done = true;
                return Ok(i);
            }
            self.after_lf = b == b'\n';
        }
        Ok(n)
    }
}

/// Passes a reader through and ends it with a line end when it does not end with one.
struct EndsWithLf<R> {
    inner: R,
    last: Option<u8>,
    done: bool,
}

impl<R: Read> Read for EndsWithLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
            return Ok(n);
        }
        self.done = true;
        if self.last == Some(b'\n') {
            return Ok(0);
        }
        buf[0] = b'\n';
        Ok(1)
    }
}

pub use crate::core::config::DEFAULT_BOUNCE_SIZE_LIMIT;

/// What a report is about: one message, and to whom the report goes.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// Our host name (`Reporting-MTA:`, the `From:` domain).
    pub hostname: &'a str,
    /// The envelope sender of the message, who gets the report; empty for `<>`.
    pub to: &'a str,
    /// Our id of the message (queue id).
    pub id: &'a str,
    /// When the message arrived.
    pub arrival: SystemTime,
    /// What happened to the listed recipients.
    pub action: Action,
    /// The sender's `ENVID=`.
    pub envid: Option<&'a str>,
    /// The sender's `RET=`.
    pub ret: Option<Ret>,
    /// The message is itself a report: never answered with another.
    pub is_report: bool,
    /// The size of the message as stored (LF line ends), read by [`build`] from a reader.
    pub original_size: u64,
    /// The largest message a `RET=FULL` failure report returns whole.
    pub bounce_size_limit: u64,
}

impl<'a> Report<'a> {
    /// A report about a queued message.
    pub fn for_entry(
        hostname: &'a str,
        entry: &'a Entry,
        action: Action,
        bounce_size_limit: u64,
    ) -> Self {
        Self {
            hostname,
            to: &entry.from,
            id: &entry.id,
            arrival: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(entry.created),
            action,
            envid: entry.dsn.envid.as_deref(),
            ret: entry.dsn.ret,
            is_report: entry.kind == Kind::Report,
            original_size: entry.size,
            bounce_size_limit,
        }
    }
}

/// One recipient of a report.
#[derive(Debug, Clone, Copy)]
pub struct ReportRcpt<'a> {
    /// The recipient address (`Final-Recipient:`).
    pub address: &'a str,
    /// The sender's `ORCPT=` for it (`Original-Recipient:`).
    pub orcpt: Option<&'a OriginalRecipient>,
    /// What happened: the host that answered and its reply (or our own words).
    pub attempt: &'a Attempt,
}

/// Builds the report, to be read through once: the original message (`Report::original_size`
/// octets, LF line ends) is copied from `original` as the report is read, never held whole.
/// Returns `None` when the sender is the null sender, the message is itself a report (never bounce
/// a bounce), or no recipient is listed. LF line ends.
pub fn build<'r>(
    report: &Report<'_>,
    rcpts: &[ReportRcpt<'_>],
    now: SystemTime,
    original: impl Read + 'r,
) -> Option<impl Read + 'r> {
    if report.to.is_empty() || report.is_report || rcpts.is_empty() {
        return None;
    }
    let hostname = report.hostname;
    let action = report.action;
    let boundary = format!("{}/{}", crate::outbound::queue::new_id(), hostname);
    let date = crate::core::timefmt::rfc5322(now);
    let arrival = crate::core::timefmt::rfc5322(report.arrival);
    let mut m = String::new();
    let subject = match action {
        Action::Failed => "Undelivered Mail Returned to Sender",
        Action::Delayed => "Delayed Mail (still being retried)",
        Action::Delivered | Action::Relayed => "Successful Mail Delivery Report",
    };
    let _ = write!(
        m,
        "From: Mail Delivery System <postmaster@{hostname}>\n\
         To: <{to}>\n\
         Subject: {subject}\n\
         Date: {date}\n\
         Message-ID: <{id}.dsn@{hostname}>\n\
         Auto-Submitted: auto-replied\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{boundary}\"\n\
         \n\
         This is a MIME-encapsulated message.\n\
         \n\
         --{boundary}\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Description: Notification\n\
         \n",
        to = report.to,
        id = crate::outbound::queue::new_id(),
    );
    let full = action == Action::Failed
        && report.ret == Some(Ret::Full)
        && report.original_size <= report.bounce_size_limit;
    let what = if full {
        "It is attached below."
    } else {
        "Its header section is attached below."
    };
    let _ = writeln!(m, "This is the mail system at {hostname}.\n");
    let _ = writeln!(
        m,
        "{}\n{what}\n",
        match action {
            Action::Failed => "Your message could not be delivered to one or more recipients.",
            Action::Delayed =>
                "Your message has not been delivered yet to one or more recipients.\n\
                 Delivery will be tried again; you do not need to resend it.",
            Action::Delivered => "Your message was delivered to the mailboxes listed below.",
            Action::Relayed =>
                "Your message was handed to a mail system that does not send delivery\n\
                 notifications; no further notice will come for the recipients below.",
        }
    );
    for r in rcpts {
        let _ = writeln!(m, "<{}>: {}", r.address, r.attempt.reply);
    }
    let _ = write!(
        m,
        "\n--{boundary}\n\
         Content-Type: message/delivery-status\n\
         Content-Description: Delivery report\n\
         \n\
         Reporting-MTA: dns; {hostname}\n\
         X-Mailwright-Queue-ID: {qid}\n",
        qid = report.id,
    );
    if let Some(envid) = report.envid {
        let _ = writeln!(m, "Original-Envelope-Id: {}", one_line(envid));
    }
    let _ = writeln!(m, "Arrival-Date: {arrival}");
    for r in rcpts {
        let status = status_of(&r.attempt.reply, action);
        m.push('\n');
        if let Some(o) = r.orcpt {
            let _ = writeln!(
                m,
                "Original-Recipient: {};{}",
                one_line(&o.addr_type),
                one_line(&o.address)
            );
        }
        let _ = write!(
            m,
            "Final-Recipient: rfc822; {}\n\
             Action: {}\n\
             Status: {status}\n",
            r.address,
            action.word()
        );
        if let Some(remote) = &r.attempt.remote {
            let _ = writeln!(m, "Remote-MTA: dns; {remote}");
        }
        let diagnostic = if r
            .attempt
            .reply
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            "smtp"
        } else {
            "x-mailwright"
        };
        let _ = writeln!(m, "Diagnostic-Code: {diagnostic}; {}", r.attempt.reply);
        let _ = writeln!(m, "Last-Attempt-Date: {date}");
    }
    let (content_type, description) = if full {
        ("message/rfc822", "Undelivered message")
    } else {
        ("text/rfc822-headers", "Message headers")
    };
    let _ = write!(
        m,
        "\n--{boundary}\n\
         Content-Type: {content_type}\n\
         Content-Description: {description}\n\
         \n"
    );
    let returned: Box<dyn Read + 'r> = if full {
        Box::new(original.take(report.original_size))
    } else {
        Box::new(HeaderSection {
            inner: original.take(MAX_RETURNED_HEADERS),
            after_lf: true,
            done: false,
        })
    };
    let returned = EndsWithLf {
        inner: returned,
        last: None,
        done: false,
    };
    Some(
        io::Cursor::new(m.into_bytes())
            .chain(returned)
            .chain(io::Cursor::new(format!("\n--{boundary}--\n").into_bytes())),
    )
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert_eq!(status_of("550 5.1.1 No such user", Action::Failed), "5.1.1");
        assert_eq!(status_of("550 No such user", Action::Failed), "5.0.0");
        assert_eq!(status_of("451 try later", Action::Delayed), "4.0.0");
        assert_eq!(status_of("connection refused", Action::Failed), "5.0.0");
        assert_eq!(status_of("250 ok", Action::Delivered), "2.0.0");
    }

    #[test]
    fn headers_stop_at_blank_line() {
        assert_eq!(header_section(b"A: 1\nB: 2\n\nbody\n"), b"A: 1\nB: 2\n");
        assert_eq!(header_section(b"\nbody"), b"");
        assert_eq!(header_section(b"A: 1\n"), b"A: 1\n");
    }

    fn read_all(mut r: impl Read) -> String {
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        out
    }

    /// Serves a message a few octets a read, counting what was taken.
    struct Trickle<'a> {
        rest: &'a [u8],
        taken: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.rest.len()).min(7);
            buf[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            self.taken += n;
            Ok(n)
        }
    }

    #[test]
    fn the_original_is_copied_through_the_reader() {
        let attempt = Attempt {
            remote: None,
            reply: "550 5.1.1 no such user".to_owned(),
        };
        let rcpts = [ReportRcpt {
            address: "a@x.test",
            orcpt: None,
            attempt: &attempt,
        }];
        let mut original = b"Subject: big\nFrom: s@y.test\n\n".to_vec();
        while original.len() < 300_000 {
            original.extend_from_slice(b"a line of the body\n");
        }
        original.extend_from_slice(b"no line end at the end");
        let mut report = Report {
            hostname: "mx.x.test",
            to: "s@y.test",
            id: "ABC",
            arrival: SystemTime::UNIX_EPOCH,
            action: Action::Failed,
            envid: None,
            ret: Some(Ret::Full),
            is_report: false,
            original_size: original.len() as u64,
            bounce_size_limit: 1 << 20,
        };
        let mut source = Trickle {
            rest: &original,
            taken: 0,
        };
        let text = read_all(build(&report, &rcpts, SystemTime::now(), &mut source).unwrap());
        assert_eq!(source.taken, original.len());
        let at = text.find("Content-Type: message/rfc822\n").unwrap();
        let body = std::str::from_utf8(&original).unwrap();
        assert!(
            text[at..].contains(&format!("{body}\n\n--")),
            "copied whole, line end added"
        );
        // Over the limit (Postfix's bounce_size_limit): the header section only, and the
        // reader is not read to its end.
        report.bounce_size_limit = DEFAULT_BOUNCE_SIZE_LIMIT;
        let mut source = Trickle {
            rest: &original,
            taken: 0,
        };
        let text = read_all(build(&report, &rcpts, SystemTime::now(), &mut source).unwrap());
        assert!(source.taken < 1024, "read {} octets", source.taken);
        assert!(
            text.contains("Content-Type: text/rfc822-headers\nContent-Description: Message headers\n\nSubject: big\nFrom: s@y.test\n\n--"),
            "{text}"
        );
        assert!(!text.contains("a line of the body"));
    }

    #[test]
    fn dsn_fields_and_what_is_returned() {
        let attempt = Attempt {
            remote: None,
            reply: "550 5.4.6 mail forwarding loop for <a@x.test>".to_owned(),
        };
        let orcpt = OriginalRecipient {
            addr_type: "rfc822".to_owned(),
            address: "A@x.test".to_owned(),
        };
        let original = b"Subject: hi\nFrom: s@y.test\n\nthe body\n";
        let mut report = Report {
            hostname: "mx.x.test",
            to: "s@y.test",
            id: "ABC",
            arrival: SystemTime::UNIX_EPOCH,
            action: Action::Failed,
            envid: Some("env-1"),
            ret: Some(Ret::Full),
            is_report: false,
            original_size: original.len() as u64,
            bounce_size_limit: DEFAULT_BOUNCE_SIZE_LIMIT,
        };
        let rcpts = [ReportRcpt {
            address: "a@x.test",
            orcpt: Some(&orcpt),
            attempt: &attempt,
        }];
        let text = read_all(build(&report, &rcpts, SystemTime::now(), &original[..]).unwrap());
        assert!(text.contains("From: Mail Delivery System <postmaster@mx.x.test>\n"));
        assert!(text.contains("Original-Envelope-Id: env-1\n"), "{text}");
        assert!(text.contains("Original-Recipient: rfc822;A@x.test\nFinal-Recipient: rfc822; a@x.test\nAction: failed\nStatus: 5.4.6\n"), "{text}");
        assert!(
            text.contains("Content-Type: message/rfc822\n"),
            "RET=FULL: {text}"
        );
        assert!(text.contains("the body"), "{text}");
        report.ret = Some(Ret::Headers);
        let text = read_all(build(&report, &rcpts, SystemTime::now(), &original[..]).unwrap());
        assert!(
            text.contains("Content-Type: text/rfc822-headers\n"),
            "{text}"
        );
        assert!(!text.contains("the body"), "{text}");
        report.action = Action::Delivered;
        report.ret = Some(Ret::Full);
        let text = read_all(build(&report, &rcpts, SystemTime::now(), &original[..]).unwrap());
        assert!(text.contains("Action: delivered\n"), "{text}");
        assert!(
            !text.contains("the body"),
            "success reports return headers only: {text}"
        );
        report.to = "";
        assert!(
            build(&report, &rcpts, SystemTime::now(), &original[..]).is_none(),
            "never to <>"
        );
    }
}

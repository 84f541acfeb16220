//! Delivery status notifications (RFC 3464): the bounce and the delay warning sent to the envelope
//! sender, as `multipart/report; report-type=delivery-status` with a human part, the
//! machine-readable `message/delivery-status` part and the original headers (`text/rfc822-headers`,
//! RFC 6522).
//!
//! They are sent from the null sender `<>`, so they are never bounced themselves (RFC 5321 §6.1),
//! and a message from `<>` never causes one.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::outbound::queue::{Attempt, Entry};

/// What the report says about the listed recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Delivery failed for good.
    Failed,
    /// Delivery is still being tried.
    Delayed,
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
        (Action::Delayed, _) | (_, Some(b'4')) => "4.0.0".to_owned(),
        _ => "5.0.0".to_owned(),
    }
}

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

/// Builds the report to `entry.from` about `rcpts`. Returns `None` when the sender is the null
/// sender or the entry is itself a report (never bounce a bounce). LF line ends.
pub fn build(
    hostname: &str,
    entry: &Entry,
    rcpts: &[(&str, &Attempt)],
    action: Action,
    original: &[u8],
    now: SystemTime,
) -> Option<Vec<u8>> {
    if entry.from.is_empty()
        || entry.kind == crate::outbound::queue::Kind::Report
        || rcpts.is_empty()
    {
        return None;
    }
    let boundary = format!("{}/{}", crate::outbound::queue::new_id(), hostname);
    let date = crate::core::timefmt::rfc5322(now);
    let arrival = crate::core::timefmt::rfc5322(
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(entry.created),
    );
    let mut m = String::new();
    let subject = match action {
        Action::Failed => "Undelivered Mail Returned to Sender",
        Action::Delayed => "Delayed Mail (still being retried)",
    };
    let _ = write!(
        m,
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\n\
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
        to = entry.from,
        id = crate::outbound::queue::new_id(),
    );
    match action {
        Action::Failed => {
            let _ = writeln!(
                m,
                "This is the mail system at {hostname}.\n\n\
                 Your message could not be delivered to one or more recipients.\n\
                 It is attached below (headers only).\n"
            );
        }
        Action::Delayed => {
            let _ = writeln!(
                m,
                "This is the mail system at {hostname}.\n\n\
                 Your message has not been delivered yet to one or more recipients.\n\
                 Delivery will be tried again; you do not need to resend it.\n"
            );
        }
    }
    for (rcpt, attempt) in rcpts {
        let _ = writeln!(m, "<{rcpt}>: {}", attempt.reply);
    }
    let _ = write!(
        m,
        "\n--{boundary}\n\
         Content-Type: message/delivery-status\n\
         Content-Description: Delivery report\n\
         \n\
         Reporting-MTA: dns; {hostname}\n\
         X-Mailwright-Queue-ID: {qid}\n\
         Arrival-Date: {arrival}\n",
        qid = entry.id,
    );
    for (rcpt, attempt) in rcpts {
        let status = status_of(&attempt.reply, action);
        let _ = write!(
            m,
            "\nFinal-Recipient: rfc822; {rcpt}\n\
             Action: {}\n\
             Status: {status}\n",
            match action {
                Action::Failed => "failed",
                Action::Delayed => "delayed",
            }
        );
        if let Some(remote) = &attempt.remote {
            let _ = writeln!(m, "Remote-MTA: dns; {remote}");
        }
        let diagnostic = if attempt
            .reply
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            "smtp"
        } else {
            "x-mailwright"
        };
        let _ = writeln!(m, "Diagnostic-Code: {diagnostic}; {}", attempt.reply);
        let _ = writeln!(m, "Last-Attempt-Date: {date}");
    }
    let _ = write!(
        m,
        "\n--{boundary}\n\
         Content-Type: text/rfc822-headers\n\
         Content-Description: Undelivered message headers\n\
         \n"
    );
    let mut out = m.into_bytes();
    let headers = header_section(original);
    out.extend_from_slice(headers);
    if !headers.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("\n--{boundary}--\n").as_bytes());
    Some(out)
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
    }

    #[test]
    fn headers_stop_at_blank_line() {
        assert_eq!(header_section(b"A: 1\nB: 2\n\nbody\n"), b"A: 1\nB: 2\n");
        assert_eq!(header_section(b"\nbody"), b"");
        assert_eq!(header_section(b"A: 1\n"), b"A: 1\n");
    }
}

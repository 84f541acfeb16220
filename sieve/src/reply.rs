//! The text of a vacation reply (RFC 5230 §5, RFC 3834 §3).

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::date::DateTime;
use crate::outcome::VacationReply;

/// Longest line of a message (RFC 5322 §2.1.1), CRLF excluded.
const MAX_LINE: usize = 998;

impl VacationReply {
    /// The reply as RFC 5322 text with CRLF line ends, ready for the application's outbound
    /// queue with the null reverse-path `<>` (RFC 5230 §5.1 and RFC 3834 §3.3: replies go
    /// from `<>` so that they do not loop). `date` and `utc_offset` (minutes east of UTC) make
    /// the Date field; `message_id` is the new message's id without angle brackets.
    ///
    /// The fields are those RFC 5230 §5 asks for: To the original's envelope sender, From,
    /// Subject (RFC 2047-encoded when it is not US-ASCII), In-Reply-To and References of the
    /// original, `Auto-Submitted: auto-replied` (RFC 3834 §5), and `Precedence: bulk`, which
    /// older responders look for. A plain reason is `text/plain; charset=utf-8`; a `:mime`
    /// reason brings its own Content- fields (RFC 5230 §4.4).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use mailwright_sieve::{Action, Capabilities, EmptyEnvironment, ParsedMessage, Program};
    ///
    /// let program = Program::compile(
    ///     "require \"vacation\"; vacation :subject \"Absent\" \"Back soon.\";",
    ///     &Capabilities::all(),
    /// ).unwrap();
    /// let message = ParsedMessage::new(b"To: bob@example.com\r\nMessage-ID: <1@a.example>\r\n\r\nhi\r\n")
    ///     .with_envelope("alice@a.example", "bob@example.com");
    /// let outcome = program.run(&message, &EmptyEnvironment, SystemTime::UNIX_EPOCH).unwrap();
    /// let Action::Vacation(reply) = &outcome.actions[0] else { panic!() };
    /// let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_123_288_260);
    /// let text = String::from_utf8(reply.to_message(date, -420, "r1@example.com")).unwrap();
    /// assert!(text.starts_with("Date: Fri, 5 Aug 2005 17:31:00 -0700\r\n"));
    /// assert!(text.contains("\r\nTo: <alice@a.example>\r\nFrom: <bob@example.com>\r\n"));
    /// assert!(text.contains("\r\nIn-Reply-To: <1@a.example>\r\nReferences: <1@a.example>\r\n"));
    /// assert!(text.contains("\r\nAuto-Submitted: auto-replied (vacation)\r\n"));
    /// assert!(text.ends_with("\r\n\r\nBack soon.\r\n"));
    /// ```
    pub fn to_message(&self, date: SystemTime, utc_offset: i32, message_id: &str) -> Vec<u8> {
        let mut out = String::new();
        let date = DateTime::from_system(date, utc_offset)
            .part("std11")
            .unwrap_or_default();
        field(&mut out, "Date", &date);
        field(
            &mut out,
            "Message-ID",
            &format!("<{}>", one_line(message_id)),
        );
        field(&mut out, "To", &angle(&self.to));
        let from = one_line(&self.from);
        let from = if from.contains('<') {
            from
        } else {
            angle(&from)
        };
        field(&mut out, "From", &from);
        field(&mut out, "Subject", &encode_words(&one_line(&self.subject)));
        if let Some(id) = &self.in_reply_to {
            field(&mut out, "In-Reply-To", &one_line(id));
        }
        if let Some(refs) = &self.references {
            field(&mut out, "References", &one_line(refs));
        }
        field(&mut out, "Auto-Submitted", "auto-replied (vacation)");
        field(&mut out, "Precedence", "bulk");
        field(&mut out, "MIME-Version", "1.0");
        let body = crlf(&self.body);
        if self.mime {
            // The reason is a MIME entity: its header, an empty line, its body. Without a
            // header it is text/plain (RFC 2045 §5.2).
            let first = body.split("\r\n").next().unwrap_or_default();
            let has_header = first.split_once(':').is_some_and(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
            });
            if !has_header {
                out.push_str("\r\n");
            }
            out.push_str(&body);
            if has_header && !body.contains("\r\n\r\n") {
                out.push_str("\r\n");
            }
            if !out.ends_with("\r\n") {
                out.push_str("\r\n");
            }
            return out.into_bytes();
        }
        field(&mut out, "Content-Type", "text/plain; charset=utf-8");
        let long = body.split("\r\n").any(|l| l.len() > MAX_LINE);
        let encoding = if long {
            "quoted-printable"
        } else if body.is_ascii() {
            "7bit"
        } else {
            "8bit"
        };
        field(&mut out, "Content-Transfer-Encoding", encoding);
        out.push_str("\r\n");
        if long {
            out.push_str(&quoted_printable(&body));
        } else {
            out.push_str(&body);
        }
        if !out.ends_with("\r\n") {
            out.push_str("\r\n");
        }
        out.into_bytes()
    }
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "{name}: {value}\r\n");
}

fn angle(address: &str) -> String {
    format!("<{}>", one_line(address).trim_matches(['<', '>']))
}

/// A value that a script or a header gave, made safe for one header field: line ends become
/// spaces, so no text of the original can add a field.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c })
        .collect()
}

/// Line ends as CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// RFC 2047 §4.1 B-encoded words for a value that is not US-ASCII, each within 75 characters
/// (§2), folded onto continuation lines.
fn encode_words(value: &str) -> String {
    if value.is_ascii() {
        return value.to_owned();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        // 45 octets are 60 base64 characters, 72 with "=?UTF-8?B?" and "?=".
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7) of CRLF text, soft line breaks within 76 characters.
fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut width = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (b'!'..=b'~').contains(&b) && b != b'=';
            let piece = if literal {
                char::from(b).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::VacationKey;
    use std::time::Duration;

    fn reply(subject: &str, body: &str, mime: bool) -> VacationReply {
        VacationReply {
            to: "alice@example.org".into(),
            from: "Bob <bob@example.com>".into(),
            subject: subject.into(),
            body: body.into(),
            mime,
            in_reply_to: None,
            references: None,
            period: Duration::from_hours(24),
            key: VacationKey {
                sender: "alice@example.org".into(),
                handle: "h".into(),
            },
        }
    }

    fn text(r: &VacationReply) -> String {
        String::from_utf8(r.to_message(SystemTime::UNIX_EPOCH, 0, "x@y")).unwrap()
    }

    #[test]
    fn subjects_are_encoded_and_kept_on_one_field() {
        let t = text(&reply("Café\r\nBcc: evil@example.net", "hi", false));
        assert!(!t.contains("\r\nBcc:"), "{t}");
        assert!(t.contains("Subject: =?UTF-8?B?"), "{t}");
        assert!(t.contains("\r\nFrom: Bob <bob@example.com>\r\n"), "{t}");
        let long = "é".repeat(100);
        let t = text(&reply(&long, "hi", false));
        let subject = t.split("Subject: ").nth(1).unwrap();
        let subject = &subject[..subject.find("\r\nAuto").unwrap()];
        assert!(subject.split("\r\n ").all(|w| w.len() <= 75), "{subject}");
        let decoded: String = subject
            .split("\r\n ")
            .map(|w| {
                let b = w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
                String::from_utf8(crate::message::base64_decode(b.as_bytes())).unwrap()
            })
            .collect();
        assert_eq!(decoded, long);
    }

    #[test]
    fn bodies() {
        let t = text(&reply("s", "ça va\nbien", false));
        assert!(t.contains("Content-Transfer-Encoding: 8bit\r\n\r\nça va\r\nbien\r\n"));
        let t = text(&reply("s", &"a".repeat(2000), false));
        assert!(t.contains("quoted-printable"));
        assert!(t.lines().all(|l| l.len() <= 78), "{t}");
        let t = text(&reply(
            "s",
            "Content-Type: text/html\n\n<p>away</p>\n",
            true,
        ));
        assert!(t.ends_with("MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>away</p>\r\n"));
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(quoted_printable("a=b "), "a=3Db=20");
    }
}

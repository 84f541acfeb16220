//! Message submission policy (RFC 6409): who may use which envelope sender, and the header
//! fix-ups a submission server makes.
//!
//! - The envelope sender must be the authenticated user, the user with a `+detail`, or an address
//!   the directory resolves to that user (an alias or catch-all of theirs), when
//!   `[submission] enforce_sender` is on (RFC 6409 §6.1 "Enforce Submission Rights"). The null
//!   sender is never accepted on submission: clients do not send bounces.
//! - `Message-ID:` and `Date:` are added when the header section lacks them (RFC 6409 §8.3 and
//!   §8.4). Only the header section is scanned and new lines are prepended: nothing the client
//!   sent is rewritten, so a body signature stays valid.

use crate::core::smtp_reply;
use std::io::{self, Read};
use std::time::SystemTime;

use mailwright_smtp_proto::server::Mode;
use mailwright_smtp_proto::{Host, Reply, ReversePath};
use tracing::warn;

use crate::core::Core;
use crate::core::directory::{Address, Directory, Resolution};
use crate::store::Spool;

/// Why an envelope sender is refused on submission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SenderRefused {
    /// `MAIL FROM:<>`: bounces are not submitted by clients.
    #[error("the null sender is not accepted on submission")]
    NullSender,
    /// The address is neither the user nor one of their aliases.
    #[error("sender {sender} is not owned by {user}")]
    NotOwned {
        /// The envelope sender as given.
        sender: String,
        /// The authenticated user.
        user: String,
    },
    /// The directory could not be read: try again later.
    #[error("directory lookup failed: {0}")]
    Lookup(String),
}

impl SenderRefused {
    /// The reply to `MAIL`: `553 5.7.1` (RFC 5321 §4.2.2 "mailbox name not allowed"; RFC 3463
    /// §3.8 X.7.1 "not authorized"), or `451 4.3.0` for a lookup failure.
    pub fn reply(&self) -> Reply {
        match self {
            Self::NullSender => smtp_reply(
                553,
                (5, 7, 1),
                "The null sender is not accepted on submission",
            ),
            Self::NotOwned { sender, user } => smtp_reply(
                553,
                (5, 7, 1),
                &format!("Sender address <{sender}> is not owned by user {user}"),
            ),
            Self::Lookup(_) => smtp_reply(451, (4, 3, 0), "Temporary lookup failure"),
        }
    }
}

/// Checks the envelope sender of a submission by `user`. With `enforce` off only the null sender
/// is refused.
pub fn check_sender(
    directory: &Directory,
    enforce: bool,
    from: &ReversePath,
    user: &Address,
) -> Result<(), SenderRefused> {
    let ReversePath::Mailbox(mailbox) = from else {
        return Err(SenderRefused::NullSender);
    };
    if !enforce {
        return Ok(());
    }
    let not_owned = || SenderRefused::NotOwned {
        sender: mailbox.to_string(),
        user: user.to_string(),
    };
    let Host::Domain(domain) = &mailbox.host else {
        return Err(not_owned());
    };
    let Ok(sender) =
        format!("{}@{}", mailbox.local_part.as_str(), domain.as_str()).parse::<Address>()
    else {
        return Err(not_owned());
    };
    if &sender == user || sender.without_detail().as_ref() == Some(user) {
        return Ok(());
    }
    match directory.resolve(&sender) {
        Ok(Resolution::Local(users)) if users.contains(user) => Ok(()),
        Ok(_) => Err(not_owned()),
        Err(e) => Err(SenderRefused::Lookup(e.to_string())),
    }
}

/// The policy the SMTP service applies at `MAIL` in submission mode (a no-op in other modes).
pub(crate) fn check_mail(
    core: &Core,
    mode: Mode,
    from: &ReversePath,
    user: Option<&Address>,
) -> Result<(), Reply> {
    if mode != Mode::Submission {
        return Ok(());
    }
    // The machine refuses MAIL before AUTH in submission mode (RFC 6409 §4.3); be safe anyway.
    let Some(user) = user else {
        return Err(smtp_reply(530, (5, 7, 0), "Authentication required"));
    };
    let enforce = core.config.submission.enforce_sender;
    crate::core::blocking(|| check_sender(&core.directory, enforce, from, user)).map_err(
        |refused| {
            if let SenderRefused::Lookup(e) = &refused {
                warn!("sender check: {e}");
            }
            refused.reply()
        },
    )
}

/// Finds which of the fields a submission server may add are present in a header section fed in
/// pieces. Stops at the empty line that ends the header section (RFC 5322 §2.1); LF or CRLF line
/// ends.
#[derive(Debug, Clone, Default)]
pub struct HeaderScan {
    state: ScanState,
    name: Vec<u8>,
    message_id: bool,
    date: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ScanState {
    #[default]
    LineStart,
    CrAtLineStart,
    Name,
    SkipLine,
    Done,
}

/// Field names longer than this are not ones the scan looks for.
const MAX_NAME: usize = 32;

impl HeaderScan {
    /// A scan at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the message.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = match (self.state, b) {
                (ScanState::Done, _) => return,
                (ScanState::LineStart | ScanState::CrAtLineStart, b'\n') => ScanState::Done,
                (ScanState::LineStart, b'\r') => ScanState::CrAtLineStart,
                // RFC 5322 §2.2.3: a line starting with WSP continues the previous field.
                (ScanState::LineStart, b' ' | b'\t') | (ScanState::CrAtLineStart, _) => {
                    ScanState::SkipLine
                }
                (ScanState::LineStart, _) => {
                    self.name.clear();
                    self.name.push(b);
                    ScanState::Name
                }
                (ScanState::Name, b':') => {
                    self.field_name();
                    ScanState::SkipLine
                }
                (ScanState::Name | ScanState::SkipLine, b'\n') => ScanState::LineStart,
                (ScanState::Name, _) if self.name.len() < MAX_NAME => {
                    self.name.push(b);
                    ScanState::Name
                }
                (ScanState::Name | ScanState::SkipLine, _) => ScanState::SkipLine,
            };
        }
    }

    fn field_name(&mut self) {
        // RFC 5322 §4.5.3 (obsolete syntax): white space may come before the colon.
        let name = self.name.trim_ascii_end();
        if name.eq_ignore_ascii_case(b"message-id") {
            self.message_id = true;
        } else if name.eq_ignore_ascii_case(b"date") {
            self.date = true;
        }
    }

    /// Whether the header section has ended.
    pub fn is_done(&self) -> bool {
        self.state == ScanState::Done
    }

    /// Whether a `Message-ID:` field was seen.
    pub fn has_message_id(&self) -> bool {
        self.message_id
    }

    /// Whether a `Date:` field was seen.
    pub fn has_date(&self) -> bool {
        self.date
    }
}

/// A new `msg-id` (RFC 5322 §3.6.4: `"<" id-left "@" id-right ">"`): the queue id and 64 random
/// bits, at `hostname`.
pub fn new_message_id(id: &str, hostname: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("<{id}.{random:016x}@{hostname}>")
}

/// The header lines (LF line ends) to prepend to a submitted message whose header section `scan`
/// has read: `Message-ID:` and `Date:` when missing.
pub fn missing_headers(scan: &HeaderScan, id: &str, hostname: &str, now: SystemTime) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if !scan.has_message_id() {
        let _ = writeln!(out, "Message-ID: {}", new_message_id(id, hostname));
    }
    if !scan.has_date() {
        let _ = writeln!(out, "Date: {}", crate::core::timefmt::rfc5322(now));
    }
    out
}

/// Scans the header section of a spooled message (nothing past its end is read).
pub fn scan_spool(spool: &mut Spool) -> io::Result<HeaderScan> {
    let mut scan = HeaderScan::new();
    let mut reader = spool.reader()?;
    let mut buf = [0u8; 8192];
    while !scan.is_done() {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        scan.handle_input(&buf[..n]);
    }
    Ok(scan)
}

/// What `finish_message` prepends after the trace fields: on submission with
/// `add_missing_headers`, the missing `Message-ID:` and `Date:`; elsewhere nothing.
pub(crate) fn fix_ups(core: &Core, mode: Mode, spool: &mut Spool, id: &str) -> String {
    if mode != Mode::Submission || !core.config.submission.add_missing_headers {
        return String::new();
    }
    let scanned = if spool.on_disk() {
        crate::core::blocking(|| scan_spool(spool))
    } else {
        scan_spool(spool)
    };
    match scanned {
        Ok(scan) => missing_headers(&scan, id, &core.config.hostname, SystemTime::now()),
        Err(e) => {
            // Delivery reads the same spool and will report the failure itself.
            warn!("cannot scan the submitted header section: {e}");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &[u8]) -> HeaderScan {
        let mut s = HeaderScan::new();
        s.handle_input(text);
        s
    }

    #[test]
    fn finds_fields_in_the_header_section_only() {
        let s = scan(
            b"Subject: x\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nMessage-ID: <in@body>\r\n",
        );
        assert!(s.is_done() && s.has_date() && !s.has_message_id());
        let s = scan(b"Subject: x\n  Message-ID: folded, not a field\nMessage-Id : <a@b>\n\nbody");
        assert!(s.has_message_id() && !s.has_date());
        // A header section without a body (no empty line) is scanned to the end.
        let s = scan(b"From: a@b\nDate: now");
        assert!(!s.is_done() && s.has_date());
        let s = scan(b"\r\nDate: x\r\n");
        assert!(s.is_done() && !s.has_date());
        let s = scan(b"X-Very-Long-Field-Name-That-Goes-On-And-On-Date: 1\nDat: 2\n\n");
        assert!(!s.has_date());
    }

    #[test]
    fn split_anywhere_gives_the_same_answer() {
        let text: &[u8] =
            b"From: a@b\r\nSubject: hi\r\n\tcontinued\r\nmessage-id: <x@y>\r\n\r\nDate: body\r\n";
        let whole = scan(text);
        for cut in 0..text.len() {
            let mut s = HeaderScan::new();
            s.handle_input(&text[..cut]);
            s.handle_input(&text[cut..]);
            assert_eq!(
                (s.is_done(), s.has_message_id(), s.has_date()),
                (whole.is_done(), whole.has_message_id(), whole.has_date()),
                "cut at {cut}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any bytes, split anywhere, give the answer of the whole input (and never panic).
        #[test]
        fn scan_is_split_invariant(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"Date:".to_vec()),
                    proptest::strategy::Just(b"message-ID :".to_vec()),
                    proptest::strategy::Just(b"\r\n".to_vec()),
                    proptest::strategy::Just(b"\n".to_vec()),
                    proptest::strategy::Just(b" ".to_vec()),
                    proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..8),
                ],
                0..24,
            ),
            cut in 0usize..200,
        ) {
            let text = text.concat();
            let cut = cut.min(text.len());
            let whole = scan(&text);
            let mut parts = HeaderScan::new();
            parts.handle_input(&text[..cut]);
            parts.handle_input(&text[cut..]);
            proptest::prop_assert_eq!(
                (parts.is_done(), parts.has_message_id(), parts.has_date()),
                (whole.is_done(), whole.has_message_id(), whole.has_date())
            );
        }
    }

    #[test]
    fn missing_fields_are_generated() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let added = missing_headers(&scan(b"Subject: x\n\n"), "ABC", "mx.example.org", now);
        let lines: Vec<&str> = added.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("Message-ID: <ABC.") && lines[0].ends_with("@mx.example.org>")
        );
        assert_eq!(lines[1], "Date: Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(
            missing_headers(&scan(b"Date: d\nMessage-ID: <m@x>\n\n"), "A", "h", now),
            ""
        );
        assert_ne!(new_message_id("A", "h"), new_message_id("A", "h"));
    }

    #[test]
    fn spool_scan_reads_the_spooled_header() {
        let dir = std::env::temp_dir().join(format!("mw-subm-{}", std::process::id()));
        let mut spool = Spool::new(&dir);
        spool.write(b"Subject: x\r\nDate: d\r\n\r\n").unwrap();
        spool
            .write(&vec![b'a'; 2 * crate::store::SPOOL_MEMORY_LIMIT])
            .unwrap();
        assert!(spool.on_disk());
        let s = scan_spool(&mut spool).unwrap();
        assert!(s.is_done() && s.has_date() && !s.has_message_id());
        drop(spool);
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Message flags and IMAP metadata as stored in mbox headers.
//!
//! - `Status:` `R` = seen, `O` = old (no longer \Recent); `X-Status:` `A` = answered, `F` =
//!   flagged, `T` = draft, `D` = deleted (the letters mutt, Pine, Dovecot and Python's `mailbox`
//!   share).
//! - Dovecot: `X-UID: <uid>`, `X-Keywords: <kw> <kw> ...`, and in the first message
//!   `X-IMAPbase: <uidvalidity> <last uid> [<kw> ...]` (UW-IMAP's header: the second number is the
//!   last UID assigned, not UIDNEXT).

/// The standard flags an mbox keeps in `Status:` and `X-Status:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// `\Seen` (`Status: R`).
    pub seen: bool,
    /// Not `\Recent` any more (`Status: O`).
    pub old: bool,
    /// `\Answered` (`X-Status: A`).
    pub answered: bool,
    /// `\Flagged` (`X-Status: F`).
    pub flagged: bool,
    /// `\Draft` (`X-Status: T`).
    pub draft: bool,
    /// `\Deleted` (`X-Status: D`).
    pub deleted: bool,
}

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags {
        seen: false,
        old: false,
        answered: false,
        flagged: false,
        draft: false,
        deleted: false,
    };

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self == Flags::NONE
    }

    /// The `Status:` value (`RO`, `R`, `O` or empty).
    pub fn status(self) -> String {
        let mut s = String::new();
        if self.seen {
            s.push('R');
        }
        if self.old {
            s.push('O');
        }
        s
    }

    /// The `X-Status:` value (letters of `AFTD`, or empty).
    pub fn x_status(self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.answered, 'A'),
            (self.flagged, 'F'),
            (self.draft, 'T'),
            (self.deleted, 'D'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }

    pub(crate) fn apply_status(&mut self, value: &[u8]) {
        for b in value {
            match b {
                b'R' => self.seen = true,
                b'O' => self.old = true,
                _ => {}
            }
        }
    }

    pub(crate) fn apply_x_status(&mut self, value: &[u8]) {
        for b in value {
            match b {
                b'A' => self.answered = true,
                b'F' => self.flagged = true,
                b'T' => self.draft = true,
                b'D' => self.deleted = true,
                _ => {}
            }
        }
    }
}

/// Dovecot's per-mailbox `X-IMAPbase:` header, kept in the first message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ImapBase {
    /// UIDVALIDITY of the mailbox.
    pub uid_validity: u32,
    /// The last UID assigned (IMAP UIDNEXT is this plus one), as UW-IMAP defined the header and
    /// Dovecot reads it.
    pub uid_last: u32,
    /// Keywords defined in the mailbox, in order.
    pub keywords: Vec<String>,
}

/// What an mbox stores about a message besides its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Metadata {
    /// Standard flags (`Status:`, `X-Status:`).
    pub flags: Flags,
    /// IMAP keywords (`X-Keywords:`).
    pub keywords: Vec<String>,
    /// IMAP UID (`X-UID:`).
    pub uid: Option<u32>,
    /// Mailbox-wide IMAP state (`X-IMAPbase:`), normally only on the first message.
    pub imap_base: Option<ImapBase>,
}

impl Metadata {
    /// Metadata with just these flags.
    pub fn with_flags(flags: Flags) -> Self {
        Metadata {
            flags,
            ..Metadata::default()
        }
    }

    /// Whether writing this metadata adds no header at all.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
            && self.keywords.is_empty()
            && self.uid.is_none()
            && self.imap_base.is_none()
    }
}

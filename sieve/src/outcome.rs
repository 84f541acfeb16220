//! What a run decided: the actions the application carries out.

use std::time::Duration;

use crate::environment::VacationKey;

/// The result of a run: the actions in the order the script made them, the implicit keep last
/// when it applies (RFC 5228 §2.10.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// What to do with the message.
    pub actions: Vec<Action>,
    /// Why a `vacation` the script executed sends nothing, if it does not.
    pub vacation_declined: Option<NoReply>,
}

impl Outcome {
    /// What the application does when a run fails (a [`RuntimeError`](crate::RuntimeError)):
    /// keep the message in the default mailbox, as Pigeonhole does.
    pub fn fallback() -> Self {
        Self {
            actions: vec![Action::Keep {
                flags: Vec::new(),
                implicit: true,
            }],
            vacation_declined: None,
        }
    }

    /// Whether the message is stored in the default mailbox (explicit or implicit keep).
    pub fn keeps(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Keep { .. }))
    }
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Store the message in the default mailbox (RFC 5228 §4.3), with these IMAP flags
    /// (RFC 5232). `implicit`: no action cancelled the implicit keep.
    Keep {
        /// IMAP flags and keywords to set.
        flags: Vec<String>,
        /// Whether this is the implicit keep.
        implicit: bool,
    },
    /// Store the message in a mailbox (RFC 5228 §4.1).
    FileInto {
        /// The mailbox name, as the script gave it.
        mailbox: String,
        /// IMAP flags and keywords to set (RFC 5232 §5).
        flags: Vec<String>,
        /// `:copy` (RFC 3894): this action did not cancel the implicit keep.
        copy: bool,
        /// `:create` (RFC 5490 §3.2): create the mailbox if it does not exist.
        create: bool,
    },
    /// Forward the message to an address (RFC 5228 §4.2), unchanged but for a Received trace
    /// field the application may add.
    Redirect {
        /// The addr-spec, without angle brackets.
        address: String,
        /// `:copy` (RFC 3894).
        copy: bool,
    },
    /// Refuse the message (RFC 5429). `extended` for `ereject`: refuse in the SMTP/LMTP
    /// transaction when the application still can, else send a DSN; `reject` sends an MDN-style
    /// refusal (RFC 5429 §2.1, §2.2).
    Reject {
        /// The human-readable reason.
        reason: String,
        /// `ereject` rather than `reject`.
        extended: bool,
    },
    /// Drop the message silently (RFC 5228 §4.4). Listed so that the application can log it;
    /// it only means that no implicit keep follows.
    Discard,
    /// Send this vacation reply (RFC 5230); the interpreter already checked that a reply is
    /// due.
    Vacation(VacationReply),
}

/// A vacation reply to send (RFC 5230 §5: the reply is sent to the envelope sender with
/// `Auto-Submitted: auto-replied` and In-Reply-To/References of the original).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacationReply {
    /// The envelope sender of the original: the recipient of the reply.
    pub to: String,
    /// The From of the reply: `:from`, else the user's address the original was sent to.
    pub from: String,
    /// `:subject`, else "Auto: " and the original's subject, else "Automated reply"
    /// (RFC 5230 §4.3).
    pub subject: String,
    /// The reason: plain UTF-8 text, or a MIME entity (header and body) when `mime`.
    pub body: String,
    /// `:mime` (RFC 5230 §4.4).
    pub mime: bool,
    /// The Message-ID of the original, for In-Reply-To.
    pub in_reply_to: Option<String>,
    /// The References of the original and its Message-ID, for References.
    pub references: Option<String>,
    /// How long no other reply with this key is sent.
    pub period: Duration,
    /// The sent-reply record's key: note it with the time once the reply is sent.
    pub key: VacationKey,
}

/// Why no vacation reply is sent (RFC 5230 §4.5, RFC 3834 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoReply {
    /// The envelope sender is `<>`.
    NullSender,
    /// The sender is the user (the recipient, or one of the user's addresses).
    OwnAddress,
    /// A reply with the same key went out within the period.
    AlreadyReplied,
    /// The message comes from a mailing list (`List-Id` and the other list fields of RFC 2369
    /// and RFC 2919).
    MailingList,
    /// `Auto-Submitted` is present and not `no` (RFC 3834 §5).
    AutoSubmitted,
    /// `Precedence: bulk`, `list` or `junk`.
    Bulk,
    /// The sender is a system address (`MAILER-DAEMON`, `LISTSERV`, `majordomo`, `owner-*`,
    /// `*-request`).
    SystemAddress,
    /// None of the user's addresses is in To, Cc, Bcc or their Resent- fields.
    NotAddressed,
}

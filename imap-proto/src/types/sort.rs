//! SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957).
//!
//! ```text
//! sort            = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
//! sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
//! sort-criterion  = ["REVERSE" SP] sort-key
//! sort-key        = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" /
//!                   "SUBJECT" / "TO"
//! thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//! thread-alg      = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
//! search-criteria = charset 1*(SP search-key)
//! sort-data       = "SORT" *(SP nz-number)
//! thread-data     = "THREAD" [SP 1*thread-list]
//! thread-list     = "(" (thread-members / thread-nested) ")"
//! thread-members  = nz-number *(SP nz-number) [SP thread-nested]
//! thread-nested   = 2*thread-list
//! ```
//! (RFC 5256 §5), with `sort-key =/ "DISPLAYFROM" / "DISPLAYTO"` (RFC 5957 §3) and ESORT's
//! `sort =/ ["UID" SP] "SORT" [sort-return-opts] SP sort-criteria SP search-criteria`
//! (RFC 5267 §3).

use std::num::NonZeroU32;

use super::ValidationError;
use super::core::{Atom, IntoStatic};

/// `sort-key` (RFC 5256 §3, RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `ARRIVAL`: the internal date.
    Arrival,
    /// `CC`: the first Cc address's mailbox.
    Cc,
    /// `DATE`: the Date: field (the internal date when it has none).
    Date,
    /// `FROM`: the first From address's mailbox.
    From,
    /// `SIZE`: RFC822.SIZE.
    Size,
    /// `SUBJECT`: the base subject (RFC 5256 §2.1).
    Subject,
    /// `TO`: the first To address's mailbox.
    To,
    /// `DISPLAYFROM`: the first From address's display name, or its address (RFC 5957).
    DisplayFrom,
    /// `DISPLAYTO`: the first To address's display name, or its address (RFC 5957).
    DisplayTo,
}

impl SortKey {
    /// Every key with its keyword.
    pub const ALL: [(SortKey, &'static str); 9] = [
        (SortKey::Arrival, "ARRIVAL"),
        (SortKey::Cc, "CC"),
        (SortKey::Date, "DATE"),
        (SortKey::From, "FROM"),
        (SortKey::Size, "SIZE"),
        (SortKey::Subject, "SUBJECT"),
        (SortKey::To, "TO"),
        (SortKey::DisplayFrom, "DISPLAYFROM"),
        (SortKey::DisplayTo, "DISPLAYTO"),
    ];
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("ARRIVAL", |(_, s)| s)
    }
}

/// `sort-criterion = ["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE`: descending.
    pub reverse: bool,
    /// What to sort by.
    pub key: SortKey,
}

/// `thread-alg` (RFC 5256 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm<'a> {
    /// `ORDEREDSUBJECT`.
    OrderedSubject,
    /// `REFERENCES`.
    References,
    /// `REFS`: REFERENCES without subject grouping, threads ordered by their latest message
    /// (Dovecot's; draft-ietf-morg-inthread).
    Refs,
    /// Any other `thread-alg-ext` atom.
    Other(Atom<'a>),
}

impl ThreadAlgorithm<'_> {
    /// The keyword.
    pub fn as_str(&self) -> &str {
        match self {
            ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
            ThreadAlgorithm::References => "REFERENCES",
            ThreadAlgorithm::Refs => "REFS",
            ThreadAlgorithm::Other(a) => a.as_str(),
        }
    }
}

impl IntoStatic for ThreadAlgorithm<'_> {
    type Static = ThreadAlgorithm<'static>;
    fn into_static(self) -> ThreadAlgorithm<'static> {
        match self {
            ThreadAlgorithm::OrderedSubject => ThreadAlgorithm::OrderedSubject,
            ThreadAlgorithm::References => ThreadAlgorithm::References,
            ThreadAlgorithm::Refs => ThreadAlgorithm::Refs,
            ThreadAlgorithm::Other(a) => ThreadAlgorithm::Other(a.into_static()),
        }
    }
}

/// One `thread-list`: a chain of messages (`members`, each the parent of the next), then the
/// branches under the last of them (`children`, none or at least two). A list with no members
/// stands for a missing parent (RFC 5256 §4: `((3)(5))`) and has at least two children.
///
/// ```
/// use std::num::NonZeroU32;
/// use mailwright_imap_proto::types::sort::Thread;
///
/// let n = |v| NonZeroU32::new(v).unwrap();
/// // 3 answered by 6, which has the replies 4 and 44.
/// let t = Thread::node(Some(n(3)), vec![
///     Thread::node(Some(n(6)), vec![
///         Thread::node(Some(n(4)), vec![]).unwrap(),
///         Thread::node(Some(n(44)), vec![]).unwrap(),
///     ]).unwrap(),
/// ]).unwrap();
/// assert_eq!(t.members(), [n(3), n(6)]);
/// assert_eq!(t.children().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Thread {
    members: Vec<NonZeroU32>,
    children: Vec<Thread>,
}

impl Thread {
    /// A thread list as sent; checks `thread-list` (RFC 5256 §5): never exactly one child, and
    /// at least two when there are no members.
    pub fn new(members: Vec<NonZeroU32>, children: Vec<Thread>) -> Result<Self, ValidationError> {
        if children.len() == 1 || (members.is_empty() && children.len() < 2) {
            return Err(ValidationError::new("thread-list", b"()"));
        }
        Ok(Self { members, children })
    }
    /// A message (or, with `None`, a missing parent) and the threads under it, in the
    /// `thread-list` form: a single child joins the chain. `None` for a missing parent without
    /// children.
    pub fn node(id: Option<NonZeroU32>, mut children: Vec<Thread>) -> Option<Self> {
        match (id, children.len()) {
            (None, 0) => None,
            (None, 1) => children.pop(),
            (None, _) => Some(Self {
                members: Vec::new(),
                children,
            }),
            (Some(id), 1) => {
                let mut only = children.pop()?;
                only.members.insert(0, id);
                Some(only)
            }
            (Some(id), _) => Some(Self {
                members: vec![id],
                children,
            }),
        }
    }
    /// The chain of messages, each the parent of the next.
    pub fn members(&self) -> &[NonZeroU32] {
        &self.members
    }
    /// The branches under the last member (none or at least two).
    pub fn children(&self) -> &[Thread] {
        &self.children
    }
    /// Every message of the thread, depth first, in the order sent.
    pub fn messages(&self) -> Vec<NonZeroU32> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(t) = stack.pop() {
            out.extend_from_slice(&t.members);
            stack.extend(t.children.iter().rev());
        }
        out
    }
}

impl Drop for Thread {
    // A deep tree would overflow the stack in the recursive drop; flatten it first.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.children);
        while let Some(mut t) = stack.pop() {
            stack.append(&mut t.children);
        }
    }
}

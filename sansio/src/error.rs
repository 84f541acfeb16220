//! The one decode error shape, the excerpt it carries, and the misuse error of decision methods.

use std::fmt;

/// How many octets of offending input an [`Excerpt`] keeps.
pub const EXCERPT_LEN: usize = 64;

/// A few octets of offending input, kept for a log line: cut to [`EXCERPT_LEN`] octets, with
/// credentials redacted by the crate that made it. `Debug` and `Display` escape non-printable
/// octets, so an excerpt can go into any log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Excerpt(Vec<u8>);

impl Excerpt {
    /// The first [`EXCERPT_LEN`] octets of `bytes`.
    ///
    /// ```
    /// let e = mailwright_sansio::Excerpt::new(b"BOGUS\r\n");
    /// assert_eq!(e.to_string(), "BOGUS\\r\\n");
    /// ```
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes[..bytes.len().min(EXCERPT_LEN)].to_vec())
    }

    /// An excerpt that keeps only `prefix` (a verb, a tag and a verb ...) and marks the rest as
    /// redacted: for lines that carry credentials.
    ///
    /// ```
    /// let e = mailwright_sansio::Excerpt::redacted(b"PASS");
    /// assert_eq!(e.to_string(), "PASS <redacted>");
    /// ```
    pub fn redacted(prefix: &[u8]) -> Self {
        let mut v = prefix[..prefix.len().min(EXCERPT_LEN - 11)].to_vec();
        if !v.is_empty() {
            v.push(b' ');
        }
        v.extend_from_slice(b"<redacted>");
        Self(v)
    }

    /// The kept octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

/// Why bytes could not be decoded: the one error shape of every parser in the protocol crates.
///
/// `K` says what was wrong, in the protocol's own terms (each crate has its `MalformedKind`).
/// "Incomplete" is not an error in the input: read more and try again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError<K> {
    /// More bytes are needed; nothing was consumed.
    #[error("incomplete input")]
    Incomplete,
    /// The input is malformed. Skipping `skip` octets (the whole bad line or frame) resynchronises.
    #[error("{kind}: {excerpt}")]
    Malformed {
        /// What was wrong.
        kind: K,
        /// Octets to skip to resume after the bad input.
        skip: usize,
        /// The offending bytes, cut short, credentials redacted.
        excerpt: Excerpt,
    },
}

impl<K> DecodeError<K> {
    /// A [`DecodeError::Malformed`].
    pub fn malformed(kind: K, skip: usize, excerpt: Excerpt) -> Self {
        Self::Malformed {
            kind,
            skip,
            excerpt,
        }
    }

    /// Whether more input is needed.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete)
    }
}

/// A method of a machine was called when the machine was not waiting for it: a decision when none
/// is pending, a command the session cannot send now. The machine is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// No decision of this kind is pending (nothing to accept, reject or answer).
    #[error("no {expected} is pending")]
    NotPending {
        /// What the call would have answered.
        expected: &'static str,
    },
    /// The call is not allowed in the session's current state.
    #[error("{what} is not allowed now: {why}")]
    NotAllowed {
        /// What was attempted.
        what: &'static str,
        /// Why not.
        why: &'static str,
    },
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
}

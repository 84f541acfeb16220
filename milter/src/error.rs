//! Errors: what was malformed in a frame, why a value cannot be encoded, why a session failed.

/// What was wrong with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// A frame of length zero (it has no code octet).
    #[error("empty frame")]
    EmptyFrame,
    /// A frame longer than the configured limit.
    #[error("frame longer than the limit")]
    FrameTooLarge,
    /// A code octet this side does not know.
    #[error("unknown command or response code")]
    UnknownCode,
    /// The data ended inside a number.
    #[error("truncated data")]
    Truncated,
    /// A string without its terminating NUL.
    #[error("string without its NUL")]
    MissingNul,
    /// Octets after the last field.
    #[error("trailing data")]
    TrailingData,
    /// An address family other than `U`, `L`, `4`, `6`.
    #[error("unknown address family")]
    BadFamily,
    /// A macro stage other than 0 to 6 in the option negotiation.
    #[error("unknown macro stage")]
    BadStage,
    /// A reply code that is not `4xx` or `5xx`.
    #[error("reply code is not 4xx or 5xx")]
    BadReplyCode,
}

/// The decode error of this crate: [`mailwright_sansio::DecodeError`] over [`MalformedKind`].
pub type DecodeError = mailwright_sansio::DecodeError<MalformedKind>;

/// Why a value cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A text field holds a NUL octet, which ends a string on the wire.
    #[error("a text field holds a NUL octet")]
    Nul,
    /// The frame would be longer than the limit.
    #[error("frame longer than the limit")]
    TooLarge,
    /// A reply code that is not `4xx` or `5xx` followed by a space or nothing.
    #[error("reply code is not 4xx or 5xx")]
    BadReplyCode,
}

/// Why a session with the peer failed; the session is closed after it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer sent a frame that does not decode.
    #[error("malformed frame from the peer: {0}")]
    Malformed(DecodeError),
    /// The peer sent something the protocol does not allow at this point.
    #[error("unexpected {what} from the peer")]
    Unexpected {
        /// What came.
        what: &'static str,
    },
    /// The filter asked for a version, action or protocol step that was not offered.
    #[error("the filter asked for more than was offered: {what}")]
    NotOffered {
        /// What was asked for.
        what: &'static str,
    },
    /// The filter made a modification it did not negotiate.
    #[error("modification not negotiated")]
    NotNegotiated,
    /// The peer did not answer in time.
    #[error("the peer did not answer in time")]
    Timeout,
}

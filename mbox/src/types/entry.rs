//! One message of an mbox as the reader found it.

use std::ops::Range;

use super::{FromLine, LineEnding, Metadata};

/// Damage the reader met and worked around, with the file offset where it met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tolerated {
    /// Bytes before the first `From ` line that are not blank lines were skipped.
    LeadingGarbage {
        /// Offset of the first skipped byte.
        offset: u64,
        /// How many bytes were skipped.
        len: u64,
    },
    /// A `From ` separator was not preceded by a blank line; it was taken as a separator because
    /// it has a well-formed sender and date.
    MissingBlankLine {
        /// Offset of the `From ` line.
        offset: u64,
    },
    /// A line starting with `From ` inside a message had neither a blank line before it nor a
    /// well-formed date, so it was kept as message text (an unquoted body line).
    UnquotedFromLine {
        /// Offset of the line.
        offset: u64,
    },
    /// The separator line has no parsable sender and date.
    MalformedFromLine {
        /// Offset of the `From ` line.
        offset: u64,
    },
    /// The separator line was longer than `ReadOptions::max_from_line`; the rest was ignored.
    FromLineTooLong {
        /// Offset of the `From ` line.
        offset: u64,
    },
    /// The header block was longer than `ReadOptions::max_header_bytes`; metadata past the limit
    /// was not read.
    HeaderTooLong {
        /// Offset of the message's first header byte.
        offset: u64,
    },
    /// `Content-Length:` did not lead to the next `From ` line or the end of the file, so the
    /// message was delimited by scanning instead.
    ContentLengthMismatch {
        /// Offset of the message's body.
        offset: u64,
        /// The declared length.
        declared: u64,
    },
    /// The file ends in the middle of a line (no final newline).
    MissingTrailingNewline {
        /// Offset of the end of the file.
        offset: u64,
    },
    /// The last message is not followed by the blank line writers put after every message.
    MissingFinalBlankLine {
        /// Offset of the end of the file.
        offset: u64,
    },
}

/// One message found by the reader: where it lies in the file and what its `From ` line and
/// headers say.
///
/// `content` is the stored message as it lies in the file (still quoted); the reader's
/// `next_message*` methods and [`crate::Mbox::copy_message`] give it unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Position in the file, 0 for the first message.
    pub index: u64,
    /// The `From ` separator line.
    pub from_line: FromLine,
    /// Offset of the `From ` line.
    pub offset: u64,
    /// Byte range of the stored message (after the `From ` line, before the separating blank
    /// line).
    pub content: Range<u64>,
    /// Offset just past this entry: the next `From ` line, or the end of the file.
    pub end: u64,
    /// Flags and IMAP metadata from the headers.
    pub metadata: Metadata,
    /// The `Content-Length:` header, if present and numeric.
    pub content_length: Option<u64>,
    /// Line ending of the `From ` line.
    pub line_ending: LineEnding,
    /// Damage worked around while reading this message.
    pub tolerated: Vec<Tolerated>,
}

impl Entry {
    /// Stored length of the message in bytes (quoted, as in the file).
    pub fn stored_len(&self) -> u64 {
        self.content.end - self.content.start
    }
}

//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

/// What can go wrong in a Maildir operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed; `op` names it and `path` is the file it touched.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation that failed (`"create"`, `"rename"`, ...).
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The directory lacks one of `tmp/`, `new/`, `cur/`.
    #[error("not a maildir (missing tmp/, new/ or cur/): {}", .0.display())]
    NotMaildir(PathBuf),
    /// No message with this unique name exists (it may have been expunged by another process).
    #[error("no message named {0:?}")]
    NotFound(String),
    /// A file or unique name that does not follow the Maildir naming rules.
    #[error("invalid message name {0:?}")]
    InvalidName(String),
    /// A folder name that is empty, contains `/`, NUL, `..`, or empty components.
    #[error("invalid folder name {name:?}: {reason}")]
    InvalidFolderName {
        /// The name as given (lossy).
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The folder to create (or the target of a rename) already exists.
    #[error("folder {0:?} already exists")]
    FolderExists(String),
    /// The folder does not exist.
    #[error("folder {0:?} does not exist")]
    FolderNotFound(String),
    /// Accepting the message would exceed the Maildir++ quota.
    #[error("quota exceeded: {used_bytes} bytes / {used_messages} messages in use, limit {limit}")]
    QuotaExceeded {
        /// Bytes in use before this delivery.
        used_bytes: u64,
        /// Messages in use before this delivery.
        used_messages: u64,
        /// The quota definition (`maildirsize` first line).
        limit: String,
    },
    /// A lock (the `dovecot-uidlist.lock` dotlock) could not be taken in time.
    #[error("timed out waiting for lock {}", .0.display())]
    LockTimeout(PathBuf),
    /// A metadata file (`dovecot-uidlist`, `dovecot-keywords`, `maildirsize`...) is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Other processes kept renaming the message; gave up after many retries.
    #[error("message {0:?} kept changing under concurrent renames")]
    Contended(String),
    /// No keyword can be added: all 26 letters are taken ([`Maildir::keyword_flags`], which
    /// gives letters only), or the folder has [`MAX_KEYWORDS`] keywords.
    ///
    /// [`Maildir::keyword_flags`]: crate::Maildir::keyword_flags
    /// [`MAX_KEYWORDS`]: crate::MAX_KEYWORDS
    #[error("too many keywords in this mailbox")]
    TooManyKeywords,
    /// Messages of a COPY or MOVE were expunged meanwhile (their UIDs); nothing was copied
    /// (IMAP `NO [EXPUNGEISSUED]`, RFC 5530).
    #[error("messages expunged meanwhile: {0:?}")]
    Expunged(Vec<u32>),
    /// A keyword that is not a valid IMAP atom.
    #[error("invalid keyword {0:?}")]
    InvalidKeyword(String),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds a closure that wraps an `io::Error` with the operation and path.
pub(crate) fn io_err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> Error + 'p {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl Error {
    /// Whether this is an I/O "not found" error.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

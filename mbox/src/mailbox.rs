//! A live mbox file: locked append, safe rewrite, and reading messages back by their entries.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Take, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::encode::{WriteOptions, encode_message, rewrite_headers};
use crate::lock::{LockOptions, MboxLock};
use crate::parse::{ReadOptions, Reader, Unquoter};
use crate::types::{Entry, FromLine, Metadata, Variant};

/// Settings of an [`Mbox`]. The variant in `read` and `write` should agree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MboxOptions {
    /// How the file is read.
    pub read: ReadOptions,
    /// How new messages are written.
    pub write: WriteOptions,
    /// How the file is locked.
    pub lock: LockOptions,
    /// Skip fsync (tests and throwaway files only). Default `false`: appends and rewrites are
    /// durable when they return.
    pub no_fsync: bool,
}

impl MboxOptions {
    /// Options for reading and writing `variant`, other settings default.
    pub fn new(variant: Variant) -> Self {
        MboxOptions {
            read: ReadOptions::new(variant),
            write: WriteOptions::new(variant),
            ..MboxOptions::default()
        }
    }
}

/// A message to append.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// Its `From ` line.
    pub from: &'a FromLine,
    /// Flags, keywords, UID to store in its headers.
    pub metadata: &'a Metadata,
    /// The message (RFC 5322 text, any line ending).
    pub text: &'a [u8],
}

/// What to do with a message during [`Mbox::rewrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Copy it unchanged.
    Keep,
    /// Leave it out (expunge).
    Delete,
    /// Keep it with these flags, keywords and UID in its headers.
    SetMetadata(Metadata),
}

/// What a rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RewriteStats {
    /// Messages copied unchanged.
    pub kept: u64,
    /// Messages whose metadata was rewritten.
    pub updated: u64,
    /// Messages left out.
    pub deleted: u64,
    /// Size of the new file.
    pub bytes: u64,
}

/// An mbox file on disk.
#[derive(Debug, Clone)]
pub struct Mbox {
    path: PathBuf,
    opts: MboxOptions,
}

impl Mbox {
    /// An mbox at `path` (no I/O yet).
    pub fn new(path: impl Into<PathBuf>, opts: MboxOptions) -> Self {
        Mbox {
            path: path.into(),
            opts,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options.
    pub fn options(&self) -> &MboxOptions {
        &self.opts
    }

    /// A streaming reader over the file, without locking (for a one-off import of a file no one
    /// writes). Use [`Mbox::read_locked`] on a live mailbox.
    pub fn reader(&self) -> Result<Reader<File>, Error> {
        Ok(Reader::with_options(
            File::open(&self.path)?,
            self.opts.read.clone(),
        ))
    }

    /// Runs `f` with a reader over the file while holding a shared fcntl lock: appends and
    /// rewrites by lock-respecting writers wait until `f` returns.
    pub fn read_locked<T>(
        &self,
        f: impl FnOnce(&mut Reader<&File>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = MboxLock::shared(&self.path, &self.opts.lock)?;
        let mut file = lock.file();
        file.seek(SeekFrom::Start(0))?;
        let mut reader = Reader::with_options(file, self.opts.read.clone());
        f(&mut reader)
    }

    /// All entries, read under a shared lock. Memory grows with the number of messages (not
    /// their size); use [`Mbox::read_locked`] to stream instead.
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        self.read_locked(|r| {
            let mut all = Vec::new();
            while let Some(e) = r.next_entry()? {
                all.push(e);
            }
            Ok(all)
        })
    }

    /// Writes the unquoted text of `entry` (from this file) to `out`.
    pub fn copy_message(&self, entry: &Entry, out: &mut dyn Write) -> Result<u64, Error> {
        let mut reader =
            MessageReader::new(File::open(&self.path)?, entry, self.opts.read.variant)?;
        Ok(io::copy(&mut reader, out)?)
    }

    /// The unquoted text of `entry` (from this file).
    pub fn read_message(&self, entry: &Entry) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(entry.stored_len() as usize);
        self.copy_message(entry, &mut out)?;
        Ok(out)
    }

    /// Appends `messages` under the writer locks (see [`crate::lock`]), creating the file if
    /// needed. All or nothing for lock-respecting readers: on any failure the file is truncated
    /// back to its old length. Durable (fsynced, and the directory too when the file was created)
    /// when it returns. Returns the offset of each message's `From ` line.
    pub fn append(&self, messages: &[NewMessage<'_>]) -> Result<Vec<u64>, Error> {
        let existed = self.path.exists();
        let lock = MboxLock::exclusive(&self.path, true, &self.opts.lock)?;
        let file = lock.file();
        let old_len = file.metadata()?.len();
        let eol = self.opts.write.line_ending.as_bytes();

        // The previous message must end with a newline and a blank line before our From line.
        let mut buf = Vec::new();
        if old_len > 0 {
            let mut tail = [0u8; 4];
            let n = old_len.min(4) as usize;
            file.read_exact_at(&mut tail[..n], old_len - n as u64)?;
            let tail = &tail[..n];
            let blank = tail.ends_with(b"\n\n")
                || tail.ends_with(b"\r\n\r\n")
                || (old_len == 1 && tail == b"\n");
            if self.opts.write.variant.uses_content_length() {
                // A Content-Length body may end without a newline, followed by the one-line
                // separator: a From line right after it is in place; another newline would
                // break the length check. Only a file ending mid-line needs one.
                if !tail.ends_with(b"\n") {
                    buf.extend_from_slice(eol);
                }
            } else if !blank {
                if !tail.ends_with(b"\n") {
                    buf.extend_from_slice(eol);
                }
                buf.extend_from_slice(eol);
            }
        }
        let mut offsets = Vec::with_capacity(messages.len());
        for m in messages {
            offsets.push(old_len + buf.len() as u64);
            encode_message(&mut buf, m.from, m.metadata, m.text, &self.opts.write)?;
        }
        let result = (|| -> io::Result<()> {
            write_payload(file, &buf)?;
            if !self.opts.no_fsync {
                file.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Undo: readers must never see half a message.
            let _ = file.set_len(old_len);
            if !self.opts.no_fsync {
                let _ = file.sync_data();
            }
            return Err(e.into());
        }
        if !existed && !self.opts.no_fsync {
            sync_dir(&self.path)?;
        }
        drop(lock);
        Ok(offsets)
    }

    /// Rewrites the mbox for expunges and flag changes: under the writer locks, every message is
    /// passed to `decide`, and the kept ones are written to a temporary file in the same
    /// directory, which is fsynced and renamed over the mbox (then the directory is fsynced).
    /// A crash at any point leaves either the old or the new file, never a mix.
    ///
    /// Readers holding the old file open keep reading the old contents; lock-respecting writers
    /// that waited on the old file notice the rename and lock the new one.
    pub fn rewrite(&self, mut decide: impl FnMut(&Entry) -> Action) -> Result<RewriteStats, Error> {
        let lock = MboxLock::exclusive(&self.path, false, &self.opts.lock)?;
        let mut file = lock.file();
        let meta = file.metadata()?;
        file.seek(SeekFrom::Start(0))?;
        let dir = parent_dir(&self.path);
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp_path = dir.join(format!(".{name}.rewrite.{}", std::process::id()));
        let tmp = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        let guard = TempGuard(Some(tmp_path.clone()));
        tmp.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        // Keep the owner when allowed (root rewriting a user's mailbox); ignore EPERM otherwise.
        let _ = std::os::unix::fs::fchown(&tmp, Some(meta.uid()), Some(meta.gid()));

        let mut out = BufWriter::with_capacity(256 * 1024, &tmp);
        let mut reader = Reader::with_options(file, self.opts.read.clone());
        let eol = self.opts.write.line_ending.as_bytes();
        let mut stats = RewriteStats::default();
        let mut raw = Vec::new();
        let mut last_touch = Instant::now();
        loop {
            raw.clear();
            let Some(entry) = reader.next_raw_to(&mut raw)? else {
                break;
            };
            let action = decide(&entry);
            let header;
            let (head, body): (&[u8], &[u8]) = match &action {
                Action::Delete => {
                    stats.deleted += 1;
                    continue;
                }
                Action::Keep => {
                    stats.kept += 1;
                    (&[], &raw)
                }
                Action::SetMetadata(m) => {
                    stats.updated += 1;
                    let (h, split) = rewrite_headers(&raw, Some(m), None)?;
                    header = h;
                    (&header, &raw[split..])
                }
            };
            out.write_all(entry.from_line.as_bytes())?;
            out.write_all(entry.line_ending.as_bytes())?;
            out.write_all(head)?;
            out.write_all(body)?;
            // A trusted Content-Length keeps a body without final newline as it is.
            let exact = self.opts.read.variant.uses_content_length()
                && entry.content_length.is_some()
                && !entry
                    .tolerated
                    .iter()
                    .any(|t| matches!(t, crate::Tolerated::ContentLengthMismatch { .. }));
            if !exact && !body.is_empty() && !body.ends_with(b"\n") {
                out.write_all(eol)?;
            }
            out.write_all(eol)?;
            if last_touch.elapsed() > Duration::from_mins(1) {
                lock.touch()?;
                last_touch = Instant::now();
            }
        }
        out.flush()?;
        drop(out);
        stats.bytes = tmp.metadata()?.len();
        if !self.opts.no_fsync {
            tmp.sync_all()?;
        }
        // Still under the locks: nothing was appended meanwhile.
        if file.metadata()?.len() != meta.len() {
            return Err(Error::Changed(
                "the mbox grew during the rewrite despite the lock",
            ));
        }
        std::fs::rename(&tmp_path, &self.path)?;
        guard.disarm();
        if !self.opts.no_fsync {
            sync_dir(&self.path)?;
        }
        drop(lock);
        Ok(stats)
    }
}

#[cfg(test)]
thread_local! {
    /// Test hook: the next append writes this many bytes, then fails.
    static FAIL_AFTER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

fn write_payload(mut file: &File, buf: &[u8]) -> io::Result<()> {
    #[cfg(test)]
    if let Some(n) = FAIL_AFTER.with(std::cell::Cell::take) {
        file.write_all(&buf[..n.min(buf.len())])?;
        return Err(io::Error::other("injected write failure"));
    }
    file.write_all(buf)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A [`Read`] over one message's unquoted text, from a seekable source (the mbox file).
pub struct MessageReader<R> {
    inner: Take<R>,
    unquoter: Unquoter,
    raw: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R> std::fmt::Debug for MessageReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> MessageReader<R> {
    /// Positions `source` at `entry`'s text; reading yields it unquoted per `variant`.
    pub fn new(mut source: R, entry: &Entry, variant: Variant) -> Result<Self, Error> {
        source.seek(SeekFrom::Start(entry.content.start))?;
        Ok(MessageReader {
            inner: source.take(entry.stored_len()),
            unquoter: Unquoter::new(variant),
            raw: vec![0; 64 * 1024],
            out: Vec::with_capacity(64 * 1024),
            out_pos: 0,
            done: false,
        })
    }
}

impl<R: Read> Read for MessageReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.out_pos = 0;
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                self.unquoter.finish(&mut self.out)?;
                self.done = true;
            } else {
                self.unquoter.feed(&self.raw[..n], &mut self.out)?;
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Asctime;

    #[test]
    fn a_failed_append_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        let mbox = Mbox::new(&path, MboxOptions::default());
        let from = FromLine::new("a@b", Asctime::from_unix(0).unwrap()).unwrap();
        let meta = Metadata::default();
        let msg = NewMessage {
            from: &from,
            metadata: &meta,
            text: b"Subject: 1\n\nbody\n",
        };
        mbox.append(&[msg]).unwrap();
        let before = std::fs::read(&path).unwrap();
        FAIL_AFTER.with(|f| f.set(Some(10)));
        let err = mbox.append(&[msg, msg]).unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!crate::lock::dotlock_path(&path).exists());
        assert_eq!(mbox.entries().unwrap().len(), 1);
    }
}

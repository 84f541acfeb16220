//! Maildir++ quotas: the `maildirsize` file at the root (Courier's de-facto format, also read
//! and written by Dovecot's `maildir` quota backend).
//!
//! Format: the first line is the quota, e.g. `1000000S,1000C` (bytes `S`, messages `C`, either
//! may be absent); every further line is `<bytes> <count>` (negative on removal). Usage is the
//! sum of those lines. Writers append one line with a single `write` on an `O_APPEND` file;
//! when the file grows past 5120 bytes it is recalculated from a scan and rewritten atomically.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_err};
use crate::store::Maildir;

/// The file name.
pub const MAILDIRSIZE: &str = "maildirsize";

/// Past this size the file is recalculated (Courier's limit).
const RECALC_SIZE: u64 = 5120;

/// A quota: limits on bytes and on messages. `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Maximum total bytes (`S`).
    pub bytes: Option<u64>,
    /// Maximum message count (`C`).
    pub messages: Option<u64>,
}

impl Quota {
    /// Parses a quota definition line (`1000S,10C`). Unknown parts are ignored.
    pub fn parse(line: &str) -> Quota {
        let mut q = Quota::default();
        for part in line.trim().split(',') {
            if let Some(v) = part.strip_suffix('S') {
                q.bytes = v.parse().ok();
            } else if let Some(v) = part.strip_suffix('C') {
                q.messages = v.parse().ok();
            }
        }
        q
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.bytes, self.messages) {
            (Some(b), Some(c)) => write!(f, "{b}S,{c}C"),
            (Some(b), None) => write!(f, "{b}S"),
            (None, Some(c)) => write!(f, "{c}C"),
            (None, None) => Ok(()),
        }
    }
}

/// A quota and the usage recorded against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUsage {
    /// The limits.
    pub quota: Quota,
    /// Bytes in use.
    pub bytes: u64,
    /// Messages in use.
    pub messages: u64,
}

fn path(md: &Maildir) -> PathBuf {
    md.root.join(MAILDIRSIZE)
}

fn read(p: &Path) -> Result<Option<(QuotaUsage, u64)>> {
    let text = match fs::read_to_string(p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", p)(e)),
    };
    let mut lines = text.lines();
    let quota = Quota::parse(lines.next().unwrap_or(""));
    let (mut bytes, mut count) = (0i64, 0i64);
    for line in lines {
        let mut it = line.split_whitespace();
        let b: i64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let c: i64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        bytes = bytes.saturating_add(b);
        count = count.saturating_add(c);
    }
    let usage = QuotaUsage {
        quota,
        bytes: bytes.max(0) as u64,
        messages: count.max(0) as u64,
    };
    Ok(Some((usage, text.len() as u64)))
}

/// Fails with [`Error::QuotaExceeded`] if adding one message of `size` bytes would exceed the
/// quota. No `maildirsize` means no quota.
pub(crate) fn check(md: &Maildir, size: u64) -> Result<()> {
    check_many(md, size, 1)
}

/// Fails with [`Error::QuotaExceeded`] if adding `count` messages of `bytes` bytes in all would
/// exceed the quota (a COPY of a set is checked once, as a whole).
pub(crate) fn check_many(md: &Maildir, bytes: u64, count: u64) -> Result<()> {
    let Some((usage, _)) = read(&path(md))? else {
        return Ok(());
    };
    let over_bytes = usage
        .quota
        .bytes
        .is_some_and(|l| usage.bytes.saturating_add(bytes) > l);
    let over_count = usage
        .quota
        .messages
        .is_some_and(|l| usage.messages.saturating_add(count) > l);
    if over_bytes || over_count {
        return Err(Error::QuotaExceeded {
            used_bytes: usage.bytes,
            used_messages: usage.messages,
            limit: usage.quota.to_string(),
        });
    }
    Ok(())
}

/// Appends a usage line if the Maildir has a quota. Best effort: the message itself is already
/// stored, and a lost line is repaired by the next recalculation.
pub(crate) fn record(md: &Maildir, bytes: i64, count: i64) {
    let p = path(md);
    let Ok(mut f) = OpenOptions::new().append(true).open(&p) else {
        return;
    };
    let line = format!("{bytes} {count}\n");
    if f.write_all(line.as_bytes()).is_ok() && f.metadata().is_ok_and(|m| m.len() > RECALC_SIZE) {
        let _ = recalculate(md);
    }
}

/// Sums the sizes and counts of every folder of the root (from file names; `stat` for names
/// without `S=`).
fn scan_usage(root: &Maildir) -> Result<(u64, u64)> {
    let (mut bytes, mut count) = (0u64, 0u64);
    let mut dirs = vec![root.clone()];
    dirs.extend(
        root.list_folders()?
            .into_iter()
            .filter_map(|n| root.folder(&n).ok()),
    );
    for md in dirs {
        for e in md.scan()? {
            bytes += md.size(&e).unwrap_or(0);
            count += 1;
        }
    }
    Ok((bytes, count))
}

impl Maildir {
    /// Sets the Maildir++ quota of this Maildir's root: rewrites `maildirsize` with the limits
    /// and the usage recalculated from a scan.
    pub fn set_quota(&self, quota: Quota) -> Result<()> {
        write_file(self, quota)
    }

    /// Removes the quota (deletes `maildirsize`).
    pub fn remove_quota(&self) -> Result<()> {
        let p = path(self);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("unlink", &p)(e)),
            _ => Ok(()),
        }
    }

    /// The quota and usage recorded in `maildirsize`, `None` without a quota.
    pub fn quota_usage(&self) -> Result<Option<QuotaUsage>> {
        Ok(read(&path(self))?.map(|(u, _)| u))
    }
}

/// Recalculates usage and rewrites `maildirsize` (keeping its quota line).
pub(crate) fn recalculate(md: &Maildir) -> Result<()> {
    let Some((usage, _)) = read(&path(md))? else {
        return Ok(());
    };
    write_file(md, usage.quota)
}

fn write_file(md: &Maildir, quota: Quota) -> Result<()> {
    let root = Maildir::handle(md.root.clone(), md.root.clone());
    let (bytes, count) = scan_usage(&root)?;
    let text = format!("{quota}\n{bytes} {count}\n");
    crate::atomic::write_atomic(&path(md), text.as_bytes(), md.fsync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_quota() {
        assert_eq!(
            Quota::parse("100S,5C"),
            Quota {
                bytes: Some(100),
                messages: Some(5)
            }
        );
        assert_eq!(Quota::parse("100S").to_string(), "100S");
        assert_eq!(Quota::parse("").to_string(), "");
    }
}

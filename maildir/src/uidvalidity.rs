//! The per-user UIDVALIDITY counter, shared with Dovecot: `dovecot-uidvalidity` in the Maildir++
//! root.
//!
//! Dovecot's `mailbox-uidvalidity.c` keeps the counter as the name of an empty file,
//! `dovecot-uidvalidity.<8 hex digits>`. Taking the next value renames `.<v>` to `.<v+1>`: the
//! rename succeeds for one taker only, a concurrent one gets `ENOENT` and tries the next value (10
//! times). `dovecot-uidvalidity` itself holds the last value taken (8 hex digits, no newline): a
//! hint of where to start. Without a usable hint the root is listed and the largest `.<hex>` wins
//! (a smaller duplicate is removed). We follow the same steps, so Dovecot and Mailwright draw from
//! one counter and never give two folders of a user the same value.
//!
//! Four differences, all allowed by Dovecot's reading of the files. A value is taken by a hard link
//! `.<v>` -> `.<v+1>` and the removal of `.<v>` rather than a rename: a rename replaces a name that
//! exists, so a taker that created the counter and one that moved it could both hold one value;
//! the link fails instead. When there is no counter yet,
//! Dovecot starts at the current time; we start above every UIDVALIDITY the root's folders
//! already use as well, so a counter created for an existing store never repeats a value. And the
//! rename is followed by an fsync of the root (when the handle fsyncs), so the counter never goes
//! back after a crash: a folder deleted and created again gets a larger value even across one.
//! Our takers also hold an advisory lock (`flock`) on `dovecot-uidvalidity` while they take a
//! value; Dovecot ignores it.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result, io_err};
use crate::store::sync_dir;
use crate::uidlist::UIDLIST;

/// The counter's hint file in the Maildir++ root; the counter itself is the empty file
/// `dovecot-uidvalidity.<8 hex digits>` beside it.
pub const UIDVALIDITY_FILE: &str = "dovecot-uidvalidity";

/// How many values a taker tries after a concurrent rename (Dovecot's `RETRY_COUNT`).
const RETRIES: u32 = 10;

fn counter_path(root: &Path, value: u32) -> PathBuf {
    root.join(format!("{UIDVALIDITY_FILE}.{value:08x}"))
}

/// Takes the next UIDVALIDITY of the user whose Maildir++ root is `root`: larger than every value
/// taken before and than `above` (the folder's previous UIDVALIDITY when one is known).
pub(crate) fn next_uid_validity(root: &Path, above: u32, fsync: bool) -> Result<u32> {
    // Our own takers (threads and processes) take turns under an advisory lock on the hint
    // file: a move is a link and an unlink, and a taker that read the old name between another's
    // two steps could otherwise link it again after a third moved on. Dovecot takes no lock; its
    // renames are atomic, and our links never replace a value it holds.
    let hint = root.join(UIDVALIDITY_FILE);
    let guard = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&hint)
        .map_err(io_err("open", &hint))?;
    guard.lock().map_err(io_err("lock", &hint))?;
    for _ in 0..RETRIES {
        let Some(mut value) = take(root)? else {
            continue;
        };
        if value <= above {
            // The counter is behind this folder's own history: move it past, so it never gives
            // this value again either.
            let want = above.saturating_add(1);
            match advance(root, value, want) {
                Ok(true) => value = want,
                // Someone took a value meanwhile (or holds `want` already): take again.
                Ok(false) => continue,
                Err(e) => return Err(e),
            }
        }
        write_hint(root, value);
        if fsync {
            sync_dir(root)?;
        }
        return Ok(value);
    }
    Err(Error::Contended(hint.display().to_string()))
}

/// One round of Dovecot's `mailbox_uidvalidity_next`: from the hint, else from a listing, else a
/// new counter. `None` when concurrent takers won every rename tried.
fn take(root: &Path) -> Result<Option<u32>> {
    if let Some(hint) = read_hint(root)
        && let Some(v) = rename_from(root, hint)?
    {
        return Ok(Some(v));
    }
    let (min, max) = list_counters(root)?;
    let Some(max) = max else {
        return create(root).map(Some);
    };
    if min != Some(max)
        && let Some(min) = min
    {
        let _ = fs::remove_file(counter_path(root, min));
    }
    rename_from(root, max)
}

/// The hint: the first 8 bytes of `dovecot-uidvalidity` as hex, when all 8 are hex digits (as
/// Dovecot reads it).
fn read_hint(root: &Path) -> Option<u32> {
    let mut buf = [0u8; 8];
    let f = fs::File::open(root.join(UIDVALIDITY_FILE)).ok()?;
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], got as u64) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got += n,
        }
    }
    let text = std::str::from_utf8(&buf).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Moves the counter from `.<from>` to `.<to>`: `true` when this call took `to`, `false` when
/// `.<from>` is gone (another taker moved it) or `.<to>` exists (another taker holds it).
///
/// A hard link, then the removal of the old name: unlike `rename`, which replaces a name that
/// exists, the link fails when `.<to>` exists, so two takers racing through `create` and a move
/// can never both hold one value. A crash between the two steps leaves the lower name, which the
/// next listing removes.
fn advance(root: &Path, from: u32, to: u32) -> Result<bool> {
    let (old, new) = (counter_path(root, from), counter_path(root, to));
    match fs::hard_link(&old, &new) {
        Ok(()) => {
            match fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("unlink", &old)(e)),
            }
            Ok(true)
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(io_err("link", &new)(e)),
    }
}

/// Moves `.<v>` to `.<v+1>`, trying the next values when another taker was first; the value taken.
fn rename_from(root: &Path, start: u32) -> Result<Option<u32>> {
    let mut v = start;
    for _ in 0..RETRIES {
        let Some(next) = v.checked_add(1) else {
            return Ok(None);
        };
        if advance(root, v, next)? {
            return Ok(Some(next));
        }
        v = next;
    }
    Ok(None)
}

/// The smallest and largest values of the `dovecot-uidvalidity.<hex>` files in `root`.
fn list_counters(root: &Path) -> Result<(Option<u32>, Option<u32>)> {
    let prefix = format!("{UIDVALIDITY_FILE}.");
    let (mut min, mut max) = (None::<u32>, None::<u32>);
    for dent in fs::read_dir(root).map_err(io_err("read_dir", root))? {
        let dent = dent.map_err(io_err("read_dir", root))?;
        let name = dent.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(v) = u32::from_str_radix(hex, 16) else {
            continue;
        };
        if v == 0 {
            continue;
        }
        min = Some(min.map_or(v, |m| m.min(v)));
        max = Some(max.map_or(v, |m| m.max(v)));
    }
    Ok((min, max))
}

/// Creates the counter: at the current time (Dovecot's start), or above the largest
/// UIDVALIDITY the root's folders use if that is later. The value is taken by creating it.
fn create(root: &Path) -> Result<u32> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX - 1));
    let mut v = now.max(largest_in_use(root).saturating_add(1)).max(1);
    for _ in 0..RETRIES {
        let path = counter_path(root, v);
        let created = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .open(&path)
        };
        match created {
            Ok(_) => {
                write_hint(root, v);
                return Ok(v);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => v = v.saturating_add(1),
            Err(e) => return Err(io_err("create", &path)(e)),
        }
    }
    Err(Error::Contended(
        root.join(UIDVALIDITY_FILE).display().to_string(),
    ))
}

/// Writes the hint (best effort, as Dovecot does: the counter files are what count).
fn write_hint(root: &Path, value: u32) {
    let path = root.join(UIDVALIDITY_FILE);
    if let Ok(f) = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        let _ = f.write_all_at(format!("{value:08x}").as_bytes(), 0);
    }
}

/// The largest UIDVALIDITY in the `dovecot-uidlist` headers of the root and its folders.
fn largest_in_use(root: &Path) -> u32 {
    let mut dirs = vec![root.to_path_buf()];
    if let Ok(entries) = fs::read_dir(root) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && crate::validate_folder_name(&name[1..]).is_ok() {
                dirs.push(e.path());
            }
        }
    }
    dirs.iter()
        .filter_map(|d| header_uid_validity(&d.join(UIDLIST)))
        .max()
        .unwrap_or(0)
}

/// The UIDVALIDITY in a `dovecot-uidlist` header (version 3 `V<n>` or version 1's second field).
fn header_uid_validity(path: &Path) -> Option<u32> {
    let f = fs::File::open(path).ok()?;
    let mut line = String::new();
    io::BufReader::new(f).take(4096).read_line(&mut line).ok()?;
    let mut fields = line.split_ascii_whitespace();
    match fields.next()? {
        "3" => fields.find_map(|f| f.strip_prefix('V')?.parse().ok()),
        "1" => fields.next()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "mw-uidvalidity-{tag}-{}-{}",
            std::process::id(),
            crate::name::unique_base(SystemTime::now(), "t")
        ));
        fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn counts_up_from_a_stale_hint_and_past_a_floor() {
        let root = tmp("hint");
        fs::write(counter_path(&root, 0x100), b"").unwrap();
        fs::write(root.join(UIDVALIDITY_FILE), b"000000fe").unwrap();
        // The hint is two behind: the next value is still one past the counter.
        assert_eq!(next_uid_validity(&root, 0, false).unwrap(), 0x101);
        assert_eq!(
            fs::read_to_string(root.join(UIDVALIDITY_FILE)).unwrap(),
            "00000101"
        );
        assert_eq!(next_uid_validity(&root, 0x200, false).unwrap(), 0x201);
        assert!(counter_path(&root, 0x201).exists());
        // A broken hint: the listing finds the counter; a duplicate is removed.
        fs::write(root.join(UIDVALIDITY_FILE), b"zz").unwrap();
        fs::write(counter_path(&root, 0x50), b"").unwrap();
        assert_eq!(next_uid_validity(&root, 0, false).unwrap(), 0x202);
        assert!(!counter_path(&root, 0x50).exists());
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_new_counter_starts_above_the_values_in_use() {
        let root = tmp("new");
        fs::create_dir_all(root.join(".Sent")).unwrap();
        fs::write(root.join(".Sent").join(UIDLIST), "3 V4000000000 N1\n").unwrap();
        fs::write(root.join(UIDLIST), "1 7 1\n").unwrap();
        assert_eq!(next_uid_validity(&root, 0, false).unwrap(), 4_000_000_001);
        assert_eq!(next_uid_validity(&root, 0, false).unwrap(), 4_000_000_002);
        let _ = fs::remove_dir_all(&root);
    }
}

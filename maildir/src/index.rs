//! A per-folder index, `mailwright-index`: per message (by unique name) its internal date, its
//! size and an opaque blob the caller caches (a server keeps its ENVELOPE and BODYSTRUCTURE
//! there), so that these need no `stat` or read of the message file once indexed.
//!
//! A cache, never trusted over the Maildir:
//! - Records are keyed by the unique name, whose file never changes its content (Maildir
//!   renames only to change flags), so a record can be missing but never stale.
//! - Every [`Maildir::index`] lists the folder: messages not indexed (delivered by anyone, a
//!   Dovecot or a plain file drop included) are added, records of messages gone are dropped.
//! - Each line carries a checksum; a file with a bad header or a bad line is rebuilt from the
//!   Maildir, a torn last line (a crash mid-append) is ignored and written away.
//! - Writers append whole lines with one `write` (`O_APPEND`), without a lock; a compaction
//!   replaces the file by rename. An append racing with a compaction can be lost, which only
//!   means that message is indexed again later. Nothing is fsynced: the index is rebuilt from
//!   the Maildir whenever it is missing or damaged.
//!
//! Line format (after the header line `mailwright-index 1`):
//! `<checksum> <unique>\t<secs>.<nanos>\t<size>\t<blob in hex, or ->`, the checksum being
//! FNV-1a 64 of what follows the space, in 16 hex digits. A later line for a name replaces an
//! earlier one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, Read as _, Seek as _, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::atomic::write_atomic;
use crate::error::{Result, io_err};
use crate::store::{Entry, Maildir};
use crate::uids::read_optional;

/// The index file, in each folder.
pub const INDEX_FILE: &str = "mailwright-index";

const HEADER: &str = "mailwright-index 1\n";

/// What the index knows of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    /// The internal date (the file's mtime, as [`Maildir::internal_date`] gives it).
    pub internal_date: SystemTime,
    /// The file's size in octets.
    pub size: u64,
    /// What the caller cached with [`Maildir::index_cache`], if anything.
    pub cached: Option<Vec<u8>>,
}

/// A folder's index as [`Maildir::index`] read it: every message of the folder at that time.
#[derive(Debug, Clone, Default)]
pub struct FolderIndex {
    records: HashMap<String, IndexRecord>,
}

impl FolderIndex {
    /// The record of a message, by unique name.
    pub fn get(&self, unique: &str) -> Option<&IndexRecord> {
        self.records.get(unique)
    }

    /// The number of messages indexed.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the folder has no messages.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Parses the text of an index file, without checking it against a folder: `None` when
    /// it has to be rebuilt (a bad header, a line whose checksum or fields are wrong); a torn
    /// last line is left out.
    pub fn parse(text: &str) -> Option<FolderIndex> {
        parse(text).map(|(records, _)| FolderIndex { records })
    }

    /// The text of an index file holding these records (names sorted).
    pub fn encode(&self) -> String {
        let mut text = String::from(HEADER);
        let mut names: Vec<&String> = self.records.keys().collect();
        names.sort_unstable();
        for n in names {
            encode_line(&mut text, n, &self.records[n]);
        }
        text
    }
}

/// What [`Maildir::index`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexOutcome {
    /// The file was current: nothing added or dropped.
    Current,
    /// Messages were added (not yet indexed) and records of gone messages dropped.
    CaughtUp {
        /// Messages added.
        added: usize,
        /// Records dropped.
        dropped: usize,
    },
    /// The file was missing or damaged and was built again from the Maildir.
    Rebuilt,
}

fn checksum(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn encode_line(out: &mut String, unique: &str, r: &IndexRecord) {
    let since = r
        .internal_date
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let mut body = format!(
        "{unique}\t{}.{:09}\t{}\t",
        since.as_secs(),
        since.subsec_nanos(),
        r.size
    );
    match &r.cached {
        None => body.push('-'),
        Some(blob) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            body.reserve(blob.len() * 2);
            for b in blob {
                body.push(char::from(HEX[usize::from(b >> 4)]));
                body.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    let _ = writeln!(out, "{:016x} {body}", checksum(&body));
}

fn decode_line(line: &str) -> Option<(String, IndexRecord)> {
    let (sum, body) = line.split_once(' ')?;
    if sum.len() != 16 || u64::from_str_radix(sum, 16).ok()? != checksum(body) {
        return None;
    }
    decode_body(body)
}

/// A line's fields after its checksum (checked by the caller).
fn decode_body(body: &str) -> Option<(String, IndexRecord)> {
    let mut parts = body.split('\t');
    let unique = parts.next().filter(|u| !u.is_empty())?;
    let (secs, nanos) = parts.next()?.split_once('.')?;
    let date = UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos.parse().ok()?))?;
    let size = parts.next()?.parse().ok()?;
    let blob = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let cached = if blob == "-" {
        None
    } else {
        Some(unhex(blob.as_bytes())?)
    };
    Some((
        unique.to_owned(),
        IndexRecord {
            internal_date: date,
            size,
            cached,
        },
    ))
}

/// Lower-case hex back to octets (a server reads a blob per message of a SORT: no per-digit
/// parse).
fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        out.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
    }
    Some(out)
}

/// The file parsed: `None` when it must be rebuilt (bad header, bad line); else the records
/// and whether a torn last line was ignored.
fn parse(text: &str) -> Option<(HashMap<String, IndexRecord>, bool)> {
    let rest = text.strip_prefix(HEADER)?;
    let mut records = HashMap::new();
    let mut torn = false;
    for line in rest.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            // The last line, cut short by a crash mid-append.
            torn = true;
            break;
        };
        let (unique, record) = decode_line(line)?;
        records.insert(unique, record);
    }
    Some((records, torn))
}

impl Maildir {
    fn index_record_of(&self, entry: &Entry) -> Result<Option<IndexRecord>> {
        let path = self.entry_path(entry);
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(IndexRecord {
                internal_date: m.modified().map_err(io_err("stat", &path))?,
                size: m.len(),
                cached: None,
            })),
            // Renamed or expunged since the scan: indexed next time, or never.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", &path)(e)),
        }
    }

    /// The folder's index, brought up to date with the Maildir: the messages listed now, each
    /// with its record (module docs). Reads the folder listing, `stat`s only the messages not
    /// indexed yet, and writes the file back when it changed.
    pub fn index(&self) -> Result<(FolderIndex, IndexOutcome)> {
        let path = self.meta(INDEX_FILE);
        let parsed = read_optional(&path)?.as_deref().and_then(parse);
        let Some((mut old, torn)) = parsed else {
            return Ok((self.rebuild_index()?, IndexOutcome::Rebuilt));
        };
        let entries = self.scan_unsorted()?;
        let mut records = HashMap::with_capacity(entries.len());
        let mut appended = String::new();
        for e in &entries {
            if let Some(r) = old.remove(e.unique()) {
                records.insert(e.unique().to_owned(), r);
            } else if let Some(r) = self.index_record_of(e)? {
                encode_line(&mut appended, e.unique(), &r);
                records.insert(e.unique().to_owned(), r);
            }
        }
        let added = appended.lines().count();
        let dropped = old.len();
        let index = FolderIndex { records };
        if torn || dropped > 0 {
            self.write_index(&index)?;
        } else if !appended.is_empty() {
            self.append_index(&appended)?;
        }
        let outcome = if added == 0 && dropped == 0 {
            IndexOutcome::Current
        } else {
            IndexOutcome::CaughtUp { added, dropped }
        };
        Ok((index, outcome))
    }

    /// Builds the folder's index from the Maildir alone, as if there was none, and writes it
    /// (`full_server index rebuild`). What was cached is dropped.
    pub fn rebuild_index(&self) -> Result<FolderIndex> {
        let mut records = HashMap::new();
        for e in self.scan_unsorted()? {
            if let Some(r) = self.index_record_of(&e)? {
                records.insert(e.unique().to_owned(), r);
            }
        }
        let index = FolderIndex { records };
        self.write_index(&index)?;
        Ok(index)
    }

    /// Caches `blob` for a message (as [`IndexRecord::cached`]); `Ok(false)` when the folder
    /// holds no such message now.
    pub fn index_cache(&self, unique: &str, blob: &[u8]) -> Result<bool> {
        let Some(entry) = self.find(unique)? else {
            return Ok(false);
        };
        self.index_cache_entry(&entry, blob)
    }

    /// Like [`index_cache`](Self::index_cache) for a message whose entry the caller holds (a
    /// delivery just committed, a message of a sync): no listing of the folder, one `stat`.
    /// `Ok(false)` when its file is gone (renamed since: the next call finds it again).
    pub fn index_cache_entry(&self, entry: &Entry, blob: &[u8]) -> Result<bool> {
        let Some(mut record) = self.index_record_of(entry)? else {
            return Ok(false);
        };
        record.cached = Some(blob.to_vec());
        let mut line = String::new();
        encode_line(&mut line, entry.unique(), &record);
        let path = self.meta(INDEX_FILE);
        if has_header(&path) {
            self.append_index(&line)?;
        } else {
            // No usable file to append to: start one (it catches up at the next index()).
            let mut text = HEADER.to_owned();
            text.push_str(&line);
            write_atomic(&path, text.as_bytes(), false)?;
        }
        Ok(true)
    }

    fn write_index(&self, index: &FolderIndex) -> Result<()> {
        write_atomic(&self.meta(INDEX_FILE), index.encode().as_bytes(), false)
    }

    fn append_index(&self, lines: &str) -> Result<()> {
        let path = self.meta(INDEX_FILE);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        // One write: a reader sees whole lines, or a torn last one it ignores.
        f.write_all(lines.as_bytes())
            .map_err(io_err("write", &path))
    }
}

/// Whether the file at `path` starts with the index header (reads only that).
fn has_header(path: &Path) -> bool {
    let mut head = [0u8; HEADER.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == *HEADER.as_bytes())
}

/// A folder's index read on demand: what it keeps in memory is where each message's latest
/// line is (an offset and a length per message, no blobs), so that many messages cost little;
/// [`get`](Self::get) reads one line. Lines appended by other writers are found when a message
/// is missing; a file replaced (compacted, rebuilt) is read again from its start.
///
/// Damage (a bad header, a line whose checksum fails) rebuilds the file from the Maildir
/// ([`Maildir::rebuild_index`]), as [`Maildir::index`] does.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    /// The file read, with its inode.
    file: Option<(fs::File, u64)>,
    /// Per unique name: offset and length (without LF) of its latest line.
    lines: HashMap<String, (u64, u32)>,
    /// Where the next line to read starts.
    scanned: u64,
    /// Lines read: more than `lines.len()` when some replaced others.
    read: usize,
}

impl IndexReader {
    /// A reader of `md`'s index; nothing is read until [`get`](Self::get).
    pub fn new(md: &Maildir) -> Self {
        Self {
            path: md.meta(INDEX_FILE),
            file: None,
            lines: HashMap::new(),
            scanned: 0,
            read: 0,
        }
    }

    /// The messages with a line in the file as read so far.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no message has a line, as far as read.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines read that a later line replaced (the file's waste, until it is compacted).
    pub fn replaced(&self) -> usize {
        self.read - self.lines.len()
    }

    /// The record of the message `unique`: `None` when the file has none (the caller computes
    /// what it needs and caches it with [`Maildir::index_cache_entry`]). The record says nothing
    /// of whether the message still exists: the caller asks for messages it listed.
    pub fn get(&mut self, md: &Maildir, unique: &str) -> Result<Option<IndexRecord>> {
        if !self.lines.contains_key(unique) {
            self.catch_up(md)?;
        }
        let record = self.read_line(unique)?;
        if record.as_ref().is_some_and(|r| r.cached.is_some()) {
            return Ok(record);
        }
        // A record without a blob may have a newer line with one (just cached by someone).
        self.catch_up(md)?;
        self.read_line(unique)
    }

    /// The internal date of the message `unique`, as [`get`](Self::get) gives it but without
    /// decoding its blob (SEARCH SINCE, SORT ARRIVAL read only this).
    pub fn internal_date(&mut self, md: &Maildir, unique: &str) -> Result<Option<SystemTime>> {
        if !self.lines.contains_key(unique) {
            self.catch_up(md)?;
        }
        let Some(&(offset, len)) = self.lines.get(unique) else {
            return Ok(None);
        };
        let Some((file, _)) = &self.file else {
            return Ok(None);
        };
        // The checksum, the name and the date: the blob after them is not read.
        let want = (len as usize).min(16 + 1 + unique.len() + 1 + 32);
        let mut buf = vec![0u8; want];
        file.read_exact_at(&mut buf, offset)
            .map_err(io_err("read", &self.path))?;
        let date = (|| {
            let line = std::str::from_utf8(&buf).ok()?;
            let mut parts = line.split_once(' ')?.1.split('\t');
            if parts.next()? != unique {
                return None;
            }
            let (secs, nanos) = parts.next()?.split_once('.')?;
            UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos.parse().ok()?))
        })();
        Ok(date)
    }

    /// Reads what other writers appended since, or the file again when it was replaced.
    pub fn refresh(&mut self, md: &Maildir) -> Result<()> {
        self.catch_up(md)
    }

    /// The record of the latest line read for `unique`.
    fn read_line(&self, unique: &str) -> Result<Option<IndexRecord>> {
        let Some(&(offset, len)) = self.lines.get(unique) else {
            return Ok(None);
        };
        let Some((file, _)) = &self.file else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset)
            .map_err(io_err("read", &self.path))?;
        // The checksum held when the line was scanned, and lines are never rewritten in place
        // (a compaction makes a new file): only what it names is checked again.
        Ok(std::str::from_utf8(&buf)
            .ok()
            .and_then(|l| decode_body(l.split_once(' ')?.1))
            .filter(|(u, _)| u == unique)
            .map(|(_, r)| r))
    }

    /// Reads what was appended since the last read, or the whole file when it was replaced,
    /// rebuilding it when damaged.
    fn catch_up(&mut self, md: &Maildir) -> Result<()> {
        for _ in 0..2 {
            let ino = match fs::metadata(&self.path) {
                Ok(m) => Some(m.ino()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err("stat", &self.path)(e)),
            };
            if ino.is_none() {
                // No index yet: the first cached message makes one.
                *self = Self::new(md);
                return Ok(());
            }
            if self.file.as_ref().map(|(_, i)| *i) != ino {
                *self = Self::new(md);
                match fs::File::open(&self.path) {
                    Ok(f) => {
                        let ino = f.metadata().map_err(io_err("stat", &self.path))?.ino();
                        self.file = Some((f, ino));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("open", &self.path)(e)),
                }
            }
            if self.scan()? {
                return Ok(());
            }
            // Damaged: built again from the Maildir, then read from its start.
            md.rebuild_index()?;
            *self = Self::new(md);
        }
        Ok(())
    }

    /// Reads whole lines from `scanned` on; `false` when the file is damaged.
    fn scan(&mut self) -> Result<bool> {
        let Some((file, _)) = &self.file else {
            return Ok(true);
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        reader
            .seek(std::io::SeekFrom::Start(self.scanned))
            .map_err(io_err("seek", &self.path))?;
        let mut line = Vec::new();
        if self.scanned == 0 {
            reader
                .read_until(b'\n', &mut line)
                .map_err(io_err("read", &self.path))?;
            if line != HEADER.as_bytes() {
                // A header cut short may still be being written by the one who starts the file.
                return Ok(line.len() < HEADER.len() && HEADER.as_bytes().starts_with(&line));
            }
            self.scanned = line.len() as u64;
        }
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(io_err("read", &self.path))?;
            if n == 0 || line.last() != Some(&b'\n') {
                // The end, or a line still being written (or torn by a crash): read next time.
                return Ok(true);
            }
            let text = &line[..n - 1];
            let Some(unique) = checked_unique(text) else {
                return Ok(false);
            };
            let Ok(len) = u32::try_from(text.len()) else {
                return Ok(false);
            };
            self.lines.insert(unique.to_owned(), (self.scanned, len));
            self.read += 1;
            self.scanned += n as u64;
        }
    }
}

/// The unique name of a line whose checksum holds.
fn checked_unique(line: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(line).ok()?;
    let (sum, body) = line.split_once(' ')?;
    if sum.len() != 16 || u64::from_str_radix(sum, 16).ok()? != checksum(body) {
        return None;
    }
    body.split('\t').next().filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tempdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mw-index-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn built_caught_up_and_current() {
        let dir = tempdir("catchup");
        let md = Maildir::create(&dir).expect("create");
        let a = md.deliver(b"Subject: a\r\n\r\nA\r\n").expect("deliver");
        let (index, outcome) = md.index().expect("index");
        assert_eq!(outcome, IndexOutcome::Rebuilt);
        let r = index.get(a.unique()).expect("indexed");
        assert_eq!(r.size, 17);
        assert_eq!(r.internal_date, md.internal_date(&a.entry).expect("date"));
        assert_eq!(md.index().expect("index").1, IndexOutcome::Current);

        // Another writer: a plain file dropped into new/ and one removed behind our back.
        fs::write(dir.join("new/1700000000.M1P1.elsewhere"), b"x: y\r\n\r\n").expect("drop");
        fs::remove_file(md.entry_path(&a.entry)).expect("rm");
        let (index, outcome) = md.index().expect("index");
        assert_eq!(
            outcome,
            IndexOutcome::CaughtUp {
                added: 1,
                dropped: 1
            }
        );
        assert!(index.get(a.unique()).is_none());
        assert_eq!(
            index.get("1700000000.M1P1.elsewhere").map(|r| r.size),
            Some(8)
        );
        assert_eq!(md.index().expect("index").1, IndexOutcome::Current);
        fs::remove_dir_all(&dir).expect("rm");
    }

    #[test]
    fn damaged_is_rebuilt_and_torn_tail_ignored() {
        let dir = tempdir("damaged");
        let md = Maildir::create(&dir).expect("create");
        let a = md.deliver(b"Subject: a\r\n\r\nA\r\n").expect("deliver");
        md.index().expect("index");
        assert!(md.index_cache(a.unique(), b"(ENVELOPE)").expect("cache"));
        let path = dir.join(INDEX_FILE);

        // A torn last line (crash mid-append): ignored, the rest kept, the file rewritten.
        let mut text = fs::read_to_string(&path).expect("read");
        text.push_str("0123 half a li");
        fs::write(&path, &text).expect("write");
        let (index, outcome) = md.index().expect("index");
        assert_eq!(outcome, IndexOutcome::Current);
        assert_eq!(
            index.get(a.unique()).and_then(|r| r.cached.as_deref()),
            Some(&b"(ENVELOPE)"[..])
        );
        assert!(fs::read_to_string(&path).expect("read").ends_with('\n'));

        // A flipped byte inside a line: the checksum fails, the index is built again.
        let text = fs::read_to_string(&path).expect("read");
        let damaged = text.replacen("\t17\t", "\t18\t", 1);
        assert_ne!(damaged, text);
        fs::write(&path, damaged).expect("write");
        let (index, outcome) = md.index().expect("index");
        assert_eq!(outcome, IndexOutcome::Rebuilt);
        assert_eq!(
            index.get(a.unique()).map(|r| (r.size, r.cached.clone())),
            Some((17, None))
        );

        // A bad header: rebuilt too.
        fs::write(&path, "garbage\n").expect("write");
        assert_eq!(md.index().expect("index").1, IndexOutcome::Rebuilt);
        assert!(!md.index_cache("no-such-message", b"x").expect("cache"));
        fs::remove_dir_all(&dir).expect("rm");
    }

    #[test]
    fn a_known_file_parses_and_encodes_back() {
        let text = "mailwright-index 1\n\
            2c697c31becc6117 1700000000.M1P1.host\t1700000000.123456789\t17\t-\n\
            85f78707c91294a7 1700000001.M2P1.host\t1700000001.000000000\t2048\t28454e56454c4f5045204e494c29\n";
        let index = FolderIndex::parse(text).expect("parses");
        assert_eq!(index.len(), 2);
        let r = index.get("1700000001.M2P1.host").expect("record");
        assert_eq!(
            (r.size, r.cached.as_deref()),
            (2048, Some(&b"(ENVELOPE NIL)"[..]))
        );
        assert_eq!(index.encode(), text);
        assert!(FolderIndex::parse(&text.replace("2048", "2049")).is_none());
    }

    #[test]
    fn reader_reads_on_demand_follows_appends_and_replacements() {
        let dir = tempdir("reader");
        let md = Maildir::create(&dir).expect("create");
        let a = md.deliver(b"Subject: a\r\n\r\nA\r\n").expect("deliver");
        let b = md.deliver(b"Subject: b\r\n\r\nBB\r\n").expect("deliver");
        let mut reader = IndexReader::new(&md);
        // No file yet: nothing indexed, nothing made.
        assert_eq!(reader.get(&md, a.unique()).expect("get"), None);
        assert!(md.index_cache_entry(&a.entry, b"blob a").expect("cache"));
        let r = reader
            .get(&md, a.unique())
            .expect("get")
            .expect("appended, found");
        assert_eq!((r.size, r.cached.as_deref()), (17, Some(&b"blob a"[..])));
        assert_eq!(
            reader.internal_date(&md, a.unique()).expect("date"),
            Some(md.internal_date(&a.entry).expect("date"))
        );
        assert_eq!(reader.internal_date(&md, "no-such").expect("date"), None);
        // A later line replaces an earlier one.
        assert!(md.index_cache_entry(&a.entry, b"blob a2").expect("cache"));
        assert!(md.index_cache_entry(&b.entry, b"blob b").expect("cache"));
        assert_eq!(
            reader
                .get(&md, b.unique())
                .expect("get")
                .and_then(|r| r.cached),
            Some(b"blob b".to_vec())
        );
        assert_eq!(
            reader
                .get(&md, a.unique())
                .expect("get")
                .and_then(|r| r.cached),
            Some(b"blob a2".to_vec())
        );
        assert_eq!((reader.len(), reader.replaced()), (2, 1));

        // Compacted by another handle (a new file): read again from its start.
        fs::remove_file(md.entry_path(&b.entry)).expect("rm");
        md.index().expect("compact");
        let c = md.deliver(b"Subject: c\r\n\r\nC\r\n").expect("deliver");
        assert!(md.index_cache_entry(&c.entry, b"blob c").expect("cache"));
        assert_eq!(
            reader
                .get(&md, c.unique())
                .expect("get")
                .and_then(|r| r.cached),
            Some(b"blob c".to_vec())
        );
        assert_eq!((reader.len(), reader.replaced()), (2, 0));

        // A damaged line: the file is rebuilt from the Maildir (the blobs go).
        let path = dir.join(INDEX_FILE);
        let text = fs::read_to_string(&path).expect("read");
        fs::write(
            &path,
            text.replacen("blob", "BLOB", 1)
                .replacen("626c6f62", "626c6f63", 1),
        )
        .expect("write");
        let mut reader = IndexReader::new(&md);
        let r = reader.get(&md, a.unique()).expect("get").expect("rebuilt");
        assert_eq!((r.size, r.cached), (17, None));
        fs::remove_dir_all(&dir).expect("rm");
    }

    proptest! {
        #[test]
        fn lines_round_trip(
            unique in "[A-Za-z0-9.]{1,40}",
            secs in 0u64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
            size in any::<u64>(),
            cached in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        ) {
            let r = IndexRecord {
                internal_date: UNIX_EPOCH + Duration::new(secs, nanos),
                size,
                cached,
            };
            let mut line = String::new();
            encode_line(&mut line, &unique, &r);
            let back = decode_line(line.strip_suffix('\n').expect("LF"));
            prop_assert_eq!(back, Some((unique, r)));
        }

        #[test]
        fn arbitrary_files_never_panic(text in "\\PC{0,300}") {
            let _ = parse(&text);
            let _ = parse(&format!("{HEADER}{text}"));
        }
    }
}

//! Incremental sync: a handle brings the state of its last sync up to date from what was
//! appended to `dovecot-uidlist` and `mailwright-modseq` since, instead of listing `cur/` and
//! parsing both files again.
//!
//! `mailwright-modseq` is already a change log: every writer here (STORE, EXPUNGE, APPEND,
//! COPY and MOVE, a delivery, a sync that finds changes) appends its rows under the uidlist
//! lock, after its renames, links and unlinks: `<uid> <modseq> :<flags>` (a new message or new
//! flags), `-<uid>` (expunged), `H..` (HIGHESTMODSEQ). Each append ends with a `C<mtime>`
//! line: the mtime of `cur/` after the change, so a reader can tell whether the log explains
//! `cur/` as it is. New UIDs and their file names come from the records appended to
//! `dovecot-uidlist`. Both files are only appended to in place, or replaced whole by rename, so
//! "same inode, longer" means "the old text plus lines".
//!
//! A sync takes the incremental path only when all of this holds, else it lists the folder as
//! before ([`Maildir::sync`]), which also repairs whatever needs it:
//! - both files are the ones (inode) the last state was built from, grown by whole lines that
//!   parse, each new UID with its row;
//! - the mtime of `cur/` is one the log explains (the last sync's, or a `C` line of the tail):
//!   a change by another program (Dovecot, mutt, a file dropped into `cur/`) fails this;
//! - `new/` (listed again when its mtime moved) holds exactly the messages the state has there,
//!   with the log's flags (a file without a UID needs a listing; a claim's move to `cur/` is
//!   logged as the message's row again, which places it in `cur/`);
//! - the last full listing is less than [`FULL_SYNC_EVERY`] old. A change by another program
//!   made between one of our changes and its `C` line shares that mtime and is not noticed by
//!   the test above; it shows at the next full listing.
//!
//! It never trusts the log over the files: a read of a name that is gone (the caller's view
//! is behind) first tries the name the log gives now, if a file has it; a message not found
//! there drops the incremental state, and the next sync lists the folder.
//!
//! Every writer here changes `cur/` and logs the change under the uidlist lock, except an
//! APPEND or COPY (whose files have no UID until their records are appended, so a reader
//! does not show them before) and a claim's moves from `new/` (which a reader sees in `new/`):
//! so a `C` line never covers a change the log does not hold yet.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Result, io_err};
use crate::flags::Flags;
use crate::keywords::{EXTRA_KEYWORDS_FILE, ExtraKeywords, KEYWORDS_FILE};
use crate::lock::DotLock;
use crate::name;
use crate::store::{Entry, Maildir, Subdir};
use crate::uidlist::{UIDLIST, UidList};
use crate::uids::{MODSEQ_FILE, MailboxState, Stamps, UidMessage};

/// The longest an incremental state goes without a full listing of the folder (module docs).
pub(crate) const FULL_SYNC_EVERY: Duration = Duration::from_secs(5);

/// Longer than the tick of a file system's timestamps (a jiffy on Linux: at most 10 ms).
const MTIME_TICK: Duration = Duration::from_millis(50);

/// How old an mtime must be to be trusted to move at the next change.
const SETTLED: Duration = Duration::from_secs(2);

/// Which version of a file, and how much of it, a state was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    dev: u64,
    ino: u64,
    len: u64,
}

impl Mark {
    fn of(meta: &fs::Metadata, len: u64) -> Mark {
        Mark {
            dev: meta.dev(),
            ino: meta.ino(),
            len,
        }
    }
}

/// A file's identity, size and mtime, for the keyword files (replaced whole by rename).
type Stat = Option<(u64, u64, u64, Option<SystemTime>)>;

fn stat(path: &Path) -> Stat {
    fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.len(), m.modified().ok()))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reads a whole file with the [`Mark`] of what was read. `None` when missing or not UTF-8.
pub(crate) fn read_marked(path: &Path) -> Result<Option<(String, Mark)>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let meta = f.metadata().map_err(io_err("stat", path))?;
    let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    match f.read_to_string(&mut text) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(io_err("read", path)(e)),
    }
    let mark = Mark::of(&meta, text.len() as u64);
    Ok(Some((text, mark)))
}

/// What was appended to the file of `mark` since: `None` when the file is another (replaced),
/// shorter, missing, or ends inside a line (a torn append). Also the file's mtime.
fn read_tail(path: &Path, mark: Mark) -> Result<Option<(String, Mark, Option<SystemTime>)>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let meta = f.metadata().map_err(io_err("stat", path))?;
    if meta.dev() != mark.dev || meta.ino() != mark.ino || meta.len() < mark.len {
        return Ok(None);
    }
    let mut tail = String::new();
    if meta.len() > mark.len {
        f.seek(SeekFrom::Start(mark.len))
            .map_err(io_err("seek", path))?;
        match f.read_to_string(&mut tail) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(io_err("read", path)(e)),
        }
    }
    if !tail.is_empty() && !tail.ends_with('\n') {
        return Ok(None);
    }
    let len = mark.len + tail.len() as u64;
    Ok(Some((tail, Mark { len, ..mark }, meta.modified().ok())))
}

/// The `C` line recording the mtime of `cur/` (module docs).
pub(crate) fn stamp_line(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("C{}.{:09}\n", d.as_secs(), d.subsec_nanos())
}

fn parse_stamp(s: &str) -> Option<SystemTime> {
    let (secs, nanos) = s.split_once('.')?;
    let d = Duration::new(secs.parse().ok()?, nanos.parse().ok()?);
    UNIX_EPOCH.checked_add(d)
}

/// One line of `mailwright-modseq` after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLine {
    /// A message's MODSEQ and flags.
    Row(u32, u64, Flags),
    /// A message expunged.
    Gone(u32),
    /// A new HIGHESTMODSEQ.
    Highest(u64),
    /// The mtime of `cur/` once the lines before were written.
    Stamp(SystemTime),
    /// A change not logged (by [`Maildir::set_flags`], [`Maildir::remove`] ...).
    Unlogged,
}

/// Parses one body line of `mailwright-modseq`; `None` if malformed.
pub(crate) fn parse_line(line: &str) -> Option<LogLine> {
    if let Some(uid) = line.strip_prefix('-') {
        return Some(LogLine::Gone(uid.parse().ok()?));
    }
    if let Some(rest) = line.strip_prefix('H') {
        let (h, r) = rest.split_once(" R")?;
        r.parse::<u64>().ok()?;
        return Some(LogLine::Highest(h.parse().ok()?));
    }
    if line == "X" {
        return Some(LogLine::Unlogged);
    }
    if let Some(rest) = line.strip_prefix('C') {
        return Some(LogLine::Stamp(parse_stamp(rest)?));
    }
    let (nums, flags) = line.split_once(" :")?;
    let (uid, modseq) = nums.split_once(' ')?;
    Some(LogLine::Row(
        uid.parse().ok()?,
        modseq.parse().ok()?,
        Flags::parse(flags)?,
    ))
}

/// What a handle keeps of its last sync to bring it up to date (module docs).
#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// The state, without claims (`claimed_recent` empty).
    pub(crate) state: MailboxState,
    pub(crate) extra: ExtraKeywords,
    /// The header line of `dovecot-uidlist`, with its LF (to parse appended records).
    pub(crate) uidlist_header: String,
    pub(crate) uidlist: Mark,
    pub(crate) modseq: Mark,
    /// The keyword files as they were read.
    pub(crate) keyword_files: [Stat; 2],
    /// The mtime of `new/` when it was listed, and what it held.
    pub(crate) new_mtime: Option<SystemTime>,
    pub(crate) in_new: Vec<Entry>,
    /// The mtime of `cur/` the state accounts for.
    pub(crate) cur_explained: Option<SystemTime>,
    /// When the folder was last listed in full.
    pub(crate) listed: Instant,
}

impl Base {
    /// A base from a full sync that wrote nothing: `state` was built from the texts marked
    /// `uidlist` and `modseq`, the listing of `new/` and `cur/` at the mtimes given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        state: &MailboxState,
        extra: ExtraKeywords,
        uidlist_text: &str,
        uidlist: Mark,
        modseq: Mark,
        dir_stamps: [Option<SystemTime>; 2],
        listed_at: SystemTime,
        keyword_files: [Stat; 2],
    ) -> Option<Base> {
        let header_end = uidlist_text.find('\n')?;
        // A change in the clock tick of the listed mtime, after the listing, would not move it:
        // that mtime explains nothing (the next sync with nothing logged lists again).
        let cur_explained = dir_stamps[1].filter(|&t| {
            listed_at
                .duration_since(t)
                .is_ok_and(|age| age >= MTIME_TICK)
        });
        Some(Base {
            state: MailboxState {
                claimed_recent: Vec::new(),
                ..state.clone()
            },
            extra,
            uidlist_header: uidlist_text[..=header_end].to_owned(),
            uidlist,
            modseq,
            keyword_files,
            new_mtime: dir_stamps[0],
            in_new: state
                .messages
                .iter()
                .filter(|m| m.entry.subdir() == Subdir::New)
                .map(|m| m.entry.clone())
                .collect(),
            cur_explained,
            listed: Instant::now(),
        })
    }
}

/// The stats of the two keyword files, in the order of [`Base::keyword_files`].
pub(crate) fn keyword_stats(md: &Maildir) -> [Stat; 2] {
    [
        stat(&md.meta(KEYWORDS_FILE)),
        stat(&md.meta(EXTRA_KEYWORDS_FILE)),
    ]
}

/// What [`Maildir::advance`] made of a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Advance {
    /// Brought up to date.
    Done,
    /// The log does not explain the mtime of `cur/` (yet); the base is untouched.
    Unexplained,
    /// The log does not explain the folder; the base is half updated.
    No,
}

/// The entry of a message renamed into `cur/` with `flags` (as `set_flags` names it).
fn in_cur(e: &Entry, flags: Flags) -> Entry {
    if e.subdir() == Subdir::Cur && e.flags() == flags {
        return e.clone();
    }
    let mut n = name::with_flags(e.unique(), flags);
    n.push_str(e.info_extra());
    Entry::from_file_name(Subdir::Cur, n).unwrap_or_else(|| e.clone())
}

/// Whether the tails were read between a writer's two appends, both made under the uidlist
/// lock (an APPEND's record in `dovecot-uidlist`, then its row): a new UID without a row or
/// `-` line yet, or a row or `-` line of a UID past `state`'s UIDNEXT whose record was not read.
/// Such a sync is "not yet", as an unexplained `cur/`: once more under the lock, then a listing.
fn half_written(state: &MailboxState, utail: &str, mtail: &str) -> bool {
    let new_uids: Vec<u32> = utail
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .filter(|&u| u >= state.uid_next)
        .collect();
    let logged: Vec<u32> = mtail
        .lines()
        .filter_map(|l| match parse_line(l) {
            Some(LogLine::Row(u, _, _) | LogLine::Gone(u)) => Some(u),
            _ => None,
        })
        .collect();
    new_uids.iter().any(|u| !logged.contains(u))
        || logged
            .iter()
            .any(|&u| u >= state.uid_next && !new_uids.contains(&u))
}

impl Maildir {
    /// The incremental sync (module docs): `None` when it cannot explain the folder, and the
    /// caller lists it. Writes nothing. The base is taken out of the cache and put back
    /// brought up to date.
    pub(crate) fn sync_incremental(&self) -> Result<Option<MailboxState>> {
        let Some(mut base) = self.take_incremental() else {
            return Ok(None);
        };
        if base.listed.elapsed() >= FULL_SYNC_EVERY {
            return Ok(None);
        }
        let mut outcome = self.advance(&mut base)?;
        if outcome == Advance::Unexplained {
            // Most often a writer between its change and its log line: it holds the uidlist
            // lock until the line is written. Once more under the lock, before listing.
            if let Ok(_lock) = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout) {
                outcome = self.advance(&mut base)?;
            }
        }
        if outcome == Advance::Done {
            let state = base.state.clone();
            self.put_incremental(base);
            Ok(Some(state))
        } else {
            Ok(None)
        }
    }

    /// Brings `base` up to date. [`Advance::No`] when the log does not explain the folder
    /// (`base` is then half updated: drop it); [`Advance::Unexplained`] leaves `base` as it was.
    #[allow(clippy::too_many_lines)]
    fn advance(&self, base: &mut Base) -> Result<Advance> {
        // `cur/` first: a change logged after this is only more than it needs.
        let cur_mtime = mtime(&self.sub("cur"));
        let new_mtime = mtime(&self.sub("new"));
        let now = SystemTime::now();
        // A listing of `new/` is reused while its mtime is the same and old enough that a
        // change in the same clock tick would have moved it (`uids` module, `Stamps`).
        let settled = |t: Option<SystemTime>| {
            t.is_some_and(|t| now.duration_since(t).is_ok_and(|age| age >= SETTLED))
        };
        let in_new = if new_mtime == base.new_mtime && settled(new_mtime) {
            None
        } else {
            Some(self.scan_subdir(Subdir::New)?)
        };
        let Some((utail, umark, umtime)) = read_tail(&self.meta(UIDLIST), base.uidlist)? else {
            return Ok(Advance::No);
        };
        let Some((mtail, mmark, _)) = read_tail(&self.meta(MODSEQ_FILE), base.modseq)? else {
            return Ok(Advance::No);
        };
        // Whether the log explains `cur/` as seen above (its mtime is the last sync's or one of
        // the tail's), decided before anything is applied.
        let mut explained = cur_mtime.is_some() && cur_mtime == base.cur_explained;
        let mut last_stamp = None;
        for line in mtail.lines().filter(|l| l.starts_with('C')) {
            if let Some(LogLine::Stamp(t)) = parse_line(line) {
                explained |= Some(t) == cur_mtime;
                last_stamp = Some(t);
            }
        }
        if !explained || half_written(&base.state, &utail, &mtail) {
            return Ok(Advance::Unexplained);
        }
        let state = &mut base.state;
        // New UIDs with their file names.
        let mut added: Vec<(u32, String)> = Vec::new();
        if !utail.is_empty() {
            let Ok(more) = UidList::parse(&format!("{}{utail}", base.uidlist_header)) else {
                return Ok(Advance::No);
            };
            if more.uid_validity != state.uid_validity {
                return Ok(Advance::No);
            }
            for r in more.records {
                if r.uid < state.uid_next {
                    // A record the state has: appended by the listing the state comes from.
                    match state.messages.binary_search_by_key(&r.uid, |m| m.uid) {
                        Ok(i) if state.messages[i].entry.unique() == r.base() => continue,
                        _ => return Ok(Advance::No),
                    }
                }
                added.push((r.uid, r.file_name));
            }
            state.uid_next = state.uid_next.max(more.next_uid);
        }
        // The log, applied in order; new UIDs get their entry from their first row.
        let mut highest = state.highest_modseq;
        let mut touched: Vec<u32> = Vec::new();
        let added_from = added.first().map_or(u32::MAX, |a| a.0);
        for line in mtail.lines() {
            match parse_line(line) {
                None | Some(LogLine::Unlogged) => return Ok(Advance::No),
                Some(LogLine::Stamp(_)) => {}
                Some(LogLine::Highest(h)) => highest = h,
                Some(LogLine::Gone(uid)) => {
                    if let Ok(i) = state.messages.binary_search_by_key(&uid, |m| m.uid) {
                        state.messages.remove(i);
                    }
                    if uid >= added_from {
                        added.retain(|a| a.0 != uid);
                    }
                }
                Some(LogLine::Row(uid, modseq, flags)) => {
                    highest = highest.max(modseq);
                    match state.messages.binary_search_by_key(&uid, |m| m.uid) {
                        Ok(i) => {
                            let m = &mut state.messages[i];
                            m.modseq = modseq;
                            m.entry = in_cur(&m.entry, flags);
                            touched.push(uid);
                        }
                        Err(i) => {
                            // Only a new UID may get its first row; a row of a message this
                            // state does not have (one Dovecot numbered?) needs a listing.
                            let Some(pos) = added.iter().position(|a| a.0 == uid) else {
                                return Ok(Advance::No);
                            };
                            let (_, file_name) = added.remove(pos);
                            let Some(e) = Entry::from_file_name(Subdir::Cur, file_name) else {
                                return Ok(Advance::No);
                            };
                            state.messages.insert(
                                i,
                                UidMessage {
                                    uid,
                                    modseq,
                                    entry: in_cur(&e, flags),
                                    extra_keywords: Vec::new(),
                                },
                            );
                            touched.push(uid);
                        }
                    }
                }
            }
        }
        // A UID without its row yet (a writer between its two appends), or one Dovecot gave.
        if !added.is_empty() {
            return Ok(Advance::No);
        }
        base.cur_explained = last_stamp.or(cur_mtime);
        // `new/`: listed again when its mtime moved; the messages the state has there must be
        // what it holds (a move to `cur/` or a removal there is not in the log: a listing
        // tells).
        if let Some(scan) = in_new {
            base.in_new = scan;
            base.new_mtime = new_mtime;
        }
        let mut matched = 0;
        if base.in_new.is_empty() {
            if state
                .messages
                .iter()
                .any(|m| m.entry.subdir() == Subdir::New)
            {
                return Ok(Advance::No);
            }
        } else {
            let by_name: std::collections::HashMap<&str, &Entry> =
                base.in_new.iter().map(|e| (e.unique(), e)).collect();
            for m in &mut state.messages {
                match by_name.get(m.entry.unique()) {
                    Some(e) if e.flags() == m.entry.flags() => {
                        if m.entry != **e {
                            m.entry = (*e).clone();
                        }
                        matched += 1;
                    }
                    // Renamed in `new/`, or left it: moved to `cur/` or removed, the log
                    // does not say which.
                    Some(_) => return Ok(Advance::No),
                    None if m.entry.subdir() == Subdir::New => return Ok(Advance::No),
                    None => {}
                }
            }
        }
        if matched != base.in_new.len() {
            // A file in `new/` without a UID: a listing numbers it.
            return Ok(Advance::No);
        }
        // Keywords: read again only when a file was replaced.
        let kw = keyword_stats(self);
        if kw != base.keyword_files {
            let (table, extra) = self.load_keywords()?;
            for m in &mut state.messages {
                m.extra_keywords = extra.of(m.entry.unique()).to_vec();
            }
            state.keywords = table;
            base.extra = extra;
            base.keyword_files = kw;
        } else {
            for uid in touched {
                if let Ok(i) = state.messages.binary_search_by_key(&uid, |m| m.uid) {
                    let m = &mut state.messages[i];
                    m.extra_keywords = base.extra.of(m.entry.unique()).to_vec();
                }
            }
        }
        state.highest_modseq = highest.max(1);
        let Some(first_recent) =
            self.read_first_recent(state.uid_validity, Some(state.uid_next))?
        else {
            return Ok(Advance::No);
        };
        state.first_recent = first_recent.min(state.uid_next);
        base.uidlist = umark;
        base.modseq = mmark;
        let all = [
            new_mtime,
            cur_mtime,
            umtime,
            kw[0].and_then(|k| k.3),
            kw[1].and_then(|k| k.3),
        ];
        let trusted = all.iter().flatten().all(|t| settled(Some(*t)));
        state.stamps = Stamps(trusted.then_some(all));
        Ok(Advance::Done)
    }
}

impl Maildir {
    /// Where the log puts the message of `failed` (an entry whose file was not found) now:
    /// this handle's incremental state brought up to date, and only a name other than
    /// `failed` that a file has at this moment (a caller judges the message by the name, as an
    /// EXPUNGE takes only a name with `T`). `None` when there is no state, the log does not
    /// explain the folder, the message is not in it (expunged, or not numbered yet), or no file
    /// has that name: the caller then looks for the file by listing.
    pub(crate) fn logged_entry(&self, failed: &Entry) -> Result<Option<Entry>> {
        let Some(mut base) = self.take_incremental() else {
            return Ok(None);
        };
        if base.listed.elapsed() >= FULL_SYNC_EVERY || self.advance(&mut base)? != Advance::Done {
            // Dropped: the next sync lists the folder.
            return Ok(None);
        }
        let now = base
            .state
            .messages
            .iter()
            .find(|m| m.entry.unique() == failed.unique())
            .map(|m| m.entry.clone());
        self.put_incremental(base);
        Ok(now.filter(|e| e != failed && fs::symlink_metadata(self.entry_path(e)).is_ok()))
    }

    /// Appends `X` to the MODSEQ file after a change of `new/` or `cur/` made without a record
    /// (the public [`set_flags`](Maildir::set_flags), [`remove`](Maildir::remove) ...): other
    /// handles then list the folder instead of missing it in the same clock tick. One write,
    /// without the lock (a line written whole never tears another).
    pub(crate) fn log_unlogged_change(&self) -> Result<()> {
        let path = self.meta(MODSEQ_FILE);
        match fs::OpenOptions::new().append(true).open(&path) {
            Ok(mut f) => io::Write::write_all(&mut f, b"X\n").map_err(io_err("write", &path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("open", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;
    use crate::flags::FlagUpdate;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn folder() -> (Dir, Maildir, Maildir) {
        let dir = std::env::temp_dir().join(format!(
            "mw-maildir-incr-{}-{}",
            std::process::id(),
            name::unique_base(SystemTime::now(), "t")
        ));
        let a = Maildir::create(&dir).expect("maildir");
        let b = Maildir::open(&dir).expect("maildir");
        (Dir(dir), a, b)
    }

    fn flags(s: &str) -> Flags {
        Flags::parse(s).expect("flags")
    }

    /// What a handle that never synced before sees: a full listing.
    fn fresh(md: &Maildir) -> MailboxState {
        Maildir::open(md.path())
            .expect("open")
            .sync()
            .expect("sync")
    }

    /// B's incremental sync, which must be taken, against a full listing.
    fn assert_incremental(b: &Maildir) {
        let got = b
            .sync_incremental()
            .expect("sync")
            .expect("incremental path taken");
        assert_eq!(got, fresh(b));
    }

    /// B lists the folder (a delivery left a file without a UID: the listing numbers it), and
    /// then once more, writing nothing, which gives it a state to bring up to date.
    fn relist(b: &Maildir) {
        assert_eq!(b.sync().expect("sync"), fresh(b));
        assert_eq!(b.sync().expect("sync"), fresh(b));
    }

    fn store(md: &Maildir, uids: &[u32], update: FlagUpdate, keywords: &[&str]) {
        let mut st = md.sync().expect("sync");
        md.store(&mut st, uids, update, keywords, None)
            .expect("store");
    }

    /// Two handles on one folder: what A appends, delivers, stores, expunges and copies in, B
    /// brings up to date from the log alone, and gets what a full listing gives.
    #[test]
    fn incremental_sync_equals_a_full_listing() {
        let (_dir, a, b) = folder();
        for k in 0..3 {
            a.append(format!("m{k}").as_bytes(), flags("S"), None)
                .expect("append");
        }
        b.sync().expect("first sync lists");
        a.append(&b"m3"[..], Flags::empty(), None).expect("append");
        assert_incremental(&b);
        store(&a, &[1, 2], FlagUpdate::Add(flags("F")), &[]);
        assert_incremental(&b);
        store(
            &a,
            &[3],
            FlagUpdate::Add(Flags::empty()),
            &["$Label1", "other"],
        );
        assert_incremental(&b);
        store(&a, &[2, 4], FlagUpdate::Add(flags("T")), &[]);
        let st = a.sync().expect("sync");
        assert_eq!(a.expunge(&st, None).expect("expunge"), [2, 4]);
        assert_incremental(&b);
        a.deliver(b"delivered").expect("deliver");
        assert!(b.sync_incremental().expect("sync").is_none());
        relist(&b);
        store(&a, &[5], FlagUpdate::Add(flags("S")), &[]);
        assert_incremental(&b);
        let other = a.create_folder("Other").expect("folder");
        other.append(&b"x"[..], flags("R"), None).expect("append");
        let ost = other.sync().expect("sync");
        other.copy_uids(&ost, &[1], &a).expect("copy");
        assert_incremental(&b);
        let st = a.sync().expect("sync");
        a.move_uids(&st, &[1], &other).expect("move");
        assert_incremental(&b);
        // Nothing new: still the same.
        assert_incremental(&b);
    }

    /// A read-write session's claim moves `new/` to `cur/` and logs the moves: the other
    /// handle follows them without listing the folder.
    #[test]
    fn claims_are_seen() {
        let (_dir, a, b) = folder();
        a.append(&b"m"[..], Flags::empty(), None).expect("append");
        b.sync().expect("sync");
        a.deliver(b"delivered").expect("deliver");
        relist(&b);
        let claimed = a.sync_claim_recent().expect("claim");
        assert!(claimed.claimed_recent.contains(&2));
        assert!(
            claimed
                .messages
                .iter()
                .all(|m| m.entry.subdir() == Subdir::Cur)
        );
        assert_incremental(&b);
        // Two deliveries, numbered by B's listing; A's claim moves both.
        a.deliver(b"one").expect("deliver");
        a.deliver(b"two").expect("deliver");
        relist(&b);
        a.sync_claim_recent().expect("claim");
        assert_incremental(&b);
        // A STORE moved the message first (its row places it): the claim has nothing to move.
        a.deliver(b"three").expect("deliver");
        relist(&b);
        store(&b, &[6], FlagUpdate::Add(flags("F")), &[]);
        a.sync_claim_recent().expect("claim");
        assert_eq!(b.sync().expect("sync"), fresh(&b));
        assert_incremental(&b);
        // The claimer itself goes on incrementally too.
        assert_incremental(&a);
    }

    /// What the log cannot explain is listed: a torn tail, a missing or replaced (compacted)
    /// log, a file dropped into `new/` or `cur/` by another program, a change made through the
    /// crate's calls that keep no log.
    #[test]
    fn what_the_log_does_not_explain_is_listed() {
        let (dir, a, b) = folder();
        for k in 0..2 {
            a.append(format!("m{k}").as_bytes(), Flags::empty(), None)
                .expect("append");
        }
        b.sync().expect("sync");
        store(&a, &[1], FlagUpdate::Add(flags("S")), &[]);
        assert_incremental(&b);

        // A torn last line.
        let log = dir.0.join(MODSEQ_FILE);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        io::Write::write_all(&mut f, b"2 99").expect("write");
        assert!(b.sync_incremental().expect("sync").is_none());
        assert_eq!(b.sync().expect("sync"), fresh(&b));

        // The log missing.
        fs::remove_file(&log).expect("remove");
        assert!(b.sync_incremental().expect("sync").is_none());
        relist(&b);
        a.append(&b"m"[..], Flags::empty(), None).expect("append");
        assert_incremental(&b);

        // Compacted: rewritten whole once appended lines outnumber live ones.
        for k in 0..100 {
            let f = if k % 2 == 0 { "F" } else { "" };
            store(&a, &[1, 2], FlagUpdate::Replace(flags(f)), &[]);
        }
        assert!(b.sync_incremental().expect("sync").is_none());
        relist(&b);
        store(&a, &[1], FlagUpdate::Add(flags("D")), &[]);
        assert_incremental(&b);

        // A file dropped into `new/`.
        let unique = name::unique_base(SystemTime::now(), "elsewhere");
        fs::write(dir.0.join("new").join(&unique), b"x").expect("write");
        assert!(b.sync_incremental().expect("sync").is_none());
        relist(&b);
        store(&a, &[1], FlagUpdate::Add(flags("S")), &[]);
        assert_incremental(&b);

        // A file dropped into `cur/`, in a later clock tick than the last change.
        std::thread::sleep(MTIME_TICK);
        let unique = name::unique_base(SystemTime::now(), "elsewhere");
        fs::write(dir.0.join("cur").join(format!("{unique}:2,S")), b"x").expect("write");
        assert!(b.sync_incremental().expect("sync").is_none());
        relist(&b);

        // A rename through the crate's call that keeps no log.
        store(&a, &[1], FlagUpdate::Add(flags("R")), &[]);
        assert_incremental(&b);
        let st = a.sync().expect("sync");
        a.set_flags(
            &st.by_uid(2).expect("uid 2").entry,
            FlagUpdate::Add(flags("F")),
        )
        .expect("rename");
        assert!(b.sync_incremental().expect("sync").is_none());
        assert_eq!(b.sync().expect("sync"), fresh(&b));
    }

    /// A file the state places wrongly (gone meanwhile, found by name) drops the state.
    #[test]
    fn a_missing_file_forces_a_listing() {
        let (dir, a, b) = folder();
        a.append(&b"m"[..], Flags::empty(), None).expect("append");
        let st = b.sync().expect("sync");
        let e = &st.by_uid(1).expect("uid 1").entry;
        fs::rename(
            dir.0.join("cur").join(e.file_name()),
            dir.0.join("cur").join(format!("{}:2,S", e.unique())),
        )
        .expect("rename");
        let _ = b.read_message(e).expect("found by name");
        assert!(b.sync_incremental().expect("sync").is_none());
    }

    /// A session's entry made stale by another handle's STORE is found under the name the log
    /// gives, without a listing, and B's state stands; an EXPUNGE judges the file by the name
    /// it has now, not by a name a state had.
    #[test]
    fn a_stale_entry_is_found_through_the_log() {
        let (_dir, a, b) = folder();
        a.append(&b"m"[..], Flags::empty(), None).expect("append");
        let old = b.sync().expect("sync").messages[0].entry.clone();
        store(&a, &[1], FlagUpdate::Add(flags("S")), &[]);
        assert_eq!(b.read_message(&old).expect("read"), b"m");
        let kept = b.take_incremental().expect("the state is kept");
        b.put_incremental(kept);
        b.sync().expect("sync");
        assert_eq!(b.read_message(&old).expect("read"), b"m");
        assert_incremental(&b);
        // B's session is behind B's handle, which is behind the file: \Deleted set, cleared,
        // set again by A. B's EXPUNGE of its old view removes the message (it is \Deleted).
        store(&a, &[1], FlagUpdate::Replace(flags("T")), &[]);
        let session = b.sync().expect("sync");
        store(&a, &[1], FlagUpdate::Replace(flags("F")), &[]);
        b.sync().expect("sync");
        store(&a, &[1], FlagUpdate::Replace(flags("FT")), &[]);
        assert_eq!(b.expunge(&session, None).expect("expunge"), [1]);
        assert_incremental(&b);
        // And one cleared meanwhile stays.
        a.append(&b"n"[..], flags("T"), None).expect("append");
        let session = b.sync().expect("sync");
        store(&a, &[2], FlagUpdate::Replace(flags("S")), &[]);
        assert!(b.expunge(&session, None).expect("expunge").is_empty());
        assert_incremental(&b);
        assert_eq!(fresh(&b).messages.len(), 1);
    }

    /// An EXPUNGE removes files only under the uidlist lock, with its log line: another
    /// writer's `C` line can then never cover a removal not logged yet (which an incremental
    /// sync would take for explained, still showing the message).
    #[test]
    fn expunge_removes_under_the_lock() {
        let (dir, a, b) = folder();
        a.append(&b"m"[..], flags("T"), None).expect("append");
        let st = a.sync().expect("sync");
        let file = dir.0.join("cur").join(st.messages[0].entry.file_name());
        let lock = DotLock::acquire(&a.meta(UIDLIST), a.lock_timeout).expect("lock");
        let expunge = std::thread::spawn(move || b.expunge(&st, None).expect("expunge"));
        // Bounded: the EXPUNGE waits for the lock (its timeout is far longer than this).
        std::thread::sleep(Duration::from_millis(300));
        assert!(file.exists(), "removed without the lock");
        drop(lock);
        assert_eq!(expunge.join().expect("thread"), [1]);
        assert!(!file.exists());
    }

    /// A reader between an APPEND's record and its row (another writer's `C` line having
    /// covered the new file in `cur/`) waits for the lock and goes on incrementally instead
    /// of listing the folder.
    #[test]
    fn a_reader_between_a_record_and_its_row_waits_for_the_lock() {
        let (dir, a, b) = folder();
        a.append(&b"m"[..], Flags::empty(), None).expect("append");
        b.sync().expect("sync");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            let lock = DotLock::acquire(&a.meta(UIDLIST), a.lock_timeout).expect("lock");
            let opts = crate::DeliveryOptions {
                flags: Some(Flags::empty()),
                ..Default::default()
            };
            let mut d = a.delivery_with(opts).expect("delivery");
            io::Write::write_all(&mut d, b"n").expect("write");
            let entry = d.commit().expect("commit").entry;
            // Another writer's `C` line, after the new file arrived in `cur/`.
            let t = mtime(&dir.0.join("cur")).expect("mtime");
            let mut log = fs::OpenOptions::new()
                .append(true)
                .open(a.meta(MODSEQ_FILE))
                .expect("open");
            io::Write::write_all(&mut log, stamp_line(t).as_bytes()).expect("write");
            let (list, complete) = a.load_uidlist().expect("load").expect("uidlist");
            let record = crate::UidRecord {
                uid: list.next_uid,
                extensions: Vec::new(),
                file_name: entry.file_name().to_owned(),
            };
            let (uid, uid_validity) = (list.next_uid, list.uid_validity);
            a.add_records(list, complete, vec![record], uid + 1, true)
                .expect("record");
            ready_tx.send(()).expect("send");
            // Bounded: the reader waits for the lock meanwhile.
            std::thread::sleep(Duration::from_millis(300));
            a.record_new_modseqs(uid_validity, &[(uid, Flags::empty())])
                .expect("row");
            drop(lock);
            dir
        });
        ready_rx.recv().expect("recv");
        let got = b
            .sync_incremental()
            .expect("sync")
            .expect("incremental path taken");
        let _dir = writer.join().expect("writer");
        assert_eq!(got, fresh(&b));
        assert_eq!(got.messages.len(), 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(bool, u8),
        Deliver(bool),
        Store(bool, usize, u8, bool),
        Expunge(bool, usize),
        Claim(bool),
        Sync,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<bool>(), 0u8..32).prop_map(|(h, f)| Op::Append(h, f)),
            any::<bool>().prop_map(Op::Deliver),
            (any::<bool>(), any::<usize>(), 0u8..32, any::<bool>())
                .prop_map(|(h, i, f, k)| Op::Store(h, i, f, k)),
            (any::<bool>(), any::<usize>()).prop_map(|(h, i)| Op::Expunge(h, i)),
            any::<bool>().prop_map(Op::Claim),
            Just(Op::Sync),
        ]
    }

    fn some_flags(bits: u8) -> Flags {
        let letters: String = "DFRST"
            .chars()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, c)| c)
            .collect();
        flags(&letters)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Random interleavings of changes by two handles: after each, B's sync (incremental
        /// whenever it can) equals a full listing.
        #[test]
        fn interleavings_match_full_listings(ops in proptest::collection::vec(op(), 1..24)) {
            let (_dir, a, b) = folder();
            b.sync().expect("sync");
            for op in ops {
                let pick = |h: bool| if h { &a } else { &b };
                match op {
                    Op::Append(h, f) => {
                        pick(h).append(&b"m"[..], some_flags(f), None).expect("append");
                    }
                    Op::Deliver(h) => {
                        pick(h).deliver(b"d").expect("deliver");
                    }
                    Op::Store(h, i, f, k) => {
                        let md = pick(h);
                        let mut st = md.sync().expect("sync");
                        if !st.messages.is_empty() {
                            let uid = st.messages[i % st.messages.len()].uid;
                            let kw: &[&str] = if k { &["kw"] } else { &[] };
                            md.store(&mut st, &[uid], FlagUpdate::Replace(some_flags(f)), kw, None)
                                .expect("store");
                        }
                    }
                    Op::Expunge(h, i) => {
                        let md = pick(h);
                        let mut st = md.sync().expect("sync");
                        if !st.messages.is_empty() {
                            let uid = st.messages[i % st.messages.len()].uid;
                            md.store(&mut st, &[uid], FlagUpdate::Add(flags("T")), &[], None)
                                .expect("store");
                            md.expunge(&st, None).expect("expunge");
                        }
                    }
                    Op::Claim(h) => {
                        pick(h).sync_claim_recent().expect("claim");
                    }
                    Op::Sync => {}
                }
                let got = b.sync().expect("sync");
                prop_assert_eq!(got, fresh(&b));
            }
        }
    }
}

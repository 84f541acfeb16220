//! IMAP metadata per folder: UIDVALIDITY, UIDNEXT, stable UIDs, keywords, MODSEQ.
//!
//! UIDs live in Dovecot's own `dovecot-uidlist` (so a folder Dovecot served keeps its UIDs
//! here and the other way round), keyword letters in `dovecot-keywords`. MODSEQs, which Dovecot
//! keeps in its binary index, live in `mailwright-modseq` beside them: per UID the MODSEQ and
//! the flags it was computed for, so a flag change made by any program (Dovecot, mutt) is seen
//! at the next [`Maildir::sync`] and gets a new MODSEQ. The files are replaced atomically
//! (temporary file, rename) or appended to, while holding `dovecot-uidlist.lock`; a
//! [`Maildir::sync`] that finds nothing to write reads them without the lock.
//!
//! Beside these: the first `\Recent` UID (the `recent` module), the keywords past the 26 letters
//! (`keywords`), the user's UIDVALIDITY counter (`uidvalidity`), and the crash recovery of an
//! interrupted COPY (`copy`), which a locked sync runs before it numbers new files.
//!
//! Each handle keeps the last text it parsed of `dovecot-uidlist` and `mailwright-modseq` with
//! the result: a sync still reads both files, but parses only the lines appended since (or
//! nothing, when the bytes are the same). The cache is keyed by content, not by file identity or
//! mtime, so it can never serve a stale parse; files over 256 KiB (folders of several thousand
//! messages) are not kept. Beyond that, a handle keeps the state of its last sync and brings it
//! up to date from the lines appended to both files since, without listing the folder, whenever
//! those lines explain every change (the `incremental` module).
//!
//! ## What is fsynced before a reply, and why that is enough
//!
//! The rule: an acknowledged message is on disk (its file and its directory entry fsynced, by
//! [`Delivery::commit`](crate::Delivery::commit)), and a UID, once reported, never names another
//! message. Metadata that can be rebuilt after a crash without breaking either needs no fsync of
//! its own before the reply; metadata that cannot, does.
//!
//! - **New UIDs** (`dovecot-uidlist` lines for new messages, and NEXTUID): fsynced before they are
//!   returned. If a UID handed out were lost, the next sync would give the same message a new UID
//!   and the old one to another message: a UID reused. Appends add a line and fsync the file
//!   (one fsync, no rename); rewrites are durable (file, rename, directory).
//! - **Records of expunged messages**: removing them changes neither NEXTUID nor any other UID, so
//!   they are not rewritten away at each expunge (Dovecot keeps such records too until its next
//!   rewrite). They go at the next durable rewrite, or once there are more than
//!   [`STALE_RECORDS`] of them and more than live ones. A crash that loses a removal only brings
//!   back records for files that no longer exist, which every sync ignores.
//! - **MODSEQs** (`mailwright-modseq`): rebuilt by design, since every sync compares each
//!   message's flags with the flags its MODSEQ was computed for and gives a new MODSEQ to any
//!   that differ. What must survive is the guarantee that MODSEQs only grow: a client that saw
//!   HIGHESTMODSEQ `H` asks `CHANGEDSINCE H` and must see every later change. So changes are
//!   appended to the file as lines (no new file; rewritten whole only once appended lines
//!   outnumber live ones) without fsync, and a *reservation* is kept durable instead, the way a database
//!   caches a sequence: `mailwright-modseq.floor` holds a number `R` above every MODSEQ handed
//!   out, written durably (file, rename, directory) before a MODSEQ above the last reservation is
//!   handed out, each time reserving [`MODSEQ_RESERVE`] more. The first time a process touches a
//!   folder's MODSEQs (and whenever the file is missing or unreadable) it continues from above
//!   the reservation, not from the file's HIGHESTMODSEQ. A crash loses only unsynced writes, so
//!   the process that runs next starts above every MODSEQ ever reported: MODSEQs may skip
//!   values across restarts (RFC 7162 allows gaps), never go back. Cost: two fsyncs per folder
//!   per process start, and two per [`MODSEQ_RESERVE`] changes, instead of two per change.
//! - **Flags and expunges**: the rename or unlink is followed by an fsync of the directory
//!   before the reply, so an acknowledged STORE or EXPUNGE survives a crash, unless
//!   [`Maildir::set_fsync_changes`] turns that off (Dovecot's default): then a crash may undo the
//!   last flag changes or bring back a message just expunged, under the UID it had.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic::write_atomic;
use crate::error::{Error, Result, io_err};
use crate::flags::{FlagUpdate, Flags};
use crate::incremental::{Base, Mark, keyword_stats, read_marked, stamp_line};
use crate::keywords::{EXTRA_KEYWORDS_FILE, ExtraKeywords, KEYWORDS_FILE, Keywords};
use crate::lock::DotLock;
use crate::name;
use crate::store::{Entry, Maildir, Subdir};
use crate::uidlist::{UIDLIST, UidList, UidRecord};

/// Our MODSEQ file.
pub const MODSEQ_FILE: &str = "mailwright-modseq";

/// The durable MODSEQ reservation: a number above every MODSEQ handed out (module docs).
pub const MODSEQ_FLOOR_FILE: &str = "mailwright-modseq.floor";

/// How far above the MODSEQs in use each durable reservation reaches: the number of MODSEQ
/// changes per folder between two fsyncs of the reservation, and the gap a restart leaves.
pub const MODSEQ_RESERVE: u64 = 1 << 16;

/// At most this many records of expunged messages stay in `dovecot-uidlist` (while they are
/// fewer than the live ones) before a rewrite drops them (module docs).
pub const STALE_RECORDS: usize = 256;

/// The folders whose MODSEQs this process has moved above the durable reservation.
static FLOORED: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// One message with its IMAP metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidMessage {
    /// Its UID, stable for the life of the folder's UIDVALIDITY.
    pub uid: u32,
    /// The MODSEQ of its last flag change (RFC 7162).
    pub modseq: u64,
    /// The file as found by the scan.
    pub entry: Entry,
    /// Its keywords past the 26 letters: indexes (26 and up) into [`MailboxState::keywords`],
    /// ascending. Its letter keywords are in the flags of `entry`;
    /// [`MailboxState::keyword_names`] gives both by name.
    pub extra_keywords: Vec<u32>,
}

/// A folder's IMAP view after [`Maildir::sync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT: the UID the next message will get.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (RFC 7162); at least 1.
    pub highest_modseq: u64,
    /// The mailbox GUID from `dovecot-uidlist`.
    pub guid: Option<String>,
    /// The messages, UIDs ascending (sequence number = index + 1).
    pub messages: Vec<UidMessage>,
    /// The keyword table: the letters `a`..`z` in flags, then the keywords past them.
    pub keywords: Keywords,
    /// The first UID that is `\Recent` and claimed by no read-write session yet (RFC 3501
    /// §2.3.2): the messages from here on are what a read-only session (EXAMINE) shows as
    /// recent and what STATUS RECENT counts ([`unclaimed_recent`](Self::unclaimed_recent)).
    /// After [`Maildir::sync_claim_recent`], UIDNEXT.
    pub first_recent: u32,
    /// The UIDs this sync claimed as `\Recent` for its session, ascending: set by
    /// [`Maildir::sync_claim_recent`] only.
    pub claimed_recent: Vec<u32>,
    /// The mtimes this state was built from, for [`Maildir::is_unchanged`].
    pub(crate) stamps: Stamps,
}

/// mtimes of `new/`, `cur/` (taken before the scan), `dovecot-uidlist`, `dovecot-keywords` and
/// `mailwright-keywords` (taken after our own writes). `None` when one was too recent to trust: a file system with
/// coarse timestamps could hide a change made in the same tick. Bookkeeping only: two states
/// compare equal whatever their stamps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stamps(pub(crate) Option<[Option<SystemTime>; 5]>);

impl PartialEq for Stamps {
    fn eq(&self, _: &Stamps) -> bool {
        true
    }
}

impl Eq for Stamps {}

/// Changes this close to the stamping time may share a timestamp tick with a later change.
const DIRTY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl MailboxState {
    /// The message with this UID.
    pub fn by_uid(&self, uid: u32) -> Option<&UidMessage> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| &self.messages[i])
    }

    /// The message with this unique name.
    pub fn by_unique(&self, unique: &str) -> Option<&UidMessage> {
        self.messages.iter().find(|m| m.entry.unique() == unique)
    }

    /// The messages that are `\Recent` and claimed by no read-write session: UIDs from
    /// [`first_recent`](Self::first_recent) on. What STATUS RECENT counts and a read-only session
    /// shows as recent.
    pub fn unclaimed_recent(&self) -> impl Iterator<Item = &UidMessage> {
        let from = self.first_recent;
        let start = self.messages.partition_point(|m| m.uid < from);
        self.messages[start..].iter()
    }

    /// The names of all keywords of a message: its letters, then those past the letters.
    pub fn keyword_names<'a>(&'a self, message: &'a UidMessage) -> Vec<&'a str> {
        self.keywords
            .names_of(message.entry.flags(), &message.extra_keywords)
    }
}

/// What [`Maildir::store_flags`] did (RFC 7162 CONDSTORE data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreResult {
    /// (UID, new MODSEQ) of each message whose flags changed.
    pub changed: Vec<(u32, u64)>,
    /// UIDs refused because their MODSEQ was above `UNCHANGEDSINCE` (the `MODIFIED` response
    /// code, RFC 7162 §3.1.3).
    pub modified: Vec<u32>,
}

/// A message stored by [`Maildir::append`], with its UIDPLUS `APPENDUID` data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored message.
    pub delivered: crate::Delivered,
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

/// UIDPLUS results of a copy or move (RFC 4315 `COPYUID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    /// The destination's UIDVALIDITY.
    pub uid_validity: u32,
    /// (source UID, destination UID) for each message copied, in the order given.
    pub uids: Vec<(u32, u32)>,
}

#[derive(Debug, Clone)]
pub(crate) struct ModseqFile {
    pub(crate) uid_validity: u32,
    pub(crate) highest: u64,
    /// The reservation recorded with it (`R`; 0 in files written before reservations).
    pub(crate) reserved: u64,
    pub(crate) per_uid: HashMap<u32, (u64, Flags)>,
    /// Lines after the header (for deciding when to rewrite instead of append).
    body_lines: usize,
}

/// `mailwright-modseq`: a header line, then lines applied in order (later ones win):
///
/// ```text
/// 1 V<uidvalidity> H<highestmodseq> R<reservation>   header (R absent in older files)
/// <uid> <modseq> :<flags>                             the MODSEQ of a UID and its flags
/// -<uid>                                              the UID was expunged
/// H<highestmodseq> R<reservation>                     a new HIGHESTMODSEQ
/// C<seconds>.<nanoseconds>                            the mtime of `cur/` after the change
/// X                                                   a change not logged (a listing tells)
/// ```
///
/// Changes are appended; the file is rewritten whole when appended lines outnumber live ones. A
/// last line without its LF is torn (an append being written, or a crash): the file is then
/// unusable, and the caller takes the locked path or rebuilds above the reservation.
fn parse_modseq(text: &str) -> Option<ModseqFile> {
    if !text.ends_with('\n') {
        return None;
    }
    let (header, body) = text.split_once('\n')?;
    let mut header = header.split(' ');
    if header.next()? != "1" {
        return None;
    }
    let uid_validity = header.next()?.strip_prefix('V')?.parse().ok()?;
    let highest: u64 = header.next()?.strip_prefix('H')?.parse().ok()?;
    let reserved = match header.next() {
        Some(r) => r.strip_prefix('R')?.parse().ok()?,
        None => 0,
    };
    let mut file = ModseqFile {
        uid_validity,
        highest,
        reserved,
        per_uid: HashMap::new(),
        body_lines: 0,
    };
    apply_modseq_lines(&mut file, body)?;
    Some(file)
}

/// Applies body lines (each ended by LF) to `file`, in order. `None` if one is malformed (then
/// `file` is half updated: drop it).
fn apply_modseq_lines(file: &mut ModseqFile, lines: &str) -> Option<()> {
    for line in lines.lines() {
        // The mtime of `cur/` after a change, a change not logged (the `incremental` module):
        // short, and nothing to parse at a rewrite, so not counted towards one.
        if line.starts_with('C') || line == "X" {
            continue;
        }
        file.body_lines += 1;
        if let Some(uid) = line.strip_prefix('-') {
            file.per_uid.remove(&uid.parse::<u32>().ok()?);
            continue;
        }
        if let Some(rest) = line.strip_prefix('H') {
            let (h, r) = rest.split_once(" R")?;
            file.highest = h.parse().ok()?;
            file.reserved = r.parse().ok()?;
            continue;
        }
        let (nums, flags) = line.split_once(" :")?;
        let (uid, modseq) = nums.split_once(' ')?;
        let modseq: u64 = modseq.parse().ok()?;
        // A reader between two appended lines must not see a message above HIGHESTMODSEQ.
        file.highest = file.highest.max(modseq);
        file.per_uid
            .insert(uid.parse().ok()?, (modseq, Flags::parse(flags)?));
    }
    Some(())
}

/// Files longer than this are parsed at each read, not kept: a handle stays small (a session
/// keeps its handle while the folder is selected) and the cache serves the folders of up to a few
/// thousand messages, where parsing was a large share of a command's cost.
const META_CACHE_MAX_TEXT: usize = 256 * 1024;

/// The last parsed text of the metadata files of one folder, with what it parsed to (module
/// docs). Shared by the clones of a [`Maildir`] handle.
#[derive(Default)]
pub(crate) struct MetaCache {
    uidlist: Option<(String, Arc<IndexedUidList>)>,
    modseq: Option<(String, ModseqFile)>,
    /// The last first-recent file name seen: `(uidvalidity, first recent UID)`.
    recent: Option<(u32, u32)>,
    /// The last sync's state, for the next one to bring up to date (the `incremental` module).
    incremental: Option<Box<Base>>,
}

/// Sizes only: a handle's `Debug` output should not carry whole metadata files.
impl std::fmt::Debug for MetaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaCache")
            .field(
                "uidlist_bytes",
                &self.uidlist.as_ref().map(|(t, _)| t.len()),
            )
            .field("modseq_bytes", &self.modseq.as_ref().map(|(t, _)| t.len()))
            .field("recent", &self.recent)
            .field("incremental", &self.incremental.is_some())
            .finish()
    }
}

/// A parsed `dovecot-uidlist` with its records indexed by unique name (built once per cached
/// parse, not at every sync: the list keeps the records of expunged messages for a while, so it
/// can be ten times longer than the folder).
#[derive(Debug, Clone)]
pub(crate) struct IndexedUidList {
    pub(crate) list: UidList,
    by_base: HashMap<Box<str>, usize>,
}

impl IndexedUidList {
    fn new(list: UidList) -> Self {
        let mut me = IndexedUidList {
            by_base: HashMap::with_capacity(list.records.len()),
            list: UidList {
                records: Vec::new(),
                ..list
            },
        };
        me.extend(list.records);
        me
    }

    /// Adds records (later ones win for a name listed twice, as in a fresh index).
    fn extend(&mut self, records: Vec<UidRecord>) {
        for r in records {
            self.by_base
                .insert(r.base().into(), self.list.records.len());
            self.list.records.push(r);
        }
    }

    /// The index of the record of a unique name.
    pub(crate) fn find(&self, unique: &str) -> Option<usize> {
        self.by_base.get(unique).copied()
    }
}

impl std::ops::Deref for IndexedUidList {
    type Target = UidList;
    fn deref(&self) -> &UidList {
        &self.list
    }
}

/// `list` (parsed from `raw`, which ends with LF) extended by the lines `tail` appended after
/// `raw`: what parsing `raw + tail` gives. `false`, leaving `list` alone, when the tail does not
/// parse or its UIDs do not ascend from the list's.
fn extend_uidlist(raw: &str, list: &mut IndexedUidList, tail: &str) -> bool {
    let Some(header_end) = raw.find('\n') else {
        return false;
    };
    let Ok(more) = UidList::parse(&format!("{}{tail}", &raw[..=header_end])) else {
        return false;
    };
    let last = list.records.last().map_or(0, |r| r.uid);
    if more.records.first().is_some_and(|r| r.uid <= last) {
        return false;
    }
    list.list.next_uid = list.next_uid.max(more.next_uid);
    list.extend(more.records);
    true
}

impl Maildir {
    fn meta_cache(&self) -> MutexGuard<'_, MetaCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last first-recent file name this handle saw (the `recent` module).
    pub(crate) fn meta_cache_recent(&self) -> Option<(u32, u32)> {
        self.meta_cache().recent
    }

    pub(crate) fn set_meta_cache_recent(&self, uid_validity: u32, first: u32) {
        self.meta_cache().recent = Some((uid_validity, first));
    }

    pub(crate) fn forget_meta_cache_recent(&self) {
        self.meta_cache().recent = None;
    }

    pub(crate) fn take_incremental(&self) -> Option<Box<Base>> {
        self.meta_cache().incremental.take()
    }

    pub(crate) fn put_incremental(&self, base: Box<Base>) {
        self.meta_cache().incremental = Some(base);
    }

    /// The next sync lists the folder.
    pub(crate) fn forget_incremental(&self) {
        self.meta_cache().incremental = None;
    }

    /// `dovecot-uidlist` parsed (through the cache), and whether its text ends with a LF.
    /// `None` when the file is missing or does not parse.
    pub(crate) fn load_uidlist(&self) -> Result<Option<(Arc<IndexedUidList>, bool)>> {
        Ok(self.load_uidlist_marked()?.map(|(l, c, _)| (l, c)))
    }

    /// [`load_uidlist`](Self::load_uidlist), with the header line (LF included) and the mark of
    /// the text parsed.
    #[allow(clippy::type_complexity)]
    fn load_uidlist_marked(&self) -> Result<Option<(Arc<IndexedUidList>, bool, (String, Mark))>> {
        let Some((text, mark)) = read_marked(&self.meta(UIDLIST))? else {
            return Ok(None);
        };
        let complete = text.ends_with('\n');
        let header = text
            .find('\n')
            .map_or_else(String::new, |e| text[..=e].to_owned());
        let list = through_cache(
            &mut self.meta_cache().uidlist,
            text,
            |t| {
                UidList::parse(t)
                    .ok()
                    .map(|l| Arc::new(IndexedUidList::new(l)))
            },
            |raw, list, tail| {
                raw.ends_with('\n')
                    && tail.ends_with('\n')
                    && extend_uidlist(raw, Arc::make_mut(list), tail)
            },
        );
        Ok(list.map(|l| (l, complete, (header, mark))))
    }

    /// `mailwright-modseq` parsed (through the cache); `None` when missing, torn or broken.
    pub(crate) fn load_modseq(&self) -> Result<Option<ModseqFile>> {
        Ok(self.load_modseq_marked()?.map(|(f, _)| f))
    }

    /// [`load_modseq`](Self::load_modseq) with the mark of the text parsed.
    fn load_modseq_marked(&self) -> Result<Option<(ModseqFile, Mark)>> {
        let Some((text, mark)) = read_marked(&self.meta(MODSEQ_FILE))? else {
            return Ok(None);
        };
        Ok(through_cache(
            &mut self.meta_cache().modseq,
            text,
            parse_modseq,
            |_, file, tail| tail.ends_with('\n') && apply_modseq_lines(file, tail).is_some(),
        )
        .map(|f| (f, mark)))
    }
}

/// Parses `text` through a cache slot: what the slot holds when `text` is the text it was parsed
/// from; that extended by `extend(raw, value, tail)` when `text` is the old text plus lines
/// appended (`extend` returns `false`, maybe leaving `value` half done, when it cannot); else
/// `parse(text)`. The result is kept in the slot when `text` is short enough to keep.
fn through_cache<T: Clone>(
    slot: &mut Option<(String, T)>,
    text: String,
    parse: impl FnOnce(&str) -> Option<T>,
    extend: impl FnOnce(&str, &mut T, &str) -> bool,
) -> Option<T> {
    if let Some((raw, mut value)) = slot.take() {
        if raw == text {
            *slot = Some((raw, value.clone()));
            return Some(value);
        }
        if let Some(tail) = text.strip_prefix(raw.as_str())
            && extend(&raw, &mut value, tail)
        {
            return Some(keep_in(slot, text, value));
        }
    }
    let value = parse(&text)?;
    Some(keep_in(slot, text, value))
}

fn keep_in<T: Clone>(slot: &mut Option<(String, T)>, text: String, value: T) -> T {
    if text.len() <= META_CACHE_MAX_TEXT {
        *slot = Some((text, value.clone()));
    }
    value
}

/// The rows of a MODSEQ table, UIDs ascending.
pub(crate) fn sorted_rows(per_uid: &HashMap<u32, (u64, Flags)>) -> Vec<(u32, u64, Flags)> {
    let mut rows: Vec<(u32, u64, Flags)> = per_uid
        .iter()
        .map(|(uid, (modseq, flags))| (*uid, *modseq, *flags))
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows
}

fn random_guid() -> String {
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        let _ = write!(out, "{:016x}", h.finish());
    }
    out
}

pub(crate) fn read_optional(path: &std::path::Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A file that is not UTF-8 is as good as lost.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

impl Maildir {
    pub(crate) fn meta(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    /// Where MODSEQs continue from, under the uidlist lock: `(highest, reservation)`. The file's
    /// own values, except the first time this process touches the folder or when the file is
    /// missing or unreadable: then from above the durable reservation, and a new reservation
    /// is made durable (module docs).
    /// Without `write` (unlocked), `None` when a new reservation would be needed.
    pub(crate) fn modseq_start(
        &self,
        file: Option<&ModseqFile>,
        write: bool,
    ) -> Result<Option<(u64, u64)>> {
        let mut floored = FLOORED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = file
            && floored.contains(&self.path)
        {
            return Ok(Some((f.highest, f.reserved.max(f.highest))));
        }
        if !write {
            return Ok(None);
        }
        let floor = read_optional(&self.meta(MODSEQ_FLOOR_FILE))?
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let highest = file.map_or(0, |f| f.highest.max(f.reserved)).max(floor);
        let reserved = highest.saturating_add(MODSEQ_RESERVE);
        self.write_modseq_floor(reserved)?;
        floored.insert(self.path.clone());
        Ok(Some((highest, reserved)))
    }

    fn write_modseq_floor(&self, floor: u64) -> Result<()> {
        write_atomic(
            &self.meta(MODSEQ_FLOOR_FILE),
            format!("{floor}\n").as_bytes(),
            self.fsync,
        )
    }

    /// Records MODSEQ changes in `mailwright-modseq` (not fsynced: module docs), first making a
    /// new reservation durable if `highest` passed `reserved`. `changed` rows and `removed` UIDs
    /// are appended to the file `old` was read from (no new file); the file is rewritten whole
    /// from `all` when there is none for this UIDVALIDITY or appended lines outnumber live ones.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update_modseq(
        &self,
        old: Option<&ModseqFile>,
        uid_validity: u32,
        highest: u64,
        reserved: u64,
        changed: &[(u32, u64, Flags)],
        removed: &[u32],
        all: impl FnOnce() -> Vec<(u32, u64, Flags)>,
        cur_stamp: Option<SystemTime>,
    ) -> Result<()> {
        let reserved = if highest > reserved {
            let r = highest.saturating_add(MODSEQ_RESERVE);
            self.write_modseq_floor(r)?;
            r
        } else {
            reserved
        };
        // QRESYNC's history of expunges, written first (the `vanished` module).
        self.record_vanished(
            uid_validity,
            old.filter(|f| f.uid_validity == uid_validity)
                .map(|f| f.highest),
            highest,
            removed,
        )?;
        let path = self.meta(MODSEQ_FILE);
        if let Some(f) = old
            && f.uid_validity == uid_validity
            && f.body_lines + changed.len() + removed.len() < 2 * f.per_uid.len() + 64
        {
            let mut text = String::with_capacity(24 * (changed.len() + removed.len() + 1));
            for (uid, modseq, flags) in changed {
                let _ = writeln!(text, "{uid} {modseq} :{flags}");
            }
            for uid in removed {
                let _ = writeln!(text, "-{uid}");
            }
            let _ = writeln!(text, "H{highest} R{reserved}");
            // The mtime of `cur/` these lines account for (the `incremental` module): given by
            // a sync (from before its listing), else now, after the caller's changes.
            if let Some(t) = cur_stamp.or_else(|| mtime(&self.sub("cur"))) {
                text.push_str(&stamp_line(t));
            }
            let mut file = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err("open", &path))?;
            // One write: a reader sees the lines so far, or a torn last line it refuses.
            return io::Write::write_all(&mut file, text.as_bytes())
                .map_err(io_err("write", &path));
        }
        let rows = all();
        let mut text = String::with_capacity(48 + rows.len() * 24);
        let _ = writeln!(text, "1 V{uid_validity} H{highest} R{reserved}");
        for (uid, modseq, flags) in rows {
            let _ = writeln!(text, "{uid} {modseq} :{flags}");
        }
        write_atomic(&path, text.as_bytes(), false)
    }

    /// Reads `dovecot-uidlist` without locking (it is only ever replaced by rename). `None` if
    /// it is missing or unreadable.
    pub fn read_uidlist(&self) -> Result<Option<UidList>> {
        Ok(self.load_uidlist()?.map(|(l, _)| l.list.clone()))
    }

    /// The keyword table (`dovecot-keywords` letters, then the keywords past them from
    /// `mailwright-keywords`; empty if neither exists).
    pub fn keywords(&self) -> Result<Keywords> {
        Ok(self.load_keywords()?.0)
    }

    /// The keyword table and `mailwright-keywords` as read now.
    pub(crate) fn load_keywords(&self) -> Result<(Keywords, ExtraKeywords)> {
        let mut table = read_optional(&self.meta(KEYWORDS_FILE))?
            .map(|t| Keywords::parse(&t))
            .unwrap_or_default();
        let extra = read_optional(&self.meta(EXTRA_KEYWORDS_FILE))?
            .map(|t| ExtraKeywords::parse(&t))
            .unwrap_or_default();
        table.set_extra(extra.names.clone());
        Ok((table, extra))
    }

    /// Writes `mailwright-keywords` (under the uidlist lock), durable like a flag change.
    pub(crate) fn write_extra_keywords(&self, extra: &ExtraKeywords) -> Result<()> {
        write_atomic(
            &self.meta(EXTRA_KEYWORDS_FILE),
            extra.encode().as_bytes(),
            self.fsync && self.fsync_changes,
        )
    }

    /// Brings the IMAP metadata up to date with the directory and returns it: assigns UIDs to
    /// new messages (in delivery order, from their names), forgets expunged ones, gives a new
    /// MODSEQ to every message whose flags changed since the last sync. A lost or broken
    /// `dovecot-uidlist` is rebuilt with a new UIDVALIDITY from the user's counter (the
    /// `uidvalidity` module), greater than the previous one.
    ///
    /// Claims nothing: the state's [`first_recent`](MailboxState::first_recent) says which
    /// messages are `\Recent` for a session that has not claimed them (IMAP EXAMINE, STATUS). A
    /// read-write session syncs with [`sync_claim_recent`](Self::sync_claim_recent).
    pub fn sync(&self) -> Result<MailboxState> {
        self.sync_inner(&[], false)
    }

    /// [`sync`](Self::sync) for a read-write session (IMAP SELECT and every later sync of it):
    /// also claims the `\Recent` messages no session has claimed yet, which the state lists in
    /// [`claimed_recent`](MailboxState::claimed_recent) (RFC 3501 §2.3.2: recent in this
    /// session only; a message is claimed by the first read-write session that syncs after it
    /// arrived), and moves the messages in `new/` to `cur/` (they have been seen by a reader).
    pub fn sync_claim_recent(&self) -> Result<MailboxState> {
        self.sync_inner(&[], true)
    }

    /// Like [`sync`](Self::sync), but messages new to the uidlist whose unique names are in
    /// `first` get their UIDs first, in that order (for COPYUID / APPENDUID).
    pub fn sync_with_order(&self, first: &[&str]) -> Result<MailboxState> {
        self.sync_inner(first, false)
    }

    fn sync_inner(&self, first: &[&str], claim: bool) -> Result<MailboxState> {
        // Most syncs write nothing: those run without the lock (and without creating the lock
        // file). Every metadata file is replaced by rename or only appended to, so an unlocked
        // read sees a whole version, or a torn last line that does not add up; whatever does not
        // add up (a file without a record, a MODSEQ to give, a broken file) takes the locked path.
        let unlocked = if first.is_empty() {
            match self.sync_incremental()? {
                Some(state) => Some(state),
                None => self.build_state(&[], false, claim)?,
            }
        } else {
            None
        };
        let mut state = match unlocked {
            Some(state) => state,
            None => {
                let _lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
                self.build_state(first, true, claim)?
                    .ok_or_else(|| Error::Contended(self.path.display().to_string()))?
            }
        };
        if claim {
            self.claim_into(&mut state)?;
        }
        Ok(state)
    }

    /// The claiming part of [`sync_claim_recent`](Self::sync_claim_recent): a compare-and-swap
    /// of the first-recent file (the `recent` module), needing no lock, then `new/` → `cur/`.
    fn claim_into(&self, state: &mut MailboxState) -> Result<()> {
        if let Some(range) = self.try_claim_recent(state.uid_validity, state.uid_next)? {
            state.claimed_recent = state
                .messages
                .iter()
                .map(|m| m.uid)
                .filter(|u| range.contains(u))
                .collect();
            state.first_recent = state.uid_next;
        }
        let mut moved: Vec<(u32, Flags)> = Vec::new();
        for m in &mut state.messages {
            if m.entry.subdir() != Subdir::New {
                continue;
            }
            match self.set_flags_no_sync(&m.entry, FlagUpdate::Add(Flags::empty())) {
                Ok((entry, _)) => {
                    moved.push((m.uid, entry.flags()));
                    m.entry = entry;
                }
                // Expunged meanwhile: the next sync drops it.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !moved.is_empty() {
            // No fsync: a crash that undoes the move leaves the message in `new/`, unharmed.
            state.stamps = Stamps(None);
            self.log_moves(state.uid_validity, &moved)?;
        }
        Ok(())
    }

    /// Logs moves from `new/` to `cur/` (a claim's) in the MODSEQ file under the uidlist lock,
    /// then the mtime of `cur/`, so that incremental syncs (the `incremental` module) follow
    /// them instead of listing the folder. A move is logged as the message's last row again
    /// (same MODSEQ and flags: every reader of the file takes it as it took the first), which
    /// an incremental sync applies by placing the message in `cur/` with those flags. Only
    /// when the row's flags are the ones the file was moved with: a STORE between the move and
    /// the lock logged its own row (which places the message in `cur/` too), and a message
    /// without a row (or a MODSEQ file of another UIDVALIDITY) gets none; readers that cannot
    /// explain `new/` then list the folder, as before.
    fn log_moves(&self, uid_validity: u32, moved: &[(u32, Flags)]) -> Result<()> {
        let _lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
        let path = self.meta(MODSEQ_FILE);
        let mut text = String::with_capacity(24 * (moved.len() + 1));
        if let Some(file) = self
            .load_modseq()?
            .filter(|f| f.uid_validity == uid_validity)
        {
            for &(uid, flags) in moved {
                if let Some(&(modseq, logged)) = file.per_uid.get(&uid)
                    && logged == flags
                {
                    let _ = writeln!(text, "{uid} {modseq} :{flags}");
                }
            }
        }
        let mut file = match fs::OpenOptions::new().append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let Some(t) = mtime(&self.sub("cur")) else {
            return Ok(());
        };
        text.push_str(&stamp_line(t));
        // One write: a reader sees all of it or a torn last line it refuses.
        io::Write::write_all(&mut file, text.as_bytes()).map_err(io_err("write", &path))
    }

    /// The body of [`sync_with_order`](Self::sync_with_order). Unlocked (`locked == false`) it
    /// writes nothing and returns `None` as soon as something would need writing (with `claim`,
    /// also when the folder has no first-recent file yet, which only a locked sync creates).
    #[allow(clippy::too_many_lines)]
    fn build_state(
        &self,
        first: &[&str],
        locked: bool,
        claim: bool,
    ) -> Result<Option<MailboxState>> {
        let uidlist_path = self.meta(UIDLIST);
        let (old_modseq, modseq_mark) = match self.load_modseq_marked()? {
            Some((f, m)) => (Some(f), Some(m)),
            None => (None, None),
        };
        let mut uidlist_mark = None;
        // Whether the file must be written whole (else new records are appended to it).
        let mut rewrite = true;
        let (mut list, mut dirty) = match self.load_uidlist_marked()? {
            Some((l, complete, mark)) => {
                uidlist_mark = complete.then_some(mark);
                rewrite = !complete;
                (l, false)
            }
            None if !locked => return Ok(None),
            None => {
                // A new (or rebuilt) uidlist: the next value of the user's counter, above what
                // this folder had before if we still know it (RFC 3501 §2.3.1.1).
                let before = old_modseq.as_ref().map_or(0, |m| m.uid_validity);
                let v = crate::uidvalidity::next_uid_validity(&self.root, before, self.fsync)?;
                (
                    Arc::new(IndexedUidList::new(UidList::new(v, Some(random_guid())))),
                    true,
                )
            }
        };
        let dir_stamps = [mtime(&self.sub("new")), mtime(&self.sub("cur"))];
        let listed_at = SystemTime::now();
        // Unsorted: UID order comes from the uidlist, only new names need sorting.
        let mut entries = self.scan_unsorted()?;
        if locked {
            // Before anything is numbered: a copy cut short by a crash must not show.
            self.recover_copies(&list, &mut entries)?;
        }
        let mut messages: Vec<(u32, Option<usize>, Entry)> = Vec::with_capacity(entries.len());
        let mut fresh: Vec<Entry> = Vec::new();
        for e in entries {
            match list.find(e.unique()) {
                Some(i) => messages.push((list.records[i].uid, Some(i), e)),
                None => fresh.push(e),
            }
        }
        // Where \Recent starts if the folder has no first-recent file (the `recent` module).
        let unseen_from = crate::recent::first_unseen(
            list.next_uid,
            messages
                .iter()
                .filter(|m| m.2.subdir() == Subdir::New)
                .map(|m| m.0),
        );
        // Records of expunged files may stay for now (module docs); a file seen twice (a rename
        // racing with the scan) rewrites.
        let stale = list.records.len().saturating_sub(messages.len());
        if messages.len() > list.records.len() || stale > STALE_RECORDS.max(messages.len()) {
            dirty = true;
            rewrite = true;
        }
        if !fresh.is_empty() {
            dirty = true;
        }
        if dirty && !locked {
            return Ok(None);
        }
        let mut next_uid = list.next_uid;
        if !fresh.is_empty() {
            let rank: HashMap<&str, usize> =
                first.iter().enumerate().map(|(i, n)| (*n, i)).collect();
            fresh.sort_by(|a, b| {
                let ra = rank.get(a.unique()).copied().unwrap_or(usize::MAX);
                let rb = rank.get(b.unique()).copied().unwrap_or(usize::MAX);
                ra.cmp(&rb)
                    .then_with(|| name::delivery_order(a.unique(), b.unique()))
            });
            for e in fresh {
                let uid = next_uid;
                next_uid = next_uid.saturating_add(1);
                messages.push((uid, None, e));
            }
        }
        messages.sort_unstable_by_key(|m| m.0);
        if dirty && !rewrite {
            // Only files without a UID (an APPEND racing with this sync): their records are
            // appended, as Dovecot does, so the file others read incrementally stays the same
            // (the `incremental` module).
            let added: Vec<UidRecord> = messages
                .iter()
                .filter(|(_, old, _)| old.is_none())
                .map(|(uid, _, e)| UidRecord {
                    uid: *uid,
                    extensions: Vec::new(),
                    file_name: e.file_name().to_owned(),
                })
                .collect();
            self.add_records(list.clone(), true, added, next_uid, true)?;
            Arc::make_mut(&mut list).list.next_uid = next_uid;
        } else if dirty {
            let records: Vec<UidRecord> = messages
                .iter()
                .map(|(uid, old, e)| UidRecord {
                    uid: *uid,
                    extensions: old
                        .map(|i| list.records[i].extensions.clone())
                        .unwrap_or_default(),
                    file_name: e.file_name().to_owned(),
                })
                .collect();
            // A new list, not the cached one (the cache keeps what the file held).
            let list = &mut Arc::make_mut(&mut list).list;
            list.next_uid = next_uid;
            list.records = records;
            write_atomic(&uidlist_path, list.encode().as_bytes(), self.fsync)?;
        }

        // \Recent: the first-recent file, made here (locked) when the folder has none.
        let first_recent = match self.read_first_recent(list.uid_validity, Some(list.next_uid))? {
            Some(r) => r,
            None if locked => self.create_first_recent(list.uid_validity, unseen_from)?,
            None if claim => return Ok(None),
            None => unseen_from,
        }
        .min(list.next_uid);

        // Keywords past the letters, by unique name; records of gone messages are dropped when
        // locked anyway.
        let keyword_marks = keyword_stats(self);
        let (keywords, mut extra) = self.load_keywords()?;
        // Replaced between the stat and the read: the next sync must not trust the stat.
        let keywords_read_racy = keyword_stats(self) != keyword_marks;

        // MODSEQ bookkeeping.
        let old_modseq = old_modseq.filter(|m| m.uid_validity == list.uid_validity);
        let Some((start, reserved)) = self.modseq_start(old_modseq.as_ref(), locked)? else {
            return Ok(None);
        };
        let mut highest = start.max(1);
        let mut modseq_dirty =
            old_modseq.is_none() || old_modseq.as_ref().is_some_and(|m| m.highest != highest);
        let old_count = old_modseq.as_ref().map_or(0, |m| m.per_uid.len());
        let mut matched = 0usize;
        let mut out = Vec::with_capacity(messages.len());
        for (uid, _, entry) in messages {
            let flags = entry.flags();
            let modseq = match old_modseq.as_ref().and_then(|m| m.per_uid.get(&uid)) {
                Some(&(ms, f)) if f == flags => {
                    matched += 1;
                    ms
                }
                prev => {
                    matched += usize::from(prev.is_some());
                    modseq_dirty = true;
                    highest += 1;
                    highest
                }
            };
            let extra_keywords = extra.of(entry.unique()).to_vec();
            out.push(UidMessage {
                uid,
                modseq,
                entry,
                extra_keywords,
            });
        }
        if matched != old_count {
            // Expunges raise HIGHESTMODSEQ too (RFC 7162 §3.2.10 needs it to change).
            modseq_dirty = true;
            highest += 1;
        }
        if modseq_dirty && !locked {
            return Ok(None);
        }
        if modseq_dirty {
            let old = old_modseq.as_ref();
            let changed: Vec<(u32, u64, Flags)> = out
                .iter()
                .map(|m| (m.uid, m.modseq, m.entry.flags()))
                .filter(|&(uid, ms, f)| old.and_then(|o| o.per_uid.get(&uid)) != Some(&(ms, f)))
                .collect();
            let removed: Vec<u32> = old.map_or_else(Vec::new, |o| {
                let live: HashSet<u32> = out.iter().map(|m| m.uid).collect();
                o.per_uid
                    .keys()
                    .filter(|u| !live.contains(u))
                    .copied()
                    .collect()
            });
            self.update_modseq(
                old,
                list.uid_validity,
                highest,
                reserved,
                &changed,
                &removed,
                || {
                    out.iter()
                        .map(|m| (m.uid, m.modseq, m.entry.flags()))
                        .collect()
                },
                dir_stamps[1],
            )?;
        }
        if locked && !extra.by_unique.is_empty() {
            let live: HashSet<&str> = out.iter().map(|m| m.entry.unique()).collect();
            let before = extra.by_unique.len();
            extra.by_unique.retain(|u, _| live.contains(u.as_str()));
            if extra.by_unique.len() != before {
                self.write_extra_keywords(&extra)?;
            }
        }
        let all = [
            dir_stamps[0],
            dir_stamps[1],
            mtime(&uidlist_path),
            mtime(&self.meta(KEYWORDS_FILE)),
            mtime(&self.meta(EXTRA_KEYWORDS_FILE)),
        ];
        let now = SystemTime::now();
        let trusted = all
            .iter()
            .flatten()
            .all(|t| now.duration_since(*t).is_ok_and(|age| age >= DIRTY_WINDOW));
        let state = MailboxState {
            uid_validity: list.uid_validity,
            uid_next: list.next_uid,
            highest_modseq: highest,
            guid: list.guid.clone(),
            messages: out,
            keywords,
            first_recent,
            claimed_recent: Vec::new(),
            stamps: Stamps(trusted.then_some(all)),
        };
        // What the next sync brings up to date. What this sync appended is a tail it has
        // already applied (the next sync finds the same rows and records again); a file it
        // replaced is another inode, which the next sync lists.
        match (uidlist_mark, modseq_mark) {
            (Some((header, umark)), Some(mmark)) if !keywords_read_racy => {
                if let Some(base) = Base::new(
                    &state,
                    extra,
                    &header,
                    umark,
                    mmark,
                    dir_stamps,
                    listed_at,
                    keyword_marks,
                ) {
                    self.put_incremental(Box::new(base));
                }
            }
            _ => self.forget_incremental(),
        }
        Ok(Some(state))
    }

    /// Whether nothing changed since `state` was built (five `stat`s instead of a scan): no
    /// delivery, rename, expunge, UID or keyword change by anyone. `false` when unsure (the
    /// state was built within 2 s of a change), so `if !md.is_unchanged(&st) { st =
    /// md.sync()? }` is always correct.
    pub fn is_unchanged(&self, state: &MailboxState) -> bool {
        let Some(old) = state.stamps.0 else {
            return false;
        };
        let now = [
            mtime(&self.sub("new")),
            mtime(&self.sub("cur")),
            mtime(&self.meta(UIDLIST)),
            mtime(&self.meta(KEYWORDS_FILE)),
            mtime(&self.meta(EXTRA_KEYWORDS_FILE)),
        ];
        now == old
    }

    /// Gives UIDs to messages just stored here (by [`Delivery::commit`](crate::Delivery::commit)
    /// or a copy), in the order given, without scanning the folder: the records are appended to
    /// `dovecot-uidlist` under its lock, as Dovecot itself does. Messages that already have a
    /// UID keep it. Returns the UIDVALIDITY and the UIDs (for APPENDUID / COPYUID).
    pub fn assign_uids(&self, entries: &[Entry]) -> Result<(u32, Vec<u32>)> {
        self.assign_uids_with(entries, &[])
    }

    /// [`assign_uids`](Self::assign_uids), also giving `entries[i]` the keywords past the letters
    /// `extra[i]` (when `extra` is not empty), in the same locked step; a message given keywords
    /// gets a new MODSEQ even if it had a UID already.
    pub(crate) fn assign_uids_with(
        &self,
        entries: &[Entry],
        extra: &[Vec<u32>],
    ) -> Result<(u32, Vec<u32>)> {
        let path = self.meta(UIDLIST);
        let lock = DotLock::acquire(&path, self.lock_timeout)?;
        let Some((list, complete)) = self.load_uidlist()? else {
            // No usable uidlist: a full sync builds one, with these messages first.
            drop(lock);
            let names: Vec<&str> = entries.iter().map(Entry::unique).collect();
            self.sync_with_order(&names)?;
            return self.assign_uids_with(entries, extra);
        };
        self.ensure_first_recent_locked(&list)?;
        let mut uids = Vec::with_capacity(entries.len());
        let mut added = Vec::new();
        let mut new_rows = Vec::new();
        let mut next_uid = list.next_uid;
        for e in entries {
            if let Some(i) = list.find(e.unique()) {
                uids.push(list.records[i].uid);
                continue;
            }
            let uid = next_uid;
            next_uid = next_uid.saturating_add(1);
            uids.push(uid);
            added.push(UidRecord {
                uid,
                extensions: Vec::new(),
                file_name: e.file_name().to_owned(),
            });
            new_rows.push((uid, e.flags()));
        }
        if !extra.is_empty() {
            let (_, mut file) = self.load_keywords()?;
            let mut changed = false;
            for (i, (e, ids)) in entries.iter().zip(extra).enumerate() {
                if file.set(e.unique(), ids.clone()) {
                    changed = true;
                    if !new_rows.iter().any(|(u, _)| *u == uids[i]) {
                        new_rows.push((uids[i], e.flags()));
                    }
                }
            }
            if changed {
                self.write_extra_keywords(&file)?;
            }
        }
        let uid_validity = list.uid_validity;
        let mut unsynced = false;
        if !added.is_empty() {
            unsynced = self.add_records(list, complete, added, next_uid, false)?;
        }
        // Their MODSEQs too, so the sync that follows has nothing to write and takes no lock.
        if !new_rows.is_empty() {
            self.record_new_modseqs(uid_validity, &new_rows)?;
        }
        // The appended records are fsynced after the lock is released (the next writer may
        // append meanwhile; one fsync, maybe shared, covers both), and before the UIDs are
        // returned.
        drop(lock);
        if unsynced {
            let path = self.meta(UIDLIST);
            crate::groupsync::fsync_path(&path).map_err(io_err("fsync", &path))?;
        }
        Ok((uid_validity, uids))
    }

    /// Adds records (UIDs from `list.next_uid` to `next_uid`) to `dovecot-uidlist`, under its
    /// lock: appended and fsynced, or, if the file does not end with a whole line, rewritten
    /// (durably). With `sync_now == false` an append is not fsynced here: `Ok(true)` says the
    /// caller must fsync the file before it hands the UIDs out.
    pub(crate) fn add_records(
        &self,
        mut list: Arc<IndexedUidList>,
        complete: bool,
        added: Vec<UidRecord>,
        next_uid: u32,
        sync_now: bool,
    ) -> Result<bool> {
        let path = self.meta(UIDLIST);
        if complete {
            // "New lines can be appended to the end of file, but existing data must never be
            // directly modified" (Dovecot wiki, MailboxFormat/Maildir).
            let mut lines = String::new();
            for r in &added {
                let _ = writeln!(lines, "{} :{}", r.uid, r.file_name);
            }
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err("open", &path))?;
            // One write: a reader sees the records so far, or a torn last line it ignores.
            io::Write::write_all(&mut f, lines.as_bytes()).map_err(io_err("write", &path))?;
            if self.fsync && sync_now {
                f.sync_all().map_err(io_err("fsync", &path))?;
            }
            Ok(self.fsync && !sync_now)
        } else {
            let list = &mut Arc::make_mut(&mut list).list;
            list.next_uid = next_uid;
            list.records.extend(added);
            write_atomic(&path, list.encode().as_bytes(), self.fsync)?;
            Ok(false)
        }
    }

    /// Makes the first-recent file when the folder has none (a folder from before it existed),
    /// under the uidlist lock: at the first UID of the messages in `new/` and of those not yet
    /// numbered (the `recent` module).
    pub(crate) fn ensure_first_recent_locked(&self, list: &IndexedUidList) -> Result<()> {
        // Every APPEND and COPY comes here: the UIDNEXT is where the last claim most often
        // moved the file, one stat instead of a listing of the folder under the lock.
        if self
            .read_first_recent(list.uid_validity, Some(list.next_uid))?
            .is_some()
        {
            return Ok(());
        }
        let in_new: Vec<u32> = self
            .scan_subdir(Subdir::New)?
            .iter()
            .filter_map(|e| list.find(e.unique()).map(|i| list.records[i].uid))
            .collect();
        let first = crate::recent::first_unseen(list.next_uid, in_new);
        self.create_first_recent(list.uid_validity, first)?;
        Ok(())
    }

    /// [`ensure_first_recent_locked`](Self::ensure_first_recent_locked), taking the lock, for
    /// `uid_validity` (nothing when the uidlist has another).
    pub(crate) fn ensure_first_recent(&self, uid_validity: u32) -> Result<()> {
        let _lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
        match self.load_uidlist()? {
            Some((list, _)) if list.uid_validity == uid_validity => {
                self.ensure_first_recent_locked(&list)
            }
            _ => Ok(()),
        }
    }

    /// Gives MODSEQs to messages just given UIDs (or keywords), under the uidlist lock, when the
    /// MODSEQ file belongs to this UIDVALIDITY (otherwise the next sync gives them).
    pub(crate) fn record_new_modseqs(
        &self,
        uid_validity: u32,
        rows: &[(u32, Flags)],
    ) -> Result<()> {
        let Some(mut file) = self
            .load_modseq()?
            .filter(|m| m.uid_validity == uid_validity)
        else {
            return Ok(());
        };
        let Some((mut highest, reserved)) = self.modseq_start(Some(&file), true)? else {
            return Ok(());
        };
        let mut changed = Vec::with_capacity(rows.len());
        for &(uid, flags) in rows {
            highest += 1;
            file.per_uid.insert(uid, (highest, flags));
            changed.push((uid, highest, flags));
        }
        self.update_modseq(
            Some(&file),
            uid_validity,
            highest,
            reserved,
            &changed,
            &[],
            || sorted_rows(&file.per_uid),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;

    fn flags(letters: &str) -> Flags {
        Flags::parse(letters).unwrap_or_else(Flags::empty)
    }

    /// A file over the cache's limit is parsed at each read and never kept.
    #[test]
    fn large_files_are_not_cached() {
        let dir = std::env::temp_dir().join(format!(
            "mw-maildir-bigcache-{}-{}",
            std::process::id(),
            name::unique_base(SystemTime::now(), "t")
        ));
        let md = Maildir::create(&dir).expect("maildir");
        let mut text = String::from("3 V7 N1\n");
        let mut uid = 1;
        while text.len() <= META_CACHE_MAX_TEXT {
            let _ = writeln!(
                text,
                "{uid} :{uid}.M1P1.a-rather-long-host-name.example,S=10"
            );
            uid += 1;
        }
        fs::write(md.meta(UIDLIST), &text).expect("write");
        for _ in 0..2 {
            let (list, _) = md.load_uidlist().expect("read").expect("parses");
            assert_eq!(list.records.len(), uid as usize - 1);
            assert!(md.meta_cache().uidlist.is_none());
        }
        let _ = fs::remove_dir_all(&dir);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// A whole file, then appended changes and removals, read back as the table they describe;
        /// any prefix that cuts a line is refused, never misread.
        #[test]
        fn modseq_file_round_trips(
            v in 1u32..,
            rows in proptest::collection::btree_map(1u32..1000, (1u64..1_000_000, "[DFPRST]{0,3}"), 0..20),
            changes in proptest::collection::vec((1u32..1000, 1u64..1_000_000, "[DFPRST]{0,3}", any::<bool>()), 0..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut want: HashMap<u32, (u64, Flags)> =
                rows.iter().map(|(u, (m, f))| (*u, (*m, flags(f)))).collect();
            let mut highest = want.values().map(|(m, _)| *m).max().unwrap_or(1);
            let mut text = format!("1 V{v} H{highest} R{}\n", highest + 5);
            for (u, (m, f)) in &rows {
                let _ = writeln!(text, "{u} {m} :{}", flags(f));
            }
            for (u, m, f, remove) in &changes {
                if *remove {
                    want.remove(u);
                    let _ = writeln!(text, "-{u}");
                } else {
                    want.insert(*u, (*m, flags(f)));
                    highest = highest.max(*m);
                    let _ = writeln!(text, "{u} {m} :{}", flags(f));
                }
                let _ = writeln!(text, "H{highest} R{}", highest + 5);
            }
            let file = parse_modseq(&text).expect("a whole file parses");
            prop_assert_eq!(file.uid_validity, v);
            prop_assert_eq!(&file.per_uid, &want);
            prop_assert!(file.highest >= highest);
            prop_assert!(file.per_uid.values().all(|(m, _)| *m <= file.highest));
            // A reader racing with an append sees a prefix: whole lines parse, a torn one never.
            let at = cut.index(text.len() + 1);
            let prefix = &text[..at];
            if let Some(f) = parse_modseq(prefix) {
                prop_assert!(prefix.ends_with('\n'));
                prop_assert!(f.per_uid.values().all(|(m, _)| *m <= f.highest));
            }
        }

        /// The cache gives what a fresh parse gives, whether the file grew by appended lines
        /// (parsed alone), was replaced by other text, or shrank.
        #[test]
        fn cached_loads_match_fresh_parses(
            uids in proptest::collection::btree_set(1u32..100_000, 1..30),
            split in any::<prop::sample::Index>(),
            replace in any::<bool>(),
        ) {
            let dir = std::env::temp_dir().join(format!(
                "mw-maildir-cache-{}-{}",
                std::process::id(),
                name::unique_base(SystemTime::now(), "t")
            ));
            let md = Maildir::create(&dir).expect("maildir");
            let uids: Vec<u32> = uids.into_iter().collect();
            let k = split.index(uids.len() + 1);
            let uidlist = |n: usize| {
                let mut t = String::from("3 V7 N1 G0123456789abcdef0123456789abcdef\n");
                for u in &uids[..n] {
                    let _ = writeln!(t, "{u} :{u}.M1P1.host,S=10");
                }
                t
            };
            let modseq = |n: usize| {
                let mut t = String::from("1 V7 H1 R9\n");
                for (i, u) in uids[..n].iter().enumerate() {
                    let _ = writeln!(t, "{u} {} :S", i + 2);
                    if i % 3 == 0 {
                        let _ = writeln!(t, "-{u}\nH{} R9", i + 2);
                    }
                }
                t
            };
            let steps: Vec<usize> = if replace { vec![uids.len(), k] } else { vec![k, uids.len()] };
            for n in steps {
                fs::write(md.meta(UIDLIST), uidlist(n)).expect("write");
                fs::write(md.meta(MODSEQ_FILE), modseq(n)).expect("write");
                for _ in 0..2 {
                    let (list, complete) = md.load_uidlist().expect("read").expect("parses");
                    prop_assert!(complete);
                    prop_assert_eq!(&list.list, &UidList::parse(&uidlist(n)).expect("parses"));
                    for (i, r) in list.records.iter().enumerate() {
                        prop_assert_eq!(list.find(r.base()), Some(i));
                    }
                    let got = md.load_modseq().expect("read").expect("parses");
                    let want = parse_modseq(&modseq(n)).expect("parses");
                    prop_assert_eq!(&got.per_uid, &want.per_uid);
                    prop_assert_eq!(
                        (got.uid_validity, got.highest, got.reserved, got.body_lines),
                        (want.uid_validity, want.highest, want.reserved, want.body_lines)
                    );
                }
            }
            let _ = fs::remove_dir_all(&dir);
        }

        /// Arbitrary text never panics.
        #[test]
        fn modseq_parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse_modseq(&s);
        }
    }
}

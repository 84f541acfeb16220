//! The [`Maildir`] handle: open/create, scan, flags by rename, expunge, reading messages.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result, io_err};
use crate::flags::{FlagUpdate, Flags};
use crate::name::{self, FileName};

/// How many times a flag change, expunge or open retries after another process renamed the file.
const MAX_RENAME_RETRIES: usize = 32;

/// The spec's limit for stale files in `tmp/`: "... unlink any file in tmp that has not been
/// accessed in 36 hours".
pub const STALE_TMP_AGE: Duration = Duration::from_hours(36);

/// Which subdirectory a message lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subdir {
    /// `new/`: delivered, not yet seen by a mail reader (no info).
    New,
    /// `cur/`: seen by a mail reader; carries the `:2,` info.
    Cur,
}

impl Subdir {
    /// The directory name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Subdir::New => "new",
            Subdir::Cur => "cur",
        }
    }
}

/// One message as seen by a scan: its file name and what the name says (size, flags). Nothing
/// here needed the file to be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    subdir: Subdir,
    file_name: String,
    base_len: usize,
    size: Option<u64>,
    vsize: Option<u64>,
}

impl Entry {
    /// Builds an entry from a file name in `subdir`; `None` if the name is not a message name.
    pub fn from_file_name(subdir: Subdir, file_name: String) -> Option<Entry> {
        let parsed = FileName::parse(&file_name)?;
        let (base_len, size, vsize) = (parsed.base.len(), parsed.size, parsed.vsize);
        Some(Entry {
            subdir,
            file_name,
            base_len,
            size,
            vsize,
        })
    }

    /// The unique name: the file name before `:`. Stable across flag changes and new → cur; it
    /// is the POP3 UIDL and the key of `dovecot-uidlist`.
    pub fn unique(&self) -> &str {
        &self.file_name[..self.base_len]
    }

    /// The full file name (with info).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Where the file is.
    pub fn subdir(&self) -> Subdir {
        self.subdir
    }

    /// The info after `:` (`2,FS`), if any.
    pub fn info(&self) -> Option<&str> {
        self.file_name
            .get(self.base_len + 1..)
            .filter(|_| self.file_name.len() > self.base_len)
    }

    /// The flags from the `:2,` info (empty for a message in `new/` or with another info kind).
    pub fn flags(&self) -> Flags {
        self.info()
            .and_then(|i| i.strip_prefix("2,"))
            .and_then(|f| Flags::parse(f.split(',').next().unwrap_or("")))
            .unwrap_or_default()
    }

    /// Dovecot's non-standard info fields after the flags (`2,S,<fields>` → `,<fields>`), kept
    /// across flag changes.
    pub(crate) fn info_extra(&self) -> &str {
        self.info()
            .and_then(|i| i.strip_prefix("2,"))
            .and_then(|f| f.find(',').map(|p| &f[p..]))
            .unwrap_or("")
    }

    /// The size in bytes from `S=` in the name (`None` if the name has none: use
    /// [`Maildir::size`]).
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The size with CRLF line ends from `W=` in the name.
    pub fn vsize(&self) -> Option<u64> {
        self.vsize
    }

    /// The path relative to the maildir (`cur/<file name>`).
    pub fn relative_path(&self) -> PathBuf {
        Path::new(self.subdir.as_str()).join(&self.file_name)
    }
}

/// A Maildir (or one Maildir++ folder of it): a directory with `tmp/`, `new/` and `cur/`.
///
/// Cheap to clone; holds no open files. All methods are safe against other processes working
/// on the same directory (other Mailwright processes, Dovecot, Courier, mutt...).
#[derive(Debug, Clone)]
pub struct Maildir {
    pub(crate) path: PathBuf,
    /// The Maildir++ root (INBOX): where `maildirsize` and `subscriptions` live.
    pub(crate) root: PathBuf,
    pub(crate) host: Arc<str>,
    pub(crate) fsync: bool,
    pub(crate) fsync_changes: bool,
    pub(crate) lock_timeout: Duration,
    /// Parsed metadata files, reused while their text is unchanged (`uids` module docs).
    pub(crate) cache: Arc<Mutex<crate::uids::MetaCache>>,
    /// How long removed messages stay readable (`expunged` module docs).
    pub(crate) expunged_grace: Duration,
    /// When this handle last swept out old expunged messages.
    pub(crate) swept: Arc<Mutex<Option<SystemTime>>>,
}

impl Maildir {
    /// Opens an existing Maildir; fails with [`Error::NotMaildir`] if a subdirectory is missing.
    /// Opening a Maildir++ folder directly (`<root>/.Sent`) finds its root (for quotas).
    pub fn open(path: impl AsRef<Path>) -> Result<Maildir> {
        let path = path.as_ref().to_path_buf();
        for sub in ["tmp", "new", "cur"] {
            if !path.join(sub).is_dir() {
                return Err(Error::NotMaildir(path));
            }
        }
        Ok(Maildir::handle_guess_root(path))
    }

    /// A handle whose root is the parent when `path` is a Maildir++ folder, else `path`.
    fn handle_guess_root(path: PathBuf) -> Maildir {
        // Dovecot also puts `maildirfolder` in INBOX, so the marker alone is not enough: a
        // folder is a `.name` directory whose parent is a Maildir too.
        let is_folder = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
            && path.join(crate::folders::MAILDIRFOLDER).is_file();
        let root = match path.parent() {
            Some(parent) if is_folder && parent.join("cur").is_dir() => parent.to_path_buf(),
            _ => path.clone(),
        };
        Maildir::handle(path, root)
    }

    /// Creates a Maildir (and missing parents), or opens it if it exists. The new directories
    /// are fsynced so the Maildir survives a crash.
    pub fn create(path: impl AsRef<Path>) -> Result<Maildir> {
        let path = path.as_ref().to_path_buf();
        create_maildir_dirs(&path, true)?;
        Ok(Maildir::handle_guess_root(path))
    }

    /// Opens the Maildir at `path`, creating it (and missing parents) when it is not there yet:
    /// what a delivery agent or an importer wants. Unlike [`Maildir::create`], it writes
    /// nothing and fsyncs nothing when the Maildir exists, so it also opens one it may only
    /// read; a directory that holds only some of `tmp/`, `new/` and `cur/` is completed.
    ///
    /// ```
    /// use mailwright_maildir::Maildir;
    ///
    /// let dir = std::env::temp_dir().join(format!("mw-open-or-create-{}", std::process::id()));
    /// let made = Maildir::open_or_create(dir.join("Mail"))?; // created
    /// made.deliver(b"Subject: hi\r\n\r\nhello\r\n")?;
    /// let opened = Maildir::open_or_create(dir.join("Mail"))?; // opened
    /// assert_eq!(opened.scan()?.len(), 1);
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Maildir> {
        match Maildir::open(&path) {
            Err(Error::NotMaildir(_)) => Maildir::create(path),
            opened => opened,
        }
    }

    pub(crate) fn handle(path: PathBuf, root: PathBuf) -> Maildir {
        Maildir {
            path,
            root,
            host: Arc::clone(HOST.get_or_init(|| name::system_hostname().into())),
            fsync: true,
            fsync_changes: true,
            lock_timeout: crate::lock::DEFAULT_LOCK_TIMEOUT,
            cache: Arc::default(),
            expunged_grace: crate::expunged::EXPUNGED_GRACE,
            swept: Arc::default(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Maildir++ root this folder belongs to (itself for INBOX).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Turns fsync off (or on again). Default on: a delivery that returns `Ok` is on disk. Off
    /// is for benchmarks and throwaway stores only.
    pub fn set_fsync(&mut self, on: bool) {
        self.fsync = on;
    }

    /// Whether flag changes and expunges fsync their directory before returning. Default on: an
    /// acknowledged STORE or EXPUNGE survives a crash. Off is Dovecot's default
    /// (`mail_fsync = optimized`): a crash may lose the last flag changes or bring back a message
    /// just expunged, never lose a delivered message or reuse a UID (deliveries and new UIDs are
    /// fsynced either way). No effect when [`set_fsync`](Self::set_fsync) is off.
    pub fn set_fsync_changes(&mut self, on: bool) {
        self.fsync_changes = on;
    }

    /// How long metadata operations ([`sync`](Self::sync), [`assign_uids`](Self::assign_uids),
    /// keyword changes) wait for `dovecot-uidlist.lock` before [`Error::LockTimeout`].
    /// Default [`DEFAULT_LOCK_TIMEOUT`](crate::DEFAULT_LOCK_TIMEOUT), 30 s. A lock untouched for
    /// 2 minutes, or held by a dead process of this host, is broken at once (Dovecot's rule).
    pub fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = timeout;
    }

    /// Whether deliveries fsync.
    pub fn fsync(&self) -> bool {
        self.fsync
    }

    /// Uses `host` (sanitised) in unique names instead of the system host name.
    pub fn set_hostname(&mut self, host: &str) {
        self.host = name::sanitize_host(host).into();
    }

    /// The path of a subdirectory.
    pub(crate) fn sub(&self, sub: &str) -> PathBuf {
        self.path.join(sub)
    }

    /// Lists every message in `new/` and `cur/`: one `readdir` per subdirectory, sizes and flags
    /// from the names only. Sorted in delivery order (time, then pid and counter, from the names).
    pub fn scan(&self) -> Result<Vec<Entry>> {
        let out = self.scan_unsorted()?;
        // Keys computed once per entry, not once per comparison.
        let mut keyed: Vec<([u64; 4], Entry)> = out
            .into_iter()
            .map(|e| (name::order_key(e.unique()), e))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.unique().cmp(b.1.unique())));
        Ok(keyed.into_iter().map(|(_, e)| e).collect())
    }

    /// Lists `new/` then `cur/`, each message once. Reading `new/` first never misses a message
    /// another process moves to `cur/` meanwhile, but may see it in both: the `cur/` name wins.
    pub fn scan_unsorted(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.scan_into(Subdir::New, &mut out)?;
        let cur = self.scan_subdir(Subdir::Cur)?;
        if !out.is_empty() {
            let seen_in_cur: std::collections::HashSet<String> = {
                let new_names: std::collections::HashSet<&str> =
                    out.iter().map(Entry::unique).collect();
                cur.iter()
                    .filter(|e| new_names.contains(e.unique()))
                    .map(|e| e.unique().to_owned())
                    .collect()
            };
            if !seen_in_cur.is_empty() {
                out.retain(|e| !seen_in_cur.contains(e.unique()));
            }
        }
        out.extend(cur);
        Ok(out)
    }

    /// Lists the messages of one subdirectory, unsorted.
    pub fn scan_subdir(&self, subdir: Subdir) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.scan_into(subdir, &mut out)?;
        Ok(out)
    }

    fn scan_into(&self, subdir: Subdir, out: &mut Vec<Entry>) -> Result<()> {
        let dir = self.sub(subdir.as_str());
        for dent in fs::read_dir(&dir).map_err(io_err("read_dir", &dir))? {
            let dent = dent.map_err(io_err("read_dir", &dir))?;
            // Names that are not UTF-8 are not ours to touch.
            if let Ok(name) = dent.file_name().into_string()
                && let Some(e) = Entry::from_file_name(subdir, name)
            {
                out.push(e);
            }
        }
        Ok(())
    }

    /// Finds the message with this unique name (one readdir of `cur/`, then `new/`).
    pub fn find(&self, unique: &str) -> Result<Option<Entry>> {
        for subdir in [Subdir::Cur, Subdir::New] {
            let dir = self.sub(subdir.as_str());
            for dent in fs::read_dir(&dir).map_err(io_err("read_dir", &dir))? {
                let dent = dent.map_err(io_err("read_dir", &dir))?;
                let Ok(name) = dent.file_name().into_string() else {
                    continue;
                };
                let matches = name
                    .strip_prefix(unique)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(name::INFO_SEPARATOR));
                if matches {
                    return Ok(Entry::from_file_name(subdir, name));
                }
            }
        }
        Ok(None)
    }

    /// The absolute path of an entry.
    pub fn entry_path(&self, entry: &Entry) -> PathBuf {
        self.sub(entry.subdir.as_str()).join(&entry.file_name)
    }

    /// Runs `op` on the entry; if the file is gone (renamed by another process), finds it again
    /// by unique name and retries. `Ok(None)` if the message no longer exists.
    fn with_retry<T>(
        &self,
        entry: &Entry,
        mut op: impl FnMut(&Entry) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut current = entry.clone();
        let mut logged = true;
        for _ in 0..MAX_RENAME_RETRIES {
            match op(&current) {
                Err(e) if e.is_not_found() => {
                    // Renamed since the caller's state: first under the name the log gives
                    // now, if a file has it (the `incremental` module), without listing `cur/`.
                    if logged {
                        logged = false;
                        // An error there is only a lookup that failed: list, as before.
                        if let Some(now) = self.logged_entry(&current).ok().flatten() {
                            current = now;
                            continue;
                        }
                    }
                    // A file not where the log puts it: the next sync lists the folder (the
                    // `incremental` module never trusts its log over the files).
                    self.forget_incremental();
                    match self.find(entry.unique())? {
                        Some(found) => current = found,
                        None => return Ok(None),
                    }
                }
                other => return other.map(Some),
            }
        }
        Err(Error::Contended(entry.unique().to_owned()))
    }

    /// Changes a message's flags by renaming it into `cur/` with the new `:2,` info. If another
    /// process renamed it first, the update is applied to its new flags (so `Add`/`Remove` from
    /// two processes both take effect). Returns the entry as it is now.
    pub fn set_flags(&self, entry: &Entry, update: FlagUpdate) -> Result<Entry> {
        let (e, touched_new) = self.set_flags_no_sync(entry, update)?;
        self.log_unlogged_change()?;
        if self.fsync && self.fsync_changes {
            sync_dir(&self.sub("cur"))?;
            if touched_new {
                sync_dir(&self.sub("new"))?;
            }
        }
        Ok(e)
    }

    /// Applies one flag update to several messages, fsyncing the directories once (IMAP STORE
    /// on a set). Messages expunged meanwhile are skipped: the result holds the entries that
    /// still exist, in order.
    pub fn set_flags_many<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
        update: FlagUpdate,
    ) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut touched_new = false;
        for e in entries {
            match self.set_flags_no_sync(e, update) {
                Ok((e, from_new)) => {
                    touched_new |= from_new;
                    out.push(e);
                }
                Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        if !out.is_empty() {
            self.log_unlogged_change()?;
        }
        if self.fsync && self.fsync_changes && !out.is_empty() {
            sync_dir(&self.sub("cur"))?;
            if touched_new {
                sync_dir(&self.sub("new"))?;
            }
        }
        Ok(out)
    }

    /// The rename, without fsync; also says whether the file left `new/`.
    pub(crate) fn set_flags_no_sync(
        &self,
        entry: &Entry,
        update: FlagUpdate,
    ) -> Result<(Entry, bool)> {
        let res = self.with_retry(entry, |cur| {
            let flags = update.apply(cur.flags());
            let mut new_name = name::with_flags(cur.unique(), flags);
            new_name.push_str(cur.info_extra());
            let from = self.entry_path(cur);
            if cur.subdir == Subdir::Cur && new_name == cur.file_name {
                // Nothing to rename, but the entry may be stale: the file must still be there.
                fs::symlink_metadata(&from).map_err(io_err("stat", &from))?;
                return Ok((cur.clone(), false));
            }
            let to = self.sub("cur").join(&new_name);
            fs::rename(&from, &to).map_err(io_err("rename", &from))?;
            let e = Entry::from_file_name(Subdir::Cur, new_name).expect("valid base stays valid");
            Ok((e, cur.subdir == Subdir::New))
        })?;
        res.ok_or_else(|| Error::NotFound(entry.unique().to_owned()))
    }

    /// Moves a message from `new/` to `cur/` (adding an empty `:2,` info); a no-op for one
    /// already in `cur/`.
    pub fn move_to_cur(&self, entry: &Entry) -> Result<Entry> {
        if entry.subdir == Subdir::Cur {
            return Ok(entry.clone());
        }
        self.set_flags(entry, FlagUpdate::Add(Flags::empty()))
    }

    /// Opens a message for reading, following a concurrent rename. Returns the file and the
    /// entry as found.
    pub fn open_message(&self, entry: &Entry) -> Result<(File, Entry)> {
        let res = self.with_retry(entry, |cur| {
            let p = self.entry_path(cur);
            let f = File::open(&p).map_err(io_err("open", &p))?;
            Ok((f, cur.clone()))
        })?;
        res.ok_or_else(|| Error::NotFound(entry.unique().to_owned()))
    }

    /// Reads a whole message into memory.
    pub fn read_message(&self, entry: &Entry) -> Result<Vec<u8>> {
        let (mut f, e) = self.open_message(entry)?;
        let mut buf = Vec::with_capacity(e.size.unwrap_or(0).min(1 << 24) as usize);
        io::Read::read_to_end(&mut f, &mut buf).map_err(io_err("read", &self.entry_path(&e)))?;
        Ok(buf)
    }

    /// The message's size: from the name when it has `S=`, else from `stat`.
    pub fn size(&self, entry: &Entry) -> Result<u64> {
        if let Some(s) = entry.size {
            return Ok(s);
        }
        let res = self.with_retry(entry, |cur| {
            let p = self.entry_path(cur);
            Ok(fs::metadata(&p).map_err(io_err("stat", &p))?.len())
        })?;
        res.ok_or_else(|| Error::NotFound(entry.unique().to_owned()))
    }

    /// The message's INTERNALDATE: its file's mtime (the Dovecot convention; set at delivery
    /// with [`DeliveryOptions::internal_date`](crate::DeliveryOptions::internal_date)).
    pub fn internal_date(&self, entry: &Entry) -> Result<SystemTime> {
        let res = self.with_retry(entry, |cur| {
            let p = self.entry_path(cur);
            fs::metadata(&p)
                .and_then(|m| m.modified())
                .map_err(io_err("stat", &p))
        })?;
        res.ok_or_else(|| Error::NotFound(entry.unique().to_owned()))
    }

    /// Deletes a message (expunge). `Ok(false)` if it was already gone. The directory is fsynced
    /// (unless [`set_fsync_changes`](Self::set_fsync_changes) is off). The file stays readable
    /// by [`reopen`](Self::reopen) for the grace period ([`set_expunged_grace`](Self::set_expunged_grace)).
    pub fn remove(&self, entry: &Entry) -> Result<bool> {
        let removed = self.remove_no_sync(entry)?;
        if let Some(sub) = removed {
            self.log_unlogged_change()?;
            if self.fsync && self.fsync_changes {
                sync_dir(&self.sub(sub.as_str()))?;
            }
            self.sweep_expunged(SystemTime::now());
        }
        Ok(removed.is_some())
    }

    /// Deletes several messages, fsyncing each touched directory once; returns how many were
    /// removed by this call (those already gone are not counted). The files stay readable by
    /// [`reopen`](Self::reopen) for the grace period.
    pub fn remove_many<'a>(&self, entries: impl IntoIterator<Item = &'a Entry>) -> Result<usize> {
        let mut n = 0;
        let mut touched = [false, false];
        for e in entries {
            if let Some(sub) = self.remove_no_sync(e)? {
                n += 1;
                touched[usize::from(sub == Subdir::Cur)] = true;
            }
        }
        if n > 0 {
            self.log_unlogged_change()?;
        }
        if self.fsync && self.fsync_changes {
            if touched[0] {
                sync_dir(&self.sub("new"))?;
            }
            if touched[1] {
                sync_dir(&self.sub("cur"))?;
            }
        }
        if n > 0 {
            self.sweep_expunged(SystemTime::now());
        }
        Ok(n)
    }

    fn remove_no_sync(&self, entry: &Entry) -> Result<Option<Subdir>> {
        self.remove_if(entry, |_| true)
    }

    /// Takes the message out of the folder (`expunged` module) if `accept` takes its current
    /// name (re-read after a concurrent rename), crediting the quota. `Ok(None)` if gone or
    /// refused.
    pub(crate) fn remove_if(
        &self,
        entry: &Entry,
        accept: impl Fn(&Entry) -> bool,
    ) -> Result<Option<Subdir>> {
        self.remove_checked(entry, accept, true)
    }

    /// Takes the message out of the folder without fsync; the quota is credited only with
    /// `credit` (a move within one quota root is not charged, so its sources are not credited).
    pub(crate) fn remove_quietly(&self, entry: &Entry, credit: bool) -> Result<Option<Subdir>> {
        self.remove_checked(entry, |_| true, credit)
    }

    fn remove_checked(
        &self,
        entry: &Entry,
        accept: impl Fn(&Entry) -> bool,
        credit: bool,
    ) -> Result<Option<Subdir>> {
        let res = self.with_retry(entry, |cur| {
            if !accept(cur) {
                return Ok(None);
            }
            let p = self.entry_path(cur);
            // Names without `S=` need a stat for the quota bookkeeping.
            let size = cur.size.or_else(|| fs::metadata(&p).ok().map(|m| m.len()));
            self.discard(&p, &cur.file_name)
                .map_err(io_err("unlink", &p))?;
            Ok(Some((cur.subdir, size)))
        })?;
        let Some(Some((subdir, size))) = res else {
            return Ok(None);
        };
        if credit && let Some(size) = size {
            crate::quota::record(self, -i64::try_from(size).unwrap_or(i64::MAX), -1);
        }
        Ok(Some(subdir))
    }

    /// Removes files in `tmp/` not modified for [`STALE_TMP_AGE`] (36 hours) before `now`, as
    /// the spec asks of readers. Returns how many were removed.
    pub fn clean_tmp(&self, now: SystemTime) -> Result<usize> {
        self.clean_tmp_older_than(now, STALE_TMP_AGE)
    }

    /// Removes files in `tmp/` last modified more than `age` before `now`.
    pub fn clean_tmp_older_than(&self, now: SystemTime, age: Duration) -> Result<usize> {
        let dir = self.sub("tmp");
        let mut n = 0;
        for dent in fs::read_dir(&dir).map_err(io_err("read_dir", &dir))? {
            let dent = dent.map_err(io_err("read_dir", &dir))?;
            let Ok(meta) = dent.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|d| d > age);
            if stale && fs::remove_file(dent.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The sanitised host name, read once per process.
static HOST: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();

/// Creates `path`, `path/tmp`, `path/new`, `path/cur`, fsyncing what it created.
pub(crate) fn create_maildir_dirs(path: &Path, fsync: bool) -> Result<()> {
    fs::create_dir_all(path).map_err(io_err("mkdir", path))?;
    for sub in ["tmp", "new", "cur"] {
        let p = path.join(sub);
        match fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("mkdir", &p)(e)),
        }
    }
    if fsync {
        sync_dir(path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// fsyncs a directory so that the names created or removed in it are durable.
/// Threads of this process fsyncing the same directory at once share the fsync (the
/// `groupsync` module).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    crate::groupsync::fsync_path(dir).map_err(io_err("fsync", dir))
}

//! The `dovecot-uidlist.lock` dotlock, shared with Dovecot.
//!
//! Dovecot's `file-dotlock.c` creates `<file>.lock` exclusively and considers it stale after
//! `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT` (2 minutes) without change, or at once when it names a
//! dead pid on this host. The lock content is `<pid>:<host>` so both of us can detect that.
//!
//! Creating and deleting a lock file for every metadata change costs an inode allocation each
//! time (on ext4 the single largest CPU cost of a busy IMAP server). So the lock name is made by
//! hard-linking a per-process template, `mailwright-lock.<pid>` in the folder, that already holds
//! `<pid>:<host>` (the way Dovecot's own dotlocks link a temporary file into place). The lock's
//! age is its inode's mtime, so the template's is set to now before a link when it is more than
//! [`FRESHEN_AFTER`] old: a new lock looks at most that old, far from [`STALE_AFTER`]. Releasing
//! unlinks the name only.
//! Where hard links fail, the lock is created the plain way. Templates of dead processes are
//! removed the first time a process locks a folder.
//!
//! Threads of one process take turns in memory before they touch the file: a waiter sleeps on a
//! condition variable and is woken the moment the holder releases, instead of polling the file
//! with growing pauses (with ten IMAP sessions on one folder, the polling was most of a
//! command's time). The file still excludes other processes, Dovecot's among them.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result, io_err};

/// A lock older than this (by mtime) is stale.
const STALE_AFTER: Duration = Duration::from_mins(2);
/// How long to wait for a lock before [`Error::LockTimeout`] unless the handle says otherwise
/// ([`Maildir::set_lock_timeout`](crate::Maildir::set_lock_timeout)).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A held dotlock; removed on drop.
#[derive(Debug)]
pub(crate) struct DotLock {
    path: PathBuf,
    /// This process's turn for `path`, given back after the file is removed (field order).
    _turn: Turn,
}

/// The lock names threads of this process hold, and the condition their waiters sleep on.
static TURNS: LazyLock<(Mutex<HashSet<PathBuf>>, Condvar)> =
    LazyLock::new(|| (Mutex::new(HashSet::new()), Condvar::new()));

/// A thread's turn for a lock name within this process (module docs); given back on drop.
#[derive(Debug)]
struct Turn(PathBuf);

impl Turn {
    /// Waits until no other thread of this process holds `path`, then takes it; `None` when
    /// `deadline` passes first (no deadline: wait as long as it takes).
    fn take(path: &Path, deadline: Option<Instant>) -> Option<Turn> {
        let (held, freed) = &*TURNS;
        let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
        while held.contains(path) {
            held = match deadline {
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    if left.is_zero() {
                        return None;
                    }
                    freed
                        .wait_timeout(held, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => freed.wait(held).unwrap_or_else(PoisonError::into_inner),
            };
        }
        held.insert(path.to_owned());
        Some(Turn(path.to_owned()))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (held, freed) = &*TURNS;
        held.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
        freed.notify_all();
    }
}

/// The host name as the kernel has it, read once per process (every lock needs it).
fn raw_hostname() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

impl DotLock {
    /// Takes the lock `<target>.lock`, waiting (bounded) while another process holds it.
    pub(crate) fn acquire(target: &Path, wait_at_most: Duration) -> Result<DotLock> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let start = Instant::now();
        let turn = Turn::take(&path, start.checked_add(wait_at_most))
            .ok_or_else(|| Error::LockTimeout(path.clone()))?;
        let mut pause = Duration::from_micros(200);
        loop {
            match create_lock(&path) {
                Ok(()) => return Ok(DotLock { path, _turn: turn }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if is_stale(&path) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                }
                Err(e) => return Err(io_err("create", &path)(e)),
            }
            if start.elapsed() > wait_at_most {
                return Err(Error::LockTimeout(path));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// The prefix of lock templates (`mailwright-lock.<pid>`).
const TEMPLATE_PREFIX: &str = "mailwright-lock.";

/// A template's mtime is set again when it is older than this (module docs).
const FRESHEN_AFTER: Duration = Duration::from_secs(10);

/// The templates this process has written (one per folder it locked), with when their mtime
/// was last set.
static TEMPLATES: LazyLock<Mutex<HashMap<PathBuf, Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lock_content() -> String {
    format!("{}:{}", std::process::id(), raw_hostname())
}

/// Creates the lock file `path` holding `<pid>:<host>`: a hard link to this process's template
/// when possible (module docs), else a new file. `AlreadyExists` when someone holds the lock.
fn create_lock(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        let template = dir.join(format!("{TEMPLATE_PREFIX}{}", std::process::id()));
        match link_template(dir, &template, path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            // No hard links on this file system, or the template vanished: the plain way (the
            // template is written again next time).
            Err(_) => {
                TEMPLATES
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&template);
            }
        }
    }
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    let _ = f.write_all(lock_content().as_bytes());
    Ok(())
}

fn link_template(dir: &Path, template: &Path, lock: &Path) -> io::Result<()> {
    let freshened = TEMPLATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(template)
        .copied();
    let refreshed = match freshened {
        None => {
            remove_dead_templates(dir);
            fs::write(template, lock_content())?;
            true
        }
        // The lock's age is its inode's mtime: recent, before the name appears.
        Some(at) if at.elapsed() > FRESHEN_AFTER => {
            OpenOptions::new()
                .write(true)
                .open(template)?
                .set_modified(SystemTime::now())?;
            true
        }
        Some(_) => false,
    };
    if refreshed {
        TEMPLATES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(template.to_owned(), Instant::now());
    }
    fs::hard_link(template, lock)
}

/// Removes the lock templates in `dir` of processes of this host that are gone.
fn remove_dead_templates(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMPLATE_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && is_dead_here(&e.path()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Whether a lock (or template) names a process of this host that no longer runs.
fn is_dead_here(path: &Path) -> bool {
    if let Ok(content) = fs::read_to_string(path)
        && let Some((pid, host)) = content.split_once(':')
        && host == raw_hostname()
        && let Ok(pid) = pid.parse::<u32>()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        return true;
    }
    false
}

fn is_stale(path: &Path) -> bool {
    if is_dead_here(path) {
        return true;
    }
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AFTER)
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

//! Locking an mbox the way the other programs on the machine do.
//!
//! # Order and compatibility
//! A writer takes, in this order:
//! 1. the **dotlock** `<mbox>.lock`, created with the `link(2)` method of liblockfile (a unique
//!    temporary file hard-linked to the lock name, so it is atomic on NFS too), holding our pid;
//! 2. a **POSIX `fcntl` record lock** (`F_SETLK` polled, `F_WRLCK` for writers, `F_RDLCK` for
//!    readers) over the whole file (`l_whence = SEEK_SET, l_start = 0, l_len = 0`), through
//!    `rustix::fs::fcntl_lock`. Not `flock(2)` and not Linux open-file-description locks: the
//!    record lock is what mutt, Dovecot, Postfix `local` (`mailbox_delivery_lock = fcntl, dotlock`
//!    on Linux) and Python's `mailbox` (`fcntl.lockf`) use, and the only kind they all see.
//!
//! Dotlock first, then fcntl, is Dovecot's default writer order (`mbox_write_locks = dotlock
//! fcntl`; readers: `mbox_read_locks = fcntl`, as [`MboxLock::shared`]). mutt and Python take fcntl
//! first; since every party (us included) polls with a timeout rather than blocking forever, the
//! opposite orders cannot deadlock, they only make one side retry.
//!
//! # Stale dotlocks
//! The rule of liblockfile (`dotlockfile(1)`): a lock file is valid if it holds the pid of a
//! running process, or holds no pid and was touched less than [`LockOptions::stale_after`] ago
//! (5 minutes by default, as liblockfile). A stale lock is removed and taking the lock is retried.
//! Long holders call [`MboxLock::touch`] to keep a lock fresh for peers that only look at its age.
//!
//! # POSIX record-lock caveats
//! A process holds fcntl locks per file, not per handle: closing *any* descriptor of the mbox in
//! this process releases them, and two threads of one process do not exclude each other through
//! fcntl. Keep one [`MboxLock`] per mbox per process; the dotlock (on by default) does exclude
//! threads.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{FlockOperation, fcntl_lock};

use crate::Error;

/// Locking settings. Every limit has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOptions {
    /// Take the `<mbox>.lock` dotlock (writers only). Default `true`.
    pub dotlock: bool,
    /// Take an fcntl record lock. Default `true`.
    pub fcntl: bool,
    /// How long to keep retrying before [`Error::LockTimeout`]. Default 30 s.
    pub timeout: Duration,
    /// Pause between attempts. Default 50 ms.
    pub retry_interval: Duration,
    /// Age after which a dotlock without a pid is stale. Default 300 s (liblockfile's).
    pub stale_after: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            dotlock: true,
            fcntl: true,
            timeout: Duration::from_secs(30),
            retry_interval: Duration::from_millis(50),
            stale_after: Duration::from_mins(5),
        }
    }
}

impl LockOptions {
    /// Default options with another timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        LockOptions {
            timeout,
            ..LockOptions::default()
        }
    }
}

/// The path of the dotlock for `mbox`: the same name with `.lock` appended.
pub fn dotlock_path(mbox: &Path) -> PathBuf {
    let mut name = mbox.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A held `<mbox>.lock` file; removed on drop.
#[derive(Debug)]
pub struct Dotlock {
    path: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', '.'], "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether the pid is of a running process: `None` when this cannot be told (no procfs).
fn pid_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists())
}

impl Dotlock {
    /// Takes the dotlock of `mbox`, removing stale locks, retrying until `opts.timeout`.
    pub fn acquire(mbox: &Path, opts: &LockOptions) -> Result<Self, Error> {
        Self::acquire_until(mbox, opts, Instant::now() + opts.timeout)
    }

    fn acquire_until(mbox: &Path, opts: &LockOptions, deadline: Instant) -> Result<Self, Error> {
        let path = dotlock_path(mbox);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{file_name}.{}.{}.{}",
            hostname(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let written = writeln!(f, "{}", std::process::id());
        drop(f);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        let result = loop {
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => break Ok(Dotlock { path: path.clone() }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    // NFS may report failure after linking: trust the link count (liblockfile).
                    if std::fs::metadata(&tmp).is_ok_and(|m| m.nlink() == 2) {
                        break Ok(Dotlock { path: path.clone() });
                    }
                    break Err(Error::Io(e));
                }
            }
            if is_stale(&path, opts.stale_after) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if Instant::now() >= deadline {
                break Err(Error::LockTimeout {
                    kind: "dotlock",
                    path: path.clone(),
                });
            }
            std::thread::sleep(opts.retry_interval);
        };
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Updates the lock's modification time so that age-based peers keep seeing it as valid.
    pub fn touch(&self) -> Result<(), Error> {
        let f = OpenOptions::new().write(true).open(&self.path)?;
        f.set_modified(SystemTime::now())?;
        Ok(())
    }
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn is_stale(path: &Path, stale_after: Duration) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        // Gone already: not stale, just retry.
        return false;
    };
    let content = std::fs::read(path).unwrap_or_default();
    let pid = std::str::from_utf8(&content)
        .ok()
        .and_then(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .parse::<u32>()
                .ok()
        })
        .filter(|&p| p > 0);
    if let Some(pid) = pid
        && let Some(alive) = pid_alive(pid)
    {
        return !alive;
    }
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > stale_after)
}

fn fcntl_until(
    file: &File,
    exclusive: bool,
    path: &Path,
    opts: &LockOptions,
    deadline: Instant,
) -> Result<(), Error> {
    let op = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    loop {
        match fcntl_lock(file, op) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {}
            Err(e) if e == rustix::io::Errno::INTR => continue,
            Err(e) => return Err(Error::Io(e.into())),
        }
        if Instant::now() >= deadline {
            return Err(Error::LockTimeout {
                kind: "fcntl",
                path: path.to_owned(),
            });
        }
        std::thread::sleep(opts.retry_interval);
    }
}

/// A locked, open mbox: the dotlock (writers) and the fcntl lock, released on drop in reverse
/// order.
#[derive(Debug)]
pub struct MboxLock {
    file: File,
    dotlock: Option<Dotlock>,
    fcntl: bool,
}

impl MboxLock {
    /// Opens `path` for reading and appending (creating it with `create`) and takes the writer
    /// locks: dotlock, then exclusive fcntl.
    pub fn exclusive(path: &Path, create: bool, opts: &LockOptions) -> Result<Self, Error> {
        let deadline = Instant::now() + opts.timeout;
        let dotlock = if opts.dotlock {
            Some(Dotlock::acquire_until(path, opts, deadline)?)
        } else {
            None
        };
        let file = Self::open_locked(path, true, create, opts, deadline)?;
        Ok(MboxLock {
            file,
            dotlock,
            fcntl: opts.fcntl,
        })
    }

    /// Opens `path` read-only and takes a shared fcntl lock (Dovecot's `mbox_read_locks =
    /// fcntl`): writers wait, other readers do not.
    pub fn shared(path: &Path, opts: &LockOptions) -> Result<Self, Error> {
        let deadline = Instant::now() + opts.timeout;
        let file = Self::open_locked(path, false, false, opts, deadline)?;
        Ok(MboxLock {
            file,
            dotlock: None,
            fcntl: opts.fcntl,
        })
    }

    fn open_locked(
        path: &Path,
        write: bool,
        create: bool,
        opts: &LockOptions,
        deadline: Instant,
    ) -> Result<File, Error> {
        loop {
            // A new mailbox is private to its owner, as mail spools are.
            let file = OpenOptions::new()
                .read(true)
                .append(write)
                .create(create && write)
                .mode(0o600)
                .open(path)?;
            if !opts.fcntl {
                return Ok(file);
            }
            fcntl_until(&file, write, path, opts, deadline)?;
            // A rewrite may have renamed a new file into place while we waited: lock that one.
            let same = match (file.metadata(), std::fs::metadata(path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(file);
            }
            if Instant::now() >= deadline {
                return Err(Error::LockTimeout {
                    kind: "fcntl",
                    path: path.to_owned(),
                });
            }
        }
    }

    /// The open, locked file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The dotlock, when one is held.
    pub fn dotlock(&self) -> Option<&Dotlock> {
        self.dotlock.as_ref()
    }

    /// Refreshes the dotlock's age (see the module docs); a no-op without dotlock.
    pub fn touch(&self) -> Result<(), Error> {
        match &self.dotlock {
            Some(d) => d.touch(),
            None => Ok(()),
        }
    }
}

impl Drop for MboxLock {
    fn drop(&mut self) {
        if self.fcntl {
            let _ = fcntl_lock(&self.file, FlockOperation::NonBlockingUnlock);
        }
        // The dotlock (if any) is removed when its field drops, after the fcntl unlock.
    }
}

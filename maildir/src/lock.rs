//! The `dovecot-uidlist.lock` dotlock, shared with Dovecot.
//!
//! Dovecot's `file-dotlock.c` creates `<file>.lock` exclusively and considers it stale after
//! `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT` (2 minutes) without change, or at once when it names a
//! dead pid on this host. The lock content is `<pid>:<host>` so both of us can detect that.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
        let mut pause = Duration::from_micros(200);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = write!(f, "{}:{}", std::process::id(), raw_hostname());
                    return Ok(DotLock { path });
                }
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

fn is_stale(path: &Path) -> bool {
    if let Ok(content) = fs::read_to_string(path)
        && let Some((pid, host)) = content.split_once(':')
        && host == raw_hostname()
        && let Ok(pid) = pid.parse::<u32>()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
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

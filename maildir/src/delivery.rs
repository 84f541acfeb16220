//! Delivery: tmp → write → fsync(file) → link into new/ (or cur/) → fsync(dir).
//!
//! cr.yp.to/proto/maildir.html: "create a file in tmp ... write the message ... link the file
//! into new ... unlink tmp": the message appears in `new/` whole or not at all. Durability
//! (an `Ok` survives power loss) needs the fsyncs of the file and of the target directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{Error, Result, io_err};
use crate::flags::Flags;
use crate::name;
use crate::store::{Entry, Maildir, Subdir, sync_dir};

/// Options of one delivery.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryOptions {
    /// The delivery time used in the unique name; default `SystemTime::now()` when the delivery
    /// starts.
    pub time: Option<SystemTime>,
    /// `None` (default): deliver into `new/`. `Some(flags)`: deliver straight into `cur/` with
    /// these flags (IMAP APPEND, conversions).
    pub flags: Option<Flags>,
    /// Skip the Maildir++ quota check (default `false`: a delivery over quota fails with
    /// [`Error::QuotaExceeded`]).
    pub ignore_quota: bool,
    /// The file's mtime, which Dovecot and this crate's users take as the IMAP INTERNALDATE
    /// (e.g. the date of an APPEND); default: left as written.
    pub internal_date: Option<SystemTime>,
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The entry as now stored (unique name, subdir, size and vsize).
    pub entry: Entry,
    /// Its absolute path.
    pub path: PathBuf,
}

impl Delivered {
    /// The unique name (the POP3 UIDL; the key for UIDs).
    pub fn unique(&self) -> &str {
        self.entry.unique()
    }
}

/// A message being written into `tmp/`. Write chunks with [`Write`]; then [`commit`](Self::commit)
/// makes it durable and visible, or [`abort`](Self::abort) (or drop) removes the tmp file.
///
/// It owns what it needs (`Send + 'static`), so a server can move it between blocking tasks as
/// chunks arrive.
#[derive(Debug)]
pub struct Delivery {
    maildir: Maildir,
    file: Option<File>,
    tmp_path: PathBuf,
    base: String,
    opts: DeliveryOptions,
    size: u64,
    bare_lf: u64,
    last_was_cr: bool,
}

impl Maildir {
    /// Starts a delivery into `new/` at the current time.
    pub fn delivery(&self) -> Result<Delivery> {
        self.delivery_with(DeliveryOptions::default())
    }

    /// Starts a delivery with options (time, flags).
    pub fn delivery_with(&self, opts: DeliveryOptions) -> Result<Delivery> {
        let time = opts.time.unwrap_or_else(SystemTime::now);
        let tmp = self.sub("tmp");
        // A clash is only possible with a foreign writer using our pid; retry with a new Q.
        for _ in 0..16 {
            let base = name::unique_base(time, &self.host);
            let tmp_path = tmp.join(&base);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_path)
            {
                Ok(file) => {
                    return Ok(Delivery {
                        maildir: self.clone(),
                        file: Some(file),
                        tmp_path,
                        base,
                        opts,
                        size: 0,
                        bare_lf: 0,
                        last_was_cr: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create", &tmp_path)(e)),
            }
        }
        Err(Error::Contended(tmp.display().to_string()))
    }

    /// Delivers a message held in memory.
    pub fn deliver(&self, message: &[u8]) -> Result<Delivered> {
        self.deliver_with(message, DeliveryOptions::default())
    }

    /// Delivers a message held in memory, with options.
    pub fn deliver_with(&self, message: &[u8], opts: DeliveryOptions) -> Result<Delivered> {
        let mut d = self.delivery_with(opts)?;
        d.write_all(message).map_err(io_err("write", &d.tmp_path))?;
        d.commit()
    }

    /// Delivers a message read to its end from `reader`.
    pub fn deliver_from(&self, reader: impl Read, opts: DeliveryOptions) -> Result<Delivered> {
        let mut d = self.delivery_with(opts)?;
        let mut reader = reader;
        io::copy(&mut reader, &mut d).map_err(io_err("write", &d.tmp_path))?;
        d.commit()
    }
}

impl Delivery {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tmp file (for tests and diagnostics).
    pub fn tmp_path(&self) -> &std::path::Path {
        &self.tmp_path
    }

    /// Makes the message durable and visible: fsync the file, link it into `new/` (or `cur/`
    /// with flags) under its final name `<unique>,S=<size>,W=<vsize>`, unlink the tmp name,
    /// fsync the directory. When this returns `Ok` the message survives a crash.
    pub fn commit(mut self) -> Result<Delivered> {
        let file = self
            .file
            .take()
            .expect("file present until commit or abort");
        let md = self.maildir.clone();
        let md = &md;
        if let Some(t) = self.opts.internal_date {
            file.set_modified(t)
                .map_err(io_err("set mtime", &self.tmp_path))?;
        }
        if md.fsync {
            file.sync_all().map_err(io_err("fsync", &self.tmp_path))?;
        }
        drop(file);
        if !self.opts.ignore_quota
            && let Err(e) = crate::quota::check(md, self.size)
        {
            let _ = fs::remove_file(&self.tmp_path);
            return Err(e);
        }
        let vsize = self.size + self.bare_lf;
        let mut base = self.base.clone();
        let mut attempt = 0;
        let (subdir, file_name, dir, target) = loop {
            let full = format!("{base},S={},W={vsize}", self.size);
            let (subdir, file_name) = match self.opts.flags {
                None => (Subdir::New, full),
                Some(f) => (Subdir::Cur, name::with_flags(&full, f)),
            };
            let dir = md.sub(subdir.as_str());
            let target = dir.join(&file_name);
            match link_or_rename(&self.tmp_path, &target) {
                Ok(()) => break (subdir, file_name, dir, target),
                // Only a foreign writer reusing our pid could clash: take a fresh name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => {
                    attempt += 1;
                    base = name::unique_base(SystemTime::now(), &md.host);
                }
                Err(e) => {
                    let _ = fs::remove_file(&self.tmp_path);
                    return Err(io_err("link", &target)(e));
                }
            }
        };
        if md.fsync {
            sync_dir(&dir)?;
        }
        crate::quota::record(md, i64::try_from(self.size).unwrap_or(i64::MAX), 1);
        let entry = Entry::from_file_name(subdir, file_name).expect("generated names are valid");
        Ok(Delivered {
            entry,
            path: target,
        })
    }

    /// Abandons the delivery and removes the tmp file.
    pub fn abort(mut self) -> Result<()> {
        self.file = None;
        fs::remove_file(&self.tmp_path).map_err(io_err("unlink", &self.tmp_path))
    }
}

/// `link` then `unlink` (never overwrites an existing name); `rename` on filesystems without
/// hard links.
fn link_or_rename(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            let _ = fs::remove_file(from);
            Ok(())
        }
        Err(e) if matches!(e.raw_os_error(), Some(1 | 18 | 95)) => {
            // EPERM / EXDEV / EOPNOTSUPP: no hard links here (some FUSE or SMB mounts). rename
            // would replace an existing name, so look first (racy, but names are unique anyway).
            if to.exists() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
        Err(e) => Err(e),
    }
}

impl Write for Delivery {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("delivery finished"))?;
        let n = file.write(buf)?;
        let written = &buf[..n];
        // Count LFs not preceded by CR, across chunk boundaries, for W= (the CRLF size).
        for i in memchr::memchr_iter(b'\n', written) {
            let after_cr = if i == 0 {
                self.last_was_cr
            } else {
                written[i - 1] == b'\r'
            };
            if !after_cr {
                self.bare_lf += 1;
            }
        }
        if let Some(&last) = written.last() {
            self.last_was_cr = last == b'\r';
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

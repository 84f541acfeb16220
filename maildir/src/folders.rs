//! Maildir++ folders: `.<name>` directories under the root, `.` as hierarchy separator,
//! a `maildirfolder` marker file, and the `subscriptions` file.
//!
//! Layout (Courier's Maildir++, also Dovecot's default `LAYOUT=maildir++`): INBOX is the root
//! itself; folder `Archive.2024` is the directory `<root>/.Archive.2024`, a Maildir of its own
//! holding an empty `maildirfolder` file. Parents are implicit: `.A.B` may exist without `.A`.

use std::fs::{self, File};
use std::io;

use crate::atomic::write_atomic;
use crate::error::{Error, Result, io_err};
use crate::store::{Maildir, create_maildir_dirs, sync_dir};

/// The marker file inside a folder.
pub const MAILDIRFOLDER: &str = "maildirfolder";
/// The subscriptions file at the root.
pub const SUBSCRIPTIONS: &str = "subscriptions";
/// Folders [`Maildir::create_user`] creates and subscribes.
pub const DEFAULT_FOLDERS: &[&str] = &["Drafts", "Sent", "Trash", "Junk"];

/// Longest folder name in bytes (a directory name is at most 255 bytes including the leading `.`).
pub const MAX_FOLDER_NAME: usize = 254;

/// Checks a folder name (without the leading `.`): non-empty, at most [`MAX_FOLDER_NAME`]
/// bytes, no `/`, `\`, NUL or control characters, no empty component (so no leading, trailing
/// or doubled `.`, hence no `..`), and not `INBOX` (the root).
pub fn validate_folder_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidFolderName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_FOLDER_NAME {
        return bad("too long");
    }
    if name.contains(['/', '\\']) {
        return bad("contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return bad("contains NUL or a control character");
    }
    if name.split('.').any(str::is_empty) {
        return bad("empty hierarchy component (leading, trailing or doubled `.`)");
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return bad("INBOX is the root, not a folder");
    }
    Ok(())
}

impl Maildir {
    /// Creates a user's Maildir at `path` with the [`DEFAULT_FOLDERS`], all subscribed.
    /// Idempotent: existing folders are kept.
    pub fn create_user(path: impl AsRef<std::path::Path>) -> Result<Maildir> {
        let md = Maildir::create(path)?;
        for name in DEFAULT_FOLDERS {
            match md.create_folder(name) {
                Ok(_) | Err(Error::FolderExists(_)) => {}
                Err(e) => return Err(e),
            }
            md.subscribe(name)?;
        }
        Ok(md)
    }

    /// Opens a folder of this Maildir's root (`Sent`, `Archive.2024`).
    pub fn folder(&self, name: &str) -> Result<Maildir> {
        validate_folder_name(name)?;
        let path = self.root.join(format!(".{name}"));
        if !path.join("cur").is_dir() {
            return Err(Error::FolderNotFound(name.to_owned()));
        }
        let mut md = Maildir::handle(path, self.root.clone());
        md.host.clone_from(&self.host);
        md.fsync = self.fsync;
        md.fsync_changes = self.fsync_changes;
        md.lock_timeout = self.lock_timeout;
        md.expunged_grace = self.expunged_grace;
        Ok(md)
    }

    /// The INBOX (root) of this Maildir++.
    pub fn inbox(&self) -> Maildir {
        let mut md = Maildir::handle(self.root.clone(), self.root.clone());
        md.host.clone_from(&self.host);
        md.fsync = self.fsync;
        md.fsync_changes = self.fsync_changes;
        md.lock_timeout = self.lock_timeout;
        md.expunged_grace = self.expunged_grace;
        md
    }

    /// Creates a folder with `tmp/ new/ cur/` and the `maildirfolder` marker.
    /// [`Error::FolderExists`] if it exists.
    pub fn create_folder(&self, name: &str) -> Result<Maildir> {
        validate_folder_name(name)?;
        let path = self.root.join(format!(".{name}"));
        match fs::create_dir(&path) {
            Ok(()) => {}
            // A directory without cur/ is a creation cut short (it is not listed): finish it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !path.join("cur").is_dir() => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::FolderExists(name.to_owned()));
            }
            Err(e) => return Err(io_err("mkdir", &path)(e)),
        }
        create_maildir_dirs(&path, false)?;
        let marker = path.join(MAILDIRFOLDER);
        File::create(&marker).map_err(io_err("create", &marker))?;
        if self.fsync {
            sync_dir(&path)?;
            sync_dir(&self.root)?;
        }
        self.folder(name)
    }

    /// Lists the folders (names without the leading `.`), sorted. INBOX is not listed.
    pub fn list_folders(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for dent in fs::read_dir(&self.root).map_err(io_err("read_dir", &self.root))? {
            let dent = dent.map_err(io_err("read_dir", &self.root))?;
            let Ok(fname) = dent.file_name().into_string() else {
                continue;
            };
            let Some(name) = fname.strip_prefix('.') else {
                continue;
            };
            if validate_folder_name(name).is_ok() && dent.path().join("cur").is_dir() {
                out.push(name.to_owned());
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Deletes a folder and its messages (not its children `name.*`, which are folders of
    /// their own). The folder is first renamed out of sight so a crash never leaves half of it
    /// listed.
    pub fn delete_folder(&self, name: &str) -> Result<()> {
        validate_folder_name(name)?;
        let path = self.root.join(format!(".{name}"));
        if !path.is_dir() {
            return Err(Error::FolderNotFound(name.to_owned()));
        }
        // `..` is never a valid folder prefix, so the trash name is never listed.
        let trash = self.root.join(format!(
            "..deleted.{}",
            crate::name::unique_base(std::time::SystemTime::now(), "d")
        ));
        fs::rename(&path, &trash).map_err(io_err("rename", &path))?;
        if self.fsync {
            sync_dir(&self.root)?;
        }
        fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))
    }

    /// Renames a folder and its children (`old.*` → `new.*`), as IMAP RENAME does. A name that
    /// is only the parent of folders (`old.x` is a folder, `old` is not: IMAP `\Noselect`) can
    /// be renamed too: its children move.
    pub fn rename_folder(&self, old: &str, new: &str) -> Result<()> {
        validate_folder_name(old)?;
        validate_folder_name(new)?;
        let from = self.root.join(format!(".{old}"));
        let to = self.root.join(format!(".{new}"));
        let prefix = format!("{old}.");
        let children: Vec<String> = self
            .list_folders()?
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let is_folder = from.is_dir();
        if !is_folder && children.is_empty() {
            return Err(Error::FolderNotFound(old.to_owned()));
        }
        if to.exists() {
            return Err(Error::FolderExists(new.to_owned()));
        }
        for child in &children {
            let target = format!("{new}.{}", &child[prefix.len()..]);
            validate_folder_name(&target)?;
            if self.root.join(format!(".{target}")).exists() {
                return Err(Error::FolderExists(target));
            }
        }
        if is_folder {
            fs::rename(&from, &to).map_err(io_err("rename", &from))?;
        }
        for child in &children {
            let target = format!("{new}.{}", &child[prefix.len()..]);
            let p = self.root.join(format!(".{child}"));
            fs::rename(&p, self.root.join(format!(".{target}"))).map_err(io_err("rename", &p))?;
        }
        if self.fsync {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// The subscribed folder names. Reads both the plain one-name-per-line form (Courier) and
    /// Dovecot 2.3's `V\t2` form (hierarchy separated by tabs).
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        let p = self.root.join(SUBSCRIPTIONS);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read", &p)(e)),
        };
        let mut lines = text.lines().peekable();
        let v2 = lines.peek().is_some_and(|l| l.starts_with("V\t"));
        if v2 {
            lines.next();
        }
        let mut out: Vec<String> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                if v2 {
                    l.replace('\t', ".")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Adds a folder name to the subscriptions (atomic rewrite). The folder need not exist.
    pub fn subscribe(&self, name: &str) -> Result<()> {
        if !name.eq_ignore_ascii_case("INBOX") {
            validate_folder_name(name)?;
        }
        let mut subs = self.subscriptions()?;
        if subs.iter().any(|s| s == name) {
            return Ok(());
        }
        subs.push(name.to_owned());
        self.write_subscriptions(&subs)
    }

    /// Removes a folder name from the subscriptions.
    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        let mut subs = self.subscriptions()?;
        let before = subs.len();
        subs.retain(|s| s != name);
        if subs.len() == before {
            return Ok(());
        }
        self.write_subscriptions(&subs)
    }

    fn write_subscriptions(&self, subs: &[String]) -> Result<()> {
        let mut text = String::new();
        for s in subs {
            text.push_str(s);
            text.push('\n');
        }
        write_atomic(&self.root.join(SUBSCRIPTIONS), text.as_bytes(), self.fsync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["Sent", "Archive.2024", "a b", "Ünïcode"] {
            assert!(validate_folder_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".Sent", "Sent.", "a..b", "..", "a/b", "a\0b", "inbox", "a\\b",
        ] {
            assert!(validate_folder_name(bad).is_err(), "{bad:?}");
        }
    }
}

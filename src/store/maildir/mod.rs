//! The Maildir store: [`MailStore`] over the `mailwright-maildir` crate, one Maildir++ per user
//! at `mail/<domain>/<local>/Maildir` in the data directory (`Directory::maildir_path`).
//!
//! - Mailboxes: `INBOX` is the Maildir root, `A/B` the Maildir++ folder `.A.B`. Names stay in
//!   modified UTF-7 on disk, as Dovecot stores them. A level may not hold `.` (the Maildir++
//!   separator), `\` or a control character, so `..` and every other path trick is refused
//!   before the file system sees it.
//! - UIDs, UIDVALIDITY, keywords (any number) and MODSEQs are the maildir crate's, in Dovecot's
//!   files; `\Recent` is claimed through its first-recent file; `$Forwarded` is the Maildir flag
//!   `P`. Messages are stored with LF line ends; sizes come from `W=` in the file name.
//! - A selected mailbox (module `selected`) skips its sync while the mtimes of `new/`, `cur/` and the
//!   uidlist say nothing changed; expunged messages stay readable for the maildir crate's grace
//!   period.
//! - Deliveries and APPEND are written into `tmp/` first and linked in at the commit
//!   (module `delivery`); POP3 locks a file in the Maildir (module `maildrop`).
//! - Every write through the store wakes the mailbox's [`Changes`]; writes by other programs
//!   are found by the sessions' polls.

mod delivery;
mod index;
mod maildrop;
mod selected;

use std::io;
use std::path::Path;
use std::sync::Arc;

use mailwright_maildir::{Error as MdError, Flag as MdFlag, Maildir};

use super::notify::{Changes, Notifier};
use super::types::{
    AppendRequest, Appended, Flag, Flags, MailboxInfo, MailboxName, MailboxStatus, QuotaUsage,
    SpecialUse, StoreError,
};
use super::{Account, Delivery, MailStore, Maildrop, PreparedAppend, SelectedMailbox};
use crate::core::config::Storage;
use crate::core::directory::{Address, Directory};

pub use maildrop::POP3_LOCK_FILE;
pub(crate) use selected::MaildirMailbox;

/// Creates a user's Maildir with the default folders (the `maildir` crate's Drafts, Sent, Trash,
/// Junk, plus Archive: the SPECIAL-USE set IMAP announces, RFC 6154), if it does not exist.
pub fn create_user_maildir(path: &Path) -> mailwright_maildir::Result<Maildir> {
    let md = Maildir::create_user(path)?;
    match md.create_folder("Archive") {
        Ok(_) | Err(MdError::FolderExists(_)) => {}
        Err(e) => return Err(e),
    }
    md.subscribe("Archive")?;
    Ok(md)
}

/// The users' mail in Maildirs.
#[derive(Debug)]
pub struct MaildirStore {
    directory: Arc<Directory>,
    fsync_changes: bool,
    notifier: Arc<Notifier>,
}

impl MaildirStore {
    /// The Maildirs of the users of `directory`, durable as `storage` says.
    pub fn new(directory: Arc<Directory>, storage: &Storage) -> Self {
        Self {
            directory,
            fsync_changes: storage.fsync_changes,
            notifier: Arc::new(Notifier::new()),
        }
    }

    /// The user's Maildir++ root, made (with the default folders) when it is not there.
    fn root(&self, user: &Address) -> Result<Maildir, StoreError> {
        let path = self.directory.maildir_path(user);
        let mut root = Maildir::open(&path)
            .or_else(|_| create_user_maildir(&path))
            .map_err(error)?;
        root.set_fsync_changes(self.fsync_changes);
        Ok(root)
    }
}

impl MailStore for MaildirStore {
    fn account(&self, user: &Address) -> Result<Box<dyn Account>, StoreError> {
        Ok(Box::new(MaildirAccount {
            user: user.clone(),
            root: self.root(user)?,
            notifier: self.notifier.clone(),
        }))
    }

    fn quota(&self, user: &Address) -> Result<Option<QuotaUsage>, StoreError> {
        let Ok(root) = Maildir::open(self.directory.maildir_path(user)) else {
            return Ok(None);
        };
        quota_of(&root)
    }

    fn delivery(&self) -> Box<dyn Delivery> {
        Box::new(delivery::MaildirDelivery::new(
            self.directory.clone(),
            self.notifier.clone(),
        ))
    }
}

fn quota_of(root: &Maildir) -> Result<Option<QuotaUsage>, StoreError> {
    Ok(root.quota_usage().map_err(error)?.map(|u| QuotaUsage {
        bytes: u.bytes,
        bytes_limit: u.quota.bytes,
        messages: u.messages,
        messages_limit: u.quota.messages,
    }))
}

/// A maildir crate error in the store's terms.
pub(crate) fn error(e: MdError) -> StoreError {
    match e {
        MdError::Io { ref source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ) =>
        {
            StoreError::NoSpace
        }
        MdError::FolderNotFound(_) | MdError::NotMaildir(_) => StoreError::NoSuchMailbox,
        MdError::FolderExists(_) => StoreError::MailboxExists,
        MdError::InvalidFolderName { .. } => StoreError::InvalidName("invalid mailbox name"),
        MdError::QuotaExceeded { .. } => StoreError::OverQuota,
        MdError::Expunged(uids) => StoreError::Expunged(uids),
        MdError::TooManyKeywords => StoreError::TooManyKeywords,
        other => StoreError::backend(other),
    }
}

/// The Maildir++ folder of a mailbox: `None` for INBOX, else the folder name (`A.B` for
/// `A/B`).
pub(crate) fn folder_of(name: &MailboxName) -> Result<Option<String>, StoreError> {
    if name.is_inbox() {
        return Ok(None);
    }
    for level in name.levels() {
        if level.contains(['.', '\\']) || level.chars().any(char::is_control) {
            return Err(StoreError::InvalidName(
                "mailbox name holds a character not allowed here (. or \\)",
            ));
        }
    }
    let folder = name.levels().collect::<Vec<_>>().join(".");
    if folder.len() > mailwright_maildir::MAX_FOLDER_NAME {
        return Err(StoreError::InvalidName("mailbox name too long"));
    }
    if mailwright_maildir::validate_folder_name(&folder).is_err() {
        return Err(StoreError::InvalidName("invalid mailbox name"));
    }
    Ok(Some(folder))
}

/// The mailbox of a Maildir++ folder (`INBOX` spelled so whatever its case on disk).
pub(crate) fn name_of(folder: &str) -> Option<MailboxName> {
    MailboxName::new(&folder.replace('.', "/")).ok()
}

/// The SPECIAL-USE of a top-level mailbox (RFC 6154 §2), by its conventional name.
fn special_use(name: &MailboxName) -> Option<SpecialUse> {
    Some(match name.as_str() {
        "Sent" => SpecialUse::Sent,
        "Drafts" => SpecialUse::Drafts,
        "Trash" => SpecialUse::Trash,
        "Junk" => SpecialUse::Junk,
        "Archive" => SpecialUse::Archive,
        _ => return None,
    })
}

/// The conventional name of the top-level mailbox with a SPECIAL-USE (the inverse of
/// [`special_use`]).
pub(super) fn conventional_name(special: SpecialUse) -> Option<&'static str> {
    Some(match special {
        SpecialUse::Sent => "Sent",
        SpecialUse::Drafts => "Drafts",
        SpecialUse::Trash => "Trash",
        SpecialUse::Junk => "Junk",
        SpecialUse::Archive => "Archive",
        _ => return None,
    })
}

/// One user's Maildir++.
#[derive(Debug)]
struct MaildirAccount {
    user: Address,
    root: Maildir,
    notifier: Arc<Notifier>,
}

impl MaildirAccount {
    /// The Maildir of an existing mailbox.
    fn open(&self, name: &MailboxName) -> Result<Maildir, StoreError> {
        match folder_of(name)? {
            None => Ok(self.root.inbox()),
            Some(f) => self.root.folder(&f).map_err(error),
        }
    }

    fn changed(&self, name: &MailboxName) {
        self.notifier.changed(&self.user, name);
    }
}

impl Account for MaildirAccount {
    fn user(&self) -> &Address {
        &self.user
    }

    fn list(&self) -> Result<Vec<MailboxInfo>, StoreError> {
        let mut out = vec![MailboxInfo {
            name: MailboxName::inbox(),
            special_use: None,
        }];
        for f in self.root.list_folders().map_err(error)? {
            if let Some(name) = name_of(&f) {
                out.push(MailboxInfo {
                    special_use: special_use(&name),
                    name,
                });
            }
        }
        Ok(out)
    }

    fn special_use(&self, name: &MailboxName) -> Option<SpecialUse> {
        special_use(name)
    }

    fn exists(&self, name: &MailboxName) -> Result<bool, StoreError> {
        match self.open(name) {
            Ok(_) => Ok(true),
            Err(StoreError::NoSuchMailbox) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn create(&self, name: &MailboxName) -> Result<(), StoreError> {
        let Some(folder) = folder_of(name)? else {
            return Err(StoreError::MailboxExists);
        };
        let parts: Vec<&str> = folder.split('.').collect();
        for n in 1..parts.len() {
            let parent = parts[..n].join(".");
            if parent.eq_ignore_ascii_case("INBOX") {
                continue;
            }
            match self.root.create_folder(&parent) {
                Ok(_) | Err(MdError::FolderExists(_)) => {}
                Err(e) => return Err(error(e)),
            }
        }
        self.root.create_folder(&folder).map_err(error)?;
        Ok(())
    }

    fn delete(&self, name: &MailboxName) -> Result<(), StoreError> {
        let Some(folder) = folder_of(name)? else {
            return Err(StoreError::InvalidName("INBOX cannot be deleted"));
        };
        self.root.delete_folder(&folder).map_err(error)?;
        self.changed(name);
        Ok(())
    }

    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        let Some(to_folder) = folder_of(to)? else {
            return Err(StoreError::MailboxExists);
        };
        match folder_of(from)? {
            None => {
                let dest = self.root.create_folder(&to_folder).map_err(error)?;
                let inbox = self.root.inbox();
                let state = inbox.sync().map_err(error)?;
                let uids: Vec<u32> = state.messages.iter().map(|m| m.uid).collect();
                inbox.move_uids(&state, &uids, &dest).map_err(error)?;
            }
            Some(from_folder) => {
                self.root
                    .rename_folder(&from_folder, &to_folder)
                    .map_err(error)?;
            }
        }
        self.changed(from);
        Ok(())
    }

    fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError> {
        Ok(self
            .root
            .subscriptions()
            .map_err(error)?
            .iter()
            .filter_map(|s| name_of(s))
            .collect())
    }

    fn set_subscribed(&self, name: &MailboxName, subscribed: bool) -> Result<(), StoreError> {
        let folder = folder_of(name)?.unwrap_or_else(|| "INBOX".to_owned());
        if subscribed {
            self.root.subscribe(&folder)
        } else {
            self.root.unsubscribe(&folder)
        }
        .map_err(error)
    }

    fn status(&self, name: &MailboxName) -> Result<MailboxStatus, StoreError> {
        let md = self.open(name)?;
        let state = md.sync().map_err(error)?;
        let mut status = MailboxStatus {
            recent: state.unclaimed_recent().count() as u64,
            uid_next: state.uid_next,
            uid_validity: state.uid_validity,
            highest_modseq: state.highest_modseq,
            ..MailboxStatus::default()
        };
        for m in &state.messages {
            status.add(&selected::bare_info(m));
        }
        Ok(status)
    }

    fn quota(&self) -> Result<Option<QuotaUsage>, StoreError> {
        quota_of(&self.root)
    }

    fn select(
        &self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<(Box<dyn SelectedMailbox>, super::MailboxView), StoreError> {
        let md = self.open(name)?;
        let (mailbox, view) = MaildirMailbox::open(
            md,
            self.root.clone(),
            read_only,
            name.clone(),
            self.user.clone(),
            self.notifier.clone(),
        )?;
        Ok((Box::new(mailbox), view))
    }

    fn append(
        &self,
        name: &MailboxName,
        request: &AppendRequest,
        message: &mut dyn io::Read,
    ) -> Result<Box<dyn PreparedAppend>, StoreError> {
        let md = self.open(name)?;
        delivery::prepare_append(
            &md,
            request,
            message,
            name.clone(),
            self.user.clone(),
            self.notifier.clone(),
        )
    }

    fn append_all(
        &self,
        name: &MailboxName,
        messages: &mut [(AppendRequest, &mut dyn io::Read)],
    ) -> Result<Vec<Appended>, StoreError> {
        let md = self.open(name)?;
        let appended = delivery::append_all(&md, messages)?;
        self.changed(name);
        Ok(appended)
    }

    fn watch(&self, name: &MailboxName) -> Changes {
        self.notifier.subscribe(&self.user, name)
    }

    fn maildrop(&self) -> Result<Box<dyn Maildrop>, StoreError> {
        maildrop::MaildirMaildrop::lock(self.root.inbox(), self.user.clone(), &self.notifier)
            .map(|m| Box::new(m) as Box<dyn Maildrop>)
    }
}

/// The store's system flags of Maildir flags.
pub(crate) fn flags_from_maildir(f: mailwright_maildir::Flags) -> Flags {
    let mut out = Flags::empty();
    for (md, flag) in [
        (MdFlag::Replied, Flag::Answered),
        (MdFlag::Flagged, Flag::Flagged),
        (MdFlag::Trashed, Flag::Deleted),
        (MdFlag::Seen, Flag::Seen),
        (MdFlag::Draft, Flag::Draft),
    ] {
        if f.contains(md) {
            out.insert(flag);
        }
    }
    out
}

/// Maildir flags of the store's system flags.
pub(crate) fn flags_to_maildir(f: Flags) -> mailwright_maildir::Flags {
    let mut out = mailwright_maildir::Flags::empty();
    for (flag, md) in [
        (Flag::Answered, MdFlag::Replied),
        (Flag::Flagged, MdFlag::Flagged),
        (Flag::Deleted, MdFlag::Trashed),
        (Flag::Seen, MdFlag::Seen),
        (Flag::Draft, MdFlag::Draft),
    ] {
        if f.contains(flag) {
            out.insert(md);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_folders_and_traversal_is_refused() {
        let n = |s: &str| MailboxName::new(s).unwrap();
        assert_eq!(folder_of(&n("inbox")).unwrap(), None);
        assert_eq!(folder_of(&n("A/B")).unwrap(), Some("A.B".into()));
        assert_eq!(folder_of(&n("inbox/x")).unwrap(), Some("INBOX.x".into()));
        assert_eq!(
            folder_of(&n("&ZeVnLIqe-")).unwrap(),
            Some("&ZeVnLIqe-".into())
        );
        for bad in ["..", "a/../b", "a.b", "a\\b", ".x", "a\u{1}"] {
            assert!(folder_of(&n(bad)).is_err(), "{bad}");
        }
        assert_eq!(name_of("A.B").unwrap().as_str(), "A/B");
        assert_eq!(name_of("inbox.x").unwrap().as_str(), "INBOX/x");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any name is either refused or mapped to a folder name the maildir crate accepts,
        /// with no path trick left in it, and back to itself.
        #[test]
        fn every_folder_is_safe(name in "[a-zA-Z0-9/&.%*\\\\-]{1,24}") {
            if let Ok(n) = MailboxName::new(&name)
                && let Ok(Some(f)) = folder_of(&n)
            {
                proptest::prop_assert!(mailwright_maildir::validate_folder_name(&f).is_ok());
                proptest::prop_assert!(!f.contains(['/', '\\']) && !f.contains(".."));
                proptest::prop_assert_eq!(name_of(&f), Some(n));
            }
        }
    }
}

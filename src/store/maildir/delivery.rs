//! Messages coming in: local delivery ([`Delivery`]) and APPEND ([`PreparedAppend`]), each
//! written into the Maildir's `tmp/` first and linked into the mailbox at its commit.
//!
//! A delivery's copy is fsynced in `tmp/` when it is prepared (a quota overrun fails there),
//! linked into `new/` and the directory fsynced at the commit, and taken out again by a
//! rollback. A crash before the commit leaves a file in `tmp/`, which no reader lists and which
//! the maildir crate's `clean_tmp` removes after 36 hours.

use std::io::{self, Write};
use std::sync::Arc;

use mailwright_maildir::{DeliveryOptions, Entry, Flag, Flags, Maildir, is_valid_keyword};

use super::{conventional_name, create_user_maildir, error, folder_of, quota_of, selected};
use crate::core::directory::{Address, Directory};
use crate::store::notify::Notifier;
use crate::store::types::{AppendRequest, Appended, MailboxName, SpecialUse, StoreError};
use crate::store::{CopyId, Delivery, PreparedAppend};

/// One copy of a delivery, as far as it got.
#[derive(Debug)]
enum Copy {
    /// Written and fsynced in `tmp/`.
    Prepared(Maildir, mailwright_maildir::Delivery),
    /// In `new/`, fsynced.
    Committed(Maildir, Entry),
    /// Not committed, or rolled back, or failed at its commit.
    Dropped,
}

/// A local delivery into users' Maildirs.
#[derive(Debug)]
pub(super) struct MaildirDelivery {
    directory: Arc<Directory>,
    notifier: Arc<Notifier>,
    /// Each copy with its user and the mailbox it goes to.
    copies: Vec<(Address, MailboxName, Copy)>,
}

impl MaildirDelivery {
    pub(super) fn new(directory: Arc<Directory>, notifier: Arc<Notifier>) -> Self {
        Self {
            directory,
            notifier,
            copies: Vec::new(),
        }
    }

    fn copy(&mut self, id: CopyId) -> Result<&mut (Address, MailboxName, Copy), StoreError> {
        self.copies
            .get_mut(id.index())
            .ok_or(StoreError::Misuse("no such copy in this delivery"))
    }
}

/// Writes one copy into `maildir`'s `tmp/` and fsyncs it.
fn write_copy(
    maildir: &Maildir,
    message: &mut dyn io::Read,
) -> Result<mailwright_maildir::Delivery, StoreError> {
    write_copy_with(maildir, message, DeliveryOptions::default())
}

/// The Maildir flags of IMAP flags and keywords: the system flags Maildir has, and keywords
/// by their letter in `dovecot-keywords` (those past its 26 letters, and invalid names, dropped).
fn maildir_flags(maildir: &Maildir, flags: &[String]) -> Result<Flags, StoreError> {
    let mut out = Flags::empty();
    let mut keywords: Vec<&str> = Vec::new();
    for f in flags {
        match f.to_ascii_lowercase().as_str() {
            "\\seen" => out.insert(Flag::Seen),
            "\\answered" => out.insert(Flag::Replied),
            "\\flagged" => out.insert(Flag::Flagged),
            "\\deleted" => out.insert(Flag::Trashed),
            "\\draft" => out.insert(Flag::Draft),
            _ if !f.starts_with('\\') && is_valid_keyword(f) && !keywords.contains(&f.as_str()) => {
                keywords.push(f);
            }
            _ => {}
        }
    }
    keywords.truncate(26);
    match maildir.keyword_flags(&keywords) {
        Ok(k) => {
            for i in k.keyword_indexes() {
                out.insert_keyword_index(i);
            }
        }
        Err(mailwright_maildir::Error::TooManyKeywords) => {}
        Err(e) => return Err(error(e)),
    }
    Ok(out)
}

/// [`write_copy`] with delivery options (flags: straight into `cur/` at the commit).
fn write_copy_with(
    maildir: &Maildir,
    message: &mut dyn io::Read,
    options: DeliveryOptions,
) -> Result<mailwright_maildir::Delivery, StoreError> {
    let mut delivery = maildir.delivery_with(options).map_err(error)?;
    io::copy(message, &mut delivery)?;
    delivery.flush()?;
    // Durable before anything is committed: the commit only links it into new/.
    std::fs::File::open(delivery.tmp_path())?.sync_all()?;
    Ok(delivery)
}

impl Delivery for MaildirDelivery {
    fn prepare(
        &mut self,
        user: &Address,
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        let path = self.directory.maildir_path(user);
        let maildir = match Maildir::open(&path) {
            Ok(m) => m,
            Err(_) => create_user_maildir(&path).map_err(error)?,
        };
        let delivery = write_copy(&maildir, message)?;
        if quota_of(&maildir)?.is_some_and(|q| !q.fits(delivery.size())) {
            return Err(StoreError::OverQuota);
        }
        self.copies.push((
            user.clone(),
            MailboxName::inbox(),
            Copy::Prepared(maildir, delivery),
        ));
        Ok(CopyId::new(self.copies.len() - 1))
    }

    fn prepare_special(
        &mut self,
        user: &Address,
        special: SpecialUse,
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        let Some(folder_name) = conventional_name(special) else {
            return self.prepare(user, message);
        };
        let path = self.directory.maildir_path(user);
        let root = match Maildir::open(&path) {
            Ok(m) => m,
            Err(_) => create_user_maildir(&path).map_err(error)?,
        };
        // The folder a user deleted comes back, subscribed, as the first delivery needs it.
        let folder = match root.folder(folder_name) {
            Ok(f) => f,
            Err(_) => {
                let f = match root.create_folder(folder_name) {
                    Ok(f) => f,
                    Err(mailwright_maildir::Error::FolderExists(_)) => {
                        root.folder(folder_name).map_err(error)?
                    }
                    Err(e) => return Err(error(e)),
                };
                root.subscribe(folder_name).map_err(error)?;
                f
            }
        };
        let delivery = write_copy(&folder, message)?;
        if quota_of(&root)?.is_some_and(|q| !q.fits(delivery.size())) {
            return Err(StoreError::OverQuota);
        }
        let name = MailboxName::new(folder_name)
            .map_err(|_| StoreError::InvalidName("special mailbox name"))?;
        self.copies
            .push((user.clone(), name, Copy::Prepared(folder, delivery)));
        Ok(CopyId::new(self.copies.len() - 1))
    }

    fn prepare_into(
        &mut self,
        user: &Address,
        mailbox: &MailboxName,
        create: bool,
        flags: &[String],
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        let folder_name = folder_of(mailbox)?;
        if folder_name.is_none() && flags.is_empty() {
            return self.prepare(user, message);
        }
        let path = self.directory.maildir_path(user);
        let root = match Maildir::open(&path) {
            Ok(m) => m,
            Err(_) => create_user_maildir(&path).map_err(error)?,
        };
        let folder = match &folder_name {
            None => root.inbox(),
            Some(name) => match root.folder(name) {
                Ok(f) => f,
                Err(_) if !create => return Err(StoreError::NoSuchMailbox),
                Err(_) => {
                    // The mailboxes above it too, as IMAP CREATE makes them.
                    let levels: Vec<&str> = name.split('.').collect();
                    for n in 1..levels.len() {
                        let parent = levels[..n].join(".");
                        if root.folder(&parent).is_err() {
                            match root.create_folder(&parent) {
                                Ok(_) | Err(mailwright_maildir::Error::FolderExists(_)) => {}
                                Err(e) => return Err(error(e)),
                            }
                        }
                    }
                    let f = match root.create_folder(name) {
                        Ok(f) => f,
                        Err(mailwright_maildir::Error::FolderExists(_)) => {
                            root.folder(name).map_err(error)?
                        }
                        Err(e) => return Err(error(e)),
                    };
                    root.subscribe(name).map_err(error)?;
                    f
                }
            },
        };
        let delivery = if flags.is_empty() {
            write_copy(&folder, message)?
        } else {
            let flags = maildir_flags(&folder, flags)?;
            write_copy_with(
                &folder,
                message,
                DeliveryOptions {
                    flags: Some(flags),
                    ..DeliveryOptions::default()
                },
            )?
        };
        if quota_of(&root)?.is_some_and(|q| !q.fits(delivery.size())) {
            return Err(StoreError::OverQuota);
        }
        self.copies.push((
            user.clone(),
            mailbox.clone(),
            Copy::Prepared(folder, delivery),
        ));
        Ok(CopyId::new(self.copies.len() - 1))
    }

    fn commit(&mut self, copies: &[CopyId]) -> Vec<Result<(), StoreError>> {
        let results = copies
            .iter()
            .map(|&id| {
                let (_, _, copy) = self.copy(id)?;
                match std::mem::replace(copy, Copy::Dropped) {
                    Copy::Prepared(maildir, delivery) => {
                        let delivered = delivery.commit().map_err(error)?;
                        *copy = Copy::Committed(maildir, delivered.entry);
                        Ok(())
                    }
                    other => {
                        *copy = other;
                        Err(StoreError::Misuse("copy committed twice"))
                    }
                }
            })
            .collect();
        // What was not named is forgotten: dropping a prepared Maildir delivery removes it.
        for (_, _, copy) in &mut self.copies {
            if matches!(copy, Copy::Prepared(..)) {
                *copy = Copy::Dropped;
            }
        }
        results
    }

    fn rollback(&mut self, id: CopyId) -> Result<(), StoreError> {
        let (_, _, copy) = self.copy(id)?;
        match std::mem::replace(copy, Copy::Dropped) {
            Copy::Committed(maildir, entry) => maildir.remove(&entry).map(|_| ()).map_err(error),
            other => {
                *copy = other;
                Err(StoreError::Misuse("rollback of a copy not committed"))
            }
        }
    }

    fn publish(self: Box<Self>) -> Vec<(CopyId, String)> {
        let mut out = Vec::new();
        for (i, (user, mailbox, copy)) in self.copies.into_iter().enumerate() {
            if let Copy::Committed(md, entry) = copy {
                super::index::index_written(&md, &entry, &md.entry_path(&entry));
                self.notifier.changed(&user, &mailbox);
                out.push((CopyId::new(i), entry.unique().to_owned()));
            }
        }
        out
    }
}

/// An APPEND written into `tmp/`.
#[derive(Debug)]
struct MaildirAppend {
    prepared: mailwright_maildir::PreparedAppend,
    /// The folder, to index the message in.
    md: Maildir,
    name: MailboxName,
    user: Address,
    notifier: Arc<Notifier>,
}

/// The first step of an APPEND into `md`: the keywords defined, the message written into
/// `tmp/`.
pub(super) fn prepare_append(
    md: &Maildir,
    request: &AppendRequest,
    message: &mut dyn io::Read,
    name: MailboxName,
    user: Address,
    notifier: Arc<Notifier>,
) -> Result<Box<dyn PreparedAppend>, StoreError> {
    let keywords: Vec<&str> = request.keywords.iter().map(String::as_str).collect();
    let (system, names) = selected::split_keywords(request.flags, &keywords);
    let mut prepared = md
        .prepare_append(system, &names, request.internal_date)
        .map_err(error)?;
    io::copy(message, &mut prepared)?;
    Ok(Box::new(MaildirAppend {
        prepared,
        md: md.clone(),
        name,
        user,
        notifier,
    }))
}

/// MULTIAPPEND into `md`: every message written into `tmp/`, then all stored or none
/// ([`mailwright_maildir::PreparedAppend::commit_all`]).
pub(super) fn append_all(
    md: &Maildir,
    messages: &mut [(AppendRequest, &mut dyn io::Read)],
) -> Result<Vec<Appended>, StoreError> {
    let mut batch = Vec::with_capacity(messages.len());
    for (request, message) in messages.iter_mut() {
        let keywords: Vec<&str> = request.keywords.iter().map(String::as_str).collect();
        let (system, names) = selected::split_keywords(request.flags, &keywords);
        let mut prepared = md
            .prepare_append(system, &names, request.internal_date)
            .map_err(error)?;
        io::copy(message, &mut prepared)?;
        batch.push(prepared);
    }
    let (uid_validity, uids) =
        mailwright_maildir::PreparedAppend::commit_all(batch).map_err(error)?;
    Ok(uids
        .into_iter()
        .map(|uid| Appended { uid_validity, uid })
        .collect())
}

impl PreparedAppend for MaildirAppend {
    fn commit(self: Box<Self>) -> Result<Appended, StoreError> {
        // Stored straight into cur/ and given its UID without a rescan of the folder.
        let appended = self.prepared.commit().map_err(error)?;
        super::index::index_written(
            &self.md,
            &appended.delivered.entry,
            &appended.delivered.path,
        );
        self.notifier.changed(&self.user, &self.name);
        Ok(Appended {
            uid_validity: appended.uid_validity,
            uid: appended.uid,
        })
    }
}

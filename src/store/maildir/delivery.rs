//! Messages coming in: local delivery ([`Delivery`]) and APPEND ([`PreparedAppend`]), each
//! written into the Maildir's `tmp/` first and linked into the mailbox at its commit.
//!
//! A delivery's copy is fsynced in `tmp/` when it is prepared (a quota overrun fails there),
//! linked into `new/` and the directory fsynced at the commit, and taken out again by a
//! rollback. A crash before the commit leaves a file in `tmp/`, which no reader lists and which
//! the maildir crate's `clean_tmp` removes after 36 hours.

use std::io::{self, Write};
use std::sync::Arc;

use mailwright_maildir::{Entry, Maildir};

use super::{create_user_maildir, error, quota_of, selected};
use crate::core::directory::{Address, Directory};
use crate::store::notify::Notifier;
use crate::store::types::{AppendRequest, Appended, MailboxName, StoreError};
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
    copies: Vec<(Address, Copy)>,
}

impl MaildirDelivery {
    pub(super) fn new(directory: Arc<Directory>, notifier: Arc<Notifier>) -> Self {
        Self {
            directory,
            notifier,
            copies: Vec::new(),
        }
    }

    fn copy(&mut self, id: CopyId) -> Result<&mut (Address, Copy), StoreError> {
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
    let mut delivery = maildir.delivery().map_err(error)?;
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
        self.copies
            .push((user.clone(), Copy::Prepared(maildir, delivery)));
        Ok(CopyId::new(self.copies.len() - 1))
    }

    fn commit(&mut self, copies: &[CopyId]) -> Vec<Result<(), StoreError>> {
        let results = copies
            .iter()
            .map(|&id| {
                let (_, copy) = self.copy(id)?;
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
        for (_, copy) in &mut self.copies {
            if matches!(copy, Copy::Prepared(..)) {
                *copy = Copy::Dropped;
            }
        }
        results
    }

    fn rollback(&mut self, id: CopyId) -> Result<(), StoreError> {
        let (_, copy) = self.copy(id)?;
        match std::mem::replace(copy, Copy::Dropped) {
            Copy::Committed(maildir, entry) => maildir.remove(&entry).map(|_| ()).map_err(error),
            other => {
                *copy = other;
                Err(StoreError::Misuse("rollback of a copy not committed"))
            }
        }
    }

    fn publish(self: Box<Self>) -> Vec<(CopyId, String)> {
        let inbox = MailboxName::inbox();
        let mut out = Vec::new();
        for (i, (user, copy)) in self.copies.into_iter().enumerate() {
            if let Copy::Committed(_, entry) = copy {
                self.notifier.changed(&user, &inbox);
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
        name,
        user,
        notifier,
    }))
}

impl PreparedAppend for MaildirAppend {
    fn commit(self: Box<Self>) -> Result<Appended, StoreError> {
        // Stored straight into cur/ and given its UID without a rescan of the folder.
        let appended = self.prepared.commit().map_err(error)?;
        self.notifier.changed(&self.user, &self.name);
        Ok(Appended {
            uid_validity: appended.uid_validity,
            uid: appended.uid,
        })
    }
}

//! `full_server migrate --to postgres|maildir`: the users' mail copied from one store to the
//! other with everything a client caches kept (UIDVALIDITY, UIDs, UIDNEXT, MODSEQs and
//! HIGHESTMODSEQ, flags, keywords, internal dates, the QRESYNC expunge history), so that an
//! IMAP client (or mbsync, offlineimap) finds nothing to resynchronise; with the
//! subscriptions, SPECIAL-USE (by name in both stores) and quota.
//!
//! - The source is only read; run the copy with the server stopped (or no mail arriving),
//!   then switch `[store] backend`.
//! - A user the target has already is left alone (and named; the command fails) unless
//!   `--force`, which replaces that user's mail in the target.
//! - Bodies are copied byte for byte: both stores keep LF line ends.

use std::error::Error;
use std::path::Path;

use mailwright_maildir::{MailboxState, Maildir, Quota, VanishedHistory};

use super::maildir::name_of;
use super::types::MailboxName;
use crate::core::config::Config;
use crate::core::directory::{Address, Directory};

/// Where the mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// From the Maildirs into the database of `[store]`.
    Postgres,
    /// From the database of `[store]` into the Maildirs.
    Maildir,
}

/// What one user's copy held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Mailboxes (INBOX included).
    pub mailboxes: u64,
    /// Messages.
    pub messages: u64,
    /// Octets of the messages, as stored.
    pub bytes: u64,
    /// Subscriptions.
    pub subscriptions: u64,
    /// UIDs recorded as expunged (for QRESYNC).
    pub expunged: u64,
}

/// One Maildir folder as read for a copy.
#[derive(Debug)]
pub struct MaildirFolder {
    /// Its mailbox name.
    pub name: MailboxName,
    /// The folder.
    pub maildir: Maildir,
    /// Its state after a sync.
    pub state: MailboxState,
    /// Its expunge history (`mailwright-vanished`), if it has one.
    pub vanished: Option<VanishedHistory>,
}

/// One user's Maildir++ as read for a copy.
#[derive(Debug)]
pub struct MaildirUser {
    /// The user.
    pub address: Address,
    /// INBOX first, then every folder the store can name.
    pub folders: Vec<MaildirFolder>,
    /// The subscribed mailboxes.
    pub subscriptions: Vec<MailboxName>,
    /// The limits of `maildirsize`.
    pub quota: Option<Quota>,
    /// Folders skipped: their names map to no mailbox.
    pub skipped: Vec<String>,
}

impl MaildirUser {
    /// Reads a user's Maildir++ at `path`: `Ok(None)` when there is none (the user never got
    /// mail).
    pub fn read(address: Address, path: &Path) -> Result<Option<Self>, Box<dyn Error>> {
        let Ok(root) = Maildir::open(path) else {
            return Ok(None);
        };
        let mut folders = Vec::new();
        let mut skipped = Vec::new();
        let inbox = root.inbox();
        folders.push(folder(MailboxName::inbox(), inbox)?);
        for f in root.list_folders()? {
            match name_of(&f) {
                Some(name) if !name.is_inbox() => folders.push(folder(name, root.folder(&f)?)?),
                _ => skipped.push(f),
            }
        }
        let subscriptions = root
            .subscriptions()?
            .iter()
            .filter_map(|s| name_of(s))
            .collect();
        let quota = root.quota_usage()?.map(|u| u.quota);
        Ok(Some(Self {
            address,
            folders,
            subscriptions,
            quota,
            skipped,
        }))
    }
}

fn folder(name: MailboxName, maildir: Maildir) -> Result<MaildirFolder, Box<dyn Error>> {
    let state = maildir.sync()?;
    let vanished = std::fs::read_to_string(maildir.path().join(mailwright_maildir::VANISHED_FILE))
        .ok()
        .and_then(|t| VanishedHistory::parse(&t));
    Ok(MaildirFolder {
        name,
        maildir,
        state,
        vanished,
    })
}

/// The users to copy: those named, or every user of the passwd file.
fn users(directory: &Directory, named: &[String]) -> Result<Vec<Address>, Box<dyn Error>> {
    if named.is_empty() {
        return Ok(directory
            .passwd()
            .users()?
            .iter()
            .map(|u| u.parse())
            .collect::<Result<_, _>>()?);
    }
    Ok(named.iter().map(|u| u.parse()).collect::<Result<_, _>>()?)
}

/// Runs `full_server migrate`: copies the mail of `named` users (every user when empty) to
/// `to`, printing a line per user. Fails when a user could not be copied, after trying them
/// all.
pub fn run(
    data_dir: &Path,
    config: &Config,
    directory: &Directory,
    to: Target,
    named: &[String],
    force: bool,
) -> Result<(), Box<dyn Error>> {
    if config.store.url.is_none() && config.store.host.is_none() {
        return Err(
            "[store] names no database: set url or host (backend may stay \"maildir\" \
                    until the copy is done)"
                .into(),
        );
    }
    let users = users(directory, named)?;
    match to {
        Target::Postgres => to_postgres(data_dir, config, directory, &users, force),
        Target::Maildir => Err("--to maildir is not available yet".into()),
    }
}

#[cfg(not(feature = "postgres"))]
fn to_postgres(
    _: &Path,
    _: &Config,
    _: &Directory,
    _: &[Address],
    _: bool,
) -> Result<(), Box<dyn Error>> {
    Err("this build has no PostgreSQL store (cargo feature `postgres`)".into())
}

#[cfg(feature = "postgres")]
fn to_postgres(
    data_dir: &Path,
    config: &Config,
    directory: &Directory,
    users: &[Address],
    force: bool,
) -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = rt.block_on(super::postgres::PostgresStore::connect(
        data_dir,
        &config.store,
    ))?;
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for address in users {
        let user = match MaildirUser::read(address.clone(), &directory.maildir_path(address)) {
            Ok(Some(u)) => u,
            Ok(None) => {
                println!("{address}: no Maildir, nothing to copy");
                continue;
            }
            Err(e) => {
                eprintln!("{address}: reading the Maildir: {e}");
                failed.push(address.to_string());
                continue;
            }
        };
        for f in &user.skipped {
            eprintln!("{address}: folder .{f} skipped: its name maps to no mailbox");
        }
        match store.import_maildir(&user, force) {
            Ok(Some(c)) => println!(
                "{address}: {} mailboxes, {} messages ({} octets), {} subscriptions, \
                 {} expunged UIDs copied to PostgreSQL",
                c.mailboxes, c.messages, c.bytes, c.subscriptions, c.expunged
            ),
            Ok(None) => refused.push(address.to_string()),
            Err(e) => {
                eprintln!("{address}: {e}");
                failed.push(address.to_string());
            }
        }
    }
    drop(store);
    let mut problems = Vec::new();
    if !refused.is_empty() {
        problems.push(format!(
            "already in the database, not copied (--force replaces them): {}",
            refused.join(", ")
        ));
    }
    if !failed.is_empty() {
        problems.push(format!("not copied: {}", failed.join(", ")));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

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
//! - To PostgreSQL: a Maildir++ folder whose name maps to no mailbox (`.INBOX`, an empty
//!   level) stops that user's copy, naming it.
//! - To Maildir: a mailbox whose name a Maildir++ folder cannot hold (a `.` in a level, module
//!   `store::maildir`) or with more than 26 keywords (the letters; the keywords past them are
//!   not written) stops that user's copy, naming the mailbox. The Maildir there, with
//!   `--force`, is renamed to `Maildir.before-migrate.<time>`, not deleted. The metadata files
//!   are written without fsync: the copy is run again after a crash.

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
    /// Folders whose names map to no mailbox (such a user is not copied).
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
    // Read before the sync: a process's first sync of a folder moves HIGHESTMODSEQ above the
    // durable reservation (the maildir crate's `uids` module), which no client has seen.
    let written = std::fs::read_to_string(maildir.path().join(mailwright_maildir::MODSEQ_FILE))
        .ok()
        .and_then(|t| highest_written(&t));
    let mut state = maildir.sync()?;
    if let Some((uid_validity, highest)) = written
        && uid_validity == state.uid_validity
    {
        // Never below a MODSEQ the sync handed out for a change it found.
        state.highest_modseq = state
            .messages
            .iter()
            .map(|m| m.modseq)
            .fold(highest, u64::max);
    }
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

/// The UIDVALIDITY and the last HIGHESTMODSEQ written in a `mailwright-modseq` file (its
/// header, its `H` lines, and every MODSEQ it gives a UID): `None` when it is torn or not ours.
fn highest_written(text: &str) -> Option<(u32, u64)> {
    if !text.ends_with('\n') {
        return None;
    }
    let mut lines = text.lines();
    let mut header = lines.next()?.split(' ');
    if header.next()? != "1" {
        return None;
    }
    let uid_validity = header.next()?.strip_prefix('V')?.parse().ok()?;
    let mut highest: u64 = header.next()?.strip_prefix('H')?.parse().ok()?;
    for line in lines {
        if let Some(rest) = line.strip_prefix('H') {
            highest = highest.max(rest.split(' ').next()?.parse().ok()?);
        } else if let Some((nums, _)) = line.split_once(" :") {
            highest = highest.max(nums.split_once(' ')?.1.parse().ok()?);
        }
    }
    Some((uid_validity, highest))
}

/// The users to copy: those named, or every user of the passwd file.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // used by the database directory
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
    copy(data_dir, config, directory, to, named, force)
}

#[cfg(not(feature = "postgres"))]
fn copy(
    _: &Path,
    _: &Config,
    _: &Directory,
    _: Target,
    _: &[String],
    _: bool,
) -> Result<(), Box<dyn Error>> {
    Err("this build has no PostgreSQL store (cargo feature `postgres`)".into())
}

/// What a copy of several users ends with: `Ok` when every user was copied, else the users
/// refused (`refused_why` says why) and those that failed, named.
#[cfg(feature = "postgres")]
fn outcome(refused_why: &str, refused: &[String], failed: &[String]) -> Result<(), Box<dyn Error>> {
    let mut problems = Vec::new();
    if !refused.is_empty() {
        problems.push(format!("{refused_why}: {}", refused.join(", ")));
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

/// Connects to the database of `[store]` (on a runtime of its own) and copies.
#[cfg(feature = "postgres")]
fn copy(
    data_dir: &Path,
    config: &Config,
    directory: &Directory,
    to: Target,
    named: &[String],
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
    match to {
        Target::Postgres => to_postgres(data_dir, &store, directory, named, force),
        Target::Maildir => to_maildir(data_dir, &store, directory, named, force),
    }
}

#[cfg(feature = "postgres")]
fn to_postgres(
    data_dir: &Path,
    store: &super::postgres::PostgresStore,
    directory: &Directory,
    named: &[String],
    force: bool,
) -> Result<(), Box<dyn Error>> {
    // The passwd file, domains and aliases first (hashes as they are; idempotent), so the
    // users can log in once the server runs on the database.
    let c = super::postgres::copy_files_to_database(data_dir, store)?;
    println!(
        "{} users, {} domains, {} aliases copied to PostgreSQL",
        c.users, c.domains, c.aliases
    );
    let users = users(directory, named)?;
    let users = users.as_slice();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for address in users {
        // Refused before reading: each process's first sync of a folder moves its MODSEQs on.
        if !force && store.has_account(&address.to_string())? {
            refused.push(address.to_string());
            continue;
        }
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
        if !user.skipped.is_empty() {
            // Copying the rest would leave mail behind unnoticed: the user is not copied.
            for f in &user.skipped {
                eprintln!("{address}: folder .{f} names no mailbox: rename it first");
            }
            failed.push(address.to_string());
            continue;
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
    outcome(
        "already in the database, not copied (--force replaces them)",
        &refused,
        &failed,
    )
}

#[cfg(feature = "postgres")]
fn to_maildir(
    data_dir: &Path,
    store: &super::postgres::PostgresStore,
    directory: &Directory,
    named: &[String],
    force: bool,
) -> Result<(), Box<dyn Error>> {
    // The database's users, domains and aliases into the files first (idempotent; what only
    // the files have is kept); the users to copy are then the passwd file's.
    let c = super::postgres::copy_database_to_files(store, data_dir)?;
    println!(
        "{} users, {} domains, {} aliases copied to the files",
        c.users, c.domains, c.aliases
    );
    let files = Directory::open(data_dir, std::time::Duration::ZERO);
    let users = users(&files, named)?;
    let users = users.as_slice();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for address in users {
        let path = directory.maildir_path(address);
        let user = match store.export_user(&address.to_string()) {
            Ok(Some(u)) => u,
            Ok(None) => {
                println!("{address}: not in the database, nothing to copy");
                continue;
            }
            Err(e) => {
                eprintln!("{address}: {e}");
                failed.push(address.to_string());
                continue;
            }
        };
        if path.exists() {
            if !force {
                refused.push(address.to_string());
                continue;
            }
            // Nothing is deleted: the Maildir there is kept beside, under another name.
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let aside = path.with_file_name(format!("Maildir.before-migrate.{secs}"));
            std::fs::rename(&path, &aside)?;
            println!("{address}: the Maildir there is now {}", aside.display());
        }
        match export::write_user(store, &path, &user) {
            Ok(c) => println!(
                "{address}: {} mailboxes, {} messages ({} octets), {} subscriptions, \
                 {} expunged UIDs copied to Maildir",
                c.mailboxes, c.messages, c.bytes, c.subscriptions, c.expunged
            ),
            Err(e) => {
                eprintln!("{address}: {e} (the partial copy is at {})", path.display());
                failed.push(address.to_string());
            }
        }
    }
    outcome(
        "a Maildir exists, not copied (--force keeps it aside and copies)",
        &refused,
        &failed,
    )
}

/// Writing a user's mail from the database into a new Maildir++, with the metadata files the
/// maildir crate reads (Dovecot's `dovecot-uidlist` and `dovecot-keywords`, our MODSEQ file
/// and its reservation, the expunge history, the first-recent file).
#[cfg(test)]
mod tests {
    use super::highest_written;

    #[test]
    fn the_last_highestmodseq_written_wins() {
        let text = "1 V7 H5 R65541\n1 3 :S\n2 6 :\nC1.2\nH9 R65541\n-1\nX\n";
        assert_eq!(highest_written(text), Some((7, 9)));
        assert_eq!(highest_written("1 V7 H5\n3 8 :F\n"), Some((7, 8)));
        assert_eq!(highest_written("1 V7 H5\n3 8 :F"), None, "torn");
        assert_eq!(highest_written("2 V7 H5\n"), None);
    }
}

#[cfg(feature = "postgres")]
mod export {
    use std::error::Error;
    use std::fmt::Write as _;
    use std::path::Path;

    use mailwright_maildir::{
        DeliveryOptions, Flag as MdFlag, Keywords, MODSEQ_FILE, MODSEQ_FLOOR_FILE, Maildir, Quota,
        RECENT_PREFIX, UIDLIST, UidList, UidRecord, VANISHED_FILE, VanishedHistory,
    };

    use super::Copied;
    use crate::store::maildir::folder_of;
    use crate::store::postgres::{PgMailbox, PgUser, PostgresStore};
    use crate::store::types::MailboxName;

    const FORWARDED: &str = "$Forwarded";

    pub(super) fn write_user(
        store: &PostgresStore,
        path: &Path,
        user: &PgUser,
    ) -> Result<Copied, Box<dyn Error>> {
        // Every name is checked before anything is written.
        let mut folders = Vec::with_capacity(user.mailboxes.len());
        for mb in &user.mailboxes {
            let name = MailboxName::new(&mb.name)?;
            let folder = folder_of(&name).map_err(|e| {
                format!(
                    "mailbox {:?}: {e}; a Maildir++ folder cannot hold it: rename it first",
                    mb.name
                )
            })?;
            if mb
                .keywords
                .iter()
                .filter(|k| !k.eq_ignore_ascii_case(FORWARDED))
                .count()
                > 26
            {
                return Err(format!(
                    "mailbox {:?} defines more than 26 keywords: not copied to Maildir",
                    mb.name
                )
                .into());
            }
            folders.push(folder);
        }
        let root = Maildir::create(path)?;
        let mut copied = Copied::default();
        for (mb, folder) in user.mailboxes.iter().zip(&folders) {
            let md = match folder {
                None => root.inbox(),
                Some(f) => match root.folder(f) {
                    Ok(md) => md,
                    Err(_) => root.create_folder(f)?,
                },
            };
            write_folder(store, &md, mb, &mut copied)?;
        }
        for sub in &user.subscriptions {
            let Ok(name) = MailboxName::new(sub) else {
                continue;
            };
            let Ok(folder) = folder_of(&name) else {
                continue;
            };
            root.subscribe(folder.as_deref().unwrap_or("INBOX"))?;
            copied.subscriptions += 1;
        }
        if user.limits.0.is_some() || user.limits.1.is_some() {
            root.set_quota(Quota {
                bytes: user.limits.0,
                messages: user.limits.1,
            })?;
        }
        Ok(copied)
    }

    fn write_folder(
        store: &PostgresStore,
        md: &Maildir,
        mb: &PgMailbox,
        copied: &mut Copied,
    ) -> Result<(), Box<dyn Error>> {
        if !md.scan()?.is_empty() || md.read_uidlist()?.is_some() {
            return Err(format!("mailbox {:?}: its Maildir folder is not empty", mb.name).into());
        }
        let mut keywords = Keywords::default();
        for k in &mb.keywords {
            if !k.eq_ignore_ascii_case(FORWARDED) {
                keywords.get_or_add(k)?;
            }
        }
        let mut list = UidList::new(mb.uid_validity, None);
        list.next_uid = mb.uid_next;
        let mut modseqs = String::new();
        let highest = mb
            .messages
            .iter()
            .map(|m| m.modseq)
            .chain(mb.expunged.iter().map(|e| e.1))
            .fold(mb.highest_modseq, u64::max);
        // The reservation at HIGHESTMODSEQ itself: nothing above it was handed out in this new
        // folder, and the next process continues from there (no jump, unlike a restart).
        let reserved = highest;
        for m in &mb.messages {
            let mut flags = crate::store::maildir::flags_to_maildir(m.flags);
            for k in &m.keywords {
                if k.eq_ignore_ascii_case(FORWARDED) {
                    flags.insert(MdFlag::Passed);
                } else {
                    let (i, _) = keywords.get_or_add(k)?;
                    flags.insert_keyword_index(i);
                }
            }
            let body = store.body(&m.blob)?;
            let delivered = md.deliver_with(
                &body,
                DeliveryOptions {
                    flags: Some(flags),
                    ignore_quota: true,
                    internal_date: Some(m.internal_date),
                    ..DeliveryOptions::default()
                },
            )?;
            list.records.push(UidRecord {
                uid: m.uid,
                extensions: Vec::new(),
                file_name: delivered.entry.file_name().to_owned(),
            });
            let _ = writeln!(
                modseqs,
                "{} {} :{}",
                m.uid,
                m.modseq,
                delivered.entry.flags()
            );
            copied.messages += 1;
            copied.bytes += body.len() as u64;
        }
        let dir = md.path();
        std::fs::write(
            dir.join(mailwright_maildir::KEYWORDS_FILE),
            keywords.encode(),
        )?;
        std::fs::write(
            dir.join(MODSEQ_FILE),
            format!("1 V{} H{highest} R{reserved}\n{modseqs}", mb.uid_validity),
        )?;
        std::fs::write(dir.join(MODSEQ_FLOOR_FILE), format!("{reserved}\n"))?;
        let mut lines: Vec<(u64, Vec<(u32, u32)>)> = Vec::new();
        let mut by_modseq = std::collections::BTreeMap::<u64, Vec<u32>>::new();
        for (uid, modseq) in &mb.expunged {
            by_modseq.entry(*modseq).or_default().push(*uid);
        }
        for (modseq, mut uids) in by_modseq {
            uids.sort_unstable();
            let mut ranges: Vec<(u32, u32)> = Vec::new();
            for u in uids {
                match ranges.last_mut() {
                    Some((_, end)) if end.checked_add(1) == Some(u) => *end = u,
                    _ => ranges.push((u, u)),
                }
            }
            copied.expunged += ranges
                .iter()
                .map(|(a, b)| u64::from(b - a) + 1)
                .sum::<u64>();
            lines.push((modseq, ranges));
        }
        let history = VanishedHistory {
            uid_validity: mb.uid_validity,
            floor: 0,
            lines,
        };
        std::fs::write(dir.join(VANISHED_FILE), history.encode())?;
        std::fs::File::create(dir.join(format!(
            "{RECENT_PREFIX}{}.{}",
            mb.uid_validity,
            mb.first_recent.min(mb.uid_next)
        )))?;
        // The uidlist last: a sync before it would number the files itself.
        std::fs::write(dir.join(UIDLIST), list.encode())?;
        copied.mailboxes += 1;
        Ok(())
    }
}

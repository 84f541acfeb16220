//! Virtual domains, users and aliases: who receives mail here.
//!
//! Three files in the data directory, each re-read when it changes:
//! - `domains`: one local domain per line;
//! - `passwd`: the users (see [`crate::core::auth`]);
//! - `aliases`: `alias@domain: target, target ...`; `@domain: target` is the domain's catch-all.
//!
//! Or, with `[store] directory = "database"`, the same in tables of the store's database
//! ([`DirectoryDb`]), which every node shares; what was read is kept for `[auth] cache_ttl_secs`
//! (or until the database says it changed), so an SMTP `RCPT` or a login does not always ask the
//! database.
//!
//! Addresses are compared in lower case, and `user+tag@domain` delivers to `user@domain` when no user
//! or alias has the full name. Names are restricted to a safe alphabet so that they can never escape
//! the mail directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::core::auth::{AuthError, PasswdFile, VerifyCache};
use crate::core::watched::Watched;

/// A mailbox address `local@domain`, lower case, validated to be safe as a path component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

/// Why a string is not an acceptable address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// No `@`, or an empty side.
    #[error("{0:?} is not of the form local@domain")]
    Form(String),
    /// The local part holds characters outside `a-z 0-9 . _ + -`, or dots in the wrong place.
    #[error("local part of {0:?} is not allowed here (letters, digits, . _ + - only)")]
    Local(String),
    /// The domain is not a host name.
    #[error("domain {0:?} is not a valid domain name")]
    Domain(String),
}

impl Address {
    /// The part before `@`.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The address without a `+tag` detail, if it has one.
    pub fn without_detail(&self) -> Option<Self> {
        let (base, _) = self.local.split_once('+')?;
        (!base.is_empty()).then(|| Self {
            local: base.to_owned(),
            domain: self.domain.clone(),
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Validates a domain name (lower-cased): labels of `a-z 0-9 -`, no leading or trailing hyphen.
pub fn parse_domain(s: &str) -> Result<String, AddressError> {
    let domain = s.trim_end_matches('.').to_ascii_lowercase();
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(domain)
    } else {
        Err(AddressError::Domain(s.to_owned()))
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| AddressError::Form(s.to_owned()))?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Form(s.to_owned()));
        }
        let local = local.to_ascii_lowercase();
        let safe = local.len() <= 64
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !safe {
            return Err(AddressError::Local(s.to_owned()));
        }
        Ok(Self {
            local,
            domain: parse_domain(domain)?,
        })
    }
}

/// Errors of the directory files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{path} line {line}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The users file failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// An administrative change was refused.
    #[error("{0}")]
    Refused(String),
    /// The database of the directory failed.
    #[error("directory database: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
}

/// The left side of an alias line: one address, or a whole domain (catch-all).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AliasSource {
    /// `alias@domain`.
    Address(Address),
    /// `@domain`: every address of the domain that is neither a user nor an alias.
    CatchAll(String),
}

impl fmt::Display for AliasSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(a) => a.fmt(f),
            Self::CatchAll(d) => write!(f, "@{d}"),
        }
    }
}

impl FromStr for AliasSource {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix('@') {
            Some(domain) => Ok(Self::CatchAll(parse_domain(domain)?)),
            None => Ok(Self::Address(s.parse()?)),
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> DirectoryError {
    DirectoryError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), DirectoryError> {
    crate::core::datadir::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|source| io_error(path, source))
}

/// Every alias and its targets (full addresses), as the `aliases` file lists them.
pub type AliasMap = BTreeMap<AliasSource, Vec<String>>;

fn parse_domains(path: &Path, text: &str) -> Result<BTreeSet<String>, DirectoryError> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let domain = parse_domain(line).map_err(|e| DirectoryError::Syntax {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        out.insert(domain);
    }
    Ok(out)
}

fn parse_aliases(path: &Path, text: &str) -> Result<AliasMap, DirectoryError> {
    let mut out = AliasMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let syntax = |reason: String| DirectoryError::Syntax {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let (source, targets) = line
            .split_once(':')
            .ok_or_else(|| syntax("expected `alias: target, ...`".to_owned()))?;
        let source: AliasSource = source
            .trim()
            .parse()
            .map_err(|e: AddressError| syntax(e.to_string()))?;
        let mut list = Vec::new();
        for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            // Targets are full addresses; whether they are local is checked at resolution and by
            // `check-config`, since the domains file may change independently.
            let address: Address = target
                .parse()
                .map_err(|e: AddressError| syntax(e.to_string()))?;
            list.push(address.to_string());
        }
        if list.is_empty() {
            return Err(syntax(format!("alias {source} has no target")));
        }
        out.entry(source).or_default().extend(list);
    }
    Ok(out)
}

/// Where mail for one recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Deliver to these local users' mailboxes (deduplicated, at least one).
    Local(Vec<Address>),
    /// The domain is local but nobody has this address.
    UnknownUser,
    /// The domain is not one of ours: relaying is refused.
    NotLocal,
    /// An alias forwards (at least partly) outside the local domains: deliver to `local` here and
    /// send to `external` through the outbound queue.
    Forward {
        /// Local users among the targets (deduplicated, possibly none).
        local: Vec<Address>,
        /// Addresses in other domains (deduplicated, at least one).
        external: Vec<Address>,
    },
}

/// Users, domains and aliases kept in a database (the PostgreSQL store's tables), as a
/// [`Directory`] with the database backend asks for them. Calls block; the directory calls them
/// off the async threads, as it reads its files.
pub trait DirectoryDb: Send + Sync + fmt::Debug {
    /// The local domains and every alias.
    fn domains_and_aliases(&self) -> Result<(BTreeSet<String>, AliasMap), DirectoryError>;
    /// A user's stored `{SCHEME}hash`, or `None` when there is no such user.
    fn password(&self, user: &str) -> Result<Option<String>, DirectoryError>;
    /// Every user, sorted.
    fn users(&self) -> Result<Vec<String>, DirectoryError>;
    /// Adds a user (refused if they exist), or with `replace` changes an existing user's hash.
    fn set_user(&self, user: &Address, hashed: &str, replace: bool) -> Result<(), DirectoryError>;
    /// Removes a user (refused if there is none).
    fn remove_user(&self, user: &Address) -> Result<(), DirectoryError>;
    /// Adds a local domain; `false` when it was one already.
    fn add_domain(&self, domain: &str) -> Result<bool, DirectoryError>;
    /// Adds targets (full addresses) to an alias, making it if needed; targets it has are kept
    /// once.
    fn add_alias(&self, source: &AliasSource, targets: &[String]) -> Result<(), DirectoryError>;
    /// Removes an alias; `false` when there was none.
    fn remove_alias(&self, source: &AliasSource) -> Result<bool, DirectoryError>;
    /// A number that changes when another node (or process) changed the tables, so what was
    /// cached is read again at once; a database that cannot tell returns a constant and the
    /// cache lasts its time to live.
    fn generation(&self) -> u64 {
        0
    }
}

/// The domains and aliases as last read from the database.
#[derive(Debug)]
struct Tables {
    domains: Arc<BTreeSet<String>>,
    aliases: Arc<AliasMap>,
}

/// A value read from the database: when, at which generation.
type Cached<T> = (Instant, u64, T);

/// What a database directory keeps: the tables and each user's hash, each for `ttl` and while
/// the database's generation stays the same.
struct DbCache {
    db: Arc<dyn DirectoryDb>,
    ttl: Duration,
    tables: Mutex<Option<Cached<Arc<Tables>>>>,
    passwords: Mutex<BTreeMap<String, Cached<Option<String>>>>,
    verify: VerifyCache,
}

/// Users whose hashes are kept at most; past it the cache starts over.
const MAX_CACHED_USERS: usize = 10_000;

impl fmt::Debug for DbCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbCache")
            .field("db", &self.db)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DbCache {
    fn fresh(&self, at: Instant, generation: u64) -> bool {
        !self.ttl.is_zero() && at.elapsed() < self.ttl && generation == self.db.generation()
    }

    fn tables(&self) -> Result<Arc<Tables>, DirectoryError> {
        if let Some((at, generation, tables)) =
            &*self.tables.lock().unwrap_or_else(PoisonError::into_inner)
            && self.fresh(*at, *generation)
        {
            return Ok(tables.clone());
        }
        let generation = self.db.generation();
        let (domains, aliases) = self.db.domains_and_aliases()?;
        let tables = Arc::new(Tables {
            domains: Arc::new(domains),
            aliases: Arc::new(aliases),
        });
        *self.tables.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), generation, tables.clone()));
        Ok(tables)
    }

    fn password(&self, user: &str) -> Result<Option<String>, DirectoryError> {
        if let Some((at, generation, stored)) = self
            .passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            && self.fresh(*at, *generation)
        {
            return Ok(stored.clone());
        }
        let generation = self.db.generation();
        let stored = self.db.password(user)?;
        if !self.ttl.is_zero() {
            let mut cache = self
                .passwords
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= MAX_CACHED_USERS {
                cache.clear();
            }
            cache.insert(
                user.to_owned(),
                (Instant::now(), generation, stored.clone()),
            );
        }
        Ok(stored)
    }

    /// Forgets everything read: this node changed the tables.
    fn changed(&self) {
        *self.tables.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The directory: domains, users and aliases of one data directory, or of the database.
#[derive(Debug)]
pub struct Directory {
    domains: Watched<BTreeSet<String>>,
    aliases: Watched<AliasMap>,
    passwd: PasswdFile,
    mail_root: PathBuf,
    db: Option<DbCache>,
}

/// How deep alias chains may go before resolution gives up (a loop guard).
const MAX_ALIAS_DEPTH: usize = 8;

impl Directory {
    /// Opens the directory files of `data_dir`.
    pub fn open(data_dir: &Path, cache_ttl: std::time::Duration) -> Self {
        Self {
            domains: Watched::new(data_dir.join("domains")),
            aliases: Watched::new(data_dir.join("aliases")),
            passwd: PasswdFile::new(data_dir.join("passwd"), cache_ttl),
            mail_root: data_dir.join("mail"),
            db: None,
        }
    }

    /// The directory of a database (`[store] directory = "database"`); what is read is kept for
    /// `cache_ttl`. Maildir paths are still under `data_dir`.
    pub fn with_database(
        data_dir: &Path,
        cache_ttl: std::time::Duration,
        db: Arc<dyn DirectoryDb>,
    ) -> Self {
        Self {
            db: Some(DbCache {
                db,
                ttl: cache_ttl,
                tables: Mutex::new(None),
                passwords: Mutex::new(BTreeMap::new()),
                verify: VerifyCache::new(cache_ttl),
            }),
            ..Self::open(data_dir, cache_ttl)
        }
    }

    /// Whether users, domains and aliases are in a database rather than files.
    pub fn is_database(&self) -> bool {
        self.db.is_some()
    }

    /// The passwd file of the data directory: the users of the files backend (with the
    /// database backend it is not read; use [`Directory::users`] and the like).
    pub fn passwd(&self) -> &PasswdFile {
        &self.passwd
    }

    /// Every user, sorted.
    pub fn users(&self) -> Result<Vec<String>, DirectoryError> {
        match &self.db {
            Some(db) => db.db.users(),
            None => Ok(self.passwd.users()?),
        }
    }

    /// Whether `user` (a full address, lower case) exists.
    pub fn contains_user(&self, user: &str) -> Result<bool, DirectoryError> {
        match &self.db {
            Some(db) => Ok(db.password(user)?.is_some()),
            None => Ok(self.passwd.contains(user)?),
        }
    }

    /// A user's stored `{SCHEME}hash`, `None` if there is no such user.
    pub fn password_hash(&self, user: &str) -> Result<Option<String>, DirectoryError> {
        match &self.db {
            Some(db) => db.password(user),
            None => Ok(self.passwd.stored(user)?),
        }
    }

    /// Verifies a login as [`PasswdFile::verify_or_dummy`] does: an unknown user costs a hash
    /// check against `fallback` and is refused. CPU-heavy on a cache miss: call it off the async
    /// threads.
    pub fn verify_or_dummy(
        &self,
        user: &str,
        password: &str,
        fallback: &str,
    ) -> Result<bool, DirectoryError> {
        let Some(db) = &self.db else {
            return Ok(self.passwd.verify_or_dummy(user, password, fallback)?);
        };
        match db.password(user)? {
            Some(stored) => Ok(db.verify.verify(user, &stored, password)),
            None => {
                let _ = crate::core::auth::verify_password(fallback, password);
                Ok(false)
            }
        }
    }

    /// Adds a user with a `{SCHEME}hash` (refused if they exist), or with `replace` changes an
    /// existing user's.
    pub fn set_user(
        &self,
        user: &Address,
        hashed: &str,
        replace: bool,
    ) -> Result<(), DirectoryError> {
        match &self.db {
            Some(db) => {
                let result = db.db.set_user(user, hashed, replace);
                db.changed();
                result
            }
            None => Ok(self.passwd.set(user, hashed, replace)?),
        }
    }

    /// Removes a user. Their mail stays.
    pub fn remove_user(&self, user: &Address) -> Result<(), DirectoryError> {
        match &self.db {
            Some(db) => {
                let result = db.db.remove_user(user);
                db.changed();
                result
            }
            None => Ok(self.passwd.remove(user)?),
        }
    }

    fn domain_set(&self) -> Result<Arc<BTreeSet<String>>, DirectoryError> {
        if let Some(db) = &self.db {
            return Ok(db.tables()?.domains.clone());
        }
        self.domain_set_of_files()
    }

    fn alias_map(&self) -> Result<Arc<AliasMap>, DirectoryError> {
        if let Some(db) = &self.db {
            return Ok(db.tables()?.aliases.clone());
        }
        self.alias_map_of_files()
    }

    /// The local domains.
    pub fn domains(&self) -> Result<BTreeSet<String>, DirectoryError> {
        Ok(self.domain_set()?.as_ref().clone())
    }

    /// Every alias and its targets.
    pub fn aliases(&self) -> Result<AliasMap, DirectoryError> {
        Ok(self.alias_map()?.as_ref().clone())
    }

    /// The Maildir of a user: `mail/<domain>/<local>/Maildir` under the data directory.
    pub fn maildir_path(&self, user: &Address) -> PathBuf {
        // Address validation guarantees both parts are single, safe path components.
        self.mail_root
            .join(user.domain())
            .join(user.local())
            .join("Maildir")
    }

    /// Resolves one recipient address.
    pub fn resolve(&self, address: &Address) -> Result<Resolution, DirectoryError> {
        let domains = self.domain_set()?;
        if !domains.contains(address.domain()) {
            return Ok(Resolution::NotLocal);
        }
        let aliases = self.alias_map()?;
        let mut local = Vec::new();
        let mut external = Vec::new();
        let found = self.expand(address, &domains, &aliases, 0, &mut local, &mut external)?;
        if !found {
            return Ok(Resolution::UnknownUser);
        }
        local.sort();
        local.dedup();
        if !external.is_empty() {
            external.sort();
            external.dedup();
            return Ok(Resolution::Forward { local, external });
        }
        Ok(if local.is_empty() {
            Resolution::UnknownUser
        } else {
            Resolution::Local(local)
        })
    }

    fn expand(
        &self,
        address: &Address,
        domains: &BTreeSet<String>,
        aliases: &AliasMap,
        depth: usize,
        local: &mut Vec<Address>,
        external: &mut Vec<Address>,
    ) -> Result<bool, DirectoryError> {
        if depth > MAX_ALIAS_DEPTH {
            return Ok(false);
        }
        if !domains.contains(address.domain()) {
            external.push(address.clone());
            return Ok(true);
        }
        if self.contains_user(&address.to_string())? {
            local.push(address.clone());
            return Ok(true);
        }
        if let Some(targets) = aliases.get(&AliasSource::Address(address.clone())) {
            return self.expand_all(targets, domains, aliases, depth, local, external);
        }
        // user+tag@domain: the base address's user or alias, before the catch-all.
        if let Some(base) = address.without_detail()
            && self.expand(&base, domains, aliases, depth + 1, local, external)?
        {
            return Ok(true);
        }
        if let Some(targets) = aliases.get(&AliasSource::CatchAll(address.domain().to_owned())) {
            return self.expand_all(targets, domains, aliases, depth, local, external);
        }
        Ok(false)
    }

    fn expand_all(
        &self,
        targets: &[String],
        domains: &BTreeSet<String>,
        aliases: &AliasMap,
        depth: usize,
        local: &mut Vec<Address>,
        external: &mut Vec<Address>,
    ) -> Result<bool, DirectoryError> {
        let mut any = false;
        for target in targets {
            let target: Address = target
                .parse()
                .map_err(|e: AddressError| DirectoryError::Refused(e.to_string()))?;
            any |= self.expand(&target, domains, aliases, depth + 1, local, external)?;
        }
        Ok(any)
    }

    /// Adds a local domain.
    pub fn add_domain(&self, domain: &str) -> Result<String, DirectoryError> {
        let domain = parse_domain(domain).map_err(|e| DirectoryError::Refused(e.to_string()))?;
        let exists = || DirectoryError::Refused(format!("domain {domain} exists already"));
        if let Some(db) = &self.db {
            let added = db.db.add_domain(&domain);
            db.changed();
            return if added? { Ok(domain) } else { Err(exists()) };
        }
        let mut domains = self.domains()?;
        if !domains.insert(domain.clone()) {
            return Err(exists());
        }
        let text = domains
            .iter()
            .fold(String::new(), |text, d| text + d + "\n");
        write_file(self.domains.path(), &text)?;
        Ok(domain)
    }

    /// Adds targets to an alias (creating it).
    pub fn add_alias(
        &self,
        source: &AliasSource,
        targets: &[Address],
    ) -> Result<(), DirectoryError> {
        if let Some(db) = &self.db {
            let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
            let result = db.db.add_alias(source, &targets);
            db.changed();
            return result;
        }
        let mut aliases = self.aliases()?;
        let entry = aliases.entry(source.clone()).or_default();
        for t in targets {
            let t = t.to_string();
            if !entry.contains(&t) {
                entry.push(t);
            }
        }
        self.write_aliases(&aliases)
    }

    /// Removes an alias entirely.
    pub fn remove_alias(&self, source: &AliasSource) -> Result<(), DirectoryError> {
        let none = || DirectoryError::Refused(format!("no alias {source}"));
        if let Some(db) = &self.db {
            let removed = db.db.remove_alias(source);
            db.changed();
            return if removed? { Ok(()) } else { Err(none()) };
        }
        let mut aliases = self.aliases()?;
        if aliases.remove(source).is_none() {
            return Err(none());
        }
        self.write_aliases(&aliases)
    }

    /// Makes each alias of `aliases` have exactly its targets there (others are kept), and adds
    /// each of `domains`, in the files of the data directory in one write each: what a copy
    /// from the database writes.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // used by the database directory
    pub(crate) fn merge_files(
        &self,
        domains: &BTreeSet<String>,
        aliases: &AliasMap,
    ) -> Result<(), DirectoryError> {
        let mut have = self.domain_set_of_files()?.as_ref().clone();
        let before = have.len();
        have.extend(domains.iter().cloned());
        if have.len() != before {
            let text = have.iter().fold(String::new(), |text, d| text + d + "\n");
            write_file(self.domains.path(), &text)?;
        }
        let mut map = self.alias_map_of_files()?.as_ref().clone();
        let mut changed = false;
        for (source, targets) in aliases {
            if map.get(source) != Some(targets) {
                map.insert(source.clone(), targets.clone());
                changed = true;
            }
        }
        if changed {
            self.write_aliases(&map)?;
        }
        Ok(())
    }

    fn domain_set_of_files(&self) -> Result<Arc<BTreeSet<String>>, DirectoryError> {
        let path = self.domains.path();
        self.domains.get(
            |text| parse_domains(path, text),
            |source| io_error(path, source),
        )
    }

    fn alias_map_of_files(&self) -> Result<Arc<AliasMap>, DirectoryError> {
        let path = self.aliases.path();
        self.aliases.get(
            |text| parse_aliases(path, text),
            |source| io_error(path, source),
        )
    }

    fn write_aliases(&self, aliases: &AliasMap) -> Result<(), DirectoryError> {
        let mut text =
            String::from("# alias@domain: target, target   (@domain: target is a catch-all)\n");
        for (source, targets) in aliases {
            text = text + &source.to_string() + ": " + &targets.join(", ") + "\n";
        }
        write_file(self.aliases.path(), &text)
    }

    /// Checks the directory as `check-config` does: every file parses, every user's domain is local,
    /// and no alias points outside the local domains (outbound forwarding is not available yet).
    pub fn check(&self) -> Result<Vec<String>, DirectoryError> {
        let domains = self.domain_set()?;
        let mut problems = Vec::new();
        for user in self.users()? {
            let address: Address = user
                .parse()
                .map_err(|e: AddressError| DirectoryError::Refused(e.to_string()))?;
            if !domains.contains(address.domain()) {
                problems.push(format!(
                    "user {user}: domain {} is not in the domains file",
                    address.domain()
                ));
            }
        }
        for (source, targets) in self.alias_map()?.iter() {
            for target in targets {
                // Targets outside the local domains are forwarded through the outbound queue;
                // only unparsable ones are problems.
                if let Err(e) = target.parse::<Address>() {
                    problems.push(format!("alias {source} -> {target}: {e}"));
                }
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::{Scheme, hash_password};

    fn addr(s: &str) -> Address {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_validated_and_lowercased() {
        assert_eq!(
            addr("Bob.Smith+x@Example.ORG.").to_string(),
            "bob.smith+x@example.org"
        );
        for bad in [
            "bob",
            "@x.org",
            "bob@",
            "../x@x.org",
            "a/b@x.org",
            "a..b@x.org",
            ".a@x.org",
            "a@x..org",
            "a@-x.org",
            "a\0b@x.org",
            "a@x/y",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(addr("a+b@x.org").without_detail(), Some(addr("a@x.org")));
        assert_eq!(addr("+b@x.org").without_detail(), None);
    }

    #[test]
    fn resolution_covers_users_aliases_catch_all_and_relay() {
        let dir = std::env::temp_dir().join(format!("mailwright-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = Directory::open(&dir, std::time::Duration::ZERO);
        d.add_domain("example.org").unwrap();
        d.add_domain("example.net").unwrap();
        let pw = hash_password(Scheme::Plain, "x").unwrap();
        d.passwd()
            .set(&addr("alice@example.org"), &pw, false)
            .unwrap();
        d.passwd()
            .set(&addr("bob@example.org"), &pw, false)
            .unwrap();
        d.add_alias(
            &"team@example.org".parse().unwrap(),
            &[addr("alice@example.org"), addr("bob@example.org")],
        )
        .unwrap();
        d.add_alias(
            &"@example.net".parse().unwrap(),
            &[addr("alice@example.org")],
        )
        .unwrap();
        d.add_alias(
            &"out@example.org".parse().unwrap(),
            &[addr("someone@elsewhere.test")],
        )
        .unwrap();
        d.add_alias(
            &"loop1@example.org".parse().unwrap(),
            &[addr("loop2@example.org")],
        )
        .unwrap();
        d.add_alias(
            &"loop2@example.org".parse().unwrap(),
            &[addr("loop1@example.org")],
        )
        .unwrap();

        let local = |v: &[&str]| Resolution::Local(v.iter().map(|s| addr(s)).collect());
        assert_eq!(
            d.resolve(&addr("alice@example.org")).unwrap(),
            local(&["alice@example.org"])
        );
        assert_eq!(
            d.resolve(&addr("ALICE+lists@example.org")).unwrap(),
            local(&["alice@example.org"])
        );
        assert_eq!(
            d.resolve(&addr("team@example.org")).unwrap(),
            local(&["alice@example.org", "bob@example.org"])
        );
        assert_eq!(
            d.resolve(&addr("anyone@example.net")).unwrap(),
            local(&["alice@example.org"])
        );
        assert_eq!(
            d.resolve(&addr("nobody@example.org")).unwrap(),
            Resolution::UnknownUser
        );
        assert_eq!(
            d.resolve(&addr("x@elsewhere.test")).unwrap(),
            Resolution::NotLocal
        );
        assert_eq!(
            d.resolve(&addr("loop1@example.org")).unwrap(),
            Resolution::UnknownUser
        );
        assert_eq!(
            d.resolve(&addr("out@example.org")).unwrap(),
            Resolution::Forward {
                local: vec![],
                external: vec![addr("someone@elsewhere.test")]
            }
        );
        assert!(
            d.check().unwrap().is_empty(),
            "forwarding outside is allowed"
        );
        assert_eq!(
            d.maildir_path(&addr("alice@example.org")),
            dir.join("mail/example.org/alice/Maildir")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A database directory in memory that counts its reads.
    #[derive(Debug, Default)]
    struct FakeDb {
        users: Mutex<BTreeMap<String, String>>,
        domains: Mutex<BTreeSet<String>>,
        reads: std::sync::atomic::AtomicUsize,
        generation: std::sync::atomic::AtomicU64,
    }

    impl DirectoryDb for FakeDb {
        fn domains_and_aliases(&self) -> Result<(BTreeSet<String>, AliasMap), DirectoryError> {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok((self.domains.lock().unwrap().clone(), AliasMap::new()))
        }
        fn password(&self, user: &str) -> Result<Option<String>, DirectoryError> {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(self.users.lock().unwrap().get(user).cloned())
        }
        fn users(&self) -> Result<Vec<String>, DirectoryError> {
            Ok(self.users.lock().unwrap().keys().cloned().collect())
        }
        fn set_user(
            &self,
            user: &Address,
            hashed: &str,
            _replace: bool,
        ) -> Result<(), DirectoryError> {
            self.users
                .lock()
                .unwrap()
                .insert(user.to_string(), hashed.to_owned());
            Ok(())
        }
        fn remove_user(&self, user: &Address) -> Result<(), DirectoryError> {
            self.users.lock().unwrap().remove(&user.to_string());
            Ok(())
        }
        fn add_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
            Ok(self.domains.lock().unwrap().insert(domain.to_owned()))
        }
        fn add_alias(&self, _: &AliasSource, _: &[String]) -> Result<(), DirectoryError> {
            Ok(())
        }
        fn remove_alias(&self, _: &AliasSource) -> Result<bool, DirectoryError> {
            Ok(false)
        }
        fn generation(&self) -> u64 {
            self.generation.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    #[test]
    fn a_database_directory_caches_reads_until_a_change_or_a_new_generation() {
        let db = Arc::new(FakeDb::default());
        let d = Directory::with_database(
            Path::new("/nonexistent"),
            Duration::from_mins(5),
            db.clone(),
        );
        let reads = || db.reads.load(std::sync::atomic::Ordering::Relaxed);
        d.add_domain("example.org").unwrap();
        assert!(d.add_domain("example.org").is_err());
        let pw = hash_password(Scheme::Plain, "x").unwrap();
        d.set_user(&addr("alice@example.org"), &pw, false).unwrap();
        let alice = Resolution::Local(vec![addr("alice@example.org")]);
        assert_eq!(d.resolve(&addr("alice@example.org")).unwrap(), alice);
        assert!(
            d.verify_or_dummy("alice@example.org", "x", "{PLAIN}y")
                .unwrap()
        );
        let after_first = reads();
        assert_eq!(d.resolve(&addr("alice@example.org")).unwrap(), alice);
        assert!(
            d.verify_or_dummy("alice@example.org", "x", "{PLAIN}y")
                .unwrap()
        );
        assert_eq!(reads(), after_first, "answered from the cache");
        // Another node removes alice: seen once the database's generation moves on.
        db.users.lock().unwrap().clear();
        assert!(
            d.verify_or_dummy("alice@example.org", "x", "{PLAIN}y")
                .unwrap()
        );
        db.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(
            !d.verify_or_dummy("alice@example.org", "x", "{PLAIN}y")
                .unwrap()
        );
        assert_eq!(
            d.resolve(&addr("alice@example.org")).unwrap(),
            Resolution::UnknownUser
        );
        // A change through this directory is seen at once.
        d.set_user(&addr("bob@example.org"), &pw, false).unwrap();
        assert!(d.contains_user("bob@example.org").unwrap());
        assert_eq!(d.users().unwrap(), ["bob@example.org"]);
        assert!(d.is_database());
    }
}

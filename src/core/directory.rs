//! Virtual domains, users and aliases: who receives mail here.
//!
//! Three files in the data directory, each re-read when it changes:
//! - `domains`: one local domain per line;
//! - `passwd`: the users (see [`crate::core::auth`]);
//! - `aliases`: `alias@domain: target, target ...`; `@domain: target` is the domain's catch-all.
//!
//! Addresses are compared in lower case, and `user+tag@domain` delivers to `user@domain` when no user
//! or alias has the full name. Names are restricted to a safe alphabet so that they can never escape
//! the mail directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::core::auth::{AuthError, PasswdFile};
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

type AliasMap = BTreeMap<AliasSource, Vec<String>>;

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

/// The directory: domains, users and aliases of one data directory.
#[derive(Debug)]
pub struct Directory {
    domains: Watched<BTreeSet<String>>,
    aliases: Watched<AliasMap>,
    passwd: PasswdFile,
    mail_root: PathBuf,
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
        }
    }

    /// The users and passwords.
    pub fn passwd(&self) -> &PasswdFile {
        &self.passwd
    }

    fn domain_set(&self) -> Result<Arc<BTreeSet<String>>, DirectoryError> {
        let path = self.domains.path();
        self.domains.get(
            |text| parse_domains(path, text),
            |source| io_error(path, source),
        )
    }

    fn alias_map(&self) -> Result<Arc<AliasMap>, DirectoryError> {
        let path = self.aliases.path();
        self.aliases.get(
            |text| parse_aliases(path, text),
            |source| io_error(path, source),
        )
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
        if self.passwd.contains(&address.to_string())? {
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
        let mut domains = self.domains()?;
        if !domains.insert(domain.clone()) {
            return Err(DirectoryError::Refused(format!(
                "domain {domain} exists already"
            )));
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
        let mut aliases = self.aliases()?;
        if aliases.remove(source).is_none() {
            return Err(DirectoryError::Refused(format!("no alias {source}")));
        }
        self.write_aliases(&aliases)
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
        for user in self.passwd.users()? {
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
}

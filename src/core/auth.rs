//! Users and passwords: a Dovecot-compatible passwd-file.
//!
//! Lines are `user@domain:{SCHEME}hash` optionally followed by Dovecot's further colon-separated
//! fields (`uid:gid:gecos:home:shell:extra`), which are kept and ignored. Schemes: `ARGON2ID`,
//! `SHA512-CRYPT`, `BLF-CRYPT` and, for tests only, `PLAIN`. The file is re-read when it changes, so
//! admin commands (and editors) take effect without a restart. A verified login is cached in memory for
//! a short time, keyed by an HMAC of the password under a per-process random key, so a busy client does
//! not pay the hash cost on every connection and the cache never holds a password.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};

use crate::core::directory::{Address, AddressError};
use crate::core::watched::Watched;

/// Password schemes understood in the passwd-file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Argon2id in PHC string form (Dovecot `{ARGON2ID}`). The default for new passwords.
    Argon2id,
    /// SHA-512 crypt, `$6$` (Dovecot `{SHA512-CRYPT}`).
    Sha512Crypt,
    /// bcrypt, `$2y$` (Dovecot `{BLF-CRYPT}`).
    BlfCrypt,
    /// The password itself (Dovecot `{PLAIN}`): for tests only.
    Plain,
}

impl Scheme {
    /// The name between braces in the passwd-file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "ARGON2ID",
            Self::Sha512Crypt => "SHA512-CRYPT",
            Self::BlfCrypt => "BLF-CRYPT",
            Self::Plain => "PLAIN",
        }
    }

    /// Looks a scheme up by name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Argon2id,
            Self::Sha512Crypt,
            Self::BlfCrypt,
            Self::Plain,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Errors of the password store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The passwd-file could not be read or written.
    #[error("passwd-file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the passwd-file is malformed.
    #[error("passwd-file line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A user name is not a valid address.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Hashing failed.
    #[error("cannot hash password: {0}")]
    Hash(String),
    /// The user exists already (add) or does not (passwd, del).
    #[error("{0}")]
    User(String),
}

/// Hashes `password` for the passwd-file, returning `{SCHEME}hash`.
pub fn hash_password(scheme: Scheme, password: &str) -> Result<String, AuthError> {
    let hash = match scheme {
        Scheme::Argon2id => {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| AuthError::Hash(e.to_string()))?
                .to_string()
        }
        Scheme::Sha512Crypt => {
            let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT)
                .map_err(|e| AuthError::Hash(format!("{e:?}")))?;
            sha_crypt::sha512_simple(password, &params)
                .map_err(|e| AuthError::Hash(format!("{e:?}")))?
        }
        Scheme::BlfCrypt => bcrypt::hash(password, bcrypt::DEFAULT_COST)
            .map_err(|e| AuthError::Hash(e.to_string()))?,
        Scheme::Plain => password.to_owned(),
    };
    Ok(format!("{{{}}}{hash}", scheme.name()))
}

/// Checks `password` against a stored `{SCHEME}hash`. Unknown schemes never match.
pub fn verify_password(stored: &str, password: &str) -> bool {
    let Some((scheme, hash)) = stored.strip_prefix('{').and_then(|s| s.split_once('}')) else {
        return false;
    };
    match Scheme::from_name(scheme) {
        Some(Scheme::Argon2id) => PasswordHash::new(hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        }),
        Some(Scheme::Sha512Crypt) => sha_crypt::sha512_check(password, hash).is_ok(),
        Some(Scheme::BlfCrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Some(Scheme::Plain) => constant_time_eq(hash.as_bytes(), password.as_bytes()),
        None => false,
    }
}

/// Compares without an early exit, so timing does not tell how much of a secret matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug)]
struct CacheEntry {
    tag: ring::hmac::Tag,
    stored: String,
    at: Instant,
}

/// Verified logins kept for a short time, keyed by an HMAC of the password under a per-process
/// random key (so it never holds a password) and bound to the stored hash they were checked
/// against (so a password change takes effect at once).
pub(crate) struct VerifyCache {
    cache: Mutex<HashMap<String, CacheEntry>>,
    cache_key: ring::hmac::Key,
    cache_ttl: Duration,
}

impl VerifyCache {
    /// An empty cache; `cache_ttl` zero keeps nothing.
    pub(crate) fn new(cache_ttl: Duration) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let cache_key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .expect("the system random generator works");
        Self {
            cache: Mutex::new(HashMap::new()),
            cache_key,
            cache_ttl,
        }
    }

    /// Checks `password` against `user`'s `stored` hash, from the cache when it verified lately.
    pub(crate) fn verify(&self, user: &str, stored: &str, password: &str) -> bool {
        let tag = ring::hmac::sign(&self.cache_key, password.as_bytes());
        if !self.cache_ttl.is_zero() {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(entry) = cache.get(user)
                && entry.stored == stored
                && entry.at.elapsed() < self.cache_ttl
                && constant_time_eq(entry.tag.as_ref(), tag.as_ref())
            {
                return true;
            }
        }
        let ok = verify_password(stored, password);
        if ok && !self.cache_ttl.is_zero() {
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.retain(|_, e| e.at.elapsed() < self.cache_ttl);
            cache.insert(
                user.to_owned(),
                CacheEntry {
                    tag,
                    stored: stored.to_owned(),
                    at: Instant::now(),
                },
            );
        }
        ok
    }
}

/// The passwd-file, re-read whenever it changes on disk.
pub struct PasswdFile {
    users: Watched<HashMap<String, String>>,
    cache: VerifyCache,
}

impl std::fmt::Debug for PasswdFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswdFile")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl PasswdFile {
    /// Opens the passwd-file at `path` (a missing file is an empty user list).
    pub fn new(path: impl Into<PathBuf>, cache_ttl: Duration) -> Self {
        Self {
            users: Watched::new(path.into()),
            cache: VerifyCache::new(cache_ttl),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.users.path()
    }

    /// The current users and their password fields, re-read if the file changed.
    fn current(&self) -> Result<Arc<HashMap<String, String>>, AuthError> {
        self.users.get(
            |text| {
                Ok(parse_passwd(text)?
                    .into_iter()
                    .map(|(u, p, _)| (u, p))
                    .collect())
            },
            |source| AuthError::Io {
                path: self.path().to_owned(),
                source,
            },
        )
    }

    /// Every user, sorted.
    pub fn users(&self) -> Result<Vec<String>, AuthError> {
        let mut users: Vec<String> = self.current()?.keys().cloned().collect();
        users.sort();
        Ok(users)
    }

    /// A user's stored password field (`{SCHEME}hash`), `None` if there is no such user.
    pub fn stored(&self, user: &str) -> Result<Option<String>, AuthError> {
        Ok(self.current()?.get(user).cloned())
    }

    /// Whether `user` (a full address, lower case) exists.
    pub fn contains(&self, user: &str) -> Result<bool, AuthError> {
        Ok(self.current()?.contains_key(user))
    }

    /// Verifies a login. CPU-heavy on a cache miss: call it off the async threads.
    pub fn verify(&self, user: &str, password: &str) -> Result<bool, AuthError> {
        let Some(stored) = self.current()?.get(user).cloned() else {
            return Ok(false);
        };
        Ok(self.cache.verify(user, &stored, password))
    }

    /// [`PasswdFile::verify`], except that for a user who does not exist the password is checked
    /// against another user's stored hash (or `fallback` when there is none) and the answer is
    /// `false`: an unknown user costs what a wrong password does, so timing does not tell which
    /// user names exist.
    pub fn verify_or_dummy(
        &self,
        user: &str,
        password: &str,
        fallback: &str,
    ) -> Result<bool, AuthError> {
        let users = self.current()?;
        if users.contains_key(user) {
            return self.verify(user, password);
        }
        let stored = users.values().next().map_or(fallback, String::as_str);
        let _ = verify_password(stored, password);
        Ok(false)
    }

    /// Adds a user, or replaces their password when `replace` is set. Atomic on disk.
    pub fn set(&self, user: &Address, hashed: &str, replace: bool) -> Result<(), AuthError> {
        let name = user.to_string();
        self.rewrite(|lines| {
            let existing = lines.iter().position(|(u, _, _)| *u == name);
            match (existing, replace) {
                (Some(_), false) => Err(AuthError::User(format!("user {name} exists already"))),
                (None, true) => Err(AuthError::User(format!("no user {name}"))),
                (Some(i), true) => {
                    hashed.clone_into(&mut lines[i].1);
                    Ok(())
                }
                (None, false) => {
                    lines.push((name.clone(), hashed.to_owned(), String::new()));
                    Ok(())
                }
            }
        })
    }

    /// Sets the password field of each `(user, {SCHEME}hash)`, adding the users not there, in one
    /// write (the other fields of a line are kept).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // used by the database directory
    pub(crate) fn set_many(&self, entries: &[(String, String)]) -> Result<(), AuthError> {
        self.rewrite(|lines| {
            for (user, hashed) in entries {
                match lines.iter_mut().find(|(u, _, _)| u == user) {
                    Some(line) => hashed.clone_into(&mut line.1),
                    None => lines.push((user.clone(), hashed.clone(), String::new())),
                }
            }
            Ok(())
        })
    }

    /// Removes a user. Their mail stays on disk.
    pub fn remove(&self, user: &Address) -> Result<(), AuthError> {
        let name = user.to_string();
        self.rewrite(|lines| {
            let before = lines.len();
            lines.retain(|(u, _, _)| *u != name);
            if lines.len() == before {
                Err(AuthError::User(format!("no user {name}")))
            } else {
                Ok(())
            }
        })
    }

    fn rewrite(
        &self,
        change: impl FnOnce(&mut Vec<(String, String, String)>) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let io = |source| AuthError::Io {
            path: self.path().to_owned(),
            source,
        };
        let text = match std::fs::read_to_string(self.path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let mut lines = parse_passwd(&text)?;
        change(&mut lines)?;
        let mut out = String::new();
        for (user, pass, rest) in &lines {
            out.push_str(user);
            out.push(':');
            out.push_str(pass);
            out.push_str(if rest.is_empty() { "::::::" } else { rest });
            out.push('\n');
        }
        crate::core::datadir::write_atomic(self.path(), out.as_bytes(), 0o600).map_err(io)
    }
}

/// Parses passwd-file text into (user, password field, rest of the line starting with ':').
fn parse_passwd(text: &str) -> Result<Vec<(String, String, String)>, AuthError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = |reason: &str| AuthError::Syntax {
            line: i + 1,
            reason: reason.to_owned(),
        };
        let (user, rest) = line
            .split_once(':')
            .ok_or_else(|| syntax("expected user:password"))?;
        let (pass, tail) = match rest.find(':') {
            Some(p) => (&rest[..p], &rest[p..]),
            None => (rest, ""),
        };
        let address: Address = user
            .parse()
            .map_err(|e: AddressError| syntax(&e.to_string()))?;
        out.push((address.to_string(), pass.to_owned(), tail.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_round_trips() {
        for scheme in [
            Scheme::Argon2id,
            Scheme::Sha512Crypt,
            Scheme::BlfCrypt,
            Scheme::Plain,
        ] {
            let stored = hash_password(scheme, "s3cret pass").unwrap();
            assert!(
                stored.starts_with(&format!("{{{}}}", scheme.name())),
                "{stored}"
            );
            assert!(verify_password(&stored, "s3cret pass"), "{scheme:?}");
            assert!(!verify_password(&stored, "s3cret pasS"), "{scheme:?}");
        }
        assert!(!verify_password("{MD5}abc", "abc"));
        assert!(!verify_password("nobraces", "nobraces"));
    }

    #[test]
    fn dovecot_hashes_verify() {
        // Produced by Dovecot 2.3.19's `doveadm pw -s <SCHEME> -p secret`.
        let sha = "{SHA512-CRYPT}$6$jccvcK09ptCNWy.A$O5BcFeQZy/G9k2vNssQvfjOFMFtI00ghPuY8HsopnmumHhWPPJHzb8d2MG.WR8LpJQLhx9h2gsZzNTwslZj5f0";
        assert!(verify_password(sha, "secret"));
        let blf = "{BLF-CRYPT}$2y$05$xm75SsfxpdqBRckbQFgXBetODXWg2/yIcJ.VC0EB1mzqZRZ0ReH4W";
        assert!(verify_password(blf, "secret"));
        let argon = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$3bng0AcFTAk7QKkpNg5fTQ$wl/jtzJnfW6Uv8hskiSdqiueIZj6+Ay4HHRvK0GIyh0";
        assert!(verify_password(argon, "secret"));
        assert!(!verify_password(argon, "Secret"));
    }

    #[test]
    fn file_is_reread_when_changed_and_cache_follows_password_changes() {
        let dir = tempdir();
        let path = dir.join("passwd");
        let file = PasswdFile::new(&path, Duration::from_mins(1));
        assert!(file.users().unwrap().is_empty());
        let alice: Address = "Alice@Example.ORG".parse().unwrap();
        file.set(&alice, &hash_password(Scheme::Plain, "one").unwrap(), false)
            .unwrap();
        assert!(file.set(&alice, "{PLAIN}x", false).is_err());
        assert!(file.verify("alice@example.org", "one").unwrap());
        assert!(file.verify("alice@example.org", "one").unwrap(), "cached");
        // Same length, so only the mtime tells the change: wait for a coarse clock to tick.
        std::thread::sleep(Duration::from_millis(20));
        file.set(&alice, &hash_password(Scheme::Plain, "two").unwrap(), true)
            .unwrap();
        assert!(
            !file.verify("alice@example.org", "one").unwrap(),
            "old password refused"
        );
        assert!(file.verify("alice@example.org", "two").unwrap());
        std::fs::write(&path, "bob@example.org:{PLAIN}pw:1000:1000::/home/bob::\n").unwrap();
        assert_eq!(file.users().unwrap(), ["bob@example.org"]);
        assert!(file.verify("bob@example.org", "pw").unwrap());
        file.remove(&"bob@example.org".parse().unwrap()).unwrap();
        assert!(file.users().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mailwright-auth-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

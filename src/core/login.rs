//! The one login path of every service (IMAP LOGIN/AUTHENTICATE, POP3 USER/PASS/AUTH, submission
//! AUTH), so that it cannot be turned against the server:
//!
//! - an address past its failure budget (`[abuse] auth_failures_per_ip`) is refused before any
//!   password is checked;
//! - password hashing runs off the async threads, at most one hash per core at a time, and only a
//!   bounded number of logins wait for their turn (the rest are refused as a temporary failure), so
//!   a flood of logins costs bounded CPU and memory (an Argon2id check holds 19 MiB);
//! - an unknown user costs the same as a wrong password: the password is checked against a dummy
//!   hash of the default scheme, and both wait the same failure delay, so replies do not tell
//!   which user names exist;
//! - every failure is one log line, `login failed client=<address> user="<name>"` (the line
//!   `contrib/fail2ban/filter.d/mailwright.conf` matches), and a refusal of a blocked address
//!   `login refused: too many failures from this address client=<address> ...`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailwright_sansio::Secret;
use tokio::sync::Semaphore;

use crate::core::abuse::Abuse;
use crate::core::directory::{Address, Directory};
use crate::core::net::Peer;

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The credentials are right: the session belongs to this user.
    Accepted(Address),
    /// Wrong user name or password (the two are not told apart). The failure delay has passed.
    Refused,
    /// The client's address is past its failure budget: refused without checking the password.
    Blocked,
    /// Too many logins are waiting for a password check: try again later.
    Busy,
    /// The user list could not be read: try again later.
    Unavailable,
}

/// Logins of every service.
#[derive(Debug)]
pub struct Logins {
    hashing: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    failure_delay: Duration,
    /// A hash of a random password in the default scheme, checked for unknown users.
    dummy: Arc<str>,
}

impl Logins {
    /// At most `concurrent_hashes` password checks at once (at least one) and `max_waiting`
    /// logins waiting for one; failures answered after `failure_delay`.
    pub fn new(concurrent_hashes: usize, max_waiting: usize, failure_delay: Duration) -> Self {
        let random: String = {
            use ring::rand::SecureRandom;
            let mut bytes = [0u8; 18];
            let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        };
        let dummy = crate::core::auth::hash_password(crate::core::auth::Scheme::Argon2id, &random)
            .unwrap_or_else(|_| "{PLAIN}".to_owned() + &random);
        Self {
            hashing: Arc::new(Semaphore::new(concurrent_hashes.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            failure_delay,
            dummy: dummy.into(),
        }
    }

    /// One hash per core, and eight waiting logins per core.
    pub fn for_this_machine(failure_delay: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, 8 * cores, failure_delay)
    }

    /// Checks a login from `peer`. `authzid`, when given, must name the same user (no proxy
    /// authorisation). Counts a failure against the peer's budget and waits the failure delay
    /// before returning [`Outcome::Refused`].
    pub async fn check(
        &self,
        directory: &Arc<Directory>,
        abuse: &Abuse,
        peer: Peer,
        authzid: Option<&str>,
        username: &str,
        password: &Secret<String>,
    ) -> Outcome {
        let client = peer
            .addr
            .map_or_else(|| "local".to_owned(), |a| a.ip().to_string());
        // The user name is the client's text: logged after the client address, escaped and cut
        // short, so it cannot pose as another line or another client (fail2ban reads these).
        let shown: String = username.chars().take(64).collect();
        if abuse.auth_blocked(peer, Instant::now()).is_err() {
            tracing::info!(%client, user = ?shown, "login refused: too many failures from this address");
            return Outcome::Blocked;
        }
        let address = username
            .parse::<Address>()
            .ok()
            .filter(|_| authzid.is_none_or(|z| z.is_empty() || z.eq_ignore_ascii_case(username)));
        let verdict = self
            .verify(directory, address.as_ref(), password.expose())
            .await;
        match verdict {
            Verdict::Right => Outcome::Accepted(address.expect("verified users have an address")),
            Verdict::Busy => Outcome::Busy,
            Verdict::Error => Outcome::Unavailable,
            Verdict::Wrong => {
                tracing::info!(%client, user = ?shown, "login failed");
                abuse.record_auth_failure(peer, Instant::now());
                tokio::time::sleep(self.failure_delay).await;
                Outcome::Refused
            }
        }
    }

    async fn verify(
        &self,
        directory: &Arc<Directory>,
        address: Option<&Address>,
        password: &str,
    ) -> Verdict {
        // Bounded queue: past `max_waiting`, refuse at once rather than pile up hashes.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Verdict::Busy;
        }
        let permit = self.hashing.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(permit) = permit else {
            return Verdict::Error;
        };
        let directory = directory.clone();
        let user = address.map(ToString::to_string);
        let password = password.to_owned();
        let dummy = self.dummy.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result = match &user {
                Some(user) => directory.verify_or_dummy(user, &password, &dummy),
                None => {
                    let _ = crate::core::auth::verify_password(&dummy, &password);
                    Ok(false)
                }
            };
            match result {
                Ok(true) => Verdict::Right,
                Ok(false) => Verdict::Wrong,
                Err(e) => {
                    tracing::warn!("cannot read the user list: {e}");
                    Verdict::Error
                }
            }
        })
        .await
        .unwrap_or(Verdict::Error)
    }
}

enum Verdict {
    Right,
    Wrong,
    Busy,
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Arc<Directory>, Abuse) {
        let dir = tempfile::tempdir().unwrap();
        crate::core::datadir::init(dir.path()).unwrap();
        let directory = Arc::new(Directory::open(dir.path(), Duration::ZERO));
        directory.add_domain("example.test").unwrap();
        let hashed =
            crate::core::auth::hash_password(crate::core::auth::Scheme::Sha512Crypt, "right")
                .unwrap();
        directory
            .passwd()
            .set(&"alice@example.test".parse().unwrap(), &hashed, false)
            .unwrap();
        let config = crate::core::config::Abuse {
            auth_failures_per_ip: 3,
            ..Default::default()
        };
        (dir, directory, Abuse::new(&config))
    }

    fn peer() -> Peer {
        Peer {
            addr: Some("192.0.2.7:1234".parse().unwrap()),
        }
    }

    #[tokio::test]
    async fn right_wrong_unknown_and_blocked() {
        let (_dir, directory, abuse) = setup();
        let logins = Logins::new(1, 4, Duration::ZERO);
        let pw = |s: &str| Secret::new(s.to_owned());
        let check = |user: &'static str, p: &'static str| {
            let (directory, abuse, logins) = (&directory, &abuse, &logins);
            async move {
                logins
                    .check(directory, abuse, peer(), None, user, &pw(p))
                    .await
            }
        };
        assert_eq!(
            check("alice@example.test", "right").await,
            Outcome::Accepted("alice@example.test".parse().unwrap())
        );
        assert_eq!(check("alice@example.test", "wrong").await, Outcome::Refused);
        assert_eq!(
            check("nobody@example.test", "right").await,
            Outcome::Refused
        );
        assert_eq!(check("not an address", "right").await, Outcome::Refused);
        // Three failures: the budget is spent, and even the right password is not checked.
        assert_eq!(check("alice@example.test", "right").await, Outcome::Blocked);
        let other = Peer {
            addr: Some("198.51.100.1:1".parse().unwrap()),
        };
        assert_eq!(
            logins
                .check(
                    &directory,
                    &abuse,
                    other,
                    Some("bob@example.test"),
                    "alice@example.test",
                    &pw("right")
                )
                .await,
            Outcome::Refused,
            "an authzid naming someone else is refused"
        );
    }

    #[tokio::test]
    async fn waiting_logins_are_bounded() {
        let (_dir, directory, _) = setup();
        let logins = Arc::new(Logins::new(1, 2, Duration::ZERO));
        // Every hashing slot is taken: logins queue, and past two they are turned away at once.
        let held = logins.hashing.clone().acquire_owned().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..5u8 {
            let (directory, logins) = (directory.clone(), logins.clone());
            tasks.push(tokio::spawn(async move {
                let abuse = Abuse::new(&crate::core::config::Abuse::default());
                let peer = Peer {
                    addr: Some(std::net::SocketAddr::from(([10, 0, 0, i], 1))),
                };
                let pw = Secret::new("right".to_owned());
                logins
                    .check(&directory, &abuse, peer, None, "alice@example.test", &pw)
                    .await
            }));
            tokio::task::yield_now().await;
        }
        while logins.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let mut busy = 0;
        let mut accepted = 0;
        let mut pending = Vec::new();
        for t in tasks {
            if t.is_finished() {
                assert_eq!(t.await.unwrap(), Outcome::Busy);
                busy += 1;
            } else {
                pending.push(t);
            }
        }
        drop(held);
        for t in pending {
            if matches!(t.await.unwrap(), Outcome::Accepted(_)) {
                accepted += 1;
            }
        }
        assert_eq!((busy, accepted), (3, 2));
    }
}

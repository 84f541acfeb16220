//! POP3 over a user's INBOX (the store's [`Maildrop`]), driving `mailwright-pop3-proto`'s
//! server machine.
//!
//! - Login: USER/PASS and AUTH PLAIN (the machine decodes both into one login event), refused
//!   before TLS except from loopback when the configuration allows it; a refused login waits
//!   `limits.auth_failure_delay_secs` before its reply.
//! - The maildrop is locked by the store for the session (the Maildir store's lock is a file in
//!   the Maildir, so other processes see it too): a second session gets `-ERR [IN-USE]`.
//! - Sizes are the CRLF sizes the store gives, and RETR/TOP stream the message from the store,
//!   converting line ends, never holding it whole. A NUL octet is sent as 0x80, as IMAP sends
//!   it, so sizes do not change.
//! - UIDL is the store's id of the message (stable for the life of the message; shortened to a
//!   digest past POP3's 70 characters); deletions are applied only at QUIT.
//! - Time: the loop passes `Instant::now()` in and sleeps until the machine's `poll_timeout()`; the
//!   machine owns autologout (`limits.idle_timeout_secs`, never under RFC 1939's 10 minutes),
//!   the login timeout (`limits.login_timeout_secs`) and the per-command deadline
//!   (`limits.command_timeout_secs`), and words every reply, timeouts and shutdown
//!   included. A decision the machine refuses is a bug here: it is logged and the session closed.

use std::io;
use std::sync::Arc;

use mailwright_pop3_proto::server::{
    Event, LoginTicket, Maildrop, MaildropEntry, MessageError, Refusal, ServerConfig, ServerSession,
};
use mailwright_pop3_proto::{Atom, Text, Uid, UsageError};
use mailwright_sansio::driver::{Link, Next};
use tracing::{error, info, warn};

use crate::core::directory::Address;
use crate::core::login::Outcome;
use crate::core::net::Peer;
use crate::protocols::Shared;
use crate::protocols::conn::Conn;
use crate::store::{Maildrop as StoreMaildrop, StoreError};

struct Session {
    user: Address,
    /// The locked maildrop; the lock goes with it.
    maildrop: Box<dyn StoreMaildrop>,
}

/// The machine's configuration from the server's.
fn server_config(shared: &Shared, conn: &Conn, peer: Peer) -> ServerConfig {
    let config = &shared.core.config;
    let mut cfg = ServerConfig::default();
    cfg.greeting = Text::lossy(&format!("{} Mailwright POP3 ready", config.hostname));
    cfg.tls_active = conn.is_tls();
    cfg.offer_stls = conn.can_start_tls();
    cfg.require_tls_for_login = !shared.core.login_allowed(conn.is_tls(), peer);
    cfg.sasl_mechanisms = vec![Atom::new("PLAIN").expect("valid atom")];
    cfg.implementation = Some(Text::lossy("Mailwright"));
    // The machine raises it to RFC 1939's 10 minutes if it is shorter.
    cfg.autologout = config.limits.idle_timeout();
    cfg.login_timeout = config.limits.login_timeout();
    cfg.command_timeout = config.limits.command_timeout();
    cfg
}

/// A decision the machine refused: a bug in this service, never the client's doing.
fn misuse(e: UsageError) -> io::Error {
    error!("pop3 machine refused a decision: {e}");
    io::Error::other(e)
}

/// Serves one POP3 connection until QUIT, close or timeout.
pub(crate) async fn serve(mut conn: Conn, peer: Peer, shared: &Arc<Shared>) -> io::Result<()> {
    let mut machine = ServerSession::new(server_config(shared, &conn, peer));
    let mut pop3 = Pop3 {
        shared: shared.clone(),
        peer,
        session: None,
    };
    shared.run(&mut machine, &mut conn, &mut pop3).await
}

/// One POP3 session: what the application knows beside the machine.
struct Pop3 {
    shared: Arc<Shared>,
    peer: Peer,
    /// The logged-in user's maildrop and its lock.
    session: Option<Session>,
}

impl mailwright_sansio::driver::Service<ServerSession, Conn> for Pop3 {
    async fn on_event(
        &mut self,
        machine: &mut ServerSession,
        event: Event,
        link: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        self.event(machine, event, link).await
    }
}

impl Pop3 {
    /// Acts on one event of the machine.
    async fn event(
        &mut self,
        machine: &mut ServerSession,
        event: Event,
        link: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        let shared = &self.shared;
        match event {
            Event::Login {
                authzid,
                user,
                password,
                ticket,
                ..
            } => {
                let result = login(
                    shared,
                    self.peer,
                    authzid.as_deref(),
                    &user,
                    password.expose(),
                )
                .await;
                finish_login(machine, ticket, &mut self.session, result).map_err(misuse)?;
            }
            Event::Retr { message, .. } | Event::Top { message, .. } => {
                let index = message.index();
                let opened = self
                    .session
                    .as_ref()
                    .filter(|s| index < s.maildrop.messages().len())
                    .map(|s| s.maildrop.open(index));
                match opened {
                    Some(Ok(file)) => {
                        let mut file = NulAs0x80(file);
                        loop {
                            let sent =
                                crate::core::blocking(|| machine.send_message_from(&mut file));
                            link.flush(machine).await?;
                            match sent {
                                Ok(true) => break,
                                Ok(false) => {}
                                // The machine has given up on the message already (a reply, or the
                                // connection dropped if streaming had begun).
                                Err(MessageError::Read(e)) => {
                                    warn!("pop3 message {message} unreadable: {e}");
                                    break;
                                }
                                Err(MessageError::Usage(e)) => return Err(misuse(e)),
                                Err(e) => return Err(io::Error::other(e)),
                            }
                        }
                    }
                    _ => machine.refuse_message().map_err(misuse)?,
                }
            }
            Event::StartTls { discarded } => {
                if !discarded.is_empty() {
                    warn!(
                        bytes = discarded.len(),
                        "discarded plaintext pipelined after STLS"
                    );
                }
                // The driver writes the +OK, runs the handshake (bounded) and tells the machine.
                return Ok(Next::StartTls);
            }
            Event::Update { deleted, ticket } => {
                // The maildrop lock goes (with the maildrop) before the reply: a client that
                // reconnects as soon as it reads the +OK must not find its own old session
                // holding it.
                let result = match self.session.take() {
                    Some(s) => {
                        let doomed: Vec<usize> =
                            deleted.iter().map(|d| d.message.index()).collect();
                        let user = s.user;
                        let maildrop = s.maildrop;
                        tokio::task::spawn_blocking(move || maildrop.delete(&doomed))
                            .await
                            .map_err(io::Error::other)?
                            .map(|n| (Some(user), n))
                    }
                    None => Ok((None, 0)),
                };
                match result {
                    Ok((user, n)) => {
                        if let Some(user) = user {
                            info!(user = %user, deleted = n, "pop3 update");
                        }
                        machine.update_done(ticket).map_err(misuse)?;
                    }
                    Err(e) => {
                        warn!("pop3 update failed: {e}");
                        machine.update_failed(ticket).map_err(misuse)?;
                    }
                }
            }
            Event::Closed(reason) => info!(?reason, "pop3 session over"),
            // Neither APOP nor a SASL mechanism other than PLAIN (which the machine runs) is
            // offered.
            other => {
                error!(?other, "pop3 event for something not offered");
                return Err(io::Error::other("pop3 event for something not offered"));
            }
        }
        Ok(Next::Continue)
    }
}

/// A message file read with its NUL octets as 0x80, as IMAP serves them (Dovecot's way): the
/// octet count, and so the sizes LIST and the `+OK` give, stay the same, and a client that stops
/// at NUL (a C string) sees the whole message.
struct NulAs0x80<R>(R);

impl<R: io::Read> io::Read for NulAs0x80<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        for b in &mut buf[..n] {
            if *b == 0 {
                *b = 0x80;
            }
        }
        Ok(n)
    }
}

enum LoginResult {
    Ok(Session),
    /// The login path's verdict.
    Refused(Outcome),
    InUse,
    Failed(String),
}

/// Checks the credentials on the one login path, then locks and lists the maildrop.
async fn login(
    shared: &Arc<Shared>,
    peer: Peer,
    authzid: Option<&str>,
    user: &str,
    password: &[u8],
) -> LoginResult {
    let Ok(password) = String::from_utf8(password.to_vec()) else {
        return LoginResult::Refused(Outcome::Refused);
    };
    let core = &shared.core;
    let address = match core
        .logins
        .check(
            &core.directory,
            &core.abuse,
            peer,
            authzid,
            user,
            &mailwright_sansio::Secret::new(password),
        )
        .await
    {
        Outcome::Accepted(address) => address,
        other => return LoginResult::Refused(other),
    };
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || open_maildrop(&shared, address))
        .await
        .unwrap_or_else(|e| LoginResult::Failed(e.to_string()))
}

fn open_maildrop(shared: &Shared, user: Address) -> LoginResult {
    let locked = shared
        .store
        .account(&user)
        .and_then(|account| account.maildrop());
    match locked {
        Ok(maildrop) => LoginResult::Ok(Session { user, maildrop }),
        Err(StoreError::InUse) => LoginResult::InUse,
        Err(e) => LoginResult::Failed(e.to_string()),
    }
}

fn finish_login(
    machine: &mut ServerSession,
    ticket: LoginTicket,
    session: &mut Option<Session>,
    result: LoginResult,
) -> Result<(), UsageError> {
    match result {
        LoginResult::Ok(s) => match build_maildrop(&s) {
            Ok(maildrop) => {
                info!(user = %s.user, messages = s.maildrop.messages().len(), "pop3 login");
                *session = Some(s);
                machine.accept_login(ticket, maildrop)
            }
            Err(e) => {
                warn!("cannot list maildrop of {}: {e}", s.user);
                machine.refuse_login(ticket, Refusal::TemporaryFailure)
            }
        },
        LoginResult::Refused(Outcome::Refused) => {
            info!("pop3 login refused");
            machine.refuse_login(ticket, Refusal::BadCredentials)
        }
        LoginResult::Refused(Outcome::Blocked) => {
            info!("pop3 login blocked: too many failures from this address");
            machine.refuse_login(ticket, Refusal::TooManyFailures)
        }
        LoginResult::Refused(_) => machine.refuse_login(ticket, Refusal::TemporaryFailure),
        LoginResult::InUse => machine.refuse_login(ticket, Refusal::InUse),
        LoginResult::Failed(e) => {
            warn!("pop3 login failed: {e}");
            machine.refuse_login(ticket, Refusal::TemporaryFailure)
        }
    }
}

/// The machine's maildrop from the store's: sizes as the store gives them (the CRLF sizes POP3
/// sends, RFC 1939 §5), ids as they are when POP3 can carry them.
fn build_maildrop(s: &Session) -> io::Result<Maildrop> {
    let mut list = Vec::with_capacity(s.maildrop.messages().len());
    for m in s.maildrop.messages() {
        // RFC 1939 §7: a unique-id is 1 to 70 characters 0x21-0x7E. Store ids fit unless they
        // are very long; then a digest of the id stands in, just as stable.
        let uid = Uid::new(&m.id).or_else(|_| {
            let digest = ring::digest::digest(&ring::digest::SHA256, m.id.as_bytes());
            Uid::new(
                digest.as_ref()[..16]
                    .iter()
                    .fold(String::new(), |mut hex, b| {
                        use std::fmt::Write;
                        let _ = write!(hex, "{b:02x}");
                        hex
                    }),
            )
        });
        let uid = uid.map_err(io::Error::other)?;
        list.push(MaildropEntry { size: m.size, uid });
    }
    Ok(Maildrop::new(list))
}

//! The intake layer: what happens to a message between the end of its data and the disk, for SMTP,
//! submission and LMTP alike: recipient routing (users, aliases, the postmaster), submission policy
//! and fix-ups, trust checks of incoming mail (SPF, DKIM, DMARC, iprev) and DKIM signing of
//! outgoing mail, mail filters over the milter protocol ([`milter`]) and Junk filing, loop
//! detection, and the all-or-nothing delivery into the store and the outbound queue
//! ([`deliver`]). Built on the core, the store and the outbound layer.

pub mod deliver;
pub mod headers;
pub mod milter;
pub mod sieve;
pub mod submission;
pub mod trust;

use std::sync::Arc;
use std::time::Instant;

use mailwright_smtp_proto::server::Mode;
use mailwright_smtp_proto::{
    ForwardPath, Host, MailParameters, RcptParameters, Reply, ReversePath,
};
use tracing::{info, warn};

use crate::core::Core;
use crate::core::config::Config;
use crate::core::directory::{Address, AliasSource, Directory, Resolution};
use crate::core::net::Peer;
use crate::core::smtp_reply as reply;
use crate::outbound::Outbound;
use crate::outbound::queue::{MessageDsn, RcptDsn};
use crate::store::{MailStore, Spool};

pub use deliver::finish_message;

/// What the intake layer shares.
#[derive(Debug)]
pub struct Intake {
    /// The core services.
    pub core: Arc<Core>,
    /// The outbound queue and SRS.
    pub outbound: Arc<Outbound>,
    /// The users' mail, where local deliveries go.
    pub store: Arc<dyn MailStore>,
}

/// One accepted envelope recipient: the local users it expands to and the addresses elsewhere
/// it goes to through the outbound queue.
#[derive(Debug)]
pub struct Rcpt {
    /// The address as the envelope named it (for `Delivered-To:` and logs).
    pub envelope: String,
    /// The local users it expands to.
    pub users: Vec<Address>,
    /// Addresses in other domains (relayed for an authenticated or trusted client, or targets of
    /// a forwarding alias).
    pub remote: Vec<String>,
    /// `remote` are alias targets: the envelope sender is rewritten with SRS.
    pub forward: bool,
    /// Its DSN parameters (`NOTIFY=`, `ORCPT=`).
    pub dsn: RcptDsn,
}

/// The transaction in progress: sender, accepted recipients, the message data.
#[derive(Debug, Default)]
pub struct Transaction {
    /// The envelope sender, once MAIL was accepted.
    pub from: Option<ReversePath>,
    /// The message's DSN parameters (`RET=`, `ENVID=`).
    pub dsn: MessageDsn,
    /// The size the client announced with `SIZE=` (RFC 1870), for the quota check at RCPT.
    pub size: Option<u64>,
    /// The accepted recipients.
    pub rcpts: Vec<Rcpt>,
    /// The message data, once DATA or BDAT started.
    pub spool: Option<Spool>,
    /// When the data started (for the delay in logs).
    pub started: Option<Instant>,
    /// The queue id, when it was given out before the end of data (to the milters).
    pub id: Option<String>,
    /// A filter marked the message as spam (or quarantined it): it goes to the Junk folder.
    pub spam: bool,
    /// A filter discarded the message: it is accepted and dropped.
    pub discard: bool,
}

impl Transaction {
    /// A transaction for an accepted `MAIL`.
    pub fn new(from: ReversePath, params: &MailParameters) -> Self {
        Self {
            from: Some(from),
            dsn: MessageDsn {
                ret: params.ret,
                envid: params.envid.clone(),
            },
            size: params.size,
            ..Self::default()
        }
    }
}

/// The client address as logs give it (`client=`): the IP, or `local` for the unix socket.
pub fn client(peer: Peer) -> String {
    peer.addr
        .map_or_else(|| "local".to_owned(), |a| a.ip().to_string())
}

/// `MAIL`: the submission sender policy, then the message rate limits (not on LMTP).
pub fn mail_policy(
    intake: &Intake,
    mode: Mode,
    peer: Peer,
    from: &ReversePath,
    user: Option<&Address>,
) -> Result<(), Reply> {
    if mode == Mode::Lmtp {
        return Ok(());
    }
    submission::check_mail(&intake.core, mode, from, user)?;
    intake
        .core
        .abuse
        .admit_message(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "message refused by rate limit");
            limited.reply()
        })
}

/// `rcpt` (the routing of one recipient) within the hourly recipient limit of an authenticated
/// user, then the quota of the mailboxes it reaches.
pub fn rcpt_limited(
    intake: &Intake,
    peer: Peer,
    to: &ForwardPath,
    params: &RcptParameters,
    user: Option<&Address>,
    size: Option<u64>,
) -> Result<Rcpt, Reply> {
    intake
        .core
        .abuse
        .admit_recipient(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "recipient refused by rate limit");
            limited.reply()
        })?;
    let routed = rcpt(intake, peer, to, user).and_then(|mut r| {
        quota(intake, &r, size)?;
        r.dsn = RcptDsn {
            notify: params.notify,
            orcpt: params.orcpt.clone(),
        };
        Ok(r)
    });
    routed.inspect_err(|_| intake.core.abuse.refund_recipient(peer, user))
}

/// RFC 3463 §3.3: a full mailbox is `4.2.2` (the sender retries) or, configured so, `5.2.2`.
fn quota(intake: &Intake, rcpt: &Rcpt, size: Option<u64>) -> Result<(), Reply> {
    for user in &rcpt.users {
        match crate::core::blocking(|| intake.store.quota(user)) {
            Ok(Some(usage)) if !usage.fits(size.unwrap_or(0)) => {
                info!(user = %user, "recipient refused: mailbox full");
                return Err(quota_reply(&intake.core.config));
            }
            Ok(_) => {}
            Err(e) => warn!(user = %user, "cannot read the quota: {e}"),
        }
    }
    Ok(())
}

/// The refusal for a full mailbox (`storage.quota_full_permanent`).
pub fn quota_reply(config: &Config) -> Reply {
    if config.storage.quota_full_permanent {
        reply(552, (5, 2, 2), "Mailbox full")
    } else {
        reply(452, (4, 2, 2), "Mailbox full, try again later")
    }
}

/// The role addresses every domain of ours accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `postmaster@` (RFC 5321 §4.5.1) and `MAILER-DAEMON@`, the sender named in our reports.
    Postmaster,
    /// `abuse@` (RFC 2142 §2).
    Abuse,
}

impl Role {
    /// The role of a local part, if it names one.
    pub fn of(local: &str) -> Option<Self> {
        if local.eq_ignore_ascii_case("postmaster") || local.eq_ignore_ascii_case("mailer-daemon") {
            Some(Role::Postmaster)
        } else if local.eq_ignore_ascii_case("abuse") {
            Some(Role::Abuse)
        } else {
            None
        }
    }
}

/// Where mail for a role goes and why: `[postmaster] address` (or `abuse`), else
/// `postmaster@<hostname>` if that user exists, else the first user (alphabetically), else the
/// Maildir of `postmaster@<hostname>`.
pub fn role_address(
    config: &Config,
    directory: &Directory,
    role: Role,
) -> Result<(Address, &'static str), crate::core::directory::DirectoryError> {
    let configured = |s: &str| s.parse::<Address>().ok();
    if role == Role::Abuse
        && let Some(a) = configured(&config.postmaster.abuse)
    {
        return Ok((a, "[postmaster] abuse"));
    }
    if let Some(a) = configured(&config.postmaster.address) {
        return Ok((a, "[postmaster] address"));
    }
    let host = format!("postmaster@{}", config.hostname);
    let users = directory.users()?;
    if let Some(a) = users
        .iter()
        .find(|u| **u == host)
        .and_then(|u| u.parse().ok())
    {
        return Ok((a, "the user postmaster@<hostname>"));
    }
    if let Some(a) = users.first().and_then(|u| u.parse().ok()) {
        return Ok((a, "the first user"));
    }
    let fallback = host
        .parse()
        .map_err(|e: crate::core::directory::AddressError| {
            crate::core::directory::DirectoryError::Refused(e.to_string())
        })?;
    Ok((
        fallback,
        "no user yet: the Maildir of postmaster@<hostname>",
    ))
}

/// Routes a role address of ours (`envelope`) to its target.
fn role_rcpt(intake: &Intake, envelope: String, role: Role) -> Result<Rcpt, Reply> {
    let core = &intake.core;
    let target = crate::core::blocking(|| role_address(&core.config, &core.directory, role))
        .map_err(|e| {
            warn!("directory lookup failed: {e}");
            reply(451, (4, 3, 0), "Temporary lookup failure")
        })?
        .0;
    let resolution = crate::core::blocking(|| core.directory.resolve(&target));
    let (users, remote, forward) = match resolution {
        Ok(Resolution::Local(users)) => (users, Vec::new(), false),
        Ok(Resolution::Forward { local, external }) => (
            local,
            external.iter().map(ToString::to_string).collect(),
            true,
        ),
        Ok(Resolution::NotLocal) => (Vec::new(), vec![target.to_string()], true),
        // Not a user (yet): its Maildir, read once the admin adds it.
        Ok(Resolution::UnknownUser) => (vec![target], Vec::new(), false),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            return Err(reply(451, (4, 3, 0), "Temporary lookup failure"));
        }
    };
    Ok(Rcpt {
        envelope,
        users,
        remote,
        forward,
        dsn: RcptDsn::default(),
    })
}

/// Resolves one RCPT TO; `Err` is the refusal to send.
///
/// Local users and aliases are accepted from anyone; other domains only from an authenticated
/// user or a client in `outbound.trusted_networks` (never an open relay). The role addresses
/// (`postmaster@`, `abuse@`, `MAILER-DAEMON@` of a local domain or the host name, and
/// `<Postmaster>`) are always accepted. Bounces to an SRS address of ours are accepted and sent on
/// to the original sender.
pub(crate) fn rcpt(
    intake: &Intake,
    peer: Peer,
    to: &ForwardPath,
    user: Option<&Address>,
) -> Result<Rcpt, Reply> {
    let envelope = match to {
        // RFC 5321 §4.5.1: <Postmaster> must be accepted.
        ForwardPath::Postmaster => {
            let envelope = format!("postmaster@{}", intake.core.config.hostname);
            return role_rcpt(intake, envelope, Role::Postmaster);
        }
        ForwardPath::Mailbox(m) => match &m.host {
            // A local part that is not a Dot-string stays quoted (RFC 5321 §4.1.2), so that the
            // address still parses when the queue relays it.
            Host::Domain(d) => format!("{}@{}", m.local_part, d.as_str()),
            Host::Literal(_) => {
                return Err(reply(
                    550,
                    (5, 1, 2),
                    "Address literals are not accepted here",
                ));
            }
        },
    };
    let may_relay = user.is_some()
        || intake
            .core
            .config
            .outbound
            .is_trusted(peer.addr.map(|a| a.ip()));
    let domain = crate::outbound::queue::domain_of(&envelope);
    let domains = crate::core::blocking(|| intake.core.directory.domains());
    let local_domain = match &domains {
        Ok(d) => d.contains(&domain),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            return Err(reply(451, (4, 3, 0), "Temporary lookup failure"));
        }
    };
    let ours = local_domain || domain.eq_ignore_ascii_case(&intake.core.config.hostname);
    if ours {
        let day = crate::outbound::queue::now_secs() / 86400;
        if let Some(original) = intake.outbound.srs.reverse(&envelope, day) {
            return Ok(Rcpt {
                envelope,
                users: Vec::new(),
                remote: vec![original],
                forward: false,
                dsn: RcptDsn::default(),
            });
        }
        if envelope
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("srs0="))
        {
            return Err(reply(550, (5, 7, 1), "Invalid or expired SRS address"));
        }
    }
    let remote = |envelope: String| Rcpt {
        remote: vec![envelope.clone()],
        envelope,
        users: Vec::new(),
        forward: false,
        dsn: RcptDsn::default(),
    };
    let Ok(address) = envelope.parse::<Address>() else {
        // An address our directory cannot hold (quoted or UTF-8 local part) may still be relayed.
        if !local_domain && may_relay {
            return Ok(remote(envelope));
        }
        return Err(if local_domain {
            reply(550, (5, 1, 1), "No such user here")
        } else {
            reply(554, (5, 7, 1), "Relay access denied")
        });
    };
    if ours && let Some(role) = Role::of(address.local()) {
        // The role's target, unless a user or an alias of that very name exists (a catch-all
        // does not take it).
        let directory = &intake.core.directory;
        let explicit = crate::core::blocking(|| {
            Ok::<bool, crate::core::directory::DirectoryError>(
                directory.contains_user(&address.to_string())?
                    || directory
                        .aliases()?
                        .contains_key(&AliasSource::Address(address.clone())),
            )
        });
        match explicit {
            Ok(false) => return role_rcpt(intake, address.to_string(), role),
            Ok(true) => {}
            Err(e) => {
                warn!("directory lookup failed: {e}");
                return Err(reply(451, (4, 3, 0), "Temporary lookup failure"));
            }
        }
    }
    let resolution = crate::core::blocking(|| intake.core.directory.resolve(&address));
    match resolution {
        Ok(Resolution::Local(users)) => Ok(Rcpt {
            envelope: address.to_string(),
            users,
            remote: Vec::new(),
            forward: false,
            dsn: RcptDsn::default(),
        }),
        Ok(Resolution::Forward { local, external }) => Ok(Rcpt {
            envelope: address.to_string(),
            users: local,
            remote: external.iter().map(ToString::to_string).collect(),
            forward: true,
            dsn: RcptDsn::default(),
        }),
        Ok(Resolution::UnknownUser) => Err(reply(550, (5, 1, 1), "No such user here")),
        Ok(Resolution::NotLocal) if may_relay => Ok(remote(envelope)),
        Ok(Resolution::NotLocal) => Err(reply(554, (5, 7, 1), "Relay access denied")),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            Err(reply(451, (4, 3, 0), "Temporary lookup failure"))
        }
    }
}

//! Server configuration: `mailwright.toml`.
//!
//! Every field has a default, so an empty file (or none, in zero-config mode) is a working loopback
//! development server. Paths that are relative are taken from the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors reading or checking a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or contradicts another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Host name used in greetings, `Received:` headers and EHLO replies.
    pub hostname: String,
    /// Addresses to listen on, per service.
    pub listen: Listen,
    /// Certificate and key.
    pub tls: Tls,
    /// Limits applied to every session.
    pub limits: Limits,
    /// Authentication policy.
    pub auth: AuthPolicy,
    /// The resolver used for MX routing and SPF/DKIM/DMARC.
    pub dns: DnsConfig,
    /// The queue and delivery to other hosts.
    pub outbound: Outbound,
    /// DKIM signing of outgoing mail (keys in `dkim/<domain>/` of the data directory).
    pub dkim: Dkim,
    /// Checks of mail arriving on the SMTP port: SPF, DKIM, DMARC, iprev.
    pub inbound: Inbound,
    /// Mail submission (587/465, RFC 6409): sender policy and message fix-ups.
    pub submission: Submission,
    /// Rate limits, DNSBLs, early talkers and login failure counting.
    pub abuse: Abuse,
    /// What the mail store fsyncs, and quota refusals.
    pub storage: Storage,
    /// Where the users' mail is: Maildirs (the default) or a PostgreSQL database.
    pub store: StoreConfig,
    /// Where `postmaster@`, `abuse@` and `MAILER-DAEMON@` go.
    pub postmaster: Postmaster,
    /// Mail filters (the Sendmail/Postfix milter protocol), asked in order at the end of data.
    pub milter: Vec<Milter>,
    /// Where mail judged as spam goes.
    pub spam: Spam,
    /// Sieve filtering at local delivery.
    pub sieve: Sieve,
}

/// Sieve (RFC 5228) at local delivery: the administrator's scripts run before and after each
/// user's active script (`~/.dovecot.sieve` in the user's home, the directory above the
/// Maildir, as in Dovecot's layout; `~/sieve/` holds the scripts it may include).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sieve {
    /// Run the scripts at all. Default true.
    pub enabled: bool,
    /// Scripts run, in order, before the user's.
    pub before: Vec<PathBuf>,
    /// Scripts run, in order, after the user's.
    pub after: Vec<PathBuf>,
    /// ManageSieve: the largest script a user may store, in octets. Default 64 KiB.
    pub max_script_size: usize,
    /// ManageSieve: how many scripts a user may store. Default 32.
    pub max_scripts: usize,
}

impl Default for Sieve {
    fn default() -> Self {
        Self {
            enabled: true,
            before: Vec::new(),
            after: Vec::new(),
            max_script_size: 64 * 1024,
            max_scripts: 32,
        }
    }
}

/// Junk filing: mail judged as spam is delivered to each recipient's mailbox with SPECIAL-USE
/// `\Junk` (RFC 6154) instead of the INBOX.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spam {
    /// Mail a filter marked as spam (it set `X-Spam-Flag: YES` or `X-Spam: Yes`) or
    /// quarantined. Default true.
    pub junk_marked: bool,
    /// Mail failing DMARC of a domain whose policy is `p=quarantine` (RFC 7489 §6.3). Default
    /// true.
    pub junk_dmarc_quarantine: bool,
}

impl Default for Spam {
    fn default() -> Self {
        Self {
            junk_marked: true,
            junk_dmarc_quarantine: true,
        }
    }
}

/// What to do with a message when a filter cannot be reached or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MilterFailure {
    /// Go on without this filter (Postfix's `milter_default_action = accept`).
    Accept,
    /// Refuse the message for now, `451 4.7.1` (Postfix's default).
    #[default]
    Tempfail,
}

/// One `[[milter]]`: a filter such as spamass-milter, rspamd's proxy in milter mode or OpenDKIM.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Milter {
    /// A name for the logs; empty: the socket.
    pub name: String,
    /// `unix:/path/to/socket` (relative paths from the data directory) or `inet:host:port`
    /// (Postfix's notation; `host:port` alone is taken as TCP).
    pub socket: String,
    /// Seconds to connect. Default 30 (Postfix's `milter_connect_timeout`).
    pub connect_timeout_secs: u64,
    /// Seconds for the answer to each step. Default 30 (`milter_command_timeout`).
    pub command_timeout_secs: u64,
    /// Seconds for the answer to the end of the message. Default 300 (`milter_content_timeout`).
    pub eom_timeout_secs: u64,
    /// When the filter is unreachable, times out or breaks the protocol. Default `tempfail`.
    pub on_failure: MilterFailure,
    /// Also filter mail on submission (587/465). Default false: port 25 only.
    pub submission: bool,
}

impl Default for Milter {
    fn default() -> Self {
        Self {
            name: String::new(),
            socket: String::new(),
            connect_timeout_secs: 30,
            command_timeout_secs: 30,
            eom_timeout_secs: 300,
            on_failure: MilterFailure::Tempfail,
            submission: false,
        }
    }
}

/// Where a milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterSocket {
    /// A unix socket.
    Unix(PathBuf),
    /// A TCP host and port.
    Inet(String, u16),
}

impl Milter {
    /// The parsed `socket`; relative unix paths are taken from `data_dir`.
    pub fn endpoint(&self, data_dir: &Path) -> Result<MilterSocket, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "milter socket {:?}: use unix:/path or inet:host:port",
                self.socket
            ))
        };
        if let Some(path) = self
            .socket
            .strip_prefix("unix:")
            .or_else(|| self.socket.strip_prefix("local:"))
        {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(MilterSocket::Unix(data_dir.join(path)));
        }
        let inet = self.socket.strip_prefix("inet:").unwrap_or(&self.socket);
        // Sendmail writes inet:port@host.
        let (host, port) = match inet.split_once('@') {
            Some((port, host)) => (host, port),
            None => inet.rsplit_once(':').ok_or_else(bad)?,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(MilterSocket::Inet(host.to_owned(), port))
    }

    /// The name logs give it.
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.socket
        } else {
            &self.name
        }
    }
}

/// Mail store durability. Deliveries (SMTP, LMTP, APPEND, COPY) and new UIDs are always fsynced
/// before they are acknowledged; this section is about changes to stored mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Fsync IMAP flag changes and expunges before the reply. Default true. False is Dovecot's
    /// default (`mail_fsync = optimized`): fewer fsyncs, and a crash may then undo the last flag
    /// changes or bring back a message just expunged, never lose a delivered message.
    pub fsync_changes: bool,
    /// A recipient whose Maildir++ quota is full is refused at `RCPT` with `552 5.2.2` (permanent:
    /// the sender gets a bounce at once) instead of `452 4.2.2` (the sender retries). Default
    /// false.
    pub quota_full_permanent: bool,
}

/// The backend of the users' mail (`[store]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Maildir++ per user under the data directory.
    #[default]
    Maildir,
    /// A PostgreSQL database (or an engine speaking its protocol), shared by several nodes.
    Postgres,
}

/// Where the users, domains and aliases are (`[store] directory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryBackend {
    /// The `passwd`, `domains` and `aliases` files of the data directory.
    Files,
    /// Tables of the store's database, shared by every node (needs `backend = "postgres"`).
    Database,
}

/// TLS to the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbTls {
    /// Plain TCP or a Unix socket.
    #[default]
    Disable,
    /// TLS, the server's certificate verified against the system roots or `ca_file`.
    Require,
}

/// `[store]`: where the users' mail is, and how to reach the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `maildir` (default) or `postgres`.
    pub backend: StoreBackend,
    /// Where users, domains and aliases are: `files` or `database`. Unset: `database` with
    /// `backend = "postgres"`, else `files` (see [`StoreConfig::directory_backend`]).
    pub directory: Option<DirectoryBackend>,
    /// A libpq connection string or URL (`postgresql://user@host:5432/mail`); the fields below
    /// fill in or override what it leaves out.
    pub url: Option<String>,
    /// Database host name, address, or Unix socket directory (a path).
    pub host: Option<String>,
    /// Database port.
    pub port: Option<u16>,
    /// Database user.
    pub user: Option<String>,
    /// A file holding the database password (its first line), relative to the data directory.
    pub password_file: Option<PathBuf>,
    /// Database name.
    pub dbname: Option<String>,
    /// Connections in this node's pool. Default 16.
    pub pool_size: usize,
    /// `disable` (default) or `require`.
    pub tls: DbTls,
    /// With `tls = "require"`: the CA certificates (PEM) to verify the server with instead of the
    /// system roots, relative to the data directory.
    pub ca_file: Option<PathBuf>,
}

impl StoreConfig {
    /// Where users, domains and aliases are: `directory` if set, else `database` on the
    /// PostgreSQL store and `files` on Maildirs.
    pub fn directory_backend(&self) -> DirectoryBackend {
        self.directory.unwrap_or(match self.backend {
            StoreBackend::Postgres => DirectoryBackend::Database,
            StoreBackend::Maildir => DirectoryBackend::Files,
        })
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Maildir,
            directory: None,
            url: None,
            host: None,
            port: None,
            user: None,
            password_file: None,
            dbname: None,
            pool_size: 16,
            tls: DbTls::Disable,
            ca_file: None,
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            fsync_changes: true,
            quota_full_permanent: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            listen: Listen::default(),
            tls: Tls::default(),
            limits: Limits::default(),
            auth: AuthPolicy::default(),
            dns: DnsConfig::default(),
            outbound: Outbound::default(),
            dkim: Dkim::default(),
            inbound: Inbound::default(),
            submission: Submission::default(),
            abuse: Abuse::default(),
            storage: Storage::default(),
            store: StoreConfig::default(),
            postmaster: Postmaster::default(),
            milter: Vec::new(),
            spam: Spam::default(),
            sieve: Sieve::default(),
        }
    }
}

/// Listening addresses. An empty list turns a service off; port 0 picks a free port (tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// SMTP for incoming mail (port 25 in production).
    pub smtp: Vec<SocketAddr>,
    /// Submission with STARTTLS (port 587).
    pub submission: Vec<SocketAddr>,
    /// Submission over implicit TLS (port 465).
    pub submissions: Vec<SocketAddr>,
    /// LMTP over TCP (port 24).
    pub lmtp: Vec<SocketAddr>,
    /// LMTP over a unix socket; relative to the data directory. Empty: off.
    pub lmtp_socket: Option<PathBuf>,
    /// IMAP with STARTTLS (port 143).
    pub imap: Vec<SocketAddr>,
    /// IMAP over implicit TLS (port 993).
    pub imaps: Vec<SocketAddr>,
    /// POP3 with STLS (port 110).
    pub pop3: Vec<SocketAddr>,
    /// POP3 over implicit TLS (port 995).
    pub pop3s: Vec<SocketAddr>,
    /// ManageSieve with STARTTLS (RFC 5804, port 4190).
    pub managesieve: Vec<SocketAddr>,
    /// Services whose connections from [`Listen::proxy_trusted`] start with a PROXY protocol
    /// header (version 1 or 2, as HAProxy's `send-proxy` and `send-proxy-v2` send it): `"smtp"`,
    /// `"submission"`, `"submissions"`, `"lmtp"`, `"imap"`, `"imaps"`, `"pop3"`, `"pop3s"`,
    /// `"managesieve"`. The client address it names is the peer address everywhere (limits, logs,
    /// DNSBL, SPF, `Received:`, the login failure budget). Default empty.
    pub proxy_protocol: Vec<String>,
    /// Sources (`"10.0.0.5"`, `"10.0.0.0/24"`, `"::1/128"`) allowed to send a PROXY header: a
    /// connection from one of them on a [`Listen::proxy_protocol`] service that sends no valid
    /// header within [`Listen::proxy_timeout_secs`] is dropped. A connection from anywhere else is
    /// served as itself, its header never read (a PROXY line is then just a bad command).
    pub proxy_trusted: Vec<String>,
    /// How long a trusted source has to send its whole PROXY header. Default 5.
    pub proxy_timeout_secs: u64,
}

/// The services a PROXY protocol header can be configured for ([`Listen::proxy_protocol`]).
pub const PROXY_SERVICES: [&str; 9] = [
    "smtp",
    "submission",
    "submissions",
    "lmtp",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "managesieve",
];

fn loopback(port: u16) -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], port))]
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            smtp: loopback(2525),
            submission: loopback(2587),
            submissions: loopback(2465),
            lmtp: loopback(2424),
            lmtp_socket: Some(PathBuf::from("lmtp.sock")),
            imap: loopback(2143),
            imaps: loopback(2993),
            pop3: loopback(2110),
            pop3s: loopback(2995),
            managesieve: loopback(24190),
            proxy_protocol: Vec::new(),
            proxy_trusted: Vec::new(),
            proxy_timeout_secs: 5,
        }
    }
}

impl Listen {
    /// Whether a connection to `service` from `ip` starts with a PROXY header: the service is in
    /// [`Listen::proxy_protocol`] and `ip` in [`Listen::proxy_trusted`].
    pub fn expects_proxy_header(&self, service: &str, ip: std::net::IpAddr) -> bool {
        self.proxy_protocol.iter().any(|s| s == service)
            && self.proxy_trusted.iter().any(|net| cidr_contains(net, ip))
    }

    /// No listener at all: a server that only serves the in-memory connections of
    /// `Server::connect` (simulation tests).
    pub fn none() -> Self {
        Self {
            smtp: Vec::new(),
            submission: Vec::new(),
            submissions: Vec::new(),
            lmtp: Vec::new(),
            lmtp_socket: None,
            imap: Vec::new(),
            imaps: Vec::new(),
            pop3: Vec::new(),
            pop3s: Vec::new(),
            managesieve: Vec::new(),
            ..Self::default()
        }
    }

    /// Every service on 127.0.0.1 with port 0: what tests use.
    pub fn ephemeral() -> Self {
        Self {
            smtp: loopback(0),
            submission: loopback(0),
            submissions: loopback(0),
            lmtp: loopback(0),
            lmtp_socket: Some(PathBuf::from("lmtp.sock")),
            imap: loopback(0),
            imaps: loopback(0),
            pop3: loopback(0),
            pop3s: loopback(0),
            managesieve: loopback(0),
            ..Self::default()
        }
    }
}

/// Certificate files (PEM). Relative paths are taken from the data directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            cert: PathBuf::from("tls/cert.pem"),
            key: PathBuf::from("tls/key.pem"),
        }
    }
}

/// Session limits. Each refusal they cause is a protocol-correct reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted, in bytes (advertised as SIZE). Default 25 MiB.
    pub max_message_size: u64,
    /// Recipients per message. Default 100 (RFC 5321 §4.5.3.1.8's minimum).
    pub max_recipients: usize,
    /// Connections at once, over all services. Default 1000.
    pub max_connections: usize,
    /// Connections at once from one IP address. Default 50.
    pub max_connections_per_ip: usize,
    /// Seconds a client may take from connecting to logging in (IMAP, POP3), whatever it sends
    /// meanwhile. Default 180 (Dovecot's login process allows 3 minutes).
    pub login_timeout_secs: u64,
    /// Seconds to wait for the next command (SMTP, LMTP, POP3; also between octets of SMTP message
    /// data) before closing. Default 300 (RFC 5321 §4.5.3.2.7). POP3 never waits less than RFC
    /// 1939's 10 minutes once logged in; IMAP's autologout is RFC 3501's 30 minutes.
    pub idle_timeout_secs: u64,
    /// Seconds one command line may take from its first octet to its end, however slowly it
    /// trickles in (SMTP, LMTP, POP3). Default 300.
    pub command_timeout_secs: u64,
    /// Seconds a whole SMTP/LMTP message transfer may take, from the `354` (or the first `BDAT`)
    /// to the end of the data. Default 600.
    pub data_timeout_secs: u64,
    /// Seconds a write may wait for a client that does not read (every protocol): past it the
    /// connection is dropped and what its session holds (a POP3 maildrop lock) is released.
    /// Default 300.
    pub write_timeout_secs: u64,
    /// Seconds a TLS handshake may take (implicit TLS, STARTTLS, STLS). Default 30.
    pub tls_handshake_timeout_secs: u64,
    /// Protocol errors in one SMTP session after which every reply is delayed (Postfix's
    /// `smtpd_soft_error_limit`). Default 10.
    pub soft_error_limit: usize,
    /// Protocol errors at which an SMTP session is closed with `421 4.7.0` (Postfix's
    /// `smtpd_hard_error_limit`). Default 20.
    pub hard_error_limit: usize,
    /// Past the soft limit, each reply waits this many seconds times the errors over it (Postfix's
    /// `smtpd_error_sleep_time`). Default 1.
    pub error_delay_secs: u64,
    /// The old name of [`Limits::hard_error_limit`]: a file that sets `max_errors` and not
    /// `hard_error_limit` gets it as the hard limit. After loading both hold the hard limit, which
    /// is also IMAP's limit of invalid commands. Default 20.
    pub max_errors: usize,
    /// Seconds a refused login waits before its reply. Default 2.
    pub auth_failure_delay_secs: u64,
    /// `Received:` fields that make a mail loop: a message that would carry this many with ours
    /// added is refused with `554 5.4.6 Too many hops` (Postfix's `hopcount_limit`, counted the
    /// same way: at the default, 49 from the client are refused, 48 pass). Default 50.
    pub max_received_headers: usize,
    /// Longest line of message data (DATA and BDAT) in octets, line end included; a longer one gets
    /// the message refused (`550 5.6.0`). Lines are stored as received; mail relayed onward is
    /// re-encoded to RFC 5322's 998. At least 2048. Default 65536.
    pub max_line_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 50,
            login_timeout_secs: 180,
            idle_timeout_secs: 300,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            write_timeout_secs: 300,
            tls_handshake_timeout_secs: 30,
            soft_error_limit: 10,
            hard_error_limit: 20,
            error_delay_secs: 1,
            max_errors: 20,
            auth_failure_delay_secs: 2,
            max_received_headers: 50,
            max_line_length: 64 * 1024,
        }
    }
}

impl Limits {
    /// [`Limits::login_timeout_secs`] as a duration.
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    /// [`Limits::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// [`Limits::command_timeout_secs`] as a duration.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.command_timeout_secs)
    }

    /// [`Limits::data_timeout_secs`] as a duration.
    pub fn data_timeout(&self) -> Duration {
        Duration::from_secs(self.data_timeout_secs)
    }

    /// [`Limits::write_timeout_secs`] as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }

    /// [`Limits::tls_handshake_timeout_secs`] as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs)
    }

    /// [`Limits::error_delay_secs`] as a duration.
    pub fn error_delay(&self) -> Duration {
        Duration::from_secs(self.error_delay_secs)
    }

    /// [`Limits::auth_failure_delay_secs`] as a duration.
    pub fn auth_failure_delay(&self) -> Duration {
        Duration::from_secs(self.auth_failure_delay_secs)
    }
}

/// Where mail for the role addresses goes: `postmaster@` (RFC 5321 §4.5.1: every domain MUST
/// accept it), `<Postmaster>`, `abuse@` (RFC 2142) and `MAILER-DAEMON@` (the sender named in our
/// reports) of every local domain and of the host name. An alias or user of that name in a domain
/// takes precedence.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Postmaster {
    /// Where postmaster mail goes: a local user, an alias or an address elsewhere. Default empty:
    /// `postmaster@<hostname>` if that user exists, else the first user of the passwd file, else
    /// the Maildir of `postmaster@<hostname>` (read once that user is added).
    pub address: String,
    /// Where `abuse@` goes. Default empty: the postmaster.
    pub abuse: String,
}

/// Authentication policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthPolicy {
    /// Allow plaintext logins (AUTH PLAIN, USER/PASS) without TLS when the client is on a loopback
    /// address, as Dovecot does. Never allowed from other addresses. Default true.
    pub plaintext_on_loopback: bool,
    /// Seconds a verified login stays cached in memory. Default 300; 0 turns the cache off.
    pub cache_ttl_secs: u64,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            plaintext_on_loopback: true,
            cache_ttl_secs: 300,
        }
    }
}

/// The DNS resolver.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers (`"ip:port"`) to ask instead of the system's `/etc/resolv.conf`. Tests point this
    /// at a local DNS server. Default empty: the system's.
    pub nameservers: Vec<SocketAddr>,
    /// Seconds before one query is given up. Default 5.
    pub timeout_secs: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout_secs: 5,
        }
    }
}

/// Postfix's `bounce_size_limit`: a `RET=FULL` failure report returns the whole message only up
/// to this size; a larger one is returned as its header section.
pub const DEFAULT_BOUNCE_SIZE_LIMIT: u64 = 50_000;

/// Where the outbound queue is kept (`[outbound] queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// Files in `queue/` of the data directory, delivered by this node only.
    Files,
    /// The store's PostgreSQL database, shared by the nodes: any node delivers any message.
    Database,
}

/// The outbound queue: mail for other domains, forwarded aliases and bounces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outbound {
    /// `files` or `database` (only with `[store] backend = "postgres"`). Default: `database`
    /// with the PostgreSQL store, else `files`.
    pub queue: Option<QueueBackend>,
    /// With the queue in the database: seconds a node's claim on a message in delivery lasts
    /// without being renewed (it renews its claims every third of it while it runs); a node that
    /// died leaves its messages to the others this long after. Default 60.
    pub queue_lease_secs: u64,
    /// Send everything through this smarthost (`"host:port"` or `"[ip]:port"`) instead of looking
    /// up MX records. Default empty: MX delivery.
    pub relayhost: String,
    /// A file holding `username:password` for AUTH PLAIN/LOGIN at the [`Outbound::relayhost`]
    /// (relative to the data directory). It must be readable by the server's user only (mode
    /// 0600 or 0400); a group- or world-readable file is refused and the mail deferred. With
    /// credentials the relayhost is only used over TLS. Default none.
    pub relayhost_credentials: Option<PathBuf>,
    /// Verify the relayhost's certificate (against the system's roots, or [`Outbound::ca_file`]);
    /// a failed check defers the mail. Set false only for a relayhost with a certificate that
    /// cannot be verified. Default true.
    pub relayhost_verify_tls: bool,
    /// Speak TLS from the start to the relayhost (port 465, RFC 8314) instead of STARTTLS.
    /// Default: true when the relayhost's port is 465.
    pub relayhost_implicit_tls: Option<bool>,
    /// TCP port of MX hosts. Always 25 on the Internet; tests point it at a local sink. Default 25.
    pub mx_port: u16,
    /// Domains (lower case) to which mail leaves only over TLS with a verified certificate;
    /// elsewhere STARTTLS is used when offered without checking the certificate (opportunistic,
    /// RFC 3207 §4.1). Default empty.
    pub require_tls: Vec<String>,
    /// Extra PEM CA file trusted when verifying [`Outbound::require_tls`] peers, the relayhost,
    /// MX hosts under an MTA-STS policy and the policy's HTTPS server (tests, a private CA); the
    /// system's roots are then not read. Relative to the data directory.
    pub ca_file: Option<PathBuf>,
    /// Honour the MTA-STS policies (RFC 8461) of destination domains: under `enforce` mail goes
    /// only to MX hosts the policy names, over TLS with a verified certificate; under `testing`
    /// what would have failed is logged. Not used with a relayhost. Default true.
    pub mta_sts: bool,
    /// TCP port of the HTTPS servers that publish MTA-STS policies. Always 443 on the Internet;
    /// tests point it at a local server. Default 443.
    pub mta_sts_port: u16,
    /// Record the TLS sessions of MX delivery and send each destination domain that publishes a
    /// `_smtp._tls` TXT record a daily report (TLS-RPT, RFC 8460). Default false, as Postfix's
    /// `smtp_tlsrpt_enable`: a report tells the domain which of its hosts we reached, and who we
    /// are.
    pub tls_rpt: bool,
    /// The `organization-name` of the reports. Default empty: the host name.
    pub tls_rpt_organization: String,
    /// The `contact-info` of the reports. Default empty: `mailto:postmaster@<hostname>`.
    pub tls_rpt_contact: String,
    /// Waits between delivery attempts, in seconds; the last one repeats.
    /// Default 5 min, 15 min, 30 min, 1 h, 2 h, 4 h.
    pub retry_schedule_secs: Vec<u64>,
    /// Seconds after which an undeliverable message is bounced. Default 5 days.
    pub max_lifetime_secs: u64,
    /// Seconds after which the sender is told that delivery is delayed (one warning). 0: never.
    /// Default 4 hours.
    pub delay_warning_secs: u64,
    /// The largest message a failure report returns whole when the sender asked for it
    /// (`RET=FULL`); a larger one is returned as its header section, as Postfix's
    /// `bounce_size_limit`. Default 50000 octets.
    pub bounce_size_limit: u64,
    /// Seconds to wait for a connection. Default 30.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for the `220` greeting. Default 300 (RFC 5321 §4.5.3.2.1).
    pub greeting_timeout_secs: u64,
    /// Seconds to wait for the reply to `MAIL`. Default 300 (RFC 5321 §4.5.3.2.2).
    pub mail_timeout_secs: u64,
    /// Seconds to wait for the reply to each `RCPT`. Default 300 (RFC 5321 §4.5.3.2.3).
    pub rcpt_timeout_secs: u64,
    /// Seconds to wait for the `354` to `DATA`. Default 120 (RFC 5321 §4.5.3.2.4).
    pub data_init_timeout_secs: u64,
    /// Seconds to write each block of message data (64 KiB). Default 180 (RFC 5321 §4.5.3.2.5).
    pub data_block_timeout_secs: u64,
    /// Seconds to wait for the reply to the end of the data. Default 600 (RFC 5321 §4.5.3.2.6).
    pub data_end_timeout_secs: u64,
    /// Seconds to wait for the reply to the other commands (`EHLO`, `STARTTLS`, `AUTH`, `RSET`,
    /// `QUIT`) and for a TLS handshake. Default 300.
    pub reply_timeout_secs: u64,
    /// Deliveries in progress at once. Default 20.
    pub concurrency: usize,
    /// Deliveries in progress at once to one destination domain (Postfix's
    /// `default_destination_concurrency_limit`). Default 20.
    pub destination_concurrency: usize,
    /// Seconds a connection is kept open after a delivery, for the next message to the same
    /// domain (Postfix's `smtp_connection_cache_time_limit`). 0: close at once. Default 2.
    pub connection_cache_secs: u64,
    /// Rewrite the envelope sender of forwarded mail with SRS so that SPF passes at the
    /// destination. Default true.
    pub srs: bool,
    /// Client networks (`"10.0.0.0/8"`, `"::1/128"`, or one address) that may relay without
    /// AUTH on port 25, like Postfix's `mynetworks`. Default empty: only authenticated users relay.
    pub trusted_networks: Vec<String>,
}

impl Outbound {
    /// Where the queue is kept, given the store's backend.
    pub fn queue_backend(&self, store: StoreBackend) -> QueueBackend {
        self.queue.unwrap_or(match store {
            StoreBackend::Postgres => QueueBackend::Database,
            StoreBackend::Maildir => QueueBackend::Files,
        })
    }

    /// Whether a client address is in [`Outbound::trusted_networks`].
    pub fn is_trusted(&self, ip: Option<std::net::IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        self.trusted_networks
            .iter()
            .any(|net| cidr_contains(net, ip))
    }
}

/// Whether `net` (`addr/prefix` or a bare address) contains `ip`. Unparsable networks contain
/// nothing (and [`Config::check`] refuses them).
pub fn cidr_contains(net: &str, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let (addr, prefix) = net.split_once('/').unwrap_or((net, ""));
    let Ok(addr) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = if prefix.is_empty() {
        max
    } else {
        match prefix.parse() {
            Ok(p) if p <= max => p,
            _ => return false,
        }
    };
    let to_bits = |a: IpAddr| -> u128 {
        match a {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        }
    };
    let ip = match (addr, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        _ => ip,
    };
    if prefix == 0 {
        return true;
    }
    // IPv4 addresses sit in the top 32 bits, so the same mask works for both families.
    let mask = u128::MAX << (128 - prefix);
    to_bits(addr) & mask == to_bits(ip) & mask
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            queue: None,
            queue_lease_secs: 60,
            relayhost: String::new(),
            relayhost_credentials: None,
            relayhost_verify_tls: true,
            relayhost_implicit_tls: None,
            mx_port: 25,
            require_tls: Vec::new(),
            ca_file: None,
            mta_sts: true,
            mta_sts_port: 443,
            tls_rpt: false,
            tls_rpt_organization: String::new(),
            tls_rpt_contact: String::new(),
            retry_schedule_secs: vec![300, 900, 1800, 3600, 7200, 14400],
            max_lifetime_secs: 5 * 24 * 3600,
            delay_warning_secs: 4 * 3600,
            bounce_size_limit: DEFAULT_BOUNCE_SIZE_LIMIT,
            connect_timeout_secs: 30,
            greeting_timeout_secs: 300,
            mail_timeout_secs: 300,
            rcpt_timeout_secs: 300,
            data_init_timeout_secs: 120,
            data_block_timeout_secs: 180,
            data_end_timeout_secs: 600,
            reply_timeout_secs: 300,
            concurrency: 20,
            destination_concurrency: 20,
            connection_cache_secs: 2,
            srs: true,
            trusted_networks: Vec::new(),
        }
    }
}

/// Mail submission (RFC 6409).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Submission {
    /// The envelope sender must be the authenticated user or an address the directory resolves to
    /// them (one of their aliases); others get `553 5.7.1`. Default true.
    pub enforce_sender: bool,
    /// Add `Message-ID:` and `Date:` to submitted messages that lack them (RFC 6409 §8.2, §8.3).
    /// Only header lines are prepended; nothing is rewritten. Default true.
    pub add_missing_headers: bool,
    /// Failed AUTH attempts in one session before it is closed with `421 4.7.0`. Default 3.
    pub max_auth_failures: usize,
    /// Recipients per submitted message (at most `limits.max_recipients`); more get `452 4.5.3`.
    /// Default 100.
    pub max_recipients_per_message: usize,
}

impl Default for Submission {
    fn default() -> Self {
        Self {
            enforce_sender: true,
            add_missing_headers: true,
            max_auth_failures: 3,
            max_recipients_per_message: 100,
        }
    }
}

/// Anti-abuse limits. Rate limits count in fixed windows in memory (lost on restart); 0 turns a
/// limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Abuse {
    /// Trust loopback clients (local webmail, tests, benches): no rate limits, DNSBL lookups or
    /// per-address login blocking for them. Default true. Clients in
    /// [`Outbound::trusted_networks`] are always trusted so.
    pub exempt_loopback: bool,
    /// New SMTP and submission connections per client IP per minute; more get `421 4.7.0`.
    /// Default 60.
    pub connections_per_ip_per_minute: u32,
    /// Messages (`MAIL` commands) per client IP per minute; more get `450 4.7.1`. Default 120.
    pub messages_per_ip_per_minute: u32,
    /// Messages per authenticated user per minute; more get `450 4.7.1`. Default 60.
    pub messages_per_user_per_minute: u32,
    /// Accepted recipients per authenticated user per hour; more get `450 4.7.1`. Default 1000.
    pub recipients_per_user_per_hour: u32,
    /// Failed logins from one IP address within [`Abuse::auth_block_secs`] after which AUTH is
    /// refused from it (`454 4.7.0`) until that window ends. Default 10.
    pub auth_failures_per_ip: u32,
    /// The window of [`Abuse::auth_failures_per_ip`], in seconds. Default 900.
    pub auth_block_secs: u64,
    /// DNS blocklist zones asked about clients on port 25 (RFC 5782), e.g. `"zen.spamhaus.org"`.
    /// A listed client gets `554 5.7.1`; a DNS failure never blocks. Default empty (off).
    pub dnsbl_zones: Vec<String>,
    /// Milliseconds port 25 waits before its greeting; a client that talks first gets `554 5.5.1`
    /// and is closed. Default 0 (off); production: 3000 to 6000 (Postfix's postscreen waits 6 s).
    pub greeting_delay_ms: u64,
    /// Keys (addresses or users) each limiter remembers at most; expired ones are pruned first.
    /// Default 100000.
    pub max_tracked: usize,
}

impl Default for Abuse {
    fn default() -> Self {
        Self {
            exempt_loopback: true,
            connections_per_ip_per_minute: 60,
            messages_per_ip_per_minute: 120,
            messages_per_user_per_minute: 60,
            recipients_per_user_per_hour: 1000,
            auth_failures_per_ip: 10,
            auth_block_secs: 900,
            dnsbl_zones: Vec::new(),
            greeting_delay_ms: 0,
            max_tracked: 100_000,
        }
    }
}

/// Header fields signed by default: RFC 6376 §5.4.1's list.
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Resent-Date",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// DKIM signing (RFC 6376) of mail leaving through the queue (done by the intake layer).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dkim {
    /// Sign outgoing mail whose From domain has a key. Default true.
    pub enabled: bool,
    /// Selector `full_server dkim generate` uses when none is given. Default `"mail"`.
    pub selector: String,
    /// Header fields to sign, in this order; fields a message lacks are signed as absent, so they
    /// cannot be added later. Default: RFC 6376 §5.4.1's list.
    pub headers: Vec<String>,
}

impl Default for Dkim {
    fn default() -> Self {
        Self {
            enabled: true,
            selector: "mail".to_owned(),
            headers: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
        }
    }
}

/// Authentication checks of mail arriving on the SMTP port from unauthenticated clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inbound {
    /// Check SPF, DKIM, DMARC and iprev and add an `Authentication-Results:` header. Default true.
    pub verify: bool,
    /// Check mail from loopback clients too (tests); by default it is trusted as local. Default false.
    pub verify_loopback: bool,
    /// Refuse (550 5.7.1) mail failing DMARC whose domain publishes `p=reject`. Default true.
    pub dmarc_reject: bool,
    /// Seconds all checks of one message may take; past it they count as a temporary error and the
    /// message is delivered. Default 30.
    pub timeout_secs: u64,
}

impl Default for Inbound {
    fn default() -> Self {
        Self {
            verify: true,
            verify_loopback: false,
            dmarc_reject: true,
            timeout_secs: 30,
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Parses and checks a configuration from TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let parse_error = |e| ConfigError::Parse {
            path: PathBuf::new(),
            source: Box::new(e),
        };
        let table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        let limits = table.get("limits").and_then(toml::Value::as_table);
        let has = |key: &str| limits.is_some_and(|l| l.contains_key(key));
        let (old_name, new_name) = (has("max_errors"), has("hard_error_limit"));
        let mut config: Self = table.try_into().map_err(parse_error)?;
        // `max_errors` is the old name of the hard error limit.
        if old_name && !new_name {
            config.limits.hard_error_limit = config.limits.max_errors;
        }
        config.limits.max_errors = config.limits.hard_error_limit;
        config.check()?;
        Ok(config)
    }

    /// Checks values that serde cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.hostname.is_empty()
            || !self
                .hostname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(ConfigError::Invalid(format!(
                "hostname {:?} is not a host name",
                self.hostname
            )));
        }
        let l = &self.limits;
        if l.max_recipients == 0 || l.max_connections == 0 || l.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid("limits must be at least 1".to_owned()));
        }
        if l.hard_error_limit == 0 || l.soft_error_limit == 0 {
            return Err(ConfigError::Invalid(
                "limits.soft_error_limit and limits.hard_error_limit must be at least 1".to_owned(),
            ));
        }
        let timeouts = [
            ("login_timeout_secs", l.login_timeout_secs),
            ("idle_timeout_secs", l.idle_timeout_secs),
            ("command_timeout_secs", l.command_timeout_secs),
            ("data_timeout_secs", l.data_timeout_secs),
            ("write_timeout_secs", l.write_timeout_secs),
            ("tls_handshake_timeout_secs", l.tls_handshake_timeout_secs),
        ];
        if let Some((name, _)) = timeouts.iter().find(|(_, t)| *t == 0) {
            return Err(ConfigError::Invalid(format!(
                "limits.{name} must be at least 1"
            )));
        }
        if l.max_line_length < 2048 {
            return Err(ConfigError::Invalid(
                "limits.max_line_length must be at least 2048".to_owned(),
            ));
        }
        for (name, value) in [
            ("postmaster.address", &self.postmaster.address),
            ("postmaster.abuse", &self.postmaster.abuse),
        ] {
            if !value.is_empty() && value.parse::<crate::core::directory::Address>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "{name}: {value:?} is not an address"
                )));
            }
        }
        if self.store.backend == StoreBackend::Postgres
            && self.store.url.is_none()
            && self.store.host.is_none()
        {
            return Err(ConfigError::Invalid(
                "store.backend = \"postgres\" needs store.url or store.host".to_owned(),
            ));
        }
        if self.store.directory_backend() == DirectoryBackend::Database
            && self.store.backend != StoreBackend::Postgres
        {
            return Err(ConfigError::Invalid(
                "store.directory = \"database\" needs store.backend = \"postgres\"".to_owned(),
            ));
        }
        if self.outbound.queue == Some(QueueBackend::Database)
            && self.store.backend != StoreBackend::Postgres
        {
            return Err(ConfigError::Invalid(
                "outbound.queue = \"database\" needs store.backend = \"postgres\"".to_owned(),
            ));
        }
        if self.outbound.queue_lease_secs < 3 {
            return Err(ConfigError::Invalid(
                "outbound.queue_lease_secs must be at least 3".to_owned(),
            ));
        }
        if self.store.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "store.pool_size must be at least 1".to_owned(),
            ));
        }
        if l.max_message_size < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_message_size must be at least 1024".to_owned(),
            ));
        }
        let networks = self
            .outbound
            .trusted_networks
            .iter()
            .map(|n| ("outbound.trusted_networks", n))
            .chain(
                self.listen
                    .proxy_trusted
                    .iter()
                    .map(|n| ("listen.proxy_trusted", n)),
            );
        for (name, net) in networks {
            let (addr, prefix) = net.split_once('/').unwrap_or((net, "32"));
            let ok = addr.parse::<std::net::IpAddr>().is_ok_and(|a| {
                prefix
                    .parse::<u32>()
                    .is_ok_and(|p| p <= if a.is_ipv4() { 32 } else { 128 })
            });
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "{name}: {net:?} is not an address or address/prefix"
                )));
            }
        }
        for service in &self.listen.proxy_protocol {
            if !PROXY_SERVICES.contains(&service.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "listen.proxy_protocol: {service:?} is not one of {PROXY_SERVICES:?}"
                )));
            }
        }
        if !self.listen.proxy_protocol.is_empty() && self.listen.proxy_trusted.is_empty() {
            return Err(ConfigError::Invalid(
                "listen.proxy_protocol needs listen.proxy_trusted: the proxies allowed to send the header"
                    .to_owned(),
            ));
        }
        if self.listen.proxy_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "listen.proxy_timeout_secs must be at least 1".to_owned(),
            ));
        }
        let o = &self.outbound;
        if [
            o.connect_timeout_secs,
            o.greeting_timeout_secs,
            o.mail_timeout_secs,
            o.rcpt_timeout_secs,
            o.data_init_timeout_secs,
            o.data_block_timeout_secs,
            o.data_end_timeout_secs,
            o.reply_timeout_secs,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid(
                "outbound: every *_timeout_secs must be at least 1".to_owned(),
            ));
        }
        if self.outbound.retry_schedule_secs.is_empty()
            || self.outbound.concurrency == 0
            || self.outbound.destination_concurrency == 0
        {
            return Err(ConfigError::Invalid(
                "outbound.retry_schedule_secs must not be empty and outbound.concurrency and \
                 destination_concurrency at least 1"
                    .to_owned(),
            ));
        }
        if self.submission.max_auth_failures == 0
            || self.submission.max_recipients_per_message == 0
            || self.abuse.max_tracked == 0
        {
            return Err(ConfigError::Invalid(
                "submission.max_auth_failures, submission.max_recipients_per_message and \
                 abuse.max_tracked must be at least 1"
                    .to_owned(),
            ));
        }
        for m in &self.milter {
            m.endpoint(Path::new("."))?;
            if m.connect_timeout_secs == 0 || m.command_timeout_secs == 0 || m.eom_timeout_secs == 0
            {
                return Err(ConfigError::Invalid(format!(
                    "milter {}: timeouts must be at least 1 second",
                    m.label()
                )));
            }
        }
        if let Some(zone) = self
            .abuse
            .dnsbl_zones
            .iter()
            .find(|z| crate::core::directory::parse_domain(z).is_err())
        {
            return Err(ConfigError::Invalid(format!(
                "abuse.dnsbl_zones: {zone:?} is not a domain name"
            )));
        }
        Ok(())
    }
}

/// The commented configuration written on first run.
pub const DEFAULT_CONFIG_TEXT: &str = r#"# Mailwright configuration. Every setting shows its default; uncomment to change.
# Relative paths are taken from the data directory this file lives in.
# Domains, users and aliases live in the files `domains`, `passwd` and `aliases` beside this file:
# manage them with `full_server domain|user|alias ...` (changes apply without a restart).

# Name used in greetings and Received: headers.
# hostname = "localhost"

[listen]
# Loopback development ports. For a real server use 25, 587, 465, 24, 143, 993, 110, 995.
# smtp = ["127.0.0.1:2525"]          # incoming mail
# submission = ["127.0.0.1:2587"]    # clients sending, STARTTLS then AUTH
# submissions = ["127.0.0.1:2465"]   # clients sending, implicit TLS
# lmtp = ["127.0.0.1:2424"]          # local delivery from an MTA such as Postfix
# lmtp_socket = "lmtp.sock"          # the same over a unix socket
# imap = ["127.0.0.1:2143"]          # IMAP with STARTTLS
# imaps = ["127.0.0.1:2993"]         # IMAP over implicit TLS
# pop3 = ["127.0.0.1:2110"]          # POP3 with STLS
# pop3s = ["127.0.0.1:2995"]         # POP3 over implicit TLS
# managesieve = ["127.0.0.1:24190"]   # ManageSieve with STARTTLS (production: 4190)
# proxy_protocol = []                # services behind HAProxy, e.g. ["smtp", "imap"]: PROXY header first
# proxy_trusted = []                 # balancers allowed to send it, e.g. ["10.0.0.5", "10.0.1.0/24"]
# proxy_timeout_secs = 5             # time a trusted balancer has to send the header

[tls]
# A self-signed certificate for localhost is made on first run. Put real PEM files here;
# they are reloaded on SIGHUP and when the files change.
# cert = "tls/cert.pem"
# key = "tls/key.pem"

[limits]
# max_message_size = 26214400        # bytes, advertised as SIZE
# max_recipients = 100
# max_connections = 1000
# max_connections_per_ip = 50
# max_line_length = 65536            # longest line of message data (DATA and BDAT), at least 2048
# max_received_headers = 50          # this many Received: fields with ours is a loop (554 5.4.6)
# Timers (seconds). Every wait for a client is bounded:
# login_timeout_secs = 180           # IMAP and POP3: connecting to logged in
# idle_timeout_secs = 300            # waiting for the next command (POP3 never under 600)
# command_timeout_secs = 300         # one command line, from its first octet to its end
# data_timeout_secs = 600            # one whole SMTP message transfer (DATA or BDAT)
# write_timeout_secs = 300           # a client that stops reading is dropped
# tls_handshake_timeout_secs = 30
# SMTP error accounting, as Postfix's smtpd_soft_error_limit, smtpd_hard_error_limit and
# smtpd_error_sleep_time (max_errors, the old name of hard_error_limit, is still read):
# soft_error_limit = 10              # past it every reply is delayed ...
# error_delay_secs = 1               # ... by this times the errors over the soft limit
# hard_error_limit = 20              # then the session is closed (421 4.7.0)
# auth_failure_delay_secs = 2

[auth]
# Plaintext logins without TLS are allowed only from loopback addresses, and only if this is true.
# plaintext_on_loopback = true
# cache_ttl_secs = 300

[dns]
# Name servers to ask ("ip:port"); empty: the system's /etc/resolv.conf.
# nameservers = []
# timeout_secs = 5

[outbound]
# Mail for other domains waits in the queue until delivered to the domain's MX hosts.
# queue = "files"                    # queue/ of the data directory; "database" (the default with
#                                    # [store] backend = "postgres"): shared, any node delivers
# queue_lease_secs = 60              # database queue: a dead node's messages go to the others after
# relayhost = ""                     # e.g. "[smtp.provider.net]:587" to send everything through it
# Smarthost AUTH (none by default): a file holding "username:password", mode 0600, never this file.
# With credentials the relayhost gets mail only over TLS.
# relayhost_credentials = "relay.secret"
# relayhost_verify_tls = true        # check the relayhost's certificate (opt out only if you must)
# relayhost_implicit_tls = false     # TLS from the start instead of STARTTLS; true for port 465
# mx_port = 25
# require_tls = []                   # domains that only get mail over verified TLS
# mta_sts = true                     # honour destinations' MTA-STS policies (RFC 8461)
# mta_sts_port = 443                 # port of the policy servers (tests only)
# tls_rpt = false                    # record TLS sessions, send daily TLS-RPT reports (RFC 8460)
# tls_rpt_organization = ""          # organization-name of the reports; empty: the host name
# tls_rpt_contact = ""               # contact-info; empty: mailto:postmaster@<hostname>
# retry_schedule_secs = [300, 900, 1800, 3600, 7200, 14400]   # the last repeats
# max_lifetime_secs = 432000         # 5 days, then a bounce to the sender
# delay_warning_secs = 14400         # one "still trying" notice after 4 hours; 0: never
# bounce_size_limit = 50000          # RET=FULL returns a larger message as its headers only
# Timers (seconds) of RFC 5321 §4.5.3.2, each a wait for the next hop:
# connect_timeout_secs = 30
# greeting_timeout_secs = 300        # the 220 greeting
# mail_timeout_secs = 300            # the reply to MAIL
# rcpt_timeout_secs = 300            # the reply to each RCPT
# data_init_timeout_secs = 120       # the 354 to DATA
# data_block_timeout_secs = 180      # writing each 64 KiB block of the message
# data_end_timeout_secs = 600        # the reply after the final dot (or BDAT LAST)
# reply_timeout_secs = 300           # EHLO, STARTTLS, AUTH, RSET, QUIT and the TLS handshake
# concurrency = 20
# destination_concurrency = 20       # deliveries at once to one domain
# connection_cache_secs = 2          # keep a connection open this long for the next message
# srs = true                         # rewrite the sender of forwarded mail (SPF-safe forwarding)
# trusted_networks = []              # clients that may relay without AUTH, e.g. ["10.0.0.0/8"]

[dkim]
# Outgoing mail is signed with every key in dkim/<From domain>/*.key (PKCS#8 PEM, RSA or Ed25519);
# make one with `full_server dkim generate <domain>`, which prints the DNS record to publish.
# enabled = true
# selector = "mail"                  # default selector of `dkim generate`
# headers = ["From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
#   "Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help",
#   "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
#   "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]

[inbound]
# Mail arriving on the smtp port without AUTH: SPF, DKIM, DMARC and iprev results go into an
# Authentication-Results: header. A DNS failure never refuses mail (temperror is recorded).
# verify = true
# verify_loopback = false            # also check clients on 127.0.0.1/::1 (tests)
# dmarc_reject = true                # refuse DMARC failures of p=reject domains (550 5.7.1)
# timeout_secs = 30

[submission]
# enforce_sender = true              # MAIL FROM must be the logged-in user or one of their aliases
# add_missing_headers = true         # add Message-ID: and Date: when a client left them out
# max_auth_failures = 3              # failed AUTHs before the session is closed (421 4.7.0)
# max_recipients_per_message = 100   # more get 452 4.5.3 (also capped by limits.max_recipients)

[abuse]
# Rate limits count per fixed window in memory; 0 turns one off.
# exempt_loopback = true             # loopback clients skip rate limits, DNSBLs and login blocking
# connections_per_ip_per_minute = 60 # SMTP and submission; more get 421 4.7.0
# messages_per_ip_per_minute = 120   # more get 450 4.7.1
# messages_per_user_per_minute = 60
# recipients_per_user_per_hour = 1000
# auth_failures_per_ip = 10          # then AUTH is refused from that address (454 4.7.0) ...
# auth_block_secs = 900              # ... for the rest of this window
# dnsbl_zones = []                   # e.g. ["zen.spamhaus.org"]; port 25 only; 554 5.7.1 if listed
# greeting_delay_ms = 0              # port 25; production 3000-6000: early talkers get 554 5.5.1
# max_tracked = 100000               # addresses/users remembered per limiter

[storage]
# Fsync IMAP flag changes and expunges before replying (deliveries are always fsynced).
# false is Dovecot's default: faster, but a crash may undo the last flag changes or expunges.
# fsync_changes = true
# A recipient over its Maildir++ quota is refused at RCPT with 452 4.2.2 (the sender retries);
# true makes it 552 5.2.2 (a bounce at once).
# quota_full_permanent = false

[store]
# Where the users' mail is: "maildir" (under mail/ of the data directory) or "postgres" (a
# database several nodes can share; the schema is made and migrated at start).
# backend = "maildir"
# Where users, domains and aliases are: "files" (passwd, domains, aliases in the data directory)
# or "database" (tables of the store's database, shared by every node; backend = "postgres").
# directory = "database"             # default: "database" with backend = "postgres", else "files"
# url = "postgresql://mailwright@db.example.org:5432/mail"   # or host/port/user/dbname:
# host = "127.0.0.1"                 # or a Unix socket directory
# port = 5432
# user = "mailwright"
# password_file = "db-password"      # first line; relative to the data directory
# dbname = "mail"
# pool_size = 16                     # connections per node
# tls = "disable"                    # "require": verified against the system roots or ca_file
# ca_file = "db-ca.pem"

[postmaster]
# postmaster@, abuse@ and MAILER-DAEMON@ of every local domain and of the host name, and
# <Postmaster>, are always accepted (RFC 5321 4.5.1, RFC 2142) unless a user or alias of that
# name exists. Empty: postmaster@<hostname> if that user exists, else the first user.
# address = ""
# abuse = ""                         # empty: the postmaster address

# Mail filters (milter protocol v6, as Postfix's smtpd_milters), asked in order at the end of
# the data of mail on the smtp port (and on submission with `submission = true`). They may
# refuse, discard or quarantine the message and add, change or remove header fields, replace
# the body, add or remove recipients. None by default. SpamAssassin through spamass-milter:
# [[milter]]
# name = "spamassassin"
# socket = "unix:/run/spamass/spamass.sock"   # or "inet:127.0.0.1:11332" (rspamd's proxy)
# connect_timeout_secs = 30
# command_timeout_secs = 30
# eom_timeout_secs = 300
# on_failure = "tempfail"            # filter unreachable or broken: 451 4.7.1; "accept": skip it
# submission = false

[spam]
# Mail judged as spam goes to the recipient's Junk folder (SPECIAL-USE \Junk) instead of INBOX:
# junk_marked = true                 # a milter marked it (X-Spam-Flag: YES, X-Spam: Yes) or quarantined it
# junk_dmarc_quarantine = true       # it fails DMARC of a p=quarantine domain ([inbound] verify)

[sieve]
# Each user's active script, <mail_root>/<domain>/<user>/.dovecot.sieve, runs at local delivery
# (SMTP and LMTP); these run before and after it. A script that fails means keep.
# enabled = true
# before = []                        # e.g. ["/etc/mailwright/sieve/before.sieve"]
# after = []
# max_script_size = 65536            # ManageSieve quotas: octets per script,
# max_scripts = 32                   # scripts per user
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_section_parses_and_postgres_needs_somewhere_to_connect() {
        assert_eq!(Config::default().store.backend, StoreBackend::Maildir);
        let config = Config::parse(
            "[store]\nbackend = \"postgres\"\nhost = \"db\"\nport = 5433\nuser = \"mw\"\n\
             dbname = \"mail\"\npassword_file = \"pw\"\npool_size = 4\ntls = \"require\"\n\
             ca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let s = &config.store;
        assert_eq!(s.backend, StoreBackend::Postgres);
        assert_eq!((s.host.as_deref(), s.port), (Some("db"), Some(5433)));
        assert_eq!(
            (s.user.as_deref(), s.dbname.as_deref()),
            (Some("mw"), Some("mail"))
        );
        assert_eq!((s.pool_size, s.tls), (4, DbTls::Require));
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert!(Config::parse("[store]\nbackend = \"postgres\"\n").is_err());
        assert!(
            Config::parse("[store]\nbackend = \"postgres\"\nurl = \"postgresql://db/mail\"\n")
                .is_ok()
        );
        assert!(Config::parse("[store]\nbackend = \"mysql\"\n").is_err());
        assert!(Config::parse("[store]\npool_size = 0\n").is_err());
    }

    #[test]
    fn directory_is_the_database_by_default_only_on_postgres() {
        let pg = "[store]\nbackend = \"postgres\"\nhost = \"db\"\n";
        let config = Config::parse(pg).unwrap();
        assert_eq!(config.store.directory_backend(), DirectoryBackend::Database);
        let config = Config::parse(&format!("{pg}directory = \"files\"\n")).unwrap();
        assert_eq!(config.store.directory_backend(), DirectoryBackend::Files);
        assert_eq!(
            Config::default().store.directory_backend(),
            DirectoryBackend::Files
        );
        assert!(Config::parse("[store]\ndirectory = \"database\"\n").is_err());
        assert!(Config::parse("[store]\ndirectory = \"ldap\"\n").is_err());
    }

    #[test]
    fn the_queue_is_in_the_database_by_default_only_on_the_postgres_store() {
        let pg = "[store]\nbackend = \"postgres\"\nhost = \"db\"\n";
        let c = Config::parse(pg).unwrap();
        assert_eq!(
            c.outbound.queue_backend(c.store.backend),
            QueueBackend::Database
        );
        let c = Config::parse(&format!("{pg}[outbound]\nqueue = \"files\"\n")).unwrap();
        assert_eq!(
            c.outbound.queue_backend(c.store.backend),
            QueueBackend::Files
        );
        let c = Config::default();
        assert_eq!(
            c.outbound.queue_backend(c.store.backend),
            QueueBackend::Files
        );
        assert_eq!(c.outbound.queue_lease_secs, 60);
        assert!(Config::parse("[outbound]\nqueue = \"database\"\n").is_err());
        assert!(Config::parse("[outbound]\nqueue_lease_secs = 1\n").is_err());
    }

    #[test]
    fn default_text_parses_to_defaults() {
        let config = Config::parse(DEFAULT_CONFIG_TEXT).unwrap();
        assert_eq!(config.hostname, "localhost");
        assert_eq!(config.listen.smtp, loopback(2525));
        assert_eq!(config.limits.max_recipients, 100);
    }

    #[test]
    fn outbound_timers_default_to_rfc_5321() {
        let o = Config::parse("").unwrap().outbound;
        assert_eq!(
            (
                o.greeting_timeout_secs,
                o.mail_timeout_secs,
                o.rcpt_timeout_secs,
                o.data_init_timeout_secs,
                o.data_block_timeout_secs,
                o.data_end_timeout_secs,
            ),
            (300, 300, 300, 120, 180, 600),
            "RFC 5321 §4.5.3.2"
        );
        let o = Config::parse("[outbound]\ndata_end_timeout_secs = 900")
            .unwrap()
            .outbound;
        assert_eq!((o.data_end_timeout_secs, o.reply_timeout_secs), (900, 300));
        assert!(Config::parse("[outbound]\nrcpt_timeout_secs = 0").is_err());
    }

    #[test]
    fn trusted_networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(cidr_contains("127.0.0.0/8", ip("127.1.2.3")));
        assert!(!cidr_contains("127.0.0.0/8", ip("128.0.0.1")));
        assert!(cidr_contains("10.1.2.3", ip("10.1.2.3")));
        assert!(!cidr_contains("10.1.2.3", ip("10.1.2.4")));
        assert!(cidr_contains("::1/128", ip("::1")));
        assert!(cidr_contains("0.0.0.0/0", ip("8.8.8.8")));
        assert!(cidr_contains("192.168.0.0/16", ip("::ffff:192.168.4.5")));
        assert!(!cidr_contains("fe80::/10", ip("10.0.0.1")));
        assert!(!cidr_contains("garbage", ip("10.0.0.1")));
        assert!(Config::parse("[outbound]\ntrusted_networks = [\"10.0.0.0/33\"]").is_err());
        assert!(Config::parse("[outbound]\ntrusted_networks = [\"10.0.0.0/8\", \"::1\"]").is_ok());
    }

    #[test]
    fn proxy_protocol_needs_known_services_and_trusted_sources() {
        let c = Config::parse(
            "[listen]\nproxy_protocol = [\"smtp\", \"imaps\"]\nproxy_trusted = [\"10.0.0.0/24\"]",
        )
        .unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(c.listen.expects_proxy_header("smtp", ip("10.0.0.9")));
        assert!(!c.listen.expects_proxy_header("smtp", ip("10.0.1.9")));
        assert!(!c.listen.expects_proxy_header("imap", ip("10.0.0.9")));
        assert_eq!(c.listen.proxy_timeout_secs, 5);
        for bad in [
            "[listen]\nproxy_protocol = [\"smtp\"]",
            "[listen]\nproxy_protocol = [\"lmtp (unix)\"]\nproxy_trusted = [\"10.0.0.1\"]",
            "[listen]\nproxy_protocol = [\"smtp\"]\nproxy_trusted = [\"10.0.0.0/40\"]",
            "[listen]\nproxy_trusted = [\"10.0.0.1\"]\nproxy_timeout_secs = 0",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_limits_and_the_old_max_errors_name() {
        let d = Config::parse("").unwrap().limits;
        assert_eq!(
            (d.soft_error_limit, d.hard_error_limit, d.error_delay_secs),
            (10, 20, 1),
            "Postfix's defaults"
        );
        assert_eq!(d.max_errors, 20);
        let old = Config::parse("[limits]\nmax_errors = 7").unwrap().limits;
        assert_eq!((old.hard_error_limit, old.max_errors), (7, 7));
        let both = Config::parse("[limits]\nmax_errors = 7\nhard_error_limit = 9")
            .unwrap()
            .limits;
        assert_eq!((both.hard_error_limit, both.max_errors), (9, 9));
        assert!(Config::parse("[limits]\nhard_error_limit = 0").is_err());
        assert!(Config::parse("[limits]\nmax_line_length = 1000").is_err());
        assert!(Config::parse("[limits]\nwrite_timeout_secs = 0").is_err());
        assert!(Config::parse("[postmaster]\naddress = \"not an address\"").is_err());
        let p = Config::parse("[postmaster]\naddress = \"root@example.org\"").unwrap();
        assert_eq!(p.postmaster.address, "root@example.org");
    }

    #[test]
    fn milter_entries() {
        let c = Config::parse(
            "[[milter]]\nsocket = \"unix:sa.sock\"\n[[milter]]\nsocket = \"inet:127.0.0.1:11332\"\non_failure = \"accept\"\nsubmission = true",
        )
        .unwrap();
        assert_eq!(c.milter.len(), 2);
        let dir = Path::new("/data");
        assert_eq!(
            c.milter[0].endpoint(dir).unwrap(),
            MilterSocket::Unix(PathBuf::from("/data/sa.sock"))
        );
        assert_eq!(c.milter[0].on_failure, MilterFailure::Tempfail);
        assert_eq!(
            c.milter[1].endpoint(dir).unwrap(),
            MilterSocket::Inet("127.0.0.1".into(), 11332)
        );
        assert_eq!(c.milter[1].on_failure, MilterFailure::Accept);
        let sendmail = Milter {
            socket: "inet:8891@localhost".into(),
            ..Milter::default()
        };
        assert_eq!(
            sendmail.endpoint(dir).unwrap(),
            MilterSocket::Inet("localhost".into(), 8891)
        );
        assert!(Config::parse("[[milter]]\nsocket = \"nowhere\"").is_err());
        assert!(Config::parse("[[milter]]\nsocket = \"unix:a\"\non_failure = \"maybe\"").is_err());
        assert!(Config::parse("[[milter]]\nsocket = \"unix:a\"\neom_timeout_secs = 0").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::parse("hostnme = \"x\"").is_err());
        assert!(Config::parse("hostname = \"a/b\"").is_err());
        assert!(Config::parse("[limits]\nmax_recipients = 0").is_err());
        let c = Config::parse("hostname = \"mx.example.org\"\n[listen]\nsmtp = [\"0.0.0.0:25\"]")
            .unwrap();
        assert_eq!(c.listen.smtp[0].port(), 25);
    }
}

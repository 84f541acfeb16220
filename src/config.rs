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
}

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
        }
    }
}

impl Listen {
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
    /// Seconds to wait for the next command before closing. Default 300 (RFC 5321 §4.5.3.2.7).
    pub command_timeout_secs: u64,
    /// Protocol errors in one session before it is closed. Default 10.
    pub max_errors: usize,
    /// Seconds a refused login waits before its reply. Default 2.
    pub auth_failure_delay_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 50,
            command_timeout_secs: 300,
            max_errors: 10,
            auth_failure_delay_secs: 2,
        }
    }
}

impl Limits {
    /// [`Limits::command_timeout_secs`] as a duration.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.command_timeout_secs)
    }

    /// [`Limits::auth_failure_delay_secs`] as a duration.
    pub fn auth_failure_delay(&self) -> Duration {
        Duration::from_secs(self.auth_failure_delay_secs)
    }
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

/// The outbound queue: mail for other domains, forwarded aliases and bounces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outbound {
    /// Send everything through this smarthost (`"host:port"` or `"[ip]:port"`) instead of looking
    /// up MX records. Default empty: MX delivery.
    pub relayhost: String,
    /// TCP port of MX hosts. Always 25 on the Internet; tests point it at a local sink. Default 25.
    pub mx_port: u16,
    /// Domains (lower case) to which mail leaves only over TLS with a verified certificate;
    /// elsewhere STARTTLS is used when offered without checking the certificate (opportunistic,
    /// RFC 3207 §4.1). Default empty.
    pub require_tls: Vec<String>,
    /// Extra PEM CA file trusted when verifying [`Outbound::require_tls`] peers (tests); the
    /// system's roots are not read. Relative to the data directory.
    pub ca_file: Option<PathBuf>,
    /// Waits between delivery attempts, in seconds; the last one repeats.
    /// Default 5 min, 15 min, 30 min, 1 h, 2 h, 4 h.
    pub retry_schedule_secs: Vec<u64>,
    /// Seconds after which an undeliverable message is bounced. Default 5 days.
    pub max_lifetime_secs: u64,
    /// Seconds after which the sender is told that delivery is delayed (one warning). 0: never.
    /// Default 4 hours.
    pub delay_warning_secs: u64,
    /// Seconds to wait for a connection, and for each reply. Default 30 and 300.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for each reply of the remote server. Default 300 (RFC 5321 §4.5.3.2).
    pub reply_timeout_secs: u64,
    /// Deliveries in progress at once. Default 20.
    pub concurrency: usize,
    /// Rewrite the envelope sender of forwarded mail with SRS so that SPF passes at the
    /// destination. Default true.
    pub srs: bool,
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            relayhost: String::new(),
            mx_port: 25,
            require_tls: Vec::new(),
            ca_file: None,
            retry_schedule_secs: vec![300, 900, 1800, 3600, 7200, 14400],
            max_lifetime_secs: 5 * 24 * 3600,
            delay_warning_secs: 4 * 3600,
            connect_timeout_secs: 30,
            reply_timeout_secs: 300,
            concurrency: 20,
            srs: true,
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
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            source: Box::new(e),
        })?;
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
        if l.max_message_size < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_message_size must be at least 1024".to_owned(),
            ));
        }
        if self.outbound.retry_schedule_secs.is_empty() || self.outbound.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "outbound.retry_schedule_secs must not be empty and outbound.concurrency at least 1"
                    .to_owned(),
            ));
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
# command_timeout_secs = 300
# max_errors = 10
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
# Mail for other domains waits in the queue directory until delivered to the domain's MX hosts.
# relayhost = ""                     # e.g. "[smtp.provider.net]:587" to send everything through it
# mx_port = 25
# require_tls = []                   # domains that only get mail over verified TLS
# retry_schedule_secs = [300, 900, 1800, 3600, 7200, 14400]   # the last repeats
# max_lifetime_secs = 432000         # 5 days, then a bounce to the sender
# delay_warning_secs = 14400         # one "still trying" notice after 4 hours; 0: never
# connect_timeout_secs = 30
# reply_timeout_secs = 300
# concurrency = 20
# srs = true                         # rewrite the sender of forwarded mail (SPF-safe forwarding)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_to_defaults() {
        let config = Config::parse(DEFAULT_CONFIG_TEXT).unwrap();
        assert_eq!(config.hostname, "localhost");
        assert_eq!(config.listen.smtp, loopback(2525));
        assert_eq!(config.limits.max_recipients, 100);
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

//! DNS for the server: MX routing, address lookups, DNSBL queries, and the resolver behind SPF, DKIM
//! and DMARC checks.
//!
//! One [`Dns`] is built from the `[dns]` section of the configuration and shared by every service:
//! it wraps `mail-auth`'s [`MessageAuthenticator`], whose `hickory-resolver` answers our own
//! lookups too, so there is one cache. `dns.nameservers` points it at given servers (tests and
//! sites with a local resolver); empty means the system's `/etc/resolv.conf`.
//!
//! ```
//! # async fn demo() -> Result<(), mailwright::core::dns::DnsError> {
//! use mailwright::core::config::DnsConfig;
//! use mailwright::core::dns::{Dns, MxRoute};
//!
//! let dns = Dns::new(&DnsConfig { nameservers: vec!["127.0.0.1:5353".parse().unwrap()], ..DnsConfig::default() })?;
//! match dns.mx("example.org").await? {
//!     MxRoute::Hosts(hosts) => println!("try {hosts:?} in this order"),
//!     MxRoute::NullMx => println!("the domain accepts no mail (RFC 7505)"),
//! }
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::NetError;
use mail_auth::hickory_resolver::proto::rr::RData;

use crate::core::config::DnsConfig;

/// A DNS failure that is not a plain "no such record".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The resolver could not be set up (bad system configuration).
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
    /// The domain does not exist (NXDOMAIN): a permanent failure for mail routing.
    #[error("domain {0} does not exist")]
    NoDomain(String),
    /// The lookup failed for now (timeout, SERVFAIL, network): try again later.
    #[error("DNS lookup for {name} failed: {reason}")]
    Temporary {
        /// The name looked up.
        name: String,
        /// What the resolver said.
        reason: String,
    },
}

impl DnsError {
    /// `true` when a later retry may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Temporary { .. } | Self::Setup(_))
    }
}

/// Where mail for a domain goes (RFC 5321 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxRoute {
    /// Host names to try, most preferred first (equal preferences keep the resolver's order). A
    /// domain without MX records routes to itself (the implicit MX).
    Hosts(Vec<String>),
    /// The domain publishes a null MX (`MX 0 .`, RFC 7505): it accepts no mail.
    NullMx,
}

/// The shared resolver. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    auth: MessageAuthenticator,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").finish_non_exhaustive()
    }
}

/// Turns a host name into an absolute DNS name so that no search domain is appended.
fn absolute(name: &str) -> String {
    let mut n = name.trim_end_matches('.').to_ascii_lowercase();
    n.push('.');
    n
}

impl Dns {
    /// Builds the resolver from the configuration.
    pub fn new(config: &DnsConfig) -> Result<Self, DnsError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(config.timeout_secs.max(1));
        opts.attempts = 2;
        let auth = if config.nameservers.is_empty() {
            let (conf, mut sys_opts) = mail_auth::hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| DnsError::Setup(e.to_string()))?;
            sys_opts.timeout = opts.timeout;
            MessageAuthenticator::new(conf, sys_opts)
        } else {
            let servers = config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), opts)
        }
        .map_err(|e| DnsError::Setup(e.to_string()))?;
        Ok(Self { auth })
    }

    /// The `mail-auth` authenticator (SPF, DKIM, DMARC, iprev) on this resolver.
    pub fn authenticator(&self) -> &MessageAuthenticator {
        &self.auth
    }

    /// The underlying resolver.
    pub fn resolver(&self) -> &TokioResolver {
        self.auth.resolver()
    }

    /// The mail route of `domain`: its MX hosts in preference order, the domain itself when it has
    /// no MX (RFC 5321 §5.1 implicit MX), or [`MxRoute::NullMx`].
    pub async fn mx(&self, domain: &str) -> Result<MxRoute, DnsError> {
        let name = absolute(domain);
        match self.resolver().mx_lookup(name.as_str()).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange
                                .to_ascii()
                                .trim_end_matches('.')
                                .to_ascii_lowercase(),
                        )),
                        _ => None,
                    })
                    .collect();
                // RFC 7505 §3: a single MX with an empty exchange ("." ) means no mail.
                if mx.iter().any(|(_, host)| host.is_empty()) {
                    return Ok(MxRoute::NullMx);
                }
                if mx.is_empty() {
                    return Ok(MxRoute::Hosts(vec![domain.to_ascii_lowercase()]));
                }
                mx.sort_by_key(|(pref, _)| *pref);
                Ok(MxRoute::Hosts(mx.into_iter().map(|(_, h)| h).collect()))
            }
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {
                Ok(MxRoute::Hosts(vec![domain.to_ascii_lowercase()]))
            }
            Err(e) => Err(classify(domain, &e)),
        }
    }

    /// The addresses of a host (A and AAAA).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(vec![ip]);
        }
        let name = absolute(host);
        match self.resolver().lookup_ip(name.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(classify(host, &e)),
        }
    }

    /// The IPv4 addresses a name has (no AAAA): what DNSBL queries ask. An absent name is an empty
    /// list, not an error.
    pub async fn ipv4(&self, name: &str) -> Result<Vec<std::net::Ipv4Addr>, DnsError> {
        let fq = absolute(name);
        match self.resolver().ipv4_lookup(fq.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(classify(name, &e)),
        }
    }

    /// The TXT strings of a name (each record's strings joined). Absent: empty.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let fq = absolute(name);
        match self.resolver().txt_lookup(fq.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(classify(name, &e)),
        }
    }
}

fn classify(name: &str, e: &NetError) -> DnsError {
    if e.is_nx_domain() {
        DnsError::NoDomain(name.to_owned())
    } else {
        DnsError::Temporary {
            name: name.to_owned(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute() {
        assert_eq!(absolute("Example.ORG"), "example.org.");
        assert_eq!(absolute("example.org."), "example.org.");
    }
}

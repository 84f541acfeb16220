//! The services the server offers, the peer of a connection, and the limits on connections at
//! once (total and per client address).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The services the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// SMTP for incoming mail.
    Smtp,
    /// Submission with STARTTLS.
    Submission,
    /// Submission over implicit TLS.
    Submissions,
    /// LMTP over TCP.
    Lmtp,
    /// LMTP over a unix socket.
    LmtpUnix,
    /// IMAP with STARTTLS.
    Imap,
    /// IMAP over implicit TLS.
    Imaps,
    /// POP3 with STLS.
    Pop3,
    /// POP3 over implicit TLS.
    Pop3s,
    /// ManageSieve with STARTTLS.
    ManageSieve,
}

impl Service {
    /// Whether TLS starts with the connection.
    pub fn implicit_tls(self) -> bool {
        matches!(self, Self::Submissions | Self::Imaps | Self::Pop3s)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Smtp => "smtp",
            Self::Submission => "submission",
            Self::Submissions => "submissions",
            Self::Lmtp => "lmtp",
            Self::LmtpUnix => "lmtp (unix)",
            Self::Imap => "imap",
            Self::Imaps => "imaps",
            Self::Pop3 => "pop3",
            Self::Pop3s => "pop3s",
            Self::ManageSieve => "managesieve",
        })
    }
}

/// The peer of a connection, for policy and logs.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address; `None` on a unix socket.
    pub addr: Option<SocketAddr>,
}

impl Peer {
    /// Whether the client is on this machine (loopback address or unix socket).
    pub fn is_local(&self) -> bool {
        self.addr.is_none_or(|a| a.ip().is_loopback())
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            Some(a) => a.fmt(f),
            None => f.write_str("unix"),
        }
    }
}

/// Counts connections, in total and per client address.
#[derive(Debug)]
pub struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Held while a connection is open; releases its slot when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    limits: Arc<ConnLimits>,
    ip: Option<IpAddr>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server is at its total.
    Total,
    /// This client address is at its limit.
    PerIp,
}

impl ConnLimits {
    /// New limits.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            counts: Mutex::new((0, HashMap::new())),
        })
    }

    /// Takes a slot for a connection from `ip`, or says why not.
    pub fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnSlot, Refusal> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.0 >= self.max_total {
            return Err(Refusal::Total);
        }
        if let Some(ip) = ip {
            let n = counts.1.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(Refusal::PerIp);
            }
            *n += 1;
        }
        counts.0 += 1;
        Ok(ConnSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.0 -= 1;
        if let Some(ip) = self.ip
            && let Some(n) = counts.1.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.1.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_and_release() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let s1 = limits.acquire(Some(a)).unwrap();
        let _s2 = limits.acquire(Some(a)).unwrap();
        assert_eq!(limits.acquire(Some(a)).unwrap_err(), Refusal::PerIp);
        let _s3 = limits.acquire(Some(b)).unwrap();
        assert_eq!(limits.acquire(None).unwrap_err(), Refusal::Total);
        drop(s1);
        assert_eq!(limits.open(), 2);
        let _s4 = limits.acquire(Some(a)).unwrap();
    }
}

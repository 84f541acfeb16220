//! Anti-abuse for SMTP and submission: rate limits per client address and per authenticated user,
//! failed-login counting per address, DNS blocklists (RFC 5782) and early talkers.
//!
//! The limiters are in memory, count in fixed windows, take the time as an argument (tests move
//! the clock instead of sleeping) and remember at most `[abuse] max_tracked` keys each: expired
//! windows are pruned first, then the oldest window is evicted. IPv6 clients are counted per /64,
//! the block an end site usually holds, so that one host cannot dodge a limit by changing address.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mailwright::core::abuse::RateLimiter;
//!
//! let mut per_minute = RateLimiter::new(2, Duration::from_secs(60), 1000);
//! let t0 = Instant::now();
//! assert!(per_minute.admit(&"alice", 1, t0).is_ok());
//! assert!(per_minute.admit(&"alice", 1, t0).is_ok());
//! assert!(per_minute.admit(&"alice", 1, t0).is_err());
//! assert!(per_minute.admit(&"alice", 1, t0 + Duration::from_secs(60)).is_ok());
//! ```

use crate::core::smtp_reply;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mailwright_smtp_proto::Reply;
use tracing::warn;

use crate::core::directory::Address;
use crate::core::net::Peer;

/// A limit was reached: the count in the current window would pass `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// The configured limit.
    pub limit: u32,
    /// When the current window ends and the key may try again.
    pub retry_after: Duration,
}

/// Counts events per key in fixed windows, bounded in memory.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: u32,
    window: Duration,
    max_keys: usize,
    /// Per key: when its window started and what it counted since.
    entries: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// At most `limit` per `window` for each key (0: no limit), remembering at most `max_keys`
    /// keys (at least 1).
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            limit,
            window,
            max_keys: max_keys.max(1),
            entries: HashMap::new(),
        }
    }

    /// Whether this limiter limits anything.
    pub fn is_off(&self) -> bool {
        self.limit == 0
    }

    /// Counts `cost` events for `key` at `now` if they fit in its window; otherwise counts nothing
    /// and says until when the window lasts.
    pub fn admit(&mut self, key: &K, cost: u32, now: Instant) -> Result<(), Exceeded> {
        if self.is_off() {
            return Ok(());
        }
        let (limit, window) = (self.limit, self.window);
        let (start, count) = self.entry(key, now);
        if count.saturating_add(cost) > limit {
            return Err(Exceeded {
                limit,
                retry_after: window.saturating_sub(now.saturating_duration_since(*start)),
            });
        }
        *count += cost;
        Ok(())
    }

    /// Counts `cost` events for `key` whatever the limit (failures that already happened).
    pub fn record(&mut self, key: &K, cost: u32, now: Instant) {
        if !self.is_off() {
            let (_, count) = self.entry(key, now);
            *count = count.saturating_add(cost);
        }
    }

    /// Takes back `cost` events counted for `key` (an admitted action that did not happen).
    pub fn refund(&mut self, key: &K, cost: u32) {
        if let Some((_, count)) = self.entries.get_mut(key) {
            *count = count.saturating_sub(cost);
        }
    }

    /// Whether `key` has reached the limit in its current window.
    pub fn reached(&self, key: &K, now: Instant) -> bool {
        !self.is_off() && self.count(key, now) >= self.limit
    }

    /// What `key` has counted in its current window.
    pub fn count(&self, key: &K, now: Instant) -> u32 {
        match self.entries.get(key) {
            Some((start, count)) if !self.expired(*start, now) => *count,
            _ => 0,
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expired(&self, start: Instant, now: Instant) -> bool {
        now.saturating_duration_since(start) >= self.window
    }

    /// The current window of `key`, started afresh when the old one has ended.
    fn entry(&mut self, key: &K, now: Instant) -> &mut (Instant, u32) {
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_keys {
            self.prune(now);
        }
        let window = self.window;
        let entry = self.entries.entry(key.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry
    }

    /// Drops ended windows; if every key is still live, evicts the oldest window.
    fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.entries
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        if self.entries.len() >= self.max_keys
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (start, _))| *start)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 (IPv4-mapped as IPv4).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(seg))
            }
        },
    }
}

/// Which limit refused an action; [`Limited::reply`] is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limited {
    /// `connections_per_ip_per_minute`: answered `421 4.7.0` and closed.
    Connections(Exceeded),
    /// `messages_per_ip_per_minute`: `MAIL` answered `450 4.7.1`.
    MessagesPerIp(Exceeded),
    /// `messages_per_user_per_minute`: `MAIL` answered `450 4.7.1`.
    MessagesPerUser(Exceeded),
    /// `recipients_per_user_per_hour`: `RCPT` answered `450 4.7.1`.
    RecipientsPerUser(Exceeded),
    /// `auth_failures_per_ip` reached: `AUTH` answered `454 4.7.0` without checking the password.
    AuthBlocked,
}

impl Limited {
    /// The SMTP reply naming the limit (RFC 3463 §3.8: X.7.0 other security, X.7.1 not
    /// authorised; RFC 4954 §6 for `454 4.7.0`).
    pub fn reply(&self) -> Reply {
        match self {
            Self::Connections(e) => smtp_reply(
                421,
                (4, 7, 0),
                &format!(
                    "Too many connections from your address (limit {} per minute), try again later",
                    e.limit
                ),
            ),
            Self::MessagesPerIp(e) => smtp_reply(
                450,
                (4, 7, 1),
                &format!(
                    "Too many messages from your address (limit {} per minute), try again later",
                    e.limit
                ),
            ),
            Self::MessagesPerUser(e) => smtp_reply(
                450,
                (4, 7, 1),
                &format!(
                    "Too many messages from your account (limit {} per minute), try again later",
                    e.limit
                ),
            ),
            Self::RecipientsPerUser(e) => smtp_reply(
                450,
                (4, 7, 1),
                &format!(
                    "Too many recipients from your account (limit {} per hour), try again later",
                    e.limit
                ),
            ),
            Self::AuthBlocked => smtp_reply(
                454,
                (4, 7, 0),
                "Too many failed logins from your address, try again later",
            ),
        }
    }

    /// Whether the session should be closed after the reply.
    pub fn closes(&self) -> bool {
        matches!(self, Self::Connections(_))
    }
}

/// The server's anti-abuse state, shared by every session (`Core::abuse`).
#[derive(Debug)]
pub struct Abuse {
    config: crate::core::config::Abuse,
    connections: Mutex<RateLimiter<IpAddr>>,
    messages_ip: Mutex<RateLimiter<IpAddr>>,
    messages_user: Mutex<RateLimiter<Address>>,
    recipients_user: Mutex<RateLimiter<Address>>,
    auth_failures: Mutex<RateLimiter<IpAddr>>,
    /// `outbound.trusted_networks`: exempt like loopback.
    trusted_networks: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const MINUTE: Duration = Duration::from_mins(1);
const HOUR: Duration = Duration::from_hours(1);

impl Abuse {
    /// Fresh limiters for the `[abuse]` section.
    pub fn new(config: &crate::core::config::Abuse) -> Self {
        let n = config.max_tracked;
        Self {
            connections: Mutex::new(RateLimiter::new(
                config.connections_per_ip_per_minute,
                MINUTE,
                n,
            )),
            messages_ip: Mutex::new(RateLimiter::new(
                config.messages_per_ip_per_minute,
                MINUTE,
                n,
            )),
            messages_user: Mutex::new(RateLimiter::new(
                config.messages_per_user_per_minute,
                MINUTE,
                n,
            )),
            recipients_user: Mutex::new(RateLimiter::new(
                config.recipients_per_user_per_hour,
                HOUR,
                n,
            )),
            auth_failures: Mutex::new(RateLimiter::new(
                config.auth_failures_per_ip,
                Duration::from_secs(config.auth_block_secs),
                n,
            )),
            config: config.clone(),
            trusted_networks: Vec::new(),
        }
    }

    /// Exempts clients in these networks (`addr/prefix`) too, as Postfix exempts `$mynetworks`
    /// from its client rate limits: `outbound.trusted_networks`, the hosts that may relay.
    #[must_use]
    pub fn with_trusted_networks(mut self, networks: &[String]) -> Self {
        self.trusted_networks = networks.to_vec();
        self
    }

    /// The client's counting key, or `None` when it is exempt (unix socket, a trusted network, or
    /// loopback under `exempt_loopback`).
    fn key(&self, peer: Peer) -> Option<IpAddr> {
        let ip = peer.addr?.ip();
        if self
            .trusted_networks
            .iter()
            .any(|net| crate::core::config::cidr_contains(net, ip))
        {
            return None;
        }
        let ip = client_key(ip);
        (!(self.config.exempt_loopback && ip.is_loopback())).then_some(ip)
    }

    /// Whether this client skips every check.
    pub fn is_exempt(&self, peer: Peer) -> bool {
        self.key(peer).is_none()
    }

    /// Counts a new connection.
    pub fn admit_connection(&self, peer: Peer, now: Instant) -> Result<(), Limited> {
        let Some(ip) = self.key(peer) else {
            return Ok(());
        };
        lock(&self.connections)
            .admit(&ip, 1, now)
            .map_err(Limited::Connections)
    }

    /// Counts a new message (`MAIL`) from the client and, when authenticated, from the user.
    pub fn admit_message(
        &self,
        peer: Peer,
        user: Option<&Address>,
        now: Instant,
    ) -> Result<(), Limited> {
        let Some(ip) = self.key(peer) else {
            return Ok(());
        };
        if let Some(user) = user {
            lock(&self.messages_user)
                .admit(user, 1, now)
                .map_err(Limited::MessagesPerUser)?;
        }
        lock(&self.messages_ip)
            .admit(&ip, 1, now)
            .map_err(Limited::MessagesPerIp)
            .inspect_err(|_| {
                if let Some(user) = user {
                    lock(&self.messages_user).refund(user, 1);
                }
            })
    }

    /// Counts one recipient of an authenticated user (unauthenticated sessions are not counted).
    pub fn admit_recipient(
        &self,
        peer: Peer,
        user: Option<&Address>,
        now: Instant,
    ) -> Result<(), Limited> {
        match (self.key(peer), user) {
            (Some(_), Some(user)) => lock(&self.recipients_user)
                .admit(user, 1, now)
                .map_err(Limited::RecipientsPerUser),
            _ => Ok(()),
        }
    }

    /// Takes back a recipient counted by [`Abuse::admit_recipient`] that was then refused.
    pub fn refund_recipient(&self, peer: Peer, user: Option<&Address>) {
        if let (Some(_), Some(user)) = (self.key(peer), user) {
            lock(&self.recipients_user).refund(user, 1);
        }
    }

    /// The `[abuse]` configuration in force.
    pub fn config(&self) -> &crate::core::config::Abuse {
        &self.config
    }

    /// Whether logins from this client are blocked for now.
    pub fn auth_blocked(&self, peer: Peer, now: Instant) -> Result<(), Limited> {
        match self.key(peer) {
            Some(ip) if lock(&self.auth_failures).reached(&ip, now) => Err(Limited::AuthBlocked),
            _ => Ok(()),
        }
    }

    /// Counts a failed login from this client.
    pub fn record_auth_failure(&self, peer: Peer, now: Instant) {
        if let Some(ip) = self.key(peer) {
            lock(&self.auth_failures).record(&ip, 1, now);
        }
    }
}

/// The name to look up for `ip` in a DNSBL `zone`: IPv4 octets reversed (RFC 5782 §2.1), IPv6 as
/// 32 reversed nibbles (RFC 5782 §2.4), then the zone.
pub fn dnsbl_query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return dnsbl_query_name(IpAddr::V4(v4), zone);
            }
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str(zone);
            name
        }
    }
}

/// Whether a DNSBL answer means "listed": an address in 127.0.0.0/8 (RFC 5782 §2.1), except
/// 127.255.255.0/24, which large lists use for errors (query refused, over quota) rather than
/// listings.
pub fn is_listing(answer: Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

/// Asks every zone about `ip` at once; returns the first zone (in configured order) that lists
/// it. A lookup that fails is logged and counts as "not listed": a DNS outage never blocks mail.
pub async fn dnsbl_listed(
    dns: &crate::core::dns::Dns,
    ip: IpAddr,
    zones: &[String],
) -> Option<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, zone) in zones.iter().enumerate() {
        let dns = dns.clone();
        let name = dnsbl_query_name(ip, zone);
        tasks.spawn(async move { (i, name.clone(), dns.ipv4(&name).await) });
    }
    let mut listed: Option<usize> = None;
    while let Some(joined) = tasks.join_next().await {
        let Ok((i, name, result)) = joined else {
            continue;
        };
        match result {
            Ok(answers) if answers.iter().copied().any(is_listing) => {
                listed = Some(listed.map_or(i, |l| l.min(i)));
            }
            Ok(answers) if !answers.is_empty() => {
                warn!(%name, ?answers, "DNSBL answered outside 127/8 or with an error code; ignored");
            }
            Ok(_) => {}
            Err(e) => warn!(%name, "DNSBL lookup failed, not blocking: {e}"),
        }
    }
    listed.map(|i| zones[i].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Peer {
        Peer {
            addr: Some(std::net::SocketAddr::new(ip.parse().unwrap(), 4000)),
        }
    }

    #[test]
    fn fixed_window_admits_up_to_the_limit_then_resets() {
        let mut l = RateLimiter::new(3, MINUTE, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.admit(&1, 1, t0).unwrap();
        }
        let e = l.admit(&1, 1, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(e.limit, 3);
        assert_eq!(e.retry_after, Duration::from_secs(40));
        // Another key has its own window; a refused admission counts nothing.
        l.admit(&2, 3, t0).unwrap();
        assert_eq!(l.count(&1, t0), 3);
        l.admit(&1, 1, t0 + MINUTE).unwrap();
        assert_eq!(l.count(&1, t0 + MINUTE), 1);
        // A cost larger than what is left is refused whole.
        assert!(l.admit(&1, 3, t0 + MINUTE).is_err());
        l.refund(&1, 1);
        l.admit(&1, 3, t0 + MINUTE).unwrap();
    }

    #[test]
    fn zero_means_off_and_record_counts_past_the_limit() {
        let mut off = RateLimiter::new(0, MINUTE, 10);
        let t0 = Instant::now();
        for _ in 0..1000 {
            off.admit(&"k", 1, t0).unwrap();
        }
        assert!(off.is_empty() && !off.reached(&"k", t0));
        let mut failures = RateLimiter::new(2, MINUTE, 10);
        failures.record(&"ip", 1, t0);
        assert!(!failures.reached(&"ip", t0));
        failures.record(&"ip", 5, t0);
        assert!(failures.reached(&"ip", t0 + Duration::from_secs(59)));
        assert!(!failures.reached(&"ip", t0 + MINUTE));
    }

    #[test]
    fn memory_is_bounded_expired_first_then_oldest() {
        let mut l = RateLimiter::new(5, MINUTE, 3);
        let t0 = Instant::now();
        l.admit(&1, 1, t0).unwrap();
        l.admit(&2, 1, t0 + Duration::from_secs(10)).unwrap();
        l.admit(&3, 1, t0 + Duration::from_secs(20)).unwrap();
        // Full, nothing expired: the oldest window (key 1) goes.
        l.admit(&4, 1, t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l.count(&1, t0 + Duration::from_secs(30)), 0);
        // Later every window but 4's has ended: they are pruned together.
        let later = t0 + Duration::from_secs(85);
        l.admit(&5, 1, later).unwrap();
        assert_eq!(l.len(), 2);
        for k in 0..10_000 {
            l.admit(&(100 + k), 1, later + Duration::from_millis(k))
                .unwrap();
        }
        assert!(l.len() <= 3);
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn dnsbl_names_and_answers() {
        // RFC 5782 §2.1 and §2.4 examples.
        assert_eq!(
            dnsbl_query_name("192.0.2.99".parse().unwrap(), "bad.example.com"),
            "99.2.0.192.bad.example.com"
        );
        assert_eq!(
            dnsbl_query_name(
                "2001:db8:1:2:3:4:567:89ab".parse().unwrap(),
                "ugly.example.com."
            ),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
        );
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 10)));
        assert!(!is_listing(Ipv4Addr::new(127, 255, 255, 254)));
        assert!(!is_listing(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn abuse_limits_per_ip_and_user_with_exact_replies() {
        let config = crate::core::config::Abuse {
            exempt_loopback: true,
            connections_per_ip_per_minute: 2,
            messages_per_ip_per_minute: 3,
            messages_per_user_per_minute: 2,
            recipients_per_user_per_hour: 2,
            auth_failures_per_ip: 2,
            ..crate::core::config::Abuse::default()
        };
        let abuse = Abuse::new(&config);
        let t0 = Instant::now();
        let remote = peer("192.0.2.1");
        let local = peer("127.0.0.1");
        abuse.admit_connection(remote, t0).unwrap();
        abuse.admit_connection(remote, t0).unwrap();
        let refused = abuse.admit_connection(remote, t0).unwrap_err();
        assert!(refused.closes());
        assert_eq!(
            refused.reply().to_string(),
            "421 4.7.0 Too many connections from your address (limit 2 per minute), try again later"
        );
        for _ in 0..10 {
            abuse.admit_connection(local, t0).unwrap();
        }
        let alice: Address = "alice@example.org".parse().unwrap();
        abuse.admit_message(remote, Some(&alice), t0).unwrap();
        abuse.admit_message(remote, Some(&alice), t0).unwrap();
        let e = abuse.admit_message(remote, Some(&alice), t0).unwrap_err();
        assert!(
            e.reply()
                .to_string()
                .starts_with("450 4.7.1 Too many messages from your account (limit 2 per minute)"),
            "{}",
            e.reply()
        );
        abuse.admit_message(remote, None, t0).unwrap();
        let e = abuse.admit_message(remote, None, t0).unwrap_err();
        assert!(matches!(e, Limited::MessagesPerIp(_)));
        abuse.admit_recipient(remote, Some(&alice), t0).unwrap();
        abuse.admit_recipient(remote, Some(&alice), t0).unwrap();
        abuse.refund_recipient(remote, Some(&alice));
        abuse.admit_recipient(remote, Some(&alice), t0).unwrap();
        let e = abuse.admit_recipient(remote, Some(&alice), t0).unwrap_err();
        assert!(
            e.reply()
                .to_string()
                .starts_with("450 4.7.1 Too many recipients from your account (limit 2 per hour)")
        );
        abuse
            .admit_recipient(remote, Some(&alice), t0 + HOUR)
            .unwrap();
        abuse.auth_blocked(remote, t0).unwrap();
        abuse.record_auth_failure(remote, t0);
        abuse.record_auth_failure(remote, t0);
        assert_eq!(abuse.auth_blocked(remote, t0), Err(Limited::AuthBlocked));
        assert!(
            abuse
                .auth_blocked(remote, t0 + Duration::from_mins(15))
                .is_ok()
        );
        abuse.record_auth_failure(local, t0);
        abuse.record_auth_failure(local, t0);
        assert!(abuse.auth_blocked(local, t0).is_ok(), "loopback exempt");
        let trusting = Abuse::new(&config).with_trusted_networks(&["198.51.100.0/24".to_owned()]);
        for _ in 0..10 {
            trusting.admit_connection(peer("198.51.100.7"), t0).unwrap();
        }
        assert!(trusting.is_exempt(peer("198.51.100.7")));
        assert!(!trusting.is_exempt(peer("198.51.101.7")));
    }
}

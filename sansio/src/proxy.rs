//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2): what a load
//! balancer sends first on a connection it relays, naming the client it accepted.
//!
//! Sans-IO like the rest of the crate: [`parse`] reads a header from the front of a buffer and
//! says how many octets it took, or that it needs more ([`DecodeError::Incomplete`]); [`wanted`]
//! says how many more octets are certainly part of the header, so a driver can read exactly the
//! header and leave the protocol's first bytes (or a TLS handshake) in the socket. [`encode`]
//! writes a header (tests, and a client behind which we stand).
//!
//! Bounded: a version 1 line is at most [`V1_MAX_LEN`] octets (CRLF included); a version 2 header
//! at most 16 octets plus [`ProxyConfig::max_v2_payload`]. TLVs of version 2 are skipped.
//!
//! ```
//! use mailwright_sansio::proxy::{parse, ProxyCommand, ProxyConfig};
//! let (header, used) = parse(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO", &ProxyConfig::default()).unwrap();
//! assert_eq!(used, 44);
//! let ProxyCommand::Proxy { source, .. } = header.command else { panic!() };
//! assert_eq!(source.to_string(), "192.0.2.1:56324");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::{DecodeError, Excerpt};

/// The signature that starts a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included (`proxy-protocol.txt` §2.1).
pub const V1_MAX_LEN: usize = 107;

/// Octets of a version 2 header before its payload: signature, version and command, family,
/// length.
pub const V2_FIXED_LEN: usize = 16;

/// The largest address block of version 2 (two unix socket paths, 2 × 108).
pub const V2_MAX_ADDRESSES: usize = 216;

const V1_PREFIX: &[u8] = b"PROXY ";
/// The shortest header of either version (`PROXY UNKNOWN\r\n`).
const MIN_LEN: usize = 15;

/// Limits of the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// The largest version 2 payload (addresses and TLVs) accepted. Default
    /// [`V2_MAX_ADDRESSES`] (216): any address block, and the TLVs that fit beside it.
    pub max_v2_payload: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_v2_payload: V2_MAX_ADDRESSES,
        }
    }
}

/// Which version of the protocol a header is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// The text line.
    V1,
    /// The binary header.
    V2,
}

/// What a header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyCommand {
    /// The connection was made by the proxy itself (a health check; version 2 `LOCAL`): use the
    /// connection's own addresses. Version 1 has no such command; [`encode`] writes it as
    /// `UNKNOWN`.
    Local,
    /// A relayed connection whose addresses are not given or not IP (version 1 `UNKNOWN`,
    /// version 2 `PROXY` with family `UNSPEC` or `UNIX`): use the connection's own addresses.
    Unknown,
    /// A relayed TCP connection from `source` to `destination`.
    Proxy {
        /// The client, as the proxy saw it.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
}

/// A PROXY protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    /// The version it was (or is to be) sent in.
    pub version: ProxyVersion,
    /// What it says.
    pub command: ProxyCommand,
}

impl ProxyHeader {
    /// The client address the header claims, if any (only [`ProxyCommand::Proxy`] claims one).
    pub fn source(&self) -> Option<SocketAddr> {
        match self.command {
            ProxyCommand::Proxy { source, .. } => Some(source),
            ProxyCommand::Local | ProxyCommand::Unknown => None,
        }
    }
}

/// What was wrong with a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyMalformed {
    /// The input starts with neither signature.
    #[error("not a PROXY protocol header")]
    NoSignature,
    /// A version 1 line without CRLF within 107 octets, or a version 2 payload over the limit.
    #[error("PROXY header too long")]
    TooLong,
    /// A version 1 line that is not `PROXY TCP4|TCP6|UNKNOWN` with valid addresses and ports.
    #[error("malformed PROXY version 1 line")]
    BadLine,
    /// A version 2 header of another version, or with an unknown command, family or transport.
    #[error("unsupported PROXY version 2 header")]
    Unsupported,
    /// A version 2 payload shorter than its address block.
    #[error("PROXY version 2 payload shorter than its addresses")]
    ShortPayload,
}

fn malformed(kind: ProxyMalformed, skip: usize, input: &[u8]) -> DecodeError<ProxyMalformed> {
    DecodeError::Malformed {
        kind,
        skip,
        excerpt: Excerpt::new(&input[..skip.min(input.len())]),
    }
}

/// Whether `input` and `prefix` agree over the shorter of the two.
fn agrees(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input[..n] == prefix[..n]
}

/// Reads a header from the front of `input`: the header and the octets it took, or
/// [`DecodeError::Incomplete`] when more input is needed, or what was wrong with it. Never
/// panics, and never looks past [`V1_MAX_LEN`] or the version 2 limit.
pub fn parse(
    input: &[u8],
    config: &ProxyConfig,
) -> Result<(ProxyHeader, usize), DecodeError<ProxyMalformed>> {
    if agrees(input, &V2_SIGNATURE) {
        if input.len() < V2_FIXED_LEN {
            return Err(DecodeError::Incomplete);
        }
        return parse_v2(input, config.max_v2_payload);
    }
    if agrees(input, V1_PREFIX) {
        if input.len() < V1_PREFIX.len() {
            return Err(DecodeError::Incomplete);
        }
        return parse_v1(input);
    }
    Err(malformed(ProxyMalformed::NoSignature, input.len(), input))
}

/// How many more octets `input` needs before [`parse`] can say more: all of them are part of the
/// header, so a driver that reads exactly this many never reads past the header. 0 when `input`
/// holds a whole header or cannot start one.
pub fn wanted(input: &[u8], config: &ProxyConfig) -> usize {
    if input.is_empty() {
        return MIN_LEN;
    }
    if agrees(input, &V2_SIGNATURE) {
        if input.len() < V2_FIXED_LEN {
            return V2_FIXED_LEN - input.len();
        }
        let payload = usize::from(u16::from_be_bytes([input[14], input[15]]));
        if payload > config.max_v2_payload {
            return 0;
        }
        return (V2_FIXED_LEN + payload).saturating_sub(input.len());
    }
    if agrees(input, V1_PREFIX) {
        if input.len() < MIN_LEN {
            return MIN_LEN - input.len();
        }
        if input.len() >= V1_MAX_LEN || input.windows(2).any(|w| w == b"\r\n") {
            return 0;
        }
        // The line ends with CRLF: two more octets at least, one when a CR is last.
        return if input.ends_with(b"\r") { 1 } else { 2 }.min(V1_MAX_LEN - input.len());
    }
    0
}

fn parse_v1(input: &[u8]) -> Result<(ProxyHeader, usize), DecodeError<ProxyMalformed>> {
    let window = &input[..input.len().min(V1_MAX_LEN)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if window.len() >= V1_MAX_LEN {
            Err(malformed(ProxyMalformed::TooLong, V1_MAX_LEN, input))
        } else {
            Err(DecodeError::Incomplete)
        };
    };
    let used = end + 2;
    let bad = || malformed(ProxyMalformed::BadLine, used, input);
    let line = std::str::from_utf8(&input[V1_PREFIX.len()..end]).map_err(|_| bad())?;
    let mut fields = line.split(' ');
    let proto = fields.next().ok_or_else(bad)?;
    let v6 = match proto {
        // The rest of an UNKNOWN line is ignored (§2.1).
        "UNKNOWN" => {
            return Ok((
                ProxyHeader {
                    version: ProxyVersion::V1,
                    command: ProxyCommand::Unknown,
                },
                used,
            ));
        }
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(bad()),
    };
    let mut next = || fields.next().ok_or_else(bad);
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(bad());
    }
    let ip = |s: &str| -> Result<IpAddr, DecodeError<ProxyMalformed>> {
        if v6 {
            s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad())
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad())
        }
    };
    let port = |s: &str| -> Result<u16, DecodeError<ProxyMalformed>> {
        // Digits only: `u16::from_str` would take a leading `+`.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let source = SocketAddr::new(ip(src)?, port(sport)?);
    let destination = SocketAddr::new(ip(dst)?, port(dport)?);
    Ok((
        ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy {
                source,
                destination,
            },
        },
        used,
    ))
}

fn parse_v2(
    input: &[u8],
    max_payload: usize,
) -> Result<(ProxyHeader, usize), DecodeError<ProxyMalformed>> {
    let ver_cmd = input[12];
    let family = input[13];
    let payload = usize::from(u16::from_be_bytes([input[14], input[15]]));
    let used = V2_FIXED_LEN + payload;
    if payload > max_payload {
        return Err(malformed(ProxyMalformed::TooLong, V2_FIXED_LEN, input));
    }
    let command = ver_cmd & 0x0f;
    if ver_cmd >> 4 != 2 || command > 1 || family & 0x0f > 2 || family >> 4 > 3 {
        return Err(malformed(ProxyMalformed::Unsupported, used, input));
    }
    if input.len() < used {
        return Err(DecodeError::Incomplete);
    }
    let body = &input[V2_FIXED_LEN..used];
    let header = |command| {
        Ok((
            ProxyHeader {
                version: ProxyVersion::V2,
                command,
            },
            used,
        ))
    };
    // LOCAL: the receiver must ignore the address block (§2.2).
    if command == 0 {
        return header(ProxyCommand::Local);
    }
    let short = || malformed(ProxyMalformed::ShortPayload, used, input);
    // TCP over IPv4 or IPv6; other transports (UDP) and families carry no client for us.
    let stream = family & 0x0f == 1;
    match family >> 4 {
        1 if stream => {
            let a = body.get(..12).ok_or_else(short)?;
            let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]));
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            header(ProxyCommand::Proxy {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            })
        }
        2 if stream => {
            let a = body.get(..36).ok_or_else(short)?;
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&a[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            header(ProxyCommand::Proxy {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            })
        }
        _ => header(ProxyCommand::Unknown),
    }
}

/// Appends `header` to `out`. Version 1 has no `LOCAL` (written as `UNKNOWN`); a source and a
/// destination of different families are both written as IPv6 (IPv4-mapped).
pub fn encode(header: &ProxyHeader, out: &mut Vec<u8>) {
    let addrs = match header.command {
        ProxyCommand::Proxy {
            source,
            destination,
        } => Some(match (source.ip(), destination.ip()) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                (source, destination)
            }
            _ => (as_v6(source), as_v6(destination)),
        }),
        ProxyCommand::Local | ProxyCommand::Unknown => None,
    };
    match header.version {
        ProxyVersion::V1 => {
            let line = match addrs {
                Some((s, d)) => format!(
                    "PROXY {} {} {} {} {}\r\n",
                    if s.is_ipv4() { "TCP4" } else { "TCP6" },
                    s.ip(),
                    d.ip(),
                    s.port(),
                    d.port()
                ),
                None => "PROXY UNKNOWN\r\n".to_owned(),
            };
            out.extend_from_slice(line.as_bytes());
        }
        ProxyVersion::V2 => {
            out.extend_from_slice(&V2_SIGNATURE);
            let command = u8::from(header.command != ProxyCommand::Local);
            out.push(0x20 | command);
            let mut body = Vec::with_capacity(36);
            let family = match addrs {
                Some((s, d)) => {
                    match (s.ip(), d.ip()) {
                        (IpAddr::V4(a), IpAddr::V4(b)) => {
                            body.extend_from_slice(&a.octets());
                            body.extend_from_slice(&b.octets());
                        }
                        (a, b) => {
                            body.extend_from_slice(&v6_octets(a));
                            body.extend_from_slice(&v6_octets(b));
                        }
                    }
                    body.extend_from_slice(&s.port().to_be_bytes());
                    body.extend_from_slice(&d.port().to_be_bytes());
                    if s.is_ipv4() { 0x11 } else { 0x21 }
                }
                None => 0x00,
            };
            out.push(family);
            // At most 36 octets: always fits.
            let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&body);
        }
    }
}

fn as_v6(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(ip_v6(a.ip())), a.port())
}

fn ip_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    ip_v6(ip).octets()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ProxyConfig {
        ProxyConfig::default()
    }

    #[test]
    fn v1_tcp4_tcp6_unknown() {
        let (h, n) = parse(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\nrest", &cfg()).unwrap();
        assert_eq!(n, 36);
        assert_eq!(h.source(), Some("[2001:db8::1]:1".parse().unwrap()));
        let (h, n) = parse(b"PROXY UNKNOWN whatever\r\n", &cfg()).unwrap();
        assert_eq!((h.command, n), (ProxyCommand::Unknown, 24));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(
                matches!(
                    parse(bad, &cfg()),
                    Err(DecodeError::Malformed {
                        kind: ProxyMalformed::BadLine,
                        ..
                    })
                ),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn not_a_header_and_too_long() {
        assert!(matches!(
            parse(b"EHLO x\r\n", &cfg()),
            Err(DecodeError::Malformed {
                kind: ProxyMalformed::NoSignature,
                ..
            })
        ));
        let long = [&b"PROXY UNKNOWN "[..], &[b'x'; 200]].concat();
        assert!(matches!(
            parse(&long, &cfg()),
            Err(DecodeError::Malformed {
                kind: ProxyMalformed::TooLong,
                ..
            })
        ));
        assert_eq!(wanted(&long, &cfg()), 0);
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0x01, 0x00]);
        assert!(matches!(
            parse(&v2, &cfg()),
            Err(DecodeError::Malformed {
                kind: ProxyMalformed::TooLong,
                ..
            })
        ));
        let big = ProxyConfig {
            max_v2_payload: 256,
        };
        assert_eq!(parse(&v2, &big), Err(DecodeError::Incomplete));
        assert_eq!(wanted(&v2, &big), 256);
    }

    #[test]
    fn v2_local_tlvs_and_short_payload() {
        let mut v2 = V2_SIGNATURE.to_vec();
        // PROXY, TCP over IPv4, 12 octets of addresses and a 4-octet TLV.
        v2.extend_from_slice(&[0x21, 0x11, 0x00, 16, 192, 0, 2, 1, 10, 0, 0, 1, 0x12, 0x34]);
        v2.extend_from_slice(&[0, 25, 0x04, 0, 1, 0]);
        let (h, n) = parse(&v2, &cfg()).unwrap();
        assert_eq!(n, 32);
        assert_eq!(h.source(), Some("192.0.2.1:4660".parse().unwrap()));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(
            parse(&local, &cfg()).unwrap().0.command,
            ProxyCommand::Local
        );
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x21, 0x00, 12]);
        short.extend_from_slice(&[0; 12]);
        assert!(matches!(
            parse(&short, &cfg()),
            Err(DecodeError::Malformed {
                kind: ProxyMalformed::ShortPayload,
                ..
            })
        ));
    }

    #[test]
    fn wanted_reads_exactly_the_header() {
        let header = ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy {
                source: "192.0.2.1:1234".parse().unwrap(),
                destination: "127.0.0.1:25".parse().unwrap(),
            },
        };
        for version in [ProxyVersion::V1, ProxyVersion::V2] {
            let mut wire = Vec::new();
            encode(&ProxyHeader { version, ..header }, &mut wire);
            let mut got = Vec::new();
            loop {
                match parse(&got, &cfg()) {
                    Ok((h, n)) => {
                        assert_eq!((h.command, n), (header.command, wire.len()));
                        break;
                    }
                    Err(DecodeError::Incomplete) => {
                        let w = wanted(&got, &cfg());
                        assert!(w > 0 && got.len() + w <= wire.len());
                        got.extend_from_slice(&wire[got.len()..got.len() + w]);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
}

//! A tiny authoritative DNS server for tests: answers UDP queries on 127.0.0.1 from a zone the test
//! fills in, so MX routing, SPF, DKIM, DMARC and DNSBL lookups run offline through the real
//! resolver. Point the server under test at it with `[dns] nameservers = ["<addr>"]`.
//!
//! Unknown names get NXDOMAIN; a known name without records of the asked type gets an empty
//! NOERROR answer (NODATA). Stopped when dropped.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, AAAA, MX, PTR, TXT};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

type Zone = HashMap<String, Vec<RData>>;

/// The running server.
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    queries: Arc<Mutex<Vec<(String, RecordType)>>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{}.", key(s))).expect("valid test name")
}

impl DnsServer {
    /// Binds 127.0.0.1 on an ephemeral port and starts answering.
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind test DNS");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<Zone>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let queries: Arc<Mutex<Vec<(String, RecordType)>>> = Arc::default();
        let thread = {
            let (zone, stop, queries) = (zone.clone(), stop.clone(), queries.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(query) = Message::from_vec(&buf[..n]) else {
                        continue;
                    };
                    let answer = respond(&query, &zone.lock().unwrap(), &queries);
                    if let Ok(bytes) = answer.to_vec() {
                        let _ = socket.send_to(&bytes, from);
                    }
                }
            })
        };
        Self {
            addr,
            zone,
            stop,
            thread: Some(thread),
            queries,
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn add(&self, owner: &str, data: RData) {
        self.zone
            .lock()
            .unwrap()
            .entry(key(owner))
            .or_default()
            .push(data);
    }

    /// Adds `domain MX pref host` (`host` "." for a null MX).
    pub fn mx(&self, domain: &str, pref: u16, host: &str) {
        let exchange = if host == "." {
            Name::root()
        } else {
            name(host)
        };
        self.add(domain, RData::MX(MX::new(pref, exchange)));
    }

    /// Adds an A record.
    pub fn a(&self, host: &str, ip: Ipv4Addr) {
        self.add(host, RData::A(A(ip)));
    }

    /// Adds an AAAA record.
    pub fn aaaa(&self, host: &str, ip: Ipv6Addr) {
        self.add(host, RData::AAAA(AAAA(ip)));
    }

    /// Adds a TXT record; long text is split into 255-byte strings as DNS requires.
    pub fn txt(&self, owner: &str, text: &str) {
        let parts: Vec<String> = text
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        self.add(owner, RData::TXT(TXT::new(parts)));
    }

    /// Adds a PTR record for `ip` (reverse name computed here).
    pub fn ptr(&self, ip: Ipv4Addr, host: &str) {
        let o = ip.octets();
        let owner = format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
        self.add(&owner, RData::PTR(PTR(name(host))));
    }

    /// Makes a name exist without records (answers NODATA instead of NXDOMAIN).
    pub fn exists(&self, owner: &str) {
        self.zone.lock().unwrap().entry(key(owner)).or_default();
    }

    /// The queries answered so far (name without the final dot, type).
    pub fn queries(&self) -> Vec<(String, RecordType)> {
        self.queries.lock().unwrap().clone()
    }
}

fn respond(query: &Message, zone: &Zone, log: &Mutex<Vec<(String, RecordType)>>) -> Message {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let owner = key(&q.name.to_ascii());
    log.lock().unwrap().push((owner.clone(), q.query_type));
    match zone.get(&owner) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(records) => {
            for data in records {
                if data.record_type() == q.query_type {
                    reply.add_answer(Record::from_rdata(q.name.clone(), 60, data.clone()));
                }
            }
        }
    }
    reply
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

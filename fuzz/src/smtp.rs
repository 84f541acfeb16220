//! Fuzz target bodies for the `smtp` crate.

use std::time::{Duration, Instant};

use mailwright_smtp_proto::client::{ClientConfig, ClientSession, Envelope};
use mailwright_smtp_proto::data::{BareLineEnding, DataDecoder, dot_stuff};
use mailwright_smtp_proto::parse::{self, DecodeError};
use mailwright_smtp_proto::server::{Event, Mode, ServerConfig, ServerSession};
use mailwright_smtp_proto::{
    ForwardPath, Host, Machine, Mailbox, Mechanism, Reply, ReversePath, UsageError,
};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("smtp_command", smtp_command),
    ("smtp_reply", smtp_reply),
    ("smtp_server", smtp_server),
    ("smtp_client", smtp_client),
    ("smtp_data", smtp_data),
];

/// Command lines: decode -> encode -> decode agrees.
pub fn smtp_command(data: &[u8]) {
    let mut input = data;
    for _ in 0..64 {
        match parse::command(input) {
            Ok((rest, cmd)) => {
                let wire = cmd.to_bytes();
                let (left, again) = parse::command(&wire).expect("re-parse");
                assert!(left.is_empty());
                assert_eq!(again, cmd);
                input = rest;
            }
            Err(DecodeError::Malformed { skip, .. }) => input = &input[skip..],
            Err(_) => break,
        }
    }
    // The same input as an address or path typed by a user: parse -> Display -> parse agrees.
    if let Ok(text) = std::str::from_utf8(data) {
        address_round_trip::<Mailbox>(text);
        address_round_trip::<ReversePath>(text);
        address_round_trip::<ForwardPath>(text);
        address_round_trip::<Host>(text);
        let _ = Envelope::parse(text, text.split(','));
    }
}

fn address_round_trip<T>(text: &str)
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = text.parse::<T>() {
        let again = value
            .to_string()
            .parse::<T>()
            .ok()
            .expect("Display parses back");
        assert_eq!(again, value);
    }
}

/// Replies: decode -> encode -> decode agrees.
pub fn smtp_reply(data: &[u8]) {
    let mut input = data;
    for _ in 0..64 {
        match parse::reply(input) {
            Ok((rest, reply)) => {
                let wire = reply.to_bytes();
                let (left, again) = parse::reply(&wire).expect("re-parse");
                assert!(left.is_empty());
                // Text that looks like an enhanced code may be read as one the second time; the
                // code and the wire form must agree.
                assert_eq!(again.code(), reply.code());
                assert_eq!(again.to_bytes(), wire);
                input = rest;
            }
            Err(DecodeError::Malformed { skip, .. }) => input = &input[skip..],
            Err(_) => break,
        }
    }
}

/// The server machine fed arbitrary bytes in arbitrary pieces, answering every decision; the first
/// byte picks the mode and options. Time moves by 0 to 7 minutes between pieces (picked by the
/// piece's length), so timers, error delays and held replies run too. Every decision answers a
/// pending event and must be taken; a second answer must be refused.
pub fn smtp_server(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let mode = [Mode::Smtp, Mode::Submission, Mode::Lmtp][(opts % 3) as usize];
    let mut config = ServerConfig::new(mode, "fuzz.example");
    config.extensions.auth = vec![
        Mechanism::plain(),
        Mechanism::login(),
        Mechanism::try_from("X-F").unwrap(),
    ];
    config.extensions.auth_requires_tls = opts & 4 != 0;
    config.extensions.starttls = opts & 8 != 0;
    config.extensions.dsn = opts & 16 != 0;
    config.strict_pipelining = opts & 32 != 0;
    config.limits.max_message_size = Some(2000);
    if opts & 64 != 0 {
        config.bare_line_ending = BareLineEnding::Normalize;
    }
    let mut s = ServerSession::new(config);
    let mut now = Instant::now();
    s.handle_timeout(now);
    let _ = s.poll_transmit();
    // Pieces separated by 0xFF bytes are fed one by one.
    for (i, piece) in rest.split(|&b| b == 0xFF).enumerate() {
        now += Duration::from_mins(piece.len() as u64 % 8);
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        Machine::handle_input(&mut s, now, piece);
        if i % 5 == 4 {
            s.handle_shutdown();
        }
        let mut n = 0;
        while let Some(e) = s.poll_event() {
            n += 1;
            assert!(n < 100_000);
            let decided = match e {
                Event::StartTls { .. } => s.handle_tls_established(),
                Event::AuthStart { .. } | Event::AuthResponse(_) if i % 2 == 0 => {
                    s.auth_challenge(b"x")
                }
                Event::DataEnd => s.data_replies(vec![Reply::ok()]),
                ref e if e.needs_decision() && (i + n) % 3 == 0 => {
                    s.reject(Reply::new(550, None, "no").unwrap())
                }
                ref e if e.needs_decision() => s.accept(),
                _ => Ok(()),
            };
            match decided {
                Ok(()) => {}
                // The session ended after the event was queued (input overflow).
                Err(UsageError::Closed) => assert!(s.is_closed()),
                Err(e) => panic!("the event's decision is not pending: {e}"),
            }
            if !s.decision_pending() {
                assert!(s.accept().is_err());
            }
        }
        while s.poll_transmit().is_some() {}
        // The driver's step 5: a due timer (or a restarted one) is handled at once.
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
    }
}

/// The client machine fed arbitrary replies, sending a message whenever it is ready; time moves by
/// 0 to 3 minutes between pieces (0xFF separates them), so the stage timers run too; every
/// deadline it reports moves on when honoured. Model: each piece is also fed cut at its 0xFE
/// octets (which the whole run drops; neither octet is ever in UTF-8) into several reads at the
/// piece's instant, and the events, the octets sent and the next deadline after every piece are
/// the same as when it comes in one read. The driver acts (handshake, `send_message`) once per
/// piece, after its last read, in both runs.
pub fn smtp_client(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let whole = client_transcript(opts, rest, false);
    let split = client_transcript(opts, rest, true);
    for (i, (w, s)) in whole.iter().zip(&split).enumerate() {
        assert_eq!(w.0, s.0, "piece {i}: the cuts changed the events");
        assert_eq!(w.1, s.1, "piece {i}: the cuts changed what was sent");
        assert_eq!(w.2, s.2, "piece {i}: the cuts changed the next deadline");
    }
    assert_eq!(whole.len(), split.len());
}

/// The events (a malformed reply by its kind only: what the error quotes depends on how much was
/// read), the octets sent and the next deadline, after each piece.
type Step = (Vec<String>, Vec<u8>, Option<Instant>);

fn client_transcript(opts: u8, rest: &[u8], split: bool) -> Vec<Step> {
    let mode = if opts & 1 == 0 {
        Mode::Smtp
    } else {
        Mode::Lmtp
    };
    let mut config = ClientConfig::new(mode, Host::try_from("client.fuzz").unwrap());
    config.pipelining = opts & 2 != 0;
    config.chunking = opts & 4 != 0;
    if opts & 8 != 0 {
        config.credentials = Some(mailwright_smtp_proto::client::Credentials::new("u", "p"));
    }
    config.data_block_size = 1 + usize::from(opts >> 4);
    // Small enough that fuzzed replies reach it.
    config.max_reply_len = 200;
    let mut c = ClientSession::new(config);
    // One start for both runs, so that their deadlines compare.
    let start = *START.get_or_init(Instant::now);
    let mut now = start;
    c.handle_timeout(now);
    let from = ReversePath::Mailbox(Mailbox::try_from("a@b.example").unwrap());
    let to = ForwardPath::Mailbox(Mailbox::try_from("c@d.example").unwrap());
    let mut steps = Vec::new();
    for piece in rest.split(|&b| b == 0xFF) {
        now += Duration::from_mins(piece.len() as u64 % 4);
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        let (mut events, mut wire) = (Vec::new(), Vec::new());
        let joined: Vec<u8>;
        let reads: Vec<&[u8]> = if split {
            piece.split(|&b| b == 0xFE).collect()
        } else {
            joined = piece.iter().copied().filter(|&b| b != 0xFE).collect();
            vec![&joined]
        };
        let mut tls_due = false;
        for read in reads {
            Machine::handle_input(&mut c, now, read);
            while let Some(e) = c.poll_event() {
                tls_due |= e == mailwright_smtp_proto::ClientEvent::StartTls;
                events.push(event_text(&e));
            }
            drain(&mut c, now, &mut wire);
        }
        if tls_due {
            c.handle_tls_established().expect("a handshake is due");
        }
        if c.is_ready() {
            let env = Envelope::new(from.clone(), [to.clone(), ForwardPath::Postmaster]);
            c.send_message(env, &b"Subject: x\r\n\r\n.body\r\n"[..])
                .expect("ready");
        } else {
            assert!(
                c.send_message(Envelope::new(from.clone(), []), &b""[..])
                    .is_err()
            );
        }
        drain(&mut c, now, &mut wire);
        steps.push((events, wire, c.poll_timeout()));
    }
    if !split {
        super::run_timers(&mut c, |c, e| {
            if e == mailwright_smtp_proto::ClientEvent::StartTls {
                c.handle_tls_established().expect("a handshake is due");
            }
        });
    }
    steps
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Writes out what the client has to send, honouring a wait restarted meanwhile (the driver's
/// step 5).
fn drain(c: &mut ClientSession, now: Instant, wire: &mut Vec<u8>) {
    while let Some(b) = c.poll_transmit() {
        wire.extend_from_slice(&b);
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
    }
}

fn event_text(e: &mailwright_smtp_proto::ClientEvent) -> String {
    use mailwright_smtp_proto::client::ClientError;
    match e {
        mailwright_smtp_proto::ClientEvent::Failed(ClientError::Protocol(
            DecodeError::Malformed { kind, .. },
        )) => format!("Failed(Protocol({kind:?}))"),
        e => format!("{e:?}"),
    }
}

/// DATA: unstuffing never panics, gives the same result (content, end, error, long-line flag)
/// split anywhere, and what dot-stuffing writes unstuffs back. Whole input takes the block path
/// (vector masks chosen at run time, AVX-512 or AVX2 on x86-64), octet-by-octet input only the
/// state machine.
pub fn smtp_data(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    for policy in [BareLineEnding::Reject, BareLineEnding::Normalize] {
        let whole = decode_all(policy, &[rest]);
        let at = (cut as usize).min(rest.len());
        let split = decode_all(policy, &[&rest[..at], &rest[at..]]);
        assert_eq!(whole, split);
        // Octet by octet: the block and line paths never run, so they are checked against the
        // byte-wise state machine.
        let octets: Vec<&[u8]> = rest.chunks(1).collect();
        assert_eq!(whole, decode_all(policy, &octets));
        // Zero-copy: the same content; on error it emits nothing.
        let zero_copy = decode_bytes_all(policy, rest);
        if whole.0.is_ok() {
            assert_eq!(whole, zero_copy);
        } else {
            assert_eq!((whole.0, whole.2), (zero_copy.0, zero_copy.2));
        }
    }
    let mut wire = mailwright_smtp_proto::bytes::BytesMut::new();
    dot_stuff(rest, &mut wire);
    let (end, _, _) = decode_all(BareLineEnding::Reject, &[&wire]);
    assert_eq!(end, Ok(Some(wire.len())));
}

/// The end (or error), the content, and whether a line was too long.
type Decoded = (
    Result<Option<usize>, mailwright_smtp_proto::DataError>,
    Vec<u8>,
    bool,
);

fn decode_all(policy: BareLineEnding, pieces: &[&[u8]]) -> Decoded {
    let mut d = DataDecoder::new(policy, 1000);
    let mut out = mailwright_smtp_proto::bytes::BytesMut::new();
    let mut total = 0;
    for p in pieces {
        let mut p = *p;
        while !p.is_empty() {
            match d.decode(p, &mut out) {
                Err(e) => return (Err(e), out.to_vec(), d.line_too_long()),
                Ok(r) if r.end => {
                    return (
                        Ok(Some(total + r.consumed)),
                        out.to_vec(),
                        d.line_too_long(),
                    );
                }
                Ok(r) => {
                    total += r.consumed;
                    p = &p[r.consumed..];
                }
            }
        }
    }
    (Ok(None), out.to_vec(), d.line_too_long())
}

fn decode_bytes_all(policy: BareLineEnding, input: &[u8]) -> Decoded {
    let mut d = DataDecoder::new(policy, 1000);
    let mut buf = mailwright_smtp_proto::bytes::BytesMut::from(input);
    let mut out = Vec::new();
    let res = d.decode_bytes(&mut buf, |b| out.extend_from_slice(&b));
    let long = d.line_too_long();
    match res {
        Err(e) => (Err(e), out, long),
        Ok(r) if r.end => (Ok(Some(r.consumed)), out, long),
        Ok(_) => (Ok(None), out, long),
    }
}

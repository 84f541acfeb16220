//! The machines' timers, driven through the `Machine` trait with a virtual clock: server and client
//! back to back, no sockets and no sleeping. Time moves only when a test says so
//! (`t0 + Duration::...`), and every timer fires from `handle_timeout(now)`.

use std::time::{Duration, Instant};

use mailwright_smtp_proto::client::{ClientError, Stage};
use mailwright_smtp_proto::server::{AbortReason, CloseReason, Event, TimeoutKind};
use mailwright_smtp_proto::*;

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_mins(1);

fn server(config: ServerConfig, t0: Instant) -> ServerSession {
    let mut s = ServerSession::new(config);
    Machine::handle_timeout(&mut s, t0);
    s
}

fn smtp() -> ServerConfig {
    ServerConfig::new(Mode::Smtp, "mx.example.org")
}

fn client_config() -> ClientConfig {
    ClientConfig::new(Mode::Smtp, Host::try_from("client.example.com").unwrap())
}

/// What `m` has to write, all of it.
fn written<M: Machine>(m: &mut M) -> String {
    let mut out = Vec::new();
    while let Some(b) = m.poll_transmit() {
        out.extend_from_slice(&b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn events<M: Machine>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Step 5 of the contract: handles the timer if it is due at `now`.
fn tick<M: Machine>(m: &mut M, now: Instant) {
    if m.poll_timeout().is_some_and(|t| t <= now) {
        m.handle_timeout(now);
    }
}

fn mb(s: &str) -> Mailbox {
    Mailbox::try_from(s).unwrap()
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::Mailbox(mb("from@example.com")),
        rcpts.iter().map(|r| ForwardPath::Mailbox(mb(r))),
    )
}

fn reply(code: u16, e: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, EnhancedCode::new(e.0, e.1, e.2).ok(), text).unwrap()
}

#[test]
fn server_idle_timeout_fires_at_five_minutes() {
    let t0 = Instant::now();
    let mut s = server(smtp(), t0);
    assert!(written(&mut s).starts_with("220 mx.example.org ESMTP"));
    assert_eq!(s.poll_timeout(), Some(t0 + 5 * MIN));
    // An early call changes nothing.
    s.handle_timeout(t0 + 4 * MIN + 59 * SEC);
    assert!(!s.is_closed() && s.poll_transmit().is_none());
    s.handle_timeout(t0 + 5 * MIN);
    assert_eq!(
        written(&mut s),
        "421 4.4.2 mx.example.org Error: timeout exceeded\r\n"
    );
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::Timeout(TimeoutKind::Idle))]
    );
    assert!(s.is_closed() && s.poll_timeout().is_none());

    // A complete command restarts the wait from its `now`.
    let mut s = server(smtp(), t0);
    s.handle_input(t0 + 4 * MIN, b"NOOP\r\n");
    assert_eq!(s.poll_timeout(), Some(t0 + 9 * MIN));
}

#[test]
fn per_command_deadline_runs_from_the_first_octet() {
    let t0 = Instant::now();
    let mut s = server(smtp(), t0);
    let _ = written(&mut s);
    // One octet a second: no wait between octets is long, but the line is never done.
    let mut now = t0 + 10 * SEC;
    let line = b"HELP me please, I am a very slow client".repeat(20);
    let first = now;
    for octet in &line {
        tick(&mut s, now);
        if s.is_closed() {
            break;
        }
        s.handle_input(now, &[*octet]);
        // The deadline is the first octet's plus five minutes, whatever came since.
        assert_eq!(s.poll_timeout(), Some(first + 5 * MIN));
        now += SEC;
    }
    assert!(s.is_closed());
    assert_eq!(now, first + 5 * MIN);
    assert!(written(&mut s).ends_with("421 4.4.2 mx.example.org Error: timeout exceeded\r\n"));
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(CloseReason::Timeout(TimeoutKind::Command)))
    );

    // The deadline holds across a line longer than the limit, which is discarded as it comes.
    let mut s = server(smtp(), t0);
    s.handle_input(t0, &[b'x'; 600]);
    s.handle_input(t0 + 4 * MIN, &[b'x'; 600]);
    s.handle_timeout(t0 + 5 * MIN);
    assert!(s.is_closed());
}

#[test]
fn data_is_bounded_by_idle_and_whole_transfer_deadlines() {
    let t0 = Instant::now();
    let open = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
    let start = |s: &mut ServerSession| {
        let mut c = smtp();
        c.strict_pipelining = false;
        *s = server(c, t0);
        s.handle_input(t0, open);
        while let Some(e) = s.poll_event() {
            if e.needs_decision() {
                s.accept().unwrap();
            }
        }
        // The decisions restarted the wait without a `now`: the last instant seen is reported.
        assert_eq!(s.poll_timeout(), Some(t0));
        s.handle_timeout(t0);
        assert!(written(s).ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
    };
    // A line a minute is well within the wait between octets, but the transfer may last ten
    // minutes in all.
    let mut s = server(smtp(), t0);
    start(&mut s);
    assert_eq!(s.poll_timeout(), Some(t0 + 5 * MIN));
    let mut now = t0;
    while !s.is_closed() {
        now += MIN;
        tick(&mut s, now);
        s.handle_input(now, b"a line of the message\r\n");
    }
    assert_eq!(now, t0 + 10 * MIN);
    assert!(written(&mut s).ends_with("421 4.4.2 mx.example.org Error: timeout exceeded\r\n"));
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(CloseReason::Timeout(TimeoutKind::Data)))
    );

    // Five minutes without an octet ends it sooner.
    let mut s = server(smtp(), t0);
    start(&mut s);
    s.handle_input(t0 + MIN, b"partial");
    assert_eq!(s.poll_timeout(), Some(t0 + 6 * MIN));
    s.handle_timeout(t0 + 6 * MIN);
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(CloseReason::Timeout(TimeoutKind::DataIdle)))
    );

    // No timer runs while the application holds the end-of-data decision.
    let mut s = server(smtp(), t0);
    start(&mut s);
    s.handle_input(t0 + MIN, b"done\r\n.\r\n");
    assert!(events(&mut s).contains(&Event::DataEnd));
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + 60 * MIN);
    assert!(!s.is_closed());
    s.accept().unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + 60 * MIN));
    s.handle_timeout(t0 + 61 * MIN);
    assert!(written(&mut s).ends_with("250 2.0.0 Message accepted\r\n"));
    assert_eq!(s.poll_timeout(), Some(t0 + 66 * MIN));
}

#[test]
fn too_many_recipients_are_not_errors() {
    // RFC 5321 §4.5.3.1.10: a pipelined 110-recipient transaction against a limit of 100 gets
    // 100 × 250 and 10 × 452, none of them delayed or counted, and DATA still works.
    let t0 = Instant::now();
    let mut s = server(smtp(), t0);
    let _ = written(&mut s);
    s.handle_input(t0, b"EHLO client.example.com\r\n");
    assert!(matches!(events(&mut s)[..], [Event::Helo { .. }]));
    s.accept().unwrap();
    s.handle_timeout(t0);
    let _ = written(&mut s);
    let mut group = b"MAIL FROM:<a@example.com>\r\n".to_vec();
    for i in 0..110 {
        group.extend_from_slice(format!("RCPT TO:<r{i}@example.org>\r\n").as_bytes());
    }
    group.extend_from_slice(b"DATA\r\n");
    s.handle_input(t0, &group);
    let mut rcpt_events = 0;
    while let Some(e) = s.poll_event() {
        rcpt_events += usize::from(matches!(e, Event::Rcpt { .. }));
        if e.needs_decision() {
            s.accept().unwrap();
        }
    }
    tick(&mut s, t0);
    let out = written(&mut s);
    let codes: Vec<&str> = out.lines().map(|l| &l[..9]).collect();
    assert_eq!(rcpt_events, 100);
    assert_eq!(codes[0], "250 2.1.0");
    assert_eq!(codes[1..101], ["250 2.1.5"; 100]);
    assert_eq!(codes[101..111], ["452 4.5.3"; 10]);
    assert_eq!(codes[111..], ["354 End d"]);
    assert_eq!(s.errors(), 0);
    s.handle_input(t0, b"Subject: many\r\n\r\nhi\r\n.\r\n");
    let evs = events(&mut s);
    assert!(evs.contains(&Event::DataEnd));
    s.accept().unwrap();
    tick(&mut s, t0);
    assert_eq!(written(&mut s), "250 2.0.0 Message accepted\r\n");
}

#[test]
fn errors_past_the_soft_limit_slow_every_reply_and_the_hard_limit_closes() {
    let t0 = Instant::now();
    let mut s = server(smtp(), t0);
    let _ = written(&mut s);
    // Ten errors are answered at once.
    s.handle_input(t0, &b"BOGUS\r\n".repeat(10));
    assert_eq!(written(&mut s).matches("500 5.5.2").count(), 10);
    // The eleventh is held for 1 s, and the commands behind it wait too.
    s.handle_input(t0, b"BOGUS\r\nNOOP\r\n");
    assert!(s.poll_transmit().is_none() && !s.wants_input());
    assert_eq!(s.poll_timeout(), Some(t0 + SEC));
    s.handle_timeout(t0 + Duration::from_millis(999));
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(t0 + SEC);
    assert_eq!(
        written(&mut s),
        "500 5.5.2 Error: command not recognized\r\n"
    );
    // Every reply is slowed now, a NOOP's too: by the errors over the limit, 1 s each.
    assert_eq!(s.poll_timeout(), Some(t0 + 2 * SEC));
    s.handle_timeout(t0 + 2 * SEC);
    assert_eq!(written(&mut s), "250 2.0.0 OK\r\n");
    // Errors 12 to 19 wait 2 s, 3 s ... 9 s each; the 20th closes at once.
    let mut now = t0 + 2 * SEC;
    s.handle_input(now, &b"BOGUS\r\n".repeat(9));
    let mut last = String::new();
    for wait in 2..=9 {
        assert_eq!(
            s.poll_timeout(),
            Some(now + wait * SEC),
            "error {}",
            wait + 10
        );
        now += wait * SEC;
        s.handle_timeout(now);
        last = written(&mut s);
        if wait < 9 {
            assert_eq!(last, "500 5.5.2 Error: command not recognized\r\n");
        }
    }
    // Releasing the 19th reply lets the 20th error through, and the session ends.
    assert!(s.is_closed());
    assert_eq!(
        last,
        "500 5.5.2 Error: command not recognized\r\n".repeat(2)
            + "421 4.7.0 mx.example.org Error: too many errors\r\n"
    );
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(CloseReason::TooManyErrors))
    );

    // Refused recipients count; a delivered message starts the count again.
    let mut c = smtp();
    c.limits.soft_error_limit = 2;
    c.strict_pipelining = false;
    let mut s = server(c, t0);
    s.handle_input(
        t0,
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nRCPT TO:<x@y>\r\n",
    );
    while let Some(e) = s.poll_event() {
        match e {
            Event::Rcpt { .. } => s.reject(reply(550, (5, 1, 1), "No such user")).unwrap(),
            e if e.needs_decision() => s.accept().unwrap(),
            _ => {}
        }
    }
    assert_eq!(s.errors(), 2);
    s.handle_input(t0, b"RCPT TO:<ok@y>\r\n");
    let _ = events(&mut s);
    s.accept().unwrap();
    s.handle_timeout(t0);
    assert_eq!(s.errors(), 2);
    s.handle_input(t0, b"DATA\r\n");
    s.handle_input(t0, b"x\r\n.\r\n");
    assert!(events(&mut s).contains(&Event::DataEnd));
    s.accept().unwrap();
    assert_eq!(s.errors(), 0);
}

#[test]
fn shutdown_waits_for_the_next_point_the_protocol_allows() {
    let t0 = Instant::now();
    // Waiting for a command: at once.
    let mut s = server(smtp(), t0);
    let _ = written(&mut s);
    s.handle_shutdown();
    assert_eq!(
        written(&mut s),
        "421 4.3.2 mx.example.org Service shutting down\r\n"
    );
    assert!(s.is_closed());
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::Shutdown)]);

    // While the application holds the reply to a message (a delivery in flight): right after it.
    let mut c = smtp();
    c.strict_pipelining = false;
    let mut s = server(c.clone(), t0);
    s.handle_input(
        t0,
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nbody\r\n.\r\nMAIL FROM:<x@y>\r\n",
    );
    while let Some(e) = s.poll_event() {
        if e.needs_decision() && e != Event::DataEnd {
            s.accept().unwrap();
        }
    }
    let _ = written(&mut s);
    assert!(s.decision_pending());
    s.handle_shutdown();
    assert!(!s.is_closed() && s.poll_transmit().is_none());
    s.accept().unwrap();
    assert_eq!(
        written(&mut s),
        "250 2.0.0 Message accepted\r\n421 4.3.2 mx.example.org Service shutting down\r\n"
    );
    assert!(s.is_closed());

    // In the middle of message data: at once (RFC 5321 §3.8), the message dropped.
    let mut s = server(c, t0);
    s.handle_input(
        t0,
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhalf a mess",
    );
    while let Some(e) = s.poll_event() {
        if e.needs_decision() {
            s.accept().unwrap();
        }
    }
    let _ = written(&mut s);
    s.handle_shutdown();
    assert_eq!(
        written(&mut s),
        "421 4.3.2 mx.example.org Service shutting down\r\n"
    );
    assert_eq!(
        events(&mut s),
        [
            Event::DataAborted(AbortReason::Shutdown),
            Event::Closed(CloseReason::Shutdown)
        ]
    );
}

#[test]
fn refusal_session_answers_503_until_quit_and_counts_errors() {
    let t0 = Instant::now();
    let greeting = reply(
        554,
        (5, 7, 1),
        "Service unavailable; client [192.0.2.1] blocked",
    );
    assert!(ServerSession::refusing(smtp(), Reply::ok()).is_err());
    let mut s = ServerSession::refusing(smtp(), greeting.clone()).unwrap();
    s.handle_timeout(t0);
    assert_eq!(
        written(&mut s),
        "554 5.7.1 Service unavailable; client [192.0.2.1] blocked\r\n"
    );
    s.handle_input(t0, b"EHLO c\r\nMAIL FROM:<a@b>\r\nnonsense\r\n");
    assert_eq!(
        written(&mut s),
        "503 5.5.1 Error: service unavailable\r\n".repeat(3)
    );
    s.handle_input(t0, b"quit\r\n");
    assert_eq!(written(&mut s), "221 2.0.0 Bye\r\n");
    assert!(s.is_closed());

    // A client that never says QUIT is closed at the hard error limit.
    let mut c = smtp();
    c.limits.soft_error_limit = 3;
    c.limits.hard_error_limit = 3;
    let mut s = ServerSession::refusing(c, greeting).unwrap();
    s.handle_input(t0, &b"HELO c\r\n".repeat(5));
    assert!(s.is_closed());
    assert!(written(&mut s).ends_with("421 4.7.0 mx.example.org Error: too many errors\r\n"));

    // Over a limit: the reply is the greeting and the session is over.
    let busy = reply(421, (4, 7, 0), "Too many connections, try again later");
    let mut s = ServerSession::closing(smtp(), busy).unwrap();
    assert!(Machine::is_closed(&s));
    assert_eq!(
        written(&mut s),
        "421 4.7.0 Too many connections, try again later\r\n"
    );
    assert!(ServerSession::closing(smtp(), Reply::ok()).is_err());
}

/// The client wired to the server; the server's application holds decisions for as long as
/// `hold` says, so the client's timers can run out.
struct Pair {
    c: ClientSession,
    s: ServerSession,
    now: Instant,
    /// Deliver nothing from the server to the client.
    mute: bool,
}

impl Pair {
    fn new(config: ServerConfig, client: ClientConfig) -> Self {
        let now = Instant::now();
        let mut p = Pair {
            c: ClientSession::new(client),
            s: server(config, now),
            now,
            mute: false,
        };
        Machine::handle_timeout(&mut p.c, now);
        p
    }

    /// Moves bytes both ways until nothing moves; decisions answered by `decide` (`false`: keep
    /// the decision pending). Returns the client's events.
    fn pump(
        &mut self,
        mut decide: impl FnMut(&mut ServerSession, &Event) -> bool,
    ) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(b) = Machine::poll_transmit(&mut self.c) {
                Machine::handle_input(&mut self.s, self.now, &b);
                moved = true;
            }
            while let Some(e) = self.s.poll_event() {
                moved = true;
                if e.needs_decision() && decide(&mut self.s, &e) {
                    self.s.accept().unwrap();
                }
            }
            tick(&mut self.s, self.now);
            if !self.mute {
                while let Some(b) = Machine::poll_transmit(&mut self.s) {
                    Machine::handle_input(&mut self.c, self.now, &b);
                    moved = true;
                }
            }
            while let Some(e) = self.c.poll_event() {
                out.push(e);
                moved = true;
            }
            tick(&mut self.c, self.now);
            if !moved {
                return out;
            }
        }
        panic!("no quiescence");
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        tick(&mut self.s, self.now);
        tick(&mut self.c, self.now);
    }
}

fn timed_out(events: &[ClientEvent]) -> Option<Stage> {
    events.iter().find_map(|e| match e {
        ClientEvent::Failed(ClientError::Timeout(stage)) => Some(*stage),
        _ => None,
    })
}

#[test]
fn client_greeting_and_helo_timeouts() {
    let t0 = Instant::now();
    let mut c = ClientSession::new(client_config());
    assert_eq!(c.poll_timeout(), None, "no instant seen yet");
    c.handle_timeout(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + 5 * MIN));
    c.handle_timeout(t0 + 5 * MIN);
    assert_eq!(
        events(&mut c),
        [ClientEvent::Failed(ClientError::Timeout(Stage::Greeting))]
    );
    assert!(c.is_closed());
}

#[test]
fn client_mail_and_rcpt_timeouts() {
    // Without pipelining each command waits for its own reply; the server's application sits on
    // the decision.
    for (held, stage) in [("MAIL", Stage::Mail), ("RCPT", Stage::Rcpt)] {
        let mut sc = smtp();
        sc.extensions.pipelining = false;
        let mut p = Pair::new(sc, client_config());
        let evs = p.pump(|_, _| true);
        assert!(matches!(evs[..], [ClientEvent::Ready(_)]));
        p.c.send_message(envelope(&["bob@example.org"]), &b"hi\r\n"[..])
            .unwrap();
        let evs = p.pump(|_, e| match e {
            Event::Mail { .. } => held != "MAIL",
            Event::Rcpt { .. } => held != "RCPT",
            _ => true,
        });
        assert!(evs.is_empty());
        let armed = p.now;
        assert_eq!(p.c.poll_timeout(), Some(armed + 5 * MIN));
        p.advance(4 * MIN + 59 * SEC);
        assert!(!p.c.is_closed());
        p.advance(SEC);
        assert_eq!(timed_out(&events(&mut p.c)), Some(stage));
        assert!(p.c.is_closed());
    }
}

#[test]
fn client_data_timeouts() {
    // DATA initiation: no 354 within two minutes.
    let mut sc = smtp();
    sc.extensions.chunking = false;
    let mut p = Pair::new(sc.clone(), client_config());
    let _ = p.pump(|_, _| true);
    p.c.send_message(envelope(&["bob@example.org"]), &b"hi\r\n"[..])
        .unwrap();
    p.mute = true;
    let _ = p.pump(|_, _| true);
    // The pipelined group awaits MAIL's reply first (5 min); the server's replies are lost here,
    // so stage by stage: hand the client only the replies to MAIL and RCPT.
    p.mute = false;
    p.c.handle_input(p.now, b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n");
    assert_eq!(p.c.poll_timeout(), Some(p.now + 2 * MIN));
    p.advance(2 * MIN);
    assert_eq!(timed_out(&events(&mut p.c)), Some(Stage::DataInit));

    // Data block: the driver asks for no next block for three minutes.
    let mut cc = client_config();
    cc.data_block_size = 1000;
    let mut p = Pair::new(sc.clone(), cc);
    let _ = p.pump(|_, _| true);
    let body = b"0123456789abcdefghijklmnopqrstuvwxyz\r\n".repeat(100);
    p.c.send_message(envelope(&["bob@example.org"]), body)
        .unwrap();
    // Commands out, replies in, up to the 354.
    let group = p.c.poll_transmit().unwrap();
    p.s.handle_input(p.now, &group);
    while let Some(e) = p.s.poll_event() {
        if e.needs_decision() {
            p.s.accept().unwrap();
        }
    }
    p.s.handle_timeout(p.now);
    let replies = written(&mut p.s);
    assert!(replies.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
    p.c.handle_input(p.now, replies.as_bytes());
    // The first block is handed out: its write must finish within three minutes.
    let block = p.c.poll_transmit().unwrap();
    assert_eq!(block.len(), 1000);
    tick(&mut p.c, p.now);
    assert_eq!(p.c.poll_timeout(), Some(p.now + 3 * MIN));
    p.advance(MIN);
    // Asking for the next block says the last was written: the timer starts again.
    let _ = p.c.poll_transmit().unwrap();
    tick(&mut p.c, p.now);
    assert_eq!(p.c.poll_timeout(), Some(p.now + 3 * MIN));
    p.advance(3 * MIN);
    assert_eq!(timed_out(&events(&mut p.c)), Some(Stage::DataBlock));
    assert!(
        p.c.poll_transmit().is_none(),
        "the rest of the data is dropped"
    );

    // End of data: the server's application takes more than ten minutes over the message.
    for chunking in [false, true] {
        let mut sc = smtp();
        sc.extensions.chunking = chunking;
        let mut p = Pair::new(sc, client_config());
        let _ = p.pump(|_, _| true);
        p.c.send_message(envelope(&["bob@example.org"]), &b"hi\r\n"[..])
            .unwrap();
        let _ = p.pump(|_, e| *e != Event::DataEnd);
        assert!(p.s.decision_pending());
        assert_eq!(p.c.poll_timeout(), Some(p.now + 10 * MIN));
        p.advance(9 * MIN + 59 * SEC);
        assert!(!p.c.is_closed());
        p.advance(SEC);
        assert_eq!(
            timed_out(&events(&mut p.c)),
            Some(Stage::DataEnd),
            "chunking {chunking}"
        );
    }
}

#[test]
fn a_whole_session_with_time_passing_between_steps() {
    let mut p = Pair::new(smtp(), client_config());
    let evs = p.pump(|_, _| true);
    assert!(matches!(evs[..], [ClientEvent::Ready(_)]));
    // Idle between messages: the client runs no timer; the server's wait runs on.
    assert_eq!(p.c.poll_timeout(), None);
    p.advance(4 * MIN);
    p.c.send_message(envelope(&["bob@example.org"]), &b"hello\r\n"[..])
        .unwrap();
    let evs = p.pump(|_, _| true);
    assert!(matches!(&evs[..], [ClientEvent::Sent(r)] if r.delivered()));
    p.advance(4 * MIN);
    p.c.quit().unwrap();
    assert!(p.c.quit().is_err());
    let evs = p.pump(|_, _| true);
    assert_eq!(evs, [ClientEvent::Closed]);
    assert!(p.s.is_closed() && p.c.is_closed());
    assert!(p.c.send_message(envelope(&["x@y.z"]), &b""[..]).is_err());
}

#[test]
fn credentials_never_reach_debug_output() {
    let t0 = Instant::now();
    let mut c = ServerConfig::new(Mode::Submission, "mx");
    c.extensions.auth = vec![Mechanism::plain()];
    c.extensions.auth_requires_tls = false;
    c.strict_pipelining = false;
    let mut s = server(c, t0);
    // AUTH PLAIN with "\0alice\0hunter2".
    s.handle_input(t0, b"EHLO c\r\n");
    let _ = events(&mut s);
    s.accept().unwrap();
    s.handle_input(t0, b"AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\r\n");
    let evs = events(&mut s);
    let debug = format!("{evs:?}");
    assert!(debug.contains("alice") && debug.contains("***"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let Some(Event::AuthCredentials { password, .. }) = evs.first() else {
        panic!("{evs:?}")
    };
    assert_eq!(password.expose(), "hunter2");

    let creds = Credentials::new("alice", "hunter2");
    let debug = format!("{creds:?}");
    assert!(debug.contains("alice") && debug.contains("***") && !debug.contains("hunter2"));
    let mut cc = client_config();
    cc.credentials = Some(creds);
    assert!(!format!("{cc:?}").contains("hunter2"));
}

#[test]
fn latin1_replies_and_quoted_local_parts() {
    let mut p = Pair::new(smtp(), client_config());
    let _ = p.pump(|_, _| true);
    let quoted = "\"john smith\"@example.net";
    p.c.send_message(envelope(&[quoted, "bob@example.org"]), &b"hi\r\n"[..])
        .unwrap();
    let wire = written(&mut p.c);
    assert!(
        wire.contains("RCPT TO:<\"john smith\"@example.net>\r\n"),
        "{wire}"
    );
    // The server reads it back to the same mailbox.
    let (_, cmd) = parse::command(b"RCPT TO:<\"john smith\"@example.net>\r\n").unwrap();
    let Command::Rcpt {
        to: ForwardPath::Mailbox(m),
        ..
    } = &cmd
    else {
        panic!("{cmd:?}")
    };
    assert_eq!(m.local_part.as_str(), "john smith");
    assert_eq!(
        &cmd.to_bytes()[..],
        b"RCPT TO:<\"john smith\"@example.net>\r\n"
    );
    // A Latin-1 reply (as some servers send) is taken as it is.
    p.c.handle_input(
        p.now,
        b"250 2.1.0 OK\r\n550 5.1.1 Empf\xe4nger unbekannt\r\n250 2.1.5 OK\r\n250 2.0.0 5 octets\r\n",
    );
    let evs = events(&mut p.c);
    let [ClientEvent::Sent(result)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(
        result.rcpts[0].raw_lines(),
        [b"Empf\xe4nger unbekannt".to_vec()]
    );
    assert_eq!(
        result.rcpts[0].to_string(),
        "550 5.1.1 Empf\u{fffd}nger unbekannt"
    );
    assert!(result.delivered());
}

/// `max_reply_len` bounds a reply however the reads cut it: one over the limit is refused when it
/// comes in one read as when it comes in two, one at the limit is taken either way.
#[test]
fn a_reply_over_the_limit_is_refused_in_one_read_as_in_two() {
    let t0 = Instant::now();
    for (len, refused) in [(64, false), (65, true)] {
        // "220 " + text + CRLF, `len` octets in all.
        let greeting = format!("220 {}\r\n", "x".repeat(len - 6));
        for cut in [greeting.len(), 10] {
            let mut config = client_config();
            config.max_reply_len = 64;
            let mut c = ClientSession::new(config);
            c.handle_timeout(t0);
            let (a, b) = greeting.as_bytes().split_at(cut);
            c.handle_input(t0, a);
            c.handle_input(t0, b);
            let failed = events(&mut c) == [ClientEvent::Failed(ClientError::ReplyTooLong)];
            assert_eq!(failed, refused, "{len} octets cut at {cut}");
            assert_eq!(written(&mut c).starts_with("EHLO"), !refused);
        }
    }
}

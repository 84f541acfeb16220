//! Server and client sessions back to back through the `Machine` trait, with a virtual clock:
//! the server's autologout, pre-login timeout and per-command deadline, the client's IDLE
//! re-issue. Time moves by passing later instants; nothing sleeps.

use std::time::{Duration, Instant};

use mailwright_imap_proto::client::{ClientConfig, ClientSession, Event as ClientEvent};
use mailwright_imap_proto::server::{
    CloseReason, Condition, Event as ServerEvent, ServerConfig, ServerSession,
};
use mailwright_imap_proto::types::command::CommandBody;
use mailwright_imap_proto::types::core::AString;
use mailwright_imap_proto::types::mailbox::Mailbox;
use mailwright_imap_proto::types::response::{Code, StatusKind};
use mailwright_imap_proto::{Machine, Secret};

const MINUTE: Duration = Duration::from_mins(1);

/// Everything `m` has to send.
fn transmit<M: Machine>(m: &mut M) -> Vec<u8> {
    std::iter::from_fn(|| m.poll_transmit()).flatten().collect()
}

/// Fires `m`'s timers due at `now` (at once again when a decision restarted them).
fn tick<M: Machine>(m: &mut M, now: Instant) {
    for _ in 0..4 {
        match m.poll_timeout() {
            Some(t) if t <= now => m.handle_timeout(now),
            _ => return,
        }
    }
}

/// A server application that agrees to everything, and a client, on one virtual clock.
struct Sim {
    now: Instant,
    server: ServerSession,
    client: ClientSession,
    server_closed: Option<CloseReason>,
    /// When the server closed by itself.
    closed_at: Option<Instant>,
    client_log: Vec<ClientEvent>,
    idle_dones: usize,
}

impl Sim {
    fn new(config: ServerConfig) -> Self {
        let now = Instant::now();
        let mut server = ServerSession::new(config);
        // The connection is accepted now: the server's timers start.
        server.handle_timeout(now);
        Self {
            now,
            server,
            client: ClientSession::new(ClientConfig::default()),
            server_closed: None,
            closed_at: None,
            client_log: Vec::new(),
            idle_dones: 0,
        }
    }

    fn serve(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            match ev {
                ServerEvent::Login { handle, .. } => {
                    self.server.accept_login(handle, None).unwrap();
                }
                ServerEvent::Select { handle, .. } => self
                    .server
                    .accept_select(handle, Some(Code::ReadWrite), "SELECT completed")
                    .unwrap(),
                ServerEvent::Idle { handle } => self.server.accept_idle(handle).unwrap(),
                ServerEvent::IdleDone { handle } => {
                    self.idle_dones += 1;
                    self.server
                        .complete(handle, Condition::Ok, None, "IDLE terminated")
                        .unwrap();
                }
                ServerEvent::Command { handle, .. } | ServerEvent::AppendEnd { handle } => self
                    .server
                    .complete(handle, Condition::Ok, None, "completed")
                    .unwrap(),
                ServerEvent::Logout { handle } => self.server.accept_logout(handle).unwrap(),
                ServerEvent::Closed { reason } => {
                    self.server_closed = Some(reason);
                    self.closed_at = Some(self.now);
                }
                _ => {}
            }
        }
    }

    /// Moves bytes both ways and fires due timers until nothing happens at this instant.
    fn settle(&mut self) {
        for _ in 0..100 {
            tick(&mut self.server, self.now);
            tick(&mut self.client, self.now);
            self.serve();
            let to_server = transmit(&mut self.client);
            if !to_server.is_empty() && !self.server.is_closed() {
                self.server.handle_input(self.now, &to_server);
                self.serve();
            }
            let to_client = transmit(&mut self.server);
            if !to_client.is_empty() {
                self.client.handle_input(self.now, &to_client);
            }
            let before = self.client_log.len();
            self.client_log
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if to_server.is_empty() && to_client.is_empty() && before == self.client_log.len() {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Jumps the clock to the next deadline of either side, if it comes before `limit`.
    fn advance(&mut self, limit: Instant) -> bool {
        let next = [self.server.poll_timeout(), self.client.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                self.settle();
                true
            }
            _ => {
                self.now = limit;
                self.settle();
                false
            }
        }
    }

    /// Runs until `limit`, deadline by deadline.
    fn run_until(&mut self, limit: Instant) {
        while self.now < limit && self.advance(limit) {}
    }

    fn login_and_select(&mut self) {
        self.settle();
        self.client
            .enqueue(CommandBody::Login {
                username: AString::try_from("alice").unwrap(),
                password: Secret::new(AString::try_from("pw").unwrap()),
            })
            .unwrap();
        self.client
            .enqueue(CommandBody::Select {
                mailbox: Mailbox::inbox(),
                condstore: false,
                qresync: None,
            })
            .unwrap();
        self.settle();
    }

    fn bye(&self) -> Option<String> {
        self.client_log.iter().find_map(|e| match e {
            ClientEvent::Status(s) if s.kind == StatusKind::Bye => Some(s.text.to_string()),
            _ => None,
        })
    }
}

#[test]
fn autologout_after_30_minutes_without_input() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    let active = sim.now;
    // A NOOP at 20 minutes restarts the timer.
    sim.run_until(active + 20 * MINUTE);
    assert_eq!(sim.bye(), None);
    sim.client.enqueue(CommandBody::Noop).unwrap();
    sim.settle();
    let noop = sim.now;
    sim.run_until(noop + 29 * MINUTE + Duration::from_secs(59));
    assert_eq!(sim.bye(), None);
    sim.run_until(noop + 31 * MINUTE);
    // RFC 3501 §5.4: at least 30 minutes, and Dovecot's words.
    assert_eq!(sim.bye().as_deref(), Some("Disconnected for inactivity."));
    assert_eq!(sim.server_closed, Some(CloseReason::Autologout));
    assert!(sim.server.is_closed() && sim.client.is_closed());
    assert_eq!(sim.closed_at, Some(noop + 30 * MINUTE));
}

#[test]
fn pre_login_timeout_whatever_the_client_sends() {
    let mut sim = Sim::new(ServerConfig::default());
    let start = sim.now;
    sim.settle();
    // A NOOP every minute does not keep an unauthenticated session alive.
    for k in 1..=4 {
        sim.run_until(start + k * MINUTE);
        if sim.server.is_closed() {
            break;
        }
        sim.client.enqueue(CommandBody::Noop).unwrap();
        sim.settle();
    }
    assert_eq!(sim.bye().as_deref(), Some("Disconnected for inactivity."));
    assert_eq!(sim.server_closed, Some(CloseReason::LoginTimeout));
    assert_eq!(sim.closed_at, Some(start + 3 * MINUTE));

    // A client that never sends anything is logged out too (the timers started at accept).
    let mut sim = Sim::new(ServerConfig {
        login_timeout: Duration::from_secs(10),
        ..ServerConfig::default()
    });
    let start = sim.now;
    sim.run_until(start + MINUTE);
    assert_eq!(sim.server_closed, Some(CloseReason::LoginTimeout));
    assert_eq!(sim.closed_at, Some(start + Duration::from_secs(10)));
}

#[test]
fn one_octet_per_second_cannot_hold_a_command_line_open() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    let _ = transmit(&mut sim.server);
    let start = sim.now;
    // A client (not our ClientSession) sends a long SEARCH one octet a second.
    let line = [&b"a SEARCH "[..], &[b'x'; 200], b"\r\n"].concat();
    let mut sent = 0;
    for (k, b) in line.iter().enumerate() {
        let at = start + Duration::from_secs(k as u64);
        tick(&mut sim.server, at);
        if sim.server.is_closed() {
            break;
        }
        sim.server.handle_input(at, std::slice::from_ref(b));
        while sim.server.poll_event().is_some() {}
        sent += 1;
    }
    assert_eq!(sent, 60, "the deadline runs from the command's first octet");
    assert_eq!(
        transmit(&mut sim.server),
        b"* BYE Disconnected for inactivity.\r\n"
    );
}

#[test]
fn nor_can_the_rest_of_a_refused_line() {
    let mut sim = Sim::new(ServerConfig {
        framer: mailwright_imap_proto::FramerConfig {
            max_line: 64,
            ..mailwright_imap_proto::FramerConfig::default()
        },
        ..ServerConfig::default()
    });
    sim.login_and_select();
    let _ = transmit(&mut sim.server);
    let start = sim.now;
    // Over the line limit at once; then the rest of the line, one octet a second, is skipped
    // and must not count as progress.
    sim.server.handle_input(start, &[b'x'; 100]);
    while sim.server.poll_event().is_some() {}
    let mut k = 0;
    while !sim.server.is_closed() && k < 1000 {
        k += 1;
        let at = start + Duration::from_secs(k);
        tick(&mut sim.server, at);
        sim.server.handle_input(at, b"y");
        while sim.server.poll_event().is_some() {}
    }
    assert_eq!(k, 60);
}

#[test]
fn a_literal_in_progress_counts_as_progress() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    let _ = transmit(&mut sim.server);
    let start = sim.now;
    // APPEND of 100 octets, one a second: 100 s in all, more than the 60 s deadline, but every
    // octet is progress.
    let mut input = b"a APPEND INBOX {100+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 100]);
    input.extend_from_slice(b"\r\n");
    let mut now = start;
    let mut chunks = 0;
    for (k, b) in input.iter().enumerate() {
        // The command line itself arrives at once.
        now = if k < 23 {
            start
        } else {
            now + Duration::from_secs(1)
        };
        tick(&mut sim.server, now);
        assert!(!sim.server.is_closed(), "closed at octet {k}");
        sim.server.handle_input(now, std::slice::from_ref(b));
        while let Some(ev) = sim.server.poll_event() {
            match ev {
                ServerEvent::AppendChunk { .. } => chunks += 1,
                ServerEvent::AppendEnd { handle } => {
                    sim.server
                        .complete(handle, Condition::Ok, None, "APPEND completed")
                        .unwrap();
                }
                _ => {}
            }
        }
    }
    assert_eq!(chunks, 100);
    assert_eq!(transmit(&mut sim.server), b"a OK APPEND completed\r\n");
    // Once the literal stops, the deadline runs again.
    sim.server.handle_input(now, b"b APPEND INBOX {100+}\r\nxx");
    while sim.server.poll_event().is_some() {}
    tick(&mut sim.server, now + Duration::from_secs(61));
    assert!(sim.server.is_closed());
}

#[test]
fn idle_is_reissued_every_29_minutes_and_the_server_never_logs_out() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    let idle = sim.client.idle().unwrap();
    sim.settle();
    let start = sim.now;
    assert!(
        sim.client_log
            .iter()
            .any(|e| matches!(e, ClientEvent::Idling { .. }))
    );
    sim.run_until(start + 2 * 60 * MINUTE);
    assert_eq!(sim.bye(), None, "{:?}", sim.client_log);
    let reissued: Vec<_> = sim
        .client_log
        .iter()
        .filter_map(|e| match e {
            ClientEvent::IdleReissued { tag } => Some(tag.to_string()),
            _ => None,
        })
        .collect();
    // At 29, 58, 87 and 116 minutes, each a new IDLE command.
    assert_eq!(reissued, ["A0004", "A0005", "A0006", "A0007"]);
    assert_eq!(sim.idle_dones, 4);
    // The re-issues are not completions the application sees.
    assert!(!sim.client_log.iter().any(|e| matches!(
        e,
        ClientEvent::Completed {
            command: "IDLE",
            ..
        }
    )));
    sim.client.idle_done(idle).unwrap();
    sim.settle();
    assert!(matches!(
        sim.client_log.last(),
        Some(ClientEvent::Completed { command: "IDLE", status }) if status.kind == StatusKind::Ok
    ));
    // Without re-issues the server's autologout ends a forgotten IDLE (RFC 2177).
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    sim.client = ClientSession::new(ClientConfig {
        idle_reissue: 3 * 60 * MINUTE,
        ..ClientConfig::default()
    });
    sim.server.handle_input(sim.now, b"i IDLE\r\n");
    sim.serve();
    let start = sim.now;
    sim.run_until(start + 60 * MINUTE);
    assert_eq!(sim.server_closed, Some(CloseReason::Autologout));
}

#[test]
fn shutdown_says_dovecots_goodbye() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.login_and_select();
    sim.server.handle_shutdown();
    sim.settle();
    assert_eq!(sim.bye().as_deref(), Some("Server shutting down."));
    assert_eq!(sim.server_closed, Some(CloseReason::Shutdown));
    assert!(sim.client.is_closed());
}

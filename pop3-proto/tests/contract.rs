//! The Sans-IO contract, end to end: a server and a client session wired back to back through the
//! `Machine` trait, on a virtual clock. Time only moves when a test says so, and every deadline a
//! machine reports from `poll_timeout` is honoured in order, as a real driver would.

use std::time::{Duration, Instant};

use mailwright_pop3_proto::server::{CloseReason, LoginTicket, Maildrop, Refusal};
use mailwright_pop3_proto::{
    ClientConfig, ClientEvent, ClientSession, Machine, ServerConfig, ServerEvent, ServerSession,
    Uid,
};

const INACTIVITY: &[u8] = b"-ERR [SYS/TEMP] Disconnected for inactivity.\r\n";
const TOO_SLOW: &[u8] = b"-ERR [SYS/TEMP] Disconnected: command not completed in time.\r\n";

/// Two machines back to back, with a virtual clock and what each side wrote.
struct Pair {
    server: ServerSession,
    client: ClientSession,
    now: Instant,
    /// Whether the server answers login events (false: the decision stays pending).
    answer_logins: bool,
    undecided: Option<LoginTicket>,
    server_wire: Vec<u8>,
    client_events: Vec<ClientEvent>,
    closed: Option<CloseReason>,
}

impl Pair {
    /// Both sessions; the connection opens at the start of the virtual clock.
    fn new(server: ServerConfig, client: ClientConfig) -> Self {
        let now = Instant::now();
        let mut pair = Self {
            server: ServerSession::new(server),
            client: ClientSession::new(client),
            now,
            answer_logins: true,
            undecided: None,
            server_wire: Vec::new(),
            client_events: Vec::new(),
            closed: None,
        };
        // The contract's first step for a new connection: the machines learn the time.
        Machine::handle_timeout(&mut pair.server, now);
        Machine::handle_timeout(&mut pair.client, now);
        pair.run();
        pair
    }

    /// The server's application: a maildrop of one message for alice/pw.
    fn answer(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Login {
                user,
                password,
                ticket,
                ..
            } => {
                if !self.answer_logins {
                    // The application is still deciding.
                    self.undecided = Some(ticket);
                    return;
                }
                if user == "alice" && password.expose() == b"pw" {
                    let mut drop = Maildrop::default();
                    drop.push(20, Uid::new("u1").unwrap());
                    self.server.accept_login(ticket, drop).unwrap();
                } else {
                    self.server
                        .refuse_login(ticket, Refusal::BadCredentials)
                        .unwrap();
                }
            }
            ServerEvent::Retr { .. } | ServerEvent::Top { .. } => {
                let mut message = &b"Subject: a\r\n\r\nbody\r\n"[..];
                while !self.server.send_message_from(&mut message).unwrap() {}
            }
            ServerEvent::Update { ticket, .. } => self.server.update_done(ticket).unwrap(),
            ServerEvent::Closed(reason) => self.closed = Some(reason),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Moves bytes, events and due timers until nothing moves, without moving the clock.
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(event) = Machine::poll_event(&mut self.server) {
                self.answer(event);
                moved = true;
            }
            while let Some(bytes) = Machine::poll_transmit(&mut self.server) {
                self.server_wire.extend_from_slice(&bytes);
                Machine::handle_input(&mut self.client, self.now, &bytes);
                moved = true;
            }
            while let Some(event) = Machine::poll_event(&mut self.client) {
                self.client_events.push(event);
                moved = true;
            }
            while let Some(bytes) = Machine::poll_transmit(&mut self.client) {
                Machine::handle_input(&mut self.server, self.now, &bytes);
                moved = true;
            }
            moved |= fire(&mut self.server, self.now);
            moved |= fire(&mut self.client, self.now);
            if !moved {
                return;
            }
        }
        panic!("the machines never settle");
    }

    /// Moves the clock forward by `by`, stopping at every deadline on the way.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [
                Machine::poll_timeout(&self.server),
                Machine::poll_timeout(&self.client),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t <= end)
            .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            self.run();
        }
        self.now = end;
        self.run();
    }

    /// Octets straight to the server, one a second from now on: a client too slow to finish its
    /// line.
    fn trickle(&mut self, octets: &[u8]) {
        for &b in octets {
            if Machine::is_closed(&self.server) {
                return;
            }
            Machine::handle_input(&mut self.server, self.now, &[b]);
            self.run();
            self.advance(Duration::from_secs(1));
        }
    }

    fn login(&mut self) {
        self.client.login("alice", b"pw").unwrap();
        self.run();
        assert!(
            self.client_events
                .iter()
                .any(|e| matches!(e, ClientEvent::LoggedIn(_))),
            "{:?}",
            self.client_events
        );
    }
}

/// The contract's step 5 for any machine: at the deadline, `handle_timeout(now)`.
fn fire<M: Machine>(machine: &mut M, now: Instant) -> bool {
    let due = machine.poll_timeout().is_some_and(|t| t <= now);
    if due {
        machine.handle_timeout(now);
    }
    due
}

fn disconnected(events: &[ClientEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        ClientEvent::Disconnected(r) => Some(r.text.to_string()),
        _ => None,
    })
}

#[test]
fn autologout_after_ten_idle_minutes_in_transaction() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.login();
    // RFC 1939 §3: any command resets the timer.
    p.advance(Duration::from_secs(9 * 60 + 59));
    p.client.stat().unwrap();
    p.run();
    assert!(!Machine::is_closed(&p.server));
    p.advance(Duration::from_secs(9 * 60 + 59));
    assert!(!Machine::is_closed(&p.server));
    p.advance(Duration::from_secs(1));
    assert!(Machine::is_closed(&p.server));
    assert!(p.server_wire.ends_with(INACTIVITY));
    assert_eq!(p.closed, Some(CloseReason::Autologout));
    // The client hears the server go, and nothing is deleted: no UPDATE state.
    assert_eq!(
        disconnected(&p.client_events).as_deref(),
        Some("Disconnected for inactivity.")
    );
    assert!(Machine::is_closed(&p.client));
}

#[test]
fn a_shorter_autologout_is_raised_to_the_rfc_minimum() {
    let mut config = ServerConfig::default();
    config.autologout = Duration::from_secs(30);
    let mut p = Pair::new(config, ClientConfig::default());
    p.login();
    p.advance(Duration::from_mins(9));
    assert!(!Machine::is_closed(&p.server));
    p.advance(Duration::from_mins(1));
    assert_eq!(p.closed, Some(CloseReason::Autologout));
}

#[test]
fn login_timeout_runs_from_the_connection_whatever_the_client_sends() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    for _ in 0..2 {
        p.advance(Duration::from_mins(1));
        p.client.capa().unwrap();
        p.run();
    }
    assert!(!Machine::is_closed(&p.server));
    p.advance(Duration::from_secs(59));
    assert!(!Machine::is_closed(&p.server));
    p.advance(Duration::from_secs(1));
    assert_eq!(p.closed, Some(CloseReason::LoginTimeout));
    assert!(p.server_wire.ends_with(INACTIVITY));
    assert!(Machine::is_closed(&p.client));

    // Logged in within the time: the login timer is gone, autologout runs instead.
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.advance(Duration::from_mins(2));
    p.login();
    p.advance(Duration::from_mins(5));
    assert!(!Machine::is_closed(&p.server));
}

#[test]
fn a_command_line_must_be_complete_a_minute_after_its_first_octet() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.login();
    let start = p.now;
    // One octet a second never lets the session idle, yet the line is never finished in time.
    p.trickle(&[b'N'; 120]);
    assert_eq!(p.closed, Some(CloseReason::CommandTimeout));
    assert!(p.server_wire.ends_with(TOO_SLOW));
    assert_eq!(p.now - start, Duration::from_mins(1));

    // Before login too, and a line that does arrive in time is answered.
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.trickle(b"NOOP\r\n");
    assert!(!Machine::is_closed(&p.server));
    p.trickle(&[b'X'; 100]);
    assert_eq!(p.closed, Some(CloseReason::CommandTimeout));
}

#[test]
fn the_deadline_runs_from_the_first_octet_of_a_pipelined_line() {
    let mut config = ServerConfig::default();
    config.command_timeout = Duration::from_secs(10);
    let mut p = Pair::new(config, ClientConfig::default());
    p.login();
    Machine::handle_input(&mut p.server, p.now, b"NOOP\r\nST");
    p.run();
    p.advance(Duration::from_secs(9));
    Machine::handle_input(&mut p.server, p.now, b"A");
    p.run();
    p.advance(Duration::from_secs(1));
    assert_eq!(p.closed, Some(CloseReason::CommandTimeout));
}

#[test]
fn no_timer_runs_while_the_application_decides() {
    let mut config = ClientConfig::default();
    config.response_timeout = Duration::from_secs(30);
    let mut p = Pair::new(ServerConfig::default(), config);
    p.answer_logins = false;
    p.client.login("alice", b"pw").unwrap();
    p.run();
    assert_eq!(Machine::poll_timeout(&p.server), None);
    // The client gives up on the silent server.
    p.advance(Duration::from_secs(30));
    assert!(p.client_events.contains(&ClientEvent::TimedOut));
    assert!(Machine::is_closed(&p.client));
    assert!(!Machine::is_closed(&p.server));
    assert!(p.undecided.is_some());
}

#[test]
fn shutdown_says_goodbye_in_the_protocol() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.login();
    p.server.handle_shutdown();
    p.run();
    assert_eq!(p.closed, Some(CloseReason::Shutdown));
    assert_eq!(
        disconnected(&p.client_events).as_deref(),
        Some("Server shutting down.")
    );

    // The client's goodbye is QUIT, after what is in flight.
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.login();
    p.client.stat().unwrap();
    p.client.handle_shutdown();
    p.run();
    assert_eq!(p.closed, Some(CloseReason::Quit));
    assert!(p.server_wire.ends_with(b"+OK bye (1 messages left)\r\n"));
    assert!(Machine::is_closed(&p.client));
}

#[test]
fn a_whole_session_needs_no_timer_to_fire() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.login();
    p.client.retr(1.try_into().unwrap()).unwrap();
    p.client.dele(1.try_into().unwrap()).unwrap();
    p.client.quit().unwrap();
    p.run();
    let body: Vec<u8> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::MessageData(d) => Some(d.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"Subject: a\r\n\r\nbody\r\n");
    assert_eq!(p.closed, Some(CloseReason::Quit));
    assert!(p.server_wire.ends_with(b"+OK bye (0 messages left)\r\n"));
    assert!(Machine::poll_timeout(&p.server).is_none());
    assert!(Machine::poll_timeout(&p.client).is_none());
}

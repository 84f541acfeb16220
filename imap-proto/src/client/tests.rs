//! Unit and property tests of the client session.

use std::time::Instant;

use proptest::prelude::*;

use super::*;
use crate::arbitrary;
use crate::server::{self, Condition, ServerConfig, ServerSession};
use crate::types::core::{AString, IString, Literal, LiteralMode};

/// Takes the OK decision for whatever the server asks; returns the command it reported, if any.
fn agree(s: &mut ServerSession, ev: server::Event) -> Option<CommandBody<'static>> {
    match ev {
        server::Event::Command { handle, command } => {
            s.complete(handle, Condition::Ok, None, "ok").unwrap();
            Some(command)
        }
        server::Event::Login { handle, .. } => {
            s.accept_login(handle, None).unwrap();
            // Compared by count only: the server reports the credentials as strings.
            Some(CommandBody::Noop)
        }
        server::Event::Select {
            handle,
            mailbox,
            read_only,
            condstore,
            qresync,
        } => {
            s.accept_select(handle, None, "ok").unwrap();
            Some(if read_only {
                CommandBody::Examine {
                    mailbox,
                    condstore,
                    qresync,
                }
            } else {
                CommandBody::Select {
                    mailbox,
                    condstore,
                    qresync,
                }
            })
        }
        server::Event::Close { handle, expunge } => {
            s.accept_close(handle, "ok").unwrap();
            Some(if expunge {
                CommandBody::Close
            } else {
                CommandBody::Unselect
            })
        }
        // LOGIN credentials that are not UTF-8 are refused by the server itself.
        server::Event::AppendStart { .. }
        | server::Event::Rejected {
            reason: server::RejectReason::UnusableCredentials { .. },
            ..
        } => Some(CommandBody::Noop),
        server::Event::AppendEnd { handle } => {
            s.complete(handle, Condition::Ok, None, "ok").unwrap();
            None
        }
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// Whatever the client sends (sync literals included) reaches the server as the same
    /// commands, and every command gets exactly one completion, in order.
    #[test]
    fn client_and_server_agree(bodies in proptest::collection::vec(arbitrary::command_body(), 1..6), chunk in 1usize..64) {
        let bodies: Vec<_> = bodies
            .into_iter()
            .filter(|b| !matches!(b, CommandBody::Idle | CommandBody::Authenticate { .. } | CommandBody::StartTls | CommandBody::Logout | CommandBody::Compress { .. }))
            .collect();
        let now = Instant::now();
        let mut server = ServerSession::new(ServerConfig { enforce_state: false, ..ServerConfig::default() });
        let mut client = ClientSession::new(ClientConfig::default());
        let tags: Vec<_> = bodies.iter().map(|b| client.enqueue(b.clone()).unwrap()).collect();
        let mut received = Vec::new();
        let mut completed = Vec::new();
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(b) = client.poll_transmit() {
                moved = true;
                for piece in b.chunks(chunk) {
                    server.handle_input(now, piece);
                }
            }
            while let Some(ev) = server.poll_event() {
                moved = true;
                received.extend(agree(&mut server, ev));
            }
            while let Some(b) = server.poll_transmit() {
                moved = true;
                client.handle_input(now, &b);
            }
            while let Some(ev) = client.poll_event() {
                moved = true;
                if let Event::Completed { status, .. } = ev {
                    completed.push(status.tag.unwrap());
                }
            }
            if !moved {
                break;
            }
        }
        prop_assert_eq!(&completed, &tags);
        prop_assert_eq!(received.len(), bodies.len());
        for (got, sent) in received.iter().zip(&bodies) {
            // APPEND (and MULTIAPPEND) arrives streamed; LOGIN as strings (the same for UTF-8 credentials).
            // Literals go synchronizing unless the server advertised otherwise (it did not).
            if !matches!(sent, CommandBody::Append { .. } | CommandBody::MultiAppend { .. } | CommandBody::Login { .. }) {
                prop_assert_eq!(all_sync(got), all_sync(sent));
            }
        }
    }
}

/// A command body's octets with every literal synchronizing.
fn all_sync(body: &CommandBody<'_>) -> Vec<u8> {
    let mut e = crate::encode::Encoder::new();
    e.set_literal_limit(None);
    body.encode(&mut e);
    e.into_parts().0.to_vec()
}

fn greeted(greeting: &[u8]) -> ClientSession {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(Instant::now(), greeting);
    assert!(matches!(c.poll_event(), Some(Event::Greeting(_))));
    c
}

fn login(password: &'static [u8]) -> CommandBody<'static> {
    CommandBody::Login {
        username: AString::try_from("mrc").unwrap(),
        password: mailwright_sansio::Secret::new(AString::String(IString::Literal(
            Literal::new(password, LiteralMode::Sync).unwrap(),
        ))),
    }
}

fn sent(c: &mut ClientSession) -> Vec<u8> {
    std::iter::from_fn(|| c.poll_transmit()).flatten().collect()
}

#[test]
fn capabilities_are_learnt_and_forgotten_as_rfc3501_says() {
    let mut c = greeted(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n");
    assert!(c.has_capability("logindisabled"));
    // LOGINDISABLED: LOGIN is refused before anything is sent.
    assert!(matches!(
        c.enqueue(login(b"secret")),
        Err(UsageError::NotAllowed { .. })
    ));
    assert!(sent(&mut c).is_empty());
    c.enqueue(CommandBody::StartTls).unwrap();
    c.handle_input(
        Instant::now(),
        b"A0001 OK [CAPABILITY IMAP4rev1 EVIL] go\r\n",
    );
    while c.poll_event().is_some() {}
    // RFC 3501 §6.2.1: nothing learnt in plaintext survives STARTTLS.
    assert_eq!(c.capabilities(), None);
    c.handle_tls_established().unwrap();
    assert!(c.handle_tls_established().is_err());
    c.enqueue(CommandBody::Capability).unwrap();
    c.handle_input(
        Instant::now(),
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN LITERAL+\r\nA0002 OK done\r\n",
    );
    while c.poll_event().is_some() {}
    assert!(c.has_capability("AUTH=PLAIN"));
    let _ = sent(&mut c);
    // LITERAL+ advertised: the password literal goes without waiting for "+".
    let tag = c.enqueue(login(b"secret")).unwrap();
    assert_eq!(sent(&mut c), b"A0003 LOGIN mrc {6+}\r\nsecret\r\n");
    // A login without [CAPABILITY] in its OK forgets; with it, learns.
    c.handle_input(Instant::now(), format!("{tag} OK Logged in\r\n").as_bytes());
    while c.poll_event().is_some() {}
    assert_eq!(c.capabilities(), None);
    c.handle_input(Instant::now(), b"* OK [CAPABILITY IMAP4rev1 IDLE] now\r\n");
    while c.poll_event().is_some() {}
    assert!(c.has_capability("IDLE"));
}

#[test]
fn literals_are_synchronizing_unless_advertised() {
    // Nothing advertised: wait for "+", even for a literal made non-synchronizing.
    let mut c = greeted(b"* OK hi\r\n");
    c.enqueue(CommandBody::Login {
        username: AString::try_from("mrc").unwrap(),
        password: mailwright_sansio::Secret::new(AString::String(IString::Literal(
            Literal::new(&b"secret"[..], LiteralMode::NonSync).unwrap(),
        ))),
    })
    .unwrap();
    assert_eq!(sent(&mut c), b"A0001 LOGIN mrc {6}\r\n");
    c.handle_input(Instant::now(), b"+ go\r\n");
    assert_eq!(c.poll_event(), None);
    assert_eq!(sent(&mut c), b"secret\r\n");
    // LITERAL-: up to 4096 octets without waiting, larger ones synchronizing.
    let mut c = greeted(b"* OK [CAPABILITY IMAP4rev1 LITERAL-] hi\r\n");
    c.enqueue(login(b"secret")).unwrap();
    c.enqueue(CommandBody::Append {
        mailbox: crate::types::mailbox::Mailbox::inbox(),
        flags: None,
        date: None,
        message: Literal::new(vec![b'x'; 5000], LiteralMode::Sync).unwrap(),
    })
    .unwrap();
    let out = sent(&mut c);
    assert!(out.starts_with(b"A0001 LOGIN mrc {6+}\r\nsecret\r\nA0002 APPEND INBOX {5000}\r\n"));
    assert!(out.ends_with(b"{5000}\r\n"));
    // Told not to, the client waits for "+" even under LITERAL+.
    let mut c = ClientSession::new(ClientConfig {
        non_sync_literals: false,
        ..ClientConfig::default()
    });
    c.handle_input(
        Instant::now(),
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n",
    );
    let _ = c.poll_event();
    c.enqueue(login(b"secret")).unwrap();
    assert_eq!(sent(&mut c), b"A0001 LOGIN mrc {6}\r\n");
}

#[test]
fn authenticate_continue_needs_a_challenge() {
    let mut c = greeted(b"* OK hi\r\n");
    assert!(c.authenticate_continue(&AuthData::Cancel).is_err());
    c.enqueue(CommandBody::Authenticate {
        mechanism: "PLAIN".try_into().unwrap(),
        initial_response: None,
    })
    .unwrap();
    let _ = sent(&mut c);
    c.handle_input(Instant::now(), b"+ \r\n");
    assert!(matches!(c.poll_event(), Some(Event::Continue(_))));
    c.authenticate_continue(&AuthData::encode(b"\0mrc\0secret"))
        .unwrap();
    assert_eq!(sent(&mut c), b"AG1yYwBzZWNyZXQ=\r\n");
    assert!(c.authenticate_continue(&AuthData::Cancel).is_err());
}

#[test]
fn idle_done_waits_for_the_continuation() {
    let mut c = greeted(b"* OK hi\r\n");
    let idle = c.idle().unwrap();
    assert!(matches!(c.idle(), Err(UsageError::NotAllowed { .. })));
    assert!(matches!(
        c.enqueue(CommandBody::Noop),
        Err(UsageError::NotAllowed { .. })
    ));
    assert_eq!(sent(&mut c), b"A0001 IDLE\r\n");
    // Done before the "+": DONE is held back.
    idle.done(&mut c).unwrap();
    assert!(sent(&mut c).is_empty());
    c.handle_input(Instant::now(), b"+ idling\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Idling { .. })));
    assert_eq!(sent(&mut c), b"DONE\r\n");
    c.handle_input(Instant::now(), b"A0001 OK IDLE terminated\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(Event::Completed {
            command: "IDLE",
            ..
        })
    ));
    c.enqueue(CommandBody::Noop).unwrap();
}

#[test]
fn a_refused_idle_voids_its_handle() {
    let mut c = greeted(b"* OK hi\r\n");
    let idle = c.idle().unwrap();
    c.handle_input(Instant::now(), b"A0001 BAD no IDLE here\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Completed { .. })));
    assert_eq!(
        c.idle_done(idle),
        Err(UsageError::NotPending { expected: "IDLE" })
    );
}

#[test]
fn login_ok_with_capabilities_is_learnt() {
    let mut c = greeted(b"* OK [CAPABILITY IMAP4rev1 LITERAL-] hi\r\n");
    c.enqueue(login(b"se cret")).unwrap();
    c.handle_input(
        Instant::now(),
        b"A0001 OK [CAPABILITY IMAP4rev1 UIDPLUS LITERAL-] Logged in\r\n",
    );
    while c.poll_event().is_some() {}
    assert!(c.has_capability("UIDPLUS"));
    // Dovecot, asked for CAPABILITY before, sends them untagged with the login instead.
    let mut c = greeted(b"* OK hi\r\n");
    c.enqueue(CommandBody::Capability).unwrap();
    c.enqueue(login(b"pw")).unwrap();
    c.handle_input(
        Instant::now(),
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0001 OK done\r\n+ go\r\n\
          * CAPABILITY IMAP4rev1 UIDPLUS\r\nA0002 OK Logged in\r\n",
    );
    while c.poll_event().is_some() {}
    assert!(c.has_capability("UIDPLUS") && !c.has_capability("AUTH=PLAIN"));
}

#[test]
fn shutdown_ends_idle_then_logs_out() {
    let mut c = greeted(b"* OK hi\r\n");
    let _idle = c.idle().unwrap();
    c.handle_input(Instant::now(), b"+ idling\r\n");
    let _ = c.poll_event();
    let _ = sent(&mut c);
    c.handle_shutdown();
    assert_eq!(sent(&mut c), b"DONE\r\n");
    c.handle_input(Instant::now(), b"A0001 OK IDLE terminated\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Completed { .. })));
    assert_eq!(sent(&mut c), b"A0002 LOGOUT\r\n");
    c.handle_input(Instant::now(), b"* BYE bye\r\nA0002 OK done\r\n");
    while c.poll_event().is_some() {}
    assert!(c.is_closed());
    assert_eq!(c.enqueue(CommandBody::Noop), Err(UsageError::Closed));
}

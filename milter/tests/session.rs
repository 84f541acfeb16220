//! Both sides back to back with a virtual clock.

use std::time::{Duration, Instant};

use mailwright_milter::{
    Actions, Address, ClientConfig, ClientEvent, ClientSession, Command, Protocol, Response, Sent,
    ServerConfig, ServerEvent, ServerSession, SessionError, Stage,
};
use mailwright_sansio::Machine;

/// Moves the MTA's bytes to the filter, lets `answer` reply to each command, and moves the
/// answers back. Returns the commands the filter saw.
fn pump(
    mta: &mut ClientSession,
    filter: &mut ServerSession,
    now: Instant,
    answer: &mut dyn FnMut(&Command, &mut ServerSession),
) -> Vec<Command> {
    let mut seen = Vec::new();
    while let Some(b) = mta.poll_transmit() {
        filter.handle_input(now, &b);
    }
    while let Some(ev) = filter.poll_event() {
        if let ServerEvent::Command(c) = ev {
            if filter.reply_pending() {
                answer(&c, filter);
            }
            seen.push(c);
        }
    }
    while let Some(b) = filter.poll_transmit() {
        mta.handle_input(now, &b);
    }
    seen
}

fn negotiated(filter_config: ServerConfig) -> (ClientSession, ServerSession, Instant) {
    let now = Instant::now();
    let mut mta = ClientSession::new(ClientConfig::default());
    let mut filter = ServerSession::new(filter_config);
    mta.handle_timeout(now);
    pump(&mut mta, &mut filter, now, &mut |_, _| {});
    assert!(matches!(mta.poll_event(), Some(ClientEvent::Negotiated(_))));
    (mta, filter, now)
}

#[test]
fn a_message_with_modifications() {
    let (mut mta, mut filter, now) = negotiated(ServerConfig {
        actions: Actions::ADD_HEADERS | Actions::CHANGE_HEADERS | Actions::QUARANTINE,
        ..ServerConfig::default()
    });
    let steps = [
        Command::Macro {
            code: b'C',
            macros: vec![(b"j".to_vec(), b"mx.example".to_vec())],
        },
        Command::Connect {
            hostname: b"client.example".to_vec(),
            address: Address::Inet4 {
                port: 4000,
                addr: b"192.0.2.1".to_vec(),
            },
        },
        Command::Helo(b"client.example".to_vec()),
        Command::Mail(vec![b"<a@example.com>".to_vec()]),
        Command::Rcpt(vec![b"<b@example.org>".to_vec()]),
        Command::Data,
        Command::Header {
            name: b"Subject".to_vec(),
            value: b"hi".to_vec(),
        },
        Command::EndOfHeaders,
        Command::Body(b"hello\r\n".to_vec()),
    ];
    for step in steps {
        let expect_reply = !matches!(step, Command::Macro { .. });
        let sent = mta.send(now, step.clone()).unwrap();
        assert_eq!(
            sent,
            if expect_reply {
                Sent::AwaitReply
            } else {
                Sent::NoReply
            }
        );
        let seen = pump(&mut mta, &mut filter, now, &mut |_, f| {
            f.reply(Response::Continue).unwrap();
        });
        assert_eq!(seen, vec![step]);
        if expect_reply {
            assert_eq!(
                mta.poll_event(),
                Some(ClientEvent::Reply(Response::Continue))
            );
        }
    }
    assert_eq!(mta.send(now, Command::EndOfMessage), Ok(Sent::AwaitReply));
    pump(&mut mta, &mut filter, now, &mut |_, f| {
        f.reply(Response::AddHeader {
            name: b"X-Spam-Flag".to_vec(),
            value: b"YES".to_vec(),
        })
        .unwrap();
        f.reply(Response::ChangeHeader {
            index: 1,
            name: b"Subject".to_vec(),
            value: Vec::new(),
        })
        .unwrap();
        f.reply(Response::Quarantine(b"spam".to_vec())).unwrap();
        // Not negotiated: refused by the filter's own session.
        assert!(
            f.reply(Response::AddRcpt(b"<c@example.org>".to_vec()))
                .is_err()
        );
        f.reply(Response::Progress).unwrap();
        f.reply(Response::Accept).unwrap();
    });
    let events: Vec<_> = std::iter::from_fn(|| mta.poll_event()).collect();
    assert_eq!(events.len(), 4);
    assert!(matches!(
        events[0],
        ClientEvent::Modification(Response::AddHeader { .. })
    ));
    assert_eq!(events[3], ClientEvent::Reply(Response::Accept));
    assert_eq!(mta.send(now, Command::Quit), Ok(Sent::NoReply));
    assert!(mta.is_closed());
    pump(&mut mta, &mut filter, now, &mut |_, _| {});
    assert!(filter.is_closed());
}

#[test]
fn skipped_and_unanswered_steps() {
    let (mut mta, mut filter, now) = negotiated(ServerConfig {
        protocol: Protocol::NO_CONNECT | Protocol::NR_HELO | Protocol::NO_BODY,
        macros: vec![(Stage::Mail, b"{auth_authen} i".to_vec())],
        actions: Actions::SET_SYMLIST,
        ..ServerConfig::default()
    });
    let connect = Command::Connect {
        hostname: b"h".to_vec(),
        address: Address::Unknown,
    };
    assert_eq!(mta.send(now, connect), Ok(Sent::Skipped));
    assert_eq!(
        mta.send(
            now,
            Command::Macro {
                code: b'C',
                macros: vec![(b"j".to_vec(), b"x".to_vec())]
            }
        ),
        Ok(Sent::Skipped)
    );
    assert_eq!(
        mta.send(now, Command::Helo(b"h".to_vec())),
        Ok(Sent::NoReply)
    );
    assert_eq!(
        mta.send(now, Command::Body(b"x".to_vec())),
        Ok(Sent::Skipped)
    );
    // Only the macros the filter asked for go out.
    let macros = vec![
        (b"j".to_vec(), b"mx".to_vec()),
        (b"i".to_vec(), b"ABC".to_vec()),
        (b"{auth_authen}".to_vec(), b"alice".to_vec()),
    ];
    assert_eq!(
        mta.send(now, Command::Macro { code: b'M', macros }),
        Ok(Sent::NoReply)
    );
    let seen = pump(&mut mta, &mut filter, now, &mut |_, _| unreachable!());
    assert_eq!(
        seen[1],
        Command::Macro {
            code: b'M',
            macros: vec![
                (b"i".to_vec(), b"ABC".to_vec()),
                (b"{auth_authen}".to_vec(), b"alice".to_vec())
            ],
        }
    );
}

#[test]
fn misuse_is_refused() {
    let now = Instant::now();
    let mut mta = ClientSession::new(ClientConfig::default());
    assert!(mta.send(now, Command::Data).is_err(), "before negotiation");
    let (mut mta, _filter, now) = negotiated(ServerConfig::default());
    assert_eq!(mta.send(now, Command::Data), Ok(Sent::AwaitReply));
    assert!(
        mta.send(now, Command::Data).is_err(),
        "while a reply is pending"
    );
    let mut filter = ServerSession::new(ServerConfig::default());
    assert!(filter.reply(Response::Continue).is_err());
}

#[test]
fn timeouts_and_modification_outside_eom_fail_the_session() {
    let (mut mta, _filter, now) = negotiated(ServerConfig::default());
    mta.send(now, Command::Data).unwrap();
    let deadline = mta.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(30));
    mta.handle_timeout(now + Duration::from_secs(29));
    assert!(mta.poll_event().is_none());
    mta.handle_timeout(deadline);
    assert_eq!(
        mta.poll_event(),
        Some(ClientEvent::Failed(SessionError::Timeout))
    );
    assert!(mta.is_closed());

    let (mut mta, _filter, now) = negotiated(ServerConfig::default());
    mta.send(now, Command::Data).unwrap();
    let mut wire = Vec::new();
    mailwright_milter::encode::response(
        &Response::AddHeader {
            name: b"a".to_vec(),
            value: b"b".to_vec(),
        },
        1 << 20,
        &mut wire,
    )
    .unwrap();
    mta.handle_input(now, &wire);
    assert!(matches!(
        mta.poll_event(),
        Some(ClientEvent::Failed(SessionError::Unexpected { .. }))
    ));
}

#[test]
fn a_filter_asking_for_more_than_offered_fails() {
    let now = Instant::now();
    let mut mta = ClientSession::new(ClientConfig {
        actions: Actions::ADD_HEADERS,
        ..ClientConfig::default()
    });
    let mut wire = Vec::new();
    mailwright_milter::encode::response(
        &Response::OptNeg(mailwright_milter::OptNeg {
            version: 6,
            actions: Actions::ALL,
            protocol: Protocol(0),
            macros: vec![],
        }),
        1 << 20,
        &mut wire,
    )
    .unwrap();
    mta.handle_input(now, &wire);
    assert!(matches!(
        mta.poll_event(),
        Some(ClientEvent::Failed(SessionError::NotOffered { .. }))
    ));
}

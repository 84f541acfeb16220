//! Unit and property tests of the server session.

use std::time::{Duration, Instant};

use mailwright_sansio::UsageError;
use proptest::prelude::*;

use super::*;
use crate::arbitrary;

/// `Debug` of an event without its handle ids, which differ from run to run.
fn describe(ev: &Event) -> String {
    let d = format!("{ev:?}");
    let mut out = String::new();
    let mut rest = d.as_str();
    while let Some(k) = rest.find("id: ") {
        out.push_str(&rest[..k + 4]);
        rest = rest[k + 4..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('_');
    }
    out.push_str(rest);
    out
}

/// Takes the OK decision for whatever `ev` asks.
fn agree(s: &mut ServerSession, now: Instant, ev: Event) {
    match ev {
        Event::Command { handle, .. }
        | Event::IdleDone { handle }
        | Event::AppendEnd { handle } => {
            s.complete(handle, Condition::Ok, None, "ok").unwrap();
        }
        Event::Login { handle, .. } | Event::Authenticate { handle, .. } => {
            s.accept_login(handle, None).unwrap();
        }
        Event::Select { handle, .. } => s.accept_select(handle, None, "ok").unwrap(),
        Event::Close { handle, .. } => s.accept_close(handle, "ok").unwrap(),
        Event::Logout { handle } => s.accept_logout(handle).unwrap(),
        Event::Idle { handle } => s.accept_idle(handle).unwrap(),
        Event::StartTls { handle } => {
            s.accept_starttls(handle).unwrap();
            s.handle_tls_established().unwrap();
        }
        Event::Compress { handle, .. } => {
            // The "compressed" octets that followed go back in as they are.
            let rest = s.accept_compress(handle).unwrap();
            s.handle_input(now, &rest);
        }
        _ => {}
    }
}

/// Feeds `chunks`, agreeing to every command; returns the events (APPEND chunks merged) and the
/// output.
fn run(chunks: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    let mut events = Vec::new();
    let mut append = Vec::new();
    let mut out = Vec::new();
    for c in chunks {
        s.handle_input(now, c);
        while let Some(ev) = s.poll_event() {
            if let Event::AppendChunk { data, .. } = &ev {
                append.extend_from_slice(data);
                continue;
            }
            if !append.is_empty() {
                events.push(format!("{:?}", std::mem::take(&mut append)));
            }
            events.push(describe(&ev));
            agree(&mut s, now, ev);
        }
        while let Some(b) = s.poll_transmit() {
            out.extend_from_slice(&b);
        }
    }
    if !append.is_empty() {
        events.push(format!("{append:?}"));
    }
    (events, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn split_anywhere_gives_the_same_session(
        commands in proptest::collection::vec(arbitrary::command(), 1..6),
        login in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut whole = if login { b"l LOGIN a b\r\n".to_vec() } else { Vec::new() };
        for c in &commands {
            // IDLE, AUTHENTICATE and STARTTLS change how the following bytes are read; keep them out.
            if matches!(c.body, CommandBody::Idle | CommandBody::Authenticate { .. } | CommandBody::StartTls) {
                continue;
            }
            whole.extend_from_slice(&c.to_bytes());
        }
        let expected = run(&[&whole]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(whole.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&whole[last..p]);
            last = p;
        }
        chunks.push(&whole[last..]);
        prop_assert_eq!(run(&chunks), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = run(&[&data]);
        let _ = run(&data.chunks(3).collect::<Vec<_>>());
    }
}

fn drain(s: &mut ServerSession) -> String {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_decision_with_a_stale_handle_is_an_error() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(now, b"a LOGIN alice pw\r\n");
    let Some(Event::Login { handle, .. }) = s.poll_event() else {
        panic!()
    };
    // The login timer runs while the application decides; at its end the handle is void.
    s.handle_timeout(now + Duration::from_mins(3));
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::LoginTimeout
        })
    );
    assert_eq!(s.accept_login(handle, None), Err(UsageError::Closed));
    assert!(
        drain(&mut s).ends_with("* BYE Disconnected for inactivity during authentication.\r\n")
    );
}

#[test]
fn sasl_challenge_is_refused_for_login() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(now, b"a LOGIN alice pw\r\n");
    let Some(Event::Login { handle, .. }) = s.poll_event() else {
        panic!()
    };
    assert!(matches!(
        s.sasl_challenge(&handle, b"x"),
        Err(UsageError::NotAllowed { .. })
    ));
    // The login is still pending and can be decided.
    s.reject_login(handle, None, "no").unwrap();
    assert!(drain(&mut s).ends_with("a NO no\r\n"));
}

#[test]
fn application_run_mechanism_with_a_challenge() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig {
        sasl_mechanisms: vec!["XOAUTH2".into()],
        ..ServerConfig::default()
    });
    let _ = drain(&mut s);
    s.handle_input(now, b"a AUTHENTICATE xoauth2 dG9rZW4=\r\n");
    let Some(Event::Authenticate {
        handle,
        mechanism,
        initial_response,
    }) = s.poll_event()
    else {
        panic!()
    };
    assert_eq!(mechanism.as_str(), "xoauth2");
    assert_eq!(initial_response.unwrap().expose(), b"token");
    s.sasl_challenge(&handle, b"more?").unwrap();
    assert_eq!(drain(&mut s), "+ bW9yZT8=\r\n");
    assert_eq!(s.poll_event(), None);
    s.handle_input(now, b"eWVz\r\n");
    let Some(Event::AuthenticateData { data }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(data.expose(), b"yes");
    s.accept_login(handle, None).unwrap();
    assert_eq!(drain(&mut s), "a OK Logged in\r\n");
    assert_eq!(s.state(), SessionState::Authenticated);
}

#[test]
fn untagged_data_is_refused_inside_authenticate() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(now, b"a AUTHENTICATE PLAIN\r\n");
    assert_eq!(s.poll_event(), None);
    assert!(matches!(
        s.send(crate::types::response::Data::Exists(1)),
        Err(UsageError::NotAllowed { .. })
    ));
}

#[test]
fn shutdown_waits_for_the_pending_decision() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut s);
    s.handle_input(now, b"a NOOP\r\n");
    let Some(Event::Command { handle, .. }) = s.poll_event() else {
        panic!()
    };
    s.handle_shutdown();
    assert!(!s.is_closed());
    s.complete(handle, Condition::Ok, None, "NOOP completed.")
        .unwrap();
    assert!(s.is_closed());
    assert_eq!(
        drain(&mut s),
        "a OK NOOP completed.\r\n* BYE Server shutting down.\r\n"
    );
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::Shutdown
        })
    );
}

#[test]
fn too_many_bad_commands_end_with_dovecots_bye() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig {
        max_bad_commands: 3,
        ..ServerConfig::default()
    });
    let _ = drain(&mut s);
    s.handle_input(now, b"a FROB\r\nb FROB\r\nc NOOP\r\nd FROB\r\ne NOOP\r\n");
    let mut closed = false;
    while let Some(ev) = s.poll_event() {
        match ev {
            Event::Command { handle, .. } => s.complete(handle, Condition::Ok, None, "ok").unwrap(),
            Event::Closed { reason } => closed = reason == CloseReason::TooManyBadCommands,
            _ => {}
        }
    }
    assert!(closed && s.is_closed());
    assert_eq!(
        drain(&mut s),
        "a BAD Unknown command\r\nb BAD Unknown command\r\nc OK ok\r\n* BYE Too many invalid IMAP commands.\r\n"
    );
}

#[test]
fn an_overlong_authenticate_line_ends_the_exchange() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig {
        framer: crate::framer::FramerConfig {
            max_line: 64,
            ..crate::framer::FramerConfig::default()
        },
        ..ServerConfig::default()
    });
    let _ = drain(&mut s);
    s.handle_input(now, b"a AUTHENTICATE PLAIN\r\n");
    assert_eq!(s.poll_event(), None);
    s.handle_input(now, &[b'A'; 100]);
    s.handle_input(now, b"\r\nb NOOP\r\n");
    assert!(matches!(
        s.poll_event(),
        Some(Event::Rejected {
            reason: RejectReason::MalformedCredentials { .. },
            ..
        })
    ));
    // The next line is a command again, not SASL data.
    assert!(matches!(s.poll_event(), Some(Event::Command { .. })));
    assert_eq!(
        drain(&mut s),
        "+ \r\na BAD Authentication response too long.\r\n"
    );
}

#[test]
fn refused_login_counts_and_the_limit_closes_after_the_no() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig {
        max_bad_commands: 2,
        ..ServerConfig::default()
    });
    let _ = drain(&mut s);
    for (k, line) in [&b"a LOGIN u p\r\n"[..], b"b LOGIN u p\r\n"]
        .iter()
        .enumerate()
    {
        s.handle_input(now, line);
        let Some(Event::Login { handle, .. }) = s.poll_event() else {
            panic!("{k}")
        };
        s.reject_login(handle, None, "Authentication failed.")
            .unwrap();
    }
    assert!(s.is_closed());
    assert_eq!(
        drain(&mut s),
        "a NO Authentication failed.\r\nb NO Authentication failed.\r\n* BYE Too many invalid IMAP commands.\r\n"
    );
}

/// RFC 3502 §6.3.11's example: two messages in one APPEND, each literal announced after the
/// previous one, the second with flags and a date.
#[test]
fn multiappend_streams_each_message() {
    let m1 = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nSubject: afternoon meeting\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    let m2 = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\nSubject: afternoon meeting 2\r\n\r\n3:30 is fine with me.\r\n";
    let first = format!("A003 APPEND saved-messages (\\Seen) {{{}}}\r\n", m1.len());
    let second = format!(
        " (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {{{}}}\r\n",
        m2.len()
    );
    let (events, out) = run(&[
        b"l LOGIN a b\r\n",
        first.as_bytes(),
        m1.as_bytes(),
        second.as_bytes(),
        m2.as_bytes(),
        b"\r\n",
    ]);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(out.matches("\r\n+ ").count(), 2, "{out}");
    assert!(out.ends_with("A003 OK ok\r\n"), "{out}");
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.split([' ', '(', '{']).next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Login",
            "AppendStart",
            "[68,",
            "AppendNext",
            "[68,",
            "AppendEnd"
        ],
        "{events:?}"
    );
    assert!(
        events[3].contains("Seen") && events[3].contains("1994"),
        "{}",
        events[3]
    );
    // The message octets are handed over as they are, one message after the other.
    assert_eq!(events[2], format!("{:?}", m1.as_bytes()));
    assert_eq!(events[4], format!("{:?}", m2.as_bytes()));
}

/// A MULTIAPPEND whose next message is malformed is refused as a whole (nothing is kept).
#[test]
fn multiappend_with_a_bad_next_message_is_aborted() {
    let (events, out) = run(&[
        b"l LOGIN a b\r\n",
        b"A1 APPEND INBOX {2+}\r\nhi (bogus {2+}\r\nho\r\nA2 NOOP\r\n",
    ]);
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("A1 BAD"), "{out}");
    assert!(
        events.iter().any(|e| e.starts_with("AppendAborted")),
        "{events:?}"
    );
    assert!(out.contains("A2 OK"), "{out}");
}

/// The next message over the APPEND limit: `NO [TOOBIG]` for the whole command.
#[test]
fn multiappend_over_the_limit_is_too_big() {
    let (events, out) = run(&[
        b"l LOGIN a b\r\n",
        b"A1 APPEND INBOX {2+}\r\nhi {999999999}\r\nA2 NOOP\r\n",
    ]);
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("A1 NO [TOOBIG]"), "{out}");
    assert!(
        events.iter().any(|e| e.starts_with("AppendAborted")),
        "{events:?}"
    );
    assert!(out.contains("A2 OK"), "{out}");
}

/// RFC 3516 §4.4: APPEND with a literal8 (`~{n}`), NUL octets and all, streamed like a literal;
/// also as the next message of a MULTIAPPEND.
#[test]
fn append_takes_literal8() {
    let (events, out) = run(&[
        b"l LOGIN a b\r\n",
        b"A1 APPEND INBOX ~{3+}\r\na\0b ~{2}\r\n",
        b"\0\0\r\n",
    ]);
    let out = String::from_utf8_lossy(&out);
    assert!(out.ends_with("A1 OK ok\r\n"), "{out}");
    assert_eq!(out.matches("\r\n+ ").count(), 1, "{out}");
    assert!(events[1].starts_with("AppendStart"), "{events:?}");
    assert_eq!(events[2], "[97, 0, 98]");
    assert!(events[3].starts_with("AppendNext"), "{events:?}");
    assert_eq!(events[4], "[0, 0]");
}

/// Runs `a LOGIN`, `b SELECT INBOX` and then `line` in a session made with `config`, agreeing
/// to every decision; returns the events after the SELECT and what was sent for `line` and a
/// `FETCH` after it.
fn after_select(config: ServerConfig, line: &[u8]) -> (Vec<String>, String) {
    let now = Instant::now();
    let mut s = ServerSession::new(config);
    s.handle_input(now, b"a LOGIN alice pw\r\nb SELECT INBOX\r\n");
    while let Some(ev) = s.poll_event() {
        agree(&mut s, now, ev);
    }
    assert_eq!(s.state(), SessionState::Selected);
    drain(&mut s);
    s.handle_input(now, line);
    s.handle_input(now, b"d FETCH 1 (FLAGS)\r\n");
    let mut events = Vec::new();
    while let Some(ev) = s.poll_event() {
        events.push(describe(&ev));
        agree(&mut s, now, ev);
    }
    (events, drain(&mut s))
}

#[test]
fn a_select_that_does_not_parse_leaves_the_selected_state() {
    let announce = ServerConfig {
        announce_closed: true,
        ..ServerConfig::default()
    };
    for line in [
        &b"c SELECT INBOX (QRESYNC (1 1 1:*))\r\n"[..],
        b"c examine INBOX (FOO)\r\n",
        b"c SELECT\r\n",
    ] {
        let (events, out) = after_select(announce.clone(), line);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events[0].starts_with("Rejected"), "{events:?}");
        assert_eq!(events[1], "Deselected");
        assert!(events[2].starts_with("Rejected"), "{events:?}");
        let expected = format!(
            "* OK [CLOSED] Previous mailbox closed\r\nc BAD Syntax error\r\nd BAD {}\r\n",
            wrong_state_text("FETCH", SessionState::Authenticated)
        );
        assert_eq!(out, expected, "{}", String::from_utf8_lossy(line));
    }
    // Without CONDSTORE or QRESYNC on offer, no [CLOSED]; other commands keep the mailbox.
    let (events, out) = after_select(ServerConfig::default(), b"c SELECT\r\n");
    assert_eq!(events[1], "Deselected");
    assert!(out.starts_with("c BAD Syntax error\r\n"), "{out}");
    let (events, out) = after_select(ServerConfig::default(), b"c STATUS INBOX\r\n");
    assert!(!events.contains(&"Deselected".to_owned()), "{events:?}");
    assert!(out.starts_with("c BAD Syntax error\r\n"), "{out}");
    assert!(out.contains("d OK ok\r\n"), "{out}");
}

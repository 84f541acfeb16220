//! Server machine: known-answer traces, limits, smuggling, STARTTLS, AUTH, LMTP, BDAT, and the
//! split-anywhere property.

use std::time::Instant;

use bytes::Bytes;
use mailwright_smtp_proto::server::{AbortReason, CloseReason, Event, Extensions, HeloKind};
use mailwright_smtp_proto::*;
use proptest::prelude::*;

/// Answers every decision: accept, except credentials whose password is not "secret", and
/// recipients whose local part is "nobody".
fn decide(s: &mut ServerSession, e: &Event) {
    let decided = match e {
        Event::AuthCredentials { password, .. } if password.expose() != "secret" => {
            s.reject(Reply::new(535, EnhancedCode::new(5, 7, 8).ok(), "Bad credentials").unwrap())
        }
        Event::AuthStart { .. } => s.auth_challenge(b"challenge"),
        Event::AuthResponse(r) if r.expose() == b"ok" => s.accept(),
        Event::AuthResponse(_) => s.auth_challenge(b"again"),
        Event::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } if m.local_part.as_str() == "nobody" => {
            s.reject(Reply::new(550, EnhancedCode::new(5, 1, 1).ok(), "No such user").unwrap())
        }
        e if e.needs_decision() => s.accept(),
        _ => Ok(()),
    };
    decided.unwrap();
    // Answering twice is a misuse, reported, not a silent no-op.
    if e.needs_decision() && !s.decision_pending() {
        assert!(s.accept().is_err());
    }
}

/// Feeds `pieces` one after another, draining events after each, merging data chunks.
fn run_pieces(s: &mut ServerSession, pieces: &[&[u8]]) -> (Vec<Event>, String) {
    let mut events: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    let drain = |s: &mut ServerSession, events: &mut Vec<Event>, out: &mut Vec<u8>| {
        while let Some(e) = s.poll_event() {
            decide(s, &e);
            match (events.last_mut(), &e) {
                (Some(Event::DataChunk(prev)), Event::DataChunk(next)) => {
                    let mut v = prev.to_vec();
                    v.extend_from_slice(next);
                    *prev = Bytes::from(v);
                }
                _ => events.push(e),
            }
        }
        while let Some(b) = s.poll_transmit() {
            out.extend_from_slice(&b);
        }
    };
    drain(s, &mut events, &mut out);
    for p in pieces {
        s.handle_input(Instant::now(), p);
        drain(s, &mut events, &mut out);
    }
    (events, String::from_utf8_lossy(&out).into_owned())
}

fn run(config: ServerConfig, input: &[u8]) -> (Vec<Event>, String) {
    let mut s = ServerSession::new(config);
    run_pieces(&mut s, &[input])
}

fn smtp() -> ServerConfig {
    let mut c = ServerConfig::new(Mode::Smtp, "mx.example.org");
    c.strict_pipelining = false;
    c
}

fn codes(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect()
}

#[test]
fn basic_transaction() {
    let (events, out) = run(
        smtp(),
        b"EHLO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "250", "221"],
        "{out}"
    );
    assert!(
        out.contains("250-PIPELINING\r\n") && out.contains("250-SIZE 36700160\r\n"),
        "{out}"
    );
    assert!(matches!(
        &events[0],
        Event::Helo {
            kind: HeloKind::Ehlo,
            ..
        }
    ));
    assert!(events.contains(&Event::DataChunk(Bytes::from_static(
        b"Subject: hi\r\n\r\n.dot\r\n"
    ))));
    assert!(events.contains(&Event::DataEnd));
    assert_eq!(events.last(), Some(&Event::Quit));
}

#[test]
fn bad_sequences_get_503() {
    let (_, out) = run(smtp(), b"MAIL FROM:<a@b>\r\nEHLO x\r\nRCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\n");
    assert_eq!(
        codes(&out),
        ["220", "503", "250", "503", "503", "250", "554", "503"],
        "{out}"
    );
    let (events, out) = run(smtp(), b"FOO bar\r\nMAIL FROM:a@b\r\n");
    assert_eq!(codes(&out), ["220", "500", "501"]);
    assert!(
        matches!(&events[0], Event::Malformed { kind: MalformedKind::UnknownCommand, excerpt } if excerpt.as_bytes() == b"FOO bar")
    );
}

/// Arguments that do not parse, answered as Postfix 3.7's smtpd answers them.
#[test]
fn malformed_arguments_get_postfixs_replies() {
    let (_, out) = run(
        smtp(),
        b"EHLO x\r\nMAIL FROM:<a@b\r\nMAIL FROM:<a@b..c>\r\nMAIL FROM:a@b\r\nMAIL TO:<a@b>\r\n\
          MAIL FROM:<a@b>\r\nRCPT TO:<>\r\nRCPT TO: <a@b\r\nRCPT TO:a@b\r\nQUIT now\r\nNOOP\r\n",
    );
    let replies: Vec<&str> = out
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .collect();
    assert_eq!(
        replies[2..],
        [
            "501 5.1.7 Bad sender address syntax",
            "501 5.1.7 Bad sender address syntax",
            "501 5.5.4 Error: syntax error in arguments",
            "501 5.5.4 Error: syntax error in arguments",
            "250 2.1.0 Sender OK",
            "501 5.1.3 Bad recipient address syntax",
            "501 5.1.3 Bad recipient address syntax",
            "501 5.5.4 Error: syntax error in arguments",
            "221 2.0.0 Bye",
        ],
        "{out}"
    );
}

/// A BDAT whose size cannot be read ends the session: the chunk's octets would otherwise be
/// read as commands (here, a second transaction smuggled inside the chunk).
#[test]
fn a_malformed_bdat_closes_the_session() {
    for bdat in [
        "BDAT x",
        "BDAT",
        "BDAT 5 LASTX",
        "BDAT 99999999999999999999",
        "BDAT -1",
    ] {
        let input = format!(
            "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n{bdat}\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\n"
        );
        let (events, out) = run(smtp(), input.as_bytes());
        assert_eq!(
            codes(&out),
            ["220", "250", "250", "250", "521"],
            "{bdat}: {out}"
        );
        assert!(
            out.ends_with("521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
            "{out}"
        );
        assert_eq!(
            events.last(),
            Some(&Event::Closed(CloseReason::MalformedBdat)),
            "{bdat}"
        );
    }
}

#[test]
fn limits() {
    let mut c = smtp();
    c.limits.max_message_size = Some(100);
    c.limits.max_recipients = 2;
    let (events, out) = run(
        c,
        b"EHLO x\r\nMAIL FROM:<a@b> SIZE=101\r\nMAIL FROM:<a@b> SIZE=100\r\nRCPT TO:<1@b>\r\nRCPT TO:<2@b>\r\nRCPT TO:<3@b>\r\n",
    );
    assert_eq!(
        codes(&out),
        ["220", "250", "552", "250", "250", "250", "452"],
        "{out}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Rcpt { .. }))
            .count(),
        2
    );

    // Size exceeded in the body itself.
    let mut c = smtp();
    c.limits.max_message_size = Some(10);
    let (events, out) = run(
        c,
        b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@b>\r\nDATA\r\n0123456789abcdef\r\n.\r\nNOOP\r\n",
    );
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "552", "250"],
        "{out}"
    );
    assert!(events.contains(&Event::DataAborted(AbortReason::TooBig)));

    // Command line length: 2048 with CRLF (512 plus what the extensions add, as Postfix).
    let mut long = b"NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 2100));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    let (_, out) = run(smtp(), &long);
    assert_eq!(codes(&out), ["220", "500", "250"], "{out}");
    // A RCPT with a long ORCPT (RFC 3461 §4: +500 octets for NOTIFY and ORCPT) is taken.
    let orcpt = format!("rfc822;{}@example.org", "r".repeat(480));
    let rcpt = format!("RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT={orcpt}\r\n");
    assert!(rcpt.len() > 512);
    let session = format!("EHLO x\r\nMAIL FROM:<s@remote.test> RET=HDRS ENVID=e1\r\n{rcpt}");
    let mut c = smtp();
    c.extensions.dsn = true;
    let (_, out) = run(c, session.as_bytes());
    assert_eq!(codes(&out), ["220", "250", "250", "250"], "{out}");

    // Errors then close (at the hard limit; with the soft limit as high, no reply is delayed).
    let mut c = smtp();
    c.limits.hard_error_limit = 10;
    let (events, out) = run(c, &b"BAD\r\n".repeat(12));
    assert_eq!(codes(&out).len(), 12, "{out}");
    assert!(out.ends_with("421 4.7.0 mx.example.org Error: too many errors\r\n"));
    assert_eq!(
        events.last(),
        Some(&Event::Closed(CloseReason::TooManyErrors))
    );

    // Input piling up behind a pending decision is bounded.
    let mut c = smtp();
    c.limits.max_buffered_input = 100;
    let mut s = ServerSession::new(c);
    s.handle_input(Instant::now(), b"EHLO x\r\n");
    s.handle_input(Instant::now(), &b"NOOP\r\n".repeat(30));
    assert_eq!(s.poll_event().map(|e| e.needs_decision()), Some(true));
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed(CloseReason::InputOverflow))
    );
    assert!(s.is_closed());

    // Text lines of more than 1000 octets reject the message.
    let mut body = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@b>\r\nDATA\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'y', 1001));
    body.extend_from_slice(b"\r\n.\r\n");
    let (events, out) = run(smtp(), &body);
    assert_eq!(codes(&out).last(), Some(&"550"));
    assert!(events.contains(&Event::DataAborted(AbortReason::LineTooLong)));
}

#[test]
fn smuggling_is_refused() {
    let attack = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@b>\r\nDATA\r\nhello\n.\nMAIL FROM:<evil@b>\r\nRCPT TO:<victim@b>\r\nDATA\r\nforged\r\n.\r\n";
    let (events, out) = run(smtp(), attack);
    assert!(
        out.ends_with("550 5.5.2 Error: bare <LF> in message data; message rejected\r\n"),
        "{out}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Mail { from: ReversePath::Mailbox(m), .. } if m.local_part.as_str() == "evil")));
    assert_eq!(
        events.last(),
        Some(&Event::Closed(CloseReason::BareLineEnding))
    );

    // Normalised: the smuggled commands stay inside the first message's content.
    let mut c = smtp();
    c.bare_line_ending = BareLineEnding::Normalize;
    let (events, _) = run(c, attack);
    let mails = events
        .iter()
        .filter(|e| matches!(e, Event::Mail { .. }))
        .count();
    assert_eq!(mails, 1);
    assert_eq!(events.iter().filter(|e| **e == Event::DataEnd).count(), 1);
    let Some(Event::DataChunk(content)) = events.iter().find(|e| matches!(e, Event::DataChunk(_)))
    else {
        panic!()
    };
    assert!(
        content.starts_with(b"hello\r\n.\r\nMAIL FROM:<evil@b>\r\n"),
        "{content:?}"
    );
}

#[test]
fn starttls_discards_and_resets() {
    let mut c = smtp();
    c.extensions.starttls = true;
    c.extensions.auth = vec![Mechanism::plain()];
    let mut s = ServerSession::new(c);
    let (events, out) = run_pieces(
        &mut s,
        &[b"EHLO x\r\n", b"STARTTLS\r\nMAIL FROM:<injected@b>\r\n"],
    );
    assert!(
        out.contains("250 STARTTLS\r\n") && !out.contains("AUTH"),
        "{out}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::StartTls {
            discarded: b"MAIL FROM:<injected@b>\r\n".len()
        })
    );
    assert!(out.ends_with("220 2.0.0 Ready to start TLS\r\n"));
    // Bytes before the handshake completes are ignored too.
    s.handle_input(Instant::now(), b"garbage\r\n");
    assert!(s.poll_event().is_none());
    s.handle_tls_established().unwrap();
    assert!(
        s.handle_tls_established().is_err(),
        "no second handshake is pending"
    );
    assert!(s.tls_active() && s.auth_offered() && !s.starttls_offered());
    let (_, out) = run_pieces(
        &mut s,
        &[b"MAIL FROM:<a@b>\r\n", b"EHLO x\r\n", b"STARTTLS\r\n"],
    );
    assert_eq!(codes(&out), ["503", "250", "503"], "{out}");
    assert!(
        !out.contains("STARTTLS") && out.contains("250 AUTH PLAIN\r\n"),
        "{out}"
    );
}

#[test]
fn auth_exchanges() {
    let mut c = ServerConfig::new(Mode::Submission, "smtp.example.org");
    c.extensions.auth = vec![
        Mechanism::plain(),
        Mechanism::login(),
        Mechanism::try_from("X-TEST").unwrap(),
    ];
    c.extensions.auth_requires_tls = false;
    c.strict_pipelining = false;
    // Submission: MAIL before AUTH is refused.
    let (_, out) = run(c.clone(), b"EHLO x\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN AHVzZXIAd3Jvbmc=\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "530", "535", "235", "250", "503"],
        "{out}"
    );
    // PLAIN without initial response, LOGIN, cancel.
    let (events, out) = run(
        c.clone(),
        b"EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\n",
    );
    assert!(
        out.contains("334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n334 \r\n235 "),
        "{out}"
    );
    assert!(events.contains(&Event::AuthCancelled));
    let (events, out) = run(c.clone(), b"EHLO x\r\nAUTH LOGIN dXNlcg==\r\nc2VjcmV0\r\n");
    assert!(out.contains("334 UGFzc3dvcmQ6\r\n235 2.7.0"), "{out}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AuthCredentials { username, .. } if username == "user"))
    );
    // A generic mechanism goes through the caller.
    let (events, out) = run(c.clone(), b"EHLO x\r\nAUTH X-TEST =\r\nbm8=\r\nb2s=\r\n");
    assert!(
        out.contains("334 Y2hhbGxlbmdl\r\n334 YWdhaW4=\r\n235 "),
        "{out}"
    );
    assert!(events.contains(&Event::AuthStart {
        mechanism: Mechanism::try_from("X-TEST").unwrap(),
        initial_response: Some(Secret::new(vec![]))
    }));
    // Unknown mechanism, bad base64.
    let (_, out) = run(c, b"EHLO x\r\nAUTH CRAM-MD5\r\nAUTH PLAIN\r\n!!!\r\n");
    assert_eq!(codes(&out), ["220", "250", "504", "334", "501"], "{out}");
}

#[test]
fn auth_needs_tls_by_default() {
    let mut c = smtp();
    c.extensions.auth = vec![Mechanism::plain()];
    let (_, out) = run(c, b"EHLO x\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
    assert_eq!(codes(&out), ["220", "250", "538"], "{out}");
}

#[test]
fn lmtp_per_recipient_replies() {
    let mut c = ServerConfig::new(Mode::Lmtp, "lmtp.example.org");
    c.strict_pipelining = false;
    let mut s = ServerSession::new(c);
    s.handle_input(Instant::now(), b"EHLO x\r\nLHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@b>\r\nRCPT TO:<nobody@b>\r\nRCPT TO:<2@b>\r\nDATA\r\nhi\r\n.\r\n");
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        if e == Event::DataEnd {
            s.data_replies(vec![
                Reply::ok(),
                Reply::new(452, EnhancedCode::new(4, 2, 2).ok(), "Mailbox full").unwrap(),
            ])
            .unwrap();
        } else {
            decide(&mut s, &e);
        }
    }
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        codes(&out),
        [
            "220", "500", "250", "250", "250", "550", "250", "354", "250", "452"
        ],
        "{out}"
    );
    assert!(out.starts_with("220 lmtp.example.org LMTP\r\n"));
}

#[test]
fn bdat_chunks() {
    let (events, out) = run(smtp(), b"EHLO x\r\nMAIL FROM:<a@b> BODY=BINARYMIME\r\nRCPT TO:<1@b>\r\nBDAT 5\r\nab\r\ncBDAT 3 LAST\r\n.\r\nDATA\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "250", "250", "503"],
        "{out}"
    );
    assert!(out.contains("250 2.0.0 5 octets received\r\n"));
    let Some(Event::DataChunk(content)) = events.iter().find(|e| matches!(e, Event::DataChunk(_)))
    else {
        panic!()
    };
    assert_eq!(&content[..], b"ab\r\nc.\r\n");
    // BDAT without a transaction still consumes its chunk.
    let (_, out) = run(smtp(), b"EHLO x\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(codes(&out), ["220", "250", "503", "250"], "{out}");
}

#[test]
fn improper_pipelining_closes() {
    let c = ServerConfig::new(Mode::Smtp, "mx");
    let mut s = ServerSession::new(c.clone());
    let (events, out) = run_pieces(&mut s, &[b"EHLO x\r\nMAIL FROM:<a@b>\r\n"]);
    assert!(
        out.ends_with("554 5.5.0 Error: improper command pipelining after EHLO\r\n"),
        "{out}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::Closed(CloseReason::ImproperPipelining))
    );
    // A proper group: MAIL, RCPT, DATA together, then the content after the 354.
    let mut s = ServerSession::new(c);
    let (events, out) = run_pieces(
        &mut s,
        &[
            b"EHLO x\r\n",
            b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
            b"x\r\n.\r\n",
        ],
    );
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "250"],
        "{out}"
    );
    assert!(events.contains(&Event::DataEnd));
}

#[test]
fn helo_and_smtputf8() {
    let (_, out) = run(smtp(), "HELO x\r\nMAIL FROM:<a@b> SIZE=10\r\nMAIL FROM:<a@b>\r\nRCPT TO:<用户@例子.广告>\r\nRSET\r\nEHLO x\r\nMAIL FROM:<用户@b>\r\nMAIL FROM:<用户@b> SMTPUTF8\r\n".as_bytes());
    assert_eq!(
        codes(&out),
        [
            "220", "250", "555", "250", "250", "250", "250", "553", "250"
        ],
        "{out}"
    );
    let mut c = smtp();
    c.extensions = Extensions {
        enhanced_status_codes: false,
        ..Extensions::default()
    };
    let (_, out) = run(c, b"EHLO x\r\nFOO\r\n");
    assert!(
        out.ends_with("500 Error: command not recognized\r\n"),
        "{out}"
    );
}

const SCRIPT: &[u8] = b"EHLO client\r\nMAIL FROM:<a@b> SIZE=20\r\nRCPT TO:<1@b>\r\nRCPT TO:<nobody@b>\r\nDATA\r\nline one\r\n..two\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@y>\r\nBDAT 4\r\nabcdBDAT 0 LAST\r\nAUTH PLAIN\r\nVRFY x\r\nFOO\r\nRSET\r\nQUIT\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Feeding the input split anywhere gives the same events and the same bytes out.
    #[test]
    fn split_anywhere(cuts in proptest::collection::vec(0..SCRIPT.len(), 0..8)) {
        let whole = run(smtp(), SCRIPT);
        let mut cuts = cuts;
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut last = 0;
        for c in cuts {
            pieces.push(&SCRIPT[last..c]);
            last = c;
        }
        pieces.push(&SCRIPT[last..]);
        let mut s = ServerSession::new(smtp());
        prop_assert_eq!(run_pieces(&mut s, &pieces), whole);
    }

    /// Arbitrary bytes never panic the machine, in any mode.
    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..300), mode in 0..3u8) {
        let mode = [Mode::Smtp, Mode::Submission, Mode::Lmtp][mode as usize];
        let mut c = ServerConfig::new(mode, "x");
        c.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
        c.extensions.auth_requires_tls = false;
        let mut prefixed = b"EHLO x\r\nLHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n".to_vec();
        prefixed.extend_from_slice(&input);
        let _ = run(c.clone(), &input);
        let _ = run(c, &prefixed);
    }
}

#[test]
fn split_byte_by_byte() {
    let whole = run(smtp(), SCRIPT);
    let pieces: Vec<&[u8]> = SCRIPT.chunks(1).collect();
    let mut s = ServerSession::new(smtp());
    assert_eq!(run_pieces(&mut s, &pieces), whole);
    assert!(
        whole
            .1
            .contains("502 5.5.1 Error: authentication not enabled\r\n"),
        "{}",
        whole.1
    );
}

//! Known-answer traces from the RFCs, replayed against the server machine (client lines in,
//! reply codes out) and the client machine (server lines in, command lines out). Reply texts are
//! ours, so only codes and line structure are compared for the server; the client must send the
//! RFC's commands byte for byte, apart from its own host name.

use std::time::Instant;

use mailwright_smtp_proto::server::{Event, Extensions};
use mailwright_smtp_proto::*;

/// Splits a trace into (is_client, line) pairs.
fn lines(trace: &str) -> Vec<(bool, &str)> {
    trace
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (who, rest) = l.split_at(3);
            (who == "C: ", rest)
        })
        .collect()
}

/// Feeds each group of client lines, answers decisions with `decide`, and compares every reply
/// line's code and separator with the trace's server lines.
fn replay_server(
    trace: &str,
    config: ServerConfig,
    mut decide: impl FnMut(&mut ServerSession, &Event),
) {
    let mut s = ServerSession::new(config);
    let mut got = String::new();
    let mut expected = Vec::new();
    let mut pending_client = String::new();
    let flush = |s: &mut ServerSession,
                 input: &mut String,
                 got: &mut String,
                 decide: &mut dyn FnMut(&mut ServerSession, &Event)| {
        s.handle_input(Instant::now(), input.as_bytes());
        input.clear();
        while let Some(e) = s.poll_event() {
            decide(s, &e);
        }
        while let Some(b) = s.poll_transmit() {
            got.push_str(&String::from_utf8_lossy(&b));
        }
    };
    for (client, line) in lines(trace) {
        if client {
            pending_client.push_str(line);
            pending_client.push_str("\r\n");
        } else {
            flush(&mut s, &mut pending_client, &mut got, &mut decide);
            expected.push(line[..4.min(line.len())].to_owned());
        }
    }
    flush(&mut s, &mut pending_client, &mut got, &mut decide);
    let got: Vec<String> = got
        .lines()
        .map(|l| l[..4.min(l.len())].to_owned())
        .collect();
    assert_eq!(got, expected);
}

/// RFC 2033 §4.2: LMTP with one refused recipient and one per-recipient data failure.
#[test]
fn rfc2033_lmtp_example() {
    const TRACE: &str = "
        S: 220 foo.edu LMTP server ready
        C: LHLO foo.edu
        S: 250-foo.edu
        S: 250-PIPELINING
        S: 250 SIZE
        C: MAIL FROM:<chris@bar.com>
        S: 250 OK
        C: RCPT TO:<pat@foo.edu>
        S: 250 OK
        C: RCPT TO:<jones@foo.edu>
        S: 550 No such user here
        C: RCPT TO:<green@foo.edu>
        S: 250 OK
        C: DATA
        S: 354 Start mail input; end with <CRLF>.<CRLF>
        C: Blah blah blah...
        C: ...etc. etc. etc.
        C: .
        S: 250 OK
        S: 452 <green@foo.edu> is temporarily over quota
        C: QUIT
        S: 221 foo.edu closing connection";
    let mut c = ServerConfig::new(Mode::Lmtp, "foo.edu");
    c.extensions = Extensions {
        eight_bit_mime: false,
        chunking: false,
        smtputf8: false,
        enhanced_status_codes: false,
        ..Extensions::default()
    };
    let mut content = Vec::new();
    replay_server(TRACE, c, |s, e| match e {
        Event::Rcpt { to, .. } if to.to_string() == "<jones@foo.edu>" => {
            s.reject(Reply::new(550, None, "No such user here").unwrap())
                .unwrap();
        }
        Event::DataChunk(b) => content.extend_from_slice(b),
        Event::DataEnd => s
            .data_replies(vec![
                Reply::ok(),
                Reply::new(452, None, "<green@foo.edu> is temporarily over quota").unwrap(),
            ])
            .unwrap(),
        e if e.needs_decision() => s.accept().unwrap(),
        _ => {}
    });
    // "...etc." was dot-stuffed on the wire.
    assert_eq!(content, b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
}

/// RFC 2920 §3.2 example, first transaction: a pipelined group after EHLO.
#[test]
fn rfc2920_pipelining_example() {
    const TRACE: &str = "
        S: 220 innosoft.com SMTP service ready
        C: EHLO dbc.mtview.ca.us
        S: 250-innosoft.com
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250-BINARYMIME
        S: 250-SMTPUTF8
        S: 250 ENHANCEDSTATUSCODES
        C: MAIL FROM:<mrose@dbc.mtview.ca.us>
        C: RCPT TO:<ned@innosoft.com>
        C: RCPT TO:<dan@innosoft.com>
        C: RCPT TO:<kvc@innosoft.com>
        C: DATA
        S: 250 sender <mrose@dbc.mtview.ca.us> OK
        S: 250 recipient <ned@innosoft.com> OK
        S: 250 recipient <dan@innosoft.com> OK
        S: 250 recipient <kvc@innosoft.com> OK
        S: 354 enter mail, end with line containing only '.'
        C: Hi
        C: .
        C: QUIT
        S: 250 message sent
        S: 221 goodbye";
    replay_server(
        TRACE,
        ServerConfig::new(Mode::Smtp, "innosoft.com"),
        |s, e| {
            if e.needs_decision() {
                s.accept().unwrap();
            }
        },
    );
}

/// RFC 5321 Appendix D.1, seen from the client: the machine must write the RFC's commands (plus
/// `SIZE=`, which it adds because the server advertises SIZE).
#[test]
fn rfc5321_d1_client() {
    const TRACE: &str = "
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-8BITMIME
        S: 250-SIZE
        S: 250-DSN
        S: 250 HELP
        C: MAIL FROM:<Smith@bar.com> SIZE=14
        S: 250 OK
        C: RCPT TO:<Jones@foo.com>
        S: 250 OK
        C: RCPT TO:<Green@foo.com>
        S: 550 No such user here
        C: RCPT TO:<Brown@foo.com>
        S: 250 OK
        C: DATA
        S: 354 Start mail input; end with <CRLF>.<CRLF>
        C: Blah blah...
        C: .
        S: 250 OK
        C: QUIT
        S: 221 foo.com Service closing transmission channel";
    let mut c = ClientSession::new(ClientConfig::new(
        Mode::Smtp,
        Host::try_from("bar.com").unwrap(),
    ));
    let mb = |s: &str| ForwardPath::Mailbox(Mailbox::try_from(s).unwrap());
    let mut envelope = Some(Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from("Smith@bar.com").unwrap()),
        [
            mb("Jones@foo.com"),
            mb("Green@foo.com"),
            mb("Brown@foo.com"),
        ],
    ));
    let mut sent = String::new();
    let mut expected = String::new();
    let mut result = None;
    for (client, line) in lines(TRACE) {
        if client {
            expected.push_str(line);
            expected.push_str("\r\n");
            continue;
        }
        c.handle_input(Instant::now(), format!("{line}\r\n").as_bytes());
        while let Some(e) = c.poll_event() {
            match e {
                ClientEvent::Ready(_) => c
                    .send_message(envelope.take().unwrap(), &b"Blah blah...\r\n"[..])
                    .unwrap(),
                ClientEvent::Sent(r) => {
                    result = Some(r);
                    c.quit().unwrap();
                }
                _ => {}
            }
        }
        while let Some(b) = c.poll_transmit() {
            sent.push_str(&String::from_utf8_lossy(&b));
        }
    }
    assert_eq!(sent, expected);
    let r = result.unwrap();
    assert!(r.delivered());
    assert_eq!(
        r.rcpts.iter().map(|r| r.code().get()).collect::<Vec<_>>(),
        [250, 550, 250]
    );
    assert!(c.is_closed());
}

//! Differential test against Dovecot (Debian dovecot-imapd, standalone on a loopback port): the
//! same corpus of messages (nested multiparts, encoded words, attachments, groups, malformed
//! headers) is APPENDed to both servers, then FETCH ENVELOPE, BODYSTRUCTURE, BODY, RFC822.SIZE,
//! BODY[] sections and SEARCH results are compared. Literal and quoted forms of the same string
//! are normalised away (both are the same `string`, RFC 3501 §4.3).

mod common;

use common::dovecot::{self, Dovecot};
use common::{TestServer, peer, python};
use mailwright::server::Service;

/// The corpus; each message is CRLF text.
fn corpus() -> Vec<Vec<u8>> {
    let msgs: Vec<&str> = vec![
        // 1. Plain text with every envelope field.
        "Date: Mon, 7 Feb 1994 21:52:25 -0800\nFrom: Fred Foobar <foobar@Blurdybloop.example>\nSender: Sec <sec@example.org>\nReply-To: Replies <r@example.org>\nSubject: afternoon meeting\nTo: mooch@owatagu.example, \"Dr. No\" <no@example.net>\nCc: cc@example.com\nBcc: bcc@example.com\nIn-Reply-To: <prev@example>\nMessage-Id: <B27397-0100000@Blurdybloop.example>\nMIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\nHello Joe, do you think we can meet at 3:30 tomorrow?\n",
        // 2. Encoded words in subject and names.
        "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.de>\nTo: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\nSubject: =?utf-8?q?caf=C3=A9_and_cr=C3=A8me?=\nDate: Tue, 1 Mar 2022 10:00:00 +0100\nMessage-ID: <enc@example.de>\n\nbody\n",
        // 3. multipart/mixed with a nested alternative and a base64 attachment.
        "From: a@example.com\nTo: b@example.com\nSubject: mixed\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\nThis is a multi-part message in MIME format.\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain; charset=\"utf-8\"; format=flowed\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 plain\n--inner\nContent-Type: text/html; charset=utf-8\n\n<p>café html</p>\n--inner--\n\n--outer\nContent-Type: application/pdf; name=\"doc.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"doc.pdf\"; size=12\nContent-ID: <part3@example.com>\nContent-Description: A document\nContent-Language: en, de\n\nJVBERi0xLjQKJcfs\nj6IKMSAwIG9iago=\n--outer--\n",
        // 4. An attached message that is itself multipart.
        "From: fwd@example.com\nTo: b@example.com\nSubject: Fwd: inner\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: message/rfc822\n\nFrom: inner@example.com\nTo: x@example.com\nSubject: the inner one\nDate: Wed, 2 Mar 2022 11:00:00 +0000\nContent-Type: multipart/alternative; boundary=\"b2\"\n\n--b2\nContent-Type: text/plain\n\ninner plain\n--b2\nContent-Type: text/html\n\n<b>inner</b>\n--b2--\n\n--b1--\n",
        // 5. Groups, an empty group, no Date, no Subject.
        "From: a@example.com\nTo: Friends: one@example.com, Two <two@example.com>;, solo@example.com\nCc: undisclosed-recipients:;\n\nno date here\n",
        // 6. Malformed: a multipart without boundary, a header line without colon, odd spacing.
        "From:    spaced@example.com   \nSubject:no space\nX-Broken header line\nContent-Type: multipart/mixed\n\nnot really multipart\n",
        // 7. No header at all.
        "\njust a body\n",
        // 8. Digest with default message/rfc822 parts, and an unterminated multipart.
        "From: d@example.com\nSubject: digest\nContent-Type: multipart/digest; boundary=\"dg\"\n\n--dg\n\nFrom: one@example.com\nSubject: first\n\nfirst body\n--dg\n\nFrom: two@example.com\nSubject: second\n\nsecond body\n--dg--\n",
        // 9. Unterminated multipart and a long folded subject.
        "From: u@example.com\nSubject: a very long subject that is folded\n over two lines\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\npart one\n--zz\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n",
    ];
    msgs.into_iter()
        .map(|m| m.replace('\n', "\r\n").into_bytes())
        .collect()
}

/// APPENDs the corpus (files named on the command line) and prints one normalised line per
/// FETCH item and per SEARCH.
const DUMP: &str = r#"
import imaplib, sys, re
port, files = int(sys.argv[1]), sys.argv[2:]
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
for f in files:
    typ, data = M.append('INBOX', None, '"01-Jan-2020 00:00:00 +0000"', open(f, 'rb').read())
    assert typ == 'OK', data
M.select('INBOX')
def q(b):
    return b'"' + b.replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"'
def norm(data):
    out = b''
    for d in data:
        if isinstance(d, tuple):
            head = re.sub(rb'\{\d+\}$', b'', d[0])
            out += head + q(d[1])
        elif d is not None:
            out += d
    # Quoted strings with escapes unchanged; collapse nothing else.
    return out.decode('utf-8', 'replace').replace('\r', '\\r').replace('\n', '\\n')
items = ['ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'RFC822.SIZE', 'BODY.PEEK[HEADER]', 'BODY.PEEK[TEXT]',
         'BODY.PEEK[1]', 'BODY.PEEK[1.MIME]', 'BODY.PEEK[2]', 'BODY.PEEK[2.HEADER]', 'BODY.PEEK[2.TEXT]',
         'BODY.PEEK[2.1]', 'BODY.PEEK[2.2]', 'BODY.PEEK[1.1]', 'BODY.PEEK[1.2]',
         'BODY.PEEK[HEADER.FIELDS (From Subject)]', 'BODY.PEEK[HEADER.FIELDS.NOT (From Subject)]',
         'BODY.PEEK[]<10.20>']
for i in range(1, len(files) + 1):
    for it in items:
        typ, data = M.fetch(str(i), '(' + it + ')')
        print('%d %s %s' % (i, it, norm(data) if typ == 'OK' else 'NO'))
searches = [['SUBJECT', 'meeting'], ['FROM', 'foobar'], ['TO', 'friends'], ['CC', 'undisclosed'],
            ['BODY', 'inner'], ['TEXT', 'Joe'], ['HEADER', 'Content-Type', 'multipart'],
            ['LARGER', '500'], ['SMALLER', '100'], ['SENTBEFORE', '1-Jan-2000'],
            ['SENTSINCE', '1-Mar-2022'], ['SENTON', '2-Mar-2022'], ['NOT', 'SUBJECT', 'a'],
            ['OR', 'FROM', 'u@', 'FROM', 'd@'], ['SUBJECT', 'creme'], ['BODY', 'plain']]
for s in searches:
    typ, data = M.search(None, *s)
    print('SEARCH %s -> %s' % (' '.join(s), data[0].decode()))
M.logout()
"#;

#[test]
fn fetch_and_search_match_dovecot() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let Some(bin) = peer::require("dovecot", "dovecot-imapd") else {
        return;
    };
    let dir = common::tempdir("imap-dovecot");
    let mut files = Vec::new();
    for (i, m) in corpus().iter().enumerate() {
        let p = dir.join(format!("m{i:02}.eml"));
        std::fs::write(&p, m).unwrap();
        files.push(p.to_string_lossy().into_owned());
    }
    let ddir = dir.join("dovecot");
    std::fs::create_dir_all(&ddir).unwrap();
    let dc = Dovecot::start(
        &bin,
        &ddir,
        "alice@example.org",
        "alice-pw",
        dovecot::MAILDIR,
    );
    let mut args = vec![dc.port.to_string()];
    args.extend(files.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let theirs = python(DUMP, &argv);
    drop(dc);

    let server = TestServer::start();
    args[0] = server.port(Service::Imap).to_string();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let ours = python(DUMP, &argv);

    let mut diffs = Vec::new();
    for (t, o) in theirs.lines().zip(ours.lines()) {
        if t != o && !known_difference(t, o) {
            diffs.push(format!("dovecot: {t}\nours:    {o}"));
        }
    }
    if let Ok(keep) = std::env::var("MW_IMAP_DIFF_DIR") {
        std::fs::write(format!("{keep}/dovecot.txt"), &theirs).unwrap();
        std::fs::write(format!("{keep}/ours.txt"), &ours).unwrap();
    }
    assert_eq!(theirs.lines().count(), ours.lines().count());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Differences with a reason, written down (see the report in each arm).
fn known_difference(_theirs: &str, _ours: &str) -> bool {
    false
}

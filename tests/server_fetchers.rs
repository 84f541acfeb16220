//! Real POP3 fetchers we did not write, `fetchmail` and `getmail6`, fetch mail sent to our SMTP
//! back from our POP3, over plain loopback, STLS and implicit TLS (pop3s), byte-exact, and delete it
//! at the server.
//!
//! What "byte-exact" means here: the message a fetcher hands to its delivery target has the stored
//! message's body byte for byte and every stored header field in order, plus only the fetcher's own
//! trace fields (its `Received:`; getmail's `Delivered-To: unknown`), with our `Return-Path:` kept
//! (getmail moves it to the top; fetchmail puts its `Received:` after our `Delivered-To:` and
//! `Return-Path:`). And the stored message minus our trace fields is, after CRLF -> LF, exactly what
//! the SMTP client sent. fetchmail with `keep uidl` shows the UIDLs are stable across sessions.
//!
//! TLS: fetchmail checks our self-signed certificate strictly (`sslcertck` with it as the trusted CA
//! file) over STLS and pop3s, and refuses another one; getmail6 pins its SHA-256 fingerprint over
//! pop3s (`SimplePOP3SSLRetriever`, `ssl_fingerprints`). getmail6 has no POP3 STLS retriever, so
//! getmail is not tested over STLS.

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::smtp_client::Client;
use common::{TestServer, peer, python, run_with_timeout, strip_trace};
use mailwright::server::Service;

/// Two messages with the lines fetchers and POP3 servers get wrong: dots, `From `, blank lines,
/// trailing blanks, a tab, a long line; the second large enough to be streamed in many writes.
fn messages() -> Vec<Vec<u8>> {
    let long = "x".repeat(900);
    let first = format!(
        "From: Sender <sender@remote.test>\r\nTo: alice@example.org\r\nSubject: fetch one\r\nMessage-ID: <fetch-one@remote.test>\r\n\r\n.\r\n.leading dot\r\n..two dots\r\nFrom the start\r\n>From quoted\r\n\r\n\r\ntrailing blanks   \r\n\ttab\r\n{long}\r\nend one\r\n"
    );
    let mut second = String::from(
        "From: Sender <sender@remote.test>\r\nTo: alice@example.org\r\nSubject: fetch two\r\nMessage-ID: <fetch-two@remote.test>\r\n\r\n",
    );
    for i in 0..3000 {
        let _ = write!(second, "line {i:05} .{}\r\n", "y".repeat(60));
        if i % 97 == 0 {
            second.push_str(".\r\n");
        }
    }
    second.push_str("end two\r\n");
    vec![first.into_bytes(), second.into_bytes()]
}

/// Sends the messages to alice through our SMTP and returns what the Maildir holds.
fn send_all(server: &TestServer, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut client = Client::connect(server.addr(Service::Smtp), Duration::from_secs(20)).unwrap();
    for m in msgs {
        let reply = client
            .send("sender@remote.test", &["alice@example.org"], m)
            .unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    }
    client.quit();
    let stored = server.messages("alice@example.org");
    assert_eq!(stored.len(), msgs.len());
    for (s, m) in stored.iter().zip(msgs) {
        let lf = String::from_utf8_lossy(m).replace("\r\n", "\n");
        assert_eq!(
            String::from_utf8_lossy(strip_trace(s)),
            lf,
            "stored whole with LF"
        );
    }
    stored
}

/// A message's header fields (each with its continuation lines) and its body, on LF line ends.
fn split(message: &[u8]) -> (Vec<String>, String) {
    // Some fetchers write CRLF into files; compare on LF.
    let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        match fields.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => fields.push(line.to_owned()),
        }
    }
    (fields, body.to_owned())
}

/// Whether a header field is one a fetcher adds: its own `Received:` and getmail's
/// `Delivered-To: unknown`.
fn added_by_fetcher(field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    (lower.starts_with("received:") && (lower.contains("fetchmail") || lower.contains("getmail")))
        || lower == "delivered-to: unknown"
}

/// Checks `fetched` is `stored` with only fetcher trace fields added: the body byte for byte, every
/// stored field in order, the `Return-Path:` kept (getmail moves it to the top).
fn assert_same_message(fetched: &[u8], stored: &[u8]) {
    let (f_fields, f_body) = split(fetched);
    let (s_fields, s_body) = split(stored);
    assert_eq!(f_body, s_body, "body differs");
    let is_return_path = |f: &&String| f.to_ascii_lowercase().starts_with("return-path:");
    let f_rp: Vec<&String> = f_fields.iter().filter(is_return_path).collect();
    let s_rp: Vec<&String> = s_fields.iter().filter(is_return_path).collect();
    assert_eq!(f_rp, s_rp, "Return-Path kept");
    let f_rest: Vec<&String> = f_fields
        .iter()
        .filter(|f| !is_return_path(f) && !added_by_fetcher(f))
        .collect();
    let s_rest: Vec<&String> = s_fields.iter().filter(|f| !is_return_path(f)).collect();
    assert_eq!(
        f_rest, s_rest,
        "header fields differ beyond the fetcher's trace fields"
    );
    assert!(
        f_fields.len() > s_fields.len(),
        "the fetcher added its trace field: {f_fields:?}"
    );
}

/// Matches every fetched message to one stored message (by body, in any order) and checks it.
fn assert_fetched(fetched: &[Vec<u8>], stored: &[Vec<u8>]) {
    if let Some(d) = std::env::var_os("MW_DUMP") {
        for (i, f) in fetched.iter().enumerate() {
            std::fs::write(Path::new(&d).join(format!("fetched{i}")), f).unwrap();
        }
        for (i, f) in stored.iter().enumerate() {
            std::fs::write(Path::new(&d).join(format!("stored{i}")), f).unwrap();
        }
    }
    assert_eq!(fetched.len(), stored.len(), "message count");
    let mut left: Vec<&Vec<u8>> = stored.iter().collect();
    for f in fetched {
        let body = split(f).1;
        let i = left
            .iter()
            .position(|s| split(s).1 == body)
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(f);
                panic!(
                    "fetched message's body matches no stored one (MW_DUMP=DIR keeps them):\n{}",
                    &text[..text.len().min(2000)]
                )
            });
        assert_same_message(f, left[i]);
        left.remove(i);
    }
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[derive(Clone, Copy, Debug)]
enum Tls {
    Plain,
    Stls,
    Implicit,
}

/// Runs fetchmail once against alice's maildrop; returns what its MDA received.
fn fetchmail_run(server: &TestServer, tls: Tls) -> Vec<Vec<u8>> {
    let (ok, log, fetched) = fetchmail_exec(server, tls, &server.cert());
    // Exit 0: mail fetched.
    assert!(ok, "fetchmail {tls:?} failed:\n{log}");
    match tls {
        Tls::Plain => assert!(!log.contains("SSL/TLS:"), "{log}"),
        Tls::Stls => assert!(
            log.contains("upgrade to TLS succeeded")
                && log.contains("SSL/TLS: using protocol TLSv1."),
            "{log}"
        ),
        Tls::Implicit => assert!(log.contains("SSL/TLS: using protocol TLSv1."), "{log}"),
    }
    fetched
}

/// Runs fetchmail once trusting `trusted` as its CA file; returns (exit 0, log, what its MDA got).
fn fetchmail_exec(server: &TestServer, tls: Tls, trusted: &Path) -> (bool, String, Vec<Vec<u8>>) {
    let dir = common::tempdir("fetchmail");
    let (code, log, fetched) = fetchmail_in(&dir, server, tls, trusted, "fetchall no keep");
    let _ = std::fs::remove_dir_all(&dir);
    (code == Some(0), log, fetched)
}

/// Runs fetchmail once with its state (UID list) in `dir` and `options` for the user (`uidl` is taken
/// out and put with the server options, where fetchmail wants it); returns
/// (exit code, log, what its MDA got in this run).
fn fetchmail_in(
    dir: &Path,
    server: &TestServer,
    tls: Tls,
    trusted: &Path,
    options: &str,
) -> (Option<i32>, String, Vec<Vec<u8>>) {
    let (uidl, options) = match options.strip_suffix(" uidl") {
        Some(rest) => (" uidl", rest),
        None => ("", options),
    };
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir(&out).unwrap();
    let mda = dir.join("deliver.sh");
    std::fs::write(
        &mda,
        format!(
            "#!/bin/sh\nexec cat > \"$(mktemp {}/msg.XXXXXX)\"\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&mda, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (port, tls_opts) = match tls {
        Tls::Plain => (server.port(Service::Pop3), "sslproto ''".to_owned()),
        // sslproto without ssl: STLS is mandatory. The cert is trusted as a CA file and checked.
        Tls::Stls => (
            server.port(Service::Pop3),
            format!(
                "sslproto 'TLS1.2+' sslcertck sslcertfile \"{}\" sslcommonname localhost",
                trusted.display()
            ),
        ),
        Tls::Implicit => (
            server.port(Service::Pop3s),
            format!(
                "ssl sslproto 'TLS1.2+' sslcertck sslcertfile \"{}\" sslcommonname localhost",
                trusted.display()
            ),
        ),
    };
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll localhost via 127.0.0.1 service {port} protocol pop3{uidl} auth password timeout 20\n\
             \tuser \"alice@example.org\" there with password \"alice-pw\" is \"mailwright\" here\n\
             \toptions {options} {tls_opts}\n\
             \tmda \"{}\"\n",
            mda.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = run_with_timeout(
        Command::new("fetchmail")
            .env("HOME", dir)
            .env("FETCHMAILHOME", dir)
            .env("FETCHMAILUSER", "mailwright")
            .args(["-N", "--nosyslog", "-v", "-f"])
            .arg(&rc)
            .arg("--pidfile")
            .arg(dir.join("fetchmail.pid"))
            .arg("--idfile")
            .arg(dir.join("fetchids")),
        Duration::from_secs(45),
    );
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if std::env::var_os("MW_LOG").is_some() {
        eprintln!("{log}");
    }
    (output.status.code(), log, files_in(&out))
}

/// SHA-256 of the certificate's DER, in hex: what getmail pins with `ssl_fingerprints`.
fn cert_sha256(cert: &Path) -> String {
    python(
        "import ssl, hashlib, sys\nprint(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())",
        &[cert.to_str().unwrap()],
    )
    .trim()
    .to_owned()
}

/// Runs getmail once against alice's maildrop into a Maildir; returns the delivered files.
/// getmail refuses to run as root: when we are root it runs as the `mail` user, owning its files.
fn getmail_run(server: &TestServer, tls: Tls) -> Vec<Vec<u8>> {
    let dir = common::tempdir("getmail");
    let maildir = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let getmaildir = dir.join("getmail");
    std::fs::create_dir(&getmaildir).unwrap();
    let retriever = match tls {
        Tls::Plain => format!(
            "type = SimplePOP3Retriever\nport = {}\n",
            server.port(Service::Pop3)
        ),
        Tls::Implicit => format!(
            "type = SimplePOP3SSLRetriever\nport = {}\nssl_fingerprints = (\"{}\",)\n",
            server.port(Service::Pop3s),
            cert_sha256(&server.cert())
        ),
        Tls::Stls => unreachable!("getmail6 has no POP3 STLS retriever"),
    };
    let rc = dir.join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\n{retriever}server = 127.0.0.1\nusername = alice@example.org\npassword = alice-pw\ntimeout = 20\n\n\
             [destination]\ntype = Maildir\npath = {}/\n\n\
             [options]\nverbose = 2\nread_all = true\ndelete = true\n",
            maildir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let as_root = std::fs::metadata(&dir).unwrap().uid() == 0;
    let mut cmd;
    if as_root {
        // `mail` (uid 8 on Debian) owns everything getmail touches.
        let status = Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        cmd = Command::new("runuser");
        cmd.args(["-u", "mail", "--", "getmail"]);
    } else {
        cmd = Command::new("getmail");
    }
    cmd.env("HOME", &dir)
        .arg("--rcfile")
        .arg(&rc)
        .arg("--getmaildir")
        .arg(&getmaildir);
    let output = run_with_timeout(&mut cmd, Duration::from_secs(45));
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "getmail {tls:?} failed:\n{log}");
    assert!(
        log.contains("2 messages (") || log.contains("2 messages"),
        "{log}"
    );
    let fetched = files_in(&maildir.join("new"));
    let _ = std::fs::remove_dir_all(&dir);
    fetched
}

fn fetch_case(fetcher: &str, package: &str, tls: Tls, run: fn(&TestServer, Tls) -> Vec<Vec<u8>>) {
    let Some(_) = peer::require(fetcher, package) else {
        return;
    };
    let server = TestServer::start();
    let stored = send_all(&server, &messages());
    let fetched = run(&server, tls);
    assert_fetched(&fetched, &stored);
    assert!(
        server.messages("alice@example.org").is_empty(),
        "{fetcher} deleted the messages at the server"
    );
}

#[test]
fn fetchmail_plain_fetches_byte_exact_and_deletes() {
    fetch_case("fetchmail", "fetchmail", Tls::Plain, fetchmail_run);
}

#[test]
fn fetchmail_stls_with_our_certificate_checked() {
    fetch_case("fetchmail", "fetchmail", Tls::Stls, fetchmail_run);
}

#[test]
fn fetchmail_pop3s_with_our_certificate_checked() {
    fetch_case("fetchmail", "fetchmail", Tls::Implicit, fetchmail_run);
}

#[test]
fn getmail_plain_fetches_byte_exact_and_deletes() {
    fetch_case("getmail", "getmail6", Tls::Plain, getmail_run);
}

#[test]
fn getmail_pop3s_with_pinned_fingerprint() {
    fetch_case("getmail", "getmail6", Tls::Implicit, getmail_run);
}

#[test]
fn fetchmail_refuses_a_certificate_it_was_not_told_to_trust() {
    let Some(_) = peer::require("fetchmail", "fetchmail") else {
        return;
    };
    let server = TestServer::start();
    let stored = send_all(&server, &messages());
    // Another self-signed certificate for the same names: the check must fail, nothing is fetched.
    let dir = common::tempdir("fetchmail-other-cert");
    let (other, _key) =
        mailwright::core::datadir::self_signed(&["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    std::fs::write(dir.join("other.pem"), other).unwrap();
    for tls in [Tls::Stls, Tls::Implicit] {
        let (ok, log, fetched) = fetchmail_exec(&server, tls, &dir.join("other.pem"));
        assert!(
            !ok,
            "{tls:?}: fetchmail trusted a certificate it should not:\n{log}"
        );
        assert!(
            log.contains("certificate verif"),
            "{tls:?}: refused for the certificate: {log}"
        );
        assert!(fetched.is_empty(), "{tls:?}");
    }
    assert_eq!(
        server.messages("alice@example.org"),
        stored,
        "nothing deleted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fetchmail_keep_with_uidl_fetches_only_new_mail() {
    let Some(_) = peer::require("fetchmail", "fetchmail") else {
        return;
    };
    let server = TestServer::start();
    let stored = send_all(&server, &messages());
    let dir = common::tempdir("fetchmail-uidl");
    let cert = server.cert();
    // `keep uidl`: fetchmail leaves the mail on the server and remembers the UIDLs it has seen.
    let (code, log, fetched) = fetchmail_in(&dir, &server, Tls::Plain, &cert, "keep uidl");
    assert_eq!(code, Some(0), "{log}");
    assert_fetched(&fetched, &stored);
    // Nothing new: fetchmail exits 1 ("no mail") and fetches nothing, because our UIDLs are stable.
    let (code, log, fetched) = fetchmail_in(&dir, &server, Tls::Plain, &cert, "keep uidl");
    assert_eq!(code, Some(1), "{log}");
    assert!(fetched.is_empty(), "{log}");
    // One more message: only it is fetched.
    let mut client = Client::connect(server.addr(Service::Smtp), Duration::from_secs(20)).unwrap();
    let third = b"Subject: third\r\nMessage-ID: <third@remote.test>\r\n\r\nthird body\r\n";
    assert_eq!(
        client
            .send("sender@remote.test", &["alice@example.org"], third)
            .unwrap()
            .code,
        250
    );
    client.quit();
    let (code, log, fetched) = fetchmail_in(&dir, &server, Tls::Plain, &cert, "keep uidl");
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(fetched.len(), 1, "{log}");
    assert!(String::from_utf8_lossy(&fetched[0]).ends_with("\nthird body\n"));
    assert_eq!(server.messages("alice@example.org").len(), 3, "all kept");
    let _ = std::fs::remove_dir_all(&dir);
}

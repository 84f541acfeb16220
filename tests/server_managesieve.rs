//! ManageSieve (RFC 5804) on its own listener (in-process server):
//!
//! - a raw session: capabilities, AUTHENTICATE PLAIN, PUTSCRIPT of a faulty script answered with
//!   its line and column, quotas (size, count), SETACTIVE, LISTSCRIPTS, GETSCRIPT, RENAMESCRIPT,
//!   DELETESCRIPT of the active script refused; the active script then runs at delivery;
//! - `sieve-connect` (Debian package sieve-connect; skipped without it, failing with CI=true)
//!   over verified STARTTLS: upload, check, activate, list, download, delete.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::TestServer;
use mailwright::server::Service;

const T: Duration = Duration::from_secs(20);

/// A raw ManageSieve client: sends lines, reads until a final OK/NO/BYE line.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(server: &TestServer) -> (Self, String) {
        let stream = TcpStream::connect(server.addr(Service::ManageSieve)).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        let mut raw = Self {
            stream,
            buf: Vec::new(),
        };
        let greeting = raw.response();
        (raw, greeting)
    }

    /// Everything up to and including the final response (OK, NO or BYE), literals included.
    fn response(&mut self) -> String {
        let deadline = Instant::now() + T;
        loop {
            if let Some(end) = final_end(&self.buf) {
                let out = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end);
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no final response in {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(
                n > 0,
                "connection closed after {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn command(&mut self, line: &[u8]) -> String {
        self.stream.write_all(line).unwrap();
        self.response()
    }
}

/// Where the first final response in `buf` ends, if it is all there: lines are skipped, each
/// with the literal it announces (`{n}` at its end).
fn final_end(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let nl = at + buf[at..].iter().position(|&b| b == b'\n')?;
        let line = &buf[at..=nl];
        let is_final = [&b"OK"[..], b"NO", b"BYE"]
            .iter()
            .any(|s| line.starts_with(s));
        at = nl + 1;
        let text = String::from_utf8_lossy(line);
        let literal = text
            .trim_end()
            .strip_suffix('}')
            .and_then(|t| t.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        if let Some(n) = literal {
            if buf.len() < at + n + 2 {
                return None;
            }
            at += n + 2;
        }
        if is_final {
            return Some(at);
        }
    }
}

fn plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[test]
fn a_raw_session_stores_checks_and_activates_scripts_that_delivery_runs() {
    let server = TestServer::start_with(|c| {
        c.sieve.max_script_size = 200;
        c.sieve.max_scripts = 2;
    });
    let (mut c, greeting) = Raw::connect(&server);
    assert!(
        greeting.contains("\"IMPLEMENTATION\" \"Mailwright\""),
        "{greeting}"
    );
    assert!(greeting.contains("\"SASL\" \"PLAIN\""), "{greeting}");
    assert!(
        greeting.contains("\"SIEVE\" \"") && greeting.contains("fileinto"),
        "{greeting}"
    );
    assert!(greeting.contains("\"VERSION\" \"1.0\""), "{greeting}");
    assert!(
        greeting.ends_with("OK \"Mailwright ManageSieve ready\"\r\n"),
        "{greeting}"
    );
    assert!(c.command(b"LISTSCRIPTS\r\n").starts_with("NO"));
    let r = c.command(
        format!(
            "AUTHENTICATE \"PLAIN\" \"{}\"\r\n",
            plain("alice@example.org", "wrong")
        )
        .as_bytes(),
    );
    assert!(r.starts_with("NO"), "{r}");
    // Without an initial response: an empty challenge, then the response.
    c.stream.write_all(b"AUTHENTICATE \"PLAIN\"\r\n").unwrap();
    let mut challenge = [0u8; 4];
    c.stream.read_exact(&mut challenge).unwrap();
    assert_eq!(&challenge, b"\"\"\r\n");
    let r = c.command(format!("\"{}\"\r\n", plain("alice@example.org", "alice-pw")).as_bytes());
    assert!(r.starts_with("OK"), "{r}");
    // A faulty script: its line and column.
    let bad = "require \"fileinto\";\nfileinto \"a\" \"b\";\n";
    let r = c.command(format!("PUTSCRIPT \"bad\" {{{}+}}\r\n{bad}\r\n", bad.len()).as_bytes());
    assert!(
        r.starts_with("NO") && r.contains("line 2") && r.contains("column"),
        "{r}"
    );
    let r = c.command(format!("CHECKSCRIPT {{{}+}}\r\n{bad}\r\n", bad.len()).as_bytes());
    assert!(r.starts_with("NO") && r.contains("line 2"), "{r}");
    // Quotas.
    let r = c.command(b"HAVESPACE \"big\" 201\r\n");
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert!(c.command(b"HAVESPACE \"big\" 200\r\n").starts_with("OK"));
    // A script far over the quota is refused and the session goes on.
    let huge = "#".repeat(5000);
    let r = c.command(format!("PUTSCRIPT \"big\" {{{}+}}\r\n{huge}\r\n", huge.len()).as_bytes());
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert!(c.command(b"NOOP\r\n").starts_with("OK"));
    let good = "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"list\" { fileinto :create \"Lists\"; }\n";
    let r = c.command(format!("PUTSCRIPT \"rules\" {{{}+}}\r\n{good}\r\n", good.len()).as_bytes());
    assert!(r.starts_with("OK"), "{r}");
    assert!(
        c.command(b"PUTSCRIPT \"two\" \"keep;\"\r\n")
            .starts_with("OK")
    );
    let r = c.command(b"PUTSCRIPT \"three\" \"keep;\"\r\n");
    assert!(r.starts_with("NO (QUOTA/MAXSCRIPTS)"), "{r}");
    // Activation, listing, download, rename, delete.
    assert!(
        c.command(b"SETACTIVE \"nothere\"\r\n")
            .starts_with("NO (NONEXISTENT)")
    );
    assert!(c.command(b"SETACTIVE \"rules\"\r\n").starts_with("OK"));
    let list = c.command(b"LISTSCRIPTS\r\n");
    assert!(
        list.contains("\"rules\" ACTIVE\r\n") && list.contains("\"two\"\r\n"),
        "{list}"
    );
    let got = c.command(b"GETSCRIPT \"rules\"\r\n");
    assert!(
        got.starts_with(&format!("{{{}}}\r\n{good}\r\nOK", good.len())),
        "{got}"
    );
    assert!(
        c.command(b"DELETESCRIPT \"rules\"\r\n")
            .starts_with("NO (ACTIVE)")
    );
    assert!(
        c.command(b"RENAMESCRIPT \"rules\" \"two\"\r\n")
            .starts_with("NO (ALREADYEXISTS)")
    );
    assert!(
        c.command(b"RENAMESCRIPT \"rules\" \"main\"\r\n")
            .starts_with("OK")
    );
    assert!(c.command(b"DELETESCRIPT \"two\"\r\n").starts_with("OK"));
    let list = c.command(b"LISTSCRIPTS\r\n");
    assert_eq!(list, "\"main\" ACTIVE\r\nOK \"Listscripts completed\"\r\n");
    let r = c.command(b"NOOP \"t1\"\r\n");
    assert!(r.starts_with("OK (TAG \"t1\")"), "{r}");
    assert!(c.command(b"LOGOUT\r\n").starts_with("OK"));

    // The active script runs at delivery.
    let mut s = common::smtp_client::Client::greeted(server.addr(Service::Lmtp), T).unwrap();
    assert_eq!(s.command("LHLO client.test").unwrap().code, 250);
    let r = s
        .send(
            "sender@remote.test",
            &["alice@example.org"],
            b"From: <sender@remote.test>\r\nSubject: list-1\r\n\r\nhi\r\n",
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    s.quit();
    let lists = server.maildir("alice@example.org").join(".Lists/new");
    assert_eq!(std::fs::read_dir(lists).unwrap().count(), 1);
}

/// Runs sieve-connect with `args` and the password on its stdin (killed after `T`): whether it
/// succeeded, and its output.
fn run_sieve_connect(
    bin: &std::path::Path,
    server: &TestServer,
    ca: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let mut child = Command::new(bin)
        .args(["--server", "localhost", "--port"])
        .arg(server.port(Service::ManageSieve).to_string())
        .args([
            "--user",
            "alice@example.org",
            "--passwordfd",
            "0",
            "--authmech",
            "PLAIN",
        ])
        .arg("--tlscafile")
        .arg(ca)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-pw\n")
        .unwrap();
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs sieve-connect as [`run_sieve_connect`] does; its output, asserting success.
fn sieve_connect(
    bin: &std::path::Path,
    server: &TestServer,
    ca: &std::path::Path,
    args: &[&str],
) -> String {
    let (ok, text) = run_sieve_connect(bin, server, ca, args);
    assert!(ok, "sieve-connect {args:?}: {text}");
    text
}

#[test]
fn sieve_connect_uploads_checks_activates_lists_downloads_and_deletes() {
    let Some(bin) = common::peer::require("sieve-connect", "sieve-connect") else {
        return;
    };
    let dir = common::tempdir("managesieve");
    let (server, ca) = common::start_with_test_ca(&dir);
    let script = dir.join("vacation.sieve");
    std::fs::write(
        &script,
        "require \"vacation\";\nvacation :days 7 \"I am away.\";\n",
    )
    .unwrap();
    let local = script.to_str().unwrap();
    sieve_connect(
        &bin,
        &server,
        &ca,
        &["--checkscript", "--localsieve", local],
    );
    sieve_connect(
        &bin,
        &server,
        &ca,
        &["--upload", "--localsieve", local, "--remotesieve", "away"],
    );
    sieve_connect(&bin, &server, &ca, &["--activate", "--remotesieve", "away"]);
    let list = sieve_connect(&bin, &server, &ca, &["--list"]);
    assert!(list.contains("away") && list.contains("ACTIVE"), "{list}");
    let back = dir.join("back.sieve");
    sieve_connect(
        &bin,
        &server,
        &ca,
        &[
            "--download",
            "--remotesieve",
            "away",
            "--localsieve",
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&script).unwrap()
    );
    // The active script is where delivery reads it.
    let home = server
        .maildir("alice@example.org")
        .parent()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read(home.join(".dovecot.sieve")).unwrap(),
        std::fs::read(&script).unwrap()
    );
    // A faulty script is refused with its line.
    let bad = dir.join("bad.sieve");
    std::fs::write(&bad, "keep;\nnonsense;\n").unwrap();
    let (ok, text) = run_sieve_connect(
        &bin,
        &server,
        &ca,
        &["--upload", "--localsieve", bad.to_str().unwrap()],
    );
    assert!(!ok && text.contains("line 2"), "{text}");
    sieve_connect(&bin, &server, &ca, &["--deactivate"]);
    sieve_connect(&bin, &server, &ca, &["--delete", "--remotesieve", "away"]);
    let list = sieve_connect(&bin, &server, &ca, &["--list"]);
    assert!(!list.contains("away"), "{list}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

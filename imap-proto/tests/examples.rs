//! The `list_subjects` example against a private Dovecot: implicit TLS, and STARTTLS; the
//! certificate is checked.
#![cfg(feature = "tokio")]

#[path = "support/dovecot.rs"]
mod dovecot;
#[path = "support/examples.rs"]
mod examples;
#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;
#[path = "support/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: &str = "alice";
const PASSWORD: &str = "imap secret";

/// Removes a directory when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn list_subjects_reads_dovecot_over_tls() {
    let Some(bin) = peer::require("dovecot", "dovecot-imapd") else {
        return;
    };
    if !Path::new("/usr/lib/dovecot/imap").exists() {
        peer::require("/usr/lib/dovecot/imap", "dovecot-imapd");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-imap-subjects-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let pem = tls::Pki::new().write(&dir);

    // Twelve messages, delivered in order.
    let maildir = dir.join("home").join(USER).join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 1..=12 {
        let name = format!("17000000{i:02}.M{i}P1.mailwright:2,S");
        let body = format!("From: a@example.org\nSubject: message number {i}\n\nbody {i}\n");
        std::fs::write(maildir.join("cur").join(name), body).unwrap();
    }
    let options = dovecot::Options {
        mail: dovecot::MAILDIR,
        tls: Some((&pem.cert, &pem.key)),
        ..dovecot::Options::default()
    };
    let dovecot = dovecot::Dovecot::start_with(&bin, &dir, USER, PASSWORD, &options);

    let list_subjects = examples::example("mailwright-imap-proto", "list_subjects");
    let run = |args: &[&str], ca: bool| {
        let mut cmd = Command::new(&list_subjects);
        cmd.args(["--server", "localhost", "--user", USER, "--last", "5"])
            .args(args)
            .env("IMAP_PASSWORD", PASSWORD);
        if ca {
            cmd.arg("--ca-file").arg(&pem.ca);
        }
        examples::run(&mut cmd, Duration::from_mins(1))
    };
    let imaps = dovecot.imaps_port.unwrap().to_string();
    let imap = dovecot.port.to_string();
    let expected: String = std::iter::once("INBOX: 12 messages\n".to_owned())
        .chain((8..=12).map(|i| format!("{i:>6}  message number {i}\n")))
        .collect();

    // The certificate is checked: without our CA nothing is read.
    let out = run(&["--port", &imaps], false);
    assert!(!out.status.success(), "{}", out.both());
    assert!(out.stderr.contains("certificate"), "{}", out.both());

    // Implicit TLS.
    let out = run(&["--port", &imaps], true);
    assert!(out.status.success(), "{}\n{}", out.both(), dovecot.log());
    assert_eq!(out.stdout, expected, "{}", out.both());

    // STARTTLS. (Dovecot takes loopback connections as secure, so it does not advertise
    // LOGINDISABLED here; tests/driver.rs has the client refuse LOGIN under it.)
    let out = run(&["--port", &imap, "--tls", "starttls"], true);
    assert!(out.status.success(), "{}\n{}", out.both(), dovecot.log());
    assert_eq!(out.stdout, expected, "{}", out.both());

    let log = dovecot.log();
    let logins: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("imap-login: Info: Login: user=<alice>"))
        .collect();
    assert_eq!(logins.len(), 2, "{log}");
    assert!(logins.iter().all(|l| l.contains(", TLS")), "{log}");
}

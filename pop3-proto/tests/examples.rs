//! The `fetch` example against a private Dovecot POP3: implicit TLS and USER/PASS, then STLS and
//! AUTH PLAIN with `--delete`; only new mail is fetched, and the certificate is checked.
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
const PASSWORD: &str = "pop secret";

/// Removes a directory when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `.eml` files of `dir`, contents sorted.
fn fetched(dir: &Path) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    all.sort();
    all
}

fn count(dir: &Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|sub| std::fs::read_dir(dir.join(sub)).unwrap().count())
        .sum()
}

#[test]
fn fetch_gets_new_mail_from_dovecot_over_tls() {
    let Some(bin) = peer::require("dovecot", "dovecot-pop3d") else {
        return;
    };
    if !Path::new("/usr/lib/dovecot/pop3").exists() {
        peer::require("/usr/lib/dovecot/pop3", "dovecot-pop3d");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-pop3-fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let pem = tls::Pki::new().write(&dir);

    // Three messages in the maildrop (LF line ends on disk; POP3 sends CRLF).
    let maildir = dir.join("home").join(USER).join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let bodies = [
        "Subject: first\n\nhello\n",
        "Subject: second\n\n.a line that starts with a dot\n",
        "Subject: third\n\nbye\n",
    ];
    for (i, body) in bodies.iter().enumerate() {
        let name = format!("170000000{i}.M{i}P1.mailwright:2,S");
        std::fs::write(maildir.join("cur").join(name), body).unwrap();
    }
    let options = dovecot::Options {
        mail: dovecot::MAILDIR,
        pop3: true,
        tls: Some((&pem.cert, &pem.key)),
        ..dovecot::Options::default()
    };
    let dovecot = dovecot::Dovecot::start_with(&bin, &dir, USER, PASSWORD, &options);

    let fetch = examples::example("mailwright-pop3-proto", "fetch");
    let out_dir = dir.join("fetched");
    let run = |args: &[&str], ca: bool| {
        let mut cmd = Command::new(&fetch);
        cmd.args(["--server", "localhost", "--user", USER])
            .arg("--out")
            .arg(&out_dir)
            .args(args)
            .env("FETCH_PASSWORD", PASSWORD);
        if ca {
            cmd.arg("--ca-file").arg(&pem.ca);
        }
        examples::run(&mut cmd, Duration::from_mins(1))
    };
    let pop3s = dovecot.pop3s_port.unwrap().to_string();
    let pop3 = dovecot.pop3_port.unwrap().to_string();

    // The certificate is checked: without our CA nothing is fetched.
    let out = run(&["--port", &pop3s], false);
    assert!(!out.status.success(), "{}", out.both());
    assert!(out.stderr.contains("certificate"), "{}", out.both());

    // Implicit TLS, USER/PASS: everything is new.
    let out = run(&["--port", &pop3s], true);
    assert!(out.status.success(), "{}\n{}", out.both(), dovecot.log());
    let mut expected: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| b.replace('\n', "\r\n").into_bytes())
        .collect();
    expected.sort();
    let octets: usize = expected.iter().map(Vec::len).sum();
    let summary = format!("3 new of 3 messages, {octets} octets\n");
    assert!(out.stdout.ends_with(&summary), "{}", out.both());
    assert_eq!(fetched(&out_dir), expected);
    assert_eq!(count(&maildir), 3, "nothing deleted");

    // New mail arrives; STLS and AUTH PLAIN, deleting what is fetched: only the new message.
    std::fs::write(
        maildir.join("new").join("1700000009.M9P1.mailwright"),
        "Subject: fourth\n\nnew\n",
    )
    .unwrap();
    dovecot::chown_tree(&maildir);
    let out = run(
        &[
            "--port", &pop3, "--tls", "stls", "--auth", "plain", "--delete",
        ],
        true,
    );
    assert!(out.status.success(), "{}\n{}", out.both(), dovecot.log());
    let fourth = b"Subject: fourth\r\n\r\nnew\r\n";
    let summary = format!("1 new of 4 messages, {} octets\n", fourth.len());
    assert!(out.stdout.ends_with(&summary), "{}", out.both());
    assert_eq!(fetched(&out_dir).len(), 4);
    assert!(fetched(&out_dir).contains(&fourth.to_vec()));
    // QUIT committed the deletion of the one message fetched.
    assert_eq!(count(&maildir), 3, "{}", dovecot.log());
    // Both logins ran over TLS (Dovecot logs USER/PASS as PLAIN too).
    let log = dovecot.log();
    let logins: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("pop3-login: Info: Login: user=<alice>"))
        .collect();
    assert_eq!(logins.len(), 2, "{log}");
    assert!(logins.iter().all(|l| l.contains(", TLS,")), "{log}");
}

//! The `full_server` binary's admin commands on a data directory, as an administrator types them.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The example binary, built by cargo before integration tests run.
fn full_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/cli-<hash> -> target/<profile>/examples/full_server
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("full_server")
}

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(full_server())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("full_server example is built");
    if let Some(input) = stdin {
        // A command refused before it reads its input closes the pipe: not an error here.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn admin_commands_manage_domains_users_and_aliases() {
    let dir = common::tempdir("cli");
    let (ok, out) = run(&dir, &["domain", "add", "Example.ORG"], None);
    assert!(ok && out.contains("added domain example.org"), "{out}");
    let (ok, out) = run(
        &dir,
        &["user", "add", "alice@example.org", "--password-stdin"],
        Some("s3cret\n"),
    );
    assert!(ok, "{out}");
    assert!(
        dir.join("mail/example.org/alice/Maildir/cur").is_dir(),
        "Maildir created"
    );
    let passwd = std::fs::read_to_string(dir.join("passwd")).unwrap();
    assert!(
        passwd.starts_with("alice@example.org:{ARGON2ID}$argon2id$"),
        "{passwd}"
    );
    assert!(!passwd.contains("s3cret"));
    let (ok, out) = run(
        &dir,
        &["user", "add", "bob@nowhere.test", "--password-stdin"],
        Some("x\n"),
    );
    assert!(
        !ok && out.contains("domain add nowhere.test"),
        "a user needs a local domain: {out}"
    );
    let (ok, out) = run(
        &dir,
        &["user", "add", "../evil@example.org", "--password-stdin"],
        Some("x\n"),
    );
    assert!(!ok, "{out}");
    let (ok, out) = run(
        &dir,
        &[
            "user",
            "passwd",
            "alice@example.org",
            "--password-stdin",
            "--scheme",
            "sha512-crypt",
        ],
        Some("new\n"),
    );
    assert!(ok, "{out}");
    assert!(
        std::fs::read_to_string(dir.join("passwd"))
            .unwrap()
            .contains("{SHA512-CRYPT}$6$")
    );
    let (ok, out) = run(
        &dir,
        &[
            "alias",
            "add",
            "postmaster@example.org",
            "alice@example.org",
        ],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        &dir,
        &["alias", "add", "fwd@example.org", "someone@elsewhere.test"],
        None,
    );
    assert!(
        ok && out.contains("fwd@example.org -> someone@elsewhere.test"),
        "forwarding outside goes through the queue: {out}"
    );
    let (ok, out) = run(&dir, &["alias", "list"], None);
    assert!(
        ok && out.contains("postmaster@example.org: alice@example.org"),
        "{out}"
    );
    let (ok, out) = run(&dir, &["user", "list"], None);
    assert!(ok && out.trim() == "alice@example.org", "{out}");
    let (ok, out) = run(&dir, &["check-config"], None);
    assert!(ok && out.contains("configuration OK"), "{out}");
    // An alias with a target that is not an address, written by hand, fails the check.
    std::fs::write(dir.join("aliases"), "fwd@example.org: not-an-address\n").unwrap();
    let (ok, out) = run(&dir, &["check-config"], None);
    assert!(!ok && out.contains("not-an-address"), "{out}");
    let (ok, out) = run(
        &dir,
        &["hash-password", "--password-stdin", "--scheme", "blf-crypt"],
        Some("pw\n"),
    );
    assert!(ok && out.starts_with("{BLF-CRYPT}$2"), "{out}");
    assert!(mailwright::core::auth::verify_password(out.trim(), "pw"));
    let (ok, out) = run(&dir, &["user", "del", "alice@example.org"], None);
    assert!(ok, "{out}");
    let (_, out) = run(&dir, &["user", "list"], None);
    assert!(out.trim().is_empty(), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn broken_configuration_is_reported_not_served() {
    let dir = common::tempdir("cli-bad");
    mailwright::core::datadir::init(&dir).unwrap();
    std::fs::write(
        dir.join("mailwright.toml"),
        "[limits]\nmax_recipients = \"many\"\n",
    )
    .unwrap();
    let (ok, out) = run(&dir, &["check-config"], None);
    assert!(!ok && out.contains("max_recipients"), "{out}");
    let (ok, out) = run(&dir, &["serve"], None);
    assert!(
        !ok && out.contains("max_recipients"),
        "serve refuses to start: {out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_development_certificate_names_the_configured_host() {
    let Some(openssl) = common::peer::require("openssl", "openssl") else {
        return;
    };
    let dir = common::tempdir("cli-cert");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mailwright.toml"),
        "hostname = \"mx.example.test\"\n",
    )
    .unwrap();
    mailwright::core::datadir::init(&dir).unwrap();
    let out = Command::new(openssl)
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(dir.join("tls/cert.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("CN = mx.example.test"), "{text}");
    assert!(!text.contains("rcgen"), "{text}");
    for name in [
        "DNS:mx.example.test",
        "DNS:localhost",
        "IP Address:127.0.0.1",
    ] {
        assert!(text.contains(name), "{name} missing: {text}");
    }
}

#[test]
fn domain_add_and_check_config_say_where_postmaster_and_abuse_go() {
    let dir = common::tempdir("cli-postmaster");
    let (ok, out) = run(&dir, &["domain", "add", "example.org"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "postmaster@example.org and MAILER-DAEMON@example.org go to postmaster@localhost"
        ),
        "{out}"
    );
    assert!(
        out.contains("abuse@example.org goes to postmaster@localhost"),
        "{out}"
    );
    assert!(
        dir.join("mail/localhost/postmaster/Maildir/new").is_dir(),
        "no user yet: the postmaster's Maildir is ready"
    );
    let (ok, out) = run(
        &dir,
        &["user", "add", "alice@example.org", "--password-stdin"],
        Some("pw\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&dir, &["check-config"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("postmaster@, MAILER-DAEMON@ and <Postmaster> of every local domain go to alice@example.org (the first user)"),
        "{out}"
    );
    assert!(
        out.contains("abuse@ of every local domain go to alice@example.org"),
        "{out}"
    );
    let config = std::fs::read_to_string(dir.join("mailwright.toml")).unwrap();
    std::fs::write(
        dir.join("mailwright.toml"),
        config.replace(
            "[postmaster]\n",
            "[postmaster]\naddress = \"hostmaster@example.org\"\nabuse = \"abuse-desk@elsewhere.test\"\n",
        ),
    )
    .unwrap();
    let (ok, out) = run(&dir, &["check-config"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("go to hostmaster@example.org ([postmaster] address)"),
        "{out}"
    );
    assert!(
        out.contains(
            "abuse@ of every local domain go to abuse-desk@elsewhere.test ([postmaster] abuse)"
        ),
        "{out}"
    );
    let (ok, out) = run(&dir, &["domain", "add", "example.net"], None);
    assert!(ok && out.contains("go to hostmaster@example.org"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn quota_set_show_and_remove() {
    let dir = common::tempdir("cli-quota");
    let (ok, out) = run(&dir, &["domain", "add", "example.org"], None);
    assert!(ok, "{out}");
    let (ok, out) = run(
        &dir,
        &["user", "add", "alice@example.org", "--password-stdin"],
        Some("s3cret\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&dir, &["quota", "show", "alice@example.org"], None);
    assert!(ok && out.contains("alice@example.org: no quota"), "{out}");
    let (ok, out) = run(
        &dir,
        &[
            "quota",
            "set",
            "alice@example.org",
            "--storage",
            "2M",
            "--messages",
            "10",
        ],
        None,
    );
    assert!(ok, "{out}");
    let size = std::fs::read_to_string(dir.join("mail/example.org/alice/Maildir/maildirsize"));
    assert_eq!(size.unwrap(), "2097152S,10C\n0 0\n");
    let (ok, out) = run(&dir, &["quota", "show", "alice@example.org"], None);
    assert!(
        ok && out.contains("storage 0 of 2097152 octets, messages 0 of 10"),
        "{out}"
    );
    let (ok, out) = run(
        &dir,
        &["quota", "set", "alice@example.org", "--messages", "5"],
        None,
    );
    assert!(ok, "{out}");
    let (_, out) = run(&dir, &["quota", "show", "alice@example.org"], None);
    assert!(
        out.contains("of unlimited octets, messages 0 of 5"),
        "{out}"
    );
    for (args, why) in [
        (
            &["quota", "set", "bob@example.org", "--messages", "1"][..],
            "no such user",
        ),
        (
            &["quota", "set", "alice@example.org", "--storage", "12X"],
            "unknown unit",
        ),
        (
            &["quota", "set", "alice@example.org", "--storage", "lots"],
            "not a size",
        ),
    ] {
        let (ok, out) = run(&dir, args, None);
        assert!(!ok && out.contains(why), "{args:?}: {out}");
    }
    let (ok, out) = run(&dir, &["quota", "set", "alice@example.org"], None);
    assert!(ok && out.contains("removed"), "{out}");
    let (_, out) = run(&dir, &["quota", "show", "alice@example.org"], None);
    assert!(out.contains("no quota"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn index_rebuild_of_every_user_one_user_and_one_folder() {
    let dir = common::tempdir("cli-index");
    let (ok, out) = run(&dir, &["domain", "add", "example.org"], None);
    assert!(ok, "{out}");
    for user in ["alice@example.org", "bob@example.org"] {
        let (ok, out) = run(
            &dir,
            &["user", "add", user, "--password-stdin"],
            Some("pw\n"),
        );
        assert!(ok, "{out}");
    }
    let maildir = dir.join("mail/example.org/alice/Maildir");
    let root = mailwright_maildir::Maildir::create_user(&maildir).expect("maildir");
    root.deliver(b"Subject: one\r\n\r\nbody\r\n")
        .expect("deliver");
    root.folder("Sent")
        .expect("Sent")
        .deliver(b"Subject: two\r\n\r\n")
        .expect("deliver");
    // A damaged index is replaced.
    std::fs::write(maildir.join(mailwright_maildir::INDEX_FILE), "garbage").expect("write");

    let (ok, out) = run(&dir, &["index", "rebuild"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("alice@example.org INBOX: 1 messages indexed"),
        "{out}"
    );
    assert!(
        out.contains("alice@example.org Sent: 1 messages indexed"),
        "{out}"
    );
    assert!(out.contains("bob@example.org INBOX: 0 messages"), "{out}");
    let text = std::fs::read_to_string(maildir.join(mailwright_maildir::INDEX_FILE)).unwrap();
    assert!(text.starts_with("mailwright-index 1\n"), "{text}");
    assert_eq!(
        root.inbox().index().expect("index").1,
        mailwright_maildir::IndexOutcome::Current
    );

    let (ok, out) = run(
        &dir,
        &["index", "rebuild", "alice@example.org", "Sent"],
        None,
    );
    assert!(
        ok && out.trim() == "alice@example.org Sent: 1 messages indexed",
        "{out}"
    );
    let (ok, out) = run(
        &dir,
        &["index", "rebuild", "alice@example.org", "inbox"],
        None,
    );
    assert!(ok && out.contains("INBOX: 1 messages"), "{out}");
    for (args, why) in [
        (
            &["index", "rebuild", "carol@example.org"][..],
            "no such user",
        ),
        (
            &["index", "rebuild", "alice@example.org", "Nope"],
            "folder Nope",
        ),
    ] {
        let (ok, out) = run(&dir, args, None);
        assert!(!ok && out.contains(why), "{args:?}: {out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

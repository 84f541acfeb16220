//! Sieve at local delivery (in-process server, raw SMTP and LMTP sessions): each user's
//! `~/.dovecot.sieve` and the `[sieve] before`/`after` scripts decide where a copy goes.
//!
//! - `fileinto` (`:create`, `:copy`, `:flags` of imap4flags into the Maildir's flags and
//!   keywords), `discard`, `keep`, a `fileinto` to a missing mailbox keeps;
//! - `reject`: LMTP refuses that recipient alone, SMTP refuses the message when every recipient
//!   rejects and otherwise delivers to the others;
//! - a global script before the user's, which ends the sequence when it files the message;
//! - a script that does not compile means keep;
//! - `redirect` through the queue with an SRS sender and `vacation` from `<>` (once within
//!   `:days`), received by Postfix's `smtp-sink` (skipped without it, failing with CI=true), the
//!   same messages going out (recipients, null sender or not, subjects) as from Pigeonhole;
//! - differential: the same scripts (fileinto, flags, variables, body, date, copy/stop,
//!   envelope) and messages through our LMTP and through Dovecot's LDA with Pigeonhole (the
//!   delivery code Dovecot's LMTP shares, run as the mail user) give the same folders, flags
//!   and keywords.

mod common;

#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestServer;
use common::sink::Sink;
use common::smtp_client::{Client, Reply};
use mailwright::server::Service;

const T: Duration = Duration::from_secs(20);

/// The user's home (the directory above the Maildir), made.
fn home(server: &TestServer, user: &str) -> PathBuf {
    let home = server.maildir(user).parent().unwrap().to_owned();
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// Installs `script` as `user`'s active script.
fn install(server: &TestServer, user: &str, script: &str) {
    std::fs::write(home(server, user).join(".dovecot.sieve"), script).unwrap();
}

/// A session greeted with `hello`.
fn hello(addr: SocketAddr, hello: &str) -> Client {
    let mut c = Client::greeted(addr, T).unwrap();
    let r = c.command(hello).unwrap();
    assert_eq!(r.code, 250, "{r:?}");
    c
}

/// One transaction; the replies to the end of data (one per recipient in LMTP).
fn transaction(c: &mut Client, from: &str, rcpts: &[&str], data: &[u8], lmtp: bool) -> Vec<Reply> {
    let r = c.command(&format!("MAIL FROM:<{from}>")).unwrap();
    assert!(r.is_ok(), "{r:?}");
    for rcpt in rcpts {
        let r = c.command(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert!(r.is_ok(), "RCPT {rcpt}: {r:?}");
    }
    let r = c.command("DATA").unwrap();
    assert_eq!(r.code, 354, "{r:?}");
    c.data(data, if lmtp { rcpts.len() } else { 1 }).unwrap()
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: <sender@remote.test>\r\nTo: <alice@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

/// One message over LMTP; its replies.
fn lmtp(server: &TestServer, rcpts: &[&str], subject: &str) -> Vec<Reply> {
    let mut c = hello(server.addr(Service::Lmtp), "LHLO client.test");
    let replies = transaction(&mut c, "sender@remote.test", rcpts, &message(subject), true);
    c.quit();
    replies
}

/// The files of a Maildir folder (`""` for INBOX): (file name, content), in `new/` and `cur/`.
fn folder(server: &TestServer, user: &str, folder: &str) -> Vec<(String, String)> {
    let md = server.maildir(user);
    let dir = if folder.is_empty() {
        md
    } else {
        md.join(format!(".{folder}"))
    };
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            out.push((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            ));
        }
    }
    out
}

fn has(server: &TestServer, user: &str, name: &str, subject: &str) -> bool {
    folder(server, user, name).iter().any(|(_, m)| {
        m.lines()
            .any(|l| l.trim_end() == format!("Subject: {subject}"))
    })
}

#[test]
fn fileinto_flags_discard_and_keep() {
    let server = TestServer::start();
    install(
        &server,
        "alice@example.org",
        r#"require ["fileinto", "imap4flags", "mailbox", "copy"];
if header :contains "subject" "list" {
    fileinto :create :flags ["\\Seen", "$Label1"] "Lists/Rust";
} elsif header :contains "subject" "junkmail" {
    discard;
} elsif header :contains "subject" "nofolder" {
    fileinto "Missing";
} elsif header :contains "subject" "archive" {
    fileinto :copy :create "Archive2";
} elsif header :contains "subject" "flagged" {
    addflag "\\Flagged";
}
"#,
    );
    for subject in [
        "list-1",
        "junkmail-1",
        "nofolder-1",
        "archive-1",
        "flagged-1",
        "plain-1",
    ] {
        let replies = lmtp(&server, &["alice@example.org"], subject);
        assert!(replies[0].is_ok(), "{subject}: {replies:?}");
    }
    let user = "alice@example.org";
    // fileinto :create :flags: the folder made (and its parent), the copy in cur/ with S and
    // the keyword's letter.
    let lists = folder(&server, user, "Lists.Rust");
    assert_eq!(lists.len(), 1, "{lists:?}");
    let (name, text) = &lists[0];
    assert!(text.contains("Subject: list-1"), "{text}");
    let info = name.rsplit_once(":2,").unwrap().1;
    assert!(info.contains('S') && info.contains('a'), "{name}");
    let keywords =
        std::fs::read_to_string(server.maildir(user).join(".Lists.Rust/dovecot-keywords")).unwrap();
    assert!(keywords.contains("0 $Label1"), "{keywords}");
    assert!(server.maildir(user).join(".Lists").is_dir());
    assert!(!has(&server, user, "", "list-1"));
    // discard: nowhere.
    assert!(!has(&server, user, "", "junkmail-1"));
    // fileinto a missing mailbox without :create: kept.
    assert!(has(&server, user, "", "nofolder-1"));
    assert!(!server.maildir(user).join(".Missing").exists());
    // :copy: both.
    assert!(has(&server, user, "Archive2", "archive-1"));
    assert!(has(&server, user, "", "archive-1"));
    // the implicit keep with a flag.
    let flagged = folder(&server, user, "");
    let (name, _) = flagged
        .iter()
        .find(|(_, m)| m.contains("Subject: flagged-1"))
        .unwrap();
    assert!(name.ends_with(":2,F"), "{name}");
    assert!(has(&server, user, "", "plain-1"));
    // Bob has no script: plain delivery.
    let replies = lmtp(&server, &["bob@example.org"], "list-2");
    assert!(replies[0].is_ok());
    assert!(has(&server, "bob@example.org", "", "list-2"));
}

#[test]
fn reject_refuses_in_lmtp_per_recipient_and_in_smtp_when_all_reject() {
    let server = TestServer::start();
    install(
        &server,
        "alice@example.org",
        "require \"reject\";\nif header :contains \"subject\" \"refuse\" { reject \"I do not want this\"; }\n",
    );
    let replies = lmtp(
        &server,
        &["alice@example.org", "bob@example.org"],
        "refuse-1",
    );
    assert_eq!(replies[0].code, 550, "{replies:?}");
    assert!(
        replies[0]
            .lines
            .last()
            .unwrap()
            .contains("5.7.1 I do not want this"),
        "{replies:?}"
    );
    assert!(replies[1].is_ok(), "{replies:?}");
    assert!(!has(&server, "alice@example.org", "", "refuse-1"));
    assert!(has(&server, "bob@example.org", "", "refuse-1"));

    // SMTP, alice alone: the message is refused.
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    let replies = transaction(
        &mut c,
        "sender@remote.test",
        &["alice@example.org"],
        &message("refuse-2"),
        false,
    );
    assert_eq!(replies[0].code, 550, "{replies:?}");
    // SMTP, alice and bob: accepted, bob has it, alice not.
    let replies = transaction(
        &mut c,
        "sender@remote.test",
        &["alice@example.org", "bob@example.org"],
        &message("refuse-3"),
        false,
    );
    assert!(replies[0].is_ok(), "{replies:?}");
    c.quit();
    assert!(!has(&server, "alice@example.org", "", "refuse-2"));
    assert!(!has(&server, "alice@example.org", "", "refuse-3"));
    assert!(has(&server, "bob@example.org", "", "refuse-3"));
    // Messages that are not refused arrive.
    let replies = lmtp(&server, &["alice@example.org"], "welcome-1");
    assert!(replies[0].is_ok());
    assert!(has(&server, "alice@example.org", "", "welcome-1"));
}

#[test]
fn global_scripts_run_around_the_users_and_a_broken_script_keeps() {
    let dir = common::tempdir("sieve-global");
    let before = dir.join("before.sieve");
    let after = dir.join("after.sieve");
    std::fs::write(
        &before,
        "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"global\" { fileinto :create \"Global\"; }\n",
    )
    .unwrap();
    std::fs::write(
        &after,
        "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"late\" { fileinto :create \"Late\"; }\n",
    )
    .unwrap();
    let (b, a) = (before.clone(), after.clone());
    let server = TestServer::start_with(move |c| {
        c.sieve.before = vec![b];
        c.sieve.after = vec![a];
    });
    install(
        &server,
        "alice@example.org",
        "require \"fileinto\";\nif header :contains \"subject\" \"global\" { discard; }\n",
    );
    // Bob's script does not compile: keep (and the global scripts still run).
    install(&server, "bob@example.org", "if nonsense {");
    for subject in ["global-1", "late-1"] {
        let replies = lmtp(&server, &["alice@example.org", "bob@example.org"], subject);
        assert!(replies.iter().all(Reply::is_ok), "{replies:?}");
    }
    for user in ["alice@example.org", "bob@example.org"] {
        // The before script filed it, so the user's script (alice's discard) did not run.
        assert!(has(&server, user, "Global", "global-1"), "{user}");
        assert!(!has(&server, user, "", "global-1"), "{user}");
        assert!(has(&server, user, "Late", "late-1"), "{user}");
        assert!(!has(&server, user, "", "late-1"), "{user}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Polls `f` every 50 ms until it holds, or panics with `what` after 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redirect_goes_out_with_srs_and_vacation_replies_once_from_the_null_sender() {
    let dns = dns_server::DnsServer::start();
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", "127.0.0.1".parse().unwrap());
    dns.mx("sender.test", 10, "mx.remote.test");
    let port = common::postfix::free_port();
    let Some(sink) = Sink::start(port, &common::tempdir("sieve-sink"), &[]) else {
        return;
    };
    let dns_addr = dns.addr();
    let server = TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.dns.timeout_secs = 2;
        c.outbound.mx_port = port;
        c.outbound.retry_schedule_secs = vec![1];
        c.outbound.delay_warning_secs = 0;
        c.outbound.connect_timeout_secs = 2;
        c.outbound.reply_timeout_secs = 10;
    });
    install(
        &server,
        "alice@example.org",
        "require \"vacation\";\nredirect \"friend@remote.test\";\nvacation :days 3 :subject \"Away\" \"I am away.\";\n",
    );
    let send_to = |rcpts: &[&str], subject: &str| {
        let mut c = hello(server.addr(Service::Smtp), "EHLO outside.test");
        let data = format!(
            "From: <writer@sender.test>\r\nTo: <alice@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nhello\r\n"
        );
        let r = transaction(&mut c, "writer@sender.test", rcpts, data.as_bytes(), false);
        assert!(r[0].is_ok(), "{r:?}");
        c.quit();
    };
    let send = |subject: &str| send_to(&["alice@example.org"], subject);
    send("away-1");
    wait_until("the redirect and the reply", || sink.count() >= 2);
    send("away-2");
    wait_until("the second redirect", || sink.count() >= 3);
    // Room for a second reply that must not come.
    std::thread::sleep(Duration::from_secs(2));
    let got = sink.messages();
    assert_eq!(got.len(), 3, "{got:#?}");
    let redirects: Vec<&String> = got
        .iter()
        .filter(|m| m.contains("X-Rcpt-Args: <friend@remote.test>"))
        .collect();
    assert_eq!(redirects.len(), 2, "{got:#?}");
    for m in &redirects {
        assert!(
            m.contains("X-Mail-Args: <srs0=") && m.contains("=sender.test=writer@mx.example.org>"),
            "{m}"
        );
        assert!(m.contains("Delivered-To: alice@example.org"), "{m}");
    }
    let replies: Vec<&String> = got
        .iter()
        .filter(|m| m.contains("X-Rcpt-Args: <writer@sender.test>"))
        .collect();
    assert_eq!(replies.len(), 1, "{got:#?}");
    let reply = replies[0];
    assert!(reply.contains("X-Mail-Args: <>"), "{reply}");
    assert!(reply.contains("Subject: Away"), "{reply}");
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <away-1@sender.test>"),
        "{reply}"
    );
    assert!(reply.contains("I am away."), "{reply}");
    // The same with Dovecot's LDA and Pigeonhole: the same messages go out, to the same
    // recipients, from <> or not, with the same subjects and In-Reply-To.
    let dir = common::tempdir("sieve-lda-send");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    if let Some(lda) = Lda::new(&dir) {
        let user = "alice@example.org";
        let home = dir.join("home").join(user);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::copy(
            server
                .maildir(user)
                .parent()
                .unwrap()
                .join(".dovecot.sieve"),
            home.join(".dovecot.sieve"),
        )
        .unwrap();
        for subject in ["away-1", "away-2"] {
            let data = format!(
                "From: <writer@sender.test>\r\nTo: <alice@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nhello\r\n"
            );
            lda.deliver(&home, "writer@sender.test", user, data.as_bytes());
        }
        let theirs: Vec<String> = std::fs::read_dir(dir.join("out"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        let summary = |m: &str, null: bool, rcpt: &str| {
            let field = |name: &str| {
                m.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            (
                null,
                rcpt.to_owned(),
                field("Subject:"),
                field("In-Reply-To:"),
            )
        };
        let mut pigeonhole: Vec<_> = theirs
            .iter()
            .map(|m| {
                let args = m.lines().next().unwrap();
                let rcpt = args.rsplit(' ').next().unwrap();
                summary(m, args.contains("-f <>"), rcpt)
            })
            .collect();
        let mut ours: Vec<_> = got
            .iter()
            .map(|m| {
                let rcpt = m
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Rcpt-Args: <"))
                    .and_then(|l| l.split('>').next())
                    .unwrap();
                summary(m, m.contains("X-Mail-Args: <>"), rcpt)
            })
            .collect();
        pigeonhole.sort();
        ours.sort();
        assert_eq!(ours, pigeonhole);
    }
    let _ = std::fs::remove_dir_all(dir);
    // The redirect cancelled the implicit keep.
    assert!(folder(&server, "alice@example.org", "").is_empty());
    assert!(
        std::fs::read_to_string(home(&server, "alice@example.org").join(".mailwright-vacation"))
            .unwrap()
            .contains("writer@sender.test")
    );
    let _: &Path = sink.dir();

    // A local sender is not rewritten; a recipient whose script rejects, among others that
    // take the message over SMTP, is reported to the sender from <>.
    install(
        &server,
        "bob@example.org",
        "require \"reject\";\nif header :contains \"subject\" \"refuse\" { reject \"Not for me\"; } else { redirect \"friend@remote.test\"; }\n",
    );
    let mut c = hello(server.addr(Service::Lmtp), "LHLO client.test");
    let r = transaction(
        &mut c,
        "alice@example.org",
        &["bob@example.org"],
        b"From: <alice@example.org>\r\nSubject: local-1\r\n\r\nhi\r\n",
        true,
    );
    assert!(r[0].is_ok(), "{r:?}");
    c.quit();
    wait_until("the local sender's redirect", || sink.count() >= 4);
    let local = sink
        .messages()
        .into_iter()
        .find(|m| m.contains("Subject: local-1"))
        .unwrap();
    assert!(
        local.contains("X-Mail-Args: <alice@example.org>"),
        "{local}"
    );
    send_to(&["alice@example.org", "bob@example.org"], "refuse-4");
    // Alice's redirect and the report about bob (no second vacation reply).
    wait_until("the redirect and the report", || sink.count() >= 6);
    std::thread::sleep(Duration::from_secs(1));
    let got = sink.messages();
    assert_eq!(got.len(), 6, "{got:#?}");
    let report = got
        .iter()
        .find(|m| m.contains("X-Rcpt-Args: <writer@sender.test>") && m.contains("bob@example.org"))
        .unwrap();
    assert!(report.contains("X-Mail-Args: <>"), "{report}");
    assert!(
        report.contains("5.7.1") && report.contains("Not for me"),
        "{report}"
    );
    assert!(folder(&server, "bob@example.org", "").is_empty());
}

/// Where each message went in a Maildir: (subject, folder, system flag letters, keywords),
/// sorted; `.`-separated folder names, `""` for INBOX.
fn outcome(maildir: &Path) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut dirs = vec![(String::new(), maildir.to_owned())];
    if let Ok(rd) = std::fs::read_dir(maildir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(folder) = name.strip_prefix('.')
                && !folder.is_empty()
                && e.path().is_dir()
            {
                dirs.push((folder.to_owned(), e.path()));
            }
        }
    }
    for (folder, dir) in dirs {
        let keywords: Vec<(u32, String)> = std::fs::read_to_string(dir.join("dovecot-keywords"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (i, n) = l.split_once(' ')?;
                Some((i.parse().ok()?, n.to_owned()))
            })
            .collect();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(e.path()).unwrap();
                let subject = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap_or_default()
                    .trim_end()
                    .to_owned();
                let info = name.rsplit_once(":2,").map_or("", |(_, i)| i);
                let system: String = info.chars().filter(char::is_ascii_uppercase).collect();
                let mut kw: Vec<String> = info
                    .chars()
                    .filter(char::is_ascii_lowercase)
                    .filter_map(|c| {
                        let i = u32::from(c) - u32::from('a');
                        keywords
                            .iter()
                            .find(|(k, _)| *k == i)
                            .map(|(_, n)| n.clone())
                    })
                    .collect();
                kw.sort();
                out.push((subject, folder.clone(), system, kw));
            }
        }
    }
    out.sort();
    out
}

/// Dovecot's LDA (the delivery code its LMTP shares) with Pigeonhole, as `user` (uid 8) with
/// the home `home`, configured under `dir`.
struct Lda {
    bin: PathBuf,
    conf: PathBuf,
}

impl Lda {
    fn new(dir: &Path) -> Option<Self> {
        let bin =
            common::peer::require_file(Path::new("/usr/lib/dovecot/dovecot-lda"), "dovecot-core")?;
        common::peer::require_file(
            Path::new("/usr/lib/dovecot/modules/lib90_sieve_plugin.so"),
            "dovecot-sieve",
        )?;
        common::peer::require("setpriv", "util-linux")?;
        let d = dir.display();
        for sub in ["run", "state"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let conf = dir.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/lda.log
protocols =
first_valid_uid = 8
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
postmaster_address = postmaster@example.org
sendmail_path = {d}/sendmail.sh
protocol lda {{
  mail_plugins = sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
"
            ),
        )
        .unwrap();
        // What Pigeonhole sends (redirect, vacation) is written to out/, with its arguments.
        std::fs::create_dir_all(dir.join("out")).unwrap();
        let sendmail = dir.join("sendmail.sh");
        std::fs::write(
            &sendmail,
            format!(
                "#!/bin/sh\nf=$(mktemp {d}/out/msg.XXXXXX)\necho \"ARGS: $*\" > \"$f\"\ncat >> \"$f\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &sendmail,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        common::dovecot::chown_tree(dir);
        Some(Self { bin, conf })
    }

    /// Delivers `message` from `from` to the user whose home is `home`.
    fn deliver(&self, home: &Path, from: &str, to: &str, message: &[u8]) {
        use std::io::Write as _;
        common::dovecot::chown_tree(home);
        let mut child = std::process::Command::new("setpriv")
            .args(["--reuid=8", "--regid=8", "--clear-groups"])
            .arg(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .args(["-f", from, "-a", to])
            .env_clear()
            .env("HOME", home)
            .env("USER", to)
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "dovecot-lda: {out:?}");
    }
}

#[test]
fn folders_and_flags_match_dovecot_lda_with_pigeonhole() {
    let dir = common::tempdir("sieve-lda");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let Some(lda) = Lda::new(&dir) else {
        return;
    };
    let server = TestServer::start();
    let scripts = [
        r#"require ["fileinto", "imap4flags", "mailbox"];
if header :contains "subject" "list" { fileinto :create :flags ["\\Seen", "$Label1"] "Lists/Rust"; }
elsif header :contains "subject" "junk" { discard; }"#,
        r#"require ["variables", "fileinto", "mailbox"];
if header :matches "X-Folder" "*" { set :lower "f" "${1}"; fileinto :create "Sorted/${f}"; }"#,
        r#"require ["body", "fileinto", "mailbox"];
if body :contains "invoice" { fileinto :create "Invoices"; }"#,
        r#"require "imap4flags";
if header :contains "subject" "urgent" { addflag "\\Flagged"; addflag "Urgent"; }
keep;"#,
        r#"require ["date", "relational", "fileinto", "mailbox"];
if date :value "ge" "date" "year" "2020" { fileinto :create "Recent"; }"#,
        r#"require ["fileinto", "copy", "mailbox"];
fileinto :copy :create "Copies";
if header :contains "subject" "stop" { stop; }
fileinto :create "Rest";"#,
        r#"require ["envelope", "fileinto", "mailbox", "imap4flags"];
if envelope :domain "from" "remote.test" { setflag "\\Answered"; fileinto :create "Remote"; }"#,
        r#"require "fileinto";
fileinto "Nonexistent";"#,
    ];
    let messages = [
        "Subject: list urgent\r\nX-Folder: Work\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nhello\r\n",
        "Subject: stop here\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nyour invoice is attached\r\n",
        "Subject: plain junk\r\nDate: Wed, 3 Jan 2018 10:00:00 +0000\r\n\r\nnothing\r\n",
        "Subject: nothing\r\nX-Folder: Home\r\n\r\nInvoice again\r\n",
    ];
    let user = "alice@example.org";
    let dovecot_home = dir.join("home").join(user);
    std::fs::create_dir_all(&dovecot_home).unwrap();
    for (n, script) in scripts.iter().enumerate() {
        install(&server, user, script);
        std::fs::write(dovecot_home.join(".dovecot.sieve"), script).unwrap();
        let _ = std::fs::remove_dir_all(dovecot_home.join("Maildir"));
        let _ = std::fs::remove_dir_all(server.maildir(user));
        for (m, body) in messages.iter().enumerate() {
            let text = format!(
                "From: <sender@remote.test>\r\nTo: <{user}>\r\nMessage-ID: <s{n}m{m}@remote.test>\r\n{body}"
            );
            let mut c = hello(server.addr(Service::Lmtp), "LHLO client.test");
            let r = transaction(&mut c, "sender@remote.test", &[user], text.as_bytes(), true);
            assert!(r[0].is_ok(), "{r:?}");
            c.quit();
            lda.deliver(&dovecot_home, "sender@remote.test", user, text.as_bytes());
        }
        let ours = outcome(&server.maildir(user));
        let theirs = outcome(&dovecot_home.join("Maildir"));
        assert_eq!(ours, theirs, "script {n}:\n{script}");
        assert!(!ours.is_empty(), "script {n}");
        println!("script {n}: {ours:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

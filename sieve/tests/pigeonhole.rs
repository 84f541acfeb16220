//! Differential tests against Dovecot Pigeonhole (Debian package `dovecot-sieve`): the same
//! scripts and messages through `sieve-test` and through this crate, the actions compared
//! (folders and flags, redirects, rejects, vacation replies); the vacation decision (reply or
//! not) compared with `sieve-test -e`; parse and compile errors compared by line with `sievec`.

#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use mailwright_sieve::{
    Action, Capabilities, Environment, Extension, NoReply, Outcome, ParsedMessage, Program,
};

/// `sieve-test` and `sievec` with a configuration of their own in a temporary directory.
struct Pigeonhole {
    dir: tempfile::TempDir,
    sieve_test: PathBuf,
    sievec: PathBuf,
}

impl Pigeonhole {
    fn new() -> Option<Self> {
        let sieve_test = peer::require("sieve-test", "dovecot-sieve")?;
        let sievec = peer::require("sievec", "dovecot-sieve")?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = run_as_root();
        // Dovecot will not touch mail as root: it drops to nobody, who must reach the files.
        if root {
            std::process::Command::new("chmod")
                .args(["0777", &dir.path().display().to_string()])
                .status()
                .expect("chmod");
        }
        let users = if root {
            "mail_uid = 65534\nmail_gid = 65534\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        } else {
            ""
        };
        let config = format!(
            "{users}mail_location = maildir:{}/mail\nplugin {{\n  sieve_extensions = +vacation-seconds\n}}\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("dovecot.conf"), config).expect("config");
        Some(Self {
            dir,
            sieve_test,
            sievec,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    /// `sieve-test` on a script and a message; `execute` for `-e` (actions carried out, in a
    /// fresh mail directory and duplicate record).
    fn sieve_test(
        &self,
        script: &str,
        message: &[u8],
        from: &str,
        to: &str,
        execute: bool,
    ) -> String {
        let _ = std::fs::remove_dir_all(self.path("mail"));
        let _ = std::fs::remove_file(self.path("script.svbin"));
        let s = self.write("script.sieve", script.as_bytes());
        let m = self.write("message.eml", message);
        let mut cmd = Command::new(&self.sieve_test);
        cmd.env("TZ", "UTC")
            .env("HOME", self.dir.path())
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            .args(["-f", from, "-r", to]);
        if execute {
            cmd.arg("-e");
        }
        let out = cmd.arg(&s).arg(&m).output().expect("run sieve-test");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// The line `sievec` reports for the script's first error, `None` when it compiles.
    fn sievec_error_line(&self, script: &str) -> Option<u32> {
        let s = self.write("check.sieve", script.as_bytes());
        let out = Command::new(&self.sievec)
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            .arg(&s)
            .arg(self.path("check.svbin"))
            .output()
            .expect("run sievec");
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains(": error: ") && l.contains("line "))
            .and_then(|l| {
                let after = &l[l.find("line ")? + 5..];
                after[..after.find(':')?].parse().ok()
            })
    }
}

fn run_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// What both implementations decided, in a form both outputs reduce to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    /// The run failed; the message is kept.
    failed: bool,
    /// Folder and its flags (lower case): the last store into a folder decides its flags.
    stores: BTreeMap<String, BTreeSet<String>>,
    redirects: BTreeSet<String>,
    reject: Option<String>,
    /// (seconds, handle, reason)
    vacation: Option<(u64, String, String)>,
}

fn flags_set<'a>(flags: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    flags.into_iter().map(str::to_ascii_lowercase).collect()
}

/// Reads `sieve-test`'s "Performed actions" and "Implicit keep" report.
fn summarise_pigeonhole(out: &str) -> Summary {
    let mut s = Summary::default();
    if out.contains("final result: failed") {
        s.failed = true;
        return s;
    }
    assert!(
        out.contains("final result: success"),
        "sieve-test did not run the script:\n{out}"
    );
    let mut lines = out.lines().peekable();
    let mut store: Option<String> = None;
    let flush = |store: &mut Option<String>, flags: &mut BTreeSet<String>, s: &mut Summary| {
        if let Some(folder) = store.take() {
            s.stores.insert(folder, std::mem::take(flags));
        }
    };
    let mut flags = BTreeSet::new();
    while let Some(line) = lines.next() {
        if let Some(f) = line.strip_prefix(" * store message in folder: ") {
            flush(&mut store, &mut flags, &mut s);
            store = Some(f.to_owned());
        } else if let Some(f) = line.strip_prefix("        + add IMAP flags: ") {
            flags = flags_set(f.split(' '));
        } else if line.starts_with(" * ") {
            flush(&mut store, &mut flags, &mut s);
            if let Some(a) = line.strip_prefix(" * redirect message to: ") {
                s.redirects.insert(a.trim_matches(['<', '>']).to_owned());
            } else if let Some(r) = line.strip_prefix(" * reject message with reason: ") {
                s.reject = Some(r.to_owned());
            } else if line.starts_with(" * send vacation message:") {
                let (mut seconds, mut handle, mut body) = (0, None::<Vec<&str>>, Vec::new());
                for l in lines.by_ref() {
                    if let Some(v) = l.strip_prefix("    => seconds : ") {
                        seconds = v.trim().parse().expect("seconds");
                    } else if let Some(v) = l.strip_prefix("    => handle  : ") {
                        handle = Some(vec![v]);
                    } else if l == "START MESSAGE" {
                        for b in lines.by_ref() {
                            if b == "END MESSAGE" {
                                break;
                            }
                            body.push(b);
                        }
                        break;
                    } else if let Some(h) = handle.as_mut() {
                        // The handle goes on over lines when the reason does.
                        h.push(l);
                    }
                }
                let handle = handle.unwrap_or_default().join("\n").trim_end().to_owned();
                let body = body.join("\n").trim_end_matches('\n').to_owned();
                s.vacation = Some((seconds, handle, body));
            }
        }
    }
    flush(&mut store, &mut flags, &mut s);
    s
}

fn summarise_ours(result: Result<Outcome, mailwright_sieve::RuntimeError>) -> Summary {
    let mut s = Summary::default();
    let Ok(outcome) = result else {
        s.failed = true;
        return s;
    };
    for a in outcome.actions {
        match a {
            Action::Keep { flags, .. } => {
                s.stores
                    .insert("INBOX".into(), flags_set(flags.iter().map(String::as_str)));
            }
            Action::FileInto { mailbox, flags, .. } => {
                s.stores
                    .insert(mailbox, flags_set(flags.iter().map(String::as_str)));
            }
            Action::Redirect { address, .. } => {
                s.redirects.insert(address);
            }
            Action::Reject { reason, .. } => s.reject = Some(reason),
            Action::Vacation(v) => {
                let body = v.body.trim_end_matches(['\r', '\n']).replace("\r\n", "\n");
                let handle = v.key.handle.replace("\r\n", "\n");
                s.vacation = Some((v.period.as_secs(), handle, body));
            }
            _ => {}
        }
    }
    s
}

/// The user's world for our side: mailboxes that exist, UTC.
struct TestEnv;

impl Environment for TestEnv {
    fn mailbox_exists(&self, name: &str) -> bool {
        name == "INBOX"
    }
}

const FROM: &str = "alice@example.org";
const TO: &str = "bob+tag@example.com";

fn plain_message() -> Vec<u8> {
    b"Return-Path: <alice@example.org>\r\n\
From: Alice Example <alice@example.org>\r\n\
To: Bob <bob+tag@example.com>, carol@example.net\r\n\
Cc: \"Doe, John\" <john.doe@Example.COM>\r\n\
Subject: [acme-users] [fwd] version 1.0 is out\r\n\
Date: Fri, 05 Aug 2005 17:31:00 -0700\r\n\
Message-ID: <1234@example.org>\r\n\
X-Spam-Score: 12\r\n\
X-Priority: 2\r\n\
Received: from a.example by b.example; Fri, 05 Aug 2005 17:31:01 -0700\r\n\
Received: from c.example by a.example; Fri, 05 Aug 2005 17:30:59 -0700\r\n\
\r\n\
Hello Bob,\r\n\
the release is out: MAKE MONEY fast.\r\n\
Alice\r\n"
        .to_vec()
}

fn mime_message() -> Vec<u8> {
    b"From: news@lists.example.org\r\n\
To: bob+tag@example.com\r\n\
Subject: =?utf-8?q?Caf=C3=A9_news?=\r\n\
Date: Mon, 07 Dec 2026 09:15:00 +0100\r\n\
Message-ID: <m1@lists.example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
The caf=C3=A9 opens on Monday.\r\n\
--b1\r\n\
Content-Type: application/pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKc2VjcmV0IHBsYW5z\r\n\
--b1--\r\n"
        .to_vec()
}

/// Scripts run on both messages by both implementations.
const SCRIPTS: &[(&str, &str)] = &[
    ("keep", "keep;"),
    ("empty", ""),
    ("discard", "discard;"),
    (
        "fileinto",
        r#"require "fileinto";
if header :contains "subject" "acme" { fileinto "Lists.acme"; }
elsif header :contains "subject" "café" { fileinto "Cafe"; }
else { fileinto "Other"; }"#,
    ),
    (
        "fileinto-copy",
        r#"require ["fileinto", "copy"];
fileinto :copy "Archive";
if address :domain :is "from" "example.org" { fileinto "Friends"; }"#,
    ),
    (
        "flags",
        r#"require ["imap4flags", "fileinto"];
addflag "\\Seen";
addflag ["$Work", "\\Flagged"];
removeflag "\\Flagged";
if header :contains "subject" "out" { fileinto :flags "\\Answered $Release" "Releases"; }
if hasflag :contains "work" { addflag "matched"; }"#,
    ),
    (
        "flags-variables",
        r#"require ["imap4flags", "variables", "fileinto"];
set "mine" "\\Seen";
addflag "mine" "$Extra";
if hasflag "mine" "$extra" { fileinto :flags "${mine}" "Flagged"; }
setflag "\\Deleted";"#,
    ),
    (
        "redirect",
        r#"require "copy";
redirect "archive@example.net";
redirect :copy "<audit@example.net>";
redirect "archive@example.net";"#,
    ),
    (
        "reject",
        r#"require "reject"; if size :over 100 { reject "Too big for me."; }"#,
    ),
    (
        "reject-conflict",
        r#"require ["reject", "fileinto"]; fileinto "A"; reject "no";"#,
    ),
    (
        "vacation",
        r#"require "vacation";
vacation :days 3 :subject "Away" "I am away until Monday.";"#,
    ),
    (
        "vacation-defaults",
        r#"require ["vacation", "variables"];
if header :matches "subject" "*" { set "s" "${1}"; }
vacation :mime :addresses ["bob@example.com"] text:
Content-Type: text/plain

Re: ${s}
.
;"#,
    ),
    (
        "vacation-seconds",
        r#"require "vacation-seconds"; vacation :seconds 90000 :from "bob@example.com" :handle "h1" "Gone.";"#,
    ),
    (
        "variables",
        r#"require ["variables", "fileinto", "copy"];
if header :matches "subject" "[*] *" { set :lower "list" "${1}"; set "rest" "${2}"; }
set :upperfirst "greeting" "hello";
set :length "n" "${rest}";
if string :is "${list}" "acme-users" { fileinto "lists.${list}.${n}"; }
if string :is "${greeting}" "Hello" { fileinto :copy "greeted"; }"#,
    ),
    (
        "variables-modifiers",
        r#"require ["variables", "fileinto"];
set :quotewildcard "q" "a*b?";
set :upper :lowerfirst "u" "juMBlEd";
if string :matches "a*b?" "${q}" { fileinto "${u}"; }"#,
    ),
    (
        "body",
        r#"require ["body", "fileinto"];
if body :text :contains "make money" { fileinto "Spam"; }
if body :content "text" :contains "opens" { fileinto "Plain"; }
if body :raw :contains "JVBERi0" { fileinto "RawPdf"; }
if body :content "application/pdf" :contains "secret" { fileinto "Pdf"; }"#,
    ),
    (
        "date",
        r#"require ["date", "relational", "fileinto", "variables"];
if date :is "date" "year" "2005" { fileinto "y2005"; }
if date :zone "+0000" :is "date" "date" "2005-08-06" { fileinto "utc-next-day"; }
if date :originalzone :is "date" "hour" "17" { fileinto "original-17"; }
if date :value "ge" :originalzone "date" "time" "17:00:00" { fileinto "after-five"; }
if date :is "date" "weekday" "6" { fileinto "saturday-utc"; }
if currentdate :value "ge" "year" "2020" { fileinto "recent"; }
if date :matches "date" "iso8601" "*" { set "iso" "${0}"; fileinto "iso-${iso}"; }
if date :matches :zone "-0700" "date" "julian" "*" { fileinto "mjd-${0}"; }"#,
    ),
    (
        "index",
        r#"require ["index", "date", "fileinto"];
if header :index 2 :contains "received" "c.example" { fileinto "second-received"; }
if header :index 1 :last :contains "received" "c.example" { fileinto "last-received"; }
if date :index 1 :originalzone :is "received" "second" "01" { fileinto "first-date"; }"#,
    ),
    (
        "subaddress",
        r#"require ["envelope", "subaddress", "fileinto", "copy"];
if envelope :detail "to" "tag" { fileinto "tagged"; }
if envelope :user "to" "bob" { fileinto :copy "bob"; }
if address :detail "to" "tag" { fileinto :copy "header-tag"; }
if address :user :is "cc" "john.doe" { fileinto :copy "john"; }
if envelope :domain :is "from" "EXAMPLE.org" { fileinto :copy "from-org"; }"#,
    ),
    (
        "relational",
        r#"require ["relational", "comparator-i;ascii-numeric", "fileinto", "copy"];
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "10" { fileinto "spam"; }
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto :copy "many"; }
if header :count "eq" :comparator "i;ascii-numeric" "received" "2" { fileinto :copy "two-hops"; }
if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3" { fileinto :copy "urgent"; }"#,
    ),
    (
        "mailbox",
        r#"require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto :create "Created"; }"#,
    ),
    (
        "exists-size-allof",
        r#"require "fileinto";
if allof (exists ["From", "Date"], not exists "X-None", size :under 10K) { fileinto "ok"; }
if anyof (false, header :is "x-none" "") { fileinto "never"; }"#,
    ),
    (
        "encoded-character",
        r#"require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:61 63 6d 65}" { fileinto "${unicode:41}cme"; }"#,
    ),
    (
        "stop",
        r#"require "fileinto"; fileinto "First"; stop; fileinto "Never";"#,
    ),
];

fn ours(script: &str, message: &[u8], from: &str, to: &str) -> Summary {
    let caps = Capabilities::all();
    let program = Program::compile(script, &caps).unwrap_or_else(|e| panic!("{e}\n{script}"));
    let msg = ParsedMessage::new(message).with_envelope(from, to);
    summarise_ours(program.run(&msg, &TestEnv, SystemTime::now()))
}

#[test]
fn actions_agree_with_sieve_test() {
    let Some(ph) = Pigeonhole::new() else { return };
    let messages = [("plain", plain_message()), ("mime", mime_message())];
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, script) in SCRIPTS {
        for (mname, message) in &messages {
            let theirs = summarise_pigeonhole(&ph.sieve_test(script, message, FROM, TO, false));
            let mine = ours(script, message, FROM, TO);
            if mine != theirs {
                failures.push(format!(
                    "{name} on {mname}:\n  sieve-test: {theirs:?}\n  ours:       {mine:?}"
                ));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{compared} runs agree with sieve-test");
}

/// (name, message, envelope from, our expected decision) for `vacation` under `sieve-test -e`.
fn vacation_cases() -> Vec<(&'static str, Vec<u8>, &'static str, Option<NoReply>)> {
    let base = |extra: &str, to: &str| {
        format!(
            "From: alice@example.org\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: <v@example.org>\r\n{extra}\r\nhello\r\n"
        )
        .into_bytes()
    };
    vec![
        ("addressed", base("", "bob+tag@example.com"), FROM, None),
        (
            "list",
            base("List-Id: <l.example.org>\r\n", "bob+tag@example.com"),
            FROM,
            Some(NoReply::MailingList),
        ),
        (
            "auto-submitted",
            base("Auto-Submitted: auto-replied\r\n", "bob+tag@example.com"),
            FROM,
            Some(NoReply::AutoSubmitted),
        ),
        (
            "auto-submitted-no",
            base("Auto-Submitted: no\r\n", "bob+tag@example.com"),
            FROM,
            None,
        ),
        (
            "bulk",
            base("Precedence: bulk\r\n", "bob+tag@example.com"),
            FROM,
            Some(NoReply::Bulk),
        ),
        (
            "not-addressed",
            base("", "someone@example.net"),
            FROM,
            Some(NoReply::NotAddressed),
        ),
        (
            "mailer-daemon",
            base("", "bob+tag@example.com"),
            "MAILER-DAEMON@example.org",
            Some(NoReply::SystemAddress),
        ),
        (
            "request",
            base("", "bob+tag@example.com"),
            "list-request@example.org",
            Some(NoReply::SystemAddress),
        ),
        (
            "own-address",
            base("", "bob+tag@example.com"),
            "bob+tag@example.com",
            Some(NoReply::OwnAddress),
        ),
    ]
}

#[test]
fn vacation_decisions_agree_with_sieve_test_execute() {
    let Some(ph) = Pigeonhole::new() else { return };
    let script = "require \"vacation\";\nvacation :subject \"Away\" \"Back on Monday.\";\n";
    let caps = Capabilities::all();
    let program = Program::compile(script, &caps).unwrap();
    let mut failures = Vec::new();
    for (name, message, from, expected) in vacation_cases() {
        let out = ph.sieve_test(script, &message, from, TO, true);
        let sent = out.contains("sent vacation response");
        assert!(
            sent || out.contains("vacation response") || out.contains("vacation reply"),
            "{name}: sieve-test said nothing about the reply:\n{out}"
        );
        let msg = ParsedMessage::new(&message).with_envelope(from, TO);
        let outcome = program.run(&msg, &TestEnv, SystemTime::now()).unwrap();
        let reply = outcome.actions.iter().find_map(|a| match a {
            Action::Vacation(v) => Some(v.clone()),
            _ => None,
        });
        assert_eq!(outcome.vacation_declined, expected, "{name}: our decision");
        if sent != reply.is_some() {
            failures.push(format!(
                "{name}: sieve-test sent={sent}, ours={:?}\n{out}",
                outcome.vacation_declined
            ));
            continue;
        }
        if let Some(reply) = reply {
            let field = |f: &str| {
                out.lines()
                    .find_map(|l| l.strip_prefix(f))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            assert_eq!(field("Subject: "), reply.subject, "{name}: subject");
            assert_eq!(
                field("From: ").trim_matches(['<', '>']),
                reply.from,
                "{name}: from"
            );
            assert_eq!(
                field("In-Reply-To: "),
                reply.in_reply_to.clone().unwrap_or_default(),
                "{name}: in-reply-to"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Scripts that do not parse or compile, with the line of the first error.
const BAD_SCRIPTS: &[&str] = &[
    "if true {\n keep;\n",
    "keep\n\n",
    "keep;\nfileinto \"x\";",
    "keep;\n\n\"abc",
    "/* abc\n\n",
    "if header :is\n \"a\" {keep;}",
    "require \"foo\";\nkeep;",
    "keep;\nkeep :flags \"a\";",
    "if true\nkeep;",
    "stop\n 1;",
    "x 99999999999999999999999G;",
    "if anyof(true,\n) {}",
    "require [\"fileinto\"];\n\nfileinto;",
    "keep;\nredirect \"bad address\";",
    "if size :over\n \"1\" {}",
    "require \"variables\";\n\nset \"a\" \"${foo.bar}\";",
    "require \"variables\";\nset \"1\" \"x\";",
    "require \"index\";\nif header :last \"a\" \"b\" {}",
    "require \"envelope\";\nif envelope \"bogus\" \"x\" {}",
    "require [\"variables\"];\nset :lower :upper \"a\" \"b\";",
    "require \"comparator-i;ascii-numeric\";\nif header :comparator \"i;ascii-numeric\" :contains \"a\" \"b\" {}",
    "keep;\nelsif true {}",
    "keep;\nrequire \"fileinto\";",
    "require \"relational\";\n\nif header :count \"xx\" \"a\" \"1\" {}",
    "require \"imap4flags\";\nsetflag \"a\" \"b\";",
    "require [\"include\"];\nglobal \"x\";",
    "require \"copy\";\nkeep :copy;",
    "if header :is :contains \"a\" \"b\" {}",
    "discard; $",
    "text:\nabc\n",
    "require \"vacation\";\nvacation :from \"bad\" \"x\";",
    "if header [\"a\" \"b\"] \"c\" {}",
    "if not\n\n {}",
    "require \"body\";\nif body :raw :text \"a\" {}",
];

#[test]
fn error_lines_agree_with_sievec() {
    let Some(ph) = Pigeonhole::new() else { return };
    let caps = Capabilities::all().without(Extension::Ereject);
    let mut failures = Vec::new();
    for script in BAD_SCRIPTS {
        let theirs = ph.sievec_error_line(script);
        let mine = Program::compile(script, &caps).err();
        if theirs != mine.as_ref().map(mailwright_sieve::ScriptError::line) {
            failures.push(format!(
                "{script:?}: sievec line {theirs:?}, ours {:?}",
                mine.map(|e| e.to_string())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} error lines agree with sievec", BAD_SCRIPTS.len());
}

//! The log a postmaster reads and fail2ban watches, as the `full_server` binary really writes it
//! (a separate process, its output to a file):
//!
//! - failed logins over IMAP, POP3 and submission are one `login failed client=<address>` line
//!   each, and `contrib/fail2ban/filter.d/mailwright.conf` matches them with the right host
//!   (`fail2ban-regex`);
//! - one `delivered` line per copy, however many times the recipient was named; refusals name the
//!   client;
//! - no ANSI escapes when the output is not a terminal.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::{peer, python, run_with_timeout};

/// A data directory with the harness's users, SMTP, submission, IMAP and POP3 on the given ports.
fn data_dir(ports: [u16; 4]) -> std::path::PathBuf {
    let [smtp, submission, imap, pop3] = ports;
    let dir = common::tempdir("logs");
    common::populate(&dir);
    std::fs::write(
        dir.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"localhost\"\n\n\
             [listen]\n\
             smtp = [\"127.0.0.1:{smtp}\"]\n\
             submission = [\"127.0.0.1:{submission}\"]\n\
             submissions = []\n\
             lmtp = []\n\
             imap = [\"127.0.0.1:{imap}\"]\n\
             imaps = []\n\
             pop3 = [\"127.0.0.1:{pop3}\"]\n\
             pop3s = []\n\
             managesieve = []\n\n\
             [limits]\n\
             auth_failure_delay_secs = 0\n"
        ),
    )
    .unwrap();
    dir
}

/// Wrong passwords from 127.0.0.2 (a loopback address of its own, so that the host fail2ban
/// finds is the client's, not the server's): IMAP LOGIN, POP3 USER/PASS, submission AUTH PLAIN.
const FAIL_LOGINS: &str = r#"
import base64, socket, sys
smtp, imap, pop3 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def talk(port, lines, until):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    out = b""
    for line in lines:
        while not out.endswith(b"\r\n"):
            out += s.recv(4096)
        s.sendall(line + b"\r\n")
        out = out[:0] if line != lines[-1] else out
    data = b""
    while until not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data
print(talk(imap, [b"a LOGIN alice@example.org wrong"], b"a NO"))
print(talk(pop3, [b"USER alice@example.org", b"PASS wrong"], b"-ERR"))
plain = base64.b64encode(b"\0bob@example.org\0wrong")
print(talk(smtp, [b"EHLO client.test", b"AUTH PLAIN " + plain], b"535"))
"#;

fn wait_for_log(server: &ServerProcess, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.log();
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {what} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fail2ban_regex(log: &Path, out: &str) -> String {
    let tool = peer::require("fail2ban-regex", "fail2ban").unwrap();
    let filter =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/fail2ban/filter.d/mailwright.conf");
    let result = run_with_timeout(
        std::process::Command::new(tool)
            .args(["-o", out])
            .arg(log)
            .arg(filter),
        Duration::from_mins(1),
    );
    assert!(
        result.status.success(),
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8_lossy(&result.stdout).into_owned()
}

#[test]
fn fail2ban_matches_the_failed_logins_the_server_writes() {
    let (Some(_), Some(_)) = (
        peer::require("python3", "python3"),
        peer::require("fail2ban-regex", "fail2ban"),
    ) else {
        return;
    };
    let ports = common::postfix::free_ports::<4>();
    let dir = data_dir(ports);
    let log = dir.join("server.log");
    let smtp: SocketAddr = ([127, 0, 0, 1], ports[0]).into();
    let server = ServerProcess::start_logging(&dir, smtp, log.clone(), "info");
    let out = python(
        FAIL_LOGINS,
        &[
            &ports[1].to_string(),
            &ports[2].to_string(),
            &ports[3].to_string(),
        ],
    );
    assert!(
        out.contains("a NO") && out.contains("-ERR") && out.contains("535"),
        "{out}"
    );
    // A delivery to a recipient named a hundred times (one copy, one line) and a refusal.
    let mut c = common::smtp_client::Client::connect(smtp, Duration::from_secs(20)).unwrap();
    let mut rcpts = vec!["alice@example.org"; 99];
    rcpts.push("nobody@example.org");
    let r = c
        .send(
            "sender@remote.test",
            &rcpts,
            b"Subject: logged\r\n\r\nhello\r\n",
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    c.quit();
    wait_for_log(&server, "the delivery", |l| l.contains(": delivered"));
    let text = wait_for_log(&server, "three failed logins", |l| {
        l.matches("login failed").count() >= 3
    });
    assert!(!text.contains('\x1b'), "no ANSI escapes in a file:\n{text}");
    for service in ["imap", "pop3", "submission"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("conn{{service={service} "))
                    && l.contains("login failed client=127.0.0.2 user=")),
            "{service}:\n{text}"
        );
    }
    let delivered: Vec<&str> = text.lines().filter(|l| l.contains(": delivered")).collect();
    assert_eq!(delivered.len(), 1, "one line per copy:\n{text}");
    assert!(
        delivered[0].contains("client=127.0.0.1 from=<sender@remote.test> to=<alice@example.org> user=alice@example.org"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("recipient refused client=127.0.0.1 from=<sender@remote.test> to=<nobody@example.org> reply=550 5.1.1")),
        "{text}"
    );
    // fail2ban finds the three failures, each with the client's address.
    let ips = fail2ban_regex(&log, "ip");
    let hosts: Vec<&str> = ips.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(hosts, ["127.0.0.2"; 3], "{ips}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

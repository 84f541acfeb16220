//! Trust (issue #10): DKIM signatures we make verify with Python's dkimpy; mail dkimpy signed
//! arrives through our port 25 with `dkim=pass` in Authentication-Results (and `dkim=fail` when
//! tampered with); SPF pass/fail/softfail/none and DMARC pass/fail, `p=reject` refusal and
//! `p=none` delivery, after the examples of RFC 7208 and RFC 7489; `full_server dkim generate`
//! prints a record that verifies its key's signatures. Every DNS answer comes from the test DNS
//! server (testsupport/dns.rs), so all of it runs offline.

mod common;
#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::smtp_client::Client;
use common::{TestServer, peer, run_with_timeout, tempdir};
use mailwright::core::config::Dkim;
use mailwright::intake::trust::{KeyAlgorithm, dkim};
use mailwright::server::Service;

/// Verifies every DKIM-Signature of the message in argv[1] with dkimpy, the public key records
/// given as argv[2:] ("name=record" pairs) standing in for DNS. Prints one line per signature.
const DKIMPY_VERIFY: &str = r"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
records = dict(a.split('=', 1) for a in sys.argv[2:])
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return records.get(name.rstrip('.'), '').encode()
d = dkim.DKIM(msg)
n = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
    except Exception:  # dkimpy raises for some failures (e.g. a key of the wrong type)
        ok = False
    print('sig', i, 'pass' if ok else 'fail')
";

/// Signs the message in argv[1] with dkimpy (selector argv[2], domain argv[3], key file argv[4],
/// algorithm argv[5]) and writes the signed message to argv[6].
const DKIMPY_SIGN: &str = r"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
key = open(sys.argv[4], 'rb').read().strip()
sig = dkim.sign(msg, sys.argv[2].encode(), sys.argv[3].encode(), key,
                include_headers=[b'from', b'to', b'subject', b'date'],
                signature_algorithm=sys.argv[5].encode())
open(sys.argv[6], 'wb').write(sig + msg)
";

/// Makes an Ed25519 key pair with PyNaCl (what dkimpy uses): prints "private public", base64.
const NACL_KEYGEN: &str = r"
import base64, nacl.signing
sk = nacl.signing.SigningKey.generate()
print(base64.b64encode(bytes(sk)).decode(), base64.b64encode(bytes(sk.verify_key)).decode())
";

/// The `full_server` example binary, which `cargo test` builds before integration tests (not when
/// only this test target is named: then build it with `cargo build --example full_server`).
fn full_server() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent()?.parent()?.join("examples").join("full_server");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        !peer::in_ci(),
        "{} is missing under CI=true",
        path.display()
    );
    eprintln!(
        "SKIP: {} not built (cargo build --example full_server)",
        path.display()
    );
    None
}

/// The Python that runs dkimpy, or `None` (skip) outside CI when it is missing.
fn dkimpy() -> Option<std::path::PathBuf> {
    peer::require_python_module("dkim", "python3-dkim (or: pip install dkimpy)")?;
    peer::require_python_module("nacl", "python3-nacl (or: pip install pynacl)")
}

fn python_file(script: &str, args: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new("python3").arg("-c").arg(script).args(args),
        Duration::from_mins(1),
    );
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// dkimpy's verdicts on `signed` (CRLF), given `(dns name, record)` pairs.
fn dkimpy_verify(dir: &Path, signed: &[u8], records: &[(String, String)]) -> Vec<String> {
    let file = dir.join("signed.eml");
    std::fs::write(&file, signed).unwrap();
    let mut args = vec![file.to_str().unwrap().to_owned()];
    args.extend(records.iter().map(|(n, r)| format!("{n}={r}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python_file(DKIMPY_VERIFY, &args)
        .lines()
        .map(str::to_owned)
        .collect()
}

const MESSAGE_LF: &str = "From: Alice <alice@example.org>\nTo: Bob <bob@example.net>\nSubject: Trust test\nDate: Sun, 29 Nov 2026 04:00:00 +0000\nMessage-ID: <trust-1@example.org>\n\nHello Bob,\n\n  spaces  and tabs\t kept.\n.leading dot\n\n\n";

fn crlf(text: &[u8]) -> Vec<u8> {
    dkim::to_crlf(text).into_owned()
}

#[test]
fn our_signatures_verify_with_dkimpy_for_both_algorithms() {
    if dkimpy().is_none() {
        return;
    }
    let dir = tempdir("trust-sign");
    let ed = dkim::generate_key_file(&dir, "example.org", "ed", KeyAlgorithm::Ed25519, 0).unwrap();
    let rsa = dkim::generate_key_file(&dir, "example.org", "rsa", KeyAlgorithm::Rsa, 1024).unwrap();
    let records = vec![
        (ed.dns_name(), ed.dns_record()),
        (rsa.dns_name(), rsa.dns_record()),
    ];
    let headers = dkim::sign_message(&dir, &Dkim::default(), MESSAGE_LF.as_bytes())
        .unwrap()
        .expect("example.org has keys");
    assert_eq!(headers.matches("DKIM-Signature:").count(), 2, "{headers}");
    // Prepended to the stored (LF) form; the relay sends CRLF.
    let stored = format!("{headers}{MESSAGE_LF}");
    let verdicts = dkimpy_verify(&dir, &crlf(stored.as_bytes()), &records);
    assert_eq!(verdicts, ["sig 0 pass", "sig 1 pass"], "{stored}");

    // The body changed after signing: dkimpy refuses both.
    let tampered = stored.replace("Hello Bob", "Hello Eve");
    let verdicts = dkimpy_verify(&dir, &crlf(tampered.as_bytes()), &records);
    assert_eq!(verdicts, ["sig 0 fail", "sig 1 fail"]);
    // A wrong key in DNS: refused too.
    let wrong = vec![
        (ed.dns_name(), rsa.dns_record()),
        (rsa.dns_name(), ed.dns_record()),
    ];
    let verdicts = dkimpy_verify(&dir, &crlf(stored.as_bytes()), &wrong);
    assert_eq!(verdicts, ["sig 0 fail", "sig 1 fail"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dkim_generate_prints_a_record_that_verifies() {
    if dkimpy().is_none() {
        return;
    }
    let Some(exe) = full_server() else {
        return;
    };
    let dir = tempdir("trust-cli");
    let out = run_with_timeout(
        Command::new(&exe).arg("--data-dir").arg(&dir).args([
            "dkim",
            "generate",
            "example.org",
            "--selector",
            "s2026",
        ]),
        Duration::from_mins(1),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    // s2026._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=..."
    let (name, rest) = line.trim().split_once(". IN TXT ").expect(&line);
    assert_eq!(name, "s2026._domainkey.example.org");
    let record: String = rest
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");
    assert!(dir.join("dkim/example.org/s2026.key").is_file());
    let again = run_with_timeout(
        Command::new(&exe).arg("--data-dir").arg(&dir).args([
            "dkim",
            "generate",
            "example.org",
            "--selector",
            "s2026",
        ]),
        Duration::from_mins(1),
    );
    assert!(
        !again.status.success(),
        "an existing key is not overwritten"
    );

    let headers = dkim::sign_message(&dir, &Dkim::default(), MESSAGE_LF.as_bytes())
        .unwrap()
        .unwrap();
    let signed = crlf(format!("{headers}{MESSAGE_LF}").as_bytes());
    let verdicts = dkimpy_verify(&dir, &signed, &[(name.to_owned(), record.clone())]);
    assert_eq!(verdicts, ["sig 0 pass"]);

    let shown = run_with_timeout(
        Command::new(&exe)
            .arg("--data-dir")
            .arg(&dir)
            .args(["dkim", "show", "example.org"]),
        Duration::from_mins(1),
    );
    assert_eq!(String::from_utf8_lossy(&shown.stdout), line);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server whose resolver is the test DNS server, checking loopback clients, named
/// `mx.example.org`.
fn trust_server(dns: &dns_server::DnsServer, dmarc_reject: bool) -> TestServer {
    let addr = dns.addr();
    TestServer::start_with(move |c| {
        "mx.example.org".clone_into(&mut c.hostname);
        c.dns.nameservers = vec![addr];
        c.dns.timeout_secs = 2;
        c.inbound.verify_loopback = true;
        c.inbound.dmarc_reject = dmarc_reject;
    })
}

/// Sends `data` (CRLF) from `from` to alice and returns the reply code and, when delivered, the
/// Authentication-Results field of the stored copy (unfolded).
fn deliver(server: &TestServer, helo: &str, from: &str, data: &[u8]) -> (u16, Option<String>) {
    let before = server.messages("alice@example.org").len();
    let mut client = Client::connect(server.addr(Service::Smtp), Duration::from_secs(30)).unwrap();
    let r = client.command(&format!("HELO {helo}")).unwrap();
    assert_eq!(r.code, 250);
    let reply = client.send(from, &["alice@example.org"], data).unwrap();
    client.quit();
    if !reply.is_ok() {
        assert_eq!(server.messages("alice@example.org").len(), before);
        return (reply.code, None);
    }
    let messages = server.messages("alice@example.org");
    assert_eq!(messages.len(), before + 1);
    let stored = String::from_utf8_lossy(messages.last().unwrap()).into_owned();
    let header = stored.split("\n\n").next().unwrap();
    let unfolded = header.replace("\n\t", " ").replace("\n ", " ");
    let results: Vec<&str> = unfolded
        .lines()
        .filter(|l| l.starts_with("Authentication-Results:"))
        .collect();
    assert_eq!(
        results.len(),
        1,
        "one Authentication-Results field:\n{stored}"
    );
    (reply.code, Some(results[0].to_owned()))
}

/// Whether one `;`-separated result of the field starts with `result` and contains `property`
/// (comments such as `(mx.example.org: domain of ...)` may stand between them).
fn has(results: &str, result: &str, property: &str) -> bool {
    results
        .split(';')
        .map(str::trim)
        .any(|clause| clause.starts_with(result) && clause.contains(property))
}

fn plain_message(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: alice@example.org\r\nSubject: {subject}\r\nDate: Sun, 29 Nov 2026 04:00:00 +0000\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

#[test]
fn spf_results_after_rfc_7208() {
    let dns = dns_server::DnsServer::start();
    // RFC 7208 §10.1-style records: the sending host is 127.0.0.1.
    dns.txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("fail.test", "v=spf1 ip4:192.0.2.0/24 -all");
    dns.txt("soft.test", "v=spf1 ip4:192.0.2.0/24 ~all");
    dns.txt("mx.pass.test", "v=spf1 a -all");
    dns.a("mx.pass.test", "127.0.0.1".parse().unwrap());
    dns.exists("none.test");
    dns.ptr("127.0.0.1".parse().unwrap(), "mx.pass.test");
    let server = trust_server(&dns, true);

    let cases = [
        ("pass.test", "spf=pass"),
        ("fail.test", "spf=fail"),
        ("soft.test", "spf=softfail"),
        ("none.test", "spf=none"),
    ];
    for (domain, expected) in cases {
        let from = format!("someone@{domain}");
        let (code, results) = deliver(
            &server,
            "mx.pass.test",
            &from,
            &plain_message(&from, domain),
        );
        assert_eq!(
            code, 250,
            "{domain}: no DMARC record, so nothing is refused"
        );
        let results = results.unwrap();
        assert!(
            results.starts_with("Authentication-Results: mx.example.org;"),
            "{results}"
        );
        let property = format!("smtp.mailfrom={from}");
        assert!(
            has(&results, &format!("{expected} "), &property),
            "{domain}: {results}"
        );
        // HELO identity: its A record is the client (mechanism "a").
        assert!(
            has(&results, "spf=pass ", "smtp.helo=mx.pass.test"),
            "{results}"
        );
        assert!(
            has(&results, "iprev=pass", "policy.iprev=127.0.0.1"),
            "{results}"
        );
        assert!(has(&results, "dkim=none", ""), "{results}");
        assert!(has(&results, "dmarc=none", ""), "{results}");
    }
}

#[test]
fn dmarc_pass_fail_reject_and_none_after_rfc_7489() {
    let dns = dns_server::DnsServer::start();
    dns.txt("aligned.test", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("_dmarc.aligned.test", "v=DMARC1; p=reject");
    dns.txt("strict.test", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.strict.test", "v=DMARC1; p=reject");
    dns.txt("lenient.test", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.lenient.test", "v=DMARC1; p=none");
    // An envelope domain that passes SPF but is not the From domain: no alignment (RFC 7489 §3.1).
    dns.txt("bulk.test", "v=spf1 ip4:127.0.0.1 -all");
    let server = trust_server(&dns, true);

    // Pass: SPF passes for the From domain itself.
    let (code, results) = deliver(
        &server,
        "client.test",
        "news@aligned.test",
        &plain_message("News <news@aligned.test>", "aligned"),
    );
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(
        has(
            &results,
            "dmarc=pass ",
            "header.from=aligned.test policy.dmarc=reject"
        ),
        "{results}"
    );

    // p=reject and a failure: refused with 550 5.7.1 naming DMARC, nothing delivered.
    let mut client = Client::connect(server.addr(Service::Smtp), Duration::from_secs(30)).unwrap();
    let reply = client
        .send(
            "ceo@strict.test",
            &["alice@example.org"],
            &plain_message("CEO <ceo@strict.test>", "spoof"),
        )
        .unwrap();
    client.quit();
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(
        reply.lines[0].contains("5.7.1") && reply.lines[0].contains("DMARC"),
        "{reply:?}"
    );

    // Envelope from a passing but unaligned domain, From of the p=reject domain: refused too.
    let (code, _) = deliver(
        &server,
        "client.test",
        "bounce@bulk.test",
        &plain_message("CEO <ceo@strict.test>", "unaligned"),
    );
    assert_eq!(code, 550);

    // p=none: delivered, the failure recorded.
    let (code, results) = deliver(
        &server,
        "client.test",
        "x@lenient.test",
        &plain_message("x@lenient.test", "lenient"),
    );
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(
        has(&results, "spf=fail ", "smtp.mailfrom=x@lenient.test"),
        "{results}"
    );
    assert!(
        has(
            &results,
            "dmarc=fail ",
            "header.from=lenient.test policy.dmarc=none"
        ),
        "{results}"
    );
    drop(server);

    // With dmarc_reject = false the p=reject failure is delivered and recorded.
    let server = trust_server(&dns, false);
    let (code, results) = deliver(
        &server,
        "client.test",
        "ceo@strict.test",
        &plain_message("CEO <ceo@strict.test>", "kept"),
    );
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(
        has(
            &results,
            "dmarc=fail ",
            "header.from=strict.test policy.dmarc=reject"
        ),
        "{results}"
    );
}

#[test]
fn dkimpy_signed_mail_passes_and_tampered_mail_fails() {
    if dkimpy().is_none() {
        return;
    }
    let Some(openssl) = peer::require("openssl", "openssl") else {
        return;
    };
    let dir = tempdir("trust-dkimpy");
    // RSA key from openssl, Ed25519 key from PyNaCl: neither made by us.
    let rsa_key = dir.join("rsa.pem");
    let out = run_with_timeout(
        Command::new(&openssl)
            .args(["genrsa", "-traditional", "-out"])
            .arg(&rsa_key)
            .arg("1024"),
        Duration::from_mins(1),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_with_timeout(
        Command::new(&openssl)
            .args(["rsa", "-pubout", "-outform", "DER", "-in"])
            .arg(&rsa_key),
        Duration::from_mins(1),
    );
    assert!(out.status.success());
    use base64::Engine as _;
    let rsa_public = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
    let keys = python_file(NACL_KEYGEN, &[]);
    let (ed_private, ed_public) = keys.trim().split_once(' ').unwrap();
    let ed_key = dir.join("ed.key");
    std::fs::write(&ed_key, ed_private).unwrap();

    let dns = dns_server::DnsServer::start();
    dns.txt("signer.test", "v=spf1 -all");
    dns.txt("_dmarc.signer.test", "v=DMARC1; p=reject");
    dns.txt(
        "brisbane._domainkey.signer.test",
        &format!("v=DKIM1; k=rsa; p={rsa_public}"),
    );
    dns.txt(
        "sydney._domainkey.signer.test",
        &format!("v=DKIM1; k=ed25519; p={ed_public}"),
    );
    let server = trust_server(&dns, true);

    let message = plain_message("Joe <joe@signer.test>", "signed by dkimpy");
    let unsigned = dir.join("unsigned.eml");
    std::fs::write(&unsigned, &message).unwrap();
    for (selector, key, algorithm) in [
        ("brisbane", &rsa_key, "rsa-sha256"),
        ("sydney", &ed_key, "ed25519-sha256"),
    ] {
        let signed_file = dir.join(format!("{selector}.eml"));
        python_file(
            DKIMPY_SIGN,
            &[
                unsigned.to_str().unwrap(),
                selector,
                "signer.test",
                key.to_str().unwrap(),
                algorithm,
                signed_file.to_str().unwrap(),
            ],
        );
        let signed = std::fs::read(&signed_file).unwrap();
        // SPF fails (-all) but the aligned DKIM signature makes DMARC pass: delivered.
        let (code, results) = deliver(&server, "client.test", "joe@signer.test", &signed);
        assert_eq!(code, 250, "{selector}");
        let results = results.unwrap();
        assert!(
            has(
                &results,
                "dkim=pass ",
                &format!("@signer.test header.s={selector}")
            ),
            "{selector}: {results}"
        );
        assert!(has(&results, "spf=fail ", "smtp.mailfrom="), "{results}");
        assert!(
            has(&results, "dmarc=pass ", "header.from=signer.test"),
            "{results}"
        );

        // The body changed in transit: the signature fails, and so DMARC: p=reject refuses it.
        let tampered = String::from_utf8(signed)
            .unwrap()
            .replace("body of", "BODY OF")
            .into_bytes();
        let (code, _) = deliver(&server, "client.test", "joe@signer.test", &tampered);
        assert_eq!(code, 550, "{selector}: tampered mail refused by DMARC");
    }
    drop(server);

    // Without the DMARC refusal the tampered message arrives marked dkim=fail.
    let server = trust_server(&dns, false);
    let signed_file = dir.join("sydney.eml");
    let tampered = String::from_utf8(std::fs::read(&signed_file).unwrap())
        .unwrap()
        .replace("body of", "BODY OF")
        .into_bytes();
    let (code, results) = deliver(&server, "client.test", "joe@signer.test", &tampered);
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(has(&results, "dkim=fail ", "header.s=sydney"), "{results}");
    assert!(
        has(&results, "dmarc=fail ", "policy.dmarc=reject"),
        "{results}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dns_failure_delivers_with_temperror_and_forged_results_are_removed() {
    // A resolver that never answers: every check times out, the message is still delivered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let server = TestServer::start_with(move |c| {
        "mx.example.org".clone_into(&mut c.hostname);
        c.dns.nameservers = vec![addr];
        c.dns.timeout_secs = 1;
        c.inbound.verify_loopback = true;
        c.inbound.timeout_secs = 3;
    });
    let mut message =
        b"Authentication-Results: mx.example.org; dkim=pass; spf=pass; dmarc=pass\r\n".to_vec();
    message.extend(plain_message("x@somewhere.test", "temperror"));
    let (code, results) = deliver(&server, "client.test", "x@somewhere.test", &message);
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(results.contains("temperror"), "{results}");
    assert!(
        !results.contains("=pass"),
        "the forged field is gone: {results}"
    );
    drop(silent);
}

#[test]
fn our_signature_passes_our_own_check_and_submission_gets_no_results() {
    let dns = dns_server::DnsServer::start();
    let dir = tempdir("trust-self");
    let key = dkim::generate_key_file(&dir, "self.test", "s1", KeyAlgorithm::Ed25519, 0).unwrap();
    dns.txt(&key.dns_name(), &key.dns_record());
    dns.txt("_dmarc.self.test", "v=DMARC1; p=reject");
    dns.txt("self.test", "v=spf1 -all");
    let server = trust_server(&dns, true);

    // Signed over the LF form, sent as CRLF: what our relay does.
    let message = "From: me@self.test\nTo: alice@example.org\nSubject: self\n\nsigned by us\n";
    let fields = dkim::sign_message(&dir, &Dkim::default(), message.as_bytes())
        .unwrap()
        .unwrap();
    let wire = crlf(format!("{fields}{message}").as_bytes());
    let (code, results) = deliver(&server, "client.test", "me@self.test", &wire);
    assert_eq!(code, 250);
    let results = results.unwrap();
    assert!(has(&results, "dkim=pass ", "header.s=s1"), "{results}");
    assert!(
        has(&results, "dmarc=pass ", "header.from=self.test"),
        "{results}"
    );

    // Authenticated submission is not checked: no Authentication-Results field.
    let mut client =
        Client::connect(server.addr(Service::Submission), Duration::from_secs(30)).unwrap();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("\0alice@example.org\0alice-pw");
    assert_eq!(
        client.command(&format!("AUTH PLAIN {token}")).unwrap().code,
        235
    );
    let reply = client
        .send(
            "alice@example.org",
            &["bob@example.org"],
            b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: sub\r\n\r\nhi\r\n",
        )
        .unwrap();
    client.quit();
    assert!(reply.is_ok(), "{reply:?}");
    let stored = server.messages("bob@example.org");
    let text = String::from_utf8_lossy(stored.last().unwrap());
    assert!(!text.contains("Authentication-Results:"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The messages in a user's Junk folder (SPECIAL-USE `\Junk`, Maildir++ `.Junk`).
fn junk(server: &TestServer, user: &str) -> Vec<String> {
    let dir = server.maildir(user).join(".Junk");
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned())
        .collect()
}

#[test]
fn dmarc_quarantine_failure_is_filed_as_junk() {
    let dns = dns_server::DnsServer::start();
    dns.txt("careful.test", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.careful.test", "v=DMARC1; p=quarantine");
    let server = trust_server(&dns, true);
    let mut client = Client::connect(server.addr(Service::Smtp), Duration::from_secs(30)).unwrap();
    let reply = client
        .send(
            "ceo@careful.test",
            &["alice@example.org"],
            &plain_message("CEO <ceo@careful.test>", "suspicious"),
        )
        .unwrap();
    client.quit();
    assert_eq!(reply.code, 250, "{reply:?}");
    assert!(server.messages("alice@example.org").is_empty());
    let filed = junk(&server, "alice@example.org");
    assert_eq!(filed.len(), 1);
    assert!(
        filed[0].contains("policy.dmarc=quarantine") && filed[0].contains("Subject: suspicious"),
        "{}",
        filed[0]
    );
    drop(server);

    // Configured off: the INBOX, with the failure recorded.
    let addr = dns.addr();
    let server = TestServer::start_with(move |c| {
        "mx.example.org".clone_into(&mut c.hostname);
        c.dns.nameservers = vec![addr];
        c.dns.timeout_secs = 2;
        c.inbound.verify_loopback = true;
        c.spam.junk_dmarc_quarantine = false;
    });
    let (code, results) = deliver(
        &server,
        "client.test",
        "ceo@careful.test",
        &plain_message("CEO <ceo@careful.test>", "kept"),
    );
    assert_eq!(code, 250);
    assert!(has(
        &results.unwrap(),
        "dmarc=fail ",
        "header.from=careful.test policy.dmarc=quarantine"
    ));
    assert!(junk(&server, "alice@example.org").is_empty());
}

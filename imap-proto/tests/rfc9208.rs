//! QUOTA (RFC 9208 §4, §5; RFC 2087): the RFC's commands parse, its responses parse and
//! re-serialise byte-identically.

use mailwright_imap_proto::Encode;
use mailwright_imap_proto::types::command::{Command, CommandBody};
use mailwright_imap_proto::types::response::{Data, Response};

fn command(s: &str) -> Command<'_> {
    let (rest, c) = Command::decode(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert!(rest.is_empty());
    assert_eq!(Command::decode(&c.to_bytes()).unwrap().1, c);
    c
}

fn data(line: &[u8]) -> Data<'_> {
    let (rest, r) = Response::decode(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(rest.is_empty());
    assert_eq!(r.to_bytes(), line, "re-encodes as sent");
    match r {
        Response::Data(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc9208_examples() {
    // §4.1.1, §4.1.2, §4.1.3.
    let c = command("G0001 GETQUOTA \"!partition/sda4\"\r\n");
    assert!(
        matches!(&c.body, CommandBody::GetQuota { root } if root.as_bytes() == b"!partition/sda4")
    );
    let c = command("G0002 GETQUOTAROOT INBOX\r\n");
    assert_eq!(c.body.name(), "GETQUOTAROOT");
    let c = command("S0000 SETQUOTA \"User quota\" (STORAGE 510)\r\n");
    let CommandBody::SetQuota { root, limits } = &c.body else {
        panic!("{c:?}")
    };
    assert_eq!(root.as_bytes(), b"User quota");
    assert_eq!(limits.len(), 1);
    assert_eq!((limits[0].0.as_str(), limits[0].1), ("STORAGE", 510));
    command("S0001 SETQUOTA \"\" ()\r\n");
    // §5.1, §5.2.
    let Data::Quota { root, resources } = data(b"* QUOTA \"\" (STORAGE 10 512)\r\n") else {
        panic!()
    };
    assert!(root.as_bytes().is_empty());
    assert_eq!(
        (
            resources[0].name.as_str(),
            resources[0].usage,
            resources[0].limit
        ),
        ("STORAGE", 10, 512)
    );
    data(b"* QUOTA \"!partition/sda4\" (STORAGE 104 10923847 MESSAGE 3 100)\r\n");
    let Data::QuotaRoot { mailbox, roots } = data(b"* QUOTAROOT INBOX \"\"\r\n") else {
        panic!()
    };
    assert_eq!(mailbox.to_utf8().unwrap(), "INBOX");
    assert_eq!(roots.len(), 1);
    let Data::QuotaRoot { roots, .. } = data(b"* QUOTAROOT comp.mail.mime\r\n") else {
        panic!()
    };
    assert!(roots.is_empty());
    data(b"* QUOTAROOT INBOX \"#user/alice\" \"!partition/sda4\"\r\n");
    // The quota list is never empty; a resource has usage and limit.
    for bad in [
        &b"* QUOTA \"\" ()\r\n"[..],
        b"* QUOTA \"\" (STORAGE 10)\r\n",
        b"* QUOTA \"\" STORAGE 10 512\r\n",
    ] {
        assert!(Response::decode(bad).is_err(), "{bad:?}");
    }
    let line = b"* QUOTA \"\" (STORAGE 10 512)\r\n";
    for cut in 0..line.len() {
        assert!(matches!(
            Response::decode(&line[..cut]),
            Err(mailwright_imap_proto::DecodeError::Incomplete)
        ));
    }
}

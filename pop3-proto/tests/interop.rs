//! Interop with real peers: Python's poplib, fetchmail and getmail6 fetch from a small tokio server
//! built on the crate (serving an in-memory maildrop), and the client machine fetches from a live
//! Dovecot POP3 over a Maildir prepared here. Every peer runs under a temporary directory, on
//! 127.0.0.1, with bounded time.

#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;

use std::io::{Cursor, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwright_pop3_proto::server::{Maildrop, Refusal};
use mailwright_pop3_proto::{
    Atom, ClientConfig, ClientEvent, ClientSession, MessageNumber, ServerConfig, ServerEvent,
    ServerSession, Text, Uid,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMESTAMP: &str = "<4711.1700000000@mailwright.test>";
const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "mailwright-pop3-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        // SIGTERM first so Dovecot's master takes its children down.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a program to completion within `secs`; returns (success, stdout + stderr).
fn run(cmd: &mut Command, dir: &Path, secs: u64) -> (bool, String) {
    let out_path = dir.join("peer-output.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    (status.is_some_and(|s| s.success()), output)
}

fn messages() -> Vec<Vec<u8>> {
    let mut big = b"From: big@example.org\r\nTo: alice@example.org\r\nSubject: big\r\nMessage-ID: <3@example.org>\r\n\r\n".to_vec();
    for i in 0..6000 {
        if i % 100 == 0 {
            big.extend_from_slice(b".a line that starts with a dot\r\n");
        }
        big.extend_from_slice(
            format!("line {i} of a message long enough to stream in many chunks\r\n").as_bytes(),
        );
    }
    vec![
        b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: first\r\nMessage-ID: <1@example.org>\r\n\r\nHello.\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n".to_vec(),
        b"From: b@example.org\r\nTo: alice@example.org\r\nSubject: second\r\nMessage-ID: <2@example.org>\r\n\r\nShort.\r\n".to_vec(),
        big,
    ]
}

#[derive(Debug)]
struct Store {
    messages: Vec<Option<Vec<u8>>>,
    apop_digest: String,
    sessions: usize,
}

/// The test server: a tokio loop driving [`ServerSession`] over an in-memory maildrop.
struct TestServer {
    port: u16,
    store: Arc<Mutex<Store>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(apop_digest: String) -> Self {
        let store = Arc::new(Mutex::new(Store {
            messages: messages().into_iter().map(Some).collect(),
            apop_digest,
            sessions: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let listener = StdListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (st, sp) = (store.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let deadline = Instant::now() + Duration::from_mins(2);
                for _ in 0..200 {
                    if sp.load(Ordering::SeqCst) || Instant::now() > deadline {
                        break;
                    }
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
                    if let Ok(Ok((stream, _))) = accepted {
                        let st = st.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, st).await {
                                eprintln!("test server session: {e}");
                            }
                        });
                    }
                }
            });
        });
        Self {
            port,
            store,
            stop,
            thread: Some(thread),
        }
    }

    fn remaining(&self) -> usize {
        self.store.lock().unwrap().messages.iter().flatten().count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, store: Arc<Mutex<Store>>) -> std::io::Result<()> {
    let mut config = ServerConfig::default();
    config.apop_timestamp = Some(Text::lossy(TIMESTAMP));
    config.sasl_mechanisms = vec![Atom::new("PLAIN").unwrap()];
    config.implementation = Some(Text::lossy("mailwright-pop3-proto interop test"));
    config.expire = Some(None);
    let mut s = ServerSession::new(config);
    s.handle_timeout(Instant::now());
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 8192];
    // Message number index -> store index, fixed at login.
    let mut live: Vec<usize> = Vec::new();
    let listing = |live: &mut Vec<usize>| {
        let mut st = store.lock().unwrap();
        st.sessions += 1;
        let mut drop = Maildrop::default();
        live.clear();
        for (i, m) in st.messages.iter().enumerate() {
            if let Some(m) = m {
                live.push(i);
                drop.push(m.len() as u64, Uid::new(format!("msg-{i}")).unwrap());
            }
        }
        drop
    };
    for _ in 0..100_000 {
        while let Some(event) = s.poll_event() {
            match event {
                // USER/PASS and AUTH PLAIN alike: the session decodes PLAIN itself.
                ServerEvent::Login {
                    user,
                    password,
                    ticket,
                    ..
                } => {
                    if user == USER && password.expose() == PASSWORD.as_bytes() {
                        s.accept_login(ticket, listing(&mut live)).unwrap();
                    } else {
                        s.refuse_login(ticket, Refusal::BadCredentials).unwrap();
                    }
                }
                ServerEvent::Apop {
                    user,
                    digest,
                    ticket,
                    ..
                } => {
                    let expected = store.lock().unwrap().apop_digest.clone();
                    if user.as_str() == USER && digest.as_str() == expected {
                        s.accept_login(ticket, listing(&mut live)).unwrap();
                    } else {
                        s.refuse_login(ticket, Refusal::BadCredentials).unwrap();
                    }
                }
                ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
                    let data = store.lock().unwrap().messages[live[message.index()]].clone();
                    let Some(data) = data else {
                        s.refuse_message().unwrap();
                        continue;
                    };
                    let mut reader = Cursor::new(data);
                    loop {
                        let done = s
                            .send_message_from(&mut reader)
                            .map_err(std::io::Error::other)?;
                        while let Some(b) = s.poll_transmit() {
                            wr.write_all(&b).await?;
                        }
                        if done {
                            break;
                        }
                    }
                }
                ServerEvent::Update { deleted, ticket } => {
                    let mut st = store.lock().unwrap();
                    for d in deleted {
                        st.messages[live[d.message.index()]] = None;
                    }
                    s.update_done(ticket).unwrap();
                }
                _ => {}
            }
        }
        while let Some(b) = s.poll_transmit() {
            wr.write_all(&b).await?;
        }
        if s.is_closed() {
            return Ok(());
        }
        // Sleep until the session's next deadline (30 s at most in a test), then tell it the time.
        let wait = Duration::from_secs(30);
        let deadline = s.poll_timeout().map_or(wait, |t| {
            t.saturating_duration_since(Instant::now()).min(wait)
        });
        let Ok(read) = tokio::time::timeout(deadline, rd.read(&mut buf)).await else {
            s.handle_timeout(Instant::now());
            if s.poll_timeout().is_none() && !s.is_closed() {
                return Err(std::io::Error::other("client idle for 30 s"));
            }
            continue;
        };
        let n = read?;
        if n == 0 {
            return Ok(());
        }
        s.handle_input(Instant::now(), &buf[..n]);
    }
    Ok(())
}

fn md5_hex(python: &Path, input: &str) -> String {
    let out = Command::new(python)
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())",
            input,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

const POPLIB_SCRIPT: &str = r"
import poplib, sys
port, d = int(sys.argv[1]), sys.argv[2]
p = poplib.POP3('127.0.0.1', port, timeout=20)
assert p.getwelcome().startswith(b'+OK'), p.getwelcome()
caps = p.capa()
for c in ['TOP', 'UIDL', 'USER', 'SASL', 'PIPELINING', 'RESP-CODES', 'IMPLEMENTATION', 'EXPIRE']:
    assert c in caps, (c, caps)
assert caps['SASL'] == ['PLAIN'], caps
assert caps['EXPIRE'] == ['NEVER'], caps
p.apop('alice', 'secret')
count, size = p.stat()
expected = [open(f'{d}/exp{i}', 'rb').read() for i in range(1, 4)]
assert count == 3 and size == sum(map(len, expected)), (count, size)
uidl = p.uidl()[1]
assert uidl == [b'1 msg-0', b'2 msg-1', b'3 msg-2'], uidl
lst = p.list()[1]
assert lst == [f'{i + 1} {len(e)}'.encode() for i, e in enumerate(expected)], lst
assert p.uidl(2).startswith(b'+OK 2 msg-1'), p.uidl(2)
top = p.top(1, 2)[1]
head, body = expected[0].split(b'\r\n\r\n', 1)
assert top == head.split(b'\r\n') + [b''] + body.split(b'\r\n')[:2], top
for i in range(1, 4):
    lines = p.retr(i)[1]
    got = b'\r\n'.join(lines) + b'\r\n'
    assert got == expected[i - 1], (i, got[:200])
p.dele(2)
try:
    p.retr(2)
    raise SystemExit('RETR of a deleted message succeeded')
except poplib.error_proto as e:
    assert str(e).find('deleted') >= 0, e
p.rset()
assert p.stat()[0] == 3
p.dele(2)
p.quit()

q = poplib.POP3('127.0.0.1', port, timeout=20)
q.user('alice')
try:
    q.pass_('wrong')
    raise SystemExit('wrong password accepted')
except poplib.error_proto as e:
    assert str(e).find('[AUTH]') >= 0, e
q.user('alice')
q.pass_('secret')
assert q.stat()[0] == 2, q.stat()
assert q.uidl()[1] == [b'1 msg-0', b'2 msg-2']
q.quit()
print('poplib ok')
";

#[test]
fn python_poplib_fetches_from_our_server() {
    let Some(python) = peer::require_python_module("poplib", "python3") else {
        return;
    };
    let dir = TempDir::new("poplib");
    for (i, m) in messages().iter().enumerate() {
        std::fs::write(dir.path().join(format!("exp{}", i + 1)), m).unwrap();
    }
    let digest = md5_hex(&python, &format!("{TIMESTAMP}{PASSWORD}"));
    let server = TestServer::start(digest);
    let script = dir.path().join("client.py");
    std::fs::write(&script, POPLIB_SCRIPT).unwrap();
    let (ok, output) = run(
        Command::new(&python)
            .arg(&script)
            .arg(server.port.to_string())
            .arg(dir.path()),
        dir.path(),
        60,
    );
    assert!(ok, "poplib client failed:\n{output}");
    assert!(output.contains("poplib ok"));
    assert_eq!(
        server.remaining(),
        2,
        "DELE 2 then QUIT expunges one message"
    );
}

fn lf(m: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(m)
        .replace("\r\n", "\n")
        .into_bytes()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// All files under `dir` (one level of subdirectories), read whole.
fn files_under(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn check_delivered(delivered: &[Vec<u8>], output: &str) {
    assert_eq!(
        delivered.len(),
        3,
        "expected 3 messages delivered:\n{output}"
    );
    for (i, m) in messages().iter().enumerate() {
        let body = lf(m);
        // The peer adds trace headers at the top; everything we sent must follow unchanged.
        assert!(
            delivered
                .iter()
                .any(|d| contains(d, &body) || contains(d, m)),
            "message {} not delivered byte-exact:\n{output}",
            i + 1
        );
    }
}

#[test]
fn fetchmail_fetches_from_our_server() {
    let Some(fetchmail) = peer::require("fetchmail", "fetchmail") else {
        return;
    };
    let dir = TempDir::new("fetchmail");
    let server = TestServer::start(String::new());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll 127.0.0.1 with protocol POP3 service {port} auth password timeout 20\n\
             \x20 user \"{USER}\" there with password \"{PASSWORD}\" is \"root\" here\n\
             \x20 options fetchall no rewrite sslproto '' mda \"cat > {out}/msg.$$\"\n",
            port = server.port,
            out = out.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, output) = run(
        Command::new(fetchmail)
            .args(["--nodetach", "--nosyslog", "-v", "-f"])
            .arg(&rc)
            .arg("--pidfile")
            .arg(dir.path().join("fetchmail.pid"))
            .env("HOME", dir.path())
            .env("FETCHMAILHOME", dir.path()),
        dir.path(),
        60,
    );
    assert!(ok, "fetchmail failed:\n{output}");
    check_delivered(&files_under(&out), &output);
    assert_eq!(
        server.remaining(),
        0,
        "fetchmail deletes what it fetched:\n{output}"
    );
}

#[test]
fn getmail6_fetches_from_our_server() {
    let Some(getmail) = peer::require("getmail", "getmail6") else {
        return;
    };
    let Some(runuser) = peer::require("runuser", "util-linux") else {
        return;
    };
    let dir = TempDir::new("getmail");
    let server = TestServer::start(String::new());
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let rc = dir.path().join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {port}\n\
             username = {USER}\npassword = {PASSWORD}\n\n\
             [destination]\ntype = Maildir\npath = {maildir}/\n\n\
             [options]\nread_all = true\ndelete = true\nverbose = 2\n",
            port = server.port,
            maildir = maildir.display()
        ),
    )
    .unwrap();
    // getmail refuses to run as root: hand the directory to the `mail` user (uid 8) and run as it.
    let (ok, output) = run(
        Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(dir.path()),
        dir.path(),
        10,
    );
    assert!(ok, "chown failed: {output}");
    let (ok, output) = run(
        Command::new(runuser)
            .args(["-u", "mail", "--"])
            .arg(getmail)
            .arg("--getmaildir")
            .arg(dir.path())
            .arg("--rcfile")
            .arg(&rc),
        dir.path(),
        60,
    );
    assert!(ok, "getmail failed:\n{output}");
    check_delivered(&files_under(&maildir.join("new")), &output);
    assert_eq!(
        server.remaining(),
        0,
        "getmail deletes what it fetched:\n{output}"
    );
}

/// Drives the client machine over a socket until it has nothing left to do.
async fn client_round(
    stream: &mut tokio::net::TcpStream,
    c: &mut ClientSession,
    events: &mut Vec<ClientEvent>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        while let Some(b) = c.poll_transmit() {
            stream.write_all(&b).await.unwrap();
        }
        if c.is_closed() || (c.greeting().is_some() && !c.is_busy()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "client round timed out: {events:?}"
        );
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("server silent")
            .unwrap();
        if n == 0 {
            return;
        }
        c.handle_input(Instant::now(), &buf[..n]);
    }
}

fn free_port() -> u16 {
    StdListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn client_fetches_from_dovecot() {
    let Some(dovecot) = peer::require("dovecot", "dovecot-pop3d") else {
        return;
    };
    if !Path::new("/usr/lib/dovecot/pop3").exists() {
        peer::require("/usr/lib/dovecot/pop3", "dovecot-pop3d");
        return;
    }
    let dir = TempDir::new("dovecot");
    let d = dir.path();
    let home = d.join("home").join(USER);
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    // Maildir files hold LF line ends; Dovecot sends CRLF.
    let msgs = messages();
    for (i, m) in msgs.iter().enumerate() {
        let name = format!("17000000{i:02}.M{i}P1.mailwright:2,S");
        std::fs::write(maildir.join("cur").join(name), lf(m)).unwrap();
    }
    for sub in ["run", "state"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
    let port = free_port();
    let conf = d.join("dovecot.conf");
    let mut f = std::fs::File::create(&conf).unwrap();
    write!(
        f,
        "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
         listen = 127.0.0.1\nprotocols = pop3\nssl = no\ndisable_plaintext_auth = no\n\
         auth_mechanisms = plain login\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = uid=8 gid=8 home={d}/home/%n\n}}\n\
         mail_location = maildir:~/Maildir\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n",
        d = d.display()
    )
    .unwrap();
    drop(f);
    let (ok, output) = run(
        Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(d.join("home")),
        d,
        10,
    );
    assert!(ok, "chown: {output}");
    let child = Command::new(&dovecot)
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("dovecot.stderr")).unwrap())
        .spawn()
        .unwrap();
    let _guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        let log = std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default();
        let err = std::fs::read_to_string(d.join("dovecot.stderr")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "Dovecot did not listen:\n{log}\n{err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log_path = d.join("dovecot.log");
    rt.block_on(async move {
        let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        let mut c = ClientSession::new(ClientConfig::default());
        c.handle_timeout(Instant::now());
        let mut events = Vec::new();
        c.capa().unwrap();
        c.auth_plain(USER, PASSWORD.as_bytes()).unwrap();
        c.stat().unwrap();
        c.list(None).unwrap();
        c.uidl(None).unwrap();
        client_round(&mut stream, &mut c, &mut events).await;
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::LoggedIn(_))),
            "{events:?}\n{}",
            log()
        );
        let caps = events.iter().find_map(|e| match e {
            ClientEvent::Capabilities(c) => Some(c.clone()),
            _ => None,
        });
        let caps = caps.expect("CAPA answered");
        assert!(
            caps.contains(&mailwright_pop3_proto::Capability::Uidl),
            "{caps:?}"
        );
        assert!(
            caps.contains(&mailwright_pop3_proto::Capability::Pipelining),
            "{caps:?}"
        );
        let list = events.iter().find_map(|e| match e {
            ClientEvent::List(l) => Some(l.clone()),
            _ => None,
        });
        let list = list.unwrap();
        assert_eq!(list.len(), 3);
        let uidl = events.iter().find_map(|e| match e {
            ClientEvent::Uidl(l) => Some(l.clone()),
            _ => None,
        });
        let uidl = uidl.unwrap();
        let distinct: std::collections::HashSet<_> = uidl.iter().map(|u| u.uid.clone()).collect();
        assert_eq!(distinct.len(), 3);

        // Fetch everything; match messages by Subject since Dovecot orders by file name.
        events.clear();
        for i in 1..=3 {
            c.retr(MessageNumber::new(i).unwrap()).unwrap();
        }
        c.top(MessageNumber::new(1).unwrap(), 0).unwrap();
        c.dele(MessageNumber::new(1).unwrap()).unwrap();
        c.quit().unwrap();
        client_round(&mut stream, &mut c, &mut events).await;
        let mut fetched: Vec<Vec<u8>> = Vec::new();
        for e in &events {
            match e {
                ClientEvent::MessageStart { .. } => fetched.push(Vec::new()),
                ClientEvent::MessageData(b) => fetched.last_mut().unwrap().extend_from_slice(b),
                _ => {}
            }
        }
        assert_eq!(fetched.len(), 4, "{events:?}");
        for (got, size) in fetched.iter().zip(&list) {
            assert_eq!(got.len() as u64, size.size, "LIST size matches RETR octets");
        }
        for m in &msgs {
            assert!(
                fetched[..3].iter().any(|f| f == m),
                "a message came back altered"
            );
        }
        assert!(
            fetched[3].ends_with(b"\r\n\r\n") && fetched[0].starts_with(&fetched[3]),
            "TOP n 0"
        );
        assert_eq!(events.last(), Some(&ClientEvent::Closed), "{events:?}");
    });
    // DELE 1 + QUIT removed exactly one file.
    let left = std::fs::read_dir(maildir.join("cur")).unwrap().count()
        + std::fs::read_dir(maildir.join("new")).unwrap().count();
    assert_eq!(left, 2);
}

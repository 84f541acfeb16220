//! Interop with real peers: a tiny tokio server on the crate's server machine takes mail from
//! Python's smtplib and swaks; the client machine delivers to Postfix's smtp-sink and to Dovecot LMTP.
//! Everything binds 127.0.0.1 on ephemeral ports; every wait is bounded.

#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwright_smtp_proto::server::Event;
use mailwright_smtp_proto::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone)]
struct Received {
    from: String,
    rcpts: Vec<String>,
    body: Vec<u8>,
    user: Option<String>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// Serves connections with the server machine until the test ends; the recipient `nobody` is
/// refused, credentials are good when the password is `secret`. STARTTLS runs with `tls`.
async fn start_server(config: ServerConfig) -> (SocketAddr, Inbox) {
    start_tls_server(config, None).await
}

async fn start_tls_server(config: ServerConfig, tls: Option<TlsAcceptor>) -> (SocketAddr, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inbox: Inbox = Arc::default();
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        for _ in 0..100 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (config, inbox, tls) = (config.clone(), inbox2.clone(), tls.clone());
            tokio::spawn(async move {
                let _ = timeout(WAIT, serve(stream, config, inbox, tls)).await;
            });
        }
    });
    (addr, inbox)
}

#[derive(Default)]
struct Conn {
    cur: Received,
    user: Option<String>,
}

async fn serve(
    mut stream: TcpStream,
    config: ServerConfig,
    inbox: Inbox,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let mut s = ServerSession::new(config);
    let mut conn = Conn::default();
    if serve_loop(&mut stream, &mut s, &mut conn, &inbox).await? {
        let acceptor = tls.expect("STARTTLS offered without a TLS config");
        let mut stream = acceptor.accept(stream).await?;
        s.handle_tls_established().unwrap();
        serve_loop(&mut stream, &mut s, &mut conn, &inbox).await?;
    }
    Ok(())
}

/// The driver loop; returns `true` when the client asked for STARTTLS (the 220 is flushed).
async fn serve_loop(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    s: &mut ServerSession,
    conn: &mut Conn,
    inbox: &Inbox,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 16384];
    for _ in 0..100_000 {
        let mut starttls = false;
        while let Some(e) = s.poll_event() {
            let decided = match e {
                Event::Mail { from, .. } => {
                    conn.cur = Received {
                        from: from.to_string(),
                        user: conn.user.clone(),
                        ..Received::default()
                    };
                    s.accept()
                }
                Event::Rcpt { to, .. } if to.to_string().starts_with("<nobody@") => s.reject(
                    Reply::new(550, EnhancedCode::new(5, 1, 1).ok(), "No such user").unwrap(),
                ),
                Event::Rcpt { to, .. } => {
                    conn.cur.rcpts.push(to.to_string());
                    s.accept()
                }
                Event::DataChunk(c) => {
                    conn.cur.body.extend_from_slice(&c);
                    Ok(())
                }
                Event::DataEnd => {
                    inbox.lock().unwrap().push(std::mem::take(&mut conn.cur));
                    s.accept()
                }
                Event::AuthCredentials {
                    username, password, ..
                } if password.expose() == "secret" => {
                    conn.user = Some(username);
                    s.accept()
                }
                Event::AuthCredentials { .. } => s.reject(
                    Reply::new(535, EnhancedCode::new(5, 7, 8).ok(), "Bad credentials").unwrap(),
                ),
                Event::StartTls { discarded } => {
                    assert_eq!(discarded, 0);
                    starttls = true;
                    Ok(())
                }
                e if e.needs_decision() => s.accept(),
                _ => Ok(()),
            };
            decided.unwrap();
        }
        while let Some(b) = s.poll_transmit() {
            stream.write_all(&b).await?;
        }
        stream.flush().await?;
        if starttls {
            return Ok(true);
        }
        if s.is_closed() {
            return Ok(false);
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        s.handle_input(Instant::now(), &buf[..n]);
    }
    Ok(false)
}

/// Runs a program to completion off the async threads, bounded in time.
async fn run(program: &Path, args: Vec<String>) -> std::process::Output {
    let program = program.to_owned();
    let child = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn")
    });
    timeout(WAIT, child).await.expect("peer timed out").unwrap()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SMTPLIB_SCRIPT: &str = r"
import smtplib, sys
port = int(sys.argv[1])
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
s.ehlo('client.example')
assert s.has_extn('pipelining') and s.has_extn('smtputf8') and s.has_extn('chunking'), s.esmtp_features
s.login('user', 'secret')
refused = s.sendmail('a@example.com', ['b@example.org', 'nobody@example.org'], b'Subject: one\r\n\r\nbody\r\n.leading dot\r\n')
assert list(refused) == ['nobody@example.org'], refused
s.sendmail('\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a', ['b@example.org'], 'Subject: utf8\r\n\r\nh\u00e9\r\n'.encode(), mail_options=['SMTPUTF8', 'BODY=8BITMIME'])
# BDAT is not in smtplib: raw commands.
assert s.docmd('MAIL FROM:<c@example.com>')[0] == 250
assert s.docmd('RCPT TO:<d@example.org>')[0] == 250
s.send(b'BDAT 6\r\nchunk1BDAT 6 LAST\r\nchunk2')
assert s.getreply()[0] == 250
code, msg = s.getreply()
assert code == 250, (code, msg)
s.quit()
# AUTH LOGIN, and a refused password.
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
s.ehlo('client.example')
s.user, s.password = 'user2', 'secret'
code, _ = s.auth('LOGIN', s.auth_login, initial_response_ok=False)
assert code == 235, code
s.quit()
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
try:
    s.login('user', 'wrong')
    raise SystemExit('login should fail')
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535
s.quit()
print('ok')
";

#[tokio::test]
async fn python_smtplib_submission() {
    let Some(python) = peer::require("python3", "python3") else {
        return;
    };
    let mut config = ServerConfig::new(Mode::Submission, "submit.example.org");
    config.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
    config.extensions.auth_requires_tls = false;
    let (addr, inbox) = start_server(config).await;
    let out = run(
        &python,
        vec!["-c".into(), SMTPLIB_SCRIPT.into(), addr.port().to_string()],
    )
    .await;
    assert!(
        out.status.success(),
        "smtplib failed: {}\n{}",
        lossy(&out.stdout),
        lossy(&out.stderr)
    );
    let inbox = inbox.lock().unwrap();
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert_eq!(inbox[0].rcpts, ["<b@example.org>"]);
    assert_eq!(inbox[0].user.as_deref(), Some("user"));
    assert!(
        inbox[0].body.ends_with(b"body\r\n.leading dot\r\n"),
        "{:?}",
        lossy(&inbox[0].body)
    );
    assert_eq!(inbox[1].from, "<用户@例子.广告>");
    assert!(lossy(&inbox[1].body).contains("hé"));
    assert_eq!(inbox[2].body, b"chunk1chunk2");
}

fn swaks_args(addr: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--server",
        "127.0.0.1",
        "--port",
        &addr.port().to_string(),
        "--from",
        "a@example.com",
        "--to",
        "b@example.org,c@example.org",
        "--helo",
        "swaks.example",
        "--timeout",
        "10",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

#[tokio::test]
async fn swaks_pipelining_auth_and_lmtp() {
    let Some(swaks) = peer::require("swaks", "swaks") else {
        return;
    };
    let mut config = ServerConfig::new(Mode::Smtp, "mx.example.org");
    config.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
    config.extensions.auth_requires_tls = false;
    let (addr, inbox) = start_server(config).await;
    // Strict RFC 2920 checks are on: swaks' pipelined group must pass them.
    let out = run(&swaks, swaks_args(addr, &["--pipeline"])).await;
    assert!(out.status.success(), "{}", lossy(&out.stdout));
    assert!(
        !lossy(&out.stdout).contains("<** "),
        "{}",
        lossy(&out.stdout)
    );
    for mech in ["PLAIN", "LOGIN"] {
        let out = run(
            &swaks,
            swaks_args(
                addr,
                &[
                    "--auth",
                    mech,
                    "--auth-user",
                    "u",
                    "--auth-password",
                    "secret",
                ],
            ),
        )
        .await;
        assert!(out.status.success(), "{mech}: {}", lossy(&out.stdout));
    }
    let out = run(
        &swaks,
        swaks_args(
            addr,
            &[
                "--auth",
                "PLAIN",
                "--auth-user",
                "u",
                "--auth-password",
                "bad",
            ],
        ),
    )
    .await;
    assert!(!out.status.success());
    {
        let inbox = inbox.lock().unwrap();
        assert_eq!(inbox.len(), 3, "{inbox:?}");
        assert_eq!(inbox[0].rcpts.len(), 2);
        assert_eq!(inbox[1].user.as_deref(), Some("u"));
    }

    let mut lmtp = ServerConfig::new(Mode::Lmtp, "lmtp.example.org");
    lmtp.strict_pipelining = true;
    let (addr, inbox) = start_server(lmtp).await;
    let out = run(
        &swaks,
        swaks_args(
            addr,
            &[
                "--protocol",
                "LMTP",
                "--to",
                "b@example.org,nobody@example.org,c@example.org",
            ],
        ),
    )
    .await;
    let text = lossy(&out.stdout);
    // swaks reports a partial failure; the per-recipient replies must be there in order.
    assert!(
        text.contains("<-  250 2.1.5") && text.contains("<** 550 5.1.1"),
        "{text}"
    );
    let inbox = inbox.lock().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].rcpts, ["<b@example.org>", "<c@example.org>"]);
}

/// Drives the client machine over a socket.
async fn deliver(
    addr: SocketAddr,
    config: ClientConfig,
    envelope: Envelope,
    body: &'static [u8],
) -> Result<TransactionResult, String> {
    let mut stream = timeout(WAIT, TcpStream::connect(addr))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut c = ClientSession::new(config);
    let mut envelope = Some(envelope);
    let mut result = None;
    let mut buf = vec![0u8; 16384];
    for _ in 0..10_000 {
        while let Some(e) = c.poll_event() {
            match e {
                ClientEvent::Ready(_) => {
                    if let Some(env) = envelope.take() {
                        c.send_message(env, body).map_err(|e| e.to_string())?;
                    }
                }
                ClientEvent::Sent(r) => {
                    result = Some(r);
                    c.quit().map_err(|e| e.to_string())?;
                }
                ClientEvent::Closed => return result.ok_or_else(|| "closed without result".into()),
                ClientEvent::Failed(e) => return Err(e.to_string()),
                e => return Err(format!("unexpected {e:?}")),
            }
        }
        while let Some(b) = c.poll_transmit() {
            stream.write_all(&b).await.map_err(|e| e.to_string())?;
        }
        let n = timeout(WAIT, stream.read(&mut buf))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return result.ok_or_else(|| "EOF".into());
        }
        c.handle_input(Instant::now(), &buf[..n]);
    }
    Err("too many rounds".into())
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("peer never listened on {port}");
}

fn mb(s: &str) -> Mailbox {
    Mailbox::try_from(s).unwrap()
}

#[tokio::test]
async fn client_delivers_to_postfix_smtp_sink() {
    let Some(sink) = peer::require("smtp-sink", "postfix") else {
        return;
    };
    for lmtp in [false, true] {
        let port = free_port();
        let mut cmd = Command::new(&sink);
        if lmtp {
            cmd.arg("-L");
        }
        cmd.args(["-u", "nobody", &format!("127.0.0.1:{port}"), "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _guard = Daemon(cmd.spawn().expect("smtp-sink"));
        wait_for_port(port).await;
        let mode = if lmtp { Mode::Lmtp } else { Mode::Smtp };
        let config = ClientConfig::new(mode, Host::try_from("client.example").unwrap());
        let env = Envelope::new(
            ReversePath::Mailbox(mb("a@example.com")),
            [
                ForwardPath::Mailbox(mb("b@example.org")),
                ForwardPath::Mailbox(mb("c@example.org")),
            ],
        );
        let r = deliver(
            SocketAddr::from(([127, 0, 0, 1], port)),
            config,
            env,
            b"Subject: x\r\n\r\n.dot\r\nbody\n",
        )
        .await
        .unwrap();
        assert!(r.delivered(), "{r:?}");
        assert_eq!(r.rcpts.len(), 2);
        assert_eq!(r.data.len(), if lmtp { 2 } else { 1 }, "{r:?}");
    }
}

#[tokio::test]
async fn client_delivers_to_dovecot_lmtp() {
    let Some(dovecot) = peer::require("dovecot", "dovecot-core") else {
        return;
    };
    if peer::find("/usr/lib/dovecot/lmtp").is_none() && !Path::new("/usr/lib/dovecot/lmtp").exists()
    {
        assert!(!peer::in_ci(), "dovecot-lmtpd missing under CI=true");
        eprintln!("SKIP: install dovecot-lmtpd");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-smtp-dovecot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    // The `mail` user (uid 8) owns the mail root; Dovecot delivers as it.
    let _ = Command::new("chown")
        .args(["-R", "8:8", mail.to_str().unwrap()])
        .status();
    std::fs::write(dir.join("passwd"), "bob@example.org:{PLAIN}secret::::::\n").unwrap();
    let conf = format!(
        r"
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
listen = 127.0.0.1
protocols = lmtp
ssl = no
mail_location = maildir:{d}/mail/%d/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid=8 gid=8 home={d}/mail/%d/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
first_valid_uid = 8
",
        d = dir.display()
    );
    std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
    let child = Command::new(&dovecot)
        .args(["-F", "-c", dir.join("dovecot.conf").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dovecot");
    let guard = Daemon(child);
    wait_for_port(port).await;
    let config = ClientConfig::new(Mode::Lmtp, Host::try_from("client.example").unwrap());
    let env = Envelope::new(
        ReversePath::Mailbox(mb("a@example.com")),
        [
            ForwardPath::Mailbox(mb("bob@example.org")),
            ForwardPath::Mailbox(mb("nobody@example.org")),
        ],
    );
    let r = deliver(
        SocketAddr::from(([127, 0, 0, 1], port)),
        config,
        env,
        b"Subject: via lmtp\r\n\r\n..hello\r\n",
    )
    .await
    .unwrap();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert_eq!(r.rcpts.len(), 2, "{r:?}\n{log}");
    assert!(
        r.rcpts[0].is_positive() && !r.rcpts[1].is_positive(),
        "{r:?}\n{log}"
    );
    assert_eq!(r.data.len(), 1, "{r:?}");
    assert!(r.delivered(), "{r:?}\n{log}");
    let new: PathBuf = mail.join("example.org/bob/Maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
    let content = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    assert!(
        lossy(&content).contains("Subject: via lmtp") && lossy(&content).contains("\n..hello\n"),
        "{}",
        lossy(&content)
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

fn test_tls_acceptor() -> TlsAcceptor {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key.into())
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn swaks_starttls_then_auth() {
    let Some(swaks) = peer::require("swaks", "swaks") else {
        return;
    };
    let has_ssl = Command::new("perl")
        .args(["-MNet::SSLeay", "-e1"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ssl {
        assert!(
            !peer::in_ci(),
            "Net::SSLeay missing under CI=true: install libnet-ssleay-perl"
        );
        eprintln!("SKIP: install libnet-ssleay-perl for swaks --tls");
        return;
    }
    let mut config = ServerConfig::new(Mode::Submission, "submit.example.org");
    config.extensions.starttls = true;
    config.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
    let (addr, inbox) = start_tls_server(config, Some(test_tls_acceptor())).await;
    // AUTH is offered only after STARTTLS.
    let out = run(
        &swaks,
        swaks_args(
            addr,
            &[
                "--auth",
                "PLAIN",
                "--auth-user",
                "u",
                "--auth-password",
                "secret",
            ],
        ),
    )
    .await;
    assert!(!out.status.success(), "{}", lossy(&out.stdout));
    let out = run(
        &swaks,
        swaks_args(
            addr,
            &[
                "--tls",
                "--auth",
                "PLAIN",
                "--auth-user",
                "u",
                "--auth-password",
                "secret",
            ],
        ),
    )
    .await;
    let text = lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", lossy(&out.stderr));
    assert!(
        text.contains("220 2.0.0 Ready to start TLS") && text.contains("235 2.7.0"),
        "{text}"
    );
    let inbox = inbox.lock().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].user.as_deref(), Some("u"));
}

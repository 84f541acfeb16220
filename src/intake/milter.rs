//! Mail filters over the milter protocol (`[[milter]]`): the I/O driver of
//! `mailwright-milter`'s [`ClientSession`], one connection per filter and SMTP session.
//!
//! - A filter's connection opens at the session's first `MAIL` (connect and HELO information
//!   go first), is kept for the session's later transactions (`SMFIC_ABORT` between them) and
//!   ends with `SMFIC_QUIT`.
//! - `MAIL` and each `RCPT` are asked as they come, so a filter refuses them in the SMTP
//!   session; the header fields, the body and the end of the message go at the end of data,
//!   where its modifications are applied to the spooled message and the recipients.
//! - Macros as Postfix sends them: `j`, `{daemon_name}`, `v`, `_`, `{client_addr}`,
//!   `{client_port}`, `{client_name}`, `{client_ptr}` at connect; `{tls_version}`, `{cipher}` at
//!   HELO; `i`, `{auth_type}`, `{auth_authen}`, `{mail_addr}`, `{mail_host}`, `{mail_mailer}` at
//!   MAIL; `{rcpt_addr}`, `{rcpt_host}`, `{rcpt_mailer}` at RCPT; `i` at DATA and end of message.
//! - A filter that cannot be reached, times out or breaks the protocol is `on_failure`:
//!   skipped for the session (`accept`) or `451 4.7.1` (`tempfail`), as Postfix's
//!   `milter_default_action`.

use std::io;
use std::path::Path;
use std::time::Instant;

use mailwright_milter::{
    Actions, Address as MilterAddress, ClientConfig, ClientEvent, ClientSession, Command, Response,
    Sent,
};
use mailwright_sansio::Machine;
use mailwright_smtp_proto::server::{HeloKind, Mode};
use mailwright_smtp_proto::{Host, Reply, ReversePath};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::core::Core;
use crate::core::config::{Config, Milter, MilterFailure, MilterSocket};
use crate::core::directory::Address;
use crate::core::net::Peer;
use crate::core::smtp_reply as reply;
use crate::store::Spool;

/// The modifications offered to filters: all but changing the envelope sender.
const OFFERED: Actions = Actions(
    Actions::ADD_HEADERS.0
        | Actions::CHANGE_BODY.0
        | Actions::ADD_RCPT.0
        | Actions::DELETE_RCPT.0
        | Actions::CHANGE_HEADERS.0
        | Actions::QUARANTINE.0
        | Actions::ADD_RCPT_PAR.0
        | Actions::SET_SYMLIST.0,
);

/// What the SMTP session knows that filters are told.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The core (host name, data directory).
    pub core: &'a Core,
    /// The client.
    pub peer: Peer,
    /// The client's greeting.
    pub helo: Option<&'a (HeloKind, Host)>,
    /// The authenticated user (submission).
    pub user: Option<&'a Address>,
    /// Whether TLS is active.
    pub tls: bool,
}

/// The filters' answer to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Go on.
    Continue,
    /// Refuse the command (or the message) with this reply.
    Refuse(Reply),
    /// Accept the message and drop it.
    Discard,
}

/// What the filters made of a whole message, their modifications already applied to the spool.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Refuse the message with this reply.
    pub refusal: Option<Reply>,
    /// Accept the message and drop it.
    pub discard: bool,
    /// A filter quarantined it, with this reason.
    pub quarantine: Option<String>,
    /// A filter marked it as spam: it set `X-Spam-Flag: YES` (SpamAssassin) or `X-Spam: Yes`
    /// (rspamd). A mark the client wrote itself does not count.
    pub spam: bool,
    /// Recipients added (`<addr>` as the filter gave them).
    pub add_rcpts: Vec<String>,
    /// Recipients deleted.
    pub delete_rcpts: Vec<String>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not connected yet (connects at the first MAIL).
    Idle,
    /// Talking.
    Active,
    /// Accepted the rest of this message: asked again at the next MAIL.
    AcceptedMessage,
    /// Accepted the connection, or skipped after a failure with `on_failure = "accept"`.
    Done,
    /// Failed with `on_failure = "tempfail"`: every transaction gets `451 4.7.1`.
    Failed,
}

struct Filter {
    config: Milter,
    state: State,
    io: Option<Io>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("name", &self.config.label())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The filters of one SMTP session.
#[derive(Debug)]
pub struct Milters {
    filters: Vec<Filter>,
    /// A refusal of the connection (at connect or HELO) answers every later MAIL.
    refusal: Option<Reply>,
    /// A transaction was started with the filters (an abort is due before the next).
    in_message: bool,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn tempfail() -> Reply {
    reply(451, (4, 7, 1), "Service unavailable - try again later")
}

/// The reply for a filter's verdict, or `None` for one that lets the step go on.
fn refusal(response: &Response) -> Option<Step> {
    Some(match response {
        Response::Reject => Step::Refuse(reply(550, (5, 7, 1), "Command rejected")),
        Response::Tempfail | Response::ConnectionFail | Response::Shutdown => {
            Step::Refuse(tempfail())
        }
        Response::ReplyCode(text) => Step::Refuse(parse_reply(text)),
        Response::Discard => Step::Discard,
        _ => return None,
    })
}

/// A filter's `SMFIR_REPLYCODE` text (`550 5.7.1 Blocked by SpamAssassin`, or several lines
/// `550-...\r\n550 ...`) as a reply; the enhanced code is optional.
fn parse_reply(text: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(text);
    let code: u16 = text.get(..3).and_then(|c| c.parse().ok()).unwrap_or(451);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .map(|l| l.get(4..).unwrap_or(""))
        .collect();
    let mut rest = lines.join(" ");
    let mut enhanced = if code >= 500 { (5, 7, 1) } else { (4, 7, 1) };
    if let Some((first, after)) = rest.split_once(' ')
        && let [a, b, c] = first.split('.').collect::<Vec<_>>()[..]
        && let (Ok(a), Ok(b), Ok(c)) = (a.parse(), b.parse(), c.parse())
    {
        enhanced = (a, b, c);
        rest = after.to_owned();
    }
    let fallback = if code >= 500 { 550 } else { 451 };
    let code = if (400..600).contains(&code) {
        code
    } else {
        fallback
    };
    reply(code, enhanced, rest.trim())
}

impl Milters {
    /// The filters that apply to a session in `mode`, or `None` when none does.
    pub fn for_session(config: &Config, mode: Mode) -> Option<Self> {
        let filters: Vec<Filter> = config
            .milter
            .iter()
            .filter(|m| mode == Mode::Smtp || (mode == Mode::Submission && m.submission))
            .map(|m| Filter {
                config: m.clone(),
                state: State::Idle,
                io: None,
            })
            .collect();
        (!filters.is_empty()).then_some(Self {
            filters,
            refusal: None,
            in_message: false,
        })
    }

    /// A filter failed: log it, and skip or tempfail as configured.
    fn failed(filter: &mut Filter, why: &str) -> Step {
        filter.io = None;
        match filter.config.on_failure {
            MilterFailure::Accept => {
                warn!(
                    milter = filter.config.label(),
                    "milter failed, skipped for this session: {why}"
                );
                filter.state = State::Done;
                Step::Continue
            }
            MilterFailure::Tempfail => {
                warn!(
                    milter = filter.config.label(),
                    "milter failed, mail refused for now: {why}"
                );
                filter.state = State::Failed;
                Step::Refuse(tempfail())
            }
        }
    }

    /// `MAIL`: opens the connections the first time (connect and HELO go first), then asks
    /// about the sender. `id` is the queue id the message will get (macro `i`).
    pub async fn mail(&mut self, ctx: &Context<'_>, from: &ReversePath, id: &str) -> Step {
        if self.in_message {
            self.abort().await;
        }
        if let Some(r) = &self.refusal {
            return Step::Refuse(r.clone());
        }
        self.in_message = true;
        for filter in &mut self.filters {
            if filter.state == State::AcceptedMessage {
                filter.state = State::Active;
            }
            if filter.state == State::Failed {
                return Step::Refuse(tempfail());
            }
            if filter.state == State::Idle {
                match open(filter, ctx).await {
                    // Accepted the connection: nothing more for this filter.
                    Ok(Some(Step::Continue)) => {
                        filter.state = State::Done;
                        continue;
                    }
                    Ok(Some(step)) => {
                        if let Step::Refuse(r) = &step {
                            self.refusal = Some(r.clone());
                        }
                        filter.state = State::Done;
                        return step;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let step = Self::failed(filter, &e);
                        if step != Step::Continue {
                            return step;
                        }
                    }
                }
            }
            if filter.state != State::Active {
                continue;
            }
            let (addr, host) = match from {
                ReversePath::Null => (String::new(), String::new()),
                ReversePath::Mailbox(m) => (m.to_string(), m.host.to_string()),
            };
            let auth = ctx.user.map(ToString::to_string);
            let mut macros = vec![
                ("i", id.to_owned()),
                ("{mail_addr}", addr),
                ("{mail_host}", host),
                ("{mail_mailer}", "smtp".to_owned()),
            ];
            if let Some(user) = auth {
                macros.push(("{auth_type}", "PLAIN".to_owned()));
                macros.push(("{auth_authen}", user));
            }
            let steps = [
                macro_command(b'M', &macros),
                Command::Mail(vec![from.to_string().into_bytes()]),
            ];
            match ask(filter, steps).await {
                Ok(step) if step != Step::Continue => return step,
                Ok(_) => {}
                Err(e) => {
                    let step = Self::failed(filter, &e);
                    if step != Step::Continue {
                        return step;
                    }
                }
            }
        }
        Step::Continue
    }

    /// `RCPT`: asks about one recipient (`<addr>`).
    pub async fn rcpt(&mut self, to: &str) -> Step {
        for filter in &mut self.filters {
            if filter.state != State::Active {
                continue;
            }
            let bare = to.trim_start_matches('<').trim_end_matches('>');
            let host = bare.rsplit_once('@').map_or("", |(_, h)| h);
            let macros = [
                ("{rcpt_addr}", bare.to_owned()),
                ("{rcpt_host}", host.to_owned()),
                ("{rcpt_mailer}", "local".to_owned()),
            ];
            let steps = [
                macro_command(b'R', &macros),
                Command::Rcpt(vec![to.as_bytes().to_vec()]),
            ];
            match ask(filter, steps).await {
                Ok(step) if step != Step::Continue => return step,
                Ok(_) => {}
                Err(e) => {
                    let step = Self::failed(filter, &e);
                    if step != Step::Continue {
                        return step;
                    }
                }
            }
        }
        Step::Continue
    }

    /// The end of data: DATA, the header fields, the body and the end of the message go to each
    /// filter in turn; each one's modifications are applied before the next one sees the message.
    /// The spool is replaced when anything changed.
    pub async fn end_of_data(&mut self, spool: &mut Spool, id: &str) -> Verdict {
        let mut verdict = Verdict::default();
        if !self.filters.iter().any(|f| f.state == State::Active) {
            return verdict;
        }
        let read = if spool.on_disk() {
            crate::core::blocking(|| read_spool(spool))
        } else {
            read_spool(spool)
        };
        let mut message = match read {
            Ok(bytes) => Message::parse(&bytes),
            Err(e) => {
                warn!("cannot read the spooled message for the milters: {e}");
                verdict.refusal = Some(reply(451, (4, 3, 0), "Local error in processing"));
                return verdict;
            }
        };
        let mut changed = false;
        // The filters that saw the end of the message; the others are told to abort it.
        let mut ended = vec![false; self.filters.len()];
        for (i, filter) in self.filters.iter_mut().enumerate() {
            if filter.state != State::Active {
                continue;
            }
            match message_steps(filter, &message, id).await {
                Ok((step, mods, eom)) => {
                    ended[i] = eom;
                    for m in mods {
                        changed |= message.apply(&m, &mut verdict);
                    }
                    match step {
                        Step::Continue => {}
                        Step::Refuse(r) => {
                            verdict.refusal = Some(r);
                            break;
                        }
                        Step::Discard => {
                            verdict.discard = true;
                            break;
                        }
                    }
                }
                Err(e) => {
                    if let Step::Refuse(r) = Self::failed(filter, &e) {
                        verdict.refusal = Some(r);
                        break;
                    }
                }
            }
        }
        self.in_message = false;
        for (filter, ended) in self.filters.iter_mut().zip(ended) {
            if matches!(filter.state, State::Active | State::AcceptedMessage) {
                filter.state = State::Active;
                if !ended && let Err(e) = ask(filter, [Command::Abort]).await {
                    Self::failed(filter, &e);
                }
            }
        }
        if changed && verdict.refusal.is_none() && !verdict.discard {
            let bytes = message.to_bytes();
            let mut new = Spool::new(spool.dir());
            let written = if new.stays_in_memory(bytes.len()) {
                new.write(&bytes)
            } else {
                crate::core::blocking(|| new.write(&bytes))
            };
            match written {
                Ok(()) => *spool = new,
                Err(e) => {
                    warn!("cannot write the filtered message: {e}");
                    verdict.refusal = Some(reply(451, (4, 3, 0), "Local error in processing"));
                }
            }
        }
        verdict
    }

    /// The transaction ended without a message (RSET, a new MAIL, an aborted DATA).
    pub async fn abort(&mut self) {
        if !std::mem::take(&mut self.in_message) {
            return;
        }
        for filter in &mut self.filters {
            if matches!(filter.state, State::Active | State::AcceptedMessage) {
                filter.state = State::Active;
                if let Err(e) = ask(filter, [Command::Abort]).await {
                    Self::failed(filter, &e);
                }
            }
        }
    }

    /// The SMTP session ends: each open connection gets `SMFIC_QUIT`.
    pub async fn quit(&mut self) {
        for filter in &mut self.filters {
            if let Some(io) = &mut filter.io {
                let _ = io.send(Command::Quit).await;
            }
            filter.io = None;
        }
    }
}

fn macro_command(code: u8, macros: &[(&str, String)]) -> Command {
    Command::Macro {
        code,
        macros: macros
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.replace('\0', "").into_bytes()))
            .collect(),
    }
}

/// Connects, negotiates, and sends the connection and HELO information. `Some` when the filter
/// already decided (accepted or refused the connection).
async fn open(filter: &mut Filter, ctx: &Context<'_>) -> Result<Option<Step>, String> {
    let io = Io::connect(&filter.config, &ctx.core.data_dir).await?;
    filter.io = Some(io);
    filter.state = State::Active;
    let core = ctx.core;
    let host = &core.config.hostname;
    let (client_addr, client_port, hostname, address) = match ctx.peer.addr {
        Some(a) => (
            a.ip().to_string(),
            a.port().to_string(),
            format!("[{}]", a.ip()),
            MilterAddress::ip(a.ip(), a.port()),
        ),
        None => (
            "127.0.0.1".to_owned(),
            "0".to_owned(),
            "localhost".to_owned(),
            MilterAddress::Unknown,
        ),
    };
    let connect_macros = [
        ("j", host.clone()),
        ("{daemon_name}", host.clone()),
        ("v", format!("Mailwright {}", env!("CARGO_PKG_VERSION"))),
        ("_", format!("{hostname} [{client_addr}]")),
        ("{client_addr}", client_addr.clone()),
        ("{client_port}", client_port),
        ("{client_name}", hostname.clone()),
        ("{client_ptr}", hostname.clone()),
    ];
    let step = ask(
        filter,
        [
            macro_command(b'C', &connect_macros),
            Command::Connect {
                hostname: hostname.into_bytes(),
                address,
            },
        ],
    )
    .await?;
    if step != Step::Continue || filter.state != State::Active {
        return Ok(Some(step));
    }
    let helo = ctx
        .helo
        .map_or_else(|| client_addr.clone(), |(_, h)| h.to_string());
    let mut helo_macros = Vec::new();
    if ctx.tls {
        helo_macros.push(("{tls_version}", "TLSv1.3".to_owned()));
    }
    let mut steps = Vec::new();
    if !helo_macros.is_empty() {
        steps.push(macro_command(b'H', &helo_macros));
    }
    steps.push(Command::Helo(helo.into_bytes()));
    let step = ask(filter, steps).await?;
    if step != Step::Continue || filter.state != State::Active {
        return Ok(Some(step));
    }
    Ok(None)
}

/// Sends `steps` in order; stops at the first verdict that is not "go on". `Accept` sets the
/// filter's state (message or connection) and reads as [`Step::Continue`].
async fn ask(
    filter: &mut Filter,
    steps: impl IntoIterator<Item = Command>,
) -> Result<Step, String> {
    let Some(io) = &mut filter.io else {
        return Ok(Step::Continue);
    };
    for cmd in steps {
        let connection_level = matches!(cmd, Command::Connect { .. } | Command::Helo(_));
        match io.exchange(cmd).await? {
            None | Some(Response::Continue | Response::Skip) => {}
            Some(Response::Accept) => {
                filter.state = if connection_level {
                    State::Done
                } else {
                    State::AcceptedMessage
                };
                return Ok(Step::Continue);
            }
            Some(other) => {
                if let Some(step) = refusal(&other) {
                    info!(milter = filter.config.label(), verdict = ?other, "milter verdict");
                    return Ok(step);
                }
            }
        }
    }
    Ok(Step::Continue)
}

/// DATA, header fields, end of header, body, end of message: the verdict and the modifications.
async fn message_steps(
    filter: &mut Filter,
    message: &Message,
    id: &str,
) -> Result<(Step, Vec<Response>, bool), String> {
    let data = [macro_command(b'T', &[("i", id.to_owned())]), Command::Data];
    let step = ask(filter, data).await?;
    if step != Step::Continue || filter.state != State::Active {
        return Ok((step, Vec::new(), false));
    }
    let mut headers: Vec<Command> = Vec::with_capacity(message.fields.len() + 1);
    for f in &message.fields {
        // A NUL (which SMTP data may carry) would end the C string: the filter gets a space.
        let no_nul = |mut v: Vec<u8>| {
            v.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b' ');
            v
        };
        headers.push(Command::Header {
            name: no_nul(f.name.clone()),
            value: no_nul(f.value_crlf()),
        });
    }
    headers.push(Command::EndOfHeaders);
    let step = ask(filter, headers).await?;
    if step != Step::Continue || filter.state != State::Active {
        return Ok((step, Vec::new(), false));
    }
    let Some(io) = &mut filter.io else {
        return Ok((Step::Continue, Vec::new(), false));
    };
    let body = crlf(&message.body);
    for chunk in body.chunks(mailwright_milter::CHUNK_SIZE) {
        match io.exchange(Command::Body(chunk.to_vec())).await? {
            None | Some(Response::Continue) => {}
            Some(Response::Skip) => break,
            Some(Response::Accept) => {
                filter.state = State::AcceptedMessage;
                return Ok((Step::Continue, Vec::new(), false));
            }
            Some(other) => {
                if let Some(step) = refusal(&other) {
                    return Ok((step, Vec::new(), false));
                }
            }
        }
    }
    io.exchange(macro_command(b'E', &[("i", id.to_owned())]))
        .await?;
    let verdict = io.exchange(Command::EndOfMessage).await?;
    let mods = std::mem::take(&mut io.mods);
    let step = match &verdict {
        Some(r) => refusal(r).unwrap_or(Step::Continue),
        None => Step::Continue,
    };
    info!(milter = filter.config.label(), verdict = ?verdict, modifications = mods.len(), "milter end of message");
    Ok((step, mods, true))
}

fn read_spool(spool: &mut Spool) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(spool.len()).unwrap_or(0));
    spool.reader()?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// LF line ends to CRLF (the spool stores LF; the milter protocol carries SMTP's CRLF).
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// One connection to a filter.
struct Io {
    stream: Box<dyn Stream>,
    session: ClientSession,
    /// Modifications received since the last end of message.
    mods: Vec<Response>,
}

impl Io {
    async fn connect(config: &Milter, data_dir: &Path) -> Result<Self, String> {
        let endpoint = config.endpoint(data_dir).map_err(|e| e.to_string())?;
        let limit = std::time::Duration::from_secs(config.connect_timeout_secs);
        let connect = async {
            let stream: Box<dyn Stream> = match &endpoint {
                MilterSocket::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
                MilterSocket::Inet(host, port) => {
                    Box::new(tokio::net::TcpStream::connect((host.as_str(), *port)).await?)
                }
            };
            Ok::<_, io::Error>(stream)
        };
        let stream = tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut session = ClientSession::new(ClientConfig {
            actions: OFFERED,
            command_timeout: std::time::Duration::from_secs(config.command_timeout_secs),
            eom_timeout: std::time::Duration::from_secs(config.eom_timeout_secs),
            ..ClientConfig::default()
        });
        session.handle_timeout(now());
        let mut io = Self {
            stream,
            session,
            mods: Vec::new(),
        };
        io.flush().await?;
        match io.next_event().await? {
            ClientEvent::Negotiated(_) => Ok(io),
            other => Err(format!("unexpected {other:?} in the negotiation")),
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        self.stream.flush().await.map_err(|e| format!("write: {e}"))
    }

    async fn send(&mut self, cmd: Command) -> Result<Sent, String> {
        let sent = self
            .session
            .send(now(), cmd)
            .map_err(|e| format!("out of step: {e}"))?;
        self.flush().await?;
        Ok(sent)
    }

    /// Sends `cmd`; its verdict, or `None` when the filter gives none (or skips the step).
    /// Modifications before the verdict are kept in `mods`.
    async fn exchange(&mut self, cmd: Command) -> Result<Option<Response>, String> {
        if self.send(cmd).await? != Sent::AwaitReply {
            return Ok(None);
        }
        loop {
            match self.next_event().await? {
                ClientEvent::Reply(r) => return Ok(Some(r)),
                ClientEvent::Modification(m) => self.mods.push(m),
                other => return Err(format!("unexpected {other:?}")),
            }
        }
    }

    async fn next_event(&mut self) -> Result<ClientEvent, String> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(event) = self.session.poll_event() {
                if let ClientEvent::Failed(e) = event {
                    return Err(e.to_string());
                }
                return Ok(event);
            }
            if self.session.is_closed() {
                return Err("session closed".to_owned());
            }
            let read = self.stream.read(&mut buf);
            let result = match self.session.poll_timeout() {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), read).await.ok(),
                None => Some(read.await),
            };
            match result {
                None => self.session.handle_timeout(now()),
                Some(Ok(0)) => return Err("the filter closed the connection".to_owned()),
                Some(Ok(n)) => self.session.handle_input(now(), &buf[..n]),
                Some(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// One header field of the message: its name and its text after the colon, line ends LF,
/// octets as they came (8-bit header text is kept as is).
#[derive(Debug, Clone)]
struct Field {
    name: Vec<u8>,
    /// Everything after the colon, folded lines included, without the final LF.
    raw_value: Vec<u8>,
}

impl Field {
    /// The value as filters get it: without the space after the colon, folded with CRLF.
    fn value_crlf(&self) -> Vec<u8> {
        let v = self.raw_value.strip_prefix(b" ").unwrap_or(&self.raw_value);
        crlf(v)
    }
}

/// The message as filters see and change it.
#[derive(Debug)]
struct Message {
    fields: Vec<Field>,
    body: Vec<u8>,
    body_replaced: bool,
}

/// CRLF line ends to LF (a CR alone is kept), as the spool stores text.
fn lf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for (i, &b) in text.iter().enumerate() {
        if b == b'\r' && text.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

impl Message {
    /// Splits a spooled message (LF line ends) into its header fields and body.
    fn parse(bytes: &[u8]) -> Self {
        let mut fields: Vec<Field> = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| pos + i + 1);
            let line = &bytes[pos..end];
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if text.is_empty() || text == b"\r" {
                pos = end;
                break;
            }
            if (line[0] == b' ' || line[0] == b'\t')
                && let Some(last) = fields.last_mut()
            {
                last.raw_value.push(b'\n');
                last.raw_value.extend_from_slice(text);
                pos = end;
                continue;
            }
            match text.iter().position(|&b| b == b':') {
                Some(colon) if colon > 0 && !text[..colon].contains(&b' ') => {
                    fields.push(Field {
                        name: text[..colon].to_vec(),
                        raw_value: text[colon + 1..].to_vec(),
                    });
                }
                // Not a header field: the header has ended (the body starts here).
                _ => break,
            }
            pos = end;
        }
        Self {
            fields,
            body: bytes[pos.min(bytes.len())..].to_vec(),
            body_replaced: false,
        }
    }

    fn field(name: &[u8], value: &[u8]) -> Field {
        let mut raw_value = Vec::with_capacity(value.len() + 1);
        if !value.starts_with(b" ") && !value.starts_with(b"\t") {
            raw_value.push(b' ');
        }
        raw_value.extend(lf(value));
        Field {
            name: name.to_vec(),
            raw_value,
        }
    }

    /// Applies one modification; `true` when the message text changed.
    fn apply(&mut self, m: &Response, verdict: &mut Verdict) -> bool {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Response::AddHeader { name, value }
        | Response::InsertHeader { name, value, .. }
        | Response::ChangeHeader { name, value, .. } = m
            && is_spam_mark(name, value)
        {
            verdict.spam = true;
        }
        match m {
            Response::AddHeader { name, value } => {
                self.fields.push(Self::field(name, value));
                true
            }
            Response::InsertHeader { index, name, value } => {
                let at = (*index as usize).min(self.fields.len());
                self.fields.insert(at, Self::field(name, value));
                true
            }
            Response::ChangeHeader { index, name, value } => {
                let position = self
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.name.eq_ignore_ascii_case(name))
                    .nth((*index as usize).max(1) - 1)
                    .map(|(i, _)| i);
                match (position, value.is_empty()) {
                    (Some(i), true) => {
                        self.fields.remove(i);
                    }
                    (Some(i), false) => self.fields[i] = Self::field(name, value),
                    // Sendmail's rule: changing a field that is not there adds it.
                    (None, false) => self.fields.push(Self::field(name, value)),
                    (None, true) => return false,
                }
                true
            }
            Response::ReplaceBody(chunk) => {
                if !self.body_replaced {
                    self.body.clear();
                    self.body_replaced = true;
                }
                self.body.extend_from_slice(chunk);
                true
            }
            Response::AddRcpt(rcpt) | Response::AddRcptPar { rcpt, .. } => {
                verdict.add_rcpts.push(text(rcpt));
                false
            }
            Response::DeleteRcpt(rcpt) => {
                verdict.delete_rcpts.push(text(rcpt));
                false
            }
            Response::Quarantine(reason) => {
                verdict.quarantine = Some(text(reason));
                false
            }
            _ => false,
        }
    }

    /// The message with LF line ends, as the spool keeps it.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64 * self.fields.len());
        for f in &self.fields {
            out.extend_from_slice(&f.name);
            out.push(b':');
            out.extend_from_slice(&f.raw_value);
            out.push(b'\n');
        }
        out.push(b'\n');
        if self.body_replaced {
            out.extend(lf(&self.body));
        } else {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Whether a header field a filter set marks the message as spam: `X-Spam-Flag: YES`
/// (SpamAssassin) or `X-Spam: Yes` (rspamd's `spam_header`).
fn is_spam_mark(name: &[u8], value: &[u8]) -> bool {
    let value = String::from_utf8_lossy(value);
    let value = value.trim();
    (name.eq_ignore_ascii_case(b"X-Spam-Flag") || name.eq_ignore_ascii_case(b"X-Spam"))
        && (value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_from_filters() {
        let r = parse_reply(b"550 5.7.1 Blocked by SpamAssassin");
        assert_eq!(
            r.to_string().trim_end(),
            "550 5.7.1 Blocked by SpamAssassin"
        );
        let r = parse_reply(b"554 5.7.1 Gtube pattern");
        assert_eq!(r.to_string().trim_end(), "554 5.7.1 Gtube pattern");
        let r = parse_reply(b"451 try later");
        assert_eq!(r.to_string().trim_end(), "451 4.7.1 try later");
    }

    #[test]
    fn modifications_apply_to_the_message() {
        let mut m = Message::parse(
            b"Subject: hi\nX-Spam-Flag: NO\nReceived: a\n b\nReceived: c\n\nbody\nline\n",
        );
        assert_eq!(m.fields.len(), 4);
        assert_eq!(m.fields[2].value_crlf(), b"a\r\n b");
        let mut v = Verdict::default();
        let del = Response::ChangeHeader {
            index: 1,
            name: b"x-spam-flag".to_vec(),
            value: Vec::new(),
        };
        assert!(m.apply(&del, &mut v));
        let add = Response::AddHeader {
            name: b"X-Spam-Flag".to_vec(),
            value: b"YES".to_vec(),
        };
        assert!(m.apply(&add, &mut v));
        let ins = Response::InsertHeader {
            index: 0,
            name: b"X-First".to_vec(),
            value: b"1".to_vec(),
        };
        assert!(m.apply(&ins, &mut v));
        let chg = Response::ChangeHeader {
            index: 2,
            name: b"Received".to_vec(),
            value: b"d".to_vec(),
        };
        assert!(m.apply(&chg, &mut v));
        assert!(!m.apply(&Response::Quarantine(b"spam".to_vec()), &mut v));
        assert_eq!(v.quarantine.as_deref(), Some("spam"));
        assert!(v.spam);
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            "X-First: 1\nSubject: hi\nReceived: a\n b\nReceived: d\nX-Spam-Flag: YES\n\nbody\nline\n"
        );
        // 8-bit header text survives a rewrite octet for octet.
        let mut latin1 = Message::parse(b"Subject: caf\xe9\n\nbody\r\n");
        latin1.apply(&add, &mut v);
        assert_eq!(
            latin1.to_bytes(),
            b"Subject: caf\xe9\nX-Spam-Flag: YES\n\nbody\r\n"
        );
        m.apply(&Response::ReplaceBody(b"new\r\n".to_vec()), &mut v);
        m.apply(&Response::ReplaceBody(b"body\r\n".to_vec()), &mut v);
        assert!(
            String::from_utf8(m.to_bytes())
                .unwrap()
                .ends_with("\n\nnew\nbody\n")
        );
    }
}

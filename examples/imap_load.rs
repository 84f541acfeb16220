//! IMAP load generator built on `mailwright-imap-proto`'s client side ([`ClientSession`]): many
//! concurrent sessions over plain TCP, each doing LOGIN, SELECT, then a random mix of FETCH
//! (`UID FLAGS ENVELOPE BODY.PEEK[]`), STORE, APPEND, EXPUNGE and NOOP, checking the server's
//! answers for consistency as it goes. Works against any IMAP4rev1 server with UIDPLUS (our
//! `full_server`, Dovecot ...). The connection code is shared with `imap_check`, the
//! concurrency checker for sessions sharing a mailbox (`support/imap_client.rs`).
//!
//! ```text
//! cargo run --release --example imap_load -- --port 2143 \
//!     --user-pattern 'load{}@example.org' --users 20 --password secret \
//!     --sessions 20 --duration 10 --mix fetch=3,store=2,append=2,expunge=2,noop=1
//! cargo run --release --example imap_load -- --port 2143 --user alice@localhost --password pw \
//!     --sessions 8 --ops 5000                     # 8 sessions sharing one INBOX
//! cargo run --release --example imap_load -- --port 2143 --user alice@localhost --password pw \
//!     --idle 500 --duration 10                    # 500 sessions sitting in IDLE for 10 s
//! ```
//!
//! Users: `--user` (repeatable) and/or `--user-pattern P --users N` (`{}` in P becomes 1..=N);
//! `--password` is repeatable too (one per user, or one for all). Session `i` logs in as user
//! `i mod users`. When there are at least as many users as sessions, each session **owns** its
//! mailbox and the strict checks below apply; otherwise sessions share mailboxes and only the
//! checks that hold under concurrent writers do.
//!
//! An operation of the mix is one or two commands: `fetch` = FETCH of one random message,
//! `store` = STORE ±FLAGS (\Flagged) on one, `append` = APPEND of a `--size` octet message
//! (LITERAL+ when the server offers it), `expunge` = STORE +FLAGS.SILENT (\Deleted) on one
//! message then EXPUNGE, `noop` = NOOP. Mailboxes are first filled to `--preload` messages (not
//! measured); the mix keeps them about that size (appends and expunges alike by default), and
//! an expunge below `--min-messages` becomes an append.
//!
//! Checks (each failure is an *inconsistency*, printed, and makes the exit code 1):
//! - every tagged reply is OK (in shared mode, `NO [EXPUNGEISSUED]` on a message another session
//!   expunged is counted apart, not as a failure: some servers answer so, where ours and
//!   Dovecot answer `OK [EXPUNGEISSUED]`); a LOGIN answered `NO [UNAVAILABLE]` (the server is
//!   busy checking other logins) is sent again a little later;
//! - `APPENDUID`: present, with the UIDVALIDITY SELECT announced, and the session's UIDs strictly
//!   ascending, never below SELECT's UIDNEXT;
//! - `EXPUNGE n` never names a message past the known count;
//! - owned mailboxes: the sequence-number → UID map the session keeps (from SELECT, its appends
//!   and the EXPUNGE responses) matches every FETCH's UID; EXISTS never exceeds the session's own
//!   count; after NOOP and EXPUNGE the count is exactly its own (initial + appends − expunges);
//!   a FETCH FLAGS answering STORE shows the change asked for; EXPUNGE removes exactly the one
//!   message marked.
//!
//! Output: commands/s over the run, per-command latency percentiles (p50 p90 p99 max), error
//! counts, and one machine-readable line `RESULT commands=N seconds=S ops_per_sec=R errors=E
//! inconsistencies=I`. With `--idle N`, N sessions log in, SELECT and enter IDLE; the line
//! `READY N` is printed once all are idling, they hold for `--duration` seconds, then end with
//! DONE and LOGOUT (for measuring memory per idle connection; see
//! `benches/scripts/imap_vs_dovecot.sh`).
//!
//! Exit code: 0 when every command succeeded and every check held, 1 otherwise, 2 on bad
//! arguments.

use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
#[allow(dead_code)]
#[path = "support/imap_client.rs"]
mod imap_client;
use imap_client::{Conn, Reply, Rng, all_messages, mailbox, seq};
use mailwright::imap::types::command::{FetchAttribute, FetchItems, Section, StoreKind};
use mailwright::imap::types::flag::{Flag, FlagFetch};
use mailwright::imap::types::response::FetchItem;
use mailwright::imap::types::sequence::{SeqItem, SeqNumber};
use mailwright::imap::{
    ClientEvent, Code, CommandBody, Data, Literal, LiteralMode, StatusKind, Vec1,
};

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(about = "IMAP load generator with consistency checks (see the file's docs)")]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = 2143)]
    port: u16,
    /// A user to log in as (repeatable).
    #[arg(long = "user")]
    users_list: Vec<String>,
    /// A user name pattern: `{}` becomes 1..=--users.
    #[arg(long)]
    user_pattern: Option<String>,
    /// How many users the pattern makes.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Password (repeatable: one per user, or one for all).
    #[arg(long = "password")]
    passwords: Vec<String>,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 10)]
    sessions: usize,
    /// Run for this many seconds (default 10 unless --ops is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Run this many commands in all (split among the sessions) instead of a duration.
    #[arg(long)]
    ops: Option<u64>,
    /// Operation weights, `fetch=3,store=2,append=2,expunge=2,noop=1`.
    #[arg(long, default_value = "fetch=3,store=2,append=2,expunge=2,noop=1")]
    mix: String,
    /// Mailbox to select and append to.
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
    /// Size in octets of each appended message.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Fill each mailbox to this many messages before measuring.
    #[arg(long, default_value_t = 20)]
    preload: u32,
    /// Below this many messages an expunge becomes an append.
    #[arg(long, default_value_t = 5)]
    min_messages: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Send literals synchronizing (`{n}`, wait for `+`) even if LITERAL+ is offered.
    #[arg(long)]
    sync_literals: bool,
    /// Seconds a single command may take before the session fails.
    #[arg(long, default_value_t = 30)]
    command_timeout: u64,
    /// Idle mode: this many sessions LOGIN, SELECT and IDLE for --duration seconds.
    #[arg(long)]
    idle: Option<usize>,
}

/// The operations of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Fetch,
    Store,
    Append,
    Expunge,
    Noop,
}

fn parse_mix(s: &str) -> Result<Vec<(Op, u32)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or(format!("bad mix item {part:?}"))?;
        let op = match name.trim() {
            "fetch" => Op::Fetch,
            "store" => Op::Store,
            "append" => Op::Append,
            "expunge" => Op::Expunge,
            "noop" => Op::Noop,
            other => return Err(format!("unknown operation {other:?}")),
        };
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("bad weight in {part:?}"))?;
        out.push((op, w));
    }
    if out.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        return Err("the mix has no weight".into());
    }
    Ok(out)
}

/// A message of about `size` octets, CRLF lines, unique by `(session, n)`.
fn message(session: usize, n: u64, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Load Generator <load@example.net>\r\nTo: user{session}@example.org\r\n\
         Subject: load test {session}-{n}\r\nDate: Sun, 29 Nov 2026 04:00:00 +0000\r\n\
         Message-ID: <load-{session}-{n}@example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    let line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() + line.len() <= size.max(m.len() + line.len()) && m.len() < size {
        m.push_str(line);
    }
    m.into_bytes()
}

/// What one session measured and found.
#[derive(Debug, Default)]
struct Report {
    commands: u64,
    latencies: BTreeMap<&'static str, Vec<u32>>,
    /// Commands answered NO/BAD, or connections lost.
    errors: Vec<String>,
    /// Failed consistency checks.
    inconsistencies: Vec<String>,
    /// `NO [EXPUNGEISSUED]` in shared mode.
    expunge_races: u64,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.commands += other.commands;
        for (k, v) in other.latencies {
            self.latencies.entry(k).or_default().extend(v);
        }
        self.errors.extend(other.errors);
        self.inconsistencies.extend(other.inconsistencies);
        self.expunge_races += other.expunge_races;
    }
}

/// One session's view of its selected mailbox.
#[derive(Debug)]
struct View {
    /// The message count as the server told it (EXISTS, less EXPUNGEs).
    exists: u32,
    /// Owned mailbox: the count the session expects, and the UID of each message in order.
    expected: Option<Vec<u32>>,
    uid_validity: u32,
    uid_next_at_select: u32,
    last_append_uid: u32,
}

/// Runs one load session.
struct Session {
    id: usize,
    conn: Conn,
    args: Arc<Args>,
    mix: Arc<Vec<(Op, u32)>>,
    rng: Rng,
    view: View,
    report: Report,
    appended: u64,
}

impl Session {
    fn inconsistent(&mut self, mut what: String) {
        if self.report.inconsistencies.len() < 100 {
            what.insert_str(0, &format!("session {}: ", self.id));
            self.report.inconsistencies.push(what);
        }
    }

    /// Applies untagged EXISTS/EXPUNGE responses to the view and checks them; `appending` when
    /// the reply is an APPEND's (its EXISTS counts the message not yet in the session's own list).
    fn track(&mut self, reply: &Reply, appending: bool) {
        for ev in &reply.untagged {
            match ev {
                ClientEvent::Data(Data::Exists(n)) => {
                    if let Some(exp) = &self.view.expected
                        && *n as usize > exp.len() + usize::from(appending)
                    {
                        let msg = format!(
                            "EXISTS {n} but the session owns only {} messages",
                            exp.len() + usize::from(appending)
                        );
                        self.inconsistent(msg);
                    }
                    self.view.exists = *n;
                }
                ClientEvent::Data(Data::Expunge(k)) => {
                    if k.get() > self.view.exists {
                        let msg =
                            format!("EXPUNGE {k} past the message count {}", self.view.exists);
                        self.inconsistent(msg);
                    } else {
                        self.view.exists -= 1;
                    }
                }
                ClientEvent::Status(s) if s.kind == StatusKind::Bye => {
                    self.report.errors.push(format!(
                        "session {}: BYE {}",
                        self.id,
                        s.text.as_str()
                    ));
                }
                _ => {}
            }
        }
    }

    /// Runs a measured command.
    async fn run(&mut self, name: &'static str, body: CommandBody<'_>) -> io::Result<Reply> {
        let reply = self.conn.command(body).await?;
        self.report.commands += 1;
        self.report
            .latencies
            .entry(name)
            .or_default()
            .push(u32::try_from(reply.elapsed.as_micros()).unwrap_or(u32::MAX));
        self.track(&reply, name == "APPEND");
        if reply.status.kind != StatusKind::Ok {
            let race = self.view.expected.is_none()
                && matches!(&reply.status.code, Some(Code::Other(a, _)) if a.as_str() == "EXPUNGEISSUED");
            if race {
                self.report.expunge_races += 1;
            } else if self.report.errors.len() < 100 {
                self.report.errors.push(format!(
                    "session {}: {name} answered {:?} {}",
                    self.id,
                    reply.status.kind,
                    reply.status.text.as_str()
                ));
            }
        }
        Ok(reply)
    }

    async fn login_and_select(
        &mut self,
        user: &str,
        password: &str,
        owned: bool,
    ) -> io::Result<()> {
        self.conn.login(user, password).await?;
        let r = self
            .conn
            .command(CommandBody::Select {
                mailbox: mailbox(&self.args.mailbox),
                condstore: false,
                qresync: None,
            })
            .await?;
        if r.status.kind != StatusKind::Ok {
            return Err(io::Error::other(format!(
                "SELECT refused: {}",
                r.status.text.as_str()
            )));
        }
        for ev in &r.untagged {
            match ev {
                ClientEvent::Data(Data::Exists(n)) => self.view.exists = *n,
                ClientEvent::Status(s) => match &s.code {
                    Some(Code::UidValidity(v)) => self.view.uid_validity = v.get(),
                    Some(Code::UidNext(n)) => self.view.uid_next_at_select = n.get(),
                    _ => {}
                },
                _ => {}
            }
        }
        if owned {
            let mut uids = Vec::new();
            if self.view.exists > 0 {
                let r = self
                    .conn
                    .command(CommandBody::Fetch {
                        uid: false,
                        set: all_messages(),
                        items: FetchItems::Single(FetchAttribute::Uid),
                        changed_since: None,
                        vanished: false,
                    })
                    .await?;
                let mut by_seq = BTreeMap::new();
                for ev in &r.untagged {
                    if let ClientEvent::Data(Data::Fetch { seq, items }) = ev {
                        for it in items.iter() {
                            if let FetchItem::Uid(u) = it {
                                by_seq.insert(seq.get(), u.get());
                            }
                        }
                    }
                }
                uids = by_seq.into_values().collect();
                if uids.len() != self.view.exists as usize {
                    let msg = format!(
                        "SELECT said EXISTS {} but FETCH 1:* gave {} UIDs",
                        self.view.exists,
                        uids.len()
                    );
                    self.inconsistent(msg);
                }
                if uids.windows(2).any(|w| w[0] >= w[1]) {
                    self.inconsistent("UIDs not strictly ascending in sequence order".into());
                }
            }
            self.view.expected = Some(uids);
        }
        Ok(())
    }

    fn pick(&mut self) -> Op {
        let total: u32 = self.mix.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.below(total);
        for &(op, w) in self.mix.iter() {
            if r < w {
                return op;
            }
            r -= w;
        }
        Op::Noop
    }

    /// A message number to work on (1-based), `None` when the mailbox looks empty.
    fn random_message(&mut self) -> Option<u32> {
        (self.view.exists > 0).then(|| self.rng.below(self.view.exists) + 1)
    }

    async fn append(&mut self, measured: bool) -> io::Result<()> {
        self.appended += 1;
        let data = message(self.id, self.appended, self.args.size);
        // The session sends it as LITERAL+ when the server offers it (and --sync-literals is off).
        let mode = LiteralMode::Sync;
        let body = CommandBody::Append {
            mailbox: mailbox(&self.args.mailbox),
            flags: Some(vec![Flag::Seen]),
            date: None,
            message: Literal::new(data, mode).map_err(io::Error::other)?,
        };
        let reply = if measured {
            self.run("APPEND", body).await?
        } else {
            let r = self.conn.command(body).await?;
            self.track(&r, true);
            r
        };
        if reply.status.kind != StatusKind::Ok {
            if !measured {
                return Err(io::Error::other(format!(
                    "APPEND refused: {}",
                    reply.status.text.as_str()
                )));
            }
            return Ok(());
        }
        let Some(Code::AppendUid { uid_validity, uids }) = &reply.status.code else {
            self.inconsistent("APPEND completed without APPENDUID".into());
            return Ok(());
        };
        let uid = match uids.items() {
            [SeqItem::Single(SeqNumber::Value(u))] => u.get(),
            other => {
                self.inconsistent(format!("APPENDUID of one message names {other:?}"));
                return Ok(());
            }
        };
        if uid_validity.get() != self.view.uid_validity {
            let msg = format!(
                "APPENDUID UIDVALIDITY {uid_validity} but SELECT said {}",
                self.view.uid_validity
            );
            self.inconsistent(msg);
        }
        if uid <= self.view.last_append_uid || uid < self.view.uid_next_at_select {
            let msg = format!(
                "APPENDUID {uid} not above the last ({}) and UIDNEXT at SELECT ({})",
                self.view.last_append_uid, self.view.uid_next_at_select
            );
            self.inconsistent(msg);
        }
        self.view.last_append_uid = self.view.last_append_uid.max(uid);
        if let Some(exp) = &mut self.view.expected {
            if exp.last().is_some_and(|&last| last >= uid) {
                let msg = format!("APPENDUID {uid} not above the mailbox's last UID");
                exp.push(uid);
                self.inconsistent(msg);
            } else {
                exp.push(uid);
            }
        }
        Ok(())
    }

    async fn fetch(&mut self) -> io::Result<()> {
        let Some(n) = self.random_message() else {
            return self.append(true).await;
        };
        let items = Vec1::try_from(vec![
            FetchAttribute::Uid,
            FetchAttribute::Flags,
            FetchAttribute::Envelope,
            FetchAttribute::BodySection {
                peek: true,
                section: Section::whole(),
                partial: None,
            },
        ])
        .expect("four items");
        let reply = self
            .run(
                "FETCH",
                CommandBody::Fetch {
                    uid: false,
                    set: seq(n),
                    items: FetchItems::List(items),
                    changed_since: None,
                    vanished: false,
                },
            )
            .await?;
        if reply.status.kind != StatusKind::Ok {
            return Ok(());
        }
        let mut uid = None;
        let mut body = None;
        for ev in &reply.untagged {
            if let ClientEvent::Data(Data::Fetch { seq, items }) = ev
                && seq.get() == n
            {
                for it in items.iter() {
                    match it {
                        FetchItem::Uid(u) => uid = Some(u.get()),
                        FetchItem::BodySection { data, .. } => {
                            body = Some(data.0.as_ref().map_or(0, |s| s.as_bytes().len()));
                        }
                        _ => {}
                    }
                }
            }
        }
        if body.is_none_or(|len| len == 0) {
            self.inconsistent(format!("FETCH {n} returned no BODY[]"));
        }
        if let Some(exp) = &self.view.expected {
            let want = exp.get(n as usize - 1).copied();
            if uid != want {
                let msg = format!("FETCH {n}: UID {uid:?}, the session expected {want:?}");
                self.inconsistent(msg);
            }
        }
        Ok(())
    }

    async fn store(&mut self) -> io::Result<()> {
        let Some(n) = self.random_message() else {
            return self.append(true).await;
        };
        let add = self.rng.below(2) == 0;
        let reply = self
            .run(
                "STORE",
                CommandBody::Store {
                    uid: false,
                    set: seq(n),
                    unchanged_since: None,
                    kind: if add {
                        StoreKind::Add
                    } else {
                        StoreKind::Remove
                    },
                    silent: false,
                    flags: vec![Flag::Flagged],
                    flags_list: true,
                },
            )
            .await?;
        if reply.status.kind != StatusKind::Ok || self.view.expected.is_none() {
            return Ok(());
        }
        let flags = reply.untagged.iter().find_map(|ev| match ev {
            ClientEvent::Data(Data::Fetch { seq, items }) if seq.get() == n => {
                items.iter().find_map(|it| match it {
                    FetchItem::Flags(f) => Some(f.clone()),
                    _ => None,
                })
            }
            _ => None,
        });
        // RFC 3501 §6.4.6: the untagged FETCH is a SHOULD; Dovecot leaves it out when the flags
        // did not change. When it comes, it must show the change.
        match flags {
            None => {}
            Some(f) => {
                let has = f.contains(&FlagFetch::Flag(Flag::Flagged));
                if has != add {
                    self.inconsistent(format!(
                        "STORE {n} {}FLAGS (\\Flagged) answered {f:?}",
                        if add { "+" } else { "-" }
                    ));
                }
            }
        }
        Ok(())
    }

    async fn expunge(&mut self) -> io::Result<()> {
        if self.view.exists <= self.args.min_messages {
            return self.append(true).await;
        }
        let Some(n) = self.random_message() else {
            return self.append(true).await;
        };
        let reply = self
            .run(
                "STORE",
                CommandBody::Store {
                    uid: false,
                    set: seq(n),
                    unchanged_since: None,
                    kind: StoreKind::Add,
                    silent: true,
                    flags: vec![Flag::Deleted],
                    flags_list: true,
                },
            )
            .await?;
        if reply.status.kind != StatusKind::Ok {
            return Ok(());
        }
        let reply = self.run("EXPUNGE", CommandBody::Expunge).await?;
        if reply.status.kind != StatusKind::Ok {
            return Ok(());
        }
        let expunged: Vec<u32> = reply
            .untagged
            .iter()
            .filter_map(|ev| match ev {
                ClientEvent::Data(Data::Expunge(k)) => Some(k.get()),
                _ => None,
            })
            .collect();
        if let Some(exp) = &mut self.view.expected {
            if expunged != [n] {
                let msg = format!("EXPUNGE of message {n} answered EXPUNGE {expunged:?}");
                if (n as usize) <= exp.len() {
                    exp.remove(n as usize - 1);
                }
                self.inconsistent(msg);
            } else if (n as usize) <= exp.len() {
                exp.remove(n as usize - 1);
            }
            self.check_count("EXPUNGE");
        }
        Ok(())
    }

    fn check_count(&mut self, after: &str) {
        if let Some(exp) = &self.view.expected
            && self.view.exists as usize != exp.len()
        {
            let msg = format!(
                "after {after}: {} messages, the session expected {}",
                self.view.exists,
                exp.len()
            );
            self.view.exists = u32::try_from(exp.len()).unwrap_or(u32::MAX);
            self.inconsistent(msg);
        }
    }

    async fn noop(&mut self) -> io::Result<()> {
        let reply = self.run("NOOP", CommandBody::Noop).await?;
        if reply.status.kind == StatusKind::Ok {
            self.check_count("NOOP");
        }
        Ok(())
    }

    async fn step(&mut self) -> io::Result<()> {
        match self.pick() {
            Op::Fetch => self.fetch().await,
            Op::Store => self.store().await,
            Op::Append => self.append(true).await,
            Op::Expunge => self.expunge().await,
            Op::Noop => self.noop().await,
        }
    }
}

/// The login of session `i`.
fn credentials(args: &Args, i: usize) -> (String, String) {
    let users = all_users(args);
    let u = i % users.len().max(1);
    let password = match args.passwords.len() {
        0 => String::new(),
        1 => args.passwords[0].clone(),
        _ => args.passwords[u % args.passwords.len()].clone(),
    };
    (users.get(u).cloned().unwrap_or_default(), password)
}

fn all_users(args: &Args) -> Vec<String> {
    let mut users = args.users_list.clone();
    if let Some(p) = &args.user_pattern {
        users.extend((1..=args.users).map(|i| p.replace("{}", &i.to_string())));
    }
    users
}

/// When the measured run starts: `None` until every session is ready, then `Some(deadline)`.
type StartSignal = tokio::sync::watch::Receiver<Option<Option<Instant>>>;

async fn load_session(
    id: usize,
    args: Arc<Args>,
    mix: Arc<Vec<(Op, u32)>>,
    ops: Option<u64>,
    started: Arc<tokio::sync::Barrier>,
    mut start: StartSignal,
) -> Report {
    let owned = all_users(&args).len() >= args.sessions;
    let addr = format!("{}:{}", args.host, args.port);
    let timeout = Duration::from_secs(args.command_timeout);
    let setup = async {
        let conn = Conn::connect(&addr, args.sync_literals, 64 * 1024, timeout).await?;
        let mut s = Session {
            id,
            conn,
            args: args.clone(),
            mix: mix.clone(),
            rng: Rng::new(args.seed.wrapping_add(id as u64 * 7919)),
            view: View {
                exists: 0,
                expected: None,
                uid_validity: 0,
                uid_next_at_select: 0,
                last_append_uid: 0,
            },
            report: Report::default(),
            appended: 0,
        };
        let (user, password) = credentials(&args, id);
        s.login_and_select(&user, &password, owned).await?;
        while s.view.exists < args.preload {
            s.append(false).await?;
        }
        Ok::<Session, io::Error>(s)
    };
    let setup = setup.await;
    started.wait().await;
    let mut s = match setup {
        Ok(s) => s,
        Err(e) => {
            return Report {
                errors: vec![format!("session {id}: setup failed: {e}")],
                ..Report::default()
            };
        }
    };
    let deadline = match start.wait_for(Option::is_some).await {
        Ok(v) => v.flatten(),
        Err(_) => return s.report,
    };
    loop {
        if ops.is_some_and(|n| s.report.commands >= n) {
            break;
        }
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            break;
        }
        if let Err(e) = s.step().await {
            s.report
                .errors
                .push(format!("session {id}: connection failed: {e}"));
            return s.report;
        }
    }
    // The final word on the count, then a clean logout (neither measured).
    match s.conn.command(CommandBody::Noop).await {
        Ok(r) => {
            s.track(&r, false);
            s.check_count("the final NOOP");
        }
        Err(e) => s
            .report
            .errors
            .push(format!("session {id}: final NOOP failed: {e}")),
    }
    let _ = s.conn.command(CommandBody::Logout).await;
    s.report
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn print_report(report: &mut Report, seconds: f64, sessions: usize) {
    let rate = report.commands as f64 / seconds.max(1e-9);
    println!(
        "{} commands in {seconds:.2} s over {sessions} sessions: {rate:.0} commands/s",
        report.commands
    );
    println!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>9}  (ms)",
        "command", "count", "p50", "p90", "p99", "max"
    );
    for (name, lat) in &mut report.latencies {
        lat.sort_unstable();
        println!(
            "{name:<8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            lat.len(),
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
    }
    if report.expunge_races > 0 {
        println!(
            "NO [EXPUNGEISSUED] (shared mailboxes, expected): {}",
            report.expunge_races
        );
    }
    for (what, list) in [
        ("error", &report.errors),
        ("inconsistency", &report.inconsistencies),
    ] {
        for e in list.iter().take(20) {
            println!("{what}: {e}");
        }
    }
    println!(
        "RESULT commands={} seconds={seconds:.3} ops_per_sec={rate:.1} errors={} inconsistencies={}",
        report.commands,
        report.errors.len(),
        report.inconsistencies.len()
    );
}

async fn run_load(args: Arc<Args>, mix: Arc<Vec<(Op, u32)>>) -> Report {
    let sessions = args.sessions.max(1);
    let duration = match (args.duration, args.ops) {
        (Some(d), _) => Some(Duration::from_secs_f64(d.max(0.0))),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let per_session = args.ops.map(|n| n.div_ceil(sessions as u64));
    // The clock starts once every session is logged in, selected and preloaded.
    let started = Arc::new(tokio::sync::Barrier::new(sessions + 1));
    let (go, start) = tokio::sync::watch::channel(None);
    let tasks: Vec<_> = (0..sessions)
        .map(|id| {
            tokio::spawn(load_session(
                id,
                args.clone(),
                mix.clone(),
                per_session,
                started.clone(),
                start.clone(),
            ))
        })
        .collect();
    started.wait().await;
    let t0 = Instant::now();
    let _ = go.send(Some(duration.map(|d| t0 + d)));
    let mut total = Report::default();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => total.errors.push(format!("a session panicked: {e}")),
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    print_report(&mut total, seconds, sessions);
    total
}

/// One idle session: LOGIN, SELECT, IDLE; reports readiness, waits for the end, DONE, LOGOUT.
async fn idle_session(
    id: usize,
    args: Arc<Args>,
    setup_slots: Arc<tokio::sync::Semaphore>,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    mut end: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let addr = format!("{}:{}", args.host, args.port);
    let timeout = Duration::from_secs(args.command_timeout);
    let (user, password) = credentials(&args, id);
    let setup = async {
        let _slot = setup_slots.acquire().await.map_err(io::Error::other)?;
        let mut c = Conn::connect(&addr, true, 4096, timeout).await?;
        c.login(&user, &password).await?;
        let r = c
            .command(CommandBody::Select {
                mailbox: mailbox(&args.mailbox),
                condstore: false,
                qresync: None,
            })
            .await?;
        if r.status.kind != StatusKind::Ok {
            return Err(io::Error::other("SELECT refused"));
        }
        c.idle().await?;
        Ok(c)
    };
    let mut c = match setup.await {
        Ok(c) => {
            let _ = ready.send(Ok(())).await;
            c
        }
        Err(e) => {
            let msg = format!("idle session {id}: {e}");
            let _ = ready.send(Err(msg.clone())).await;
            return Err(msg);
        }
    };
    let _ = end.wait_for(|e| *e).await;
    c.idle_done()
        .await
        .map_err(|e| format!("idle session {id}: DONE: {e}"))?;
    let _ = c.command(CommandBody::Logout).await;
    Ok(())
}

async fn run_idle(args: Arc<Args>, n: usize) -> Report {
    let setup_slots = Arc::new(tokio::sync::Semaphore::new(32));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(n.max(1));
    let (end_tx, end_rx) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..n)
        .map(|id| {
            tokio::spawn(idle_session(
                id,
                args.clone(),
                setup_slots.clone(),
                ready_tx.clone(),
                end_rx.clone(),
            ))
        })
        .collect();
    drop(ready_tx);
    let mut report = Report::default();
    let mut idling = 0usize;
    // One message per session (the senders live on until the sessions end).
    for _ in 0..n {
        match ready_rx.recv().await {
            Some(Ok(())) => idling += 1,
            Some(Err(_)) => {}
            None => break,
        }
    }
    println!("READY {idling}");
    let hold = Duration::from_secs_f64(args.duration.unwrap_or(10.0).max(0.0));
    tokio::time::sleep(hold).await;
    let _ = end_tx.send(true);
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.errors.push(e),
            Err(e) => report.errors.push(format!("an idle session panicked: {e}")),
        }
    }
    for e in report.errors.iter().take(20) {
        println!("error: {e}");
    }
    println!(
        "RESULT idle_sessions={idling} errors={} inconsistencies=0",
        report.errors.len()
    );
    report
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mix = match parse_mix(&args.mix) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("imap_load: {e}");
            return ExitCode::from(2);
        }
    };
    if all_users(&args).is_empty() {
        eprintln!("imap_load: give --user or --user-pattern");
        return ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let args = Arc::new(args);
    let report = if let Some(n) = args.idle {
        rt.block_on(run_idle(args.clone(), n))
    } else {
        rt.block_on(run_load(args.clone(), Arc::new(mix)))
    };
    if report.errors.is_empty() && report.inconsistencies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

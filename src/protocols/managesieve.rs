//! ManageSieve (RFC 5804): users upload, check, activate, list, fetch, rename and delete their
//! Sieve scripts (Roundcube, Thunderbird, `sieve-connect`). The wire format is
//! `mailwright-sieve`'s [`managesieve`](mailwright_sieve::managesieve) module; this is the
//! session over a connection and the scripts on disk.
//!
//! - Scripts are `sieve/<name>.sieve` in the user's home and the active one is the link
//!   `.dovecot.sieve` to it, the layout local delivery reads (and Dovecot's).
//! - STARTTLS, then `AUTHENTICATE "PLAIN"` (with or without an initial response), refused before
//!   TLS except from loopback when the configuration allows it; failures count like every
//!   other login's.
//! - Quotas (`[sieve] max_script_size`, `max_scripts`): `NO (QUOTA/MAXSIZE)`,
//!   `NO (QUOTA/MAXSCRIPTS)`. PUTSCRIPT and CHECKSCRIPT compile the script and answer a faulty
//!   one with its line and column.
//! - A script over the size quota is read and dropped (`NO (QUOTA/MAXSIZE)`); a line too long,
//!   or a literal of more than 64 MiB, ends the session with `BYE`; every read waits at most
//!   `limits.idle_timeout_secs` (`limits.login_timeout_secs` before the login).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use mailwright_sieve::managesieve::{
    Command, Response, Status, WireError, encode_string, parse_command, parse_sasl_line,
};
use mailwright_sieve::{Capabilities, Script, ScriptError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::core::directory::Address;
use crate::core::login::Outcome;
use crate::core::net::Peer;
use crate::intake::sieve::{ACTIVE_SCRIPT, SCRIPT_DIR, home};
use crate::protocols::Shared;
use crate::protocols::conn::Conn;

/// A session: the connection and what was read of it.
struct Session<'a> {
    conn: Conn,
    buf: Vec<u8>,
    peer: Peer,
    shared: &'a Arc<Shared>,
    user: Option<Address>,
}

/// Serves one ManageSieve connection.
pub async fn serve(conn: Conn, peer: Peer, shared: &Arc<Shared>) -> io::Result<()> {
    let mut s = Session {
        conn,
        buf: Vec::new(),
        peer,
        shared,
        user: None,
    };
    s.capabilities().await?;
    loop {
        let Some(command) = s.command().await? else {
            return Ok(());
        };
        if !s.handle(command).await? {
            return Ok(());
        }
    }
}

impl Session<'_> {
    fn settings(&self) -> &crate::core::config::Sieve {
        &self.shared.core.config.sieve
    }

    /// Literals are read up to the script quota and a little more (room for the framing).
    fn max_literal(&self) -> usize {
        self.settings().max_script_size.saturating_add(1024)
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn.write_all(bytes).await?;
        self.conn.flush().await
    }

    async fn reply(&mut self, status: Status, code: Option<&str>, text: &str) -> io::Result<()> {
        let mut r = Response::new(status, text);
        if let Some(code) = code {
            r = r.with_code(code);
        }
        self.send(&r.encode()).await
    }

    /// Reads more input; `false` at the end of the stream. Bounded in time.
    async fn fill(&mut self) -> io::Result<bool> {
        let limits = &self.shared.core.config.limits;
        let limit = if self.user.is_some() {
            limits.idle_timeout()
        } else {
            limits.login_timeout()
        };
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(limit, self.conn.read(&mut chunk)).await {
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let _ = self
                    .reply(Status::Bye, None, "Disconnected for inactivity")
                    .await;
                Ok(false)
            }
        }
    }

    /// The next command; `None` when the session is over.
    async fn command(&mut self) -> io::Result<Option<Command>> {
        loop {
            match parse_command(&self.buf, self.max_literal()) {
                Ok(Some((command, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(command));
                }
                Ok(None) => {
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
                Err(WireError::TooLong) => {
                    // A script over the quota (RFC 5804 §2.6: NO (QUOTA/MAXSIZE)): the client
                    // sends a non-synchronizing literal anyway, which is read and dropped.
                    let Some(skip) = oversized_literal(&self.buf) else {
                        self.reply(Status::Bye, Some("QUOTA/MAXSIZE"), "Line too long")
                            .await?;
                        return Ok(None);
                    };
                    if !self.discard(skip).await? {
                        return Ok(None);
                    }
                    self.reply(Status::No, Some("QUOTA/MAXSIZE"), "Script too large")
                        .await?;
                }
                Err(e) => {
                    // Skip the line (a literal in it is lost too: the client hears why).
                    match self.buf.iter().position(|&b| b == b'\n') {
                        Some(end) => drop(self.buf.drain(..=end)),
                        None => self.buf.clear(),
                    }
                    self.reply(Status::No, None, &e.to_string()).await?;
                }
            }
        }
    }

    /// Drops `skip` octets of input and the rest of that line; `false` if the client left.
    async fn discard(&mut self, mut skip: usize) -> io::Result<bool> {
        loop {
            let n = skip.min(self.buf.len());
            self.buf.drain(..n);
            skip -= n;
            if skip == 0
                && let Some(end) = self.buf.iter().position(|&b| b == b'\n')
            {
                self.buf.drain(..=end);
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    async fn capabilities(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        let mut line = |key: &str, value: Option<&str>| {
            out.extend_from_slice(&encode_string(key.as_bytes()));
            if let Some(v) = value {
                out.push(b' ');
                out.extend_from_slice(&encode_string(v.as_bytes()));
            }
            out.extend_from_slice(b"\r\n");
        };
        line("IMPLEMENTATION", Some("Mailwright"));
        let login = self
            .shared
            .core
            .login_allowed(self.conn.is_tls(), self.peer);
        line("SASL", Some(if login { "PLAIN" } else { "" }));
        line("SIEVE", Some(&Capabilities::all().sieve_capability()));
        if self.conn.can_start_tls() && self.user.is_none() {
            line("STARTTLS", None);
        }
        line("VERSION", Some("1.0"));
        out.extend_from_slice(&Response::new(Status::Ok, "Mailwright ManageSieve ready").encode());
        self.send(&out).await
    }

    /// Handles one command; `false` ends the session.
    #[allow(clippy::too_many_lines)] // one arm per command
    async fn handle(&mut self, command: Command) -> io::Result<bool> {
        match command {
            Command::Capability => self.capabilities().await?,
            Command::Logout => {
                self.reply(Status::Ok, None, "Logout completed").await?;
                return Ok(false);
            }
            Command::Noop { tag } => {
                let code = tag.map(|t| {
                    format!(
                        "TAG {}",
                        String::from_utf8_lossy(&encode_string(t.as_bytes()))
                    )
                });
                self.reply(Status::Ok, code.as_deref(), "Done").await?;
            }
            Command::StartTls => {
                if !self.conn.can_start_tls() || self.user.is_some() {
                    self.reply(Status::No, None, "TLS not available now")
                        .await?;
                } else {
                    self.reply(Status::Ok, None, "Begin TLS negotiation now")
                        .await?;
                    self.buf.clear();
                    let limit = self.shared.driver.config().tls_handshake_timeout;
                    match tokio::time::timeout(limit, self.conn.upgrade()).await {
                        Ok(Ok(())) => self.capabilities().await?,
                        Ok(Err(e)) => {
                            info!("TLS handshake failed: {e}");
                            return Ok(false);
                        }
                        Err(_) => {
                            info!("TLS handshake timed out");
                            return Ok(false);
                        }
                    }
                }
            }
            Command::Authenticate { mechanism, initial } => {
                return self.authenticate(&mechanism, initial).await;
            }
            Command::Unauthenticate => {
                if self.user.take().is_some() {
                    self.reply(Status::Ok, None, "Unauthenticated").await?;
                } else {
                    self.reply(Status::No, None, "Not authenticated").await?;
                }
            }
            other => {
                let Some(user) = self.user.clone() else {
                    self.reply(Status::No, None, "Authenticate first").await?;
                    return Ok(true);
                };
                let scripts = Scripts {
                    home: home(&self.shared.core.directory, &user),
                    max_size: self.settings().max_script_size,
                    max_count: self.settings().max_scripts,
                };
                let (response, data) = crate::core::blocking(|| scripts.run(other));
                if let Some(data) = data {
                    self.send(&data).await?;
                }
                if response.status == Status::Ok {
                    info!(%user, "{}", response.text.as_deref().unwrap_or_default());
                }
                self.send(&response.encode()).await?;
            }
        }
        Ok(true)
    }

    async fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> io::Result<bool> {
        if self.user.is_some() {
            self.reply(Status::No, None, "Already authenticated")
                .await?;
            return Ok(true);
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            self.reply(Status::No, None, "Unsupported mechanism")
                .await?;
            return Ok(true);
        }
        if !self
            .shared
            .core
            .login_allowed(self.conn.is_tls(), self.peer)
        {
            self.reply(Status::No, Some("ENCRYPT-NEEDED"), "Use STARTTLS first")
                .await?;
            return Ok(true);
        }
        let response = if let Some(r) = initial {
            r
        } else {
            self.send(b"\"\"\r\n").await?;
            loop {
                match parse_sasl_line(&self.buf) {
                    Ok(Some((line, used))) => {
                        self.buf.drain(..used);
                        break line;
                    }
                    Ok(None) => {
                        if !self.fill().await? {
                            return Ok(false);
                        }
                    }
                    Err(_) => {
                        self.reply(Status::Bye, None, "Bad SASL response").await?;
                        return Ok(false);
                    }
                }
            }
        };
        if response == "*" {
            self.reply(Status::No, None, "Authentication cancelled")
                .await?;
            return Ok(true);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok());
        let Some((authzid, user, password)) = decoded.as_deref().and_then(|d| {
            let mut parts = d.splitn(3, '\0');
            Some((parts.next()?, parts.next()?, parts.next()?))
        }) else {
            self.reply(Status::No, None, "Malformed PLAIN response")
                .await?;
            return Ok(true);
        };
        let core = &self.shared.core;
        let outcome = core
            .logins
            .check(
                &core.directory,
                &core.abuse,
                self.peer,
                Some(authzid),
                user,
                &mailwright_sansio::Secret::new(password.to_owned()),
            )
            .await;
        match outcome {
            Outcome::Accepted(address) => {
                info!(user = %address, "logged in");
                self.user = Some(address);
                self.reply(Status::Ok, None, "Logged in").await?;
            }
            Outcome::Refused => {
                self.reply(Status::No, None, "Authentication failed")
                    .await?;
            }
            Outcome::Blocked => {
                self.reply(Status::Bye, None, "Too many failed logins")
                    .await?;
                return Ok(false);
            }
            Outcome::Busy | Outcome::Unavailable => {
                self.reply(Status::No, Some("TRYLATER"), "Try again later")
                    .await?;
            }
        }
        Ok(true)
    }
}

/// The largest literal read only to be dropped (a script far over any quota ends the session).
const MAX_DROPPED_LITERAL: usize = 64 << 20;

/// When the first line of `buf` ends with a literal's announcement (`{n+}`), the octets to drop:
/// the line, its CRLF and the literal.
fn oversized_literal(buf: &[u8]) -> Option<usize> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&buf[..nl]).ok()?.trim_end_matches('\r');
    let digits = line.strip_suffix('}')?.rsplit_once('{')?.1;
    let n: usize = digits.strip_suffix('+').unwrap_or(digits).parse().ok()?;
    (n <= MAX_DROPPED_LITERAL).then_some(nl + 1 + n)
}

/// One user's scripts on disk.
struct Scripts {
    home: PathBuf,
    max_size: usize,
    max_count: usize,
}

fn no(code: Option<&str>, text: &str) -> Response {
    let r = Response::new(Status::No, text);
    match code {
        Some(c) => r.with_code(c),
        None => r,
    }
}

fn ok(text: &str) -> Response {
    Response::new(Status::Ok, text)
}

/// Whether a client may name a script so (RFC 5804 §1.6 leaves the rules to the server): 1 to
/// 128 characters, no control characters, no `/` or `\`, not starting with a dot.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 128
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
}

/// Compiles a script: `Err` with the line and column of the first error.
fn check(script: &[u8]) -> Result<(), String> {
    let capabilities = Capabilities::all();
    Script::parse_bytes(script, &capabilities.limits)
        .map_err(ScriptError::from)
        .and_then(|s| s.compile(&capabilities).map_err(ScriptError::from))
        .map(|_| ())
        .map_err(|e| {
            let p = e.position();
            format!("{e} (line {}, column {})", p.line, p.column)
        })
}

impl Scripts {
    fn dir(&self) -> PathBuf {
        self.home.join(SCRIPT_DIR)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{name}.sieve"))
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_str()?.strip_suffix(".sieve")?.to_owned();
                        valid_name(&n).then_some(n)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The active script's name: the one the link points at.
    fn active(&self) -> Option<String> {
        let target = std::fs::read_link(self.home.join(ACTIVE_SCRIPT)).ok()?;
        let name = target.file_name()?.to_str()?.strip_suffix(".sieve")?;
        valid_name(name).then(|| name.to_owned())
    }

    fn set_active(&self, name: Option<&str>) -> io::Result<()> {
        let link = self.home.join(ACTIVE_SCRIPT);
        match name {
            None => match std::fs::remove_file(&link) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Some(name) => {
                let tmp = self.home.join(format!("{ACTIVE_SCRIPT}.tmp"));
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(
                    Path::new(SCRIPT_DIR).join(format!("{name}.sieve")),
                    &tmp,
                )?;
                std::fs::rename(tmp, link)
            }
        }
    }

    fn write(&self, name: &str, script: &[u8]) -> io::Result<()> {
        std::fs::create_dir_all(self.dir())?;
        let tmp = self.dir().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, script)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(tmp, self.path(name))
    }

    /// Carries out an authenticated command: the final response, and data to send before it.
    fn run(&self, command: Command) -> (Response, Option<Vec<u8>>) {
        match self.try_run(command) {
            Ok(r) => r,
            Err(e) => {
                warn!(home = %self.home.display(), "ManageSieve storage error: {e}");
                (no(None, "Internal error"), None)
            }
        }
    }

    fn try_run(&self, command: Command) -> io::Result<(Response, Option<Vec<u8>>)> {
        let bad_name = || (no(None, "Invalid script name"), None);
        Ok(match command {
            Command::HaveSpace { name, size } => {
                if !valid_name(&name) {
                    return Ok(bad_name());
                }
                (
                    self.quota(&name, size)
                        .unwrap_or_else(|| ok("Putscript would succeed")),
                    None,
                )
            }
            Command::PutScript { name, script } => {
                if !valid_name(&name) {
                    return Ok(bad_name());
                }
                if let Some(refusal) = self.quota(&name, script.len() as u64) {
                    return Ok((refusal, None));
                }
                if let Err(e) = check(&script) {
                    return Ok((no(None, &e), None));
                }
                self.write(&name, &script)?;
                (ok(&format!("Script {name} stored")), None)
            }
            Command::CheckScript { script } => match check(&script) {
                Ok(()) => (ok("Script is valid"), None),
                Err(e) => (no(None, &e), None),
            },
            Command::ListScripts => {
                let active = self.active();
                let mut out = Vec::new();
                for name in self.names() {
                    out.extend_from_slice(&encode_string(name.as_bytes()));
                    if active.as_deref() == Some(name.as_str()) {
                        out.extend_from_slice(b" ACTIVE");
                    }
                    out.extend_from_slice(b"\r\n");
                }
                (ok("Listscripts completed"), Some(out))
            }
            Command::SetActive { name } => {
                if name.is_empty() {
                    self.set_active(None)?;
                    return Ok((ok("No script is active"), None));
                }
                if !valid_name(&name) || !self.path(&name).is_file() {
                    return Ok((no(Some("NONEXISTENT"), "No such script"), None));
                }
                self.set_active(Some(&name))?;
                (ok(&format!("Script {name} is active")), None)
            }
            Command::GetScript { name } => {
                if !valid_name(&name) {
                    return Ok((no(Some("NONEXISTENT"), "No such script"), None));
                }
                match std::fs::read(self.path(&name)) {
                    Ok(script) => {
                        let mut out = format!("{{{}}}\r\n", script.len()).into_bytes();
                        out.extend_from_slice(&script);
                        out.extend_from_slice(b"\r\n");
                        (ok("Getscript completed"), Some(out))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        (no(Some("NONEXISTENT"), "No such script"), None)
                    }
                    Err(e) => return Err(e),
                }
            }
            Command::DeleteScript { name } => {
                if !valid_name(&name) || !self.path(&name).is_file() {
                    return Ok((no(Some("NONEXISTENT"), "No such script"), None));
                }
                if self.active().as_deref() == Some(name.as_str()) {
                    return Ok((
                        no(Some("ACTIVE"), "The active script cannot be deleted"),
                        None,
                    ));
                }
                std::fs::remove_file(self.path(&name))?;
                (ok(&format!("Script {name} deleted")), None)
            }
            Command::RenameScript { from, to } => {
                if !valid_name(&from) || !self.path(&from).is_file() {
                    return Ok((no(Some("NONEXISTENT"), "No such script"), None));
                }
                if !valid_name(&to) {
                    return Ok(bad_name());
                }
                if self.path(&to).exists() {
                    return Ok((no(Some("ALREADYEXISTS"), "A script has that name"), None));
                }
                let was_active = self.active().as_deref() == Some(from.as_str());
                std::fs::rename(self.path(&from), self.path(&to))?;
                if was_active {
                    self.set_active(Some(&to))?;
                }
                (ok(&format!("Script {from} renamed {to}")), None)
            }
            _ => (no(None, "Not allowed now"), None),
        })
    }

    /// The refusal of a script of `size` octets stored as `name`, if the quota refuses it.
    fn quota(&self, name: &str, size: u64) -> Option<Response> {
        if size > self.max_size as u64 {
            return Some(no(Some("QUOTA/MAXSIZE"), "Script too large"));
        }
        if !self.path(name).is_file() && self.names().len() >= self.max_count {
            return Some(no(Some("QUOTA/MAXSCRIPTS"), "Too many scripts"));
        }
        None
    }
}

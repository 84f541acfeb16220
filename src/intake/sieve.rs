//! Sieve (RFC 5228) at local delivery: the administrator's `[sieve] before` scripts, the user's
//! active script and the `after` scripts run over each local copy, and decide where it goes.
//!
//! - The user's active script is `.dovecot.sieve` in the user's home (the directory above the
//!   Maildir, Dovecot's layout; a file or a symbolic link into `sieve/`), and `include` finds
//!   the user's other scripts in `sieve/<name>.sieve`.
//! - Scripts run in order while the implicit keep stands, as Pigeonhole runs `sieve_before` and
//!   `sieve_after`: one that cancels it (fileinto, discard, reject, redirect) ends the sequence.
//! - A script that cannot be read or compiled is skipped, one that fails at run time counts as
//!   `keep` (a log line each). The crate's [`Limits`](mailwright_sieve::Limits) bound each run.
//! - The sent-reply record of `vacation` (RFC 5230 §4.2) is `.mailwright-vacation` in the home:
//!   one line per reply, `seconds<TAB>sender<TAB>handle`, pruned of lines older than a year.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwright_sieve::{
    Action, Capabilities, Environment, Outcome, ParsedMessage, Program, ScriptLocation,
    VacationKey, VacationReply,
};
use tracing::warn;

use crate::core::config;
use crate::core::directory::{Address, Directory};

/// The user's active script, in the home.
pub const ACTIVE_SCRIPT: &str = ".dovecot.sieve";
/// The directory of the user's scripts, in the home.
pub const SCRIPT_DIR: &str = "sieve";
/// The sent-reply record, in the home.
pub const VACATION_RECORD: &str = ".mailwright-vacation";

/// The longest a record entry is kept (RFC 5230 §4.1 caps `:days` at what the site allows;
/// Pigeonhole's maximum period is 90 days by default).
const RECORD_KEEP: Duration = Duration::from_hours(365 * 24);

/// A user's home: the directory above the Maildir.
pub fn home(directory: &Directory, user: &Address) -> PathBuf {
    let maildir = directory.maildir_path(user);
    maildir
        .parent()
        .map_or_else(|| maildir.clone(), Path::to_path_buf)
}

/// What the scripts decided for one user's copy: the actions, the implicit keep (if it stands)
/// last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The actions to carry out.
    pub actions: Vec<Action>,
}

/// The scripts that run for `user`, in order: none when Sieve is off or there is none.
pub fn scripts(settings: &config::Sieve, directory: &Directory, user: &Address) -> Vec<PathBuf> {
    if !settings.enabled {
        return Vec::new();
    }
    let mut scripts: Vec<PathBuf> = settings.before.clone();
    let personal = home(directory, user).join(ACTIVE_SCRIPT);
    if personal.is_file() {
        scripts.push(personal);
    }
    scripts.extend(settings.after.iter().cloned());
    scripts
}

/// Runs the scripts for `user` over `message` (the copy as it would be stored), sent by
/// `from` (empty for `<>`) to `to`. `None` when no script applies (plain delivery).
pub fn decide(
    settings: &config::Sieve,
    directory: &Directory,
    user: &Address,
    from: &str,
    to: &str,
    message: &[u8],
    now: SystemTime,
) -> Option<Decision> {
    let scripts = scripts(settings, directory, user);
    if scripts.is_empty() {
        return None;
    }
    let home = home(directory, user);
    let capabilities = Capabilities::all();
    let parsed = ParsedMessage::new(message).with_envelope(from, to);
    let environment = Env { home: &home };
    let mut actions: Vec<Action> = Vec::new();
    let mut keep_flags: Option<Vec<String>> = Some(Vec::new());
    for path in &scripts {
        let Some(program) = load(path, &capabilities) else {
            continue;
        };
        let outcome = match program.run(&parsed, &environment, now) {
            Ok(o) => o,
            Err(e) => {
                warn!(%user, script = %path.display(), "sieve script failed, keeping the message: {e}");
                Outcome::fallback()
            }
        };
        keep_flags = None;
        for action in outcome.actions {
            match action {
                Action::Keep {
                    flags,
                    implicit: true,
                } => keep_flags = Some(flags),
                Action::Keep {
                    flags,
                    implicit: false,
                } => {
                    if !actions.iter().any(|a| matches!(a, Action::Keep { .. })) {
                        actions.push(Action::Keep {
                            flags,
                            implicit: false,
                        });
                    }
                }
                Action::FileInto { ref mailbox, .. }
                    if actions.iter().any(
                        |a| matches!(a, Action::FileInto { mailbox: m, .. } if m == mailbox),
                    ) => {}
                other => actions.push(other),
            }
        }
        if keep_flags.is_none() {
            break;
        }
    }
    if let Some(flags) = keep_flags
        && !actions.iter().any(|a| matches!(a, Action::Keep { .. }))
    {
        actions.push(Action::Keep {
            flags,
            implicit: true,
        });
    }
    Some(Decision { actions })
}

/// Reads and compiles a script; `None` (and a log line) when it cannot be.
fn load(path: &Path, capabilities: &Capabilities) -> Option<Program> {
    let max = capabilities.limits.max_script_size;
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > max as u64 => {
            warn!(script = %path.display(), "sieve script too large, skipped");
            return None;
        }
        Ok(_) => match std::fs::read(path) {
            Ok(t) => t,
            Err(e) => {
                warn!(script = %path.display(), "cannot read the sieve script, skipped: {e}");
                return None;
            }
        },
        Err(e) => {
            warn!(script = %path.display(), "cannot read the sieve script, skipped: {e}");
            return None;
        }
    };
    let compiled = mailwright_sieve::Script::parse_bytes(&text, &capabilities.limits)
        .map_err(mailwright_sieve::ScriptError::from)
        .and_then(|s| {
            s.compile(capabilities)
                .map_err(mailwright_sieve::ScriptError::from)
        });
    match compiled {
        Ok(p) => Some(p),
        Err(e) => {
            warn!(script = %path.display(), "sieve script does not compile, skipped: {e}");
            None
        }
    }
}

/// The user's side of a run: the Maildir's folders, the sent-reply record, the scripts in
/// `sieve/`.
struct Env<'a> {
    home: &'a Path,
}

impl Environment for Env<'_> {
    fn mailbox_exists(&self, name: &str) -> bool {
        let Ok(mailbox) = crate::store::MailboxName::new(name) else {
            return false;
        };
        match crate::store::maildir::folder_of(&mailbox) {
            Ok(None) => true,
            Ok(Some(folder)) => self
                .home
                .join("Maildir")
                .join(format!(".{folder}"))
                .is_dir(),
            Err(_) => false,
        }
    }

    fn vacation_replied(&self, key: &VacationKey, since: SystemTime) -> bool {
        let since = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let handle = record_field(&key.handle);
        read_record(self.home).iter().any(|(at, sender, h)| {
            *at >= since && sender.eq_ignore_ascii_case(&key.sender) && *h == handle
        })
    }

    fn script(&self, location: ScriptLocation, name: &str) -> Option<String> {
        if location != ScriptLocation::Personal
            || name.is_empty()
            || name.starts_with('.')
            || name.contains(['/', '\\', '\0'])
        {
            return None;
        }
        let path = self.home.join(SCRIPT_DIR).join(format!("{name}.sieve"));
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > Capabilities::all().limits.max_script_size as u64 {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }
}

/// A handle or sender as the record holds it: one line, no tabs.
fn record_field(s: &str) -> String {
    s.replace(['\t', '\r', '\n'], " ")
}

/// The sent-reply record: (seconds, sender, handle). A missing or unreadable one is empty.
fn read_record(home: &Path) -> Vec<(u64, String, String)> {
    let Ok(text) = std::fs::read_to_string(home.join(VACATION_RECORD)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let at = fields.next()?.parse().ok()?;
            Some((at, fields.next()?.to_owned(), fields.next()?.to_owned()))
        })
        .collect()
}

/// Notes a reply sent at `now` in the user's record, dropping entries older than a year.
pub fn note_reply(home: &Path, key: &VacationKey, now: SystemTime) -> std::io::Result<()> {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let oldest = now.saturating_sub(RECORD_KEEP.as_secs());
    let mut text = String::new();
    for (at, sender, handle) in read_record(home) {
        if at >= oldest {
            let _ = writeln!(text, "{at}\t{sender}\t{handle}");
        }
    }
    let _ = writeln!(
        text,
        "{now}\t{}\t{}",
        record_field(&key.sender),
        record_field(&key.handle)
    );
    std::fs::create_dir_all(home)?;
    let tmp = home.join(format!("{VACATION_RECORD}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(tmp, home.join(VACATION_RECORD))
}

/// The vacation reply as a message (RFC 5230 §5, RFC 3834 §3), from `<>`'s point of view:
/// `Auto-Submitted: auto-replied`, In-Reply-To and References of the original.
pub fn vacation_message(
    reply: &VacationReply,
    hostname: &str,
    id: &str,
    now: SystemTime,
) -> Vec<u8> {
    let mut m = String::new();
    let _ = write!(m, "From: {}\r\n", header_text(&reply.from));
    let _ = write!(m, "To: <{}>\r\n", reply.to);
    let _ = write!(m, "Subject: {}\r\n", header_text(&reply.subject));
    let _ = write!(m, "Date: {}\r\n", crate::core::timefmt::rfc5322(now));
    let _ = write!(m, "Message-ID: <{id}.vacation@{hostname}>\r\n");
    if let Some(irt) = &reply.in_reply_to {
        let _ = write!(m, "In-Reply-To: {irt}\r\n");
    }
    if let Some(refs) = &reply.references {
        let _ = write!(m, "References: {refs}\r\n");
    }
    m.push_str("Auto-Submitted: auto-replied (vacation)\r\n");
    m.push_str("Precedence: bulk\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    if reply.mime {
        // The reason is a MIME entity: its header fields, a blank line, its body.
        m.push_str(&crlf(&reply.body));
    } else {
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        m.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
        m.push_str(&crlf(&reply.body));
    }
    if !m.ends_with("\r\n") {
        m.push_str("\r\n");
    }
    m.into_bytes()
}

/// Text with every line ending CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// A header field's text: as it is when ASCII on one line, else an RFC 2047 encoded word.
fn header_text(text: &str) -> String {
    use base64::Engine as _;
    if text.is_ascii() && !text.contains(['\r', '\n']) {
        return text.to_owned();
    }
    if let Some((display, addr)) = text.rsplit_once('<')
        && addr.ends_with('>')
        && addr.is_ascii()
        && !display.trim().is_empty()
    {
        return format!("{} <{addr}", header_text(display.trim()));
    }
    let one_line = text.replace(['\r', '\n'], " ");
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(one_line)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_encodes_what_is_not_ascii() {
        assert_eq!(header_text("Auto: hi"), "Auto: hi");
        assert_eq!(header_text("Auto: é"), "=?UTF-8?B?QXV0bzogw6k=?=");
        assert_eq!(
            header_text("Zoé <zoe@example.org>"),
            "=?UTF-8?B?Wm/DqQ==?= <zoe@example.org>"
        );
    }

    #[test]
    fn the_record_notes_and_finds_replies() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { home: dir.path() };
        let key = VacationKey {
            sender: "bob@example.com".into(),
            handle: "away\tnow".into(),
        };
        let now = SystemTime::now();
        let day_ago = now - Duration::from_hours(24);
        assert!(!env.vacation_replied(&key, day_ago));
        note_reply(dir.path(), &key, now).unwrap();
        assert!(env.vacation_replied(&key, day_ago));
        assert!(!env.vacation_replied(&key, now + Duration::from_secs(10)));
        let other = VacationKey {
            sender: "carol@example.com".into(),
            handle: key.handle.clone(),
        };
        assert!(!env.vacation_replied(&other, day_ago));
    }
}

//! Converts a Maildir into an mbox file (appended, under the mbox locks), keeping flags, keywords
//! and dates.
//!
//! ```text
//! cargo run --release --example maildir2mbox -- [--variant mboxrd] [--no-fsync] ~/Maildir INBOX.mbox
//! ```
//!
//! Messages are written in delivery order (their file mtime, the IMAP INTERNALDATE, then unique
//! name), in batches of up to 8 MiB, each batch one locked, fsynced [`Mbox::append`]. The `From `
//! line takes the sender from `Return-Path:` (else `MAILER-DAEMON`) and the mtime as its date.
//! Maildir flags become `Status`/`X-Status`, keywords `X-Keywords`; messages in `cur/` are `O`ld.
//! A progress line is drawn on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailwright::maildir::{Flag, Maildir, Subdir};
use mailwright::mbox::{
    Asctime, Flags, FromLine, Mbox, MboxOptions, Metadata, NewMessage, Variant,
};

const BATCH_BYTES: usize = 8 * 1024 * 1024;

fn usage() -> ! {
    eprintln!(
        "usage: maildir2mbox [--variant mboxo|mboxrd|mboxcl|mboxcl2] [--no-fsync] MAILDIR MBOX"
    );
    std::process::exit(2);
}

fn main() {
    let mut variant = Variant::Mboxrd;
    let mut fsync = true;
    let mut paths = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--variant" => {
                variant = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--no-fsync" => fsync = false,
            "-h" | "--help" => usage(),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let [maildir, mbox]: [PathBuf; 2] = paths.try_into().unwrap_or_else(|_| usage());
    if let Err(e) = run(&maildir, &mbox, variant, fsync) {
        eprintln!("\nerror: {e}");
        std::process::exit(1);
    }
}

/// The envelope sender from `Return-Path: <addr>`, if the message has one that fits a From line.
fn return_path(text: &[u8]) -> Option<String> {
    let header_end = text
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(text.len());
    for line in text[..header_end].split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("Return-Path") {
            let addr = value
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            if !addr.is_empty() && !addr.contains(char::is_whitespace) {
                return Some(addr.to_owned());
            }
        }
    }
    None
}

fn run(
    maildir: &PathBuf,
    mbox_path: &PathBuf,
    variant: Variant,
    fsync: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let md = Maildir::open(maildir)?;
    let keywords = md.keywords()?;
    let mut entries = Vec::new();
    for e in md.scan()? {
        let date = md.internal_date(&e)?;
        entries.push((date, e));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.unique().cmp(b.1.unique())));
    let mut opts = MboxOptions::new(variant);
    opts.no_fsync = !fsync;
    let mbox = Mbox::new(mbox_path, opts);

    let total = entries.len();
    let mut last: Option<Instant> = None;
    let mut batch: Vec<(FromLine, Metadata, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0;
    let mut written = 0usize;
    let mut bytes = 0u64;
    let flush =
        |batch: &mut Vec<(FromLine, Metadata, Vec<u8>)>| -> Result<(), mailwright::mbox::Error> {
            let msgs: Vec<NewMessage<'_>> = batch
                .iter()
                .map(|(from, metadata, text)| NewMessage {
                    from,
                    metadata,
                    text,
                })
                .collect();
            mbox.append(&msgs)?;
            batch.clear();
            Ok(())
        };
    for (date, entry) in &entries {
        let text = md.read_message(entry)?;
        let f = entry.flags();
        let flags = Flags {
            seen: f.contains(Flag::Seen),
            old: entry.subdir() == Subdir::Cur,
            answered: f.contains(Flag::Replied),
            flagged: f.contains(Flag::Flagged),
            draft: f.contains(Flag::Draft),
            deleted: f.contains(Flag::Trashed),
        };
        let metadata = Metadata {
            flags,
            keywords: keywords
                .names_in(f)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            ..Metadata::default()
        };
        let sender = return_path(&text).unwrap_or_else(|| "MAILER-DAEMON".to_owned());
        let when = Asctime::from_system_time(*date)?;
        let from =
            FromLine::new(&sender, when).or_else(|_| FromLine::new("MAILER-DAEMON", when))?;
        batch_bytes += text.len();
        bytes += text.len() as u64;
        batch.push((from, metadata, text));
        written += 1;
        if batch_bytes >= BATCH_BYTES {
            flush(&mut batch)?;
            batch_bytes = 0;
        }
        if last.is_none_or(|l| l.elapsed() >= Duration::from_millis(200)) || written == total {
            last = Some(Instant::now());
            let pct = if total == 0 {
                100.0
            } else {
                written as f64 * 100.0 / total as f64
            };
            let filled = (pct / 100.0 * 30.0) as usize;
            eprint!(
                "\r[{}{}] {pct:5.1}% {written:>8}/{total} msgs {:>8.1} MiB",
                "#".repeat(filled.min(30)),
                " ".repeat(30 - filled.min(30)),
                bytes as f64 / 1_048_576.0
            );
            let _ = std::io::stderr().flush();
        }
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    eprintln!("\n{written} messages appended to {}", mbox_path.display());
    Ok(())
}

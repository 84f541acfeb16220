//! Converts an mbox file into a Maildir, keeping flags, keywords and dates.
//!
//! ```text
//! cargo run --release --example mbox2maildir -- [--variant mboxrd] [--no-fsync] INBOX.mbox ~/Maildir
//! ```
//!
//! The mbox is read under a shared fcntl lock, message by message (memory stays bounded whatever
//! its size). Each message is delivered with its mbox flags (`Status`/`X-Status` → `S R F D T`),
//! its `X-Keywords` as Maildir keywords, and its `From ` line date as the file's mtime (the IMAP
//! INTERNALDATE); the mbox bookkeeping headers are stripped. Messages without any flag or keyword
//! that are still \Recent (no `Status: O`) go to `new/`, the others to `cur/` (so a flagged
//! message that was still \Recent comes back from `maildir2mbox` with `O`: Maildir has no such
//! state). A progress line is drawn on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailwright::maildir::{DeliveryOptions, Flag, Flags, Maildir};
use mailwright::mbox::{Mbox, MboxOptions, Variant, strip_metadata};

struct Args {
    variant: Variant,
    fsync: bool,
    mbox: PathBuf,
    maildir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut variant = Variant::Mboxrd;
    let mut fsync = true;
    let mut paths = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--variant" => variant = it.next().ok_or("--variant needs a value")?.parse()?,
            "--no-fsync" => fsync = false,
            "-h" | "--help" => return Err(String::new()),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let [mbox, maildir]: [PathBuf; 2] = paths
        .try_into()
        .map_err(|_| "expected MBOX and MAILDIR".to_owned())?;
    Ok(Args {
        variant,
        fsync,
        mbox,
        maildir,
    })
}

/// A progress line on stderr, redrawn at most every 200 ms.
struct Progress {
    total: u64,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(total: u64) -> Self {
        Progress {
            total,
            start: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, done: u64, messages: u64, force: bool) {
        if !force
            && self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let pct = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        let width = 30;
        let filled = ((pct / 100.0) * width as f64) as usize;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r[{}{}] {pct:5.1}% {:>8.1} MiB {messages:>8} msgs {:>7.1} MiB/s",
            "#".repeat(filled.min(width)),
            " ".repeat(width - filled.min(width)),
            done as f64 / 1_048_576.0,
            done as f64 / 1_048_576.0 / secs
        );
        let _ = std::io::stderr().flush();
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: mbox2maildir [--variant mboxo|mboxrd|mboxcl|mboxcl2] [--no-fsync] MBOX MAILDIR"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("\nerror: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut md = if args.maildir.join("cur").is_dir() {
        Maildir::open(&args.maildir)?
    } else {
        Maildir::create(&args.maildir)?
    };
    md.set_fsync(args.fsync);
    let total = std::fs::metadata(&args.mbox)?.len();
    let mbox = Mbox::new(&args.mbox, MboxOptions::new(args.variant));
    let mut progress = Progress::new(total);
    let mut tolerated = 0usize;
    let count = mbox.read_locked(|reader| {
        let mut text = Vec::new();
        let mut n = 0u64;
        while let Some(entry) = reader.next_message(&mut text)? {
            tolerated += entry.tolerated.len();
            let m = &entry.metadata;
            let mut flags = Flags::empty();
            for (on, flag) in [
                (m.flags.seen, Flag::Seen),
                (m.flags.answered, Flag::Replied),
                (m.flags.flagged, Flag::Flagged),
                (m.flags.draft, Flag::Draft),
                (m.flags.deleted, Flag::Trashed),
            ] {
                if on {
                    flags.insert(flag);
                }
            }
            // new/ names carry no flags, so a message with keywords goes to cur/ to keep them.
            let recent = !m.flags.old && flags.is_empty() && m.keywords.is_empty();
            if !m.keywords.is_empty() {
                let names: Vec<&str> = m.keywords.iter().map(String::as_str).collect();
                flags = flags.union(md.keyword_flags(&names).map_err(std::io::Error::other)?);
            }
            let date = entry
                .from_line
                .date()
                .map(mailwright::mbox::Asctime::to_system_time);
            let opts = DeliveryOptions {
                time: date,
                flags: (!recent).then_some(flags),
                ignore_quota: true,
                internal_date: date,
            };
            md.deliver_with(&strip_metadata(&text), opts)
                .map_err(std::io::Error::other)?;
            n += 1;
            progress.show(reader.offset(), n, false);
        }
        Ok(n)
    })?;
    progress.show(total, count, true);
    eprintln!(
        "\n{count} messages converted into {}",
        args.maildir.display()
    );
    if tolerated > 0 {
        eprintln!(
            "note: {tolerated} damaged spots in the mbox were worked around (see Entry::tolerated)"
        );
    }
    Ok(())
}

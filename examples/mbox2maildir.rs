//! Converts an mbox file into a Maildir, keeping flags, keywords and dates.
//!
//! ```text
//! cargo run --release --example mbox2maildir -- [--variant mboxrd] [--no-fsync] INBOX.mbox ~/Maildir
//! ```
//!
//! The mbox is read under a shared fcntl lock, one message at a time (memory stays bounded
//! whatever its size); see `mailwright_mbox::convert` for how flags, keywords and dates map.
//! A progress bar is drawn on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailwright::maildir::Maildir;
use mailwright::mbox::{Mbox, MboxOptions, Variant};
use mailwright_mbox::convert::{Progress, mbox_to_maildir};

fn usage() -> ! {
    eprintln!(
        "usage: mbox2maildir [--variant mboxo|mboxrd|mboxcl|mboxcl2] [--no-fsync] MBOX MAILDIR"
    );
    std::process::exit(2);
}

/// A progress bar on stderr, redrawn at most every 200 ms.
struct Bar {
    start: Instant,
    last: Option<Instant>,
}

impl Bar {
    fn draw(&mut self, p: Progress, force: bool) {
        if !force
            && self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let total = p.total_bytes.unwrap_or(0).max(1);
        let pct = p.bytes as f64 * 100.0 / total as f64;
        let filled = ((pct / 100.0) * 30.0) as usize;
        let mib = p.bytes as f64 / 1_048_576.0;
        let rate = mib / self.start.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r[{:<30}] {pct:5.1}% {mib:>9.1} MiB {:>9} msgs {rate:>7.1} MiB/s",
            "#".repeat(filled.min(30)),
            p.messages
        );
        let _ = std::io::stderr().flush();
    }
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
    let [mbox, maildir]: [PathBuf; 2] = paths.try_into().unwrap_or_else(|_| usage());
    let result = (|| -> Result<u64, Box<dyn std::error::Error>> {
        let mut md = if maildir.join("cur").is_dir() {
            Maildir::open(&maildir)?
        } else {
            Maildir::create(&maildir)?
        };
        md.set_fsync(fsync);
        let mut bar = Bar {
            start: Instant::now(),
            last: None,
        };
        let mut last = Progress::default();
        let stats = mbox_to_maildir(
            &Mbox::new(&mbox, MboxOptions::new(variant)),
            &md,
            &mut |p| {
                last = p;
                bar.draw(p, false);
            },
        )?;
        last.bytes = last.total_bytes.unwrap_or(last.bytes);
        bar.draw(last, true);
        if stats.tolerated > 0 {
            eprintln!(
                "\nnote: {} damaged spots in the mbox were worked around",
                stats.tolerated
            );
        }
        Ok(stats.messages)
    })();
    match result {
        Ok(n) => eprintln!("\n{n} messages converted into {}", maildir.display()),
        Err(e) => {
            eprintln!("\nerror: {e}");
            std::process::exit(1);
        }
    }
}

//! Converts a Maildir into an mbox file (appended under the mbox locks), keeping flags, keywords
//! and dates.
//!
//! ```text
//! cargo run --release --example maildir2mbox -- [--variant mboxrd] [--no-fsync] ~/Maildir INBOX.mbox
//! ```
//!
//! Messages are written in delivery order, in batches of up to 8 MiB, each batch one locked,
//! fsynced append; see `mailwright_mbox::convert` for how flags, keywords and dates map.
//! A progress bar is drawn on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailwright::maildir::Maildir;
use mailwright::mbox::{Mbox, MboxOptions, Variant};
use mailwright_mbox::convert::maildir_to_mbox;

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
    let result = (|| -> Result<u64, Box<dyn std::error::Error>> {
        let md = Maildir::open(&maildir)?;
        let mut opts = MboxOptions::new(variant);
        opts.no_fsync = !fsync;
        let mut last: Option<Instant> = None;
        let stats = maildir_to_mbox(&md, &Mbox::new(&mbox, opts), 8 << 20, &mut |p| {
            let total = p.total_messages.unwrap_or(0);
            if last.is_some_and(|l| l.elapsed() < Duration::from_millis(200)) && p.messages != total
            {
                return;
            }
            last = Some(Instant::now());
            let pct = p.messages as f64 * 100.0 / total.max(1) as f64;
            let filled = ((pct / 100.0) * 30.0) as usize;
            eprint!(
                "\r[{:<30}] {pct:5.1}% {:>9}/{total} msgs {:>9.1} MiB",
                "#".repeat(filled.min(30)),
                p.messages,
                p.bytes as f64 / 1_048_576.0
            );
            let _ = std::io::stderr().flush();
        })?;
        Ok(stats.messages)
    })();
    match result {
        Ok(n) => eprintln!("\n{n} messages appended to {}", mbox.display()),
        Err(e) => {
            eprintln!("\nerror: {e}");
            std::process::exit(1);
        }
    }
}

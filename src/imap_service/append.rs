//! The message of an APPEND while it arrives: CRLF turned into LF as it streams in (Maildir files
//! are stored with LF, like delivered mail), held in memory up to [`MEMORY_LIMIT`], then spilled to
//! a temporary file in the server's spool directory, removed on drop.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Messages up to this size stay in memory.
pub(crate) const MEMORY_LIMIT: usize = 1024 * 1024;

/// An APPEND message being received.
#[derive(Debug)]
pub(crate) struct AppendSpool {
    memory: Vec<u8>,
    file: Option<(File, PathBuf)>,
    dir: PathBuf,
    pending_cr: bool,
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl AppendSpool {
    /// An empty spool spilling into `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            dir,
            pending_cr: false,
        }
    }

    /// Adds a chunk of the CRLF message (a CR not followed by LF is kept). Blocks once spilled.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        if std::mem::take(&mut self.pending_cr) && chunk.first() != Some(&b'\n') {
            out.push(b'\r');
        }
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\r') {
            out.extend_from_slice(&rest[..pos]);
            match rest.get(pos + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[pos + 1..];
        }
        out.extend_from_slice(rest);
        self.append(&out)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some((f, _)) = &mut self.file {
            return f.write_all(data);
        }
        if self.memory.len() + data.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!(
            "imap-append.{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.write_all(&self.memory)?;
        f.write_all(data)?;
        self.memory = Vec::new();
        self.file = Some((f, path));
        Ok(())
    }

    /// The whole message (LF line ends), to read from the start.
    pub(crate) fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        if std::mem::take(&mut self.pending_cr) {
            self.append(b"\r")?;
        }
        match &mut self.file {
            Some((f, _)) => {
                f.flush()?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(&*f))
            }
            None => Ok(Box::new(Cursor::new(&self.memory[..]))),
        }
    }
}

impl Drop for AppendSpool {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooled(chunks: &[&[u8]]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("mw-append-{}", std::process::id()));
        let mut s = AppendSpool::new(dir);
        for c in chunks {
            s.write(c).unwrap();
        }
        let mut out = Vec::new();
        s.reader().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn crlf_split_anywhere_becomes_lf() {
        let msg = b"Subject: x\r\n\r\na\rb\r\nc\r";
        let whole = spooled(&[msg]);
        assert_eq!(whole, b"Subject: x\n\na\rb\nc\r");
        for cut in 0..msg.len() {
            assert_eq!(spooled(&[&msg[..cut], &msg[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn large_messages_spill_to_disk() {
        let line = vec![b'x'; 1000];
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        for _ in 0..1500 {
            let mut c = line.clone();
            c.extend_from_slice(b"\r\n");
            chunks.push(c);
        }
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let out = spooled(&refs);
        assert_eq!(out.len(), 1500 * 1001);
        assert!(out.ends_with(b"x\n"));
    }
}

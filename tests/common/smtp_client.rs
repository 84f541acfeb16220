//! A small blocking SMTP client for tests: one command at a time, each reply read whole before the
//! next command, every read bounded by a timeout. Used where a test must know exactly which
//! message got which reply (the durability test records every 250 it was given).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One (possibly multi-line) reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// Every line, without CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// A connected client.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects, reads the greeting and says EHLO; every read and write times out after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Self> {
        let mut client = Self::greeted(addr, timeout)?;
        let ehlo = client.command("EHLO client.test")?;
        if ehlo.code != 250 {
            return Err(std::io::Error::other(format!("EHLO {ehlo:?}")));
        }
        Ok(client)
    }

    /// Connects and reads the greeting (a 220), saying nothing; reads and writes time out after
    /// `timeout`.
    pub fn greeted(addr: SocketAddr, timeout: Duration) -> std::io::Result<Self> {
        Self::greeted_over(TcpStream::connect_timeout(&addr, timeout)?, timeout)
    }

    /// As [`Client::greeted`] over a connection made already (from a chosen source address, or
    /// after a PROXY protocol header was sent on it).
    pub fn greeted_over(stream: TcpStream, timeout: Duration) -> std::io::Result<Self> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut client = Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let greeting = client.reply()?;
        if greeting.code != 220 {
            return Err(std::io::Error::other(format!("greeting {greeting:?}")));
        }
        Ok(client)
    }

    /// After a 354: sends `data` (CRLF line ends, not dot-stuffed) and the end of data, and reads
    /// `replies` replies (one in SMTP, one per accepted recipient in LMTP).
    pub fn data(&mut self, data: &[u8], replies: usize) -> std::io::Result<Vec<Reply>> {
        self.writer.write_all(&dot_stuff(data))?;
        self.writer.write_all(b".\r\n")?;
        (0..replies).map(|_| self.reply()).collect()
    }

    /// Reads one reply.
    pub fn reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad reply line {line:?}")))?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok(Reply { code, lines });
            }
            if lines.len() > 100 {
                return Err(std::io::Error::other("reply too long"));
            }
        }
    }

    /// Sends one command line (without CRLF) and reads its reply.
    pub fn command(&mut self, line: &str) -> std::io::Result<Reply> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Sends one message (`data` with CRLF line ends, not dot-stuffed) and returns the reply to the
    /// end of data. An error reply to MAIL, RCPT or DATA is returned as is (after RSET).
    pub fn send(&mut self, from: &str, rcpts: &[&str], data: &[u8]) -> std::io::Result<Reply> {
        let r = self.command(&format!("MAIL FROM:<{from}>"))?;
        if !r.is_ok() {
            return Ok(r);
        }
        let mut any = None;
        for rcpt in rcpts {
            let r = self.command(&format!("RCPT TO:<{rcpt}>"))?;
            if r.is_ok() {
                any = Some(r);
            } else if any.is_none() && rcpts.len() == 1 {
                let _ = self.command("RSET");
                return Ok(r);
            }
        }
        if any.is_none() {
            let _ = self.command("RSET");
            return Ok(Reply {
                code: 554,
                lines: vec!["no valid recipients".to_owned()],
            });
        }
        let r = self.command("DATA")?;
        if r.code != 354 {
            return Ok(r);
        }
        self.writer.write_all(&dot_stuff(data))?;
        self.writer.write_all(b".\r\n")?;
        self.reply()
    }

    /// The socket, to write raw bytes (e.g. a message cut short) or read what comes after the last
    /// reply (nothing is buffered between replies: every command waits for its reply).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.writer
    }

    /// Says QUIT (ignoring the outcome).
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }
}

/// RFC 5321 §4.5.2: a line starting with a dot gets one more; the result ends with CRLF.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

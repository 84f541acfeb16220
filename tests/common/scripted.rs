//! A scripted SMTP receiver for the outbound tests: replies come from a function of the command
//! line, so a test can send what `smtp-sink` cannot (Latin-1 reply text, a stall at one stage).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver does with one command.
pub enum Answer {
    /// Writes these octets (whole reply lines with CRLF).
    Reply(Vec<u8>),
    /// Writes nothing and waits for the client to go away (or [`MAX_STALL`]).
    Stall,
    /// Writes these octets after a pause.
    Delayed(Duration, Vec<u8>),
}

/// The longest a stalled connection is held.
pub const MAX_STALL: Duration = Duration::from_mins(1);
/// The longest the receiver runs.
const MAX_LIFE: Duration = Duration::from_mins(5);

/// Decides the answer to a command line (without CRLF). The greeting is asked for with `""`, the
/// end of the message data with `"."`.
pub type Script = dyn Fn(&str) -> Answer + Send + Sync;

/// A script that answers each line starting with `prefix` with `reply`, and every other line as
/// [`normal`] does.
pub fn answer(
    prefix: &'static str,
    reply: &'static [u8],
) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    move |line| {
        if line.starts_with(prefix) {
            Answer::Reply(reply.to_vec())
        } else {
            normal(line)
        }
    }
}

/// The answers of a well-behaved receiver that offers 8BITMIME only (no PIPELINING, so each
/// command waits for its reply).
pub fn normal(line: &str) -> Answer {
    let verb = line
        .split([' ', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let text: &[u8] = match verb.as_str() {
        "" => b"220 scripted.test ESMTP\r\n",
        "EHLO" => b"250-scripted.test\r\n250 8BITMIME\r\n",
        "HELO" | "RSET" | "NOOP" => b"250 2.0.0 OK\r\n",
        "MAIL" => b"250 2.1.0 OK\r\n",
        "RCPT" => b"250 2.1.5 OK\r\n",
        "DATA" => b"354 go ahead\r\n",
        "." => b"250 2.0.0 queued\r\n",
        "QUIT" => b"221 2.0.0 bye\r\n",
        _ => b"502 5.5.2 not here\r\n",
    };
    Answer::Reply(text.to_vec())
}

/// A receiver on an ephemeral loopback port; stopped on drop.
pub struct Scripted {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Every command line received, in order, read lossily as UTF-8.
    lines: Arc<Mutex<Vec<String>>>,
    /// Message data received (one entry per message, dot-stuffing undone).
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Connections open now, the most seen at once, and all accepted.
    active: Arc<Mutex<(usize, usize, usize)>>,
}

impl Scripted {
    /// Starts a receiver answering with `script`.
    pub fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let messages = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(Mutex::new((0, 0, 0)));
        let script: Arc<Script> = Arc::new(script);
        let (s, l, m, a) = (
            stop.clone(),
            lines.clone(),
            messages.clone(),
            active.clone(),
        );
        std::thread::spawn(move || {
            let end = Instant::now() + MAX_LIFE;
            while !s.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (script, s, l, m) = (script.clone(), s.clone(), l.clone(), m.clone());
                        let a = a.clone();
                        {
                            let mut count = a.lock().unwrap();
                            count.0 += 1;
                            count.1 = count.1.max(count.0);
                            count.2 += 1;
                        }
                        std::thread::spawn(move || {
                            serve(conn, &*script, &s, &l, &m);
                            a.lock().unwrap().0 -= 1;
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Scripted {
            addr,
            stop,
            lines,
            messages,
            active,
        }
    }

    /// The most connections that were open at once.
    pub fn max_connections(&self) -> usize {
        self.active.lock().unwrap().1
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.active.lock().unwrap().2
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The command lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    conn: TcpStream,
    script: &Script,
    stop: &AtomicBool,
    lines: &Mutex<Vec<String>>,
    messages: &Mutex<Vec<Vec<u8>>>,
) {
    conn.set_nonblocking(false).unwrap();
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut out = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    // Writes the answer; `false` when the connection is over.
    let answer = |out: &mut TcpStream, reader: &mut BufReader<TcpStream>, a: Answer| -> bool {
        match a {
            Answer::Reply(bytes) => out.write_all(&bytes).is_ok(),
            Answer::Delayed(pause, bytes) => {
                std::thread::sleep(pause.min(MAX_STALL));
                out.write_all(&bytes).is_ok()
            }
            Answer::Stall => {
                // Hold the connection until the client closes it.
                let end = Instant::now() + MAX_STALL;
                let mut sink = Vec::new();
                while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                    sink.clear();
                    if let Ok(0) = reader.read_until(b'\n', &mut sink) {
                        break;
                    }
                }
                false
            }
        }
    };
    if !answer(&mut out, &mut reader, script("")) {
        return;
    }
    let deadline = Instant::now() + MAX_LIFE;
    let mut in_data = false;
    let mut data = Vec::new();
    let mut line = Vec::new();
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with(b"\n") => {}
            // A timeout or a partial line: keep what came and read on.
            _ => continue,
        }
        let raw = std::mem::take(&mut line);
        let text = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        if in_data {
            if text == "." {
                messages.lock().unwrap().push(std::mem::take(&mut data));
            } else {
                // RFC 5321 §4.5.2: a leading dot was doubled.
                data.extend_from_slice(raw.strip_prefix(b".").unwrap_or(&raw));
                continue;
            }
        }
        lines.lock().unwrap().push(text.clone());
        let a = script(&text);
        in_data = text.eq_ignore_ascii_case("DATA")
            && matches!(&a, Answer::Reply(r) if r.starts_with(b"354"));
        if !answer(&mut out, &mut reader, a) || text.eq_ignore_ascii_case("QUIT") {
            return;
        }
    }
}

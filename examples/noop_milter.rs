//! A mail filter that changes nothing: it answers every step of the milter protocol with
//! "continue" and takes no action. The peer of the milter overhead benchmark
//! (`benches/scripts/milter_overhead.sh`), and a short example of `mailwright-milter`'s filter
//! side over blocking unix sockets.
//!
//! ```text
//! cargo run --release --example noop_milter -- /tmp/noop.sock
//! ```
//!
//! One thread per connection; it runs until killed.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use mailwright_milter::{Response, ServerConfig, ServerEvent, ServerSession};
use mailwright_sansio::Machine;

fn serve(mut stream: UnixStream) -> std::io::Result<()> {
    let mut session = ServerSession::new(ServerConfig::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = session.poll_event() {
            if let ServerEvent::Failed(e) = event {
                eprintln!("noop_milter: {e}");
            } else if session.reply_pending() {
                session
                    .reply(Response::Continue)
                    .map_err(std::io::Error::other)?;
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            stream.write_all(&bytes)?;
        }
        if session.is_closed() {
            return Ok(());
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        session.handle_input(Instant::now(), &buf[..n]);
    }
}

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: noop_milter SOCKET");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("noop_milter: {e}");
            }
        });
    }
    Ok(())
}

//! Fuzz target bodies for the `milter` crate.

use std::time::{Duration, Instant};

use mailwright_milter::{
    ClientConfig, ClientSession, Command, ServerConfig, ServerSession, encode, parse,
};
use mailwright_sansio::Machine;

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[("milter_frames", milter_frames)];

const MAX: usize = 1 << 16;

/// Any octets as a stream of commands and as a stream of responses: decoding never panics, never
/// consumes more than it was given, and what decodes re-encodes to itself; and both sessions
/// fed the octets never panic.
pub fn milter_frames(data: &[u8]) {
    let mut rest = data;
    while let Ok((used, cmd)) = parse::command(rest, MAX) {
        assert!(used <= rest.len());
        let mut wire = Vec::new();
        encode::command(&cmd, usize::MAX, &mut wire).expect("a decoded command encodes");
        assert_eq!(
            parse::command(&wire, usize::MAX).expect("re-decodes").1,
            cmd
        );
        rest = &rest[used..];
    }
    let mut rest = data;
    while let Ok((used, resp)) = parse::response(rest, MAX) {
        assert!(used <= rest.len());
        let mut wire = Vec::new();
        encode::response(&resp, usize::MAX, &mut wire).expect("a decoded response encodes");
        assert_eq!(
            parse::response(&wire, usize::MAX).expect("re-decodes").1,
            resp
        );
        rest = &rest[used..];
    }

    let now = Instant::now();
    let mut filter = ServerSession::new(ServerConfig {
        max_frame: MAX,
        ..ServerConfig::default()
    });
    filter.handle_input(now, data);
    for _ in 0..10_000 {
        match filter.poll_event() {
            Some(_) if filter.reply_pending() => {
                let _ = filter.reply(mailwright_milter::Response::Continue);
            }
            Some(_) => {}
            None => break,
        }
    }
    while filter.poll_transmit().is_some() {}

    let mut mta = ClientSession::new(ClientConfig {
        max_frame: MAX,
        ..ClientConfig::default()
    });
    mta.handle_timeout(now);
    let half = data.len() / 2;
    mta.handle_input(now, &data[..half]);
    while mta.poll_event().is_some() {}
    let _ = mta.send(now, Command::EndOfMessage);
    mta.handle_input(now, &data[half..]);
    while mta.poll_event().is_some() {}
    mta.handle_timeout(now + Duration::from_hours(1));
    while mta.poll_event().is_some() {}
}

//! # mailwright-sansio
//!
//! The contract shared by every state machine of the Mailwright protocol crates
//! (`mailwright-smtp-proto`, `mailwright-imap-proto`, `mailwright-pop3-proto`), server and client
//! side alike, and the few types they have in common. Knowing one machine means knowing all six.
//!
//! ## The contract
//!
//! A machine is driven by one loop that moves bytes and time ([`Machine`]):
//!
//! 1. Construct it (`ServerSession::new(config)`, `ClientSession::new(config)`); a server queues
//!    its greeting. Call [`Machine::handle_timeout`]`(now)` once when the connection starts, so
//!    that timers that run from the start of the connection (a login deadline) know when it was.
//! 2. Feed what the peer sent with [`Machine::handle_input`]`(now, bytes)`.
//! 3. Drain [`Machine::poll_event`] until `None`. An event that needs a decision stops the machine
//!    until the application answers with the decision method the event names; a decision method
//!    called when no such decision is pending returns [`UsageError`] instead of doing nothing.
//! 4. Write out everything [`Machine::poll_transmit`] returns.
//! 5. Sleep until the next input or [`Machine::poll_timeout`], whichever comes first; when the
//!    deadline has passed, call [`Machine::handle_timeout`]`(now)`.
//! 6. Stop when [`Machine::is_closed`] says so (after writing out the last transmit).
//!
//! The machines own the protocol timers (SMTP command and DATA deadlines, IMAP and POP3
//! autologout). They never read a clock: `now` is an argument, so a test moves time by passing a
//! later [`Instant`] instead of sleeping.
//!
//! ## What this crate will not do
//!
//! [`proxy`] reads and writes the PROXY protocol header (versions 1 and 2) that a load balancer
//! sends before any protocol's first byte.
//!
//! No protocol: it states the contract and holds the shared types ([`DecodeError`], [`Excerpt`],
//! [`Secret`], [`UsageError`], [`Timer`]). Without features it has no I/O, no clock and no async
//! runtime; the `tokio` feature adds [`driver`], one tokio loop that runs any machine over any
//! connection (the Mailwright server runs every session with it), its client-side counterpart
//! [`connection`] (the application pulls events while it waits for an answer; the protocol
//! crates' async clients are built on it), and [`upgrade`], a connection that runs any TLS
//! library's handshake in place for STARTTLS.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod connection;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
mod error;
pub mod proxy;
mod secret;
mod timer;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod upgrade;

pub use error::{DecodeError, EXCERPT_LEN, Excerpt, UsageError};
pub use secret::Secret;
pub use timer::Timer;

use std::time::Instant;

use bytes::Bytes;

/// A Sans-IO protocol session: bytes and time in, events and bytes out.
///
/// Every server and client session of the Mailwright protocol crates implements it, so one driver
/// (a tokio task, a blocking loop, a simulation with a virtual clock) runs any of them. See the
/// [crate docs](crate) for the call order.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mailwright_sansio::Machine;
///
/// /// Runs a machine over canned input with a virtual clock, returning what it wrote.
/// fn run<M: Machine>(machine: &mut M, input: &[&[u8]], step: Duration) -> Vec<u8> {
///     let mut now = Instant::now();
///     let mut out = Vec::new();
///     for chunk in input {
///         machine.handle_input(now, chunk);
///         while machine.poll_event().is_some() {}
///         while let Some(bytes) = machine.poll_transmit() {
///             out.extend_from_slice(&bytes);
///         }
///         now += step;
///         if machine.poll_timeout().is_some_and(|t| t <= now) {
///             machine.handle_timeout(now);
///         }
///     }
///     out
/// }
/// # let _ = run::<Nothing>;
/// # struct Nothing;
/// # impl Machine for Nothing {
/// #     type Event = ();
/// #     fn handle_input(&mut self, _: Instant, _: &[u8]) {}
/// #     fn poll_event(&mut self) -> Option<()> { None }
/// #     fn poll_transmit(&mut self) -> Option<bytes::Bytes> { None }
/// #     fn poll_timeout(&self) -> Option<Instant> { None }
/// #     fn handle_timeout(&mut self, _: Instant) {}
/// #     fn handle_tls_established(&mut self) -> Result<(), mailwright_sansio::UsageError> { Ok(()) }
/// #     fn handle_shutdown(&mut self) {}
/// #     fn wants_input(&self) -> bool { true }
/// #     fn is_closed(&self) -> bool { false }
/// # }
/// ```
pub trait Machine {
    /// What the machine reports to the application.
    type Event;

    /// Feeds bytes received from the peer at `now`. Never fails: malformed input is answered by the
    /// machine itself (or reported as an event) and the session goes on or closes cleanly.
    fn handle_input(&mut self, now: Instant, data: &[u8]);

    /// The next event, or `None` when the machine needs more input or a decision.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The next bytes to write to the peer, or `None` when nothing is queued.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Bytes>;

    /// When [`Machine::handle_timeout`] must be called next, or `None` when no timer runs.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Tells the machine that time has reached `now`. A timer whose deadline has passed fires (a
    /// server queues its timeout reply and closes); an early call does nothing.
    fn handle_timeout(&mut self, now: Instant);

    /// Tells the machine that the TLS handshake its STARTTLS (or STLS) asked for has completed:
    /// from now on the input is decrypted. Fails, changing nothing, when no upgrade was pending.
    fn handle_tls_established(&mut self) -> Result<(), UsageError>;

    /// Tells the machine that the server is going down (a client machine: that the application is
    /// ending the session). It answers with the protocol's goodbye (`421 4.3.2`, `* BYE`,
    /// `-ERR [SYS/TEMP]`, or QUIT/LOGOUT on a client) at the next point the protocol allows, then
    /// closes.
    fn handle_shutdown(&mut self);

    /// Whether the driver should read more input now. `false` while a decision is pending and
    /// enough input is buffered, or while the machine has a lot of unwritten output: stop reading
    /// until it is `true` again (back-pressure).
    #[must_use]
    fn wants_input(&self) -> bool;

    /// Whether the session has ended: write out the last [`Machine::poll_transmit`], then close.
    #[must_use]
    fn is_closed(&self) -> bool;
}

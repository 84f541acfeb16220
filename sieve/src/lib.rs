//! # mailwright-sieve
//!
//! Sieve mail filtering (RFC 5228) with the extensions mail clients generate: a parser that
//! reports errors by line and column, a compiler that checks a script against the enabled
//! [`Capabilities`] and produces a [`Program`], and an interpreter that runs the program over an
//! abstract [`Message`] and [`Environment`] and returns the [`Outcome`]: the actions to carry
//! out.
//!
//! Extensions: `fileinto`, `envelope`, `encoded-character` (RFC 5228), `reject` and `ereject`
//! (RFC 5429), `vacation` (RFC 5230) and `vacation-seconds` (RFC 6131), `imap4flags`
//! (RFC 5232), `subaddress` (RFC 5233), `variables` (RFC 5229), `relational` (RFC 5231), `copy`
//! (RFC 3894), `body` (RFC 5173), `date` and `index` (RFC 5260), `mailbox` (RFC 5490), `include`
//! (RFC 6609), and the comparators `i;octet`, `i;ascii-casemap`, `i;ascii-numeric` and
//! `i;unicode-casemap`. The [`managesieve`] module is the ManageSieve protocol (RFC 5804) on
//! the wire, for a server that stores users' scripts and a client that uploads them.
//!
//! ```
//! use std::time::SystemTime;
//! use mailwright_sieve::{Action, Capabilities, EmptyEnvironment, ParsedMessage, Script};
//!
//! let script = Script::parse(r#"
//!     require ["fileinto", "imap4flags"];
//!     if header :contains "subject" "[list]" {
//!         fileinto :flags "\\Seen" "Lists";
//!     }
//! "#).unwrap();
//! let program = script.compile(&Capabilities::all()).unwrap();
//! let message = ParsedMessage::new(b"Subject: [list] hello\r\n\r\nbody\r\n")
//!     .with_envelope("alice@example.org", "bob@example.com");
//! let outcome = program.run(&message, &EmptyEnvironment, SystemTime::now()).unwrap();
//! assert_eq!(outcome.actions, vec![Action::FileInto {
//!     mailbox: "Lists".into(),
//!     flags: vec!["\\Seen".into()],
//!     copy: false,
//!     create: false,
//! }]);
//! ```
//!
//! ## What this crate will not do
//!
//! No I/O and no clock: the application reads the script and the message, passes the time of
//! delivery, answers the [`Environment`]'s questions (mailboxes, the vacation record, included
//! scripts), and carries out the actions (storing, forwarding, refusing, replying). A failed run
//! ([`RuntimeError`]) voids the script's actions; the application then keeps the message
//! ([`Outcome::fallback`]), as Pigeonhole does. Not implemented: `regex`, `notify`
//! (`enotify`), `editheader`, `mime`/`foreverypart`, `duplicate`, `spamtest`, `environment`,
//! `ihave`.

#![forbid(unsafe_code)]

mod address;
mod capabilities;
mod compile;
mod date;
mod environment;
mod error;
mod interpret;
mod lexer;
pub mod managesieve;
mod matching;
mod message;
mod outcome;
mod parse;
mod print;
mod program;
mod reply;
mod template;

use std::time::SystemTime;

pub use capabilities::{Capabilities, Extension, Limits};
pub use environment::{EmptyEnvironment, Environment, ScriptLocation, VacationKey};
pub use error::{
    CompileError, CompileErrorKind, Limit, ParseError, ParseErrorKind, Position, RuntimeError,
    RuntimeErrorKind,
};
pub use message::{BodyPart, Message, ParsedMessage, decode_header};
pub use outcome::{Action, NoReply, Outcome, VacationReply};
pub use program::Program;

/// A parsed script: syntactically Sieve, not yet checked against capabilities.
///
/// `Display` writes it back as script text that parses to the same script
/// ([`Script::syntax_eq`]): strings quoted or, when they end with a line end, `text:`
/// (RFC 5228 §2.4.2); numbers with the largest quantifier that divides them (`100K`); one
/// command a line; comments are not kept. `==` also compares where each item was written.
///
/// ```
/// use mailwright_sieve::Script;
/// let script = Script::parse("if header :contains \"subject\" \"[list]\" {fileinto \"Lists\";}").unwrap();
/// let text = script.to_string();
/// assert_eq!(text, "if header :contains \"subject\" \"[list]\" {\n    fileinto \"Lists\";\n}\n");
/// assert!(Script::parse(&text).unwrap().syntax_eq(&script));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    commands: Vec<parse::Command>,
}

impl Script {
    /// Parses a script with the default [`Limits`].
    pub fn parse(text: &str) -> Result<Script, ParseError> {
        Self::parse_with(text, &Limits::default())
    }

    /// Parses a script within `limits` (`max_script_size`, `max_nesting`).
    pub fn parse_with(text: &str, limits: &Limits) -> Result<Script, ParseError> {
        if text.len() > limits.max_script_size {
            return Err(ParseError::new(
                Position { line: 1, column: 1 },
                ParseErrorKind::TooLarge(limits.max_script_size),
                "",
            ));
        }
        let commands = parse::Parser::new(text, limits.max_nesting)?.script()?;
        Ok(Script { commands })
    }

    /// Parses a script from octets, which must be UTF-8 (RFC 5228 §2.2).
    pub fn parse_bytes(bytes: &[u8], limits: &Limits) -> Result<Script, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse_with(text, limits),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                #[allow(clippy::naive_bytecount)] // once, on an error
                let line = good.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
                let column = std::str::from_utf8(good)
                    .map(|s| s.rsplit('\n').next().unwrap_or_default().chars().count())
                    .unwrap_or_default() as u32
                    + 1;
                Err(ParseError::new(
                    Position { line, column },
                    ParseErrorKind::NotUtf8,
                    "",
                ))
            }
        }
    }

    /// Whether `other` has the same commands, tests, arguments and string values, wherever
    /// they were written (positions, comments and spelling aside: `100K` and `102400` are the
    /// same number, a quoted string and a `text:` string with the same value the same string).
    pub fn syntax_eq(&self, other: &Script) -> bool {
        print::same_commands(&self.commands, &other.commands)
    }

    /// Checks the script against the capabilities and compiles it. The program keeps the
    /// capabilities' limits for its runs.
    pub fn compile(&self, capabilities: &Capabilities) -> Result<Program, CompileError> {
        compile::compile(&self.commands, capabilities)
    }
}

impl Program {
    /// Parses and compiles in one step.
    ///
    /// ```
    /// use mailwright_sieve::{Capabilities, Program};
    /// let err = Program::compile("keep;\nfileinto \"x\";", &Capabilities::all()).unwrap_err();
    /// assert_eq!(err.line(), 2);
    /// assert_eq!(err.to_string(), "line 2: error: unknown command 'fileinto'");
    /// ```
    pub fn compile(text: &str, capabilities: &Capabilities) -> Result<Program, ScriptError> {
        let script = Script::parse_with(text, &capabilities.limits)?;
        Ok(script.compile(capabilities)?)
    }

    /// Runs the program on a message delivered at `now`. On success the [`Outcome`] lists the
    /// actions, the implicit keep included; on error nothing the script did stands and the
    /// application keeps the message ([`Outcome::fallback`]).
    pub fn run(
        &self,
        message: &dyn Message,
        environment: &dyn Environment,
        now: SystemTime,
    ) -> Result<Outcome, RuntimeError> {
        interpret::run(self, message, environment, now)
    }

    /// The capabilities (and limits) the program was compiled with.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
}

impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        print::commands(f, &self.commands, 0)
    }
}

/// A script that does not parse or does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// It does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// It parses but does not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

impl ScriptError {
    /// The line of the error, from 1.
    pub fn line(&self) -> u32 {
        match self {
            ScriptError::Parse(e) => e.line(),
            ScriptError::Compile(e) => e.line(),
        }
    }

    /// Where the error is.
    pub fn position(&self) -> Position {
        match self {
            ScriptError::Parse(e) => e.position(),
            ScriptError::Compile(e) => e.position(),
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

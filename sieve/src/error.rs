//! The three errors of a script's life: it does not parse, it does not compile, or it failed while
//! running (after which the application keeps the message, RFC 5228 §2.10.6).

use std::fmt;

use mailwright_sansio::Excerpt;

/// Where something is in a script: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, counted in characters.
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A script that is not Sieve: the grammar of RFC 5228 §8 does not accept it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}: error: {kind}", position.line)]
pub struct ParseError {
    position: Position,
    kind: ParseErrorKind,
    excerpt: Excerpt,
}

impl ParseError {
    pub(crate) fn new(position: Position, kind: ParseErrorKind, rest: &str) -> Self {
        Self {
            position,
            kind,
            excerpt: Excerpt::new(rest.as_bytes()),
        }
    }

    /// Where the error is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The line of the error, from 1.
    pub fn line(&self) -> u32 {
        self.position.line
    }

    /// The column of the error, from 1.
    pub fn column(&self) -> u32 {
        self.position.column
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The script text from the error on, cut short, for a log line.
    pub fn excerpt(&self) -> &Excerpt {
        &self.excerpt
    }
}

/// What made a script unparsable. The messages follow Pigeonhole's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that starts no token.
    #[error("unexpected character(s) starting with '{}'", .0.escape_default())]
    UnexpectedCharacter(char),
    /// `/*` without its `*/` (started at this line).
    #[error("end of file before end of bracket comment ('/* ... */') started at line {0}")]
    UnterminatedComment(u32),
    /// A quoted string without its closing quote (started at this line).
    #[error("end of file before end of quoted string started at line {0}")]
    UnterminatedString(u32),
    /// A `text:` string without its closing `.` line.
    #[error("end of file before end of multi-line string")]
    UnterminatedMultiLine,
    /// Something other than a comment or a line end after `text:`.
    #[error("invalid character '{}' after 'text:' (expecting a comment or the end of the line)", .0.escape_default())]
    MultiLineGarbage(char),
    /// A number beyond 2^64 - 1.
    #[error("number exceeds integer limits (max {})", u64::MAX)]
    NumberTooLarge,
    /// A token where another was needed.
    #[error("expected {expected}, but found {found}")]
    Expected {
        /// What the grammar wanted.
        expected: &'static str,
        /// What the script has.
        found: String,
    },
    /// Blocks or tests nested deeper than [`Limits::max_nesting`](crate::Limits::max_nesting).
    #[error("nesting too deep (more than {0} levels)")]
    TooDeep(usize),
    /// A script longer than [`Limits::max_script_size`](crate::Limits::max_script_size).
    #[error("script is too large (more than {0} octets)")]
    TooLarge(usize),
    /// A script that is not UTF-8 (RFC 5228 §2.2).
    #[error("script is not valid UTF-8")]
    NotUtf8,
}

/// A script that parses but is not a valid program for the given capabilities: an unknown
/// command, a missing `require`, an argument of the wrong type (RFC 5228 §2.10.6: such errors are
/// found before the script runs).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}: error: {kind}", position.line)]
pub struct CompileError {
    position: Position,
    kind: CompileErrorKind,
}

impl CompileError {
    pub(crate) fn new(position: Position, kind: CompileErrorKind) -> Self {
        Self { position, kind }
    }

    /// Where the error is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The line of the error, from 1.
    pub fn line(&self) -> u32 {
        self.position.line
    }

    /// The column of the error, from 1.
    pub fn column(&self) -> u32 {
        self.position.column
    }

    /// What is wrong.
    pub fn kind(&self) -> &CompileErrorKind {
        &self.kind
    }
}

/// What makes a parsed script invalid. The messages follow Pigeonhole's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// `require` names a capability this implementation does not offer (or the application
    /// disabled).
    #[error("require command: unknown Sieve capability `{0}'")]
    UnknownCapability(String),
    /// `require` after another command (RFC 5228 §3.2).
    #[error("require command can only be placed at top level at the beginning of the file")]
    MisplacedRequire,
    /// A command that no required extension defines.
    #[error("unknown command '{0}'")]
    UnknownCommand(String),
    /// A test that no required extension defines.
    #[error("unknown test '{0}'")]
    UnknownTest(String),
    /// A tagged argument the command does not take (or whose extension is not required).
    #[error("unknown tagged argument ':{tag}' for the {command} {what}")]
    UnknownTag {
        /// The tag, without its colon.
        tag: String,
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
    },
    /// A tagged argument given twice, or two that exclude each other.
    #[error(
        "the {command} {what} has conflicting or repeated tagged arguments :{first} and :{second}"
    )]
    TagConflict {
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
        /// The first tag.
        first: String,
        /// The second tag.
        second: String,
    },
    /// A tag that needs a parameter is last, or its parameter has the wrong type.
    #[error("the :{tag} tag for the {command} {what} requires {expected} as parameter")]
    TagParameter {
        /// The tag.
        tag: String,
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
        /// "a string", "a number", "a string list".
        expected: &'static str,
    },
    /// Too many or too few positional arguments.
    #[error(
        "the {command} {what} requires {expected} positional argument(s), but {found} is/are specified"
    )]
    ArgumentCount {
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
        /// How many it takes.
        expected: usize,
        /// How many the script gives.
        found: usize,
    },
    /// A positional argument of the wrong type.
    #[error(
        "the {command} {what} expects {expected} as argument {index} ({name}), but {found} was found"
    )]
    ArgumentType {
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
        /// 1-based.
        index: usize,
        /// The argument's name in the RFC grammar.
        name: &'static str,
        /// "a string", "a number", "a string list".
        expected: &'static str,
        /// What the script gives.
        found: &'static str,
    },
    /// A command that needs a test (`if`) has none, or one that takes none has one.
    #[error("the {command} {what} {problem}")]
    Structure {
        /// The command or test.
        command: String,
        /// "command" or "test".
        what: &'static str,
        /// What is wrong: "requires a command block, but it is missing", ...
        problem: &'static str,
    },
    /// `elsif` or `else` not after `if` or `elsif`.
    #[error("{0} command must follow an if or elseif command")]
    ElseWithoutIf(String),
    /// A comparator that is not known or not required.
    #[error("unknown comparator '{0}'")]
    UnknownComparator(String),
    /// A match type the comparator cannot do (i;ascii-numeric has no substring matching).
    #[error("the comparator '{comparator}' does not support the :{match_type} match type")]
    ComparatorMatch {
        /// The comparator.
        comparator: String,
        /// The match type.
        match_type: &'static str,
    },
    /// A relational operator other than gt, ge, lt, le, eq, ne (RFC 5231 §4).
    #[error("invalid relational match '{0}'")]
    InvalidRelation(String),
    /// A string argument whose value is invalid where the script says it (an address, a mailbox
    /// name, a date part, a variable name ...).
    #[error("{0}")]
    InvalidValue(String),
    /// More variables than [`Limits::max_variables`](crate::Limits::max_variables).
    #[error("too many variables (more than {0})")]
    TooManyVariables(usize),
}

/// A failure while the program ran. The script's actions are void; the application keeps the
/// message (implicit keep), as Pigeonhole does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}: error: {kind}", position.line)]
pub struct RuntimeError {
    position: Position,
    script: Option<String>,
    kind: RuntimeErrorKind,
}

impl RuntimeError {
    pub(crate) fn new(position: Position, kind: RuntimeErrorKind) -> Self {
        Self {
            position,
            script: None,
            kind,
        }
    }

    pub(crate) fn in_script(mut self, name: &str) -> Self {
        if self.script.is_none() {
            self.script = Some(name.to_owned());
        }
        self
    }

    /// Where in the script the failing command is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The included script the error happened in, `None` for the main script.
    pub fn script(&self) -> Option<&str> {
        self.script.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &RuntimeErrorKind {
        &self.kind
    }
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeErrorKind {
    /// A configured limit was exceeded.
    #[error("{0}")]
    Limit(Limit),
    /// Two actions that cannot go together (RFC 5429 §2.1: reject with a delivering action,
    /// reject with vacation).
    #[error("{0}")]
    ActionConflict(String),
    /// An argument computed at run time is invalid: an empty mailbox name, a redirect address
    /// that is no address.
    #[error("{0}")]
    InvalidArgument(String),
    /// An included script is missing (without `:optional`), is included from itself, or does
    /// not compile.
    #[error("include: {0}")]
    Include(String),
}

/// A run-time limit of [`Limits`](crate::Limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_steps`](crate::Limits::max_steps).
    #[error("execution exceeded the limit of {0} steps")]
    Steps(u64),
    /// [`Limits::max_actions`](crate::Limits::max_actions).
    #[error("total number of actions exceeds policy limit ({0})")]
    Actions(usize),
    /// [`Limits::max_redirects`](crate::Limits::max_redirects).
    #[error("total number of redirect actions exceeds policy limit ({0})")]
    Redirects(usize),
    /// [`Limits::max_include_depth`](crate::Limits::max_include_depth).
    #[error("include nesting is too deep (more than {0} levels)")]
    IncludeDepth(usize),
    /// [`Limits::max_includes`](crate::Limits::max_includes).
    #[error("too many included scripts (more than {0})")]
    Includes(usize),
}

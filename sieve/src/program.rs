//! A checked program: the parse tree with every argument typed and every tag resolved, so that
//! the interpreter meets no syntax question at run time.

use crate::Capabilities;
use crate::error::Position;
use crate::template::Value;

/// A compiled script, ready to run against any number of messages
/// ([`Program::run`](crate::Program::run)).
#[derive(Clone, Debug)]
pub struct Program {
    pub(crate) block: Vec<Node>,
    pub(crate) capabilities: Capabilities,
    /// Whether the script required `variables` (match variables are only kept then).
    pub(crate) variables: bool,
}

/// A command and where it is in the script.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) pos: Position,
    pub(crate) cmd: Cmd,
}

#[derive(Clone, Debug)]
pub(crate) enum Cmd {
    /// `if` with its `elsif` branches, and `else`.
    If {
        branches: Vec<(TestNode, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    Stop,
    Return,
    Keep {
        flags: Option<Vec<Value>>,
    },
    Discard,
    Redirect {
        address: Value,
        copy: bool,
    },
    FileInto {
        mailbox: Value,
        copy: bool,
        create: bool,
        flags: Option<Vec<Value>>,
    },
    Reject {
        reason: Value,
        extended: bool,
    },
    Vacation(Box<VacationCmd>),
    Flags {
        op: FlagOp,
        variable: Option<VarRef>,
        flags: Vec<Value>,
    },
    Set {
        variable: VarRef,
        value: Value,
        modifiers: Vec<Modifier>,
    },
    Include {
        global: bool,
        once: bool,
        optional: bool,
        name: String,
    },
    /// `global`: the names are resolved at compile time; nothing to do at run time.
    Global,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

/// RFC 5229 §4.1, in the order they apply (highest precedence first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

impl Modifier {
    pub(crate) fn precedence(self) -> u8 {
        match self {
            Modifier::Lower | Modifier::Upper => 40,
            Modifier::LowerFirst | Modifier::UpperFirst => 30,
            Modifier::QuoteWildcard => 20,
            Modifier::Length => 10,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct VacationCmd {
    /// `:days` (false) or `:seconds` (true) and its value.
    pub(crate) period: Option<(bool, u64)>,
    pub(crate) subject: Option<Value>,
    pub(crate) from: Option<Value>,
    pub(crate) addresses: Vec<Value>,
    pub(crate) mime: bool,
    pub(crate) handle: Option<Value>,
    /// The handle without `:handle`: the reason, subject and from as the script writes them
    /// (variables not substituted, so it is the same for every message), and the `:mime` flag.
    pub(crate) default_handle: String,
    pub(crate) reason: Value,
}

/// A variable, resolved at compile time to the script's own scope or the global one (RFC 6609
/// §3.5). Names are lower case: RFC 5229 §3 makes them case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum VarRef {
    Local(String),
    Global(String),
}

#[derive(Clone, Debug)]
pub(crate) struct TestNode {
    pub(crate) pos: Position,
    pub(crate) test: Test,
}

#[derive(Clone, Debug)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<TestNode>),
    AllOf(Vec<TestNode>),
    AnyOf(Vec<TestNode>),
    Header {
        mt: Match,
        names: Vec<Value>,
        keys: Vec<Value>,
        index: Option<Index>,
    },
    Address {
        mt: Match,
        part: AddressPart,
        headers: Vec<Value>,
        keys: Vec<Value>,
        index: Option<Index>,
    },
    Envelope {
        mt: Match,
        part: AddressPart,
        fields: Vec<Value>,
        keys: Vec<Value>,
    },
    Exists(Vec<Value>),
    Size {
        over: bool,
        limit: u64,
    },
    String {
        mt: Match,
        sources: Vec<Value>,
        keys: Vec<Value>,
    },
    HasFlag {
        mt: Match,
        variables: Vec<VarRef>,
        keys: Vec<Value>,
    },
    Body {
        mt: Match,
        transform: BodyTransform,
        keys: Vec<Value>,
    },
    Date {
        mt: Match,
        zone: Zone,
        header: Value,
        part: Value,
        keys: Vec<Value>,
        index: Option<Index>,
    },
    CurrentDate {
        mt: Match,
        zone: Zone,
        part: Value,
        keys: Vec<Value>,
    },
    MailboxExists(Vec<Value>),
}

/// `:index <n> [:last]` (RFC 5260 §6).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Index {
    pub(crate) n: u64,
    pub(crate) last: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Zone {
    /// The user's time zone (the default).
    Local,
    /// `:originalzone`: the zone the date was written in.
    Original,
    /// `:zone "+hhmm"`.
    Fixed(Value),
}

#[derive(Clone, Debug)]
pub(crate) enum BodyTransform {
    Raw,
    Text,
    Content(Vec<Value>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressPart {
    All,
    LocalPart,
    Domain,
    User,
    Detail,
}

/// A comparator and a match type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) comparator: Comparator,
    pub(crate) kind: MatchKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
    UnicodeCasemap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Is,
    Contains,
    Matches,
    Value(Relation),
    Count(Relation),
}

/// RFC 5231 §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Relation::Gt => ordering == Greater,
            Relation::Ge => ordering != Less,
            Relation::Lt => ordering == Less,
            Relation::Le => ordering != Greater,
            Relation::Eq => ordering == Equal,
            Relation::Ne => ordering != Equal,
        }
    }
}

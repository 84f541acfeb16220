//! From parse tree to [`Program`]: `require` checked against the capabilities, every command and
//! test checked for its tags, the count and types of its arguments (RFC 5228 §2.6, §2.10.6), and
//! the constant values that must be valid (a redirect address, a relational operator ...).

use std::collections::HashSet;

use crate::address;
use crate::capabilities::{Capabilities, Extension};
use crate::error::{CompileError, CompileErrorKind, Position};
use crate::parse::{self, Argument};
use crate::program::{
    AddressPart, BodyTransform, Cmd, Comparator, FlagOp, Index, Match, MatchKind, Modifier, Node,
    Program, Relation, Test, TestNode, VacationCmd, VarRef, Zone,
};
use crate::template::{self, Scan, Value};

type Result<T> = std::result::Result<T, CompileError>;

/// What a tag takes after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    None,
    String,
    StringList,
    Number,
}

/// A tag and its parameter, as the command wrote them.
struct Tagged<'a> {
    name: String,
    pos: Position,
    param: Option<&'a Argument>,
}

/// The arguments of one command or test, tags split from positional arguments.
struct Args<'a> {
    command: &'a str,
    what: &'static str,
    pos: Position,
    tags: Vec<Tagged<'a>>,
    positional: Vec<&'a Argument>,
}

pub(crate) fn compile(commands: &[parse::Command], caps: &Capabilities) -> Result<Program> {
    let mut cx = Compiler {
        caps,
        required: HashSet::new(),
        globals: HashSet::new(),
        names: HashSet::new(),
    };
    let mut body = commands;
    // RFC 5228 §3.2: require comes before any other command.
    while let Some((first, rest)) = body.split_first() {
        if first.name != "require" {
            break;
        }
        cx.require(first)?;
        body = rest;
    }
    let block = cx.block(body)?;
    Ok(Program {
        block,
        capabilities: caps.clone(),
        variables: cx.has(Extension::Variables),
    })
}

struct Compiler<'c> {
    caps: &'c Capabilities,
    required: HashSet<Extension>,
    globals: HashSet<String>,
    names: HashSet<VarRef>,
}

fn err(pos: Position, kind: CompileErrorKind) -> CompileError {
    CompileError::new(pos, kind)
}

fn invalid(pos: Position, message: impl Into<String>) -> CompileError {
    err(pos, CompileErrorKind::InvalidValue(message.into()))
}

impl Compiler<'_> {
    fn has(&self, e: Extension) -> bool {
        self.required.contains(&e)
    }

    fn require(&mut self, c: &parse::Command) -> Result<()> {
        let args = Self::split(c.name.as_str(), "command", c.pos, &c.args, |_, _| None)?;
        args.count(1)?;
        Self::no_tests_no_block(c)?;
        let names = args.strings(0, "capabilities")?;
        for name in names {
            if !self.caps.enabled_name(&name.value) {
                return Err(err(
                    name.pos,
                    CompileErrorKind::UnknownCapability(name.value.clone()),
                ));
            }
            if let Some(e) = Extension::from_name(&name.value) {
                self.required.insert(e);
                // RFC 6131 §2: vacation-seconds implies vacation.
                if e == Extension::VacationSeconds {
                    self.required.insert(Extension::Vacation);
                }
            }
        }
        Ok(())
    }

    fn no_tests_no_block(c: &parse::Command) -> Result<()> {
        if !c.tests.is_empty() {
            return Err(structure(&c.name, "command", c.pos, "accepts no tests"));
        }
        if c.block.is_some() {
            return Err(structure(
                &c.name,
                "command",
                c.pos,
                "does not accept a command block",
            ));
        }
        Ok(())
    }

    fn block(&mut self, commands: &[parse::Command]) -> Result<Vec<Node>> {
        let mut out: Vec<Node> = Vec::new();
        for c in commands {
            match c.name.as_str() {
                "elsif" | "else" => {
                    let Some(Node {
                        cmd:
                            Cmd::If {
                                branches,
                                otherwise,
                            },
                        ..
                    }) = out.last_mut()
                    else {
                        return Err(err(c.pos, CompileErrorKind::ElseWithoutIf(c.name.clone())));
                    };
                    if otherwise.is_some() {
                        return Err(err(c.pos, CompileErrorKind::ElseWithoutIf(c.name.clone())));
                    }
                    let Some(block) = &c.block else {
                        return Err(structure(
                            &c.name,
                            "command",
                            c.pos,
                            "requires a command block, but it is missing",
                        ));
                    };
                    if !c.args.is_empty() {
                        return Err(err(
                            c.args[0].pos(),
                            CompileErrorKind::ArgumentCount {
                                command: c.name.clone(),
                                what: "command",
                                expected: 0,
                                found: c.args.len(),
                            },
                        ));
                    }
                    if c.name == "elsif" {
                        let test = self.single_test(c)?;
                        // Take the branches out while compiling the block, so `self` is free.
                        let mut taken = std::mem::take(branches);
                        let body = self.block(block)?;
                        taken.push((test, body));
                        if let Some(Node {
                            cmd: Cmd::If { branches, .. },
                            ..
                        }) = out.last_mut()
                        {
                            *branches = taken;
                        }
                    } else {
                        if !c.tests.is_empty() {
                            return Err(structure(&c.name, "command", c.pos, "accepts no tests"));
                        }
                        let body = self.block(block)?;
                        if let Some(Node {
                            cmd: Cmd::If { otherwise, .. },
                            ..
                        }) = out.last_mut()
                        {
                            *otherwise = Some(body);
                        }
                    }
                }
                _ => {
                    let cmd = self.command(c)?;
                    out.push(Node { pos: c.pos, cmd });
                }
            }
        }
        Ok(out)
    }

    fn single_test(&mut self, c: &parse::Command) -> Result<TestNode> {
        match c.tests.as_slice() {
            [t] if !c.parenthesised => self.test(t),
            [] => Err(structure(
                &c.name,
                "command",
                c.pos,
                "requires one test, but none is specified",
            )),
            _ => Err(structure(
                &c.name,
                "command",
                c.pos,
                "requires one test, but a list of tests is specified",
            )),
        }
    }

    fn command(&mut self, c: &parse::Command) -> Result<Cmd> {
        let name = c.name.as_str();
        if name == "if" {
            let Some(block) = &c.block else {
                return Err(structure(
                    name,
                    "command",
                    c.pos,
                    "requires a command block, but it is missing",
                ));
            };
            if !c.args.is_empty() {
                return Err(err(
                    c.args[0].pos(),
                    CompileErrorKind::ArgumentCount {
                        command: c.name.clone(),
                        what: "command",
                        expected: 0,
                        found: c.args.len(),
                    },
                ));
            }
            let test = self.single_test(c)?;
            let body = self.block(block)?;
            return Ok(Cmd::If {
                branches: vec![(test, body)],
                otherwise: None,
            });
        }
        let known = match name {
            "require" => return Err(err(c.pos, CompileErrorKind::MisplacedRequire)),
            "stop" | "keep" | "discard" | "redirect" => true,
            "fileinto" => self.has(Extension::FileInto),
            "reject" => self.has(Extension::Reject),
            "ereject" => self.has(Extension::Ereject),
            "vacation" => self.has(Extension::Vacation),
            "setflag" | "addflag" | "removeflag" => self.has(Extension::Imap4Flags),
            "set" => self.has(Extension::Variables),
            "include" | "return" | "global" => self.has(Extension::Include),
            _ => false,
        };
        if !known {
            return Err(err(
                c.pos,
                CompileErrorKind::UnknownCommand(name.to_owned()),
            ));
        }
        Self::no_tests_no_block(c)?;
        let imap4flags = self.has(Extension::Imap4Flags);
        let copy = self.has(Extension::Copy);
        let mailbox = self.has(Extension::Mailbox);
        let seconds = self.has(Extension::VacationSeconds);
        let args = Self::split(name, "command", c.pos, &c.args, |cmd, tag| {
            match (cmd, tag) {
                ("keep" | "fileinto", "flags") if imap4flags => Some(Param::StringList),
                ("fileinto" | "redirect", "copy") if copy => Some(Param::None),
                ("fileinto", "create") if mailbox => Some(Param::None),
                ("vacation", "days") => Some(Param::Number),
                ("vacation", "seconds") if seconds => Some(Param::Number),
                ("vacation", "subject" | "from" | "handle") => Some(Param::String),
                ("vacation", "addresses") => Some(Param::StringList),
                ("vacation", "mime") => Some(Param::None),
                (
                    "set",
                    "lower" | "upper" | "lowerfirst" | "upperfirst" | "quotewildcard" | "length",
                ) => Some(Param::None),
                ("include", "personal" | "global" | "once" | "optional") => Some(Param::None),
                _ => None,
            }
        })?;
        Ok(match name {
            "stop" => {
                args.count(0)?;
                Cmd::Stop
            }
            "return" => {
                args.count(0)?;
                Cmd::Return
            }
            "discard" => {
                args.count(0)?;
                Cmd::Discard
            }
            "keep" => {
                args.count(0)?;
                Cmd::Keep {
                    flags: self.flags_tag(&args)?,
                }
            }
            "fileinto" => {
                args.count(1)?;
                let mailbox = self.string(&args, 0, "folder")?;
                if mailbox.as_literal() == Some("") {
                    return Err(invalid(args.positional[0].pos(), "invalid folder name ''"));
                }
                Cmd::FileInto {
                    mailbox,
                    copy: args.has("copy"),
                    create: args.has("create"),
                    flags: self.flags_tag(&args)?,
                }
            }
            "redirect" => {
                args.count(1)?;
                let address = self.string(&args, 0, "address")?;
                if let Some(literal) = address.as_literal()
                    && let Err(why) = address::validate(literal)
                {
                    return Err(invalid(
                        args.positional[0].pos(),
                        format!("specified redirect address '{literal}' is invalid: {why}"),
                    ));
                }
                Cmd::Redirect {
                    address,
                    copy: args.has("copy"),
                }
            }
            "reject" | "ereject" => {
                args.count(1)?;
                Cmd::Reject {
                    reason: self.string(&args, 0, "reason")?,
                    extended: name == "ereject",
                }
            }
            "vacation" => Cmd::Vacation(Box::new(self.vacation(&args)?)),
            "setflag" | "addflag" | "removeflag" => {
                let op = match name {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let (variable, flags) = match args.positional.len() {
                    1 => (None, self.strings(&args, 0, "list-of-flags")?),
                    2 => {
                        if !self.has(Extension::Variables) {
                            return Err(invalid(
                                c.pos,
                                format!(
                                    "the {name} command only allows for the specification of a \
                                     variable name when the variables extension is active"
                                ),
                            ));
                        }
                        let var = self.variable_name(&args, 0)?;
                        (Some(var), self.strings(&args, 1, "list-of-flags")?)
                    }
                    _ => return Err(args.count(1).unwrap_err()),
                };
                Cmd::Flags {
                    op,
                    variable,
                    flags,
                }
            }
            "set" => {
                args.count(2)?;
                let mut modifiers: Vec<(Modifier, &Tagged<'_>)> = Vec::new();
                for tag in &args.tags {
                    let m = match tag.name.as_str() {
                        "lower" => Modifier::Lower,
                        "upper" => Modifier::Upper,
                        "lowerfirst" => Modifier::LowerFirst,
                        "upperfirst" => Modifier::UpperFirst,
                        "quotewildcard" => Modifier::QuoteWildcard,
                        _ => Modifier::Length,
                    };
                    if let Some((_, other)) = modifiers
                        .iter()
                        .find(|(o, _)| o.precedence() == m.precedence())
                    {
                        return Err(invalid(
                            tag.pos,
                            format!(
                                "modifiers :{} and :{} specified for the set command conflict \
                                 having equal precedence",
                                other.name, tag.name
                            ),
                        ));
                    }
                    modifiers.push((m, tag));
                }
                let mut modifiers: Vec<Modifier> = modifiers.into_iter().map(|(m, _)| m).collect();
                modifiers.sort();
                let variable = self.variable_name(&args, 0)?;
                let value = self.string(&args, 1, "value")?;
                Cmd::Set {
                    variable,
                    value,
                    modifiers,
                }
            }
            "include" => {
                args.count(1)?;
                if args.has("personal") && args.has("global") {
                    return Err(invalid(
                        c.pos,
                        "include: cannot use location tags ':personal' and ':global' multiple times",
                    ));
                }
                // RFC 6609 §3.2: the name is a constant; variables are not expanded in it.
                let Argument::Strings {
                    values,
                    list: false,
                    ..
                } = args.positional[0]
                else {
                    return Err(args.type_error(0, "value", "a string"));
                };
                let name = values[0].value.clone();
                if !valid_script_name(&name) {
                    return Err(invalid(
                        args.positional[0].pos(),
                        format!("include: invalid script name '{name}'"),
                    ));
                }
                Cmd::Include {
                    global: args.has("global"),
                    once: args.has("once"),
                    optional: args.has("optional"),
                    name,
                }
            }
            "global" => {
                args.count(1)?;
                if !self.has(Extension::Variables) {
                    return Err(invalid(
                        c.pos,
                        "global command requires that variables extension is active",
                    ));
                }
                for name in args.strings(0, "value")? {
                    let lower = name.value.to_ascii_lowercase();
                    if !template::is_identifier(&lower) {
                        return Err(invalid(
                            name.pos,
                            format!("invalid variable name '{}'", name.value),
                        ));
                    }
                    // RFC 6609 §3.4.1: not a variable this script already uses as its own.
                    if self.names.contains(&VarRef::Local(lower.clone())) {
                        return Err(invalid(
                            name.pos,
                            format!(
                                "global: variable '{}' is already used as a local variable",
                                name.value
                            ),
                        ));
                    }
                    self.globals.insert(lower);
                }
                Cmd::Global
            }
            _ => unreachable!("known commands are listed above"),
        })
    }

    fn vacation(&mut self, args: &Args<'_>) -> Result<VacationCmd> {
        args.count(1)?;
        let mut period = None;
        for tag in &args.tags {
            if matches!(tag.name.as_str(), "days" | "seconds") {
                if period.is_some() {
                    return Err(args.conflict(tag, "days", "seconds"));
                }
                let Some(Argument::Number(n, _)) = tag.param else {
                    unreachable!("split checked the parameter type")
                };
                period = Some((tag.name == "seconds", *n));
            }
        }
        let from = args.tag_string(self, "from")?;
        if let Some(from) = from.as_ref().and_then(Value::as_literal)
            && let Err(why) = address::validate_mailbox(from)
        {
            return Err(invalid(
                args.pos,
                format!("specified :from address '{from}' is invalid for vacation action: {why}"),
            ));
        }
        let addresses = match args.tag("addresses") {
            Some(t) => self.values(t.param.expect("a parameter"))?,
            None => Vec::new(),
        };
        let raw = |arg: Option<&Argument>| match arg {
            Some(Argument::Strings { values, .. }) => Some(values[0].value.clone()),
            _ => None,
        };
        // RFC 5230 §4.2 leaves the handle to the implementation; this is Pigeonhole's.
        let default_handle = format!(
            "{}{}{}{}",
            raw(Some(args.positional[0])).unwrap_or_default(),
            raw(args.tag("subject").and_then(|t| t.param))
                .unwrap_or_else(|| "<default-subject>".to_owned()),
            raw(args.tag("from").and_then(|t| t.param))
                .unwrap_or_else(|| "<default-from>".to_owned()),
            if args.has("mime") {
                "<MIME>"
            } else {
                "<NO-MIME>"
            }
        );
        Ok(VacationCmd {
            default_handle,
            period,
            subject: args.tag_string(self, "subject")?,
            from,
            addresses,
            mime: args.has("mime"),
            handle: args.tag_string(self, "handle")?,
            reason: self.string(args, 0, "reason")?,
        })
    }

    fn flags_tag(&mut self, args: &Args<'_>) -> Result<Option<Vec<Value>>> {
        match args.tag("flags") {
            Some(t) => Ok(Some(self.values(t.param.expect("a parameter"))?)),
            None => Ok(None),
        }
    }

    fn test(&mut self, t: &parse::Test) -> Result<TestNode> {
        let name = t.name.as_str();
        let known = match name {
            "true" | "false" | "not" | "anyof" | "allof" | "header" | "address" | "exists"
            | "size" => true,
            "envelope" => self.has(Extension::Envelope),
            "string" => self.has(Extension::Variables),
            "hasflag" => self.has(Extension::Imap4Flags),
            "body" => self.has(Extension::Body),
            "date" | "currentdate" => self.has(Extension::Date),
            "mailboxexists" => self.has(Extension::Mailbox),
            _ => false,
        };
        if !known {
            return Err(err(t.pos, CompileErrorKind::UnknownTest(name.to_owned())));
        }
        let relational = self.has(Extension::Relational);
        let subaddress = self.has(Extension::Subaddress);
        let index = self.has(Extension::Index);
        let args = Self::split(name, "test", t.pos, &t.args, |test, tag| {
            let matcher = matches!(
                test,
                "header"
                    | "address"
                    | "envelope"
                    | "string"
                    | "hasflag"
                    | "body"
                    | "date"
                    | "currentdate"
            );
            match tag {
                "comparator" if matcher => Some(Param::String),
                "is" | "contains" | "matches" if matcher => Some(Param::None),
                "count" | "value" if matcher && relational => Some(Param::String),
                "all" | "localpart" | "domain" if matches!(test, "address" | "envelope") => {
                    Some(Param::None)
                }
                "user" | "detail" if subaddress && matches!(test, "address" | "envelope") => {
                    Some(Param::None)
                }
                "index" if index && matches!(test, "header" | "address" | "date") => {
                    Some(Param::Number)
                }
                "last" if index && matches!(test, "header" | "address" | "date") => {
                    Some(Param::None)
                }
                "over" | "under" if test == "size" => Some(Param::None),
                "raw" | "text" if test == "body" => Some(Param::None),
                "content" if test == "body" => Some(Param::StringList),
                "zone" if matches!(test, "date" | "currentdate") => Some(Param::String),
                "originalzone" if test == "date" => Some(Param::None),
                _ => None,
            }
        })?;
        let wants_tests = matches!(name, "not" | "anyof" | "allof");
        if !wants_tests && !t.tests.is_empty() {
            return Err(structure(name, "test", t.pos, "accepts no sub-tests"));
        }
        let test = match name {
            "true" | "false" => {
                args.count(0)?;
                if name == "true" {
                    Test::True
                } else {
                    Test::False
                }
            }
            "not" => {
                args.count(0)?;
                match t.tests.as_slice() {
                    [one] if !t.parenthesised => Test::Not(Box::new(self.test(one)?)),
                    _ => {
                        return Err(structure(name, "test", t.pos, "requires one sub-test"));
                    }
                }
            }
            "anyof" | "allof" => {
                args.count(0)?;
                if !t.parenthesised {
                    return Err(structure(name, "test", t.pos, "requires a list of tests"));
                }
                let tests = t
                    .tests
                    .iter()
                    .map(|t| self.test(t))
                    .collect::<Result<Vec<_>>>()?;
                if name == "anyof" {
                    Test::AnyOf(tests)
                } else {
                    Test::AllOf(tests)
                }
            }
            "header" => {
                args.count(2)?;
                Test::Header {
                    mt: self.match_type(&args)?,
                    names: self.header_names(&args, 0)?,
                    keys: self.strings(&args, 1, "key list")?,
                    index: Self::index(&args)?,
                }
            }
            "address" => {
                args.count(2)?;
                Test::Address {
                    mt: self.match_type(&args)?,
                    part: address_part(&args)?,
                    headers: self.header_names(&args, 0)?,
                    keys: self.strings(&args, 1, "key list")?,
                    index: Self::index(&args)?,
                }
            }
            "envelope" => {
                args.count(2)?;
                let fields = self.strings(&args, 0, "envelope part")?;
                for f in &fields {
                    if let Some(l) = f.as_literal()
                        && !matches!(l.to_ascii_lowercase().as_str(), "from" | "to")
                    {
                        return Err(invalid(
                            args.positional[0].pos(),
                            format!(
                                "specified envelope part '{l}' is not supported by the \
                                     envelope test"
                            ),
                        ));
                    }
                }
                Test::Envelope {
                    mt: self.match_type(&args)?,
                    part: address_part(&args)?,
                    fields,
                    keys: self.strings(&args, 1, "key list")?,
                }
            }
            "exists" => {
                args.count(1)?;
                Test::Exists(self.header_names(&args, 0)?)
            }
            "size" => {
                args.count(1)?;
                let over = match (args.has("over"), args.has("under")) {
                    (true, false) => true,
                    (false, true) => false,
                    (true, true) => return Err(args.conflict(&args.tags[1], "over", "under")),
                    (false, false) => {
                        return Err(structure(
                            name,
                            "test",
                            t.pos,
                            "requires either the :under or the :over tag to be specified",
                        ));
                    }
                };
                let Argument::Number(limit, _) = args.positional[0] else {
                    return Err(args.type_error(0, "limit", "a number"));
                };
                Test::Size {
                    over,
                    limit: *limit,
                }
            }
            "string" => {
                args.count(2)?;
                Test::String {
                    mt: self.match_type(&args)?,
                    sources: self.strings(&args, 0, "source")?,
                    keys: self.strings(&args, 1, "key list")?,
                }
            }
            "hasflag" => {
                let (variables, keys) = match args.positional.len() {
                    1 => (Vec::new(), self.strings(&args, 0, "list-of-flags")?),
                    2 => {
                        if !self.has(Extension::Variables) {
                            return Err(invalid(
                                t.pos,
                                "the hasflag test only allows for the specification of a \
                                 variable name when the variables extension is active",
                            ));
                        }
                        let names = args.strings(0, "variable-list")?;
                        let mut vars = Vec::new();
                        for n in names {
                            vars.push(self.resolve_set_target(&n.value, n.pos)?);
                        }
                        (vars, self.strings(&args, 1, "list-of-flags")?)
                    }
                    _ => return Err(args.count(1).unwrap_err()),
                };
                Test::HasFlag {
                    mt: self.match_type(&args)?,
                    variables,
                    keys,
                }
            }
            "body" => {
                args.count(1)?;
                let mut transform = None;
                for tag in &args.tags {
                    let this = match tag.name.as_str() {
                        "raw" => BodyTransform::Raw,
                        "text" => BodyTransform::Text,
                        "content" => {
                            BodyTransform::Content(self.values(tag.param.expect("a parameter"))?)
                        }
                        _ => continue,
                    };
                    if transform.is_some() {
                        return Err(invalid(
                            tag.pos,
                            format!(
                                "encountered duplicate :{} argument for the body test",
                                tag.name
                            ),
                        ));
                    }
                    transform = Some(this);
                }
                Test::Body {
                    mt: self.match_type(&args)?,
                    transform: transform.unwrap_or(BodyTransform::Text),
                    keys: self.strings(&args, 0, "key list")?,
                }
            }
            "date" => {
                args.count(3)?;
                Test::Date {
                    mt: self.match_type(&args)?,
                    zone: self.zone(&args)?,
                    header: self.string(&args, 0, "header name")?,
                    part: self.string(&args, 1, "date part")?,
                    keys: self.strings(&args, 2, "key list")?,
                    index: Self::index(&args)?,
                }
            }
            "currentdate" => {
                args.count(2)?;
                Test::CurrentDate {
                    mt: self.match_type(&args)?,
                    zone: self.zone(&args)?,
                    part: self.string(&args, 0, "date part")?,
                    keys: self.strings(&args, 1, "key list")?,
                }
            }
            "mailboxexists" => {
                args.count(1)?;
                Test::MailboxExists(self.strings(&args, 0, "mailbox names")?)
            }
            _ => unreachable!("known tests are listed above"),
        };
        Ok(TestNode { pos: t.pos, test })
    }

    fn zone(&mut self, args: &Args<'_>) -> Result<Zone> {
        match (args.tag("zone"), args.tag("originalzone")) {
            (Some(a), Some(_)) => Err(args.conflict(a, "zone", "originalzone")),
            (Some(z), None) => Ok(Zone::Fixed(self.value_of(z.param.expect("a parameter"))?)),
            (None, Some(_)) => Ok(Zone::Original),
            (None, None) => Ok(Zone::Local),
        }
    }

    fn index(args: &Args<'_>) -> Result<Option<Index>> {
        match (args.tag("index"), args.tag("last")) {
            (None, None) => Ok(None),
            (None, Some(last)) => Err(invalid(
                last.pos,
                format!(
                    "the :last tag for the {} test cannot be specified without the :index tag",
                    args.command
                ),
            )),
            (Some(tag), last) => {
                let Some(Argument::Number(n, _)) = tag.param else {
                    unreachable!("split checked the parameter type")
                };
                if *n == 0 {
                    return Err(invalid(
                        tag.pos,
                        format!(
                            "the :index tag for the {} test cannot be zero",
                            args.command
                        ),
                    ));
                }
                Ok(Some(Index {
                    n: *n,
                    last: last.is_some(),
                }))
            }
        }
    }

    fn match_type(&mut self, args: &Args<'_>) -> Result<Match> {
        let mut kind: Option<(MatchKind, &Tagged<'_>)> = None;
        let mut comparator = None;
        for tag in &args.tags {
            let this = match tag.name.as_str() {
                "is" => MatchKind::Is,
                "contains" => MatchKind::Contains,
                "matches" => MatchKind::Matches,
                "count" | "value" => {
                    let Some(value) = tag.param.and_then(single_literal) else {
                        return Err(invalid(
                            tag.pos,
                            format!(
                                "the :{} match-type requires a constant string argument being \
                                 one of \"gt\", \"ge\", \"lt\", \"le\", \"eq\" or \"ne\"",
                                tag.name
                            ),
                        ));
                    };
                    let Some(rel) = Relation::from_name(value) else {
                        return Err(invalid(
                            tag.pos,
                            format!(
                                "the :{} match-type requires a constant string argument being \
                                 one of \"gt\", \"ge\", \"lt\", \"le\", \"eq\" or \"ne\", but \
                                 \"{value}\" was found",
                                tag.name
                            ),
                        ));
                    };
                    if tag.name == "count" {
                        MatchKind::Count(rel)
                    } else {
                        MatchKind::Value(rel)
                    }
                }
                "comparator" => {
                    if comparator.is_some() {
                        return Err(invalid(
                            tag.pos,
                            format!(
                                "encountered duplicate :comparator argument for the {} test",
                                args.command
                            ),
                        ));
                    }
                    let Some(name) = tag.param.and_then(single_literal) else {
                        return Err(invalid(
                            tag.pos,
                            "the :comparator tag requires a constant string",
                        ));
                    };
                    comparator = Some(self.comparator(name, tag.pos)?);
                    continue;
                }
                _ => continue,
            };
            if let Some((_, first)) = &kind {
                let _ = first;
                return Err(invalid(
                    tag.pos,
                    format!(
                        "encountered duplicate MATCH-TYPE argument (:{}) for the {} test",
                        tag.name, args.command
                    ),
                ));
            }
            kind = Some((this, tag));
        }
        let kind = kind.map_or(MatchKind::Is, |(k, _)| k);
        let comparator = comparator.unwrap_or(Comparator::AsciiCasemap);
        if comparator == Comparator::AsciiNumeric
            && matches!(kind, MatchKind::Contains | MatchKind::Matches)
        {
            let what = if kind == MatchKind::Contains {
                "sub-string matching as required by the :contains match type"
            } else {
                "sub-string matching as required by the :matches match type"
            };
            return Err(invalid(
                args.pos,
                format!("the specified i;ascii-numeric comparator does not support {what}"),
            ));
        }
        Ok(Match { comparator, kind })
    }

    fn comparator(&self, name: &str, pos: Position) -> Result<Comparator> {
        let c = match name.to_ascii_lowercase().as_str() {
            "i;octet" => Comparator::Octet,
            "i;ascii-casemap" => Comparator::AsciiCasemap,
            "i;ascii-numeric" if self.has(Extension::ComparatorAsciiNumeric) => {
                Comparator::AsciiNumeric
            }
            "i;unicode-casemap" if self.has(Extension::ComparatorUnicodeCasemap) => {
                Comparator::UnicodeCasemap
            }
            _ => {
                return Err(err(
                    pos,
                    CompileErrorKind::UnknownComparator(name.to_owned()),
                ));
            }
        };
        Ok(c)
    }

    /// Splits tags from positional arguments; `spec` says which tags the command takes and what
    /// follows them.
    fn split<'a>(
        command: &'a str,
        what: &'static str,
        pos: Position,
        raw: &'a [Argument],
        spec: impl Fn(&str, &str) -> Option<Param>,
    ) -> Result<Args<'a>> {
        let mut tags: Vec<Tagged<'a>> = Vec::new();
        let mut positional = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let arg = &raw[i];
            i += 1;
            let Argument::Tag(tag, tpos) = arg else {
                positional.push(arg);
                continue;
            };
            let Some(param) = spec(command, tag) else {
                return Err(err(
                    *tpos,
                    CompileErrorKind::UnknownTag {
                        tag: tag.clone(),
                        command: command.to_owned(),
                        what,
                    },
                ));
            };
            if !positional.is_empty() {
                return Err(invalid(
                    *tpos,
                    format!(
                        "the {command} {what} has the tagged argument :{tag} after a positional \
                         argument"
                    ),
                ));
            }
            // Two match types or two address parts are reported where they are interpreted;
            // the same tag twice is reported here.
            if tags.iter().any(|t| t.name == *tag) {
                return Err(invalid(
                    *tpos,
                    format!("encountered duplicate :{tag} argument for the {command} {what}"),
                ));
            }
            let param_arg = if param == Param::None {
                None
            } else {
                let next = raw.get(i);
                let ok = matches!(
                    (param, next),
                    (Param::String, Some(Argument::Strings { list: false, .. }))
                        | (Param::StringList, Some(Argument::Strings { .. }))
                        | (Param::Number, Some(Argument::Number(..)))
                );
                if !ok {
                    return Err(err(
                        *tpos,
                        CompileErrorKind::TagParameter {
                            tag: tag.clone(),
                            command: command.to_owned(),
                            what,
                            expected: match param {
                                Param::String => "a string",
                                Param::StringList => "a string list",
                                _ => "a number",
                            },
                        },
                    ));
                }
                i += 1;
                next
            };
            tags.push(Tagged {
                name: tag.clone(),
                pos: *tpos,
                param: param_arg,
            });
        }
        Ok(Args {
            command,
            what,
            pos,
            tags,
            positional,
        })
    }

    fn value_of(&mut self, arg: &Argument) -> Result<Value> {
        let Argument::Strings { values, .. } = arg else {
            unreachable!("callers check the type")
        };
        self.template(&values[0].value, values[0].pos)
    }

    fn values(&mut self, arg: &Argument) -> Result<Vec<Value>> {
        let Argument::Strings { values, .. } = arg else {
            unreachable!("callers check the type")
        };
        values
            .iter()
            .map(|s| self.template(&s.value, s.pos))
            .collect()
    }

    fn template(&mut self, s: &str, pos: Position) -> Result<Value> {
        let variables = self.has(Extension::Variables);
        let encoded_character = self.has(Extension::EncodedCharacter);
        let include = self.has(Extension::Include);
        let globals = &self.globals;
        let names = &mut self.names;
        let mut resolve = |ns: Option<&str>, name: &str| -> std::result::Result<VarRef, String> {
            let var = match ns {
                None if globals.contains(name) => VarRef::Global(name.to_owned()),
                None => VarRef::Local(name.to_owned()),
                Some("global") if include && template::is_identifier(name) => {
                    VarRef::Global(name.to_owned())
                }
                Some(other) => {
                    return Err(format!(
                        "referring to variable in unknown namespace '{other}'"
                    ));
                }
            };
            names.insert(var.clone());
            Ok(var)
        };
        let value = Scan {
            variables,
            encoded_character,
            resolve: &mut resolve,
        }
        .value(s)
        .map_err(|m| invalid(pos, m))?;
        self.check_variable_count(pos)?;
        Ok(value)
    }

    fn check_variable_count(&self, pos: Position) -> Result<()> {
        let max = self.caps.limits.max_variables;
        if self.names.len() > max {
            return Err(err(pos, CompileErrorKind::TooManyVariables(max)));
        }
        Ok(())
    }

    /// A positional string argument (a one-element list is not a string).
    fn string(&mut self, args: &Args<'_>, i: usize, name: &'static str) -> Result<Value> {
        match args.positional[i] {
            a @ Argument::Strings { list: false, .. } => self.value_of(a),
            _ => Err(args.type_error(i, name, "a string")),
        }
    }

    /// A positional string-list argument (a single string is a list of one).
    fn strings(&mut self, args: &Args<'_>, i: usize, name: &'static str) -> Result<Vec<Value>> {
        match args.positional[i] {
            a @ Argument::Strings { .. } => self.values(a),
            _ => Err(args.type_error(i, name, "a string list")),
        }
    }

    /// Header names: constant ones must be valid field names (RFC 5322 §3.6.8).
    fn header_names(&mut self, args: &Args<'_>, i: usize) -> Result<Vec<Value>> {
        let names = self.strings(args, i, "header names")?;
        for n in &names {
            if let Some(l) = n.as_literal()
                && (l.is_empty() || l.bytes().any(|b| !(33..=126).contains(&b) || b == b':'))
            {
                return Err(invalid(
                    args.positional[i].pos(),
                    format!("specified header field name '{l}' is invalid"),
                ));
            }
        }
        Ok(names)
    }

    /// The variable a `set` or a flag command assigns: a constant, valid name.
    fn variable_name(&mut self, args: &Args<'_>, i: usize) -> Result<VarRef> {
        let arg = args.positional[i];
        let Argument::Strings {
            values,
            list: false,
            ..
        } = arg
        else {
            return Err(args.type_error(i, "varname", "a string"));
        };
        self.resolve_set_target(&values[0].value, values[0].pos)
    }

    fn resolve_set_target(&mut self, name: &str, pos: Position) -> Result<VarRef> {
        let lower = name.to_ascii_lowercase();
        if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(pos, "cannot assign to match variable"));
        }
        let var = match lower.split_once('.') {
            None if template::is_identifier(&lower) => {
                if self.globals.contains(&lower) {
                    VarRef::Global(lower)
                } else {
                    VarRef::Local(lower)
                }
            }
            Some(("global", rest))
                if self.has(Extension::Include) && template::is_identifier(rest) =>
            {
                VarRef::Global(rest.to_owned())
            }
            Some((ns, _)) if template::is_identifier(ns) => {
                return Err(invalid(
                    pos,
                    format!("referring to variable in unknown namespace '{ns}'"),
                ));
            }
            _ => return Err(invalid(pos, format!("invalid variable name '{name}'"))),
        };
        self.names.insert(var.clone());
        self.check_variable_count(pos)?;
        Ok(var)
    }
}

fn address_part(args: &Args<'_>) -> Result<AddressPart> {
    let mut part: Option<(AddressPart, &Tagged<'_>)> = None;
    for tag in &args.tags {
        let this = match tag.name.as_str() {
            "all" => AddressPart::All,
            "localpart" => AddressPart::LocalPart,
            "domain" => AddressPart::Domain,
            "user" => AddressPart::User,
            "detail" => AddressPart::Detail,
            _ => continue,
        };
        if part.is_some() {
            return Err(invalid(
                tag.pos,
                format!(
                    "encountered duplicate ADDRESS-PART argument (:{}) for the {} test",
                    tag.name, args.command
                ),
            ));
        }
        part = Some((this, tag));
    }
    Ok(part.map_or(AddressPart::All, |(p, _)| p))
}

/// RFC 5804 §1.6: a script name is non-empty UTF-8 without control characters, line or
/// paragraph separators; a "/" would reach outside the user's scripts.
fn valid_script_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 1024
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '/'))
}

fn single_literal(arg: &Argument) -> Option<&str> {
    match arg {
        Argument::Strings { values, list, .. } if !*list || values.len() == 1 => {
            Some(values[0].value.as_str())
        }
        _ => None,
    }
}

fn structure(
    command: &str,
    what: &'static str,
    pos: Position,
    problem: &'static str,
) -> CompileError {
    err(
        pos,
        CompileErrorKind::Structure {
            command: command.to_owned(),
            what,
            problem,
        },
    )
}

impl<'a> Args<'a> {
    fn count(&self, expected: usize) -> Result<()> {
        if self.positional.len() != expected {
            return Err(err(
                self.pos,
                CompileErrorKind::ArgumentCount {
                    command: self.command.to_owned(),
                    what: self.what,
                    expected,
                    found: self.positional.len(),
                },
            ));
        }
        Ok(())
    }

    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.name == tag)
    }

    fn tag(&self, tag: &str) -> Option<&Tagged<'a>> {
        self.tags.iter().find(|t| t.name == tag)
    }

    fn tag_string(&self, cx: &mut Compiler<'_>, tag: &str) -> Result<Option<Value>> {
        match self.tag(tag) {
            Some(t) => Ok(Some(cx.value_of(t.param.expect("a parameter"))?)),
            None => Ok(None),
        }
    }

    /// The string list at `i`, as written (for names that must be constant).
    fn strings(&self, i: usize, name: &'static str) -> Result<&'a [parse::StringLit]> {
        match self.positional[i] {
            Argument::Strings { values, .. } => Ok(values),
            _ => Err(self.type_error(i, name, "a string list")),
        }
    }

    fn type_error(&self, i: usize, name: &'static str, expected: &'static str) -> CompileError {
        let arg = self.positional[i];
        err(
            arg.pos(),
            CompileErrorKind::ArgumentType {
                command: self.command.to_owned(),
                what: self.what,
                index: i + 1,
                name,
                expected,
                found: arg.type_name(),
            },
        )
    }

    fn conflict(&self, tag: &Tagged<'_>, first: &str, second: &str) -> CompileError {
        err(
            tag.pos,
            CompileErrorKind::TagConflict {
                command: self.command.to_owned(),
                what: self.what,
                first: first.to_owned(),
                second: second.to_owned(),
            },
        )
    }
}

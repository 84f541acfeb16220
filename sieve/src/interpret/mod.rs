//! Running a [`Program`] against a message: commands, variables, flags and `include`, within the
//! limits of [`Limits`](crate::Limits).

mod actions;
mod tests;
mod vacation;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::SystemTime;

use crate::capabilities::Capabilities;
use crate::environment::{Environment, ScriptLocation};
use crate::error::{Limit, Position, RuntimeError, RuntimeErrorKind};
use crate::matching::quote_wildcards;
use crate::message::Message;
use crate::outcome::Outcome;
use crate::program::{Cmd, FlagOp, Modifier, Node, Program, VarRef};
use crate::template::{Part, Value};
use crate::{Script, address};

use actions::ActionSet;

type Result<T> = std::result::Result<T, RuntimeError>;

/// How a block ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Next,
    /// `stop`: the whole run ends.
    Stop,
    /// `return`: the current script ends (RFC 6609 §3.3).
    Return,
}

/// The state of one script while it runs: its variables and match variables.
struct Frame<'p> {
    program: &'p Program,
    locals: HashMap<String, String>,
    matches: Vec<String>,
}

/// The state of one run.
pub(crate) struct Run<'r> {
    msg: &'r dyn Message,
    env: &'r dyn Environment,
    now: SystemTime,
    caps: &'r Capabilities,
    steps: u64,
    actions: ActionSet,
    globals: HashMap<String, String>,
    /// The internal flags variable of RFC 5232 §3, one per run.
    flags: Vec<String>,
    include_stack: Vec<(ScriptLocation, String)>,
    once: HashSet<(ScriptLocation, String)>,
    includes: usize,
    compiled: HashMap<(ScriptLocation, String), Rc<Program>>,
}

pub(crate) fn run(
    program: &Program,
    msg: &dyn Message,
    env: &dyn Environment,
    now: SystemTime,
) -> Result<Outcome> {
    let mut run = Run {
        msg,
        env,
        now,
        caps: &program.capabilities,
        steps: 0,
        actions: ActionSet::default(),
        globals: HashMap::new(),
        flags: Vec::new(),
        include_stack: Vec::new(),
        once: HashSet::new(),
        includes: 0,
        compiled: HashMap::new(),
    };
    let mut frame = Frame {
        program,
        locals: HashMap::new(),
        matches: Vec::new(),
    };
    run.block(&mut frame, &program.block)?;
    let flags = std::mem::take(&mut run.flags);
    Ok(run.actions.finish(flags))
}

impl Run<'_> {
    fn step(&mut self, cost: u64, pos: Position) -> Result<()> {
        self.steps = self.steps.saturating_add(cost);
        let max = self.caps.limits.max_steps;
        if self.steps > max {
            return Err(RuntimeError::new(
                pos,
                RuntimeErrorKind::Limit(Limit::Steps(max)),
            ));
        }
        Ok(())
    }

    fn block(&mut self, frame: &mut Frame<'_>, block: &[Node]) -> Result<Flow> {
        for node in block {
            self.step(1, node.pos)?;
            let flow = self.command(frame, node)?;
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn command(&mut self, frame: &mut Frame<'_>, node: &Node) -> Result<Flow> {
        let pos = node.pos;
        match &node.cmd {
            Cmd::If {
                branches,
                otherwise,
            } => {
                for (test, body) in branches {
                    if self.test(frame, test)? {
                        return self.block(frame, body);
                    }
                }
                if let Some(body) = otherwise {
                    return self.block(frame, body);
                }
            }
            Cmd::Stop => return Ok(Flow::Stop),
            Cmd::Return => return Ok(Flow::Return),
            Cmd::Keep { flags } => {
                let flags = self.flags_arg(frame, flags.as_deref());
                self.actions.keep(flags, pos, self.caps)?;
            }
            Cmd::Discard => self.actions.discard(pos, self.caps)?,
            Cmd::Redirect { address, copy } => {
                let raw = self.expand(frame, address);
                let address = address::validate(&raw).map_err(|why| {
                    RuntimeError::new(
                        pos,
                        RuntimeErrorKind::InvalidArgument(format!(
                            "specified redirect address '{raw}' is invalid: {why}"
                        )),
                    )
                })?;
                self.actions.redirect(address, *copy, pos, self.caps)?;
            }
            Cmd::FileInto {
                mailbox,
                copy,
                create,
                flags,
            } => {
                let mailbox = self.expand(frame, mailbox);
                if mailbox.is_empty() {
                    return Err(RuntimeError::new(
                        pos,
                        RuntimeErrorKind::InvalidArgument("invalid folder name ''".to_owned()),
                    ));
                }
                let flags = self.flags_arg(frame, flags.as_deref());
                self.actions
                    .fileinto(mailbox, flags, *copy, *create, pos, self.caps)?;
            }
            Cmd::Reject { reason, extended } => {
                let reason = self.expand(frame, reason);
                self.actions.reject(reason, *extended, pos, self.caps)?;
            }
            Cmd::Vacation(v) => {
                let decision = self.vacation(frame, v);
                self.actions.vacation(decision, pos, self.caps)?;
            }
            Cmd::Flags {
                op,
                variable,
                flags,
            } => {
                let given: Vec<String> = flags.iter().map(|f| self.expand(frame, f)).collect();
                let given = normalise_flags(given.iter().map(String::as_str));
                let mut current = match variable {
                    None => std::mem::take(&mut self.flags),
                    Some(var) => split_flags(&self.get(frame, var)),
                };
                match op {
                    FlagOp::Set => current = given,
                    FlagOp::Add => {
                        for f in given {
                            if !current.iter().any(|c| c.eq_ignore_ascii_case(&f)) {
                                current.push(f);
                            }
                        }
                    }
                    FlagOp::Remove => {
                        current.retain(|c| !given.iter().any(|g| g.eq_ignore_ascii_case(c)));
                    }
                }
                match variable {
                    None => self.flags = current,
                    Some(var) => {
                        let joined = current.join(" ");
                        self.set(frame, var, joined);
                    }
                }
            }
            Cmd::Set {
                variable,
                value,
                modifiers,
            } => {
                let mut v = self.expand(frame, value);
                for m in modifiers {
                    v = modify(*m, &v);
                }
                self.set(frame, variable, v);
            }
            Cmd::Include {
                global,
                once,
                optional,
                name,
            } => {
                let name = name.clone();
                let location = if *global {
                    ScriptLocation::Global
                } else {
                    ScriptLocation::Personal
                };
                return self.include(location, name, *once, *optional, pos);
            }
            Cmd::Global => {}
        }
        Ok(Flow::Next)
    }

    fn include(
        &mut self,
        location: ScriptLocation,
        name: String,
        once: bool,
        optional: bool,
        pos: Position,
    ) -> Result<Flow> {
        let include_error =
            |message: String| RuntimeError::new(pos, RuntimeErrorKind::Include(message));
        let key = (location, name);
        if once && self.once.contains(&key) {
            return Ok(Flow::Next);
        }
        if self.include_stack.contains(&key) {
            return Err(include_error(format!(
                "circular include of script '{}'",
                key.1
            )));
        }
        let limits = &self.caps.limits;
        if self.include_stack.len() >= limits.max_include_depth {
            return Err(RuntimeError::new(
                pos,
                RuntimeErrorKind::Limit(Limit::IncludeDepth(limits.max_include_depth)),
            ));
        }
        if self.includes >= limits.max_includes {
            return Err(RuntimeError::new(
                pos,
                RuntimeErrorKind::Limit(Limit::Includes(limits.max_includes)),
            ));
        }
        self.includes += 1;
        let program = match self.compiled.get(&key) {
            Some(p) => Rc::clone(p),
            None => {
                let Some(text) = self.env.script(location, &key.1) else {
                    if optional {
                        return Ok(Flow::Next);
                    }
                    return Err(include_error(format!(
                        "included script '{}' does not exist",
                        key.1
                    )));
                };
                let program = Script::parse_with(&text, &self.caps.limits)
                    .map_err(|e| e.to_string())
                    .and_then(|s| s.compile(self.caps).map_err(|e| e.to_string()))
                    .map_err(|e| {
                        include_error(format!(
                            "failed to compile included script '{}': {e}",
                            key.1
                        ))
                    })?;
                let program = Rc::new(program);
                self.compiled.insert(key.clone(), Rc::clone(&program));
                program
            }
        };
        self.once.insert(key.clone());
        self.include_stack.push(key.clone());
        let mut frame = Frame {
            program: &program,
            locals: HashMap::new(),
            matches: Vec::new(),
        };
        let flow = self
            .block(&mut frame, &program.block)
            .map_err(|e| e.in_script(&key.1));
        self.include_stack.pop();
        Ok(match flow? {
            Flow::Stop => Flow::Stop,
            Flow::Next | Flow::Return => Flow::Next,
        })
    }

    /// A string argument with its variables substituted.
    fn expand(&self, frame: &Frame<'_>, value: &Value) -> String {
        let mut out = String::new();
        for part in &value.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Variable(VarRef::Local(name)) => {
                    if let Some(v) = frame.locals.get(name) {
                        out.push_str(v);
                    }
                }
                Part::Variable(VarRef::Global(name)) => {
                    if let Some(v) = self.globals.get(name) {
                        out.push_str(v);
                    }
                }
                Part::Match(i) => {
                    if let Some(v) = frame.matches.get(*i) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }

    fn get(&self, frame: &Frame<'_>, var: &VarRef) -> String {
        match var {
            VarRef::Local(n) => frame.locals.get(n).cloned().unwrap_or_default(),
            VarRef::Global(n) => self.globals.get(n).cloned().unwrap_or_default(),
        }
    }

    /// Assigns, cutting the value to [`Limits::max_variable_size`](crate::Limits) at a character
    /// boundary (RFC 5229 §6).
    fn set(&mut self, frame: &mut Frame<'_>, var: &VarRef, mut value: String) {
        let max = self.caps.limits.max_variable_size;
        if value.len() > max {
            let mut cut = max;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        match var {
            VarRef::Local(n) => {
                frame.locals.insert(n.clone(), value);
            }
            VarRef::Global(n) => {
                self.globals.insert(n.clone(), value);
            }
        }
    }

    /// `:flags` of keep and fileinto, or the internal variable without it (RFC 5232 §5).
    fn flags_arg(&self, frame: &Frame<'_>, flags: Option<&[Value]>) -> Vec<String> {
        match flags {
            Some(list) => {
                let expanded: Vec<String> = list.iter().map(|f| self.expand(frame, f)).collect();
                normalise_flags(expanded.iter().map(String::as_str))
            }
            None => self.flags.clone(),
        }
    }
}

/// RFC 5229 §4.1; the case modifiers change US-ASCII letters only (§4.1.3).
fn modify(m: Modifier, v: &str) -> String {
    let first = |f: fn(&mut str)| {
        let mut out = v.to_owned();
        if let Some(head) = out.get_mut(..1) {
            f(head);
        }
        out
    };
    match m {
        Modifier::Lower => v.to_ascii_lowercase(),
        Modifier::Upper => v.to_ascii_uppercase(),
        Modifier::LowerFirst => first(str::make_ascii_lowercase),
        Modifier::UpperFirst => first(str::make_ascii_uppercase),
        Modifier::QuoteWildcard => quote_wildcards(v),
        Modifier::Length => v.chars().count().to_string(),
    }
}

/// A flag variable's words, duplicates dropped (case-insensitively).
fn split_flags(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split([' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(w)) {
            out.push(w.to_owned());
        }
    }
    out
}

/// Flag lists as RFC 5232 §3 reads them: each string is a space-separated list; duplicates go
/// (case-insensitively), system flags get their RFC 3501 spelling, and what is no IMAP flag
/// (an unknown `\` flag, a keyword with atom-specials) is dropped, as Pigeonhole drops it.
fn normalise_flags<'a>(strings: impl Iterator<Item = &'a str>) -> Vec<String> {
    const SYSTEM: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];
    let mut out: Vec<String> = Vec::new();
    for s in strings {
        for flag in s.split([' ', '\t', '\r', '\n']).filter(|f| !f.is_empty()) {
            let flag = if flag.starts_with('\\') {
                match SYSTEM.iter().find(|s| s.eq_ignore_ascii_case(flag)) {
                    Some(s) => (*s).to_owned(),
                    None => continue,
                }
            } else if flag.bytes().all(|b| {
                b > b' '
                    && b < 0x7f
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
            }) {
                flag.to_owned()
            } else {
                continue;
            };
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&flag)) {
                out.push(flag);
            }
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn flags_are_normalised() {
        assert_eq!(
            normalise_flags(["\\seen \\FLAGGED", "$Label1 \\bogus", "$label1 a(b"].into_iter()),
            vec!["\\Seen", "\\Flagged", "$Label1"]
        );
    }

    #[test]
    fn modifiers() {
        assert_eq!(modify(Modifier::UpperFirst, "juMBlEd"), "JuMBlEd");
        assert_eq!(modify(Modifier::Length, "€uro"), "4");
        assert_eq!(modify(Modifier::QuoteWildcard, "a*b?\\"), "a\\*b\\?\\\\");
    }
}

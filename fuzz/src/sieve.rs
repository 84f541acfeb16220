//! Fuzz target bodies for the `sieve` crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwright_sieve::{
    Action, Capabilities, Environment, Limits, ParsedMessage, Program, Script, ScriptLocation,
};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("sieve_parse", sieve_parse),
    ("sieve_run", sieve_run),
    ("managesieve_wire", managesieve_wire),
];

/// Any octets as ManageSieve commands, SASL lines and responses: parsing never panics, never
/// claims more octets than it was given, and a parsed command encodes to what parses back to it.
pub fn managesieve_wire(data: &[u8]) {
    use mailwright_sieve::managesieve::{Response, parse_command, parse_sasl_line};
    let mut rest = data;
    while let Ok(Some((command, used))) = parse_command(rest, 4096) {
        assert!(used > 0 && used <= rest.len());
        let wire = command.encode();
        assert_eq!(
            parse_command(&wire, 1 << 20),
            Ok(Some((command, wire.len())))
        );
        rest = &rest[used..];
    }
    if let Ok(Some((_, used))) = parse_sasl_line(data) {
        assert!(used <= data.len());
    }
    if let Ok(Some((response, used))) = Response::parse(data, 4096) {
        assert!(used <= data.len());
        let wire = response.encode();
        assert_eq!(
            Response::parse(&wire, 1 << 20),
            Ok(Some((response, wire.len())))
        );
    }
}

/// Any octets as a script: parsing and compiling never panic, an error points inside the text,
/// and the same text always gives the same answer. Round trip: a script that parses prints
/// (`Display`) to text that parses back to the same script (positions aside), prints the same
/// again, and compiles (or not) as the first did.
pub fn sieve_parse(data: &[u8]) {
    let limits = Limits::default();
    let first = Script::parse_bytes(data, &limits);
    assert_eq!(
        first,
        Script::parse_bytes(data, &limits),
        "parsing is deterministic"
    );
    match first {
        Ok(script) => {
            let printed = script.to_string();
            // Printing may lengthen the text (escapes, indentation); the nesting is the same.
            let mut roomy = Limits::default();
            roomy.max_script_size = usize::MAX;
            let again = Script::parse_with(&printed, &roomy)
                .unwrap_or_else(|e| panic!("the printed script does not parse: {e}\n{printed}"));
            assert!(
                again.syntax_eq(&script),
                "the printed script is another script:\n{printed}"
            );
            assert_eq!(again.to_string(), printed, "printing is not stable");
            let caps = Capabilities::all();
            let a = script.compile(&caps).map(|_| ());
            let b = script.compile(&caps).map(|_| ());
            assert_eq!(a, b, "compiling is deterministic");
            assert_eq!(
                again.compile(&caps).is_ok(),
                a.is_ok(),
                "the printed script compiles otherwise"
            );
            if let Err(e) = a {
                let lines = u32::try_from(data.split(|&b| b == b'\n').count()).unwrap_or(u32::MAX);
                assert!(
                    e.line() >= 1 && e.line() <= lines,
                    "{e} beyond {lines} lines"
                );
            }
        }
        Err(e) => {
            let lines = u32::try_from(data.split(|&b| b == b'\n').count()).unwrap_or(u32::MAX);
            assert!(
                e.line() >= 1 && e.line() <= lines,
                "{e} beyond {lines} lines"
            );
            assert!(e.column() >= 1);
        }
    }
}

/// Scripts that the fuzzed script may include: one includes itself, one is the fuzzed script.
struct Env<'a> {
    script: &'a str,
}

impl Environment for Env<'_> {
    fn mailbox_exists(&self, name: &str) -> bool {
        name.len().is_multiple_of(2)
    }
    fn script(&self, _: ScriptLocation, name: &str) -> Option<String> {
        match name {
            "self" => Some(self.script.to_owned()),
            "loop" => Some("require \"include\"; include \"loop\";".to_owned()),
            _ => None,
        }
    }
    fn user_addresses(&self) -> Vec<String> {
        vec!["me@example.com".to_owned()]
    }
    fn utc_offset(&self, _: SystemTime) -> i32 {
        -420
    }
}

/// A script and a message, split at the first NUL: running never panics and the outcome keeps
/// the limits (actions, redirects, one reject with no delivery). Model: the same octets also
/// spell a message (header fields from a small alphabet) and a script made only of `if`/`else`,
/// `header :contains`, `not`, `anyof`, `allof`, `true`, `keep`, `fileinto`, `discard` and
/// `stop`; the interpreter's actions must be those of a direct evaluation of RFC 5228
/// (duplicates merged, §2.10.3; the implicit keep unless an action cancelled it, §2.10.2).
pub fn sieve_run(data: &[u8]) {
    model::check(data);
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let script = String::from_utf8_lossy(&data[..split]);
    let message = data.get(split + 1..).unwrap_or_default();
    let mut caps = Capabilities::all();
    caps.limits.max_steps = 10_000;
    caps.limits.max_actions = 8;
    caps.limits.max_redirects = 2;
    let Ok(program) = Program::compile(&script, &caps) else {
        return;
    };
    let msg = ParsedMessage::new(message).with_envelope("sender@example.org", "me+box@example.com");
    let now = UNIX_EPOCH + Duration::from_mins(18_721_471);
    if let Ok(outcome) = program.run(&msg, &Env { script: &script }, now) {
        let count = |f: fn(&Action) -> bool| outcome.actions.iter().filter(|a| f(a)).count();
        assert!(count(|a| !matches!(a, Action::Keep { implicit: true, .. })) <= 8);
        assert!(count(|a| matches!(a, Action::Redirect { .. })) <= 2);
        let rejects = count(|a| matches!(a, Action::Reject { .. }));
        assert!(rejects <= 1);
        if rejects == 1 {
            assert_eq!(
                count(|a| matches!(
                    a,
                    Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. }
                )),
                0
            );
        }
    }
}

/// The reference for `sieve_run`: a script and a message built from the fuzzer's octets, run by
/// the interpreter and by a direct evaluation.
mod model {
    use std::time::UNIX_EPOCH;

    use mailwright_sieve::{Action, Capabilities, EmptyEnvironment, ParsedMessage, Program};

    /// Header names a test asks for; the message uses the first three.
    const NAMES: [&str; 4] = ["Subject", "X-Tag", "x-tag", "missing"];
    const LETTERS: [char; 4] = ['a', 'B', 'b', 'A'];
    const MAILBOXES: [&str; 3] = ["A", "b", "B"];

    enum Test {
        True,
        Header(&'static str, String),
        Not(Box<Test>),
        AnyOf(Box<Test>, Box<Test>),
        AllOf(Box<Test>, Box<Test>),
    }

    enum Cmd {
        Keep,
        Discard,
        Stop,
        FileInto(&'static str),
        If(Test, Vec<Cmd>, Option<Vec<Cmd>>),
    }

    #[derive(Debug, PartialEq)]
    enum Act {
        Keep { implicit: bool },
        FileInto(String),
        Discard,
    }

    /// The octets, read one at a time; 0 once they run out.
    struct Octets<'a>(std::slice::Iter<'a, u8>, usize);

    impl Octets<'_> {
        fn next(&mut self) -> u8 {
            self.0.next().copied().unwrap_or(0)
        }
        fn word(&mut self) -> String {
            let n = self.next() % 3;
            (0..n)
                .map(|_| LETTERS[usize::from(self.next() % 4)])
                .collect()
        }
        fn test(&mut self, depth: usize) -> Test {
            let b = self.next();
            match b % 5 {
                1 if depth < 3 => Test::Not(Box::new(self.test(depth + 1))),
                2 if depth < 3 => Test::AnyOf(
                    Box::new(self.test(depth + 1)),
                    Box::new(self.test(depth + 1)),
                ),
                3 if depth < 3 => Test::AllOf(
                    Box::new(self.test(depth + 1)),
                    Box::new(self.test(depth + 1)),
                ),
                4 => Test::True,
                _ => Test::Header(NAMES[usize::from(b >> 4) % 4], self.word()),
            }
        }
        /// Commands until the octets or the budget run out, or a block ends (octet 7).
        fn commands(&mut self, depth: usize) -> Vec<Cmd> {
            let mut out = Vec::new();
            while self.0.len() > 0 && self.1 > 0 {
                self.1 -= 1;
                let b = self.next();
                out.push(match b % 8 {
                    0 => Cmd::Keep,
                    1 => Cmd::Discard,
                    2 => Cmd::Stop,
                    3 => Cmd::FileInto(MAILBOXES[usize::from(b >> 3) % 3]),
                    4 | 5 if depth < 4 => {
                        let test = self.test(0);
                        let then = self.commands(depth + 1);
                        let otherwise = (b % 8 == 5).then(|| self.commands(depth + 1));
                        Cmd::If(test, then, otherwise)
                    }
                    7 if depth > 0 => break,
                    _ => continue,
                });
            }
            out
        }
    }

    fn quoted(s: &str) -> String {
        format!("\"{s}\"")
    }

    fn test_text(t: &Test) -> String {
        match t {
            Test::True => "true".to_owned(),
            Test::Header(name, key) => format!("header :contains {} {}", quoted(name), quoted(key)),
            Test::Not(t) => format!("not {}", test_text(t)),
            Test::AnyOf(a, b) => format!("anyof ({}, {})", test_text(a), test_text(b)),
            Test::AllOf(a, b) => format!("allof ({}, {})", test_text(a), test_text(b)),
        }
    }

    fn script_text(cmds: &[Cmd], out: &mut String) {
        for c in cmds {
            match c {
                Cmd::Keep => out.push_str("keep;\n"),
                Cmd::Discard => out.push_str("discard;\n"),
                Cmd::Stop => out.push_str("stop;\n"),
                Cmd::FileInto(m) => {
                    out.push_str("fileinto ");
                    out.push_str(&quoted(m));
                    out.push_str(";\n");
                }
                Cmd::If(t, then, otherwise) => {
                    out.push_str("if ");
                    out.push_str(&test_text(t));
                    out.push_str(" {\n");
                    script_text(then, out);
                    out.push_str("}\n");
                    if let Some(otherwise) = otherwise {
                        out.push_str("else {\n");
                        script_text(otherwise, out);
                        out.push_str("}\n");
                    }
                }
            }
        }
    }

    /// The fields of the message: (name, value).
    type Fields = Vec<(&'static str, String)>;

    /// RFC 5228 §5.7 with the default comparator `i;ascii-casemap` (§2.7.3): a field of that
    /// name (case-insensitive) whose value contains the key, letters compared without case.
    fn holds(t: &Test, fields: &Fields) -> bool {
        match t {
            Test::True => true,
            Test::Header(name, key) => fields.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case(name)
                    && v.to_ascii_lowercase().contains(&key.to_ascii_lowercase())
            }),
            Test::Not(t) => !holds(t, fields),
            Test::AnyOf(a, b) => holds(a, fields) || holds(b, fields),
            Test::AllOf(a, b) => holds(a, fields) && holds(b, fields),
        }
    }

    /// Runs `cmds`; false once `stop` ran. An action already taken is not taken twice
    /// (RFC 5228 §2.10.3); each of them cancels the implicit keep.
    fn eval(cmds: &[Cmd], fields: &Fields, acts: &mut Vec<Act>, cancelled: &mut bool) -> bool {
        for c in cmds {
            let act = match c {
                Cmd::Stop => return false,
                Cmd::If(t, then, otherwise) => {
                    let branch = if holds(t, fields) {
                        Some(then)
                    } else {
                        otherwise.as_ref()
                    };
                    if let Some(b) = branch
                        && !eval(b, fields, acts, cancelled)
                    {
                        return false;
                    }
                    continue;
                }
                Cmd::Keep => Act::Keep { implicit: false },
                Cmd::Discard => Act::Discard,
                Cmd::FileInto(m) => Act::FileInto((*m).to_owned()),
            };
            *cancelled = true;
            if !acts.contains(&act) {
                acts.push(act);
            }
        }
        true
    }

    pub(super) fn check(data: &[u8]) {
        let mut octets = Octets(data.iter(), 24);
        let mut fields = Fields::new();
        for _ in 0..octets.next() % 5 {
            let name = NAMES[usize::from(octets.next() % 3)];
            fields.push((name, octets.word()));
        }
        let cmds = octets.commands(0);
        let mut script = String::from("require \"fileinto\";\n");
        script_text(&cmds, &mut script);
        let mut message = String::new();
        for (name, value) in &fields {
            message.push_str(name);
            message.push(':');
            if !value.is_empty() {
                message.push(' ');
                message.push_str(value);
            }
            message.push_str("\r\n");
        }
        message.push_str("\r\nbody\r\n");

        let program = Program::compile(&script, &Capabilities::all())
            .unwrap_or_else(|e| panic!("the model's script does not compile: {e}\n{script}"));
        let msg = ParsedMessage::new(message.as_bytes());
        let outcome = program
            .run(&msg, &EmptyEnvironment, UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("the model's script fails: {e}\n{script}"));
        let got: Vec<Act> = outcome
            .actions
            .iter()
            .map(|a| match a {
                Action::Keep { flags, implicit } if flags.is_empty() => Act::Keep {
                    implicit: *implicit,
                },
                Action::FileInto {
                    mailbox,
                    flags,
                    copy: false,
                    create: false,
                } if flags.is_empty() => Act::FileInto(mailbox.clone()),
                Action::Discard => Act::Discard,
                other => panic!("an action the script cannot take: {other:?}\n{script}"),
            })
            .collect();

        let mut want = Vec::new();
        let mut cancelled = false;
        eval(&cmds, &fields, &mut want, &mut cancelled);
        if !cancelled {
            want.push(Act::Keep { implicit: true });
        }
        assert_eq!(got, want, "{script}\n{message}");
    }
}

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
/// the limits (actions, redirects, one reject with no delivery).
pub fn sieve_run(data: &[u8]) {
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

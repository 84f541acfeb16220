//! Properties: no input panics the parser; programs compiled from generated scripts never panic
//! the interpreter and stay within their limits; the limits hold for hostile scripts.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwright_sieve::{
    Action, Capabilities, EmptyEnvironment, Environment, Limit, Limits, ParsedMessage, Program,
    RuntimeErrorKind, Script, ScriptLocation, VacationKey,
};
use proptest::prelude::*;

/// Strings from a small alphabet, so that keys and header values meet often, with the
/// characters that matter to Sieve (wildcards, escapes, variable references).
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-cA-C@.*?\\\\ ]{0,6}",
        Just("${1}".to_owned()),
        Just("${a}".to_owned()),
        Just("${hex:41}".to_owned()),
        Just("a@b.c".to_owned()),
        Just("\\\\Seen".to_owned()),
    ]
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..3).prop_map(|ws| {
        if ws.len() == 1 {
            quoted(&ws[0])
        } else {
            format!(
                "[{}]",
                ws.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(", ")
            )
        }
    })
}

fn match_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just(":is"),
        Just(":contains"),
        Just(":matches"),
        Just(":count \"ge\""),
        Just(":value \"lt\""),
        Just(":comparator \"i;octet\""),
        Just(":comparator \"i;ascii-numeric\" :value \"eq\""),
    ]
}

fn header_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("\"subject\""),
        Just("\"from\""),
        Just("[\"to\", \"cc\"]"),
        Just("\"date\""),
        Just("\"received\""),
        Just("\"x-none\""),
    ]
}

fn test() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("true".to_owned()),
        Just("false".to_owned()),
        (match_type(), header_name(), list()).prop_map(|(m, h, k)| format!("header {m} {h} {k}")),
        (
            match_type(),
            prop_oneof![
                Just(":all"),
                Just(":domain"),
                Just(":user"),
                Just(":detail")
            ],
            header_name(),
            list()
        )
            .prop_map(|(m, p, h, k)| format!("address {p} {m} {h} {k}")),
        (match_type(), list()).prop_map(|(m, k)| format!("envelope {m} [\"from\", \"to\"] {k}")),
        (match_type(), list(), list()).prop_map(|(m, s, k)| format!("string {m} {s} {k}")),
        (match_type(), list()).prop_map(|(m, k)| format!("hasflag {m} {k}")),
        (
            match_type(),
            prop_oneof![Just(":raw"), Just(":text"), Just(":content \"text\"")],
            list()
        )
            .prop_map(|(m, t, k)| format!("body {t} {m} {k}")),
        (
            match_type(),
            prop_oneof![Just("\"year\""), Just("\"iso8601\""), Just("\"weekday\"")],
            list()
        )
            .prop_map(|(m, p, k)| format!("date {m} \"date\" {p} {k}")),
        (match_type(), list()).prop_map(|(m, k)| format!("currentdate {m} \"date\" {k}")),
        header_name().prop_map(|h| format!("exists {h}")),
        (any::<bool>(), 0u32..2000)
            .prop_map(|(o, n)| format!("size {} {n}", if o { ":over" } else { ":under" })),
        list().prop_map(|k| format!("mailboxexists {k}")),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| format!("not {t}")),
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(|ts| format!("anyof ({})", ts.join(", "))),
            prop::collection::vec(inner, 1..3).prop_map(|ts| format!("allof ({})", ts.join(", "))),
        ]
    })
}

fn command() -> impl Strategy<Value = String> {
    let simple = prop_oneof![
        Just("keep;".to_owned()),
        Just("discard;".to_owned()),
        Just("stop;".to_owned()),
        word().prop_map(|w| format!("fileinto {};", quoted(&format!("box{w}")))),
        word().prop_map(|w| format!(
            "fileinto :copy :flags \"\\\\Seen\" {};",
            quoted(&format!("c{w}"))
        )),
        prop_oneof![
            Just("a@b.example"),
            Just("c@d.example"),
            Just("${a}@x.example")
        ]
        .prop_map(|a| format!("redirect {};", quoted(a))),
        word().prop_map(|w| format!("reject {};", quoted(&w))),
        word().prop_map(|w| format!("ereject {};", quoted(&w))),
        (word(), any::<bool>()).prop_map(|(w, m)| format!(
            "vacation :days 1 {} :subject \"s\" {};",
            if m { ":mime" } else { "" },
            quoted(&w)
        )),
        (
            word(),
            prop_oneof![
                Just(""),
                Just(":lower"),
                Just(":length"),
                Just(":quotewildcard")
            ]
        )
            .prop_map(|(w, m)| format!("set {m} \"a\" {};", quoted(&w))),
        list().prop_map(|k| format!("addflag {k};")),
        list().prop_map(|k| format!("removeflag {k};")),
        list().prop_map(|k| format!("setflag \"v\" {k};")),
        Just("include :optional \"other\";".to_owned()),
        Just("include :once \"self\";".to_owned()),
        Just("return;".to_owned()),
    ];
    simple.prop_recursive(3, 24, 4, |inner| {
        (
            test(),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner, 0..2),
        )
            .prop_map(|(t, then, otherwise)| {
                format!(
                    "if {t} {{ {} }} else {{ {} }}",
                    then.join(" "),
                    otherwise.join(" ")
                )
            })
    })
}

const REQUIRE: &str = "require [\"fileinto\", \"envelope\", \"encoded-character\", \"reject\", \
\"ereject\", \"vacation\", \"imap4flags\", \"subaddress\", \"variables\", \"relational\", \"copy\", \
\"body\", \"date\", \"index\", \"mailbox\", \"include\", \"comparator-i;ascii-numeric\"];\n";

fn script() -> impl Strategy<Value = String> {
    prop::collection::vec(command(), 0..6).prop_map(|cs| format!("{REQUIRE}{}", cs.join("\n")))
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (word(), word(), word(), any::<bool>()).prop_map(|(s, f, b, mime)| {
        let mut m = format!(
            "From: {f} <a@b.example>\r\nTo: c@d.example, {f}\r\nSubject: {s}\r\n\
             Date: Fri, 05 Aug 2005 17:31:00 -0700\r\nReceived: from x by y; Fri, 05 Aug 2005 17:31:00 -0700\r\n"
        );
        if mime {
            let _ = write!(
                m,
                "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n{b}\r\n--x--\r\n"
            );
        } else {
            let _ = write!(m, "\r\n{b}\r\n");
        }
        m.into_bytes()
    })
}

/// Scripts that include themselves and each other.
struct Includes;

impl Environment for Includes {
    fn script(&self, _: ScriptLocation, name: &str) -> Option<String> {
        match name {
            "self" => Some(format!("{REQUIRE}include :once \"self\"; keep;")),
            "loop" => Some(format!("{REQUIRE}include \"loop\";")),
            _ => None,
        }
    }
    fn vacation_replied(&self, key: &VacationKey, _: SystemTime) -> bool {
        key.handle.len().is_multiple_of(2)
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in ".{0,200}") {
        if let Ok(script) = Script::parse(&text) {
            let _ = script.compile(&Capabilities::all());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Script::parse_bytes(&bytes, &Limits::default());
    }

    #[test]
    fn sieve_like_text_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("if"), Just("{"), Just("}"), Just("("), Just(")"), Just("["), Just("]"), Just(","),
        Just(";"), Just("\""), Just("text:\n"), Just("\n.\n"), Just(":is"), Just("header"),
        Just("anyof"), Just("not"), Just("keep"), Just("/*"), Just("*/"), Just("#"), Just("1K"),
        Just("\\"), Just("${"), Just("elsif"), Just("else"), Just("require"), Just(" "),
    ], 0..40)) {
        let text = parts.concat();
        if let Ok(script) = Script::parse(&text)
            && let Ok(program) = script.compile(&Capabilities::all()) {
                let msg = ParsedMessage::new(b"Subject: x\r\n\r\ny\r\n");
                let _ = program.run(&msg, &EmptyEnvironment, now());
            }
    }

    #[test]
    fn generated_scripts_run_within_limits(script in script(), msg in message(), steps in 1u64..400) {
        let mut caps = Capabilities::all();
        caps.limits.max_actions = 3;
        caps.limits.max_redirects = 1;
        caps.limits.max_steps = steps;
        let program = match Program::compile(&script, &caps) {
            Ok(p) => p,
            // The generator writes valid scripts only.
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{script}"))),
        };
        let message = ParsedMessage::new(&msg).with_envelope("x@y.example", "c@d.example");
        match program.run(&message, &Includes, now()) {
            Ok(outcome) => {
                let explicit = outcome.actions.iter().filter(|a| !matches!(a, Action::Keep { implicit: true, .. })).count();
                prop_assert!(explicit <= 3, "{} actions", explicit);
                let redirects = outcome.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count();
                prop_assert!(redirects <= 1);
                let rejects = outcome.actions.iter().filter(|a| matches!(a, Action::Reject { .. })).count();
                prop_assert!(rejects <= 1);
                let delivers = outcome.actions.iter().any(|a| {
                    matches!(a, Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. } | Action::Vacation(_))
                });
                prop_assert!(rejects == 0 || !delivers, "reject with a delivery: {:?}", outcome);
            }
            Err(e) => {
                if let RuntimeErrorKind::Limit(Limit::Steps(n)) = e.kind() {
                    prop_assert_eq!(*n, steps);
                }
            }
        }
    }
}

#[test]
fn steps_bound_a_hostile_script() {
    // Many keys against a long header: the step limit stops it, counting the octets compared.
    let keys: Vec<String> = (0..500).map(|i| format!("\"*{i}*{i}*\"")).collect();
    let script = format!(
        "if header :matches \"subject\" [{}] {{ keep; }}",
        keys.join(",")
    );
    let subject = "x".repeat(4000);
    let msg = ParsedMessage::new(format!("Subject: {subject}\r\n\r\n").as_bytes());
    let mut caps = Capabilities::all();
    caps.limits.max_steps = 1000;
    let err = Program::compile(&script, &caps)
        .unwrap()
        .run(&msg, &EmptyEnvironment, now())
        .unwrap_err();
    assert_eq!(err.kind(), &RuntimeErrorKind::Limit(Limit::Steps(1000)));
    assert_eq!(err.position().line, 1);
}

#[test]
fn action_and_redirect_limits() {
    let msg = ParsedMessage::new(b"\r\n");
    let many: String = (0..40).fold(String::new(), |mut s, i| {
        let _ = write!(s, "fileinto \"f{i}\";");
        s
    });
    let err = Program::compile(
        &format!("require \"fileinto\"; {many}"),
        &Capabilities::all(),
    )
    .unwrap()
    .run(&msg, &EmptyEnvironment, now())
    .unwrap_err();
    assert_eq!(err.kind(), &RuntimeErrorKind::Limit(Limit::Actions(32)));
    let redirects: String = (0..5).fold(String::new(), |mut s, i| {
        let _ = write!(s, "redirect \"r{i}@example.org\";");
        s
    });
    let err = Program::compile(&redirects, &Capabilities::all())
        .unwrap()
        .run(&msg, &EmptyEnvironment, now())
        .unwrap_err();
    assert_eq!(err.kind(), &RuntimeErrorKind::Limit(Limit::Redirects(4)));
    // The same address twice is one redirect (RFC 5228 §2.10.3).
    let o = Program::compile(
        "redirect \"a@example.org\"; redirect \"<a@EXAMPLE.org>\";",
        &Capabilities::all(),
    )
    .unwrap()
    .run(&msg, &EmptyEnvironment, now())
    .unwrap();
    assert_eq!(o.actions.len(), 1);
}

#[test]
fn include_depth_is_bounded() {
    struct Chain;
    impl Environment for Chain {
        fn script(&self, _: ScriptLocation, name: &str) -> Option<String> {
            let n: u32 = name.parse().ok()?;
            Some(format!("require \"include\"; include \"{}\";", n + 1))
        }
    }
    let msg = ParsedMessage::new(b"\r\n");
    let err = Program::compile("require \"include\"; include \"0\";", &Capabilities::all())
        .unwrap()
        .run(&msg, &Chain, now())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &RuntimeErrorKind::Limit(Limit::IncludeDepth(10))
    );
}

#[test]
fn parse_limits() {
    let mut limits = Limits::default();
    limits.max_script_size = 10;
    assert!(Script::parse_with("keep; keep; keep;", &limits).is_err());
    let deep = "if not ".repeat(10_000) + "true {}";
    assert!(
        Script::parse(&deep).is_err(),
        "nesting is bounded, not a stack overflow"
    );
    let blocks = "if true {".repeat(10_000) + &"}".repeat(10_000);
    assert!(Script::parse(&blocks).is_err());
    let mut caps = Capabilities::all();
    caps.limits.max_variables = 2;
    assert!(
        Program::compile(
            "require \"variables\"; set \"a\" \"1\"; set \"b\" \"2\"; set \"c\" \"3\";",
            &caps
        )
        .is_err()
    );
}

mod managesieve {
    use mailwright_sieve::managesieve::{
        Command, Response, Status, parse_command, parse_sasl_line,
    };
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof!["[ -~]{0,12}", "\\PC{0,8}", Just("a\"b\\c".to_owned())]
    }

    fn command() -> impl Strategy<Value = Command> {
        let script = prop::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            (name(), prop::option::of("[A-Za-z0-9+/=]{0,16}"))
                .prop_map(|(mechanism, initial)| { Command::Authenticate { mechanism, initial } }),
            Just(Command::StartTls),
            Just(Command::Logout),
            Just(Command::Capability),
            (name(), any::<u64>()).prop_map(|(name, size)| Command::HaveSpace { name, size }),
            (name(), script.clone()).prop_map(|(name, script)| Command::PutScript { name, script }),
            Just(Command::ListScripts),
            name().prop_map(|name| Command::SetActive { name }),
            name().prop_map(|name| Command::GetScript { name }),
            name().prop_map(|name| Command::DeleteScript { name }),
            (name(), name()).prop_map(|(from, to)| Command::RenameScript { from, to }),
            script.prop_map(|script| Command::CheckScript { script }),
            prop::option::of(name()).prop_map(|tag| Command::Noop { tag }),
            Just(Command::Unauthenticate),
        ]
    }

    proptest! {
        #[test]
        fn commands_round_trip_and_need_all_their_octets(c in command()) {
            let wire = c.encode();
            prop_assert_eq!(parse_command(&wire, 1 << 16), Ok(Some((c, wire.len()))));
            for cut in 0..wire.len() {
                prop_assert_eq!(parse_command(&wire[..cut], 1 << 16), Ok(None), "cut at {}", cut);
            }
        }

        #[test]
        fn responses_round_trip(
            status in prop_oneof![Just(Status::Ok), Just(Status::No), Just(Status::Bye)],
            code in prop::option::of("[A-Z/]{1,12}"),
            text in prop::option::of("\\PC{0,40}|[ -~\r\n]{0,40}"),
        ) {
            let r = Response { status, code, text };
            let wire = r.encode();
            prop_assert_eq!(Response::parse(&wire, 1 << 16), Ok(Some((r, wire.len()))));
        }

        #[test]
        fn parsed_responses_round_trip(
            status in prop_oneof![Just(&b"OK"[..]), Just(&b"NO"[..]), Just(&b"BYE"[..])],
            code in prop::collection::vec(any::<u8>(), 0..16),
            rest in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'"')], 0..32),
        ) {
            // Whatever a response code holds (a line end, found by fuzzing), a response that
            // parses encodes to one that parses back to it.
            let mut input = status.to_vec();
            input.extend_from_slice(b" (");
            input.extend_from_slice(&code);
            input.extend_from_slice(&rest);
            if let Ok(Some((r, used))) = Response::parse(&input, 64) {
                prop_assert!(used <= input.len());
                let wire = r.encode();
                prop_assert_eq!(Response::parse(&wire, 1 << 16), Ok(Some((r, wire.len()))));
            }
        }

        #[test]
        fn arbitrary_octets_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_command(&data, 64);
            let _ = parse_sasl_line(&data);
            let _ = Response::parse(&data, 64);
        }
    }
}

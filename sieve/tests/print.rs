//! The printer (`Script`'s `Display`): generated scripts, written with every spelling the grammar
//! allows (escapes, `text:` strings, quantifiers, comments, odd white space, mixed case), print
//! to text that parses back to the same script and prints the same again.

use mailwright_sieve::{Capabilities, Limits, Script};
use proptest::prelude::*;

/// A string value from the characters that matter to the printer: quotes, backslashes, line
/// ends, dots that start lines, NUL, non-ASCII, comment openers.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("B"),
            Just(" "),
            Just("\""),
            Just("\\"),
            Just("\r"),
            Just("\n"),
            Just("\r\n"),
            Just("."),
            Just(".."),
            Just("\0"),
            Just("é"),
            Just("#"),
            Just("/*"),
            Just("text:"),
            Just("${a}"),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

/// One way of writing `value`: quoted (some ordinary characters escaped too, which RFC 5228
/// §2.4.2 reads as the character), or `text:` when the value ends with a line end.
fn spelled(value: &str, multi_line: bool, escape_all: bool) -> String {
    if multi_line && value.ends_with('\n') {
        let mut out = String::from("text: # comment\r\n");
        for line in value.split_inclusive('\n') {
            if line.starts_with('.') {
                out.push('.');
            }
            out.push_str(line);
        }
        out.push_str(".\r\n");
        return out;
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') || (escape_all && c.is_ascii_alphabetic()) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn string() -> impl Strategy<Value = String> {
    (value(), any::<bool>(), any::<bool>()).prop_map(|(v, m, e)| spelled(&v, m, e))
}

/// White space and comments between tokens.
fn blank() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(" "),
        Just("\t"),
        Just("\r\n"),
        Just("\n  "),
        Just(" # hash comment\n"),
        Just("/* bracket\r\n comment */"),
    ]
}

fn identifier() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("keep"),
        Just("IF"),
        Just("Header"),
        Just("text"),
        Just("x_1"),
        Just("_"),
        Just("anyof"),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (
            0u64..5000,
            prop_oneof![Just('k'), Just('K'), Just('m'), Just('G')]
        )
            .prop_map(|(n, q)| format!("{n}{q}")),
        Just("0".to_owned()),
        Just("007".to_owned()),
    ]
}

/// Each item after its blank.
fn joined(items: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (blank, item) in items {
        out.push_str(blank);
        out.push_str(item);
    }
    out
}

fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        string(),
        prop::collection::vec(string(), 1..4).prop_map(|s| format!("[{}]", s.join(","))),
        number(),
        prop_oneof![Just(":is"), Just(":Contains"), Just(":x_2")].prop_map(str::to_owned),
    ]
}

fn arguments() -> impl Strategy<Value = String> {
    prop::collection::vec((blank(), argument()), 0..3).prop_map(|a| joined(&a))
}

fn test() -> impl Strategy<Value = String> {
    let leaf = (identifier(), arguments()).prop_map(|(i, a)| format!("{i}{a}"));
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            identifier(),
            arguments(),
            prop_oneof![
                inner.clone().prop_map(|t| format!(" {t}")),
                prop::collection::vec(inner, 1..3).prop_map(|t| format!("({})", t.join(" ,"))),
            ],
        )
            .prop_map(|(i, a, t)| format!("{i}{a}{t}"))
    })
}

fn command() -> impl Strategy<Value = String> {
    let tests = prop_oneof![
        Just(String::new()),
        test().prop_map(|t| format!(" {t}")),
        prop::collection::vec(test(), 1..3).prop_map(|t| format!(" ( {} )", t.join(", "))),
    ];
    let simple = (identifier(), arguments(), tests.clone(), blank())
        .prop_map(|(i, a, t, b)| format!("{i}{a}{t}{b};"));
    simple.prop_recursive(3, 16, 3, move |inner| {
        (
            identifier(),
            arguments(),
            tests.clone(),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(i, a, t, block)| format!("{i}{a}{t}{{{}}}", block.join("\n")))
    })
}

fn script() -> impl Strategy<Value = String> {
    prop::collection::vec((blank(), command()), 0..5).prop_map(|cs| joined(&cs))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printed_scripts_parse_back_to_themselves(text in script()) {
        let parsed = Script::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("generated text must parse: {e}\n{text}")))?;
        let printed = parsed.to_string();
        let mut limits = Limits::default();
        limits.max_script_size = usize::MAX;
        let again = Script::parse_with(&printed, &limits)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}\nprinted as\n{printed}")))?;
        prop_assert!(again.syntax_eq(&parsed), "{}\nprinted as\n{}", text, printed);
        prop_assert_eq!(again.to_string(), printed);
        // The same script compiles (or not) the same way.
        let caps = Capabilities::all();
        prop_assert_eq!(parsed.compile(&caps).is_ok(), again.compile(&caps).is_ok());
    }
}

#[test]
fn quantifiers_and_dot_stuffed_multi_line() {
    // RFC 5228 §2.4.1 (quantifiers) and §2.4.2 (a stuffed line, quotes and a backslash kept as
    // they are in a multi-line string).
    let script = Script::parse(
        "require \"fileinto\";\r\n\
         if size :over 1M { fileinto \"big\"; }\r\n\
         reject text:\r\n\
         ...\r\n\
         The message is too \"big\". \\o/\r\n\
         .\r\n\
         ;\r\n",
    )
    .unwrap();
    let printed = script.to_string();
    assert_eq!(
        printed,
        "require \"fileinto\";\n\
         if size :over 1M {\n    fileinto \"big\";\n}\n\
         reject text:\n\
         ...\r\n\
         The message is too \"big\". \\o/\r\n\
         .\n;\n"
    );
    assert!(Script::parse(&printed).unwrap().syntax_eq(&script));
}

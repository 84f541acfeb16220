//! Script text from a parse tree: what [`Script`](crate::Script)'s `Display` writes, which
//! parses back to the same tree (positions aside, see [`Script::syntax_eq`](crate::Script::syntax_eq)).
//!
//! RFC 5228 §2.4.2 and §8.1:
//!
//! ```text
//! quoted-string      = DQUOTE quoted-text DQUOTE
//! quoted-other       = "\" octet-not-qspecial
//!                        ; represents just the octet-no-qspecial
//!                        ; character.  SHOULD NOT be used
//! quoted-safe        = CRLF / octet-not-qspecial
//!                        ; either a CRLF pair, OR a single octet other
//!                        ; than NUL, CR, LF, double-quote, or backslash
//! quoted-special     = "\" (DQUOTE / "\")
//!                        ; represents just a double-quote or backslash
//! multi-line         = "text:" *(SP / HTAB) (hash-comment / CRLF)
//!                        *(multiline-literal / multiline-dotstart)
//!                        "." CRLF
//! multiline-literal  = [ octet-not-period *octet-not-crlf ] CRLF
//! multiline-dotstart = "." 1*octet-not-crlf CRLF
//!                        ; A line containing only "." ends the
//!                        ; multi-line.  Remove a leading '.' if
//!                        ; followed by another '.'.
//! ```
//!
//! Choices: a string that ends with a line end (a vacation reason, a reject text) is written
//! `text:`, dot-stuffed, with its own line ends kept; any other string is quoted, `"` and `\`
//! escaped and nothing else (our lexer, like Pigeonhole, takes any other character, NUL and bare
//! CR or LF included, as itself). A number is written with the largest quantifier that divides
//! it (`102400` is `100K`, RFC 5228 §2.4.1); the tree holds the value, not the spelling.
//! Comments and white space are not in the tree and are not written: each command goes on a
//! line of its own, indented four spaces per block.

use std::fmt::{self, Write as _};

use crate::parse::{Argument, Command, StringLit, Test};

/// Writes `commands` at block depth `depth`.
pub(crate) fn commands(f: &mut fmt::Formatter<'_>, list: &[Command], depth: usize) -> fmt::Result {
    for c in list {
        indent(f, depth)?;
        f.write_str(&c.name)?;
        arguments(f, &c.args, &c.tests, c.parenthesised)?;
        match &c.block {
            None => f.write_str(";\n")?,
            Some(block) => {
                f.write_str(" {\n")?;
                commands(f, block, depth + 1)?;
                indent(f, depth)?;
                f.write_str("}\n")?;
            }
        }
    }
    Ok(())
}

fn indent(f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        f.write_str("    ")?;
    }
    Ok(())
}

/// `*argument [ test / test-list ]`, each preceded by a space.
fn arguments(
    f: &mut fmt::Formatter<'_>,
    args: &[Argument],
    tests: &[Test],
    parenthesised: bool,
) -> fmt::Result {
    for a in args {
        f.write_char(' ')?;
        match a {
            Argument::Strings {
                values,
                list: false,
                ..
            } if values.len() == 1 => string(f, &values[0].value)?,
            Argument::Strings { values, .. } => {
                f.write_char('[')?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    string(f, &v.value)?;
                }
                f.write_char(']')?;
            }
            Argument::Number(n, _) => number(f, *n)?,
            Argument::Tag(name, _) => write!(f, ":{name}")?,
        }
    }
    if parenthesised {
        f.write_str(" (")?;
        for (i, t) in tests.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            test(f, t)?;
        }
        f.write_char(')')?;
    } else {
        for t in tests {
            f.write_char(' ')?;
            test(f, t)?;
        }
    }
    Ok(())
}

fn test(f: &mut fmt::Formatter<'_>, t: &Test) -> fmt::Result {
    f.write_str(&t.name)?;
    arguments(f, &t.args, &t.tests, t.parenthesised)
}

fn number(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    for (unit, shift) in [('G', 30), ('M', 20), ('K', 10)] {
        if n != 0 && n.trailing_zeros() >= shift {
            return write!(f, "{}{unit}", n >> shift);
        }
    }
    write!(f, "{n}")
}

/// A quoted string, or `text:` for one that ends with a line end.
fn string(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    if value.ends_with('\n') {
        // The line after `text:` starts the value; the lone "." after the value's last line end
        // ends it.
        f.write_str("text:\n")?;
        for line in value.split_inclusive('\n') {
            if line.starts_with('.') {
                f.write_char('.')?;
            }
            f.write_str(line)?;
        }
        return f.write_str(".\n");
    }
    f.write_char('"')?;
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// The same commands, positions aside.
pub(crate) fn same_commands(a: &[Command], b: &[Command]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name == b.name
                && same_arguments(&a.args, &b.args)
                && same_tests(&a.tests, &b.tests)
                && a.parenthesised == b.parenthesised
                && match (&a.block, &b.block) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same_commands(x, y),
                    _ => false,
                }
        })
}

fn same_tests(a: &[Test], b: &[Test]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name == b.name
                && same_arguments(&a.args, &b.args)
                && same_tests(&a.tests, &b.tests)
                && a.parenthesised == b.parenthesised
        })
}

fn same_arguments(a: &[Argument], b: &[Argument]) -> bool {
    let same_strings = |x: &[StringLit], y: &[StringLit]| {
        x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.value == y.value)
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| match (a, b) {
            (
                Argument::Strings {
                    values: x,
                    list: lx,
                    ..
                },
                Argument::Strings {
                    values: y,
                    list: ly,
                    ..
                },
            ) => lx == ly && same_strings(x, y),
            (Argument::Number(x, _), Argument::Number(y, _)) => x == y,
            (Argument::Tag(x, _), Argument::Tag(y, _)) => x == y,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use crate::Script;

    fn printed(src: &str) -> String {
        Script::parse(src).unwrap().to_string()
    }

    #[test]
    fn layout_numbers_and_lists() {
        assert_eq!(
            printed("if anyof(size :over 100k, header :is [\"a\"] \"b\"){discard;stop;}keep;"),
            "if anyof (size :over 100K, header :is [\"a\"] \"b\") {\n    discard;\n    stop;\n}\nkeep;\n"
        );
        assert_eq!(
            printed("x 0 1 1023 1024 1048576 3221225472 1025;"),
            "x 0 1 1023 1K 1M 3G 1025;\n"
        );
    }

    #[test]
    fn strings_are_escaped_or_multi_line() {
        assert_eq!(printed(r#"x "a\"b\\c\q";"#), "x \"a\\\"b\\\\cq\";\n");
        // RFC 5228 §2.4.2: a line of the value that starts with "." is stuffed.
        let s = printed("vacation text:\r\n..\r\n..x\r\nplain\r\n.\r\n;");
        assert_eq!(s, "vacation text:\n..\r\n..x\r\nplain\r\n.\n;\n");
        let again = Script::parse(&s).unwrap();
        assert!(again.syntax_eq(&Script::parse("vacation \".\r\n.x\r\nplain\r\n\";").unwrap()));
    }

    #[test]
    fn positions_are_not_compared() {
        let a = Script::parse("keep;").unwrap();
        let b = Script::parse("\n\n   keep ;").unwrap();
        assert_ne!(a, b);
        assert!(a.syntax_eq(&b));
        assert!(!a.syntax_eq(&Script::parse("discard;").unwrap()));
        assert!(
            !Script::parse("x [\"a\"];")
                .unwrap()
                .syntax_eq(&Script::parse("x \"a\";").unwrap())
        );
    }
}

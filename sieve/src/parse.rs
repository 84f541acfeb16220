//! The grammar of RFC 5228 §8.2, as a recursive descent with a depth bound:
//!
//! ```text
//! argument     = string-list / number / tag
//! arguments    = *argument [ test / test-list ]
//! block        = "{" commands "}"
//! command      = identifier arguments (";" / block)
//! commands     = *command
//! start        = commands
//! string       = quoted-string / multi-line
//! string-list  = "[" string *("," string) "]" / string
//! test         = identifier arguments
//! test-list    = "(" test *("," test) ")"
//! ```

use crate::error::{ParseError, ParseErrorKind, Position};
use crate::lexer::{Lexer, Tok, Token};

/// A command of the parse tree: `identifier arguments (";" / block)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) name: String,
    pub(crate) pos: Position,
    pub(crate) args: Vec<Argument>,
    pub(crate) tests: Vec<Test>,
    /// Whether the tests were written as a `( ... )` list.
    pub(crate) parenthesised: bool,
    pub(crate) block: Option<Vec<Command>>,
}

/// A test of the parse tree: `identifier arguments`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Test {
    pub(crate) name: String,
    pub(crate) pos: Position,
    pub(crate) args: Vec<Argument>,
    pub(crate) tests: Vec<Test>,
    pub(crate) parenthesised: bool,
}

/// One argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Argument {
    /// A string (`list` false) or a string list in brackets.
    Strings {
        values: Vec<StringLit>,
        list: bool,
        pos: Position,
    },
    Number(u64, Position),
    Tag(String, Position),
}

impl Argument {
    pub(crate) fn pos(&self) -> Position {
        match self {
            Argument::Strings { pos, .. } | Argument::Number(_, pos) | Argument::Tag(_, pos) => {
                *pos
            }
        }
    }

    /// How Pigeonhole names the argument's type.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Argument::Strings { list: false, .. } => "a string",
            Argument::Strings { list: true, .. } => "a string list",
            Argument::Number(..) => "a number",
            Argument::Tag(..) => "a tag",
        }
    }
}

/// A string as written, escapes resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StringLit {
    pub(crate) value: String,
    pub(crate) pos: Position,
}

pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token,
    max_depth: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, max_depth: usize) -> Result<Self, ParseError> {
        let mut lexer = Lexer::new(src);
        let current = lexer.next_token()?;
        Ok(Self {
            lexer,
            current,
            max_depth,
            depth: 0,
        })
    }

    fn advance(&mut self) -> Result<Token, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn unexpected(&self, expected: &'static str) -> ParseError {
        ParseError::new(
            self.current.pos,
            ParseErrorKind::Expected {
                expected,
                found: self.current.kind.describe(),
            },
            "",
        )
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(ParseError::new(
                self.current.pos,
                ParseErrorKind::TooDeep(self.max_depth),
                "",
            ));
        }
        Ok(())
    }

    /// `start = commands`
    pub(crate) fn script(mut self) -> Result<Vec<Command>, ParseError> {
        let commands = self.commands()?;
        if self.current.kind != Tok::Eof {
            return Err(self.unexpected("a command identifier"));
        }
        Ok(commands)
    }

    fn commands(&mut self) -> Result<Vec<Command>, ParseError> {
        let mut out = Vec::new();
        while let Tok::Identifier(_) = self.current.kind {
            out.push(self.command()?);
        }
        Ok(out)
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let token = self.advance()?;
        let Tok::Identifier(name) = token.kind else {
            unreachable!("command() is called on an identifier")
        };
        let (args, tests, parenthesised) = self.arguments()?;
        let block = match self.current.kind {
            Tok::Semicolon => {
                self.advance()?;
                None
            }
            Tok::LeftBrace => {
                self.advance()?;
                self.enter()?;
                let block = self.commands()?;
                self.depth -= 1;
                if self.current.kind != Tok::RightBrace {
                    return Err(self.unexpected("end of compound block '}'"));
                }
                self.advance()?;
                Some(block)
            }
            _ => {
                return Err(
                    self.unexpected("end of command ';' or the beginning of a compound block '{'")
                );
            }
        };
        Ok(Command {
            name,
            pos: token.pos,
            args,
            tests,
            parenthesised,
            block,
        })
    }

    /// `arguments = *argument [ test / test-list ]`
    fn arguments(&mut self) -> Result<(Vec<Argument>, Vec<Test>, bool), ParseError> {
        let mut args = Vec::new();
        loop {
            let pos = self.current.pos;
            match &self.current.kind {
                Tok::Number(n) => {
                    args.push(Argument::Number(*n, pos));
                    self.advance()?;
                }
                Tok::Tag(_) => {
                    let Tok::Tag(tag) = self.advance()?.kind else {
                        unreachable!()
                    };
                    args.push(Argument::Tag(tag, pos));
                }
                Tok::String(..) => {
                    let Tok::String(value, _) = self.advance()?.kind else {
                        unreachable!()
                    };
                    args.push(Argument::Strings {
                        values: vec![StringLit { value, pos }],
                        list: false,
                        pos,
                    });
                }
                Tok::LeftBracket => {
                    self.advance()?;
                    let mut values = Vec::new();
                    loop {
                        let spos = self.current.pos;
                        if let Tok::String(..) = self.current.kind {
                            let Tok::String(value, _) = self.advance()?.kind else {
                                unreachable!()
                            };
                            values.push(StringLit { value, pos: spos });
                        } else if values.is_empty() {
                            return Err(self.unexpected("a string after '[' in string list"));
                        } else {
                            return Err(self.unexpected("a string after ',' in string list"));
                        }
                        match self.current.kind {
                            Tok::Comma => {
                                self.advance()?;
                            }
                            Tok::RightBracket => {
                                self.advance()?;
                                break;
                            }
                            _ => return Err(self.unexpected("',' or end of string list ']'")),
                        }
                    }
                    args.push(Argument::Strings {
                        values,
                        list: true,
                        pos,
                    });
                }
                _ => break,
            }
        }
        match self.current.kind {
            Tok::Identifier(_) => {
                let test = self.test()?;
                Ok((args, vec![test], false))
            }
            Tok::LeftParen => {
                self.advance()?;
                self.enter()?;
                let mut tests = Vec::new();
                loop {
                    if !matches!(self.current.kind, Tok::Identifier(_)) {
                        return Err(self.unexpected(if tests.is_empty() {
                            "test identifier after '(' in test list"
                        } else {
                            "test identifier after ',' in test list"
                        }));
                    }
                    tests.push(self.test()?);
                    match self.current.kind {
                        Tok::Comma => {
                            self.advance()?;
                        }
                        Tok::RightParen => {
                            self.advance()?;
                            break;
                        }
                        _ => return Err(self.unexpected("',' or end of test list ')'")),
                    }
                }
                self.depth -= 1;
                Ok((args, tests, true))
            }
            _ => Ok((args, Vec::new(), false)),
        }
    }

    fn test(&mut self) -> Result<Test, ParseError> {
        self.enter()?;
        let token = self.advance()?;
        let Tok::Identifier(name) = token.kind else {
            unreachable!("test() is called on an identifier")
        };
        let (args, tests, parenthesised) = self.arguments()?;
        self.depth -= 1;
        Ok(Test {
            name,
            pos: token.pos,
            args,
            tests,
            parenthesised,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Vec<Command>, ParseError> {
        Parser::new(src, 32)?.script()
    }

    #[test]
    fn commands_tests_and_blocks() {
        let script = parse(
            "if anyof (not exists [\"From\",\"Date\"], header :contains \"x\" \"y\") { discard; } keep;",
        )
        .unwrap();
        assert_eq!(script.len(), 2);
        assert_eq!(script[0].name, "if");
        assert!(!script[0].parenthesised);
        assert_eq!(script[0].tests.len(), 1);
        assert!(script[0].tests[0].parenthesised);
        assert_eq!(script[0].tests[0].tests.len(), 2);
        assert_eq!(script[0].block.as_ref().unwrap()[0].name, "discard");
        assert_eq!(
            script[1].pos,
            Position {
                line: 1,
                column: 78
            }
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse("if true {\n keep;\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (3, 1));
        assert_eq!(
            e.kind().to_string(),
            "expected end of compound block '}', but found end of file"
        );
        let e = parse("if anyof(true,) {}").unwrap_err();
        assert_eq!(
            e.kind().to_string(),
            "expected test identifier after ',' in test list, but found ')'"
        );
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "if not ".repeat(100) + "true {}";
        assert!(matches!(
            parse(&deep).unwrap_err().kind(),
            ParseErrorKind::TooDeep(32)
        ));
        let blocks = "if true {".repeat(100);
        assert!(matches!(
            parse(&blocks).unwrap_err().kind(),
            ParseErrorKind::TooDeep(32)
        ));
    }
}

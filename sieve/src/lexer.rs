//! Tokens of a Sieve script (RFC 5228 §8.1, "Lexical Tokens").
//!
//! ```text
//! bracket-comment    = "/*" *not-star 1*STAR *(not-star-slash *not-star 1*STAR) "/"
//! hash-comment       = "#" *octet-not-crlf CRLF
//! identifier         = (ALPHA / "_") *(ALPHA / DIGIT / "_")
//! multi-line         = "text:" *(SP / HTAB) (hash-comment / CRLF)
//!                      *(multiline-literal / multiline-dotstart)
//!                      "." CRLF
//! number             = 1*DIGIT [ QUANTIFIER ]
//! QUANTIFIER         = "K" / "M" / "G"
//! quoted-string      = DQUOTE quoted-text DQUOTE
//! tag                = ":" identifier
//! white-space        = 1*(SP / CRLF / HTAB) / comment
//! ```
//!
//! Line ends may be CRLF or a bare LF (scripts written on Unix systems have LF only); a multi-line
//! string keeps the line ends of the script.

use crate::error::{ParseError, ParseErrorKind, Position};

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) pos: Position,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Identifier(String),
    Tag(String),
    Number(u64),
    /// A quoted string (`false`) or a multi-line string (`true`), escapes resolved.
    String(String, bool),
    LeftBracket,
    RightBracket,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Semicolon,
    Eof,
}

impl Tok {
    /// How Pigeonhole names the token in its "but found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Identifier(name) => format!("identifier '{name}'"),
            Tok::Tag(name) => format!("tag ':{name}'"),
            Tok::Number(_) => "number".to_owned(),
            Tok::String(..) => "string".to_owned(),
            Tok::LeftBracket => "'['".to_owned(),
            Tok::RightBracket => "']'".to_owned(),
            Tok::LeftParen => "'('".to_owned(),
            Tok::RightParen => "')'".to_owned(),
            Tok::LeftBrace => "'{'".to_owned(),
            Tok::RightBrace => "'}'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Semicolon => "';'".to_owned(),
            Tok::Eof => "end of file".to_owned(),
        }
    }
}

/// Turns script text into tokens, one at a time.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    at: usize,
    line: u32,
    column: u32,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            at: 0,
            line: 1,
            column: 1,
        }
    }

    fn pos(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.as_bytes().get(self.at + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.at..]
    }

    fn error(&self, pos: Position, kind: ParseErrorKind) -> ParseError {
        ParseError::new(pos, kind, self.rest())
    }

    /// Skips white space and comments.
    fn skip_blank(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('/') if self.peek_at(1) == Some(b'*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        if self.rest().starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(self.error(
                                self.pos(),
                                ParseErrorKind::UnterminatedComment(start.line),
                            ));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Result<Token, ParseError> {
        self.skip_blank()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(Token {
                kind: Tok::Eof,
                pos,
            });
        };
        let kind = match c {
            '[' => self.single(Tok::LeftBracket),
            ']' => self.single(Tok::RightBracket),
            '(' => self.single(Tok::LeftParen),
            ')' => self.single(Tok::RightParen),
            '{' => self.single(Tok::LeftBrace),
            '}' => self.single(Tok::RightBrace),
            ',' => self.single(Tok::Comma),
            ';' => self.single(Tok::Semicolon),
            '"' => self.quoted(pos)?,
            ':' => {
                self.bump();
                match self.peek() {
                    // RFC 5228 §2.6.2 / §8.1: identifiers and tags are case-insensitive.
                    Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                        Tok::Tag(self.identifier().to_ascii_lowercase())
                    }
                    _ => return Err(self.error(pos, ParseErrorKind::UnexpectedCharacter(':'))),
                }
            }
            '0'..='9' => self.number(pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let ident = self.identifier();
                if ident.eq_ignore_ascii_case("text") && self.peek() == Some(':') {
                    self.bump();
                    self.multi_line(pos)?
                } else {
                    Tok::Identifier(ident.to_ascii_lowercase())
                }
            }
            other => return Err(self.error(pos, ParseErrorKind::UnexpectedCharacter(other))),
        };
        Ok(Token { kind, pos })
    }

    fn single(&mut self, tok: Tok) -> Tok {
        self.bump();
        tok
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        self.src[start..self.at].to_owned()
    }

    fn number(&mut self, pos: Position) -> Result<Tok, ParseError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = &self.src[start..self.at];
        let multiplier: u64 = match self.peek() {
            Some('K' | 'k') => 1 << 10,
            Some('M' | 'm') => 1 << 20,
            Some('G' | 'g') => 1 << 30,
            _ => 1,
        };
        if multiplier != 1 {
            self.bump();
        }
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .map(Tok::Number)
            .ok_or_else(|| self.error(pos, ParseErrorKind::NumberTooLarge))
    }

    /// RFC 5228 §2.4.2: `\"` and `\\` are the escapes; any other backslash is dropped ("\a" is
    /// "a").
    fn quoted(&mut self, pos: Position) -> Result<Tok, ParseError> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(
                        self.error(self.pos(), ParseErrorKind::UnterminatedString(pos.line))
                    );
                }
                Some('"') => return Ok(Tok::String(out, false)),
                Some('\\') => match self.bump() {
                    None => {
                        return Err(
                            self.error(self.pos(), ParseErrorKind::UnterminatedString(pos.line))
                        );
                    }
                    Some(c) => out.push(c),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// After `text:`: blanks, then a hash comment or a line end, then lines up to a lone `.`;
    /// a line starting with `..` loses one dot (dot-stuffing).
    fn multi_line(&mut self, pos: Position) -> Result<Tok, ParseError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        match self.peek() {
            Some('#') => {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            Some('\r') if self.peek_at(1) == Some(b'\n') => {
                self.bump();
                self.bump();
            }
            Some('\n') => {
                self.bump();
            }
            None => return Err(self.error(self.pos(), ParseErrorKind::UnterminatedMultiLine)),
            Some(c) => {
                return Err(self.error(pos, ParseErrorKind::MultiLineGarbage(c)));
            }
        }
        let mut out = String::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error(self.pos(), ParseErrorKind::UnterminatedMultiLine));
            }
            let line_len = rest.find('\n').map_or(rest.len(), |i| i + 1);
            let line = &rest[..line_len];
            let content = line.trim_end_matches('\n').trim_end_matches('\r');
            if content == "." {
                if line_len == rest.len() && !line.ends_with('\n') {
                    // "." at the end of the file without its line end.
                    self.advance(line_len);
                    return Err(self.error(self.pos(), ParseErrorKind::UnterminatedMultiLine));
                }
                self.advance(line_len);
                return Ok(Tok::String(out, true));
            }
            if !line.ends_with('\n') {
                self.advance(line_len);
                return Err(self.error(self.pos(), ParseErrorKind::UnterminatedMultiLine));
            }
            let unstuffed = if line.starts_with("..") {
                &line[1..]
            } else {
                line
            };
            out.push_str(unstuffed);
            self.advance(line_len);
        }
    }

    fn advance(&mut self, octets: usize) {
        let end = self.at + octets;
        while self.at < end {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Vec<Tok> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token().expect("token");
            if t.kind == Tok::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    #[test]
    fn numbers_strings_tags_and_comments() {
        assert_eq!(
            tokens("size :over 100K; # comment\n/* block\n*/ \"a\\\"b\\q\""),
            vec![
                Tok::Identifier("size".into()),
                Tok::Tag("over".into()),
                Tok::Number(100 * 1024),
                Tok::Semicolon,
                Tok::String("a\"bq".into(), false),
            ]
        );
    }

    #[test]
    fn multi_line_strings_unstuff_dots() {
        assert_eq!(
            tokens("text: # note\r\nline one\r\n..dot\r\n.\r\n"),
            vec![Tok::String("line one\r\n.dot\r\n".into(), true)]
        );
        assert_eq!(tokens("text:\n\n.\n"), vec![Tok::String("\n".into(), true)]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = Lexer::new("\n\n\"abc\n").next_token().unwrap_err();
        assert_eq!((err.line(), err.column()), (4, 1));
        assert_eq!(
            err.kind().to_string(),
            "end of file before end of quoted string started at line 3"
        );
        let err = Lexer::new("99999999999999999999999G")
            .next_token()
            .unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::NumberTooLarge);
    }
}

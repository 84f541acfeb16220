//! The RFC 5322 / RFC 2045 tokens that header values are made of: comments, atoms, dot-atoms,
//! quoted strings, phrases, domains, MIME tokens, `type/subtype` and `; key=value` parameters.
//!
//! ```text
//! atext           = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
//!                   "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
//! dot-atom-text   = 1*atext *("." 1*atext)
//! quoted-string   = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
//! comment         = "(" *([FWS] ccontent) [FWS] ")"
//! phrase          = 1*word / obs-phrase
//! obs-phrase      = word *(word / "." / CFWS)
//! domain-literal  = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]
//! ```
//! (RFC 5322 §3.2.3, §3.2.4, §3.2.2, §3.2.5, §4.1, §3.4.1.)
//!
//! ```text
//! content := "Content-Type" ":" type "/" subtype *(";" parameter)
//! parameter := attribute "=" value
//! value := token / quoted-string
//! token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
//! tspecials :=  "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" / <">
//!               "/" / "[" / "]" / "?" / "="
//! ```
//! (RFC 2045 §5.1.)
//!
//! The lexer is lenient the way Dovecot 2.3's `rfc822-parser.c` is, because FETCH answers must
//! match what Dovecot sends for the same octets: 8-bit octets count as `atext`, a MIME token may
//! hold "." (and may be empty), a backslash before CR, LF or NUL stays literal, line breaks inside
//! quoted strings and comments are dropped, and NUL inside quoted strings, comments and domain
//! literals becomes U+FFFD when the caller asks for it. Every step returns [`Step`]:
//! `More` (input remains), `End` (input ended, a value may have been produced) or `Invalid`;
//! white space and comments after a token are skipped, never before it.

/// The outcome of a lexer step (Dovecot's `1` / `0` / `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Malformed input.
    Invalid,
    /// The input ended.
    End,
    /// More input follows.
    More,
}

impl Step {
    fn from_more(more: bool) -> Self {
        if more { Step::More } else { Step::End }
    }
    /// `More`.
    pub(crate) fn more(self) -> bool {
        self == Step::More
    }
    /// `Invalid`.
    pub(crate) fn invalid(self) -> bool {
        self == Step::Invalid
    }
}

/// U+FFFD, what NUL octets become inside quoted strings, comments and domain literals.
pub(crate) const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// `atext` (RFC 5322 §3.2.3), with every 8-bit octet counted in as Dovecot does.
pub(crate) fn is_atext(c: u8) -> bool {
    c >= 0x80
        || c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

/// A MIME `token` octet (RFC 2045 §5.1): `atext` without the tspecials "/", "=", "?"; "." is
/// accepted too (Dovecot's `rfc822_parse_mime_token`).
fn is_token(c: u8) -> bool {
    (is_atext(c) && !matches!(c, b'/' | b'=' | b'?')) || c == b'.'
}

/// A cursor over one header value.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
    /// The text of the last comment skipped, when the caller wants it (display names).
    pub(crate) last_comment: Option<Vec<u8>>,
    /// Replace NUL with U+FFFD inside quoted strings, comments and domain literals.
    pub(crate) nul_replacement: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Lexer {
            data,
            pos: 0,
            last_comment: None,
            nul_replacement: false,
        }
    }

    /// The octet under the cursor, if any.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Whether the cursor is on `c`.
    pub(crate) fn at(&self, c: u8) -> bool {
        self.peek() == Some(c)
    }

    /// Whether the input is used up.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn more(&self) -> Step {
        Step::from_more(self.pos < self.data.len())
    }

    /// Skips a comment; the cursor is on "(".
    pub(crate) fn skip_comment(&mut self) -> Step {
        let mut level = 1usize;
        if let Some(c) = &mut self.last_comment {
            c.clear();
        }
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 => {
                    if self.nul_replacement
                        && let Some(c) = &mut self.last_comment
                    {
                        c.extend_from_slice(&self.data[start..self.pos]);
                        c.extend_from_slice(REPLACEMENT);
                        start = self.pos + 1;
                    }
                }
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        if let Some(c) = &mut self.last_comment {
                            c.extend_from_slice(&self.data[start..self.pos]);
                        }
                        self.pos += 1;
                        return self.more();
                    }
                }
                b'\n' => {
                    if let Some(c) = &mut self.last_comment {
                        let mut end = self.pos;
                        if end > start && self.data[end - 1] == b'\r' {
                            end -= 1;
                        }
                        c.extend_from_slice(&self.data[start..end]);
                        start = self.pos + 1;
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Invalid;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        // A backslash before a line break or NUL is an ordinary octet.
                        self.pos -= 1;
                    } else {
                        if let Some(c) = &mut self.last_comment {
                            c.extend_from_slice(&self.data[start..self.pos - 1]);
                        }
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Invalid
    }

    /// Skips white space, line breaks and comments (`CFWS`).
    pub(crate) fn skip_lwsp(&mut self) -> Step {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment().invalid() {
                        return Step::Invalid;
                    }
                }
                _ => break,
            }
        }
        self.more()
    }

    /// `atom`, appended to `out`.
    pub(crate) fn atom(&mut self, out: &mut Vec<u8>) -> Step {
        match self.peek() {
            Some(c) if is_atext(c) => {}
            _ => return Step::Invalid,
        }
        let start = self.pos;
        while self.peek().is_some_and(is_atext) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() {
            Step::End
        } else {
            self.skip_lwsp()
        }
    }

    /// `dot-atom` (CFWS allowed around the dots, as `obs-local-part` and `obs-domain` do).
    pub(crate) fn dot_atom(&mut self, out: &mut Vec<u8>) -> Step {
        match self.peek() {
            Some(c) if is_atext(c) => {}
            _ => return Step::Invalid,
        }
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            if start == self.pos {
                return Step::Invalid;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            let step = self.skip_lwsp();
            if !step.more() {
                return step;
            }
            if !self.at(b'.') {
                return Step::More;
            }
            self.pos += 1;
            out.push(b'.');
            if !self.skip_lwsp().more() {
                return Step::Invalid;
            }
            start = self.pos;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        Step::End
    }

    /// A MIME `token` (possibly empty), appended to `out`.
    pub(crate) fn mime_token(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while self.peek().is_some_and(is_token) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() {
            Step::End
        } else {
            self.skip_lwsp()
        }
    }

    /// `quoted-string`, unquoted into `out`; the cursor is on DQUOTE.
    pub(crate) fn quoted_string(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.nul_replacement => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(REPLACEMENT);
                    start = self.pos + 1;
                }
                b'"' => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(&self.data[start..end]);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Invalid;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        out.extend_from_slice(&self.data[start..self.pos - 1]);
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Invalid
    }

    fn atom_or_dot(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while self.peek().is_some_and(|c| is_atext(c) || c == b'.') {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() {
            Step::End
        } else {
            self.skip_lwsp()
        }
    }

    /// `phrase` (with `obs-phrase` dots), words joined by one space.
    pub(crate) fn phrase(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() {
            return Step::End;
        }
        if self.at(b'.') {
            return Step::Invalid;
        }
        loop {
            let step = if self.at(b'"') {
                self.quoted_string(out)
            } else {
                self.atom_or_dot(out)
            };
            if !step.more() {
                return step;
            }
            match self.peek() {
                Some(c) if is_atext(c) || c == b'"' || c == b'.' => out.push(b' '),
                _ => break,
            }
        }
        self.skip_lwsp()
    }

    fn domain_literal(&mut self, out: &mut Vec<u8>) -> Step {
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.nul_replacement => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(REPLACEMENT);
                    start = self.pos + 1;
                }
                b'[' => return Step::Invalid,
                b']' => {
                    out.extend_from_slice(&self.data[start..=self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(&self.data[start..end]);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Invalid;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        out.extend_from_slice(&self.data[start..self.pos]);
                        start = self.pos;
                        self.pos -= 1;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Invalid
    }

    /// `"@" domain` (dot-atom or domain-literal); the cursor is on "@".
    pub(crate) fn domain(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        if !self.skip_lwsp().more() {
            return Step::Invalid;
        }
        if self.at(b'[') {
            self.domain_literal(out)
        } else {
            self.dot_atom(out)
        }
    }

    /// `type "/" subtype` of a Content-Type value into `out`. On malformed input the result is
    /// `Invalid` and `out` is left as it was, except that a value holding only a type keeps it.
    pub(crate) fn content_type(&mut self, out: &mut Vec<u8>) -> Step {
        let pos0 = out.len();
        if !self.skip_lwsp().more() {
            return Step::Invalid;
        }
        if !self.mime_token(out).more() || out.len() == pos0 {
            // Dovecot keeps a lone type ("text" at the end of the value) as the result.
            return Step::Invalid;
        }
        if !self.at(b'/') {
            out.truncate(pos0);
            return Step::Invalid;
        }
        self.pos += 1;
        if !self.skip_lwsp().more() {
            out.truncate(pos0);
            return Step::Invalid;
        }
        out.push(b'/');
        let sub = out.len();
        let step = self.mime_token(out);
        if step.invalid() || out.len() == sub || (!self.at_end() && !self.at(b';')) {
            out.truncate(pos0);
            return Step::Invalid;
        }
        step
    }

    /// One `";" key "=" value` parameter. `End` when the input is used up, `Invalid` when the
    /// parameter is malformed, else `More` with the key and the unquoted value.
    pub(crate) fn content_param(&mut self, value: &mut Vec<u8>) -> (Step, Vec<u8>) {
        value.clear();
        let mut key = Vec::new();
        if self.at_end() {
            return (Step::End, key);
        }
        if !self.at(b';') {
            return (Step::Invalid, key);
        }
        self.pos += 1;
        if !self.skip_lwsp().more() {
            return (Step::Invalid, key);
        }
        if !self.mime_token(&mut key).more() {
            return (Step::Invalid, key);
        }
        if !self.at(b'=') {
            return (Step::Invalid, key);
        }
        self.pos += 1;
        let mut step = self.skip_lwsp();
        if !step.more() {
            // An empty value at the end.
        } else if self.at(b'"') {
            step = self.quoted_string(value);
        } else if self.at(b'=') {
            // Encoded words as parameter values: taken up to the next ";" or white space.
            while let Some(c) = self.peek() {
                if matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                value.push(c);
                self.pos += 1;
            }
        } else {
            step = self.mime_token(value);
        }
        if step.invalid() {
            (Step::Invalid, key)
        } else {
            (Step::More, key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let mut l = Lexer::new(b"  (a (nested) \\) comment) atom.x rest");
        assert_eq!(l.skip_lwsp(), Step::More);
        let mut out = Vec::new();
        assert_eq!(l.atom(&mut out), Step::More);
        assert_eq!(out, b"atom");
        let mut l = Lexer::new(b"\"a\\\"b\r\n c\" x");
        let mut out = Vec::new();
        assert_eq!(l.quoted_string(&mut out), Step::More);
        assert_eq!(out, b"a\"b c");
        let mut l = Lexer::new(b"TEXT/Plain ; charset=x");
        let mut out = Vec::new();
        assert_eq!(l.content_type(&mut out), Step::More);
        assert_eq!(out, b"TEXT/Plain");
        let mut l = Lexer::new(b"text; charset=x");
        assert_eq!(l.content_type(&mut out), Step::Invalid);
    }
}

//! Strings as the compiler leaves them: literal text, variable references (RFC 5229 §3) and
//! match variables, with encoded characters (RFC 5228 §2.4.2.4) already decoded.
//!
//! ```text
//! variable-ref        =  "${" [namespace] variable-name "}"
//! namespace           =  identifier "." *sub-namespace
//! sub-namespace       =  variable-name "."
//! variable-name       =  num-variable / identifier
//! num-variable        =  1*DIGIT
//!
//! encoded-arb-octets   = "${hex:" hex-pair-seq "}"
//! hex-pair-seq         = *blank hex-pair *(1*blank hex-pair) *blank
//! hex-pair             = 1*2HEXDIG
//! encoded-unicode-char = "${unicode:" unicode-hex-seq "}"
//! unicode-hex-seq      = *blank unicode-hex *(1*blank unicode-hex) *blank
//! unicode-hex          = 1*HEXDIG
//! blank                = WSP / CRLF
//! ```
//!
//! Encoded characters are decoded first, then variable references are read (RFC 5229 §3.1).

use crate::program::VarRef;

/// A string argument: literal text and references, joined at run time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Variable(VarRef),
    /// `${0}` .. `${n}`.
    Match(usize),
}

impl Value {
    #[cfg(test)]
    pub(crate) fn literal(text: &str) -> Self {
        Self {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// The text, when the value has no reference.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }
}

/// Resolves a (lower-case) variable name, with its namespace if any, or says why it cannot.
pub(crate) type Resolve<'a> = dyn FnMut(Option<&str>, &str) -> Result<VarRef, String> + 'a;

/// How a template is read: which extensions are on, and how a name resolves.
pub(crate) struct Scan<'a> {
    pub(crate) variables: bool,
    pub(crate) encoded_character: bool,
    /// Resolves a (lower-case) name with its namespace, if any, or says why not.
    pub(crate) resolve: &'a mut Resolve<'a>,
}

impl Scan<'_> {
    pub(crate) fn value(&mut self, s: &str) -> Result<Value, String> {
        // RFC 5229 §3.1: encoded characters are decoded before variables are substituted, so
        // "${hex:24}{foo}" is a reference to foo.
        let decoded;
        let s = if self.encoded_character {
            decoded = decode_encoded(s)?;
            decoded.as_str()
        } else {
            s
        };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while self.variables {
            let Some(i) = rest.find("${") else { break };
            text.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            if let Some(close) = after.find('}')
                && let Some(part) = self.reference(&after[..close])?
            {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(part);
                rest = &after[close + 1..];
                continue;
            }
            text.push_str("${");
            rest = after;
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Value { parts })
    }

    fn reference(&mut self, inner: &str) -> Result<Option<Part>, String> {
        let components: Vec<&str> = inner.split('.').collect();
        let valid = |c: &str| is_identifier(c) || is_number(c);
        if components.iter().any(|c| !valid(c)) {
            return Ok(None);
        }
        if let [single] = components.as_slice() {
            if is_number(single) {
                // Match variables beyond what any :matches can set stay empty.
                let n = single.parse::<usize>().unwrap_or(usize::MAX);
                return Ok(Some(Part::Match(n)));
            }
            return (self.resolve)(None, &single.to_ascii_lowercase())
                .map(|v| Some(Part::Variable(v)));
        }
        if !is_identifier(components[0]) {
            return Ok(None);
        }
        let name = components[1..].join(".").to_ascii_lowercase();
        (self.resolve)(Some(&components[0].to_ascii_lowercase()), &name)
            .map(|v| Some(Part::Variable(v)))
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Every well-formed `${hex:..}` and `${unicode:..}` of `s`, decoded.
fn decode_encoded(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        if let Some(close) = after.find('}')
            && let Some(decoded) = encoded(&after[..close])?
        {
            out.push_str(&decoded);
            rest = &after[close + 1..];
            continue;
        }
        out.push_str("${");
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// `hex:` or `unicode:` content; `Ok(None)` when it is not well formed (then it stays as written,
/// RFC 5228 §2.4.2.4), an error for a code point outside Unicode scalar values or octets that are
/// not UTF-8.
fn encoded(inner: &str) -> Result<Option<String>, String> {
    let Some(colon) = inner.find(':') else {
        return Ok(None);
    };
    let (kind, seq) = (&inner[..colon], &inner[colon + 1..]);
    let unicode = if kind.eq_ignore_ascii_case("hex") {
        false
    } else if kind.eq_ignore_ascii_case("unicode") {
        true
    } else {
        return Ok(None);
    };
    let items: Vec<&str> = seq
        .split([' ', '\t', '\r', '\n'])
        .filter(|s| !s.is_empty())
        .collect();
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if items.is_empty() || items.iter().any(|s| !hex(s)) {
        return Ok(None);
    }
    if unicode {
        let mut out = String::new();
        for item in items {
            let trimmed = item.trim_start_matches('0');
            let code = if trimmed.is_empty() {
                Some(0)
            } else if trimmed.len() > 6 {
                None
            } else {
                u32::from_str_radix(trimmed, 16).ok()
            };
            match code.and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => {
                    return Err(format!(
                        "invalid unicode character 0x{:08x} in encoded character substitution",
                        code.unwrap_or(u32::MAX)
                    ));
                }
            }
        }
        Ok(Some(out))
    } else {
        if items.iter().any(|s| s.len() > 2) {
            return Ok(None);
        }
        let bytes: Vec<u8> = items
            .iter()
            .map(|s| u8::from_str_radix(s, 16).unwrap_or_default())
            .collect();
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "invalid UTF-8 in encoded character substitution".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str) -> Result<Value, String> {
        let mut resolve = |ns: Option<&str>, name: &str| match ns {
            None => Ok(VarRef::Local(name.to_owned())),
            Some("global") => Ok(VarRef::Global(name.to_owned())),
            Some(other) => Err(format!(
                "referring to variable in unknown namespace '{other}'"
            )),
        };
        Scan {
            variables: true,
            encoded_character: true,
            resolve: &mut resolve,
        }
        .value(s)
    }

    #[test]
    fn references_and_literals() {
        let v = scan("a${Foo}b${1}${global.X}${bad name}${").unwrap();
        assert_eq!(
            v.parts,
            vec![
                Part::Text("a".into()),
                Part::Variable(VarRef::Local("foo".into())),
                Part::Text("b".into()),
                Part::Match(1),
                Part::Variable(VarRef::Global("x".into())),
                Part::Text("${bad name}${".into()),
            ]
        );
        assert!(scan("${foo.bar}").is_err());
    }

    #[test]
    fn encoded_characters_come_first() {
        // RFC 5229 §3.1: "dear${hex:20 24 7b 4e}ame}" is "dear ${Name}".
        assert_eq!(scan("${hex: 40 41}").unwrap(), Value::literal("@A"));
        assert_eq!(
            scan("dear${hex:20 24 7b 4e}ame}").unwrap().parts,
            vec![
                Part::Text("dear ".into()),
                Part::Variable(VarRef::Local("name".into()))
            ]
        );
        assert_eq!(
            scan("${unicode:40}${UNICODE: 1F600}").unwrap(),
            Value::literal("@\u{1F600}")
        );
        assert_eq!(scan("${hex:xyz}").unwrap(), Value::literal("${hex:xyz}"));
        assert!(scan("${unicode:D800}").is_err());
    }
}

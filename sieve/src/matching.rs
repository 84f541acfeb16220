//! Comparators (RFC 4790 §9, RFC 5051) and match types (RFC 5228 §2.7.1, RFC 5231).

use std::cmp::Ordering;

use crate::program::{Comparator, Relation};

impl Comparator {
    /// The text as the comparator sees it: case folded for the case-insensitive ones.
    pub(crate) fn fold(self, s: &str) -> String {
        match self {
            Comparator::Octet | Comparator::AsciiNumeric => s.to_owned(),
            Comparator::AsciiCasemap => s.to_ascii_lowercase(),
            Comparator::UnicodeCasemap => s.chars().flat_map(char::to_lowercase).collect(),
        }
    }

    /// Equality (`:is`).
    pub(crate) fn equals(self, value: &str, key: &str) -> bool {
        self.order(value, key) == Ordering::Equal
    }

    /// The ordering `:value` and `:count` use (RFC 5231 §4).
    pub(crate) fn order(self, value: &str, key: &str) -> Ordering {
        match self {
            Comparator::Octet => value.as_bytes().cmp(key.as_bytes()),
            Comparator::AsciiCasemap => value
                .bytes()
                .map(|b| b.to_ascii_lowercase())
                .cmp(key.bytes().map(|b| b.to_ascii_lowercase())),
            Comparator::UnicodeCasemap => self.fold(value).cmp(&self.fold(key)),
            Comparator::AsciiNumeric => numeric(value).cmp(&numeric(key)),
        }
    }

    /// Substring (`:contains`).
    pub(crate) fn contains(self, value: &str, key: &str) -> bool {
        match self {
            Comparator::Octet => value.contains(key),
            _ => self.fold(value).contains(&self.fold(key)),
        }
    }
}

/// RFC 4790 §9.1.1: the number the leading digits spell, and strings without leading digits
/// after every number ("positive infinity"). Digits beyond what fits keep their order by length.
fn numeric(s: &str) -> (bool, usize, String) {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return (true, 0, String::new());
    }
    let trimmed = digits.trim_start_matches('0').to_owned();
    (false, trimmed.len(), trimmed)
}

/// `:value` with a relation.
pub(crate) fn relate(comparator: Comparator, rel: Relation, value: &str, key: &str) -> bool {
    rel.holds(comparator.order(value, key))
}

/// `:matches` (RFC 5228 §2.7.1): `*` matches any run of characters, `?` one character, `\`
/// quotes the next one. Returns the texts the wildcards matched, in order, for the match
/// variables of RFC 5229 §3.2 (an earlier `*` matches as little as it can).
///
/// The match backtracks only to the last `*`, so it takes time proportional to the product of
/// the lengths at worst, never exponential time.
pub(crate) fn wildcard(comparator: Comparator, value: &str, pattern: &str) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Char(char),
        Star,
        One,
    }
    let folded_value = comparator.fold(value);
    let folded_pattern = comparator.fold(pattern);
    // The folded text is compared; captures come from the original when folding kept the
    // character count (always, but for a few Unicode characters).
    let original: Vec<char> = value.chars().collect();
    let text: Vec<char> = folded_value.chars().collect();
    let same_len = original.len() == text.len();
    let mut pat = Vec::new();
    let mut chars = folded_pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '*' => P::Star,
            '?' => P::One,
            '\\' => match chars.next() {
                Some(e) => P::Char(e),
                None => P::Char('\\'),
            },
            c => P::Char(c),
        });
    }
    let source = if same_len { &original } else { &text };
    // Each wildcard's (start, end) in `text`.
    let mut caps: Vec<(usize, usize)> = Vec::new();
    let (mut t, mut p) = (0usize, 0usize);
    // The last star: its pattern index, the text index it resumes from, captures before it.
    let mut star: Option<(usize, usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(P::Star) => {
                caps.push((t, t));
                star = Some((p, t, caps.len() - 1));
                p += 1;
            }
            Some(P::One) => {
                caps.push((t, t + 1));
                p += 1;
                t += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => {
                let (sp, st, cap) = star?;
                // Give the last star one more character and retry what follows it.
                caps.truncate(cap + 1);
                caps[cap].1 = st + 1;
                star = Some((sp, st + 1, cap));
                p = sp + 1;
                t = st + 1;
            }
        }
    }
    while let Some(P::Star) = pat.get(p) {
        caps.push((t, t));
        p += 1;
    }
    if p != pat.len() {
        return None;
    }
    Some(
        caps.iter()
            .map(|&(a, b)| source[a..b].iter().collect())
            .collect(),
    )
}

/// `:quotewildcard` (RFC 5229 §4.1.2): `*`, `?` and `\` get a backslash.
pub(crate) fn quote_wildcards(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_capture_shortest_first() {
        // RFC 5229 §3.2: "[*] *" on "[acme-users] [fwd] version 1.0 is out".
        let caps = wildcard(
            Comparator::AsciiCasemap,
            "[acme-users] [fwd] version 1.0 is out",
            "[*] *",
        )
        .unwrap();
        assert_eq!(caps, vec!["acme-users", "[fwd] version 1.0 is out"]);
        let caps = wildcard(
            Comparator::AsciiCasemap,
            "coyote@desert.example.org",
            "*@*.*",
        )
        .unwrap();
        assert_eq!(caps, vec!["coyote", "desert", "example.org"]);
        assert!(wildcard(Comparator::Octet, "ABC", "a*").is_none());
        assert_eq!(
            wildcard(Comparator::AsciiCasemap, "ABC", "a?c").unwrap(),
            vec!["B"]
        );
        assert!(wildcard(Comparator::Octet, "a*c", "a\\*c").is_some());
        assert!(wildcard(Comparator::Octet, "abc", "a\\*c").is_none());
        assert!(wildcard(Comparator::Octet, "", "*").is_some());
        assert!(wildcard(Comparator::Octet, "", "?").is_none());
    }

    #[test]
    fn wildcards_take_polynomial_time() {
        let value = "a".repeat(2000);
        let pattern = "*a".repeat(50) + "b";
        assert!(wildcard(Comparator::Octet, &value, &pattern).is_none());
    }

    #[test]
    fn numeric_order() {
        let c = Comparator::AsciiNumeric;
        assert!(c.equals("007", "7"));
        assert_eq!(c.order("10", "9"), Ordering::Greater);
        assert_eq!(c.order("abc", "99999999999999999999999"), Ordering::Greater);
        assert!(c.equals("abc", "def"));
        assert_eq!(
            Comparator::AsciiCasemap.order("10", "9"),
            Ordering::Less,
            "i;ascii-casemap orders as text"
        );
    }
}

//! MIME parameters (RFC 2045 §5.1) with RFC 2231 continuations joined but not decoded.
//!
//! ```text
//! extended-parameter := (extended-initial-name "=" extended-initial-value) /
//!                       (extended-other-names "=" extended-other-values)
//! extended-initial-name := attribute [initial-section] "*"
//! extended-other-names := attribute other-sections "*"
//! initial-section := "*0"
//! other-sections := "*" ("1" / (NON-ZERO *DIGIT))
//! extended-initial-value := [charset] "'" [language] "'" extended-other-values
//! ```
//! (RFC 2231 §7.)
//!
//! RFC 3501 §7.4.2 sends `body-fld-param` as the attribute/value strings of the header, and
//! Dovecot 2.3 (`rfc2231-parser.c`) does no more than join the sections of a continued
//! parameter: `title*0*=us-ascii'en'a; title*1=b` is sent as `"title*" "us-ascii'en'ab"`, still
//! percent-encoded (a plain section is appended with "%" written "%25" when the value is
//! extended), and a parameter whose sections are not numbered 0, 1, 2 ... is sent section by
//! section. Names and values keep their case. Plain parameters come first, in header order, then
//! the joined ones sorted by name. The same parameters are what SEARCH and the part tree see
//! (the multipart `boundary`).

use super::lexer::{Lexer, Step};

/// One parameter: name and value, raw.
pub(crate) type Param = (Vec<u8>, Vec<u8>);

struct Section {
    key: Vec<u8>,
    value: Vec<u8>,
    idx: u32,
    extended: bool,
}

/// Parses `*(";" parameter)` from the lexer's position to the end. Malformed parameters are
/// skipped an octet at a time, as Dovecot does; the flag says whether any was.
pub(crate) fn parse(lexer: &mut Lexer<'_>) -> (Vec<Param>, bool) {
    let prev = lexer.nul_replacement;
    lexer.nul_replacement = true;
    let mut result: Vec<Param> = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut broken = false;
    let mut value = Vec::new();
    loop {
        let (step, key) = lexer.content_param(&mut value);
        match step {
            Step::End => break,
            Step::Invalid => {
                broken = true;
                if lexer.at_end() {
                    break;
                }
                lexer.pos += 1;
                continue;
            }
            Step::More => {}
        }
        match key.iter().position(|&c| c == b'*') {
            Some(star) => {
                let mut p = star;
                let mut idx = 0u32;
                if p + 1 < key.len() {
                    p += 1;
                    while p < key.len() && key[p].is_ascii_digit() {
                        idx = idx.wrapping_mul(10).wrapping_add(u32::from(key[p] - b'0'));
                        p += 1;
                    }
                }
                let extended = p < key.len() && key[p] == b'*';
                if extended {
                    p += 1;
                }
                if p >= key.len() {
                    sections.push(Section {
                        key: key[..star].to_vec(),
                        value: value.clone(),
                        idx,
                        extended,
                    });
                } else {
                    result.push((key, value.clone()));
                }
            }
            None => result.push((key, value.clone())),
        }
    }
    lexer.nul_replacement = prev;
    sections.sort_by(|a, b| a.key.cmp(&b.key).then(a.idx.cmp(&b.idx)));
    let mut i = 0;
    while i < sections.len() {
        let mut ok = true;
        let mut have_extended = false;
        let mut next_idx = 0u32;
        let mut j = i;
        while j < sections.len() && sections[i].key.eq_ignore_ascii_case(&sections[j].key) {
            if sections[j].idx != next_idx {
                ok = false;
            }
            have_extended |= sections[j].extended;
            next_idx = next_idx.wrapping_add(1);
            j += 1;
        }
        if ok {
            let mut joined = Vec::new();
            if !sections[i].extended && have_extended {
                joined.extend_from_slice(b"''");
            }
            for s in &sections[i..j] {
                if !s.extended && have_extended {
                    for &c in &s.value {
                        if c == b'%' {
                            joined.extend_from_slice(b"%25");
                        } else {
                            joined.push(c);
                        }
                    }
                } else {
                    joined.extend_from_slice(&s.value);
                }
            }
            let mut key = sections[i].key.clone();
            if have_extended {
                key.push(b'*');
            }
            result.push((key, joined));
        } else {
            for s in &sections[i..j] {
                let mut key = s.key.clone();
                key.push(b'*');
                key.extend_from_slice(s.idx.to_string().as_bytes());
                if s.extended {
                    key.push(b'*');
                }
                result.push((key, s.value.clone()));
            }
        }
        i = j;
    }
    (result, broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &[u8]) -> Vec<(String, String)> {
        let mut l = Lexer::new(v);
        parse(&mut l)
            .0
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn continuations_are_joined_not_decoded() {
        assert_eq!(
            params(b"; NAME*0*=utf-8''%E2%82%AC; NAME*1=\" rates.txt\"; x=y; BOUNDARY=zz"),
            vec![
                ("x".into(), "y".into()),
                ("BOUNDARY".into(), "zz".into()),
                ("NAME*".into(), "utf-8''%E2%82%AC rates.txt".into())
            ]
        );
        assert_eq!(
            params(b"; title*=us-ascii'en'This%20is"),
            vec![("title*".into(), "us-ascii'en'This%20is".into())]
        );
        assert_eq!(
            params(b"; a*1=x; a*3=y"),
            vec![("a*1".into(), "x".into()), ("a*3".into(), "y".into())]
        );
        assert_eq!(
            params(b"; garbage here; ok=1"),
            vec![("ok".into(), "1".into())]
        );
    }
}

//! RFC 5321 §4.1.2 and §4.1.3 address grammar, UTF-8 forms of RFC 6531 §3.3 included:
//!
//! ```text
//! Reverse-path   = Path / "<>"
//! Forward-path   = Path
//! Path           = "<" [ A-d-l ":" ] Mailbox ">"
//! A-d-l          = At-domain *( "," At-domain )
//! At-domain      = "@" Domain
//! Domain         = sub-domain *("." sub-domain)
//! sub-domain     = Let-dig [Ldh-str]
//! Let-dig        = ALPHA / DIGIT
//! Ldh-str        = *( ALPHA / DIGIT / "-" ) Let-dig
//! address-literal  = "[" ( IPv4-address-literal / IPv6-address-literal /
//!                    General-address-literal ) "]"
//! Mailbox        = Local-part "@" ( Domain / address-literal )
//! Local-part     = Dot-string / Quoted-string
//! Dot-string     = Atom *("."  Atom)
//! Atom           = 1*atext
//! Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
//! QcontentSMTP   = qtextSMTP / quoted-pairSMTP
//! quoted-pairSMTP  = %d92 %d32-126
//! qtextSMTP      = %d32-33 / %d35-91 / %d93-126
//! General-address-literal  = Standardized-tag ":" 1*dcontent
//! dcontent       = %d33-90 / %d94-126
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{tag, take_while1};
use nom::combinator::opt;
use nom::error::{Error, ErrorKind};
use nom::multi::separated_list1;

use crate::types::{AddressLiteral, Domain, ForwardPath, Host, LocalPart, Mailbox, ReversePath};

fn fail<T>(i: &[u8]) -> IResult<&[u8], T> {
    Err(nom::Err::Error(Error::new(i, ErrorKind::Verify)))
}

const ATEXT: u8 = 1;
const LDH: u8 = 2;

/// Character classes, one bit each, looked up in one load instead of a chain of comparisons.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let special = matches!(
            b,
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
        );
        if alnum || special || b >= 0x80 {
            t[c] |= ATEXT;
        }
        if alnum || b == b'-' || b == b'_' || b >= 0x80 {
            t[c] |= LDH;
        }
        c += 1;
    }
    t
};

/// `atext` of RFC 5322 §3.2.3, plus UTF-8 octets (RFC 6531 §3.3).
pub(crate) fn is_atext(c: u8) -> bool {
    CLASS[c as usize] & ATEXT != 0
}

/// `Let-dig` / `Ldh-str` octets, plus `_` (tolerated) and UTF-8 octets (U-labels).
fn is_ldh(c: u8) -> bool {
    CLASS[c as usize] & LDH != 0
}

/// `label *("." label)`, recognised without allocating (nom's `separated_list1` collects a Vec).
fn dotted<'a>(
    i: &'a [u8],
    mut label: impl FnMut(&'a [u8]) -> IResult<&'a [u8], &'a [u8]>,
) -> IResult<&'a [u8], &'a [u8]> {
    let (mut rest, _) = label(i)?;
    while let Some(r) = rest.strip_prefix(b".") {
        match label(r) {
            Ok((r2, _)) => rest = r2,
            Err(_) => break,
        }
    }
    Ok((rest, &i[..i.len() - rest.len()]))
}

fn sub_domain(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, label) = take_while1(is_ldh)(i)?;
    if label.starts_with(b"-") || label.ends_with(b"-") {
        return fail(i);
    }
    Ok((rest, label))
}

/// `Domain`.
#[inline]
pub(crate) fn domain(i: &[u8]) -> IResult<&[u8], Domain> {
    let (rest, d) = dotted(i, sub_domain)?;
    match std::str::from_utf8(d) {
        Ok(s) if s.len() <= 255 => Ok((rest, Domain::new_unchecked(s))),
        _ => fail(i),
    }
}

fn is_dcontent(c: u8) -> bool {
    (33..=90).contains(&c) || (94..=126).contains(&c)
}

/// `address-literal`.
pub(crate) fn address_literal(i: &[u8]) -> IResult<&[u8], AddressLiteral> {
    let (rest, _) = tag(&b"["[..])(i)?;
    let (rest, inner) = take_while1(is_dcontent)(rest)?;
    let (rest, _) = tag(&b"]"[..])(rest)?;
    let Ok(inner) = std::str::from_utf8(inner) else {
        return fail(i);
    };
    if let Some((t, content)) = inner.split_once(':') {
        if t.eq_ignore_ascii_case("IPv6") {
            return match content.parse::<Ipv6Addr>() {
                Ok(a) => Ok((rest, AddressLiteral::Ipv6(a))),
                Err(_) => fail(i),
            };
        }
        let tag_ok = !t.is_empty()
            && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !t.ends_with('-');
        if !tag_ok || content.is_empty() {
            return fail(i);
        }
        return Ok((rest, AddressLiteral::general(t, content)));
    }
    match inner.parse::<Ipv4Addr>() {
        Ok(a) => Ok((rest, AddressLiteral::Ipv4(a))),
        Err(_) => fail(i),
    }
}

/// `Domain / address-literal`.
#[inline]
pub(crate) fn host(i: &[u8]) -> IResult<&[u8], Host> {
    if i.first() == Some(&b'[') {
        address_literal(i).map(|(r, l)| (r, Host::Literal(l)))
    } else {
        domain(i).map(|(r, d)| (r, Host::Domain(d)))
    }
}

fn quoted_string(i: &[u8]) -> IResult<&[u8], String> {
    let (mut rest, _) = tag(&b"\""[..])(i)?;
    let mut out = Vec::new();
    loop {
        match rest.first() {
            Some(b'"') => break,
            Some(b'\\') => match rest.get(1) {
                Some(&c) if (32..=126).contains(&c) || c >= 0x80 => {
                    out.push(c);
                    rest = &rest[2..];
                }
                _ => return fail(i),
            },
            Some(&c) if (32..=126).contains(&c) || c >= 0x80 => {
                out.push(c);
                rest = &rest[1..];
            }
            _ => return fail(i),
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Ok((&rest[1..], s)),
        Err(_) => fail(i),
    }
}

fn dot_string(i: &[u8]) -> IResult<&[u8], &[u8]> {
    dotted(i, take_while1(is_atext))
}

/// `Local-part`.
#[inline]
pub(crate) fn local_part(i: &[u8]) -> IResult<&[u8], LocalPart> {
    if i.first() == Some(&b'"') {
        let (rest, s) = quoted_string(i)?;
        return Ok((rest, LocalPart::new_unchecked(&s)));
    }
    let (rest, s) = dot_string(i)?;
    match std::str::from_utf8(s) {
        Ok(s) => Ok((rest, LocalPart::new_unchecked(s))),
        Err(_) => fail(i),
    }
}

/// `Mailbox`.
#[inline]
pub(crate) fn mailbox(i: &[u8]) -> IResult<&[u8], Mailbox> {
    let (rest, local_part) = local_part(i)?;
    let (rest, _) = tag(&b"@"[..])(rest)?;
    let (rest, host) = host(rest)?;
    Ok((rest, Mailbox { local_part, host }))
}

fn at_domain(i: &[u8]) -> IResult<&[u8], Domain> {
    let (rest, _) = tag(&b"@"[..])(i)?;
    domain(rest)
}

/// The length of the longest prefix of `i` made of `label *("." label)` where every label is a
/// non-empty run of octets of class `class`, and then only if that prefix is followed by a
/// `terminator` octet; `None` otherwise (a stray dot, an empty label, a label that breaks
/// `hyphen_rule`). One pass over the octets, no allocation: the fast path of [`dot_string`] and
/// [`domain`], which accept exactly these spans and report everything else.
fn scan_dotted(i: &[u8], class: u8, hyphen_rule: bool, terminator: Option<u8>) -> Option<usize> {
    let mut j = 0;
    loop {
        // One label: a tight run over the class table; its ends are checked once.
        let label_start = j;
        while j < i.len() && CLASS[i[j] as usize] & class != 0 {
            j += 1;
        }
        if j == label_start || (hyphen_rule && (i[label_start] == b'-' || i[j - 1] == b'-')) {
            return None;
        }
        if i.get(j) == Some(&b'.') {
            j += 1;
        } else {
            break;
        }
    }
    match terminator {
        Some(t) if i.get(j) != Some(&t) => None,
        _ => Some(j),
    }
}

/// `Domain` when it is the whole of `i` (the `EHLO` argument), in one pass; `None` for anything
/// the combinator parser must look at (an address literal, a malformed name).
pub(crate) fn simple_domain(i: &[u8]) -> Option<Domain> {
    let end = scan_dotted(i, LDH, true, None)?;
    if end != i.len() || end > 255 {
        return None;
    }
    let s = std::str::from_utf8(i).ok()?;
    Some(Domain::new_unchecked(s))
}

/// `Dot-string "@" Domain ">"`, the shape of nearly every path, recognised in one pass over the
/// octets with the same character classes and rules as [`dot_string`] and [`domain`], with one
/// UTF-8 check for the whole mailbox. Returns the input after `>` and the mailbox, or `None` for
/// anything else (a quoted local part, an address literal, a malformed path), which the
/// combinator parser then handles and reports.
fn simple_path_rest(i: &[u8]) -> Option<(&[u8], Mailbox)> {
    let at = scan_dotted(i, ATEXT, false, Some(b'@'))?;
    let dom_len = scan_dotted(&i[at + 1..], LDH, true, Some(b'>'))?;
    if dom_len > 255 {
        return None;
    }
    let end = at + 1 + dom_len;
    let s = std::str::from_utf8(&i[..end]).ok()?;
    Some((
        &i[end + 1..],
        Mailbox {
            local_part: LocalPart::new_unchecked(&s[..at]),
            host: Host::Domain(Domain::new_unchecked(&s[at + 1..])),
        },
    ))
}

/// `Path`, with the source route (`A-d-l`) accepted and dropped (RFC 5321 §4.1.1.3: "SHOULD
/// ... ignore the route information").
#[inline]
pub(crate) fn path(i: &[u8]) -> IResult<&[u8], Mailbox> {
    let (rest, _) = tag(&b"<"[..])(i)?;
    if let Some(r) = simple_path_rest(rest) {
        return Ok(r);
    }
    path_general(i)
}

/// `Path` by the combinators, for every shape [`simple_path_rest`] leaves alone.
fn path_general(i: &[u8]) -> IResult<&[u8], Mailbox> {
    let (rest, _) = tag(&b"<"[..])(i)?;
    let (rest, _) = if rest.first() == Some(&b'@') {
        opt((separated_list1(tag(&b","[..]), at_domain), tag(&b":"[..]))).parse(rest)?
    } else {
        (rest, None)
    };
    let (rest, m) = mailbox(rest)?;
    let (rest, _) = tag(&b">"[..])(rest)?;
    Ok((rest, m))
}

/// `Reverse-path`.
#[inline]
pub(crate) fn reverse_path(i: &[u8]) -> IResult<&[u8], ReversePath> {
    if let Some(rest) = i.strip_prefix(b"<>") {
        return Ok((rest, ReversePath::Null));
    }
    path(i).map(|(r, m)| (r, ReversePath::Mailbox(m)))
}

/// `"<Postmaster>" / Forward-path`.
#[inline]
pub(crate) fn forward_path(i: &[u8]) -> IResult<&[u8], ForwardPath> {
    if i.len() >= 12 && i[..12].eq_ignore_ascii_case(b"<postmaster>") {
        return Ok((&i[12..], ForwardPath::Postmaster));
    }
    path(i).map(|(r, m)| (r, ForwardPath::Mailbox(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        let (rest, m) = mailbox(s.as_bytes()).unwrap();
        assert!(rest.is_empty(), "{s}");
        m
    }

    #[test]
    fn mailboxes() {
        assert_eq!(mb("a.b@example.com").to_string(), "a.b@example.com");
        let q = mb(r#""john \"q\" smith"@example.com"#);
        assert_eq!(q.local_part.as_str(), r#"john "q" smith"#);
        assert_eq!(q.to_string(), r#""john \"q\" smith"@example.com"#);
        assert_eq!(
            mb("x@[192.0.2.1]").host,
            Host::Literal(AddressLiteral::Ipv4([192, 0, 2, 1].into()))
        );
        assert!(matches!(
            mb("x@[IPv6:2001:db8::1]").host,
            Host::Literal(AddressLiteral::Ipv6(_))
        ));
        assert!(matches!(
            mb("x@[tag:stuff]").host,
            Host::Literal(AddressLiteral::General(_))
        ));
        assert_eq!(mb("用户@例子.广告").to_string(), "用户@例子.广告");
        assert!(mb("用户@例子.广告").is_utf8());
        assert!(mailbox(b"a..b@x").is_err());
        assert!(mailbox(b"@x").is_err());
        assert!(mailbox(b"a@-x").is_err());
        assert!(mailbox(b"a@[1.2.3]").is_err());
    }

    #[test]
    fn paths() {
        let (_, p) = reverse_path(b"<@hosta.int,@jkl.org:userc@d.bar.org>").unwrap();
        assert_eq!(p.to_string(), "<userc@d.bar.org>");
        assert_eq!(reverse_path(b"<>").unwrap().1, ReversePath::Null);
        assert_eq!(
            forward_path(b"<POSTMASTER>").unwrap().1,
            ForwardPath::Postmaster
        );
        assert!(matches!(
            forward_path(b"<postmaster@x.org>").unwrap().1,
            ForwardPath::Mailbox(_)
        ));
        assert!(path(b"<a@b").is_err());
    }

    use proptest::prelude::*;

    fn path_octets() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => Just(b'a'),
                1 => Just(b'Z'),
                1 => Just(b'7'),
                2 => Just(b'.'),
                1 => Just(b'-'),
                1 => Just(b'_'),
                1 => Just(b'+'),
                2 => Just(b'@'),
                2 => Just(b'>'),
                1 => Just(b'"'),
                1 => Just(b'['),
                1 => Just(b' '),
                1 => Just(0xC3),
                1 => Just(0xA9),
            ],
            0..24,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The one-pass fast paths accept only what the combinator parsers accept, with the same
        /// value and the same remainder.
        #[test]
        fn fast_paths_agree(s in path_octets()) {
            if let Some((rest, m)) = simple_path_rest(&s) {
                let mut full = b"<".to_vec();
                full.extend_from_slice(&s);
                let (grest, gm) = path_general(&full).expect("general parser rejects");
                prop_assert_eq!(rest, grest);
                prop_assert_eq!(m, gm);
            }
            if let Some(d) = simple_domain(&s) {
                let (grest, gd) = domain(&s).expect("general parser rejects");
                prop_assert!(grest.is_empty());
                prop_assert_eq!(d, gd);
            }
        }

        #[test]
        fn fast_paths_taken(local in "[a-z0-9+_-]{1,8}(\\.[a-z0-9+_-]{1,8}){0,2}",
                            dom in "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,3}") {
            let s = format!("{local}@{dom}>");
            let (rest, m) = simple_path_rest(s.as_bytes()).expect("fast path");
            prop_assert!(rest.is_empty());
            prop_assert_eq!(m.to_string(), format!("{local}@{dom}"));
        }
    }
}

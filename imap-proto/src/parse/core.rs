//! Streaming parsers for the lexical core (RFC 3501 §9); see [`crate::types::core`] for the ABNF.
//!
//! Every parser takes the input it has and answers `Incomplete` when the value may continue past it.

use std::borrow::Cow;
use std::num::NonZeroU32;

use nom::bytes::streaming::{take, take_while_m_n};
use nom::error::{Error, ErrorKind};
use nom::{IResult, Parser};

use crate::types::core::Vec1;
use crate::types::core::{
    AString, Atom, AtomExt, IString, ListCharString, Literal, LiteralMode, NString, Quoted, Tag,
    Text, chars,
};
use crate::types::datetime::{Date, DateTime, MONTHS};
use crate::types::flag::{Flag, FlagFetch, FlagPerm};
use crate::types::mailbox::{ListMailbox, Mailbox};
use crate::types::sequence::{SeqItem, SeqNumber, SequenceSet};

/// The result type of every parser here.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T>;

pub(crate) fn fail<T>(input: &[u8], kind: ErrorKind) -> PResult<'_, T> {
    Err(nom::Err::Error(Error::new(input, kind)))
}

/// One expected octet (a hand-rolled `char`: it is on every path).
#[inline]
pub(crate) fn byte(i: &[u8], c: u8) -> PResult<'_, ()> {
    match i.first() {
        Some(&b) if b == c => Ok((&i[1..], ())),
        Some(_) => fail(i, ErrorKind::Char),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

#[inline]
pub(crate) fn sp(i: &[u8]) -> PResult<'_, ()> {
    byte(i, b' ')
}

#[inline]
pub(crate) fn crlf(i: &[u8]) -> PResult<'_, ()> {
    match i {
        [b'\r', b'\n', rest @ ..] => Ok((rest, ())),
        [] | [b'\r'] => Err(nom::Err::Incomplete(nom::Needed::new(2 - i.len()))),
        _ => fail(i, ErrorKind::Tag),
    }
}

// 7-bit classes only: a `str` conversion of a matched run cannot fail.
fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// An ASCII-uppercased copy of a keyword, on the stack: keywords are short, and a word longer
/// than the buffer matches no keyword.
#[derive(Clone, Copy)]
pub(crate) struct Upper {
    buf: [u8; 24],
    len: usize,
}

impl Upper {
    pub(crate) fn new(w: &[u8]) -> Self {
        let mut buf = [0u8; 24];
        if w.len() > buf.len() {
            return Self { buf, len: 0 };
        }
        for (d, s) in buf.iter_mut().zip(w) {
            *d = s.to_ascii_uppercase();
        }
        Self { buf, len: w.len() }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    if digits.len() > 19 {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

/// `number = 1*DIGIT`, an unsigned 32-bit integer.
#[inline]
pub(crate) fn number(i: &[u8]) -> PResult<'_, u32> {
    // Hand-rolled: this is the hottest rule (SEARCH results, sequence sets, sizes).
    let mut n: u64 = 0;
    for (k, &b) in i.iter().enumerate() {
        if !b.is_ascii_digit() {
            if k == 0 {
                return fail(i, ErrorKind::Digit);
            }
            return match u32::try_from(n) {
                Ok(v) => Ok((&i[k..], v)),
                Err(_) => fail(i, ErrorKind::TooLarge),
            };
        }
        n = n * 10 + u64::from(b - b'0');
        if n > u64::from(u32::MAX) {
            return fail(i, ErrorKind::TooLarge);
        }
    }
    Err(nom::Err::Incomplete(nom::Needed::new(1)))
}

/// `take_while1` without nom's generic machinery: the non-empty run of `pred` octets; "incomplete"
/// when the input ends inside the run.
#[inline]
pub(crate) fn run1(i: &[u8], pred: impl Fn(u8) -> bool) -> PResult<'_, &[u8]> {
    match i.iter().position(|&b| !pred(b)) {
        Some(0) => fail(i, ErrorKind::TakeWhile1),
        Some(n) => Ok((&i[n..], &i[..n])),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

/// `number64` (RFC 9051) / `mod-sequence-value` (RFC 7162): 1*DIGIT up to 2^63-1.
pub(crate) fn number64(i: &[u8]) -> PResult<'_, u64> {
    let (rest, digits) = run1(i, |b: u8| b.is_ascii_digit())?;
    match digits_value(digits) {
        Some(n) if i64::try_from(n).is_ok() => Ok((rest, n)),
        _ => fail(i, ErrorKind::TooLarge),
    }
}

/// `nz-number = digit-nz *DIGIT`.
pub(crate) fn nz_number(i: &[u8]) -> PResult<'_, NonZeroU32> {
    let (rest, n) = number(i)?;
    if i.first() == Some(&b'0') {
        return fail(i, ErrorKind::Verify);
    }
    match NonZeroU32::new(n) {
        Some(n) => Ok((rest, n)),
        None => fail(i, ErrorKind::Verify),
    }
}

/// `atom`.
pub(crate) fn atom(i: &[u8]) -> PResult<'_, Atom<'_>> {
    let (rest, a) = run1(i, chars::is_atom_char)?;
    Ok((rest, Atom::unvalidated(ascii(a))))
}

/// `1*ASTRING-CHAR`.
pub(crate) fn atom_ext(i: &[u8]) -> PResult<'_, AtomExt<'_>> {
    let (rest, a) = run1(i, chars::is_astring_char)?;
    Ok((rest, AtomExt::unvalidated(ascii(a))))
}

/// `tag`.
pub(crate) fn tag_(i: &[u8]) -> PResult<'_, Tag<'_>> {
    let (rest, a) = run1(i, chars::is_tag_char)?;
    Ok((rest, Tag::unvalidated(ascii(a))))
}

/// `text = 1*TEXT-CHAR`, here `*TEXT-CHAR` (see [`Text`]); stops before CRLF.
pub(crate) fn text(i: &[u8]) -> PResult<'_, Text<'_>> {
    let end = i.iter().position(|&b| !chars::is_text_char(b));
    match end {
        Some(n) => Ok((&i[n..], Text::unvalidated(ascii(&i[..n])))),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

/// Octet classes inside a quoted string: 0 a plain `QUOTED-CHAR`, 1 `DQUOTE`, 2 `\`, 3 refused
/// (NUL, CR, LF, 8-bit: not `TEXT-CHAR`).
static QUOTED_CLASS: [u8; 256] = {
    let mut t = [3u8; 256];
    let mut b = 0;
    while b < 256 {
        // TEXT-CHAR (see `chars::is_text_char`): %x01-7F except CR and LF.
        if b >= 0x01 && b <= 0x7f && b != b'\r' as usize && b != b'\n' as usize {
            t[b] = 0;
        }
        b += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 2;
    t
};

/// A UTF-8 view of the input ahead, up to the line's CR: quoted strings inside it become `&str` by
/// slicing it rather than by one UTF-8 check each (ENVELOPE and BODYSTRUCTURE hold dozens).
#[derive(Clone, Copy)]
pub(crate) struct Ahead<'a>(&'a str);

impl<'a> Ahead<'a> {
    /// The longest valid UTF-8 prefix of `i` before its first CR.
    pub(crate) fn new(i: &'a [u8]) -> Self {
        let b = &i[..memchr::memchr(b'\r', i).unwrap_or(i.len())];
        Self(match std::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
        })
    }

    /// `sub` (7-bit octets of the same input) as text: a slice of the view when it lies inside it.
    #[inline]
    pub(crate) fn str(self, sub: &'a [u8]) -> &'a str {
        let off = sub.as_ptr().addr().wrapping_sub(self.0.as_ptr().addr());
        match off
            .checked_add(sub.len())
            .and_then(|end| self.0.get(off..end))
        {
            Some(s) => s,
            None => ascii(sub),
        }
    }
}

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; borrows when nothing is escaped.
#[inline]
pub(crate) fn quoted(i: &[u8]) -> PResult<'_, Quoted<'_>> {
    quoted_with(i, ascii)
}

/// [`quoted`], with `text` turning the (7-bit) unescaped content into `&str`.
#[inline]
fn quoted_with<'a>(i: &'a [u8], text: impl Fn(&'a [u8]) -> &'a str) -> PResult<'a, Quoted<'a>> {
    let (body, ()) = byte(i, b'"')?;
    let mut owned: Option<Vec<u8>> = None;
    let mut k = 0;
    let mut start = 0;
    loop {
        // A tight scan over plain octets; the match below sees only the end, escapes and errors.
        while let Some(&b) = body.get(k) {
            if QUOTED_CLASS[usize::from(b)] != 0 {
                break;
            }
            k += 1;
        }
        match body.get(k) {
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            Some(b'"') => {
                let s: Cow<'_, str> = match owned {
                    None => Cow::Borrowed(text(&body[..k])),
                    Some(mut v) => {
                        v.extend_from_slice(&body[start..k]);
                        Cow::Owned(String::from_utf8(v).unwrap_or_default())
                    }
                };
                return Ok((&body[k + 1..], Quoted::unvalidated(s)));
            }
            Some(b'\\') => match body.get(k + 1) {
                None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
                Some(&e @ (b'"' | b'\\')) => {
                    let v = owned.get_or_insert_with(Vec::new);
                    v.extend_from_slice(&body[start..k]);
                    v.push(e);
                    k += 2;
                    start = k;
                }
                Some(_) => return fail(&body[k..], ErrorKind::Escaped),
            },
            Some(_) => return fail(&body[k..], ErrorKind::Char),
        }
    }
}

/// The `{n}` / `{n+}` CRLF header of a literal.
pub(crate) fn literal_header(i: &[u8]) -> PResult<'_, (u32, LiteralMode)> {
    let (i, ()) = byte(i, b'{')?;
    let (i, n) = number(i)?;
    let (i, plus) = match i.first() {
        Some(b'+') => (&i[1..], Some(())),
        Some(_) => (i, None),
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
    };
    let (i, ()) = byte(i, b'}')?;
    let (i, ()) = crlf(i)?;
    Ok((
        i,
        (
            n,
            if plus.is_some() {
                LiteralMode::NonSync
            } else {
                LiteralMode::Sync
            },
        ),
    ))
}

/// `literal`: borrows the octets; NUL is refused (CHAR8).
pub(crate) fn literal(i: &[u8]) -> PResult<'_, Literal<'_>> {
    let (i, (n, mode)) = literal_header(i)?;
    let (rest, data) = take(n as usize).parse(i)?;
    if data.contains(&0) {
        return fail(i, ErrorKind::Char);
    }
    Ok((rest, Literal::unvalidated(data, mode)))
}

/// `string = quoted / literal`.
#[inline]
pub(crate) fn string(i: &[u8]) -> PResult<'_, IString<'_>> {
    match i.first() {
        Some(b'"') => quoted(i).map(|(r, q)| (r, IString::Quoted(q))),
        Some(b'{') => literal(i).map(|(r, l)| (r, IString::Literal(l))),
        Some(_) => fail(i, ErrorKind::Alt),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

/// [`string`] with quoted content sliced from `a`.
#[inline]
pub(crate) fn string_in<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, IString<'a>> {
    match i.first() {
        Some(b'"') => quoted_with(i, |b| a.str(b)).map(|(r, q)| (r, IString::Quoted(q))),
        Some(b'{') => literal(i).map(|(r, l)| (r, IString::Literal(l))),
        Some(_) => fail(i, ErrorKind::Alt),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

/// [`nstring`] with quoted content sliced from `a`.
#[inline]
pub(crate) fn nstring_in<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, NString<'a>> {
    match i.first() {
        Some(b'"' | b'{') => string_in(i, a).map(|(r, s)| (r, NString(Some(s)))),
        _ => nil(i).map(|(r, ())| (r, NString(None))),
    }
}

/// `astring = 1*ASTRING-CHAR / string`.
#[inline]
pub(crate) fn astring(i: &[u8]) -> PResult<'_, AString<'_>> {
    match i.first() {
        Some(b'"' | b'{') => string(i).map(|(r, s)| (r, AString::String(s))),
        _ => atom_ext(i).map(|(r, a)| (r, AString::Atom(a))),
    }
}

/// `nil = "NIL"`.
#[inline]
pub(crate) fn nil(i: &[u8]) -> PResult<'_, ()> {
    let n = i.len().min(3);
    if !i[..n].eq_ignore_ascii_case(&b"NIL"[..n]) {
        return fail(i, ErrorKind::Tag);
    }
    if n < 3 {
        return Err(nom::Err::Incomplete(nom::Needed::new(3 - n)));
    }
    Ok((&i[3..], ()))
}

/// `nstring = string / nil`.
#[inline]
pub(crate) fn nstring(i: &[u8]) -> PResult<'_, NString<'_>> {
    match i.first() {
        Some(b'"' | b'{') => string(i).map(|(r, s)| (r, NString(Some(s)))),
        _ => nil(i).map(|(r, ())| (r, NString(None))),
    }
}

/// `seq-number = nz-number / "*"`.
pub(crate) fn seq_number(i: &[u8]) -> PResult<'_, SeqNumber> {
    match i.first() {
        Some(b'*') => Ok((&i[1..], SeqNumber::Largest)),
        _ => nz_number(i).map(|(r, n)| (r, SeqNumber::Value(n))),
    }
}

/// `sequence-set`, with `$` (RFC 5182) allowed alone or as the last member.
pub(crate) fn sequence_set(mut i: &[u8]) -> PResult<'_, SequenceSet> {
    let mut items = Vec::new();
    loop {
        if i.first() == Some(&b'$') {
            items.push(SeqItem::LastResult);
            i = &i[1..];
            break;
        }
        let (r, a) = seq_number(i)?;
        i = r;
        if i.first() == Some(&b':') {
            let (r, b) = seq_number(&i[1..])?;
            i = r;
            items.push(SeqItem::Range(a, b));
        } else {
            items.push(SeqItem::Single(a));
        }
        match i.first() {
            Some(b',') => i = &i[1..],
            Some(_) => break,
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
    Ok((
        i,
        SequenceSet::try_from(items).unwrap_or_else(|_| SequenceSet::last_result()),
    ))
}

/// `flag` (system flags case-insensitively; `\Recent` and `\*` are not flags).
pub(crate) fn flag(i: &[u8]) -> PResult<'_, Flag<'_>> {
    match i.first() {
        Some(b'\\') => {
            let (r, a) = atom(&i[1..])?;
            if a.as_str().eq_ignore_ascii_case("Recent") {
                return fail(i, ErrorKind::Verify);
            }
            Ok((r, Flag::from_atom(true, a)))
        }
        _ => atom(i).map(|(r, a)| (r, Flag::Keyword(a))),
    }
}

/// `flag-fetch = flag / "\Recent"`.
pub(crate) fn flag_fetch(i: &[u8]) -> PResult<'_, FlagFetch<'_>> {
    if i.first() == Some(&b'\\') {
        let (r, a) = atom(&i[1..])?;
        if a.as_str().eq_ignore_ascii_case("Recent") {
            return Ok((r, FlagFetch::Recent));
        }
        return Ok((r, FlagFetch::Flag(Flag::from_atom(true, a))));
    }
    flag(i).map(|(r, f)| (r, FlagFetch::Flag(f)))
}

/// `flag-perm = flag / "\*"`.
pub(crate) fn flag_perm(i: &[u8]) -> PResult<'_, FlagPerm<'_>> {
    if i.starts_with(b"\\*") {
        return Ok((&i[2..], FlagPerm::Asterisk));
    }
    flag(i).map(|(r, f)| (r, FlagPerm::Flag(f)))
}

/// `"(" [x *(SP x)] ")"`.
pub(crate) fn paren_list<'a, T>(
    i: &'a [u8],
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (mut i, ()) = byte(i, b'(')?;
    let mut out = Vec::new();
    if i.first() == Some(&b')') {
        return Ok((&i[1..], out));
    }
    loop {
        let (r, v) = item(i)?;
        out.push(v);
        match r.first() {
            Some(b' ') => i = &r[1..],
            Some(b')') => return Ok((&r[1..], out)),
            Some(_) => return fail(r, ErrorKind::Char),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
}

/// `"(" x *(SP x) ")"`: non-empty.
pub(crate) fn paren_list1<'a, T>(
    i: &'a [u8],
    item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec1<T>> {
    let (r, v) = paren_list(i, item)?;
    match Vec1::try_from(v) {
        Ok(v) => Ok((r, v)),
        Err(_) => fail(i, ErrorKind::Many1),
    }
}

/// `x *(SP x)`.
pub(crate) fn sp_list1<'a, T>(
    i: &'a [u8],
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec1<T>> {
    let (mut i, first) = item(i)?;
    let mut out = vec![first];
    while i.first() == Some(&b' ') {
        match item(&i[1..]) {
            Ok((r, v)) => {
                out.push(v);
                i = r;
            }
            Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    Ok((i, Vec1::unvalidated(out)))
}

/// `flag-list = "(" [flag *(SP flag)] ")"`.
pub(crate) fn flag_list(i: &[u8]) -> PResult<'_, Vec<Flag<'_>>> {
    paren_list(i, flag)
}

/// `mailbox = "INBOX" / astring`.
pub(crate) fn mailbox(i: &[u8]) -> PResult<'_, Mailbox<'_>> {
    astring(i).map(|(r, a)| (r, Mailbox(a)))
}

/// `list-mailbox = 1*list-char / string`.
pub(crate) fn list_mailbox(i: &[u8]) -> PResult<'_, ListMailbox<'_>> {
    match i.first() {
        Some(b'"' | b'{') => string(i).map(|(r, s)| (r, ListMailbox::String(s))),
        _ => {
            let (r, a) = run1(i, chars::is_list_char)?;
            Ok((r, ListMailbox::Token(ListCharString::unvalidated(ascii(a)))))
        }
    }
}

fn digits(n: usize) -> impl Fn(&[u8]) -> PResult<'_, u16> {
    move |i| {
        let mut v: u16 = 0;
        for k in 0..n {
            match i.get(k) {
                Some(&d) if d.is_ascii_digit() => v = v * 10 + u16::from(d - b'0'),
                Some(_) => return fail(i, ErrorKind::TakeWhileMN),
                None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            }
        }
        Ok((&i[n..], v))
    }
}

fn month(i: &[u8]) -> PResult<'_, u8> {
    let (r, m) = take(3usize).parse(i)?;
    match MONTHS
        .iter()
        .position(|name| name.as_bytes().eq_ignore_ascii_case(m))
    {
        Some(p) => Ok((r, p as u8 + 1)),
        None => fail(i, ErrorKind::Tag),
    }
}

/// `date-text = date-day "-" date-month "-" date-year`.
fn date_text(i: &[u8]) -> PResult<'_, Date> {
    let (i, day) = take_while_m_n(1, 2, |b: u8| b.is_ascii_digit()).parse(i)?;
    let (i, ()) = byte(i, b'-')?;
    let (i, m) = month(i)?;
    let (i, ()) = byte(i, b'-')?;
    let (r, y) = digits(4)(i)?;
    match Date::new(y, m, ascii(day).parse().unwrap_or(0)) {
        Ok(d) => Ok((r, d)),
        Err(_) => fail(i, ErrorKind::Verify),
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`.
pub(crate) fn date(i: &[u8]) -> PResult<'_, Date> {
    if i.first() == Some(&b'"') {
        let (r, d) = date_text(&i[1..])?;
        let (r, ()) = byte(r, b'"')?;
        return Ok((r, d));
    }
    date_text(i)
}

/// `date-time`.
pub(crate) fn date_time(i: &[u8]) -> PResult<'_, DateTime> {
    let (i0, ()) = byte(i, b'"')?;
    let (i, day) = if i0.first() == Some(&b' ') {
        digits(1)(&i0[1..])?
    } else {
        digits(2)(i0)?
    };
    let (i, ()) = byte(i, b'-')?;
    let (i, m) = month(i)?;
    let (i, ()) = byte(i, b'-')?;
    let (i, y) = digits(4)(i)?;
    let (i, ()) = sp(i)?;
    let (i, h) = digits(2)(i)?;
    let (i, ()) = byte(i, b':')?;
    let (i, min) = digits(2)(i)?;
    let (i, ()) = byte(i, b':')?;
    let (i, s) = digits(2)(i)?;
    let (i, ()) = sp(i)?;
    let (i, negative) = match i.first() {
        Some(b'+') => (&i[1..], false),
        Some(b'-') => (&i[1..], true),
        Some(_) => return fail(i, ErrorKind::Char),
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
    };
    let (i, z) = digits(4)(i)?;
    let (r, ()) = byte(i, b'"')?;
    let zone = i16::try_from(z / 100 * 60 + z % 100).unwrap_or(i16::MAX);
    let zone = if negative { -zone } else { zone };
    if z % 100 > 59 {
        return fail(i0, ErrorKind::Verify);
    }
    let dt = Date::new(y, m, day as u8)
        .and_then(|d| DateTime::new(d, h as u8, min as u8, s as u8, zone));
    match dt {
        Ok(dt) => Ok((r, dt)),
        Err(_) => fail(i0, ErrorKind::Verify),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_is_not_malformed() {
        assert!(matches!(quoted(b"\"abc"), Err(nom::Err::Incomplete(_))));
        assert!(matches!(quoted(b"\"a\\"), Err(nom::Err::Incomplete(_))));
        assert!(matches!(quoted(b"\"a\\x\""), Err(nom::Err::Error(_))));
        assert!(matches!(
            literal(b"{5}\r\nab"),
            Err(nom::Err::Incomplete(_))
        ));
        assert!(matches!(atom(b"abc"), Err(nom::Err::Incomplete(_))));
        assert!(matches!(number(b"99999999999 "), Err(nom::Err::Error(_))));
        assert!(matches!(nz_number(b"0 "), Err(nom::Err::Error(_))));
    }

    #[test]
    fn strings() {
        let (r, q) = quoted(b"\"a\\\"b\" ").unwrap();
        assert_eq!((r, q.as_str()), (&b" "[..], "a\"b"));
        let (r, l) = literal(b"{3+}\r\nabc)").unwrap();
        assert_eq!(
            (r, l.data(), l.mode()),
            (&b")"[..], &b"abc"[..], LiteralMode::NonSync)
        );
        assert!(literal(b"{1}\r\n\0 ").is_err());
        assert!(matches!(nstring(b"nil ").unwrap().1, NString(None)));
    }

    #[test]
    fn ahead_slices_or_falls_back() {
        let input = b"(\"ab\" \"c\xc3\xa9\" \xff \"x\")\r\n\"tail\"";
        let a = Ahead::new(input);
        // Inside the valid prefix: a slice of the view, same text.
        assert_eq!(a.str(&input[2..4]), "ab");
        // Past the first invalid octet, past the CR, or another buffer: checked on its own.
        assert_eq!(a.str(&input[15..16]), "x");
        assert_eq!(a.str(&input[21..25]), "tail");
        assert_eq!(a.str(b"zz"), "zz");
        let (r, s) = string_in(&input[1..], a).unwrap();
        assert_eq!((s.as_bytes(), r[0]), (&b"ab"[..], b' '));
    }

    #[test]
    fn sequence_sets() {
        let (_, s) = sequence_set(b"2,4:7,9,12:* ").unwrap();
        assert_eq!(s.items().len(), 4);
        let (r, s) = sequence_set(b"1,$ ").unwrap();
        assert!(s.uses_last_result() && r == b" ");
        assert!(sequence_set(b"0 ").is_err());
    }

    #[test]
    fn dates() {
        let (_, dt) = date_time(b"\"17-Jul-1996 02:44:25 -0700\"").unwrap();
        assert_eq!(dt.zone_minutes(), -420);
        let (_, dt) = date_time(b"\" 7-Jul-1996 02:44:25 +0000\"").unwrap();
        assert_eq!(dt.date().day(), 7);
        assert!(date_time(b"\"7-Jul-1996 02:44:25 +0000\"").is_err());
        assert_eq!(
            date(b"1-Feb-1994 ").unwrap().1,
            Date::new(1994, 2, 1).unwrap()
        );
        assert_eq!(
            date(b"\"01-feb-1994\"").unwrap().1,
            Date::new(1994, 2, 1).unwrap()
        );
    }
}

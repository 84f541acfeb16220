//! Command lines (RFC 5321 §4.1.1, RFC 2033, RFC 3030, RFC 3207, RFC 4954):
//!
//! ```text
//! ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
//! helo = "HELO" SP Domain CRLF
//! mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//! rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
//!        Forward-path ) [SP Rcpt-parameters] CRLF
//! Mail-parameters  = esmtp-param *(SP esmtp-param)
//! esmtp-param    = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword  = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value    = 1*(%d33-60 / %d62-126)
//! bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF      (RFC 3030 §2)
//! auth-command = "AUTH" SP sasl-mech [SP initial-response] *(CRLF [base64]) [CRLF cancel-response] CRLF
//! initial-response= base64 / "="                                  (RFC 4954 §4)
//! ```
//!
//! Tolerated as deployed servers do: lower-case verbs and keywords, a space after `FROM:`/`TO:`,
//! trailing spaces, and a bare LF ending the line.

use super::address::{forward_path, host, reverse_path, simple_domain};
use super::{DecodeError, MalformedKind, excerpt, split_line};
use crate::types::text::{base64_decode, xtext_decode};
use crate::types::{
    BodyType, Command, ForwardPath, MailAuth, MailParameters, Mechanism, Notify, OriginalRecipient,
    Parameter, Params, RcptParameters, Ret, ReversePath,
};

/// Parses one command line from the start of `input`.
///
/// Returns [`DecodeError::Incomplete`] until a line ending is present. The caller enforces the
/// line-length limit (RFC 5321 §4.5.3.1.4) before calling.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn command(input: &[u8]) -> Result<(&[u8], Command), DecodeError> {
    // Built where it is returned (one exit, one result value, filled in place): see
    // `fill_command`.
    let mut res = Err(DecodeError::Incomplete);
    if let Some((line, used)) = split_line(input) {
        res = Ok((&input[used..], Command::Quit));
        if let Ok((_, cmd)) = &mut res
            && let Err(kind) = fill_command(line, cmd)
        {
            res = Err(DecodeError::malformed(kind, used, excerpt(line)));
        }
    }
    res
}

type Res<T> = Result<T, MalformedKind>;

fn text_arg(args: &[u8]) -> Res<String> {
    std::str::from_utf8(args)
        .map(str::to_owned)
        .map_err(|_| MalformedKind::Encoding)
}

/// Checks that a verb has no arguments; the caller builds the command after (passing a built
/// `Command` in and out again costs two copies of it).
fn no_args(args: &[u8]) -> Res<()> {
    if args.iter().all(|&c| c == b' ') {
        Ok(())
    } else {
        Err(MalformedKind::Syntax)
    }
}

/// Parses a command line without its line ending.
pub fn command_line(line: &[u8]) -> Result<Command, MalformedKind> {
    let mut cmd = Command::Quit;
    fill_command(line, &mut cmd)?;
    Ok(cmd)
}

/// Parses a command line into `cmd`.
///
/// The command is built in place: returning it through each layer, or building a `MAIL` path
/// and its parameters apart and then moving them in, copied it once per step (a `memcpy` call
/// each when it was 168 octets; it is 64 now that parameters and general address literals are
/// boxed), which was a sizeable part of the cost of parsing a command.
fn fill_command(line: &[u8], cmd: &mut Command) -> Result<(), MalformedKind> {
    // Verbs are at most 8 octets: look for their end among the first 9 only.
    let (verb, args) = match line.iter().take(9).position(|&c| c == b' ') {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, &line[line.len()..]),
    };
    if verb.len() < 4 || verb.len() > 8 {
        return Err(MalformedKind::UnknownCommand);
    }
    let args_trim = trim_end(args);
    // The common verbs by one comparison of their four octets: `| 0x20` lower-cases ASCII
    // letters and maps no other octet onto a lower-case letter, so this is exactly a
    // case-insensitive match.
    let verb = if verb.len() == 4 {
        const fn w(v: [u8; 4]) -> u32 {
            u32::from_le_bytes(v)
        }
        const RCPT: u32 = w(*b"rcpt");
        const MAIL: u32 = w(*b"mail");
        const EHLO: u32 = w(*b"ehlo");
        const DATA: u32 = w(*b"data");
        const RSET: u32 = w(*b"rset");
        const QUIT: u32 = w(*b"quit");
        const NOOP: u32 = w(*b"noop");
        const HELO: u32 = w(*b"helo");
        const LHLO: u32 = w(*b"lhlo");
        const BDAT: u32 = w(*b"bdat");
        const HELP: u32 = w(*b"help");
        const VRFY: u32 = w(*b"vrfy");
        const EXPN: u32 = w(*b"expn");
        const AUTH: u32 = w(*b"auth");
        // A `match` on the word: a decision tree rather than a walk down a list.
        match u32::from_le_bytes([verb[0], verb[1], verb[2], verb[3]]) | 0x2020_2020 {
            RCPT => Some(Verb::Rcpt),
            MAIL => Some(Verb::Mail),
            EHLO => Some(Verb::Ehlo),
            DATA => Some(Verb::Data),
            RSET => Some(Verb::Rset),
            QUIT => Some(Verb::Quit),
            NOOP => Some(Verb::Noop),
            HELO => Some(Verb::Helo),
            LHLO => Some(Verb::Lhlo),
            BDAT => Some(Verb::Bdat),
            HELP => Some(Verb::Help),
            VRFY => Some(Verb::Vrfy),
            EXPN => Some(Verb::Expn),
            AUTH => Some(Verb::Auth),
            _ => None,
        }
    } else if verb.eq_ignore_ascii_case(b"STARTTLS") {
        Some(Verb::StartTls)
    } else {
        None
    };
    let Some(verb) = verb else {
        return Err(MalformedKind::UnknownCommand);
    };
    match verb {
        Verb::Mail => {
            *cmd = Command::Mail {
                from: ReversePath::Null,
                params: Params::none(),
            };
            if let Command::Mail { from, params } = cmd {
                mail(args_trim, from, params)?;
            }
        }
        Verb::Rcpt => {
            *cmd = Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: Params::none(),
            };
            if let Command::Rcpt { to, params } = cmd {
                rcpt(args_trim, to, params)?;
            }
        }
        Verb::Ehlo => *cmd = Command::Ehlo(helo_arg(args_trim)?),
        Verb::Helo => *cmd = Command::Helo(helo_arg(args_trim)?),
        Verb::Lhlo => *cmd = Command::Lhlo(helo_arg(args_trim)?),
        Verb::Data => {
            no_args(args)?;
            *cmd = Command::Data;
        }
        Verb::Bdat => *cmd = bdat(args_trim)?,
        Verb::Rset => {
            no_args(args)?;
            *cmd = Command::Rset;
        }
        Verb::Quit => {
            no_args(args)?;
            *cmd = Command::Quit;
        }
        Verb::Noop => *cmd = Command::Noop(opt_text(args_trim)?),
        Verb::Help => *cmd = Command::Help(opt_text(args_trim)?),
        Verb::Vrfy | Verb::Expn if args_trim.is_empty() => return Err(MalformedKind::Syntax),
        Verb::Vrfy => *cmd = Command::Vrfy(text_arg(args_trim)?),
        Verb::Expn => *cmd = Command::Expn(text_arg(args_trim)?),
        Verb::StartTls => {
            no_args(args)?;
            *cmd = Command::StartTls;
        }
        Verb::Auth => *cmd = auth(args_trim)?,
    }
    Ok(())
}

/// The verbs, recognised before their arguments are parsed.
#[derive(Clone, Copy)]
enum Verb {
    Mail,
    Rcpt,
    Ehlo,
    Helo,
    Lhlo,
    Data,
    Bdat,
    Rset,
    Quit,
    Noop,
    Help,
    Vrfy,
    Expn,
    StartTls,
    Auth,
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |p| p + 1);
    &b[..n]
}

fn opt_text(args: &[u8]) -> Res<Option<String>> {
    if args.is_empty() {
        Ok(None)
    } else {
        text_arg(args).map(Some)
    }
}

fn helo_arg(args: &[u8]) -> Res<crate::types::Host> {
    if let Some(d) = simple_domain(args) {
        return Ok(crate::types::Host::Domain(d));
    }
    match host(args) {
        Ok(([], h)) => Ok(h),
        _ => Err(MalformedKind::Syntax),
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], p: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)).then(|| &s[p.len()..])
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

#[inline]
fn mail(args: &[u8], from: &mut ReversePath, params: &mut Params<MailParameters>) -> Res<()> {
    let rest = strip_prefix_ci(args, b"FROM:").ok_or(MalformedKind::Syntax)?;
    let rest = skip_spaces(rest);
    let (rest, path) = reverse_path(rest).map_err(|_| MalformedKind::Syntax)?;
    *from = path;
    each_param(rest, |k, v| mail_param(params, k, v))
}

#[inline]
fn rcpt(args: &[u8], to: &mut ForwardPath, params: &mut Params<RcptParameters>) -> Res<()> {
    let rest = strip_prefix_ci(args, b"TO:").ok_or(MalformedKind::Syntax)?;
    let rest = skip_spaces(rest);
    let (rest, path) = forward_path(rest).map_err(|_| MalformedKind::Syntax)?;
    *to = path;
    each_param(rest, |k, v| rcpt_param(params, k, v))
}

fn is_keyword_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// `esmtp-value = 1*(%d33-60 / %d62-126)`, with UTF-8 octets (RFC 6531 §3.3).
fn is_value_char(c: u8) -> bool {
    ((33..=126).contains(&c) && c != b'=') || c >= 0x80
}

/// A parameter's keyword and raw value.
type RawParam<'a> = (&'a [u8], Option<&'a [u8]>);

/// `esmtp-keyword ["=" esmtp-value]`, by two scans over the octets. As with an optional
/// `"=" 1*value-char`, a `=` with no value after it is left unconsumed (and then fails as the
/// start of the next parameter).
fn esmtp_param(i: &[u8]) -> Option<(&[u8], RawParam<'_>)> {
    let klen = i
        .iter()
        .position(|&c| !is_keyword_char(c))
        .unwrap_or(i.len());
    if klen == 0 {
        return None;
    }
    let (k, rest) = i.split_at(klen);
    if let Some(after_eq) = rest.strip_prefix(b"=") {
        let vlen = after_eq
            .iter()
            .position(|&c| !is_value_char(c))
            .unwrap_or(after_eq.len());
        if vlen > 0 {
            let (v, rest) = after_eq.split_at(vlen);
            return Some((rest, (k, Some(v))));
        }
    }
    Some((rest, (k, None)))
}

/// Calls `visit` with each `SP esmtp-param` after a path, the keyword upper case; more than 16
/// parameters is an error (a repeated keyword is one too: `visit` finds those, from what it has
/// set already). Nothing is allocated.
#[inline]
fn each_param<'a>(
    mut rest: &'a [u8],
    mut visit: impl FnMut(&[u8], Option<&'a [u8]>) -> Res<()>,
) -> Res<()> {
    const MAX: usize = 16;
    if rest.is_empty() {
        return Ok(());
    }
    let mut count = 0;
    while !rest.is_empty() {
        let after = rest.strip_prefix(b" ").ok_or(MalformedKind::Syntax)?;
        let after = skip_spaces(after);
        if after.is_empty() {
            break;
        }
        let (after_param, (k, v)) = esmtp_param(after).ok_or(MalformedKind::Parameter)?;
        if k.first() == Some(&b'-') || k.len() > 32 || count == MAX {
            return Err(MalformedKind::Parameter);
        }
        count += 1;
        let mut buf = [0u8; 32];
        for (d, &c) in buf.iter_mut().zip(k) {
            *d = c.to_ascii_uppercase();
        }
        visit(&buf[..k.len()], v)?;
        rest = after_param;
    }
    Ok(())
}

fn value(v: Option<&[u8]>) -> Res<&[u8]> {
    v.ok_or(MalformedKind::Parameter)
}

/// The keyword (among `choices`, upper case) that `v` is, compared without regard to case and
/// without allocating.
fn one_of<T: Copy>(v: &[u8], choices: &[(&[u8], T)]) -> Res<T> {
    choices
        .iter()
        .find(|(k, _)| v.eq_ignore_ascii_case(k))
        .map(|&(_, t)| t)
        .ok_or(MalformedKind::Parameter)
}

fn number(v: Option<&[u8]>) -> Res<u64> {
    let s = value(v)?;
    // RFC 1870: size-value ::= 1*20DIGIT
    if s.is_empty() || s.len() > 20 {
        return Err(MalformedKind::Parameter);
    }
    s.iter()
        .try_fold(0u64, |n, &c| {
            if c.is_ascii_digit() {
                n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            } else {
                None
            }
        })
        .ok_or(MalformedKind::Parameter)
}

fn other(k: &[u8], v: Option<&[u8]>) -> Res<Parameter> {
    // The keyword is `esmtp-keyword` (ASCII letters, digits and `-`), so this cannot fail.
    let k = std::str::from_utf8(k).map_err(|_| MalformedKind::Parameter)?;
    let value = match v {
        Some(v) => Some(
            std::str::from_utf8(v)
                .map_err(|_| MalformedKind::Parameter)?
                .to_owned(),
        ),
        None => None,
    };
    Ok(Parameter {
        keyword: k.to_owned(),
        value,
    })
}

/// Whether keyword `k` (upper case) is among the other parameters already.
fn repeated(other: &[Parameter], k: &[u8]) -> bool {
    other.iter().any(|o| o.keyword.as_bytes() == k)
}

/// Refuses a parameter given before (`set`).
fn once(set: bool) -> Res<()> {
    if set {
        Err(MalformedKind::Parameter)
    } else {
        Ok(())
    }
}

fn mail_param(p: &mut MailParameters, k: &[u8], v: Option<&[u8]>) -> Res<()> {
    // One match on the keyword; each arm refuses a repeat from what is set already.
    match k {
        b"SIZE" => {
            once(p.size.is_some())?;
            p.size = Some(number(v)?);
        }
        b"BODY" => {
            once(p.body.is_some())?;
            p.body = Some(one_of(
                value(v)?,
                &[
                    (b"7BIT", BodyType::SevenBit),
                    (b"8BITMIME", BodyType::EightBitMime),
                    (b"BINARYMIME", BodyType::BinaryMime),
                ],
            )?);
        }
        b"SMTPUTF8" if v.is_none() => {
            once(p.smtputf8)?;
            p.smtputf8 = true;
        }
        b"REQUIRETLS" if v.is_none() => {
            once(p.requiretls)?;
            p.requiretls = true;
        }
        b"RET" => {
            once(p.ret.is_some())?;
            p.ret = Some(one_of(
                value(v)?,
                &[(b"FULL", Ret::Full), (b"HDRS", Ret::Headers)],
            )?);
        }
        // RFC 3461 §4.4: envid = xtext, at most 100 characters.
        b"ENVID" => {
            once(p.envid.is_some())?;
            let raw = v.ok_or(MalformedKind::Parameter)?;
            if raw.len() > 100 {
                return Err(MalformedKind::Parameter);
            }
            p.envid = Some(xtext_decode(raw).ok_or(MalformedKind::Parameter)?);
        }
        b"AUTH" => {
            once(p.auth.is_some())?;
            let raw = v.ok_or(MalformedKind::Parameter)?;
            p.auth = Some(if raw == b"<>" {
                MailAuth::Unknown
            } else {
                MailAuth::Mailbox(xtext_decode(raw).ok_or(MalformedKind::Parameter)?)
            });
        }
        b"SMTPUTF8" | b"REQUIRETLS" => return Err(MalformedKind::Parameter),
        _ => {
            once(repeated(&p.other, k))?;
            p.other.push(other(k, v)?);
        }
    }
    Ok(())
}

fn rcpt_param(p: &mut RcptParameters, k: &[u8], v: Option<&[u8]>) -> Res<()> {
    match k {
        b"NOTIFY" => {
            once(p.notify.is_some())?;
            let s = value(v)?;
            if s.eq_ignore_ascii_case(b"NEVER") {
                p.notify = Some(Notify::Never);
            } else {
                let (mut success, mut failure, mut delay) = (false, false, false);
                for w in s.split(|&c| c == b',') {
                    let flag = match one_of(w, &[(b"SUCCESS", 0), (b"FAILURE", 1), (b"DELAY", 2)])?
                    {
                        0 => &mut success,
                        1 => &mut failure,
                        _ => &mut delay,
                    };
                    if *flag {
                        return Err(MalformedKind::Parameter);
                    }
                    *flag = true;
                }
                p.notify = Some(Notify::On {
                    success,
                    failure,
                    delay,
                });
            }
        }
        // RFC 3461 §4.2: orcpt-parameter = "ORCPT=" original-recipient-address
        // original-recipient-address = addr-type ";" xtext
        b"ORCPT" => {
            once(p.orcpt.is_some())?;
            let raw = v.ok_or(MalformedKind::Parameter)?;
            let semi = memchr::memchr(b';', raw).ok_or(MalformedKind::Parameter)?;
            let t = &raw[..semi];
            if t.is_empty() || !t.iter().all(|&c| is_keyword_char(c)) {
                return Err(MalformedKind::Parameter);
            }
            p.orcpt = Some(OriginalRecipient {
                addr_type: String::from_utf8_lossy(t).into_owned(),
                address: xtext_decode(&raw[semi + 1..]).ok_or(MalformedKind::Parameter)?,
            });
        }
        _ => {
            once(repeated(&p.other, k))?;
            p.other.push(other(k, v)?);
        }
    }
    Ok(())
}

fn bdat(args: &[u8]) -> Res<Command> {
    let mut words = args.split(|&c| c == b' ').filter(|w| !w.is_empty());
    let size = words.next().ok_or(MalformedKind::Syntax)?;
    if size.len() > 20 || !size.iter().all(u8::is_ascii_digit) {
        return Err(MalformedKind::Syntax);
    }
    let size = std::str::from_utf8(size)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(MalformedKind::Syntax)?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Err(MalformedKind::Syntax),
    };
    if words.next().is_some() {
        return Err(MalformedKind::Syntax);
    }
    Ok(Command::Bdat { size, last })
}

fn auth(args: &[u8]) -> Res<Command> {
    let mut words = args.split(|&c| c == b' ').filter(|w| !w.is_empty());
    let mech = words.next().ok_or(MalformedKind::Syntax)?;
    let mechanism = std::str::from_utf8(mech)
        .ok()
        .and_then(|m| Mechanism::try_from(m).ok())
        .ok_or(MalformedKind::Syntax)?;
    let initial_response = match words.next() {
        None => None,
        Some(b"=") => Some(Vec::new()),
        Some(b64) => Some(base64_decode(b64).ok_or(MalformedKind::Syntax)?),
    };
    if words.next().is_some() {
        return Err(MalformedKind::Syntax);
    }
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

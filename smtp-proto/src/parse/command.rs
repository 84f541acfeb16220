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

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take_while1;
use nom::combinator::opt;

use super::address::{forward_path, host, reverse_path};
use super::{Excerpt, MalformedKind, ParseError, split_line};
use crate::types::text::{base64_decode, xtext_decode};
use crate::types::{
    BodyType, Command, MailAuth, MailParameters, Mechanism, Notify, OriginalRecipient, Parameter,
    RcptParameters, Ret,
};

/// Parses one command line from the start of `input`.
///
/// Returns [`ParseError::Incomplete`] until a line ending is present. The caller enforces the
/// line-length limit (RFC 5321 §4.5.3.1.4) before calling.
pub fn command(input: &[u8]) -> Result<(&[u8], Command), ParseError> {
    let Some((line, used)) = split_line(input) else {
        return Err(ParseError::Incomplete);
    };
    match command_line(line) {
        Ok(c) => Ok((&input[used..], c)),
        Err(kind) => Err(ParseError::Malformed {
            kind,
            consumed: used,
            excerpt: Excerpt::new(line),
        }),
    }
}

type Res<T> = Result<T, MalformedKind>;

fn text_arg(args: &[u8]) -> Res<String> {
    std::str::from_utf8(args)
        .map(str::to_owned)
        .map_err(|_| MalformedKind::Encoding)
}

fn no_args(args: &[u8], cmd: Command) -> Res<Command> {
    if args.iter().all(|&c| c == b' ') {
        Ok(cmd)
    } else {
        Err(MalformedKind::Syntax)
    }
}

/// Parses a command line without its line ending.
pub fn command_line(line: &[u8]) -> Result<Command, MalformedKind> {
    let (verb, args) = match memchr::memchr(b' ', line) {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, &line[line.len()..]),
    };
    if verb.len() < 4 || verb.len() > 8 {
        return Err(MalformedKind::UnknownCommand);
    }
    let mut v = [0u8; 8];
    for (d, s) in v.iter_mut().zip(verb) {
        *d = s.to_ascii_uppercase();
    }
    let args_trim = trim_end(args);
    match &v[..verb.len()] {
        b"MAIL" => mail(args_trim),
        b"RCPT" => rcpt(args_trim),
        b"EHLO" => Ok(Command::Ehlo(helo_arg(args_trim)?)),
        b"HELO" => Ok(Command::Helo(helo_arg(args_trim)?)),
        b"LHLO" => Ok(Command::Lhlo(helo_arg(args_trim)?)),
        b"DATA" => no_args(args, Command::Data),
        b"BDAT" => bdat(args_trim),
        b"RSET" => no_args(args, Command::Rset),
        b"QUIT" => no_args(args, Command::Quit),
        b"NOOP" => Ok(Command::Noop(opt_text(args_trim)?)),
        b"HELP" => Ok(Command::Help(opt_text(args_trim)?)),
        b"VRFY" if !args_trim.is_empty() => Ok(Command::Vrfy(text_arg(args_trim)?)),
        b"EXPN" if !args_trim.is_empty() => Ok(Command::Expn(text_arg(args_trim)?)),
        b"VRFY" | b"EXPN" => Err(MalformedKind::Syntax),
        b"STARTTLS" => no_args(args, Command::StartTls),
        b"AUTH" => auth(args_trim),
        _ => Err(MalformedKind::UnknownCommand),
    }
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

fn mail(args: &[u8]) -> Res<Command> {
    let rest = strip_prefix_ci(args, b"FROM:").ok_or(MalformedKind::Syntax)?;
    let rest = skip_spaces(rest);
    let (rest, from) = reverse_path(rest).map_err(|_| MalformedKind::Syntax)?;
    let mut params = MailParameters::default();
    each_param(rest, |k, v| mail_param(&mut params, k, v))?;
    Ok(Command::Mail { from, params })
}

fn rcpt(args: &[u8]) -> Res<Command> {
    let rest = strip_prefix_ci(args, b"TO:").ok_or(MalformedKind::Syntax)?;
    let rest = skip_spaces(rest);
    let (rest, to) = forward_path(rest).map_err(|_| MalformedKind::Syntax)?;
    let mut params = RcptParameters::default();
    each_param(rest, |k, v| rcpt_param(&mut params, k, v))?;
    Ok(Command::Rcpt { to, params })
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

fn esmtp_param(i: &[u8]) -> IResult<&[u8], RawParam<'_>> {
    let (rest, k) = take_while1(is_keyword_char)(i)?;
    let (rest, v) = opt((
        nom::bytes::complete::tag(&b"="[..]),
        take_while1(is_value_char),
    ))
    .parse(rest)?;
    Ok((rest, (k, v.map(|(_, v)| v))))
}

/// `*(SP esmtp-param)` after a path; keywords are returned upper case.
/// Calls `f` with each `SP esmtp-param` after a path, the keyword upper case; a repeated keyword or
/// more than 16 parameters is an error. Nothing is allocated.
fn each_param<'a>(
    mut rest: &'a [u8],
    mut visit: impl FnMut(&str, Option<&'a [u8]>) -> Res<()>,
) -> Res<()> {
    const MAX: usize = 16;
    let mut seen: [&[u8]; MAX] = [&[]; MAX];
    let mut count = 0;
    while !rest.is_empty() {
        let after = rest.strip_prefix(b" ").ok_or(MalformedKind::Syntax)?;
        let after = skip_spaces(after);
        if after.is_empty() {
            break;
        }
        let (after_param, (k, v)) = esmtp_param(after).map_err(|_| MalformedKind::Parameter)?;
        if k.first() == Some(&b'-')
            || k.len() > 32
            || count == MAX
            || seen[..count].iter().any(|s| s.eq_ignore_ascii_case(k))
        {
            return Err(MalformedKind::Parameter);
        }
        seen[count] = k;
        count += 1;
        let mut buf = [0u8; 32];
        buf[..k.len()].copy_from_slice(k);
        buf.make_ascii_uppercase();
        visit(
            std::str::from_utf8(&buf[..k.len()]).map_err(|_| MalformedKind::Parameter)?,
            v,
        )?;
        rest = after_param;
    }
    Ok(())
}

fn value_str(v: Option<&[u8]>) -> Res<&str> {
    std::str::from_utf8(v.ok_or(MalformedKind::Parameter)?).map_err(|_| MalformedKind::Parameter)
}

fn number(v: Option<&[u8]>) -> Res<u64> {
    let s = value_str(v)?;
    // RFC 1870: size-value ::= 1*20DIGIT
    if s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(MalformedKind::Parameter);
    }
    s.parse().map_err(|_| MalformedKind::Parameter)
}

fn other(k: &str, v: Option<&[u8]>) -> Res<Parameter> {
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

fn mail_param(p: &mut MailParameters, k: &str, v: Option<&[u8]>) -> Res<()> {
    match k {
        "SIZE" => p.size = Some(number(v)?),
        "BODY" => {
            p.body = Some(match value_str(v)?.to_ascii_uppercase().as_str() {
                "7BIT" => BodyType::SevenBit,
                "8BITMIME" => BodyType::EightBitMime,
                "BINARYMIME" => BodyType::BinaryMime,
                _ => return Err(MalformedKind::Parameter),
            });
        }
        "SMTPUTF8" if v.is_none() => p.smtputf8 = true,
        "REQUIRETLS" if v.is_none() => p.requiretls = true,
        "RET" => {
            p.ret = Some(match value_str(v)?.to_ascii_uppercase().as_str() {
                "FULL" => Ret::Full,
                "HDRS" => Ret::Headers,
                _ => return Err(MalformedKind::Parameter),
            });
        }
        // RFC 3461 §4.4: envid = xtext, at most 100 characters.
        "ENVID" => {
            let raw = v.ok_or(MalformedKind::Parameter)?;
            if raw.len() > 100 {
                return Err(MalformedKind::Parameter);
            }
            p.envid = Some(xtext_decode(raw).ok_or(MalformedKind::Parameter)?);
        }
        "AUTH" => {
            let raw = v.ok_or(MalformedKind::Parameter)?;
            p.auth = Some(if raw == b"<>" {
                MailAuth::Unknown
            } else {
                MailAuth::Mailbox(xtext_decode(raw).ok_or(MalformedKind::Parameter)?)
            });
        }
        "SMTPUTF8" | "REQUIRETLS" => return Err(MalformedKind::Parameter),
        _ => p.other.push(other(k, v)?),
    }
    Ok(())
}

fn rcpt_param(p: &mut RcptParameters, k: &str, v: Option<&[u8]>) -> Res<()> {
    match k {
        "NOTIFY" => {
            let s = value_str(v)?.to_ascii_uppercase();
            if s == "NEVER" {
                p.notify = Some(Notify::Never);
            } else {
                let (mut success, mut failure, mut delay) = (false, false, false);
                for w in s.split(',') {
                    let flag = match w {
                        "SUCCESS" => &mut success,
                        "FAILURE" => &mut failure,
                        "DELAY" => &mut delay,
                        _ => return Err(MalformedKind::Parameter),
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
        "ORCPT" => {
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
        _ => p.other.push(other(k, v)?),
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

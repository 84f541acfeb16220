//! Address lists (RFC 5322 §3.4) as ENVELOPE wants them (RFC 3501 §7.4.2).
//!
//! ```text
//! address-list    = (address *("," address)) / obs-addr-list
//! address         = mailbox / group
//! mailbox         = name-addr / addr-spec
//! name-addr       = [display-name] angle-addr
//! angle-addr      = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
//! obs-angle-addr  = [CFWS] "<" obs-route addr-spec ">" [CFWS]
//! obs-route       = obs-domain-list ":"
//! obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
//! group           = display-name ":" [group-list] ";" [CFWS]
//! addr-spec       = local-part "@" domain
//! ```
//! (RFC 5322 §3.4, §4.4.)
//!
//! The parse follows Dovecot 2.3 (`message-address.c`), whose ENVELOPE clients compare against:
//! - a comment after an `addr-spec` is its display name (`user@domain (Real Name)`, the
//!   RFC 822 §6.1 form);
//! - the source route of an `obs-angle-addr` is kept as `addr-adl` (`"@r1,@r2"`);
//! - a group is a start marker (mailbox = group name, host NIL), its members and an end marker
//!   (all NIL), RFC 3501 §7.4.2;
//! - what cannot be parsed is still reported: a missing local part is `MISSING_MAILBOX`, a
//!   missing domain `MISSING_DOMAIN`, a broken `angle-addr` has domain `SYNTAX_ERROR`, a broken
//!   route `INVALID_ROUTE`, and a lone word without "@" is taken as a display name; the list
//!   stops at the first address that leaves the parser somewhere other than a ",".

use super::lexer::{Lexer, Step, is_atext};

/// One `address` of an ENVELOPE, or a group marker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addr {
    /// `addr-name`: the display name, raw (encoded words are not decoded).
    pub name: Option<Vec<u8>>,
    /// `addr-adl`: the source route (`@a,@b`).
    pub route: Option<Vec<u8>>,
    /// `addr-mailbox`: the local part, or the group name of a group start marker.
    pub mailbox: Option<Vec<u8>>,
    /// `addr-host`: the domain; `None` for group markers.
    pub domain: Option<Vec<u8>>,
}

struct Ctx<'a> {
    lx: Lexer<'a>,
    out: Vec<Addr>,
    addr: Addr,
    invalid: bool,
    /// The last local part read, even a failed one (Dovecot's `ctx->str`).
    scratch: Vec<u8>,
}

impl Ctx<'_> {
    fn add(&mut self) {
        self.out.push(std::mem::take(&mut self.addr));
        self.invalid = false;
    }

    fn add_fixed(&mut self) {
        if self.addr.mailbox.is_none() {
            self.addr.mailbox = Some(b"MISSING_MAILBOX".to_vec());
            self.invalid = true;
        }
        if self.addr.domain.as_ref().is_none_or(Vec::is_empty) {
            self.addr.domain = Some(b"MISSING_DOMAIN".to_vec());
            self.invalid = true;
        }
        self.add();
    }

    fn local_part(&mut self) -> Step {
        self.scratch.clear();
        let step = if self.lx.at(b'"') {
            self.lx.quoted_string(&mut self.scratch)
        } else {
            self.lx.dot_atom(&mut self.scratch)
        };
        if step.invalid() {
            return Step::Invalid;
        }
        self.addr.mailbox = Some(self.scratch.clone());
        step
    }

    fn domain(&mut self) -> Step {
        let mut s = Vec::new();
        let step = self.lx.domain(&mut s);
        if step.invalid() {
            return Step::Invalid;
        }
        self.addr.domain = Some(s);
        step
    }

    fn domain_list(&mut self) -> Step {
        let mut s = Vec::new();
        loop {
            if self.lx.at_end() {
                return Step::End;
            }
            if !self.lx.at(b'@') {
                break;
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let step = self.lx.domain(&mut s);
            if !step.more() {
                return step;
            }
            while self.lx.skip_lwsp().more() && self.lx.at(b',') {
                self.lx.pos += 1;
            }
        }
        self.addr.route = Some(s);
        Step::More
    }

    fn angle_addr(&mut self) -> Step {
        self.lx.pos += 1;
        if !self.lx.skip_lwsp().more() {
            return Step::Invalid;
        }
        if self.lx.at(b'@') {
            if self.domain_list().more() && self.lx.at(b':') {
                self.lx.pos += 1;
            } else {
                self.addr.route = Some(b"INVALID_ROUTE".to_vec());
                if self.lx.at_end() {
                    return Step::Invalid;
                }
            }
            if !self.lx.skip_lwsp().more() {
                return Step::Invalid;
            }
        }
        if !self.lx.at(b'>') {
            if !self.local_part().more() {
                return Step::Invalid;
            }
            if self.lx.at(b'@') && !self.domain().more() {
                return Step::Invalid;
            }
        }
        if !self.lx.at(b'>') {
            return Step::Invalid;
        }
        self.lx.pos += 1;
        self.lx.skip_lwsp()
    }

    fn name_addr(&mut self) -> Step {
        let mut s = Vec::new();
        if !self.lx.phrase(&mut s).more() || !self.lx.at(b'<') {
            return Step::Invalid;
        }
        self.addr.name = (!s.is_empty()).then_some(s);
        if self.angle_addr().invalid() {
            self.addr.domain = Some(b"SYNTAX_ERROR".to_vec());
            self.invalid = true;
        }
        Step::from_bool(!self.lx.at_end())
    }

    fn addr_spec(&mut self) -> Step {
        if let Some(c) = &mut self.lx.last_comment {
            c.clear();
        }
        let quoted = self.lx.at(b'"');
        let mut step = self.local_part();
        if !step.more() {
            self.invalid = true;
        }
        let mut domain_step = None;
        if step != Step::End && !self.lx.at_end() && self.lx.at(b'@') {
            let d = self.domain();
            domain_step = Some(d);
            if !d.more() {
                step = d;
            }
        }
        let comment = self
            .lx
            .last_comment
            .as_ref()
            .filter(|c| !c.is_empty())
            .cloned();
        if let Some(c) = comment {
            self.addr.name = Some(c);
        } else if domain_step.is_none() {
            // A word without "@" and without a comment: if more words follow, the whole is a
            // display name.
            let mut s = std::mem::take(&mut self.scratch);
            s.push(b' ');
            let before = s.len();
            let _ = self.lx.phrase(&mut s);
            if s.len() != before {
                self.addr.mailbox = None;
                self.addr.name = Some(s);
            } else if !quoted {
                self.addr.domain = Some(Vec::new());
            }
            self.invalid = true;
            step = Step::Invalid;
        }
        step
    }

    fn mailbox(&mut self) -> Step {
        let start = self.lx.pos;
        let mut step = self.name_addr();
        if step.invalid() {
            self.lx.pos = start;
            self.addr = Addr::default();
            self.invalid = false;
            step = self.addr_spec();
            if self.invalid
                && self.addr.name.is_none()
                && self.addr.mailbox.is_some()
                && self.addr.domain.is_none()
            {
                self.addr.name = self.addr.mailbox.take();
            }
        }
        self.add_fixed();
        step
    }

    fn group(&mut self) -> Step {
        let mut s = Vec::new();
        if !self.lx.phrase(&mut s).more() || !self.lx.at(b':') {
            return Step::Invalid;
        }
        self.lx.pos += 1;
        let mut step = self.lx.skip_lwsp();
        self.addr.mailbox = Some(s);
        self.add();
        if step.more() && !self.lx.at(b';') {
            loop {
                let _ = self.mailbox();
                if self.lx.at_end() || !self.lx.at(b',') {
                    break;
                }
                self.lx.pos += 1;
                if !self.lx.skip_lwsp().more() {
                    step = Step::Invalid;
                    break;
                }
            }
        }
        if !step.invalid() {
            if self.lx.at_end() || !self.lx.at(b';') {
                step = Step::Invalid;
            } else {
                self.lx.pos += 1;
                step = self.lx.skip_lwsp();
            }
        }
        self.add();
        if step == Step::End {
            Step::End
        } else {
            Step::More
        }
    }

    fn address(&mut self) -> Step {
        let start = self.lx.pos;
        let step = self.group();
        if step.invalid() {
            self.lx.pos = start;
            self.addr = Addr::default();
            return self.mailbox();
        }
        step
    }

    fn address_list(&mut self) {
        // Bounded: every address consumes input or ends the list.
        loop {
            if self.address() == Step::End {
                break;
            }
            if self.lx.at_end() || !self.lx.at(b',') {
                break;
            }
            self.lx.pos += 1;
            match self.lx.skip_lwsp() {
                Step::More => {}
                Step::End => break,
                Step::Invalid => {
                    // Ends with some garbage.
                    self.add_fixed();
                    break;
                }
            }
        }
    }
}

impl Step {
    fn from_bool(more: bool) -> Self {
        if more { Step::More } else { Step::End }
    }
}

/// Parses an address-list header value (unfolded or not). An empty value gives no addresses.
pub fn parse(value: &[u8]) -> Vec<Addr> {
    let mut lx = Lexer::new(value);
    lx.last_comment = Some(Vec::new());
    lx.nul_replacement = true;
    let mut ctx = Ctx {
        lx,
        out: Vec::new(),
        addr: Addr::default(),
        invalid: false,
        scratch: Vec::new(),
    };
    if ctx.lx.skip_lwsp().more() {
        ctx.address_list();
    }
    ctx.out
}

fn append_maybe_escaped(out: &mut Vec<u8>, s: &[u8], escape_dot: bool) {
    if s.iter().all(|&c| is_atext(c) || (!escape_dot && c == b'.')) {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for &c in s {
        if matches!(c, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Writes addresses back as header text (`Name <mailbox@domain>`, `group: ...;`), the
/// normalised form Dovecot searches FROM, TO, CC and BCC in.
pub fn write(addrs: &[Addr]) -> Vec<u8> {
    let mut out = Vec::new();
    if addrs.is_empty() {
        return out;
    }
    let mut first = true;
    let mut in_group = false;
    for a in addrs {
        if first {
            first = false;
        } else {
            out.extend_from_slice(b", ");
        }
        match &a.domain {
            None => {
                if in_group {
                    // End of group: cut the ", " (or the space of ": ").
                    if out.ends_with(b", ") {
                        out.truncate(out.len() - 2);
                    } else if out.ends_with(b": ") {
                        out.truncate(out.len() - 1);
                    }
                    out.push(b';');
                } else {
                    match &a.mailbox {
                        Some(m) if !m.is_empty() => {
                            if contains(m, b"=?") {
                                out.extend_from_slice(m);
                            } else {
                                append_maybe_escaped(&mut out, m, true);
                            }
                        }
                        _ => out.extend_from_slice(b"\"\""),
                    }
                    out.extend_from_slice(b": ");
                    first = true;
                }
                in_group = !in_group;
            }
            Some(domain) => {
                let mailbox = a.mailbox.as_deref().unwrap_or_default();
                if let Some(name) = &a.name {
                    if contains(name, b"=?") {
                        out.extend_from_slice(name);
                    } else {
                        append_maybe_escaped(&mut out, name, true);
                    }
                }
                if a.route.is_some() || !mailbox.is_empty() || !domain.is_empty() {
                    if a.name.as_ref().is_some_and(|n| !n.is_empty()) {
                        out.push(b' ');
                    }
                    out.push(b'<');
                    if let Some(r) = &a.route {
                        out.extend_from_slice(r);
                        out.push(b':');
                    }
                    if mailbox.is_empty() {
                        out.extend_from_slice(b"\"\"");
                    } else {
                        append_maybe_escaped(&mut out, mailbox, false);
                    }
                    if !domain.is_empty() {
                        out.push(b'@');
                        out.extend_from_slice(domain);
                    }
                    out.push(b'>');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &[u8]) -> Vec<String> {
        parse(v)
            .into_iter()
            .map(|a| {
                let f = |x: Option<Vec<u8>>| {
                    x.map_or("NIL".to_owned(), |v| {
                        String::from_utf8_lossy(&v).into_owned()
                    })
                };
                format!(
                    "{}|{}|{}|{}",
                    f(a.name),
                    f(a.route),
                    f(a.mailbox),
                    f(a.domain)
                )
            })
            .collect()
    }

    #[test]
    fn dovecot_forms() {
        assert_eq!(
            show(b"user@domain (Real Name)"),
            ["Real Name|NIL|user|domain"]
        );
        assert_eq!(
            show(b"@route1,@route2:user@domain, Group: a@b;"),
            [
                "NIL|NIL|MISSING_MAILBOX|route1",
                "NIL|NIL|MISSING_MAILBOX|route2"
            ]
        );
        assert_eq!(
            show(b"<@r:u@d>, \"x\" <u@d>, broken <a@, just text, (only comment)"),
            [
                "NIL|@r|u|d",
                "x|NIL|u|d",
                "broken|NIL|a|SYNTAX_ERROR",
                "just text|NIL|MISSING_MAILBOX|MISSING_DOMAIN"
            ]
        );
        assert_eq!(
            show(b"Friends: one@example.com, Two <two@example.com>;, Empty:;"),
            [
                "NIL|NIL|Friends|NIL",
                "NIL|NIL|one|example.com",
                "Two|NIL|two|example.com",
                "NIL|NIL|NIL|NIL",
                "NIL|NIL|Empty|NIL",
                "NIL|NIL|NIL|NIL"
            ]
        );
        assert!(parse(b"  ").is_empty());
    }

    #[test]
    fn written_back() {
        assert_eq!(
            write(&parse(b"\"A B\" <a@b>, g: x@y;, c@d (C)")),
            b"\"A B\" <a@b>, g: <x@y>;, C <c@d>"
        );
    }
}

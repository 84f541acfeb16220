//! Addresses in header fields (RFC 5322 §3.4) as the `address` test and vacation read them:
//! leniently, since a filter must work on the mail that arrives, not only on valid mail.
//!
//! ```text
//! address-list    =   (address *("," address)) / obs-addr-list
//! address         =   mailbox / group
//! mailbox         =   name-addr / addr-spec
//! name-addr       =   [display-name] angle-addr
//! angle-addr      =   [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
//! group           =   display-name ":" [group-list] ";" [CFWS]
//! addr-spec       =   local-part "@" domain
//! ```

/// One address of a header field: local part and domain, or text that is no address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) local: String,
    /// `None` when the text has no `@`: then only `:all` sees it, as the text itself
    /// (RFC 5228 §5.1: an invalid address matches no `:localpart` or `:domain`).
    pub(crate) domain: Option<String>,
}

impl Address {
    /// `local@domain`, or the text of an invalid address.
    pub(crate) fn all(&self) -> String {
        match &self.domain {
            Some(d) => format!("{}@{}", self.local, d),
            None => self.local.clone(),
        }
    }
}

/// The addresses of an address-list header value, groups flattened, comments dropped.
pub(crate) fn parse_list(value: &str) -> Vec<Address> {
    let mut out = Vec::new();
    for entry in split_entries(value) {
        if let Some(a) = parse_entry(&entry) {
            out.push(a);
        }
    }
    out
}

/// Splits at top-level commas; a group's display name (up to its `:`) is dropped and its `;`
/// ends an entry.
fn split_entries(value: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    let mut angle = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                current.push(c);
                while let Some(q) = chars.next() {
                    current.push(q);
                    if q == '\\' {
                        if let Some(e) = chars.next() {
                            current.push(e);
                        }
                    } else if q == '"' {
                        break;
                    }
                }
            }
            '(' => {
                // Comments nest (RFC 5322 §3.2.2); they are dropped.
                let mut depth = 1;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                current.push(' ');
            }
            '<' => {
                angle = true;
                current.push(c);
            }
            '>' => {
                angle = false;
                current.push(c);
            }
            ':' if !angle => current.clear(),
            ',' | ';' if !angle => entries.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    entries.push(current);
    entries
}

fn parse_entry(entry: &str) -> Option<Address> {
    let entry = entry.trim();
    if entry.is_empty() {
        return None;
    }
    let spec = match (entry.rfind('<'), entry.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let inner = &entry[open + 1..close];
            // obs-route: "<@a,@b:user@host>"
            match inner.rfind(':') {
                Some(i) if inner.starts_with('@') => &inner[i + 1..],
                _ => inner,
            }
        }
        _ => entry,
    };
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    Some(split_spec(spec))
}

/// `local@domain` at the last `@` outside quotes; a quoted local part keeps its quotes removed.
fn split_spec(spec: &str) -> Address {
    let mut at = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in spec.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    match at {
        Some(i) if i > 0 && i + 1 < spec.len() => Address {
            local: unquote(spec[..i].trim()),
            domain: Some(spec[i + 1..].trim().to_owned()),
        },
        _ => Address {
            local: spec.to_owned(),
            domain: None,
        },
    }
}

fn unquote(local: &str) -> String {
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        let mut out = String::new();
        let mut chars = local[1..local.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        local.to_owned()
    }
}

/// Checks an address a script gives (`redirect`): an addr-spec, maybe in angle brackets.
/// Returns the addr-spec, or why it is invalid (Pigeonhole's wording).
pub(crate) fn validate(address: &str) -> Result<String, String> {
    let a = address.trim();
    let a = a
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(a);
    addr_spec(a)
}

/// Checks a mailbox a script gives (vacation `:from`): an addr-spec, or a display name and an
/// angle address.
pub(crate) fn validate_mailbox(mailbox: &str) -> Result<String, String> {
    let m = mailbox.trim();
    match (m.rfind('<'), m.ends_with('>')) {
        (Some(open), true) => addr_spec(&m[open + 1..m.len() - 1]),
        _ => addr_spec(m),
    }
}

fn addr_spec(a: &str) -> Result<String, String> {
    let parsed = split_spec(a);
    let Some(domain) = parsed.domain else {
        return Err(format!(
            "invalid or lonely local part '{}' (expecting '@')",
            a.split(' ').next().unwrap_or_default()
        ));
    };
    let local_ok = a.starts_with('"')
        || parsed.local.split('.').all(|atom| {
            !atom.is_empty()
                && atom.chars().all(|c| {
                    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
                })
        });
    if !local_ok {
        return Err(format!("invalid local part '{}'", parsed.local));
    }
    let domain_ok = (domain.starts_with('[') && domain.ends_with(']'))
        || domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || !c.is_ascii())
        });
    if !domain_ok {
        return Err(format!("invalid domain part '{domain}'"));
    }
    Ok(format!("{}@{}", &a[..a.rfind('@').unwrap_or(0)], domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alls(v: &str) -> Vec<String> {
        parse_list(v).iter().map(Address::all).collect()
    }

    #[test]
    fn lists_groups_comments_and_routes() {
        assert_eq!(
            alls("\"Doe, John\" <john@example.com>, jane@example.org (Jane)"),
            vec!["john@example.com", "jane@example.org"]
        );
        assert_eq!(
            alls("friends: a@b.c, <d@e.f>; , undisclosed-recipients:;"),
            vec!["a@b.c", "d@e.f"]
        );
        assert_eq!(
            alls("<@route.example:user@host.example>"),
            vec!["user@host.example"]
        );
        assert_eq!(
            parse_list("\"odd@local\"@example.com")[0],
            Address {
                local: "odd@local".into(),
                domain: Some("example.com".into())
            }
        );
        assert_eq!(parse_list("root")[0].domain, None);
    }

    #[test]
    fn script_addresses_are_checked() {
        assert_eq!(validate("<a@b.example>").unwrap(), "a@b.example");
        assert_eq!(
            validate("bad address").unwrap_err(),
            "invalid or lonely local part 'bad' (expecting '@')"
        );
        assert!(validate("a@b..c").is_err());
        assert_eq!(
            validate_mailbox("Joe <joe@example.com>").unwrap(),
            "joe@example.com"
        );
    }
}

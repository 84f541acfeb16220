//! Evaluating tests: gathering the values a test looks at, then matching them against the keys.

use crate::address::{self, Address};
use crate::date::{self, DateTime};
use crate::matching::{relate, wildcard};
use crate::program::{AddressPart, BodyTransform, Index, Match, MatchKind, Test, TestNode, Zone};
use crate::template::Value;

use super::{Frame, Result, Run, split_flags};

impl Run<'_> {
    pub(super) fn test(&mut self, frame: &mut Frame<'_>, node: &TestNode) -> Result<bool> {
        self.step(1, node.pos)?;
        let pos = node.pos;
        Ok(match &node.test {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(frame, t)?,
            Test::AllOf(tests) => {
                for t in tests {
                    if !self.test(frame, t)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(tests) => {
                for t in tests {
                    if self.test(frame, t)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Header {
                mt,
                names,
                keys,
                index,
            } => {
                // RFC 5260 §6: the fields of all the names count, in the order of the list.
                let mut fields = Vec::new();
                for name in names {
                    let name = self.expand(frame, name);
                    fields.extend(self.msg.header(&name));
                }
                let values = select(fields, *index);
                self.matches(frame, *mt, &values, keys, pos)?
            }
            Test::Address {
                mt,
                part,
                headers,
                keys,
                index,
            } => {
                let mut fields = Vec::new();
                for name in headers {
                    let name = self.expand(frame, name);
                    fields.extend(self.msg.header_raw(&name));
                }
                let mut values = Vec::new();
                for field in select(fields, *index) {
                    for a in address::parse_list(&field) {
                        values.extend(self.address_part(&a, *part));
                    }
                }
                self.matches(frame, *mt, &values, keys, pos)?
            }
            Test::Envelope {
                mt,
                part,
                fields,
                keys,
            } => {
                let mut values = Vec::new();
                for field in fields {
                    let which = self.expand(frame, field).to_ascii_lowercase();
                    let raw = match which.as_str() {
                        "from" => self.msg.envelope_from(),
                        "to" => self.msg.envelope_to(),
                        _ => continue,
                    };
                    if raw.is_empty() {
                        // RFC 5228 §5.4: the null reverse-path is the empty string; it has no
                        // detail, and it counts 0 (RFC 5231 §4.2).
                        if *part != AddressPart::Detail && !matches!(mt.kind, MatchKind::Count(_)) {
                            values.push(String::new());
                        }
                        continue;
                    }
                    for a in address::parse_list(raw) {
                        values.extend(self.address_part(&a, *part));
                    }
                }
                self.matches(frame, *mt, &values, keys, pos)?
            }
            Test::Exists(names) => {
                for name in names {
                    let name = self.expand(frame, name);
                    if self.msg.header_raw(&name).is_empty() {
                        return Ok(false);
                    }
                }
                true
            }
            Test::Size { over, limit } => {
                let size = self.msg.size();
                if *over { size > *limit } else { size < *limit }
            }
            Test::String { mt, sources, keys } => {
                let values: Vec<String> = sources.iter().map(|s| self.expand(frame, s)).collect();
                if let MatchKind::Count(_) = mt.kind {
                    // RFC 5229 §5: an empty string counts 0, any other 1.
                    let non_empty: Vec<String> =
                        values.into_iter().filter(|v| !v.is_empty()).collect();
                    self.matches(frame, *mt, &non_empty, keys, pos)?
                } else {
                    self.matches(frame, *mt, &values, keys, pos)?
                }
            }
            Test::HasFlag {
                mt,
                variables,
                keys,
            } => {
                let mut values: Vec<String> = Vec::new();
                if variables.is_empty() {
                    values.clone_from(&self.flags);
                } else {
                    // RFC 5232 §4: the count of a list of variables is the sum of theirs.
                    for v in variables {
                        values.extend(split_flags(&self.get(frame, v)));
                    }
                }
                // RFC 5232 §4: `hasflag :is "b A"` is `hasflag ["b", "A"]`.
                let keys: Vec<String> = keys
                    .iter()
                    .flat_map(|k| split_flags(&self.expand(frame, k)))
                    .collect();
                self.match_keys(frame, *mt, &values, &keys, pos)?
            }
            Test::Body {
                mt,
                transform,
                keys,
            } => {
                let values: Vec<String> = match transform {
                    BodyTransform::Raw => {
                        vec![String::from_utf8_lossy(&self.msg.body_raw()).into_owned()]
                    }
                    BodyTransform::Text => self
                        .msg
                        .body_parts()
                        .into_iter()
                        .filter(|p| p.content_type.starts_with("text/"))
                        .map(|p| p.text)
                        .collect(),
                    BodyTransform::Content(types) => {
                        let types: Vec<String> = types
                            .iter()
                            .map(|t| self.expand(frame, t).to_ascii_lowercase())
                            .collect();
                        self.msg
                            .body_parts()
                            .into_iter()
                            .filter(|p| types.iter().any(|t| content_matches(t, &p.content_type)))
                            .map(|p| p.text)
                            .collect()
                    }
                };
                // RFC 5173 §6: body does not set match variables.
                let keys: Vec<String> = keys.iter().map(|k| self.expand(frame, k)).collect();
                let saved = frame.matches.clone();
                let hit = self.match_keys(frame, *mt, &values, &keys, pos)?;
                frame.matches = saved;
                hit
            }
            Test::Date {
                mt,
                zone,
                header,
                part,
                keys,
                index,
            } => {
                let header = self.expand(frame, header);
                let part = self.expand(frame, part);
                let Some(zone) = self.zone(frame, zone) else {
                    return Ok(false);
                };
                let mut values = Vec::new();
                for field in select(self.msg.header_raw(&header), *index) {
                    // RFC 5260 §4.1: in Received, the date follows the last semicolon.
                    let field = if header.eq_ignore_ascii_case("received") {
                        field.rsplit(';').next().unwrap_or_default().to_owned()
                    } else {
                        field
                    };
                    let Some(d) = DateTime::parse(&field) else {
                        continue;
                    };
                    let d = match zone {
                        Some(offset) => d.in_zone(offset),
                        None => d,
                    };
                    let Some(v) = d.part(&part) else {
                        return Ok(false);
                    };
                    values.push(v);
                }
                self.matches(frame, *mt, &values, keys, pos)?
            }
            Test::CurrentDate {
                mt,
                zone,
                part,
                keys,
            } => {
                let part = self.expand(frame, part);
                let Some(zone) = self.zone(frame, zone) else {
                    return Ok(false);
                };
                let offset = zone.unwrap_or_else(|| self.env.utc_offset(self.now));
                let now = DateTime::from_system(self.now, offset);
                let Some(v) = now.part(&part) else {
                    return Ok(false);
                };
                self.matches(frame, *mt, &[v], keys, pos)?
            }
            Test::MailboxExists(names) => {
                for name in names {
                    let name = self.expand(frame, name);
                    if !self.env.mailbox_exists(&name) {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }

    /// The zone to show a date in: `Some(offset)`, or `None` for the date's own zone; the outer
    /// `None` for an invalid `:zone` (the test is false).
    #[allow(clippy::option_option)] // "the date's own zone" and "no valid zone" differ
    fn zone(&self, frame: &Frame<'_>, zone: &Zone) -> Option<Option<i32>> {
        match zone {
            Zone::Local => Some(Some(self.env.utc_offset(self.now))),
            Zone::Original => Some(None),
            Zone::Fixed(v) => date::parse_zone(&self.expand(frame, v)).map(Some),
        }
    }

    fn address_part(&self, a: &Address, part: AddressPart) -> Option<String> {
        let sep = self.caps.subaddress_separator;
        match part {
            AddressPart::All => Some(a.all()),
            AddressPart::LocalPart => a.domain.as_ref().map(|_| a.local.clone()),
            AddressPart::Domain => a.domain.clone(),
            // RFC 5233 §4: without a separator the user is the local part and there is no
            // detail.
            AddressPart::User => a.domain.as_ref().map(|_| {
                a.local
                    .split_once(sep)
                    .map_or(a.local.as_str(), |(u, _)| u)
                    .to_owned()
            }),
            AddressPart::Detail => a
                .domain
                .as_ref()
                .and_then(|_| a.local.split_once(sep).map(|(_, d)| d.to_owned())),
        }
    }

    /// Whether any value matches any key; a `:matches` sets the match variables (RFC 5229
    /// §3.2) from the first value and key that match.
    fn matches(
        &mut self,
        frame: &mut Frame<'_>,
        mt: Match,
        values: &[String],
        keys: &[Value],
        pos: crate::error::Position,
    ) -> Result<bool> {
        let keys: Vec<String> = keys.iter().map(|k| self.expand(frame, k)).collect();
        self.match_keys(frame, mt, values, &keys, pos)
    }

    /// [`Run::matches`] with the keys already expanded.
    fn match_keys(
        &mut self,
        frame: &mut Frame<'_>,
        mt: Match,
        values: &[String],
        keys: &[String],
        pos: crate::error::Position,
    ) -> Result<bool> {
        let c = mt.comparator;
        if let MatchKind::Count(rel) = mt.kind {
            let count = values.len().to_string();
            self.step(keys.len() as u64, pos)?;
            return Ok(keys.iter().any(|k| relate(c, rel, &count, k)));
        }
        for v in values {
            for k in keys {
                self.step(1 + ((v.len() + k.len()) / 1024) as u64, pos)?;
                let hit = match mt.kind {
                    MatchKind::Is => c.equals(v, k),
                    MatchKind::Contains => c.contains(v, k),
                    MatchKind::Value(rel) => relate(c, rel, v, k),
                    MatchKind::Matches => match wildcard(c, v, k) {
                        Some(captures) => {
                            if frame.program.variables {
                                frame.matches =
                                    std::iter::once(v.clone()).chain(captures).collect();
                            }
                            true
                        }
                        None => false,
                    },
                    MatchKind::Count(_) => unreachable!("handled above"),
                };
                if hit {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// `:index` / `:last` (RFC 5260 §6): the one field counted from the first or the last.
fn select(values: Vec<String>, index: Option<Index>) -> Vec<String> {
    let Some(Index { n, last }) = index else {
        return values;
    };
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n == 0 || n > values.len() {
        return Vec::new();
    }
    let i = if last { values.len() - n } else { n - 1 };
    values.into_iter().nth(i).into_iter().collect()
}

/// RFC 5173 §5.2: "" matches every part, "type" every subtype of it, "type/subtype" only that,
/// and a type that starts or ends with "/" or has two of them nothing.
fn content_matches(wanted: &str, content_type: &str) -> bool {
    if wanted.is_empty() {
        return true;
    }
    if wanted.starts_with('/') || wanted.ends_with('/') || wanted.matches('/').count() > 1 {
        return false;
    }
    if wanted.contains('/') {
        wanted == content_type
    } else {
        content_type.split('/').next() == Some(wanted)
    }
}

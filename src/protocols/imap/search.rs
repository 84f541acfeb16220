//! SEARCH and UID SEARCH (RFC 3501 §6.4.4) with ESEARCH results (RFC 4731).
//!
//! Header, BODY and TEXT keys give the sets Dovecot 2.3 gives (module `mime` says how text is
//! decoded and compared). Dates ignore time and zone, as §6.4.4 asks: INTERNALDATE is the file's
//! mtime (UTC day), the sent date the Date: field's own calendar day.

use std::cell::OnceCell;

use mail_parser::MessageParser;
use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::command::{SearchKey, SearchReturnOption};
use mailwright_imap_proto::types::datetime::{Date, DateTime};
use mailwright_imap_proto::types::response::{Data, ESearchItem, Response};
use mailwright_imap_proto::{IString, Tag};
use mailwright_maildir::Flag as MdFlag;

use super::fetch::{Loaded, load};
use super::mime::{HeaderMatch, header_contains, message_contains, normalize};
use super::selected::{Selected, nz, uid_set};

struct Ctx<'a> {
    sel: &'a Selected,
    i: usize,
    now: i64,
    loaded: OnceCell<Option<Loaded>>,
}

impl Ctx<'_> {
    fn text(&self) -> Option<&Loaded> {
        self.loaded
            .get_or_init(|| load(&self.sel.maildir, &self.sel.msgs[self.i].entry))
            .as_ref()
    }
    fn message(&self) -> Option<Message<'_>> {
        self.text().map(|l| Message::parse(&l.text))
    }
    fn header(&self) -> &[u8] {
        match self.text() {
            Some(l) => {
                let m = Message::parse(&l.text);
                &l.text[m.root().header()]
            }
            None => &[],
        }
    }
}

fn day_of(d: Date) -> i64 {
    DateTime::new(d, 0, 0, 0, 0).map_or(0, |t| t.unix_timestamp().div_euclid(86_400))
}

/// A header key: `name` holds `value` (compared as `how` says).
fn header_key(ctx: &Ctx<'_>, name: &str, value: &str, how: HeaderMatch) -> bool {
    ctx.message()
        .is_some_and(|m| header_contains(&m, name, &normalize(value.as_bytes()), how))
}

/// BODY (`headers == false`) or TEXT; the empty key matches every message, as in Dovecot.
fn text_key(ctx: &Ctx<'_>, value: &str, headers: bool) -> bool {
    if value.is_empty() {
        return true;
    }
    let key = normalize(value.as_bytes());
    // A key that normalises to nothing matches nothing.
    !key.is_empty()
        && ctx
            .message()
            .is_some_and(|m| message_contains(&m, &key, headers))
}

/// The day of the Date: field; a message without a (valid) one counts as sent on 1-Jan-1970,
/// as Dovecot does.
fn sent_day(ctx: &Ctx<'_>) -> i64 {
    MessageParser::new()
        .parse_headers(ctx.header())
        .and_then(|m| m.date().copied())
        .and_then(|d| Date::new(d.year, d.month, d.day).ok())
        .map_or(0, day_of)
}

fn astr(a: &mailwright_imap_proto::AString<'_>) -> String {
    String::from_utf8_lossy(a.as_bytes()).into_owned()
}

fn keyword(ctx: &Ctx<'_>, name: &str) -> bool {
    let flags = ctx.sel.msgs[ctx.i].entry.flags();
    if name.eq_ignore_ascii_case("$Forwarded") && flags.contains(MdFlag::Passed) {
        return true;
    }
    ctx.sel
        .keywords
        .index_of(name)
        .is_some_and(|k| flags.keyword_indexes().any(|x| x == k))
}

#[allow(clippy::too_many_lines)]
fn eval(key: &SearchKey<'_>, ctx: &Ctx<'_>) -> bool {
    let m = &ctx.sel.msgs[ctx.i];
    let flags = m.entry.flags();
    let recent = ctx.sel.recent.contains(&m.uid);
    let internal_day = || ctx.text().map_or(0, |l| l.internal.div_euclid(86_400));
    match key {
        SearchKey::All => true,
        SearchKey::Answered => flags.contains(MdFlag::Replied),
        SearchKey::Unanswered => !flags.contains(MdFlag::Replied),
        SearchKey::Deleted => flags.contains(MdFlag::Trashed),
        SearchKey::Undeleted => !flags.contains(MdFlag::Trashed),
        SearchKey::Draft => flags.contains(MdFlag::Draft),
        SearchKey::Undraft => !flags.contains(MdFlag::Draft),
        SearchKey::Flagged => flags.contains(MdFlag::Flagged),
        SearchKey::Unflagged => !flags.contains(MdFlag::Flagged),
        SearchKey::Seen => flags.contains(MdFlag::Seen),
        SearchKey::Unseen => !flags.contains(MdFlag::Seen),
        SearchKey::Recent => recent,
        SearchKey::Old => !recent,
        SearchKey::New => recent && !flags.contains(MdFlag::Seen),
        SearchKey::Keyword(k) => keyword(ctx, k.as_str()),
        SearchKey::Unkeyword(k) => !keyword(ctx, k.as_str()),
        SearchKey::Bcc(s) => header_key(ctx, "Bcc", &astr(s), HeaderMatch::Address),
        SearchKey::Cc(s) => header_key(ctx, "Cc", &astr(s), HeaderMatch::Address),
        SearchKey::From(s) => header_key(ctx, "From", &astr(s), HeaderMatch::Address),
        SearchKey::To(s) => header_key(ctx, "To", &astr(s), HeaderMatch::Address),
        SearchKey::Subject(s) => header_key(ctx, "Subject", &astr(s), HeaderMatch::CompressSpace),
        SearchKey::Header(f, s) => header_key(ctx, &astr(f), &astr(s), HeaderMatch::Raw),
        SearchKey::Body(s) => text_key(ctx, &astr(s), false),
        SearchKey::Text(s) => text_key(ctx, &astr(s), true),
        SearchKey::Before(d) => internal_day() < day_of(*d),
        SearchKey::On(d) => internal_day() == day_of(*d),
        SearchKey::Since(d) => internal_day() >= day_of(*d),
        SearchKey::SentBefore(d) => sent_day(ctx) < day_of(*d),
        SearchKey::SentOn(d) => sent_day(ctx) == day_of(*d),
        SearchKey::SentSince(d) => sent_day(ctx) >= day_of(*d),
        SearchKey::Larger(n) => size(ctx) > u64::from(*n),
        SearchKey::Smaller(n) => size(ctx) < u64::from(*n),
        SearchKey::Not(k) => !eval(k, ctx),
        SearchKey::Or(a, b) => eval(a, ctx) || eval(b, ctx),
        SearchKey::And(keys) => keys.iter().all(|k| eval(k, ctx)),
        SearchKey::SequenceSet(set) => set.contains(
            u32::try_from(ctx.i + 1).unwrap_or(u32::MAX),
            ctx.sel.exists(),
        ),
        SearchKey::Uid(set) => set.contains(m.uid, ctx.sel.msgs.last().map_or(0, |l| l.uid)),
        SearchKey::ModSeq { modseq, .. } => m.modseq >= *modseq,
        SearchKey::Older(n) => ctx
            .text()
            .is_some_and(|l| l.internal <= ctx.now - i64::from(n.get())),
        SearchKey::Younger(n) => ctx
            .text()
            .is_some_and(|l| l.internal >= ctx.now - i64::from(n.get())),
        _ => false,
    }
}

fn size(ctx: &Ctx<'_>) -> u64 {
    match ctx.sel.msgs[ctx.i].entry.vsize() {
        Some(v) => v,
        None => ctx.text().map_or(0, |l| l.text.len() as u64),
    }
}

/// Indexes of the messages matching every key.
pub(crate) fn search(sel: &Selected, keys: &[SearchKey<'_>]) -> Vec<usize> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    (0..sel.msgs.len())
        .filter(|&i| {
            let ctx = Ctx {
                sel,
                i,
                now,
                loaded: OnceCell::new(),
            };
            keys.iter().all(|k| eval(k, &ctx))
        })
        .collect()
}

/// The SEARCH or ESEARCH response for the matches.
pub(crate) fn response(
    sel: &Selected,
    hits: &[usize],
    uid: bool,
    returns: Option<&[SearchReturnOption]>,
    tag: &Tag<'_>,
    modseq_wanted: bool,
) -> Response<'static> {
    let numbers: Vec<u32> = hits
        .iter()
        .map(|&i| {
            if uid {
                sel.msgs[i].uid
            } else {
                u32::try_from(i + 1).unwrap_or(u32::MAX)
            }
        })
        .collect();
    // RFC 7162 §3.1.5: a search with MODSEQ reports the highest mod-sequence of the matches.
    let modseq = modseq_wanted
        .then(|| hits.iter().map(|&i| sel.msgs[i].modseq).max())
        .flatten();
    let Some(returns) = returns else {
        return Response::Data(Data::Search {
            ids: numbers.iter().map(|n| nz(*n as usize)).collect(),
            modseq,
        });
    };
    // RFC 4731 §3.1: RETURN () means RETURN (ALL).
    let all = [SearchReturnOption::All];
    let returns = if returns.is_empty() {
        &all[..]
    } else {
        returns
    };
    let mut items = Vec::new();
    for r in returns {
        match r {
            SearchReturnOption::Min => {
                if let Some(m) = numbers.iter().min() {
                    items.push(ESearchItem::Min(nz(*m as usize)));
                }
            }
            SearchReturnOption::Max => {
                if let Some(m) = numbers.iter().max() {
                    items.push(ESearchItem::Max(nz(*m as usize)));
                }
            }
            SearchReturnOption::Count => {
                items.push(ESearchItem::Count(
                    u32::try_from(numbers.len()).unwrap_or(u32::MAX),
                ));
            }
            SearchReturnOption::All => {
                let mut sorted = numbers.clone();
                sorted.sort_unstable();
                if let Some(set) = uid_set(&sorted) {
                    items.push(ESearchItem::All(set));
                }
            }
            SearchReturnOption::Save => {}
        }
    }
    if let Some(m) = modseq {
        items.push(ESearchItem::ModSeq(m));
    }
    Response::Data(Data::ESearch {
        tag: IString::from_bytes(tag.as_str().as_bytes().to_vec()).ok(),
        uid,
        items,
    })
}

/// Whether a MODSEQ key appears anywhere in the criteria.
pub(crate) fn uses_modseq(keys: &[SearchKey<'_>]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b))
        }
        SearchKey::And(v) => uses_modseq(v),
        _ => false,
    })
}

//! SEARCH and UID SEARCH (RFC 3501 §6.4.4) with ESEARCH results (RFC 4731).
//!
//! Header, BODY and TEXT keys give the sets Dovecot 2.3 gives (module `mime` says how text is
//! decoded and compared). Dates ignore time and zone, as §6.4.4 asks: INTERNALDATE is the file's
//! mtime (UTC day), the sent date the Date: field's own calendar day.
//!
//! What a SEARCH reads of each message, at most once, and only when a key asks:
//! - flags, keywords, UIDs, MODSEQs, sequence numbers and sizes (LARGER, SMALLER) are the
//!   session's view; INTERNALDATE (BEFORE, ON, SINCE, OLDER, YOUNGER) is the store's, without
//!   reading the message (a `stat` in the Maildir store): these keys never read a message;
//! - header keys (FROM, SUBJECT, HEADER, SENTBEFORE ...) take the header block from the store's
//!   index (a message not indexed yet is read once and indexed), and split it into fields
//!   once, however many keys look at it; FROM, TO, CC and SUBJECT compare the values the
//!   folder keeps (module `keys`), worked out of the header the first time;
//! - BODY and TEXT read and parse the whole message once.
//!
//! Keys are tried cheapest first, so `SINCE 1-Jan-2026 FROM ann` reads the headers of the
//! messages since that day only.

use std::cell::OnceCell;
use std::io::Read;
use std::sync::Arc;

use super::fetch::{Loaded, internal_date, load, open, to_crlf};
use super::keys::{Keys, SEARCHED};
use super::mime::{HeaderMatch, header_contains, message_contains, normalize};
use super::selected::{Selected, nz, uid_set};
use crate::store::Flag;
use crate::store::summary::{HeaderKeys, Summary};
use mailwright_imap_proto::structure::{Field, Message, fields};
use mailwright_imap_proto::types::command::{SearchKey, SearchReturnOption};
use mailwright_imap_proto::types::datetime::{Date, DateTime};
use mailwright_imap_proto::types::response::{Data, ESearchItem, Response};
use mailwright_imap_proto::{IString, Tag};

/// What a key needs of a message beyond the session's view, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cost {
    /// Flags, UIDs, sequence numbers, MODSEQ: in memory.
    View,
    /// The store's internal date, without reading the message.
    Meta,
    /// The header, read up to its empty line.
    Header,
    /// The whole message, parsed.
    Text,
}

fn cost(key: &SearchKey<'_>) -> Cost {
    match key {
        SearchKey::Before(_)
        | SearchKey::On(_)
        | SearchKey::Since(_)
        | SearchKey::Older(_)
        | SearchKey::Younger(_)
        | SearchKey::Larger(_)
        | SearchKey::Smaller(_) => Cost::Meta,
        SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Subject(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => Cost::Header,
        SearchKey::Body(_) | SearchKey::Text(_) => Cost::Text,
        SearchKey::Not(k) => cost(k),
        SearchKey::Or(a, b) => cost(a).max(cost(b)),
        SearchKey::And(keys) => keys.iter().map(cost).max().unwrap_or(Cost::View),
        _ => Cost::View,
    }
}

/// What the keys have read of one message, each piece at most once.
#[derive(Default)]
struct Read1 {
    /// The header block (CRLF), when no key needs the whole text.
    header: OnceCell<Option<Vec<u8>>>,
    text: OnceCell<Option<Loaded>>,
}

/// One message under evaluation.
struct Ctx<'a> {
    sel: &'a Selected,
    i: usize,
    now: i64,
    /// Some key needs the whole text: the header comes from it, not from a read of its own.
    whole: bool,
    read: &'a Read1,
    /// The folder's kept header keys.
    keys: &'a Keys<'a>,
    header_keys: OnceCell<Arc<HeaderKeys>>,
    internal: OnceCell<Option<i64>>,
    fields: OnceCell<Vec<Field<'a>>>,
    message: OnceCell<Option<Message<'a>>>,
}

impl<'a> Ctx<'a> {
    fn internal(&self) -> Option<i64> {
        *self.internal.get_or_init(|| {
            #[cfg(test)]
            tests::count(|c| c.stats += 1);
            internal_date(&*self.sel.mailbox, self.sel.msgs[self.i].uid)
        })
    }
    fn text(&self) -> Option<&'a Loaded> {
        self.read
            .text
            .get_or_init(|| {
                #[cfg(test)]
                tests::count(|c| c.texts += 1);
                load(&*self.sel.mailbox, self.sel.msgs[self.i].uid)
            })
            .as_ref()
    }
    /// The header block, or (when the text is read anyway) the text, whose fields end at the
    /// header's empty line.
    fn header(&self) -> &'a [u8] {
        self.header_opt().unwrap_or_default()
    }
    /// [`header`](Self::header), `None` when the message is gone.
    fn header_opt(&self) -> Option<&'a [u8]> {
        if self.whole {
            return self.text().map(|l| &l.text[..]);
        }
        self.read
            .header
            .get_or_init(|| {
                #[cfg(test)]
                tests::count(|c| c.headers += 1);
                indexed_header(self.sel, self.i)
            })
            .as_deref()
    }
    /// The folder's kept keys of the message, or else worked out of its header.
    fn header_keys(&self) -> &HeaderKeys {
        self.header_keys
            .get_or_init(|| self.keys.get_or(self.i, || self.header_opt()))
    }
    /// The top-level header fields, split once.
    fn fields(&self) -> &[Field<'a>] {
        self.fields.get_or_init(|| {
            #[cfg(test)]
            tests::count(|c| c.splits += 1);
            fields(self.header()).collect()
        })
    }
    fn message(&self) -> Option<&Message<'a>> {
        self.message
            .get_or_init(|| {
                #[cfg(test)]
                tests::count(|c| c.parses += 1);
                self.text().map(|l| Message::parse(&l.text))
            })
            .as_ref()
    }
}

/// A message's header block up to and with its empty line, as CRLF text: the store's index's
/// (a message not indexed yet is read, summarised and indexed); `None` if the message is gone.
pub(crate) fn indexed_header(sel: &Selected, i: usize) -> Option<Vec<u8>> {
    if let Some(blob) = super::fetch::summary_blob(&*sel.mailbox, sel.msgs[i].uid)
        && let Some((_, header)) = Summary::header_of(&blob)
    {
        return Some(header.to_vec());
    }
    read_header(sel, i)
}

/// A message's header block up to and with its empty line, as CRLF text; `None` if the message
/// is gone. Reads no further than the header.
pub(crate) fn read_header(sel: &Selected, i: usize) -> Option<Vec<u8>> {
    let mut file = open(&*sel.mailbox, sel.msgs[i].uid)?.text;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // The empty line may start in the previous chunk.
        let from = raw.len().saturating_sub(2);
        let n = file.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = header_end(&raw, from) {
            raw.truncate(end);
            break;
        }
    }
    Some(to_crlf(&raw))
}

/// The end of the empty line that ends a header, looking from `from` on.
fn header_end(raw: &[u8], from: usize) -> Option<usize> {
    if raw.starts_with(b"\n") {
        return Some(1);
    }
    if raw.starts_with(b"\r\n") {
        return Some(2);
    }
    let mut at = from;
    while let Some(lf) = raw[at..].iter().position(|&c| c == b'\n').map(|p| at + p) {
        match raw.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if raw.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
    None
}

fn day_of(d: Date) -> i64 {
    DateTime::new(d, 0, 0, 0, 0).map_or(0, |t| t.unix_timestamp().div_euclid(86_400))
}

/// A header key: `name` holds `value` (compared as `how` says). FROM, TO, CC and SUBJECT
/// compare the folder's kept values ([`HeaderKeys::search`]) when it keeps them.
fn header_key(ctx: &Ctx<'_>, name: &str, value: &str, how: HeaderMatch) -> bool {
    let key = normalize(value.as_bytes());
    if let Some(n) = SEARCHED.iter().position(|&(f, h)| f == name && h == how) {
        return ctx.header_keys().search[n]
            .iter()
            .any(|v| key.is_empty() || v.contains(&key));
    }
    header_contains(ctx.fields(), name, &key, how)
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
            .is_some_and(|m| message_contains(m, &key, headers))
}

/// The day of the (last) Date: field; a message without a (valid) one counts as sent on
/// 1-Jan-1970, as Dovecot does.
fn sent_day(ctx: &Ctx<'_>) -> i64 {
    ctx.fields()
        .iter()
        .rev()
        .find(|f| f.name.eq_ignore_ascii_case(b"Date"))
        .and_then(|f| mail_parser::DateTime::parse_rfc822(&String::from_utf8_lossy(f.value)))
        .and_then(|d| Date::new(d.year, d.month, d.day).ok())
        .map_or(0, day_of)
}

fn astr(a: &mailwright_imap_proto::AString<'_>) -> String {
    String::from_utf8_lossy(a.as_bytes()).into_owned()
}

/// KEYWORD: by name, case-insensitively.
fn keyword(ctx: &Ctx<'_>, name: &str) -> bool {
    ctx.sel.msgs[ctx.i]
        .keywords
        .iter()
        .any(|k| k.eq_ignore_ascii_case(name))
}

#[allow(clippy::too_many_lines)]
fn eval(key: &SearchKey<'_>, ctx: &Ctx<'_>) -> bool {
    let m = &ctx.sel.msgs[ctx.i];
    let flags = m.flags;
    let recent = ctx.sel.recent.contains(&m.uid);
    let internal_day = || ctx.internal().unwrap_or(0).div_euclid(86_400);
    match key {
        SearchKey::All => true,
        SearchKey::Answered => flags.contains(Flag::Answered),
        SearchKey::Unanswered => !flags.contains(Flag::Answered),
        SearchKey::Deleted => flags.contains(Flag::Deleted),
        SearchKey::Undeleted => !flags.contains(Flag::Deleted),
        SearchKey::Draft => flags.contains(Flag::Draft),
        SearchKey::Undraft => !flags.contains(Flag::Draft),
        SearchKey::Flagged => flags.contains(Flag::Flagged),
        SearchKey::Unflagged => !flags.contains(Flag::Flagged),
        SearchKey::Seen => flags.contains(Flag::Seen),
        SearchKey::Unseen => !flags.contains(Flag::Seen),
        SearchKey::Recent => recent,
        SearchKey::Old => !recent,
        SearchKey::New => recent && !flags.contains(Flag::Seen),
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
        SearchKey::Or(a, b) => {
            let (first, second) = if cost(a) <= cost(b) { (a, b) } else { (b, a) };
            eval(first, ctx) || eval(second, ctx)
        }
        SearchKey::And(keys) => all(keys, ctx),
        SearchKey::SequenceSet(set) => ctx.sel.in_set(set, ctx.i, false),
        SearchKey::Uid(set) => ctx.sel.in_set(set, ctx.i, true),
        SearchKey::ModSeq { modseq, .. } => m.modseq >= *modseq,
        SearchKey::Older(n) => ctx
            .internal()
            .is_some_and(|t| t <= ctx.now - i64::from(n.get())),
        SearchKey::Younger(n) => ctx
            .internal()
            .is_some_and(|t| t >= ctx.now - i64::from(n.get())),
        _ => false,
    }
}

/// Whether every key holds, the cheapest tried first.
fn all(keys: &[SearchKey<'_>], ctx: &Ctx<'_>) -> bool {
    let mut order: Vec<&SearchKey<'_>> = keys.iter().collect();
    order.sort_by_key(|k| cost(k));
    order.into_iter().all(|k| eval(k, ctx))
}

/// RFC822.SIZE: the store's; read only when it has none.
fn size(ctx: &Ctx<'_>) -> u64 {
    match ctx.sel.msgs[ctx.i].size {
        Some(v) => v,
        None => ctx.text().map_or(0, |l| l.text.len() as u64),
    }
}

/// Indexes of the messages matching every key.
pub(crate) fn search(sel: &Selected, keys: &[SearchKey<'_>]) -> Vec<usize> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let whole = keys.iter().any(|k| cost(k) == Cost::Text);
    let kept = Keys::new(sel);
    (0..sel.msgs.len())
        .filter(|&i| {
            let read = Read1::default();
            let ctx = Ctx {
                sel,
                i,
                now,
                whole,
                read: &read,
                keys: &kept,
                header_keys: OnceCell::new(),
                internal: OnceCell::new(),
                fields: OnceCell::new(),
                message: OnceCell::new(),
            };
            all(keys, &ctx)
        })
        .collect()
}

/// The SEARCH (or with `sort`, SORT) response for `ordered`, or with RETURN the ESEARCH one.
/// `ordered` is the result's order: ascending for SEARCH, the sort order for SORT, so MIN and MAX
/// are its first and last and ALL lists it in that order (RFC 5267 §3; for SEARCH the same as
/// the smallest, the largest and ascending).
pub(crate) fn response(
    sel: &Selected,
    ordered: &[usize],
    uid: bool,
    returns: Option<&[SearchReturnOption]>,
    tag: &Tag<'_>,
    modseq_wanted: bool,
    sort: bool,
) -> Response<'static> {
    let numbers: Vec<u32> = ordered
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
        .then(|| ordered.iter().map(|&i| sel.msgs[i].modseq).max())
        .flatten();
    let Some(returns) = returns else {
        let ids = numbers.iter().map(|n| nz(*n as usize)).collect();
        return Response::Data(if sort {
            Data::Sort { ids, modseq }
        } else {
            Data::Search { ids, modseq }
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
                if let Some(m) = numbers.first() {
                    items.push(ESearchItem::Min(nz(*m as usize)));
                }
            }
            SearchReturnOption::Max => {
                if let Some(m) = numbers.last() {
                    items.push(ESearchItem::Max(nz(*m as usize)));
                }
            }
            SearchReturnOption::Count => {
                items.push(ESearchItem::Count(
                    u32::try_from(numbers.len()).unwrap_or(u32::MAX),
                ));
            }
            SearchReturnOption::All => {
                if let Some(set) = uid_set(&numbers) {
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

/// The UIDs `RETURN (SAVE)` saves of `hits` (RFC 5182 §2.4): with MIN or MAX but neither ALL nor
/// COUNT, only the minimum and maximum asked for; else all. `first`/`last` are those of the
/// result's order (ascending for SEARCH, the sort order for SORT, RFC 5267 §3).
pub(crate) fn saved(sel: &Selected, hits: &[usize], returns: &[SearchReturnOption]) -> Vec<u32> {
    use SearchReturnOption as R;
    let uids = hits.iter().map(|&i| sel.msgs[i].uid);
    if returns.iter().any(|r| matches!(r, R::All | R::Count))
        || !returns.iter().any(|r| matches!(r, R::Min | R::Max))
    {
        return uids.collect();
    }
    let mut out = Vec::new();
    if returns.contains(&R::Min)
        && let Some(&i) = hits.first()
    {
        out.push(sel.msgs[i].uid);
    }
    if returns.contains(&R::Max)
        && let Some(&i) = hits.last()
    {
        out.push(sel.msgs[i].uid);
    }
    out
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::{Duration, UNIX_EPOCH};

    use mailwright_imap_proto::AString;
    use mailwright_maildir::{DeliveryOptions, Flag, Flags, Maildir};

    use super::*;

    /// What the keys of a SEARCH read of the messages, counted on this thread.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub(super) struct Reads {
        pub(super) stats: usize,
        pub(super) headers: usize,
        pub(super) splits: usize,
        pub(super) texts: usize,
        pub(super) parses: usize,
    }

    thread_local! {
        static READS: Cell<Reads> = Cell::new(Reads::default());
    }

    pub(super) fn count(f: impl FnOnce(&mut Reads)) {
        READS.with(|c| {
            let mut r = c.get();
            f(&mut r);
            c.set(r);
        });
    }

    fn run(sel: &Selected, keys: &[SearchKey<'_>]) -> (Vec<usize>, Reads) {
        READS.with(|c| c.set(Reads::default()));
        let hits = search(sel, keys);
        (hits, READS.with(Cell::get))
    }

    /// `n` messages: from `ann<i % 5>`, subject `note <i>`, body `body <i>`; INTERNALDATE in
    /// 2020 for even `i`, 2025 for odd; `\Deleted` when `i % 3 == 0`.
    fn mailbox(name: &str, n: usize) -> (std::path::PathBuf, Selected) {
        let dir = std::env::temp_dir().join(format!("mw-search-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut md = Maildir::create(&dir).unwrap();
        md.set_fsync(false);
        for i in 0..n {
            let text = format!(
                "From: ann{} <ann{}@example.com>\nSubject: note {i}\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n\nbody {i}\n",
                i % 5,
                i % 5
            );
            let year_secs = if i % 2 == 0 {
                1_577_836_800
            } else {
                1_748_736_000
            };
            let mut flags = Flags::empty();
            if i % 3 == 0 {
                flags.insert(Flag::Trashed);
            }
            let opts = DeliveryOptions {
                flags: Some(flags),
                internal_date: Some(UNIX_EPOCH + Duration::from_secs(year_secs + i as u64)),
                ..DeliveryOptions::default()
            };
            md.deliver_with(text.as_bytes(), opts).unwrap();
        }
        let (mailbox, view) = crate::store::maildir::MaildirMailbox::open(
            md.clone(),
            md,
            true,
            crate::store::MailboxName::inbox(),
            "u@x.test".parse().unwrap(),
            std::sync::Arc::default(),
        )
        .unwrap();
        let sel = Selected::open(Box::new(mailbox), view);
        (dir, sel)
    }

    fn date(y: u16, m: u8, d: u8) -> Date {
        Date::new(y, m, d).unwrap()
    }

    fn astring(s: &str) -> AString<'static> {
        AString::from_bytes(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn dates_sizes_and_flags_open_no_message() {
        let (dir, sel) = mailbox("meta", 500);
        let keys = [
            SearchKey::Since(date(2024, 1, 1)),
            SearchKey::Not(Box::new(SearchKey::Deleted)),
            SearchKey::Larger(10),
        ];
        let (hits, reads) = run(&sel, &keys);
        let want: Vec<usize> = (0..500).filter(|i| i % 2 == 1 && i % 3 != 0).collect();
        assert_eq!(hits, want);
        // NOT DELETED is decided first, so only the 333 others are `stat`ed.
        assert_eq!(
            reads,
            Reads {
                stats: 333,
                ..Reads::default()
            }
        );
        let (hits, reads) = run(
            &sel,
            &[SearchKey::Before(date(2024, 1, 1)), SearchKey::Flagged],
        );
        assert!(hits.is_empty());
        assert_eq!(
            reads,
            Reads::default(),
            "the flag decides before the date is looked at"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn header_keys_read_and_split_each_header_once() {
        let (dir, sel) = mailbox("header", 100);
        let keys = [
            SearchKey::From(astring("ann1")),
            SearchKey::Subject(astring("note")),
            SearchKey::Header(astring("Subject"), astring("NOTE")),
            SearchKey::Or(
                Box::new(SearchKey::SentBefore(date(1995, 1, 1))),
                Box::new(SearchKey::To(astring("nobody"))),
            ),
        ];
        let (hits, reads) = run(&sel, &keys);
        assert_eq!(hits, (0..100).filter(|i| i % 5 == 1).collect::<Vec<_>>());
        // FROM and SUBJECT take the folder's kept values (worked out of the header read
        // here); only the 20 messages FROM leaves have their fields split for HEADER.
        assert_eq!(
            reads,
            Reads {
                headers: 100,
                splits: 20,
                ..Reads::default()
            }
        );
        // FROM's values are kept in the folder now: no header read again.
        let (_, reads) = run(&sel, &[SearchKey::From(astring("ann2"))]);
        assert_eq!(reads, Reads::default());
        // The cheap key first: only the messages since 2024 have their header read (in a
        // folder whose keys are not kept yet).
        let (fresh_dir, fresh) = mailbox("header-fresh", 100);
        let keys = [
            SearchKey::From(astring("ann1")),
            SearchKey::Since(date(2024, 1, 1)),
        ];
        let (hits, reads) = run(&fresh, &keys);
        assert_eq!(hits, (0..100).filter(|i| i % 10 == 1).collect::<Vec<_>>());
        assert_eq!((reads.stats, reads.headers, reads.texts), (100, 50, 0));
        let _ = std::fs::remove_dir_all(fresh_dir);
        // BODY reads and parses the message once; the header keys take it from there.
        let keys = [
            SearchKey::Body(astring("body 7")),
            SearchKey::From(astring("ann")),
            SearchKey::SentOn(date(1994, 2, 7)),
        ];
        let (hits, reads) = run(&sel, &keys);
        let want: Vec<usize> = std::iter::once(7).chain(70..80).collect();
        assert_eq!(hits, want);
        assert_eq!(
            reads,
            Reads {
                splits: 100,
                texts: 100,
                parses: 100,
                ..Reads::default()
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_header_ends_at_its_empty_line_across_reads() {
        assert_eq!(header_end(b"\nbody", 0), Some(1));
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"A: b\n c\n", 0), None);
        assert_eq!(header_end(b"A: b\n\r\n", 3), Some(7));
    }
}

//! Constructors for the commands and search keys a client writes by hand, so that
//! `CommandBody::fetch(set, [FetchAttribute::Envelope, FetchAttribute::Flags])` replaces a
//! struct variant with a hand-built [`Vec1`].
//!
//! Builders that take values already typed cannot fail. Builders that take free text return
//! `Result<_, ValidationError>`: NUL is the one octet no IMAP string can carry (RFC 3501 §4.3,
//! `CHAR8`), and keywords must be atoms. Mailbox names are Unicode text, encoded to modified
//! UTF-7 ([`IntoMailbox`]).

use std::num::NonZeroU32;

use mailwright_sansio::Secret;

use super::ValidationError;
use super::command::{CommandBody, FetchAttribute, FetchItems, SearchKey, StatusItem, StoreKind};
use super::core::{AString, Atom, Literal, LiteralMode, Vec1};
use super::datetime::Date;
use super::flag::Flag;
use super::mailbox::{IntoMailbox, ListMailbox, encode_modified_utf7};
use super::sequence::SequenceSet;

impl<'a> From<FetchAttribute<'a>> for FetchItems<'a> {
    /// One attribute, written without parentheses.
    fn from(attribute: FetchAttribute<'a>) -> Self {
        FetchItems::Single(attribute)
    }
}

impl<'a, const N: usize> From<[FetchAttribute<'a>; N]> for FetchItems<'a> {
    /// A parenthesised list; an empty array does not compile.
    fn from(attributes: [FetchAttribute<'a>; N]) -> Self {
        FetchItems::List(Vec1::from(attributes))
    }
}

impl<'a> From<Vec1<FetchAttribute<'a>>> for FetchItems<'a> {
    /// A parenthesised list.
    fn from(attributes: Vec1<FetchAttribute<'a>>) -> Self {
        FetchItems::List(attributes)
    }
}

impl<'a> TryFrom<Vec<FetchAttribute<'a>>> for FetchItems<'a> {
    type Error = ValidationError;
    /// A parenthesised list; fails when `attributes` is empty.
    fn try_from(attributes: Vec<FetchAttribute<'a>>) -> Result<Self, ValidationError> {
        Vec1::try_from(attributes).map(FetchItems::List)
    }
}

/// Free text as an `astring`, in the lightest form that carries it.
fn astring(text: &str) -> Result<AString<'_>, ValidationError> {
    AString::try_from(text)
}

impl<'a> CommandBody<'a> {
    /// `LOGIN username password` (RFC 3501 §6.2.3). The password's `Debug` prints `***`.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// let login = CommandBody::login("alice", "correct horse")?;
    /// assert_eq!(login.to_bytes(), b"LOGIN alice \"correct horse\"");
    /// assert!(!format!("{login:?}").contains("horse"));
    /// assert!(CommandBody::login("alice", "nul\0").is_err());
    /// # Ok::<(), mailwright_imap_proto::ValidationError>(())
    /// ```
    pub fn login(username: &'a str, password: &'a str) -> Result<Self, ValidationError> {
        Ok(CommandBody::Login {
            username: astring(username)?,
            password: Secret::new(astring(password)?),
        })
    }

    /// `SELECT mailbox` (RFC 3501 §6.3.1), without CONDSTORE.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::select("INBOX").to_bytes(), b"SELECT INBOX");
    /// // Unicode names are sent in modified UTF-7 (RFC 3501 §5.1.3).
    /// assert_eq!(CommandBody::select("Entwürfe").to_bytes(), b"SELECT Entw&APw-rfe");
    /// ```
    pub fn select(mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Select {
            mailbox: mailbox.into_mailbox(),
            condstore: false,
            qresync: None,
        }
    }

    /// `EXAMINE mailbox` (RFC 3501 §6.3.2): SELECT, read-only.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::examine("Sent Items").to_bytes(), b"EXAMINE \"Sent Items\"");
    /// ```
    pub fn examine(mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Examine {
            mailbox: mailbox.into_mailbox(),
            condstore: false,
            qresync: None,
        }
    }

    /// `CREATE mailbox` (RFC 3501 §6.3.3).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::create("Archive/2026").to_bytes(), b"CREATE Archive/2026");
    /// ```
    pub fn create(mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Create {
            mailbox: mailbox.into_mailbox(),
            special_use: None,
        }
    }

    /// `DELETE mailbox` (RFC 3501 §6.3.4).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::delete("Old").to_bytes(), b"DELETE Old");
    /// ```
    pub fn delete(mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Delete {
            mailbox: mailbox.into_mailbox(),
        }
    }

    /// `RENAME from to` (RFC 3501 §6.3.5).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::rename("Work", "Work 2025").to_bytes(), b"RENAME Work \"Work 2025\"");
    /// ```
    pub fn rename(from: impl IntoMailbox<'a>, to: impl IntoMailbox<'a>) -> Self {
        CommandBody::Rename {
            from: from.into_mailbox(),
            to: to.into_mailbox(),
        }
    }

    /// `LIST reference pattern` (RFC 3501 §6.3.8): `%` matches within one level of the
    /// hierarchy, `*` across levels. Both are Unicode text, encoded to modified UTF-7.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::list("", "*").to_bytes(), b"LIST \"\" *");
    /// ```
    pub fn list(reference: impl IntoMailbox<'a>, pattern: &str) -> Self {
        let pattern = ListMailbox::from_bytes(encode_modified_utf7(pattern).into_bytes())
            .expect("modified UTF-7 is printable ASCII, a valid list-mailbox");
        CommandBody::List {
            selection: None,
            reference: reference.into_mailbox(),
            patterns: Vec1::one(pattern),
            patterns_list: false,
            returns: None,
        }
    }

    /// `STATUS mailbox (items)` (RFC 3501 §6.3.10); an empty array of items does not compile.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, StatusItem};
    /// use mailwright_imap_proto::Encode;
    ///
    /// let status = CommandBody::status("INBOX", [StatusItem::Messages, StatusItem::Unseen]);
    /// assert_eq!(status.to_bytes(), b"STATUS INBOX (MESSAGES UNSEEN)");
    /// ```
    pub fn status(mailbox: impl IntoMailbox<'a>, items: impl Into<Vec1<StatusItem>>) -> Self {
        CommandBody::Status {
            mailbox: mailbox.into_mailbox(),
            items: items.into(),
        }
    }

    /// `APPEND mailbox [(flags)] message` (RFC 3501 §6.3.11): the message as a synchronizing
    /// literal (the client session waits for the server's `+`, or sends it at once where the
    /// server offers LITERAL+). No flags: no flag list. Fails when the message holds NUL.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::types::flag::Flag;
    /// use mailwright_imap_proto::Encode;
    ///
    /// let append = CommandBody::append("Sent", [Flag::Seen], b"Subject: hi\r\n\r\nhello\r\n")?;
    /// assert_eq!(append.to_bytes(), b"APPEND Sent (\\Seen) {22}\r\nSubject: hi\r\n\r\nhello\r\n");
    /// # Ok::<(), mailwright_imap_proto::ValidationError>(())
    /// ```
    pub fn append(
        mailbox: impl IntoMailbox<'a>,
        flags: impl IntoIterator<Item = Flag<'a>>,
        message: &'a [u8],
    ) -> Result<Self, ValidationError> {
        let flags: Vec<Flag<'a>> = flags.into_iter().collect();
        Ok(CommandBody::Append {
            mailbox: mailbox.into_mailbox(),
            flags: (!flags.is_empty()).then_some(flags),
            date: None,
            message: Literal::new(message, LiteralMode::Sync)?,
        })
    }

    /// `FETCH set items` (RFC 3501 §6.4.5). `items` is one [`FetchAttribute`], an array of them
    /// (sent in parentheses), a [`Vec1`], or a [`FetchItems`] macro (`FetchItems::Fast` ...).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, FetchAttribute};
    /// use mailwright_imap_proto::Encode;
    ///
    /// let fetch = CommandBody::fetch(
    ///     "1:*".parse()?,
    ///     [FetchAttribute::Envelope, FetchAttribute::BodyStructure],
    /// );
    /// assert_eq!(fetch.to_bytes(), b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)");
    /// let peek = CommandBody::fetch("7".parse()?, "BODY.PEEK[HEADER]".parse::<FetchAttribute>()?);
    /// assert_eq!(peek.to_bytes(), b"FETCH 7 BODY.PEEK[HEADER]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fetch(set: SequenceSet, items: impl Into<FetchItems<'a>>) -> Self {
        CommandBody::Fetch {
            uid: false,
            set,
            items: items.into(),
            changed_since: None,
            vanished: false,
        }
    }

    /// `UID FETCH set items` (RFC 3501 §6.4.8): [`CommandBody::fetch`] by UID.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, FetchAttribute};
    /// use mailwright_imap_proto::Encode;
    ///
    /// let fetch = CommandBody::uid_fetch("4827:*".parse()?, [FetchAttribute::Uid, FetchAttribute::Flags]);
    /// assert_eq!(fetch.to_bytes(), b"UID FETCH 4827:* (UID FLAGS)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uid_fetch(set: SequenceSet, items: impl Into<FetchItems<'a>>) -> Self {
        CommandBody::Fetch {
            uid: true,
            set,
            items: items.into(),
            changed_since: None,
            vanished: false,
        }
    }

    /// `SEARCH key` (RFC 3501 §6.4.4). The keys of a [`SearchKey::and`] are sent side by side
    /// (`SEARCH UNSEEN SINCE 1-Feb-2026`), as the grammar ANDs them.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, SearchKey};
    /// use mailwright_imap_proto::Encode;
    ///
    /// let search = CommandBody::search(SearchKey::and([
    ///     SearchKey::Unseen,
    ///     SearchKey::since("1-Feb-2026".parse()?),
    ///     SearchKey::or(SearchKey::from("alice@example.org")?, SearchKey::subject("invoice")?),
    /// ]));
    /// assert_eq!(
    ///     search.to_bytes(),
    ///     b"SEARCH UNSEEN SINCE 1-Feb-2026 OR FROM alice@example.org SUBJECT invoice"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn search(key: SearchKey<'a>) -> Self {
        Self::search_with(false, key)
    }

    /// `UID SEARCH key` (RFC 3501 §6.4.8): [`CommandBody::search`], answered with UIDs.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, SearchKey};
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::uid_search(SearchKey::Flagged).to_bytes(), b"UID SEARCH FLAGGED");
    /// ```
    pub fn uid_search(key: SearchKey<'a>) -> Self {
        Self::search_with(true, key)
    }

    fn search_with(uid: bool, key: SearchKey<'a>) -> Self {
        let criteria = match key {
            SearchKey::And(keys) => keys,
            key => Vec1::one(key),
        };
        CommandBody::Search {
            uid,
            returns: None,
            charset: None,
            criteria,
        }
    }

    /// `STORE set [+-]FLAGS (flags)` (RFC 3501 §6.4.6), answered with the new flags (not
    /// `.SILENT`).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, StoreKind};
    /// use mailwright_imap_proto::types::flag::Flag;
    /// use mailwright_imap_proto::Encode;
    ///
    /// let store = CommandBody::store("2:4".parse()?, StoreKind::Add, [Flag::Seen, Flag::Flagged]);
    /// assert_eq!(store.to_bytes(), b"STORE 2:4 +FLAGS (\\Seen \\Flagged)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(
        set: SequenceSet,
        kind: StoreKind,
        flags: impl IntoIterator<Item = Flag<'a>>,
    ) -> Self {
        Self::store_with(false, set, kind, flags)
    }

    /// `UID STORE set [+-]FLAGS (flags)` (RFC 3501 §6.4.8): [`CommandBody::store`] by UID.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{CommandBody, StoreKind};
    /// use mailwright_imap_proto::Encode;
    ///
    /// let store = CommandBody::uid_store("10".parse()?, StoreKind::Replace, []);
    /// assert_eq!(store.to_bytes(), b"UID STORE 10 FLAGS ()");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uid_store(
        set: SequenceSet,
        kind: StoreKind,
        flags: impl IntoIterator<Item = Flag<'a>>,
    ) -> Self {
        Self::store_with(true, set, kind, flags)
    }

    fn store_with(
        uid: bool,
        set: SequenceSet,
        kind: StoreKind,
        flags: impl IntoIterator<Item = Flag<'a>>,
    ) -> Self {
        CommandBody::Store {
            uid,
            set,
            unchanged_since: None,
            kind,
            silent: false,
            flags: flags.into_iter().collect(),
            flags_list: true,
        }
    }

    /// `COPY set mailbox` (RFC 3501 §6.4.7).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::copy_to("1:3".parse()?, "Archive").to_bytes(), b"COPY 1:3 Archive");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_to(set: SequenceSet, mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Copy {
            uid: false,
            set,
            mailbox: mailbox.into_mailbox(),
        }
    }

    /// `UID COPY set mailbox` (RFC 3501 §6.4.8).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::uid_copy_to("7:9".parse()?, "Sent").to_bytes(), b"UID COPY 7:9 Sent");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uid_copy_to(set: SequenceSet, mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Copy {
            uid: true,
            set,
            mailbox: mailbox.into_mailbox(),
        }
    }

    /// `MOVE set mailbox` (RFC 6851; the server must offer `MOVE`).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::move_to("3".parse()?, "Junk").to_bytes(), b"MOVE 3 Junk");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn move_to(set: SequenceSet, mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Move {
            uid: false,
            set,
            mailbox: mailbox.into_mailbox(),
        }
    }

    /// `UID MOVE set mailbox` (RFC 6851).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::CommandBody;
    /// use mailwright_imap_proto::Encode;
    ///
    /// assert_eq!(CommandBody::uid_move_to("$".parse()?, "Junk").to_bytes(), b"UID MOVE $ Junk");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uid_move_to(set: SequenceSet, mailbox: impl IntoMailbox<'a>) -> Self {
        CommandBody::Move {
            uid: true,
            set,
            mailbox: mailbox.into_mailbox(),
        }
    }
}

/// Search keys (RFC 3501 §6.4.4). The keys without an argument are the variants themselves
/// (`SearchKey::Unseen`, `SearchKey::Flagged` ...); these build the others. Text keys match
/// substrings, case-insensitively (RFC 3501 §6.4.4), and fail only on NUL.
///
/// ```
/// use mailwright_imap_proto::types::command::SearchKey;
/// use mailwright_imap_proto::types::datetime::Date;
///
/// let date: Date = "1-Mar-2026".parse()?;
/// let keys = [
///     (SearchKey::to("bob")?, "TO bob"),
///     (SearchKey::cc("carol")?, "CC carol"),
///     (SearchKey::bcc("dave")?, "BCC dave"),
///     (SearchKey::body("lunch")?, "BODY lunch"),
///     (SearchKey::text("lunch")?, "TEXT lunch"),
///     (SearchKey::header("List-Id", "rust")?, "HEADER List-Id rust"),
///     (SearchKey::keyword("$Forwarded")?, "KEYWORD $Forwarded"),
///     (SearchKey::unkeyword("$Junk")?, "UNKEYWORD $Junk"),
///     (SearchKey::before(date), "BEFORE 1-Mar-2026"),
///     (SearchKey::on(date), "ON 1-Mar-2026"),
///     (SearchKey::sent_since(date), "SENTSINCE 1-Mar-2026"),
///     (SearchKey::sent_before(date), "SENTBEFORE 1-Mar-2026"),
///     (SearchKey::sent_on(date), "SENTON 1-Mar-2026"),
///     (SearchKey::smaller(512), "SMALLER 512"),
///     (SearchKey::messages("1:10".parse()?), "1:10"),
///     (SearchKey::younger(3600.try_into()?), "YOUNGER 3600"),
///     (SearchKey::older(86400.try_into()?), "OLDER 86400"),
///     (SearchKey::or(SearchKey::Seen, SearchKey::Flagged), "OR SEEN FLAGGED"),
/// ];
/// for (key, wire) in keys {
///     assert_eq!(key.to_string(), wire);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<'a> SearchKey<'a> {
    /// Every key of `keys` must match: `(a b c)`, or the key itself when there is one, or `ALL`
    /// when there is none. As the whole of a [`CommandBody::search`], the keys go side by side.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::SearchKey;
    ///
    /// let key = SearchKey::and([SearchKey::Seen, SearchKey::larger(10_000)]);
    /// assert_eq!(key.to_string(), "(SEEN LARGER 10000)");
    /// assert_eq!(SearchKey::and([]), SearchKey::All);
    /// ```
    pub fn and(keys: impl IntoIterator<Item = SearchKey<'a>>) -> Self {
        let mut keys: Vec<SearchKey<'a>> = keys.into_iter().collect();
        match keys.len() {
            0 => SearchKey::All,
            1 => keys.remove(0),
            _ => SearchKey::And(Vec1::unvalidated(keys)),
        }
    }

    /// `OR a b`: either matches.
    pub fn or(a: SearchKey<'a>, b: SearchKey<'a>) -> Self {
        SearchKey::Or(Box::new(a), Box::new(b))
    }

    /// `NOT key`.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::SearchKey;
    ///
    /// assert_eq!(SearchKey::not(SearchKey::from("boss@example.com")?).to_string(), "NOT FROM boss@example.com");
    /// # Ok::<(), mailwright_imap_proto::ValidationError>(())
    /// ```
    #[allow(clippy::should_implement_trait)] // Named for the IMAP key; no `self`.
    pub fn not(key: SearchKey<'a>) -> Self {
        SearchKey::Not(Box::new(key))
    }

    /// `FROM text`: the `From` header contains `text`.
    pub fn from(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::From)
    }

    /// `TO text`: the `To` header contains `text`.
    pub fn to(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::To)
    }

    /// `CC text`: the `Cc` header contains `text`.
    pub fn cc(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::Cc)
    }

    /// `BCC text`: the `Bcc` header contains `text`.
    pub fn bcc(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::Bcc)
    }

    /// `SUBJECT text`.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::SearchKey;
    ///
    /// assert_eq!(SearchKey::subject("weekly report")?.to_string(), "SUBJECT \"weekly report\"");
    /// # Ok::<(), mailwright_imap_proto::ValidationError>(())
    /// ```
    pub fn subject(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::Subject)
    }

    /// `BODY text`: the body contains `text`.
    pub fn body(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::Body)
    }

    /// `TEXT text`: the header or the body contains `text`.
    pub fn text(text: &'a str) -> Result<Self, ValidationError> {
        astring(text).map(SearchKey::Text)
    }

    /// `HEADER name text`: the header field `name` contains `text` (any value when `text` is
    /// empty).
    pub fn header(name: &'a str, text: &'a str) -> Result<Self, ValidationError> {
        Ok(SearchKey::Header(astring(name)?, astring(text)?))
    }

    /// `KEYWORD flag`: the message has the keyword (an atom, such as `$Forwarded`).
    pub fn keyword(keyword: &'a str) -> Result<Self, ValidationError> {
        Atom::try_from(keyword).map(SearchKey::Keyword)
    }

    /// `UNKEYWORD flag`: the message lacks the keyword.
    pub fn unkeyword(keyword: &'a str) -> Result<Self, ValidationError> {
        Atom::try_from(keyword).map(SearchKey::Unkeyword)
    }

    /// `SINCE date`: the internal date is on or after `date`.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::SearchKey;
    /// use mailwright_imap_proto::types::datetime::Date;
    ///
    /// let key = SearchKey::since(Date::new(2026, 2, 1)?);
    /// assert_eq!(key.to_string(), "SINCE 1-Feb-2026");
    /// # Ok::<(), mailwright_imap_proto::ValidationError>(())
    /// ```
    pub fn since(date: Date) -> Self {
        SearchKey::Since(date)
    }

    /// `BEFORE date`: the internal date is before `date`.
    pub fn before(date: Date) -> Self {
        SearchKey::Before(date)
    }

    /// `ON date`: the internal date is `date`.
    pub fn on(date: Date) -> Self {
        SearchKey::On(date)
    }

    /// `SENTSINCE date`: the `Date` header is on or after `date`.
    pub fn sent_since(date: Date) -> Self {
        SearchKey::SentSince(date)
    }

    /// `SENTBEFORE date`: the `Date` header is before `date`.
    pub fn sent_before(date: Date) -> Self {
        SearchKey::SentBefore(date)
    }

    /// `SENTON date`: the `Date` header is `date`.
    pub fn sent_on(date: Date) -> Self {
        SearchKey::SentOn(date)
    }

    /// `LARGER n`: more than `n` octets.
    pub fn larger(octets: u32) -> Self {
        SearchKey::Larger(octets)
    }

    /// `SMALLER n`: fewer than `n` octets.
    pub fn smaller(octets: u32) -> Self {
        SearchKey::Smaller(octets)
    }

    /// `UID set`: the messages with these UIDs.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::SearchKey;
    ///
    /// assert_eq!(SearchKey::uid("100:*".parse()?).to_string(), "UID 100:*");
    /// # Ok::<(), mailwright_imap_proto::types::sequence::SequenceSetError>(())
    /// ```
    pub fn uid(set: SequenceSet) -> Self {
        SearchKey::Uid(set)
    }

    /// A bare `sequence-set`: the messages with these numbers.
    pub fn messages(set: SequenceSet) -> Self {
        SearchKey::SequenceSet(set)
    }

    /// `OLDER seconds` (RFC 5032, WITHIN): the internal date is more than `seconds` ago.
    pub fn older(seconds: NonZeroU32) -> Self {
        SearchKey::Older(seconds)
    }

    /// `YOUNGER seconds` (RFC 5032, WITHIN): the internal date is at most `seconds` ago.
    pub fn younger(seconds: NonZeroU32) -> Self {
        SearchKey::Younger(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Encode;
    use crate::types::command::Command;

    /// What the server-side parser makes of `body` as a command: the builders build what the
    /// grammar reads.
    fn reparsed(body: &CommandBody<'_>) -> CommandBody<'static> {
        use crate::types::core::IntoStatic;
        let mut wire = b"a ".to_vec();
        wire.extend_from_slice(&body.to_bytes());
        wire.extend_from_slice(b"\r\n");
        let (rest, command) = Command::decode(&wire).unwrap();
        assert!(rest.is_empty());
        command.body.into_static()
    }

    #[test]
    fn builders_build_what_the_parser_reads() {
        let set: SequenceSet = "1,3:*".parse().unwrap();
        let date = Date::new(2026, 2, 1).unwrap();
        let bodies = [
            CommandBody::login("alice", "p w\"x").unwrap(),
            CommandBody::select("INBOX"),
            CommandBody::examine("Ärger & Co"),
            CommandBody::create("a/b"),
            CommandBody::delete("x"),
            CommandBody::rename("x", "y"),
            CommandBody::list("", "%"),
            CommandBody::status("INBOX", [StatusItem::UidNext]),
            CommandBody::append("INBOX", [], b"x\r\n").unwrap(),
            CommandBody::fetch(set.clone(), FetchItems::Full),
            CommandBody::fetch(set.clone(), FetchAttribute::Flags),
            CommandBody::uid_fetch(set.clone(), [FetchAttribute::Uid, FetchAttribute::ModSeq]),
            CommandBody::search(SearchKey::and([
                SearchKey::since(date),
                SearchKey::not(SearchKey::header("List-Id", "").unwrap()),
                SearchKey::and([SearchKey::keyword("$Junk").unwrap(), SearchKey::Draft]),
            ])),
            CommandBody::uid_search(SearchKey::uid(set.clone())),
            CommandBody::store(set.clone(), StoreKind::Remove, [Flag::Deleted]),
            CommandBody::uid_store(set.clone(), StoreKind::Replace, []),
            CommandBody::copy_to(set.clone(), "Archive"),
            CommandBody::uid_copy_to(set.clone(), "Archive"),
            CommandBody::move_to(set.clone(), "Trash"),
            CommandBody::uid_move_to(set, "Trash"),
        ];
        for body in bodies {
            assert_eq!(
                reparsed(&body),
                body,
                "{:?}",
                String::from_utf8_lossy(&body.to_bytes())
            );
        }
    }

    #[test]
    fn text_keys_refuse_nul_only() {
        assert!(SearchKey::from("a\0b").is_err());
        assert!(SearchKey::text("multi\r\nline").is_ok());
        assert!(SearchKey::keyword("not an atom").is_err());
        assert_eq!(SearchKey::and([SearchKey::Seen]), SearchKey::Seen);
    }

    #[test]
    fn fetch_items_from_a_vec_needs_an_item() {
        assert!(FetchItems::try_from(Vec::new()).is_err());
        assert_eq!(
            FetchItems::try_from(vec![FetchAttribute::Uid]).unwrap(),
            FetchItems::List(Vec1::one(FetchAttribute::Uid))
        );
    }
}

//! Commands (RFC 3501 §6, §9) and those of the extensions real clients use.
//!
//! ```text
//! command         = tag SP (command-any / command-auth / command-nonauth /
//!                   command-select) CRLF
//! command-any     = "CAPABILITY" / "LOGOUT" / "NOOP" / x-command
//! command-auth    = append / create / delete / examine / list / lsub /
//!                   rename / select / status / subscribe / unsubscribe
//! command-nonauth = login / authenticate / "STARTTLS"
//! command-select  = "CHECK" / "CLOSE" / "EXPUNGE" / copy / fetch / store /
//!                   uid / search
//! ```
//! (RFC 3501 §9.) Extensions: IDLE (RFC 2177), NAMESPACE (RFC 2342), ID (RFC 2971), UNSELECT
//! (RFC 3691), UIDPLUS (RFC 4315), SASL-IR (RFC 4959), COMPRESS (RFC 4978), ENABLE (RFC 5161),
//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154), MOVE (RFC 6851),
//! CONDSTORE (RFC 7162), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), SORT and THREAD (RFC 5256),
//! SORT=DISPLAY (RFC 5957), ESORT (RFC 5267), QUOTA (RFC 9208).

use std::num::NonZeroU32;

use mailwright_sansio::Secret;

use super::ValidationError;
use super::core::{AString, Atom, IString, IntoStatic, Literal, NString, Tag, Vec1};
use super::datetime::{Date, DateTime};
use super::flag::Flag;
use super::mailbox::{ListMailbox, Mailbox};
use super::qresync::QresyncParams;
use super::sequence::SequenceSet;
use super::sort::{SortCriterion, ThreadAlgorithm};

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The client's tag.
    pub tag: Tag<'a>,
    /// What it asks.
    pub body: CommandBody<'a>,
}

/// The state a command is valid in (RFC 3501 §3, §9 `command-any` / `-nonauth` / `-auth` / `-select`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandClass {
    /// Valid in every state.
    Any,
    /// Only before authentication.
    NotAuthenticated,
    /// In the authenticated or selected state.
    Authenticated,
    /// Only with a mailbox selected.
    Selected,
}

/// SASL data: the base64 text of an AUTHENTICATE initial response or continuation line (RFC 4959,
/// RFC 3501 §6.2.2). It carries credentials, so the text is a [`Secret`] (`Debug` prints `***`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthData<'a> {
    /// `=`: an empty initial response (RFC 4959 §3).
    Empty,
    /// Base64 text (validated; decode with [`AuthData::decode`]).
    Base64(Secret<Atom<'a>>),
    /// `*`: the client cancels the exchange (RFC 3501 §6.2.2); only as a continuation line.
    Cancel,
}

impl AuthData<'_> {
    /// The decoded octets (`Empty` and `Cancel` give none).
    pub fn decode(&self) -> Result<Vec<u8>, ValidationError> {
        match self {
            AuthData::Base64(a) => crate::types::base64::decode(a.expose().as_str().as_bytes()),
            _ => Ok(Vec::new()),
        }
    }
    /// Base64 of `data` (empty data gives `=`).
    pub fn encode(data: &[u8]) -> AuthData<'static> {
        if data.is_empty() {
            return AuthData::Empty;
        }
        AuthData::Base64(Secret::new(Atom::unvalidated(
            crate::types::base64::encode(data),
        )))
    }
}

impl IntoStatic for AuthData<'_> {
    type Static = AuthData<'static>;
    fn into_static(self) -> AuthData<'static> {
        match self {
            AuthData::Empty => AuthData::Empty,
            AuthData::Base64(a) => AuthData::Base64(Secret::new(a.into_inner().into_static())),
            AuthData::Cancel => AuthData::Cancel,
        }
    }
}

/// `status-att` (RFC 3501 §9 and extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusItem {
    /// `MESSAGES`.
    Messages,
    /// `RECENT`.
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `HIGHESTMODSEQ` (RFC 7162).
    HighestModSeq,
    /// `SIZE` (RFC 8438).
    Size,
    /// `APPENDLIMIT` (RFC 7889).
    AppendLimit,
    /// `DELETED` (RFC 9051).
    Deleted,
}

impl StatusItem {
    /// Every item with its keyword.
    pub const ALL: [(StatusItem, &'static str); 9] = [
        (StatusItem::Messages, "MESSAGES"),
        (StatusItem::Recent, "RECENT"),
        (StatusItem::UidNext, "UIDNEXT"),
        (StatusItem::UidValidity, "UIDVALIDITY"),
        (StatusItem::Unseen, "UNSEEN"),
        (StatusItem::HighestModSeq, "HIGHESTMODSEQ"),
        (StatusItem::Size, "SIZE"),
        (StatusItem::AppendLimit, "APPENDLIMIT"),
        (StatusItem::Deleted, "DELETED"),
    ];
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(i, _)| *i == self)
            .map_or("MESSAGES", |(_, s)| s)
    }
}

/// LIST selection options (RFC 5258 §6, RFC 6154 §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListSelectOption<'a> {
    /// `SUBSCRIBED`.
    Subscribed,
    /// `REMOTE`.
    Remote,
    /// `RECURSIVEMATCH`.
    RecursiveMatch,
    /// `SPECIAL-USE` (RFC 6154).
    SpecialUse,
    /// Any other `option-extension` name.
    Other(Atom<'a>),
}

/// LIST return options (RFC 5258 §6, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListReturnOption<'a> {
    /// `SUBSCRIBED`.
    Subscribed,
    /// `CHILDREN`.
    Children,
    /// `SPECIAL-USE` (RFC 6154).
    SpecialUse,
    /// `STATUS (items)` (RFC 5819).
    Status(Vec1<StatusItem>),
    /// Any other `option-extension` name.
    Other(Atom<'a>),
}

/// ESEARCH return options (RFC 4731 §3, RFC 5182 `SAVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturnOption {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `ALL`.
    All,
    /// `COUNT`.
    Count,
    /// `SAVE` (RFC 5182).
    Save,
}

/// The entry type of a CONDSTORE `MODSEQ` search key (RFC 7162 §3.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// `priv`.
    Private,
    /// `shared`.
    Shared,
    /// `all`.
    All,
}

/// `search-key` (RFC 3501 §6.4.4, §9), with CONDSTORE `MODSEQ` and WITHIN `OLDER`/`YOUNGER`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SearchKey<'a> {
    /// `ALL`.
    All,
    /// `ANSWERED`.
    Answered,
    /// `BCC astring`.
    Bcc(AString<'a>),
    /// `BEFORE date`.
    Before(Date),
    /// `BODY astring`.
    Body(AString<'a>),
    /// `CC astring`.
    Cc(AString<'a>),
    /// `DELETED`.
    Deleted,
    /// `DRAFT`.
    Draft,
    /// `FLAGGED`.
    Flagged,
    /// `FROM astring`.
    From(AString<'a>),
    /// `HEADER field value`.
    Header(AString<'a>, AString<'a>),
    /// `KEYWORD flag-keyword`.
    Keyword(Atom<'a>),
    /// `LARGER number`.
    Larger(u32),
    /// `NEW`.
    New,
    /// `NOT search-key`.
    Not(Box<SearchKey<'a>>),
    /// `OLD`.
    Old,
    /// `ON date`.
    On(Date),
    /// `OR a b`.
    Or(Box<SearchKey<'a>>, Box<SearchKey<'a>>),
    /// `RECENT`.
    Recent,
    /// `SEEN`.
    Seen,
    /// `SENTBEFORE date`.
    SentBefore(Date),
    /// `SENTON date`.
    SentOn(Date),
    /// `SENTSINCE date`.
    SentSince(Date),
    /// `SINCE date`.
    Since(Date),
    /// `SMALLER number`.
    Smaller(u32),
    /// `SUBJECT astring`.
    Subject(AString<'a>),
    /// `TEXT astring`.
    Text(AString<'a>),
    /// `TO astring`.
    To(AString<'a>),
    /// `UID sequence-set`.
    Uid(SequenceSet),
    /// `UNANSWERED`.
    Unanswered,
    /// `UNDELETED`.
    Undeleted,
    /// `UNDRAFT`.
    Undraft,
    /// `UNFLAGGED`.
    Unflagged,
    /// `UNKEYWORD flag-keyword`.
    Unkeyword(Atom<'a>),
    /// `UNSEEN`.
    Unseen,
    /// A bare `sequence-set`.
    SequenceSet(SequenceSet),
    /// `"(" search-key *(SP search-key) ")"`.
    And(Vec1<SearchKey<'a>>),
    /// `MODSEQ [entry-name entry-type] mod-sequence-value` (RFC 7162 §3.1.5).
    ModSeq {
        /// The metadata item and its type, e.g. `"/flags/\\draft" all`.
        entry: Option<(IString<'a>, EntryType)>,
        /// The mod-sequence.
        modseq: u64,
    },
    /// `OLDER interval` (RFC 5032).
    Older(NonZeroU32),
    /// `YOUNGER interval` (RFC 5032).
    Younger(NonZeroU32),
}

/// `section-msgtext` / `section-text` (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText<'a> {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (names)`.
    HeaderFields(Vec1<AString<'a>>),
    /// `HEADER.FIELDS.NOT (names)`.
    HeaderFieldsNot(Vec1<AString<'a>>),
    /// `TEXT`.
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// `section = "[" [section-spec] "]"`: a part path and what of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Section<'a> {
    part: Vec<NonZeroU32>,
    text: Option<SectionText<'a>>,
}

impl<'a> Section<'a> {
    /// `[]`: the whole message.
    pub fn whole() -> Self {
        Self::default()
    }
    /// A section; `MIME` needs a part path (RFC 3501 §9 `section-spec`).
    pub fn new(
        part: Vec<NonZeroU32>,
        text: Option<SectionText<'a>>,
    ) -> Result<Self, ValidationError> {
        if part.is_empty() && text == Some(SectionText::Mime) {
            return Err(ValidationError::new("section (MIME needs a part)", b"MIME"));
        }
        Ok(Self { part, text })
    }
    /// The part path (`1.2.3`), empty for the top level.
    pub fn part(&self) -> &[NonZeroU32] {
        &self.part
    }
    /// The text specifier.
    pub fn text(&self) -> Option<&SectionText<'a>> {
        self.text.as_ref()
    }
}

/// `fetch-att` (RFC 3501 §6.4.5), with `MODSEQ` (RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchAttribute<'a> {
    /// `ENVELOPE`.
    Envelope,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822`.
    Rfc822,
    /// `RFC822.HEADER`.
    Rfc822Header,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `RFC822.TEXT`.
    Rfc822Text,
    /// `BODY` (structure, non-extensible).
    Body,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `UID`.
    Uid,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `BODY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// Which part.
        section: Section<'a>,
        /// `<offset.length>`.
        partial: Option<(u32, NonZeroU32)>,
    },
    /// `MODSEQ` (RFC 7162).
    ModSeq,
    /// `BINARY[section-binary]<partial>` or `BINARY.PEEK[...]` (RFC 3516 §4.1): the part's
    /// content with its Content-Transfer-Encoding undone.
    Binary {
        /// `BINARY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The part number (`section-part`); empty for the whole message.
        section: Vec<NonZeroU32>,
        /// `<offset.length>`, in decoded octets.
        partial: Option<(u32, NonZeroU32)>,
    },
    /// `BINARY.SIZE[section-binary]` (RFC 3516 §4.1): the decoded size.
    BinarySize {
        /// The part number; empty for the whole message.
        section: Vec<NonZeroU32>,
    },
}

/// What FETCH asks for: a macro, one attribute, or a list (the form is kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchItems<'a> {
    /// `ALL` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`.
    All,
    /// `FAST` = `(FLAGS INTERNALDATE RFC822.SIZE)`.
    Fast,
    /// `FULL` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)`.
    Full,
    /// One attribute without parentheses.
    Single(FetchAttribute<'a>),
    /// `"(" fetch-att *(SP fetch-att) ")"`.
    List(Vec1<FetchAttribute<'a>>),
}

impl<'a> FetchItems<'a> {
    /// The attributes, macros expanded (RFC 3501 §6.4.5).
    pub fn expand(&self) -> Vec<FetchAttribute<'a>> {
        use FetchAttribute as A;
        match self {
            FetchItems::All => vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope],
            FetchItems::Fast => vec![A::Flags, A::InternalDate, A::Rfc822Size],
            FetchItems::Full => vec![
                A::Flags,
                A::InternalDate,
                A::Rfc822Size,
                A::Envelope,
                A::Body,
            ],
            FetchItems::Single(a) => vec![a.clone()],
            FetchItems::List(l) => l.to_vec(),
        }
    }
}

/// STORE's operation (`store-att-flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// One message of a MULTIAPPEND (RFC 3502 §6): `append-message = [SP flag-list] [SP date-time]
/// SP literal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage<'a> {
    /// The flags to set; `None` when absent.
    pub flags: Option<Vec<Flag<'a>>>,
    /// The internal date.
    pub date: Option<DateTime>,
    /// The message.
    pub message: Literal<'a>,
}

impl IntoStatic for AppendMessage<'_> {
    type Static = AppendMessage<'static>;
    fn into_static(self) -> Self::Static {
        AppendMessage {
            flags: self.flags.into_static(),
            date: self.date,
            message: self.message.into_static(),
        }
    }
}

/// What a command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandBody<'a> {
    /// `CAPABILITY`.
    Capability,
    /// `NOOP`.
    Noop,
    /// `LOGOUT`.
    Logout,
    /// `STARTTLS`.
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 3501 §6.2.2, SASL-IR RFC 4959).
    Authenticate {
        /// The SASL mechanism.
        mechanism: Atom<'a>,
        /// The SASL-IR initial response.
        initial_response: Option<AuthData<'a>>,
    },
    /// `LOGIN userid password`.
    Login {
        /// The user name.
        username: AString<'a>,
        /// The password (`Debug` prints `***`).
        password: Secret<AString<'a>>,
    },
    /// `SELECT mailbox [(CONDSTORE)] [(QRESYNC (...))]`.
    Select {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// `(CONDSTORE)` select parameter (RFC 7162 §3.1.8).
        condstore: bool,
        /// `QRESYNC (...)` select parameter (RFC 7162 §3.2.5).
        qresync: Option<QresyncParams>,
    },
    /// `EXAMINE mailbox [(CONDSTORE)] [(QRESYNC (...))]`.
    Examine {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// `(CONDSTORE)`.
        condstore: bool,
        /// `QRESYNC (...)` (RFC 7162 §3.2.5).
        qresync: Option<QresyncParams>,
    },
    /// `CREATE mailbox [(USE (attrs))]` (RFC 3501 §6.3.3, CREATE-SPECIAL-USE RFC 6154 §3).
    Create {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// The `USE` parameter's special-use attributes, each stored without its backslash
        /// (`Sent`, `Trash` ...); `None` when absent.
        special_use: Option<Vec<Atom<'a>>>,
    },
    /// `DELETE mailbox`.
    Delete {
        /// The mailbox.
        mailbox: Mailbox<'a>,
    },
    /// `RENAME from to`.
    Rename {
        /// The old name.
        from: Mailbox<'a>,
        /// The new name.
        to: Mailbox<'a>,
    },
    /// `SUBSCRIBE mailbox`.
    Subscribe {
        /// The mailbox.
        mailbox: Mailbox<'a>,
    },
    /// `UNSUBSCRIBE mailbox`.
    Unsubscribe {
        /// The mailbox.
        mailbox: Mailbox<'a>,
    },
    /// `LIST [(select-opts)] reference pattern(s) [RETURN (opts)]` (RFC 3501, RFC 5258).
    List {
        /// Selection options; `None` when the parenthesised list is absent.
        selection: Option<Vec<ListSelectOption<'a>>>,
        /// The reference name.
        reference: Mailbox<'a>,
        /// One pattern, or several in parentheses (`patterns_list`).
        patterns: Vec1<ListMailbox<'a>>,
        /// Whether the patterns were parenthesised (RFC 5258 `patterns`).
        patterns_list: bool,
        /// Return options; `None` when `RETURN` is absent.
        returns: Option<Vec<ListReturnOption<'a>>>,
    },
    /// `LSUB reference pattern`.
    Lsub {
        /// The reference name.
        reference: Mailbox<'a>,
        /// The pattern.
        pattern: ListMailbox<'a>,
    },
    /// `STATUS mailbox (items)`.
    Status {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// The items.
        items: Vec1<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date-time] literal`.
    Append {
        /// The target mailbox.
        mailbox: Mailbox<'a>,
        /// The flags to set; `None` when absent.
        flags: Option<Vec<Flag<'a>>>,
        /// The internal date.
        date: Option<DateTime>,
        /// The message.
        message: Literal<'a>,
    },
    /// `APPEND mailbox 1*append-message` with two or more messages (RFC 3502 MULTIAPPEND): all
    /// are stored or none. One message is [`CommandBody::Append`], which is what a single one
    /// parses as.
    MultiAppend {
        /// The target mailbox.
        mailbox: Mailbox<'a>,
        /// The messages, in order.
        messages: Vec<AppendMessage<'a>>,
    },
    /// `CHECK`.
    Check,
    /// `CLOSE`.
    Close,
    /// `UNSELECT` (RFC 3691).
    Unselect,
    /// `EXPUNGE`.
    Expunge,
    /// `UID EXPUNGE sequence-set` (RFC 4315).
    UidExpunge {
        /// The UIDs.
        set: SequenceSet,
    },
    /// `[UID] SEARCH [RETURN (opts)] [CHARSET x] keys` (RFC 3501, RFC 4731).
    Search {
        /// `UID SEARCH`.
        uid: bool,
        /// ESEARCH return options; `None` when `RETURN` is absent.
        returns: Option<Vec<SearchReturnOption>>,
        /// The charset.
        charset: Option<AString<'a>>,
        /// The criteria, ANDed.
        criteria: Vec1<SearchKey<'a>>,
    },
    /// `[UID] SORT [RETURN (opts)] (criteria) charset keys` (RFC 5256 §3, RFC 5267 §3).
    Sort {
        /// `UID SORT`.
        uid: bool,
        /// ESORT return options; `None` when `RETURN` is absent.
        returns: Option<Vec<SearchReturnOption>>,
        /// The sort criteria, most significant first.
        criteria: Vec1<SortCriterion>,
        /// The charset (`atom / quoted`, required).
        charset: AString<'a>,
        /// The search criteria, ANDed.
        search: Vec1<SearchKey<'a>>,
    },
    /// `[UID] THREAD algorithm charset keys` (RFC 5256 §3).
    Thread {
        /// `UID THREAD`.
        uid: bool,
        /// The threading algorithm.
        algorithm: ThreadAlgorithm<'a>,
        /// The charset (`atom / quoted`, required).
        charset: AString<'a>,
        /// The search criteria, ANDed.
        search: Vec1<SearchKey<'a>>,
    },
    /// `[UID] FETCH set items [(CHANGEDSINCE n [VANISHED])]`.
    Fetch {
        /// `UID FETCH`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// What to fetch.
        items: FetchItems<'a>,
        /// `CHANGEDSINCE` modifier (RFC 7162 §3.1.4).
        changed_since: Option<u64>,
        /// `VANISHED` modifier (RFC 7162 §3.2.6): only with `UID FETCH` and `CHANGEDSINCE`
        /// (the parser refuses it elsewhere).
        vanished: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags`.
    Store {
        /// `UID STORE`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// `UNCHANGEDSINCE` modifier (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        kind: StoreKind,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: Vec<Flag<'a>>,
        /// Whether the flags were parenthesised (always true when empty).
        flags_list: bool,
    },
    /// `[UID] COPY set mailbox`.
    Copy {
        /// `UID COPY`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target.
        mailbox: Mailbox<'a>,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851).
    Move {
        /// `UID MOVE`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target.
        mailbox: Mailbox<'a>,
    },
    /// `IDLE` (RFC 2177).
    Idle,
    /// `NAMESPACE` (RFC 2342).
    Namespace,
    /// `ENABLE capability...` (RFC 5161).
    Enable {
        /// The capabilities to enable.
        capabilities: Vec1<Atom<'a>>,
    },
    /// `ID (params) / NIL` (RFC 2971).
    Id {
        /// Field/value pairs; `None` for NIL.
        parameters: Option<Vec<(IString<'a>, NString<'a>)>>,
    },
    /// `GETQUOTA quota-root` (RFC 9208 §4.1.1).
    GetQuota {
        /// The quota root.
        root: AString<'a>,
    },
    /// `GETQUOTAROOT mailbox` (RFC 9208 §4.1.2).
    GetQuotaRoot {
        /// The mailbox.
        mailbox: Mailbox<'a>,
    },
    /// `SETQUOTA quota-root (resource limit ...)` (RFC 9208 §4.1.3).
    SetQuota {
        /// The quota root.
        root: AString<'a>,
        /// Resource names and their new limits.
        limits: Vec<(Atom<'a>, u64)>,
    },
    /// `COMPRESS algorithm` (RFC 4978).
    Compress {
        /// The algorithm, `DEFLATE`.
        algorithm: Atom<'a>,
    },
}

impl CommandBody<'_> {
    /// The command's name as sent (`UID FETCH` for UID variants).
    pub fn name(&self) -> &'static str {
        use CommandBody as C;
        match self {
            C::Capability => "CAPABILITY",
            C::Noop => "NOOP",
            C::Logout => "LOGOUT",
            C::StartTls => "STARTTLS",
            C::Authenticate { .. } => "AUTHENTICATE",
            C::Login { .. } => "LOGIN",
            C::Select { .. } => "SELECT",
            C::Examine { .. } => "EXAMINE",
            C::Create { .. } => "CREATE",
            C::Delete { .. } => "DELETE",
            C::Rename { .. } => "RENAME",
            C::Subscribe { .. } => "SUBSCRIBE",
            C::Unsubscribe { .. } => "UNSUBSCRIBE",
            C::List { .. } => "LIST",
            C::Lsub { .. } => "LSUB",
            C::Status { .. } => "STATUS",
            C::Append { .. } | C::MultiAppend { .. } => "APPEND",
            C::Check => "CHECK",
            C::Close => "CLOSE",
            C::Unselect => "UNSELECT",
            C::Expunge => "EXPUNGE",
            C::UidExpunge { .. } => "UID EXPUNGE",
            C::Search { uid: false, .. } => "SEARCH",
            C::Search { uid: true, .. } => "UID SEARCH",
            C::Sort { uid: false, .. } => "SORT",
            C::Sort { uid: true, .. } => "UID SORT",
            C::Thread { uid: false, .. } => "THREAD",
            C::Thread { uid: true, .. } => "UID THREAD",
            C::Fetch { uid: false, .. } => "FETCH",
            C::Fetch { uid: true, .. } => "UID FETCH",
            C::Store { uid: false, .. } => "STORE",
            C::Store { uid: true, .. } => "UID STORE",
            C::Copy { uid: false, .. } => "COPY",
            C::Copy { uid: true, .. } => "UID COPY",
            C::Move { uid: false, .. } => "MOVE",
            C::Move { uid: true, .. } => "UID MOVE",
            C::Idle => "IDLE",
            C::Namespace => "NAMESPACE",
            C::Enable { .. } => "ENABLE",
            C::Id { .. } => "ID",
            C::Compress { .. } => "COMPRESS",
            C::GetQuota { .. } => "GETQUOTA",
            C::GetQuotaRoot { .. } => "GETQUOTAROOT",
            C::SetQuota { .. } => "SETQUOTA",
        }
    }

    /// The session states the command is valid in (RFC 3501 §9, and each extension's RFC).
    pub fn class(&self) -> CommandClass {
        use CommandBody as C;
        match self {
            C::Capability | C::Noop | C::Logout | C::Id { .. } => CommandClass::Any,
            C::StartTls | C::Authenticate { .. } | C::Login { .. } => {
                CommandClass::NotAuthenticated
            }
            C::Select { .. }
            | C::Examine { .. }
            | C::Create { .. }
            | C::Delete { .. }
            | C::Rename { .. }
            | C::Subscribe { .. }
            | C::Unsubscribe { .. }
            | C::List { .. }
            | C::Lsub { .. }
            | C::Status { .. }
            | C::Append { .. }
            | C::MultiAppend { .. }
            | C::Idle
            | C::Namespace
            | C::Enable { .. }
            | C::Compress { .. }
            | C::GetQuota { .. }
            | C::GetQuotaRoot { .. }
            | C::SetQuota { .. } => CommandClass::Authenticated,
            C::Check
            | C::Close
            | C::Unselect
            | C::Expunge
            | C::UidExpunge { .. }
            | C::Search { .. }
            | C::Sort { .. }
            | C::Thread { .. }
            | C::Fetch { .. }
            | C::Store { .. }
            | C::Copy { .. }
            | C::Move { .. } => CommandClass::Selected,
        }
    }
}

impl IntoStatic for Command<'_> {
    type Static = Command<'static>;
    fn into_static(self) -> Command<'static> {
        Command {
            tag: self.tag.into_static(),
            body: self.body.into_static(),
        }
    }
}

impl IntoStatic for StatusItem {
    type Static = StatusItem;
    fn into_static(self) -> Self {
        self
    }
}

impl IntoStatic for SearchReturnOption {
    type Static = SearchReturnOption;
    fn into_static(self) -> Self {
        self
    }
}

impl IntoStatic for ListSelectOption<'_> {
    type Static = ListSelectOption<'static>;
    fn into_static(self) -> ListSelectOption<'static> {
        use ListSelectOption as O;
        match self {
            O::Subscribed => O::Subscribed,
            O::Remote => O::Remote,
            O::RecursiveMatch => O::RecursiveMatch,
            O::SpecialUse => O::SpecialUse,
            O::Other(a) => O::Other(a.into_static()),
        }
    }
}

impl IntoStatic for ListReturnOption<'_> {
    type Static = ListReturnOption<'static>;
    fn into_static(self) -> ListReturnOption<'static> {
        use ListReturnOption as O;
        match self {
            O::Subscribed => O::Subscribed,
            O::Children => O::Children,
            O::SpecialUse => O::SpecialUse,
            O::Status(s) => O::Status(s),
            O::Other(a) => O::Other(a.into_static()),
        }
    }
}

impl IntoStatic for SearchKey<'_> {
    type Static = SearchKey<'static>;
    fn into_static(self) -> SearchKey<'static> {
        use SearchKey as K;
        match self {
            K::All => K::All,
            K::Answered => K::Answered,
            K::Bcc(a) => K::Bcc(a.into_static()),
            K::Before(d) => K::Before(d),
            K::Body(a) => K::Body(a.into_static()),
            K::Cc(a) => K::Cc(a.into_static()),
            K::Deleted => K::Deleted,
            K::Draft => K::Draft,
            K::Flagged => K::Flagged,
            K::From(a) => K::From(a.into_static()),
            K::Header(a, b) => K::Header(a.into_static(), b.into_static()),
            K::Keyword(a) => K::Keyword(a.into_static()),
            K::Larger(n) => K::Larger(n),
            K::New => K::New,
            K::Not(k) => K::Not(k.into_static()),
            K::Old => K::Old,
            K::On(d) => K::On(d),
            K::Or(a, b) => K::Or(a.into_static(), b.into_static()),
            K::Recent => K::Recent,
            K::Seen => K::Seen,
            K::SentBefore(d) => K::SentBefore(d),
            K::SentOn(d) => K::SentOn(d),
            K::SentSince(d) => K::SentSince(d),
            K::Since(d) => K::Since(d),
            K::Smaller(n) => K::Smaller(n),
            K::Subject(a) => K::Subject(a.into_static()),
            K::Text(a) => K::Text(a.into_static()),
            K::To(a) => K::To(a.into_static()),
            K::Uid(s) => K::Uid(s),
            K::Unanswered => K::Unanswered,
            K::Undeleted => K::Undeleted,
            K::Undraft => K::Undraft,
            K::Unflagged => K::Unflagged,
            K::Unkeyword(a) => K::Unkeyword(a.into_static()),
            K::Unseen => K::Unseen,
            K::SequenceSet(s) => K::SequenceSet(s),
            K::And(v) => K::And(v.into_static()),
            K::ModSeq { entry, modseq } => K::ModSeq {
                entry: entry.map(|(n, t)| (n.into_static(), t)),
                modseq,
            },
            K::Older(n) => K::Older(n),
            K::Younger(n) => K::Younger(n),
        }
    }
}

impl IntoStatic for SectionText<'_> {
    type Static = SectionText<'static>;
    fn into_static(self) -> SectionText<'static> {
        match self {
            SectionText::Header => SectionText::Header,
            SectionText::HeaderFields(v) => SectionText::HeaderFields(v.into_static()),
            SectionText::HeaderFieldsNot(v) => SectionText::HeaderFieldsNot(v.into_static()),
            SectionText::Text => SectionText::Text,
            SectionText::Mime => SectionText::Mime,
        }
    }
}

impl IntoStatic for Section<'_> {
    type Static = Section<'static>;
    fn into_static(self) -> Section<'static> {
        Section {
            part: self.part,
            text: self.text.into_static(),
        }
    }
}

impl IntoStatic for FetchAttribute<'_> {
    type Static = FetchAttribute<'static>;
    fn into_static(self) -> FetchAttribute<'static> {
        use FetchAttribute as A;
        match self {
            A::Envelope => A::Envelope,
            A::Flags => A::Flags,
            A::InternalDate => A::InternalDate,
            A::Rfc822 => A::Rfc822,
            A::Rfc822Header => A::Rfc822Header,
            A::Rfc822Size => A::Rfc822Size,
            A::Rfc822Text => A::Rfc822Text,
            A::Body => A::Body,
            A::BodyStructure => A::BodyStructure,
            A::Uid => A::Uid,
            A::BodySection {
                peek,
                section,
                partial,
            } => A::BodySection {
                peek,
                section: section.into_static(),
                partial,
            },
            A::ModSeq => A::ModSeq,
            A::Binary {
                peek,
                section,
                partial,
            } => A::Binary {
                peek,
                section,
                partial,
            },
            A::BinarySize { section } => A::BinarySize { section },
        }
    }
}

impl IntoStatic for FetchItems<'_> {
    type Static = FetchItems<'static>;
    fn into_static(self) -> FetchItems<'static> {
        match self {
            FetchItems::All => FetchItems::All,
            FetchItems::Fast => FetchItems::Fast,
            FetchItems::Full => FetchItems::Full,
            FetchItems::Single(a) => FetchItems::Single(a.into_static()),
            FetchItems::List(l) => FetchItems::List(l.into_static()),
        }
    }
}

impl IntoStatic for CommandBody<'_> {
    type Static = CommandBody<'static>;
    fn into_static(self) -> CommandBody<'static> {
        use CommandBody as C;
        match self {
            C::Capability => C::Capability,
            C::Noop => C::Noop,
            C::Logout => C::Logout,
            C::StartTls => C::StartTls,
            C::Authenticate {
                mechanism,
                initial_response,
            } => C::Authenticate {
                mechanism: mechanism.into_static(),
                initial_response: initial_response.into_static(),
            },
            C::Login { username, password } => C::Login {
                username: username.into_static(),
                password: Secret::new(password.into_inner().into_static()),
            },
            C::Select {
                mailbox,
                condstore,
                qresync,
            } => C::Select {
                mailbox: mailbox.into_static(),
                condstore,
                qresync,
            },
            C::Examine {
                mailbox,
                condstore,
                qresync,
            } => C::Examine {
                mailbox: mailbox.into_static(),
                condstore,
                qresync,
            },
            C::Create {
                mailbox,
                special_use,
            } => C::Create {
                mailbox: mailbox.into_static(),
                special_use: special_use.into_static(),
            },
            C::Delete { mailbox } => C::Delete {
                mailbox: mailbox.into_static(),
            },
            C::Rename { from, to } => C::Rename {
                from: from.into_static(),
                to: to.into_static(),
            },
            C::Subscribe { mailbox } => C::Subscribe {
                mailbox: mailbox.into_static(),
            },
            C::Unsubscribe { mailbox } => C::Unsubscribe {
                mailbox: mailbox.into_static(),
            },
            C::List {
                selection,
                reference,
                patterns,
                patterns_list,
                returns,
            } => C::List {
                selection: selection.into_static(),
                reference: reference.into_static(),
                patterns: patterns.into_static(),
                patterns_list,
                returns: returns.into_static(),
            },
            C::Lsub { reference, pattern } => C::Lsub {
                reference: reference.into_static(),
                pattern: pattern.into_static(),
            },
            C::Status { mailbox, items } => C::Status {
                mailbox: mailbox.into_static(),
                items,
            },
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => C::Append {
                mailbox: mailbox.into_static(),
                flags: flags.into_static(),
                date,
                message: message.into_static(),
            },
            C::MultiAppend { mailbox, messages } => C::MultiAppend {
                mailbox: mailbox.into_static(),
                messages: messages.into_iter().map(IntoStatic::into_static).collect(),
            },
            C::Check => C::Check,
            C::Close => C::Close,
            C::Unselect => C::Unselect,
            C::Expunge => C::Expunge,
            C::UidExpunge { set } => C::UidExpunge { set },
            C::Search {
                uid,
                returns,
                charset,
                criteria,
            } => C::Search {
                uid,
                returns,
                charset: charset.into_static(),
                criteria: criteria.into_static(),
            },
            C::Sort {
                uid,
                returns,
                criteria,
                charset,
                search,
            } => C::Sort {
                uid,
                returns,
                criteria,
                charset: charset.into_static(),
                search: search.into_static(),
            },
            C::Thread {
                uid,
                algorithm,
                charset,
                search,
            } => C::Thread {
                uid,
                algorithm: algorithm.into_static(),
                charset: charset.into_static(),
                search: search.into_static(),
            },
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => C::Fetch {
                uid,
                set,
                items: items.into_static(),
                changed_since,
                vanished,
            },
            C::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
                flags_list,
            } => C::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags: flags.into_static(),
                flags_list,
            },
            C::Copy { uid, set, mailbox } => C::Copy {
                uid,
                set,
                mailbox: mailbox.into_static(),
            },
            C::Move { uid, set, mailbox } => C::Move {
                uid,
                set,
                mailbox: mailbox.into_static(),
            },
            C::Idle => C::Idle,
            C::Namespace => C::Namespace,
            C::Enable { capabilities } => C::Enable {
                capabilities: capabilities.into_static(),
            },
            C::Id { parameters } => C::Id {
                parameters: parameters.map(|v| {
                    v.into_iter()
                        .map(|(k, v)| (k.into_static(), v.into_static()))
                        .collect()
                }),
            },
            C::Compress { algorithm } => C::Compress {
                algorithm: algorithm.into_static(),
            },
            C::GetQuota { root } => C::GetQuota {
                root: root.into_static(),
            },
            C::GetQuotaRoot { mailbox } => C::GetQuotaRoot {
                mailbox: mailbox.into_static(),
            },
            C::SetQuota { root, limits } => C::SetQuota {
                root: root.into_static(),
                limits: limits
                    .into_iter()
                    .map(|(n, l)| (n.into_static(), l))
                    .collect(),
            },
        }
    }
}

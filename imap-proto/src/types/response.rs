//! Responses (RFC 3501 §7, §9) and the extensions' response data.
//!
//! ```text
//! response        = *(continue-req / response-data) response-done
//! response-data   = "*" SP (resp-cond-state / resp-cond-bye /
//!                   mailbox-data / message-data / capability-data) CRLF
//! response-tagged = tag SP resp-cond-state CRLF
//! resp-cond-auth  = ("OK" / "PREAUTH") SP resp-text
//! resp-cond-bye   = "BYE" SP resp-text
//! resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
//! resp-text       = ["[" resp-text-code "]" SP] text
//! continue-req    = "+" SP (resp-text / base64) CRLF
//! greeting        = "*" SP (resp-cond-auth / resp-cond-bye) CRLF
//! mailbox-data    =  "FLAGS" SP flag-list / "LIST" SP mailbox-list /
//!                    "LSUB" SP mailbox-list / "SEARCH" *(SP nz-number) /
//!                    "STATUS" SP mailbox SP "(" [status-att-list] ")" /
//!                    number SP "EXISTS" / number SP "RECENT"
//! message-data    = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att))
//! ```
//! (RFC 3501 §9.)

use std::borrow::Cow;
use std::num::NonZeroU32;

use super::ValidationError;
use super::body::{BodyStructure, Envelope};
use super::command::{Section, StatusItem};
use super::core::{AString, Atom, IString, IntoStatic, NString, Tag, Text, Vec1};
use super::datetime::DateTime;
use super::flag::{Flag, FlagFetch, FlagPerm};
use super::mailbox::Mailbox;
use super::quota::QuotaResource;
use super::sequence::SequenceSet;
use super::sort::Thread;

/// One response line (with its literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// A status response: tagged, untagged, greeting or BYE.
    Status(StatusResponse<'a>),
    /// Untagged data (`* ...`).
    Data(Data<'a>),
    /// A continuation request (`+ ...`).
    Continue(Continue<'a>),
}

/// `OK` / `NO` / `BAD` / `PREAUTH` / `BYE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `PREAUTH` (greeting only).
    PreAuth,
    /// `BYE` (untagged only).
    Bye,
}

impl StatusKind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::PreAuth => "PREAUTH",
            StatusKind::Bye => "BYE",
        }
    }
}

/// A status response: `tag OK [code] text`, `* NO text`, `* BYE text` ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse<'a> {
    /// The tag of the command it completes; `None` for `*`.
    pub tag: Option<Tag<'a>>,
    /// The condition.
    pub kind: StatusKind,
    /// The response code.
    pub code: Option<Code<'a>>,
    /// Human-readable text.
    pub text: Text<'a>,
}

impl<'a> StatusResponse<'a> {
    /// A tagged response.
    pub fn tagged(
        tag: Tag<'a>,
        kind: StatusKind,
        code: Option<Code<'a>>,
        text: &'a str,
    ) -> Result<Self, ValidationError> {
        if matches!(kind, StatusKind::PreAuth | StatusKind::Bye) {
            return Err(ValidationError::new(
                "resp-cond-state (OK, NO or BAD)",
                kind.as_str(),
            ));
        }
        Ok(Self {
            tag: Some(tag),
            kind,
            code,
            text: Text::try_from(text)?,
        })
    }
    /// An untagged response.
    pub fn untagged(
        kind: StatusKind,
        code: Option<Code<'a>>,
        text: &'a str,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            tag: None,
            kind,
            code,
            text: Text::try_from(text)?,
        })
    }
}

/// `continue-req = "+" SP (resp-text / base64) CRLF`. Base64 challenges are carried as text; see
/// [`Continue::base64`] and [`Continue::decode_base64`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue<'a> {
    /// A response code, if any.
    pub code: Option<Code<'a>>,
    /// The text (or base64).
    pub text: Text<'a>,
}

impl Continue<'_> {
    /// `+ text`.
    pub fn text(text: &str) -> Result<Continue<'_>, ValidationError> {
        Ok(Continue {
            code: None,
            text: Text::try_from(text)?,
        })
    }
    /// A SASL challenge: `+ base64`.
    pub fn base64(data: &[u8]) -> Continue<'static> {
        Continue {
            code: None,
            text: Text::unvalidated(super::base64::encode(data)),
        }
    }
    /// The text decoded as a base64 SASL challenge.
    pub fn decode_base64(&self) -> Result<Vec<u8>, ValidationError> {
        if self.code.is_some() {
            return Err(ValidationError::new("base64", self.text.as_str()));
        }
        super::base64::decode(self.text.as_str().as_bytes())
    }
}

/// `uid-set` (RFC 4315 §4): UIDs and ranges without `*`; kept as a sequence set.
pub type UidSet = SequenceSet;

/// `resp-text-code` (RFC 3501 §7.1 and extensions).
///
/// ```text
/// resp-text-code  = "ALERT" /
///                   "BADCHARSET" [SP "(" astring *(SP astring) ")" ] /
///                   capability-data / "PARSE" /
///                   "PERMANENTFLAGS" SP "("
///                   [flag-perm *(SP flag-perm)] ")" /
///                   "READ-ONLY" / "READ-WRITE" / "TRYCREATE" /
///                   "UIDNEXT" SP nz-number / "UIDVALIDITY" SP nz-number /
///                   "UNSEEN" SP nz-number /
///                   atom [SP 1*<any TEXT-CHAR except "]">]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code<'a> {
    /// `ALERT`.
    Alert,
    /// `BADCHARSET [(charsets)]`.
    BadCharset(Option<Vec1<AString<'a>>>),
    /// `CAPABILITY ...`.
    Capability(Vec1<Atom<'a>>),
    /// `PARSE`.
    Parse,
    /// `PERMANENTFLAGS (...)`.
    PermanentFlags(Vec<FlagPerm<'a>>),
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDNEXT n`.
    UidNext(NonZeroU32),
    /// `UIDVALIDITY n`.
    UidValidity(NonZeroU32),
    /// `UNSEEN n`.
    Unseen(NonZeroU32),
    /// `APPENDUID uidvalidity uid-set` (RFC 4315 §3).
    AppendUid {
        /// The target's UIDVALIDITY.
        uid_validity: NonZeroU32,
        /// The new UID(s).
        uids: UidSet,
    },
    /// `COPYUID uidvalidity source dest` (RFC 4315 §3).
    CopyUid {
        /// The target's UIDVALIDITY.
        uid_validity: NonZeroU32,
        /// Source UIDs.
        source: UidSet,
        /// Target UIDs, in the same order.
        destination: UidSet,
    },
    /// `UIDNOTSTICKY` (RFC 4315).
    UidNotSticky,
    /// `HIGHESTMODSEQ n` (RFC 7162 §3.1.2.1).
    HighestModSeq(u64),
    /// `NOMODSEQ` (RFC 7162 §3.1.2.2).
    NoModSeq,
    /// `MODIFIED set` (RFC 7162 §3.1.3).
    Modified(SequenceSet),
    /// `CLOSED` (RFC 7162 §3.2.11).
    Closed,
    /// `COMPRESSIONACTIVE` (RFC 4978).
    CompressionActive,
    /// `TOOBIG` (RFC 4469, RFC 7889).
    TooBig,
    /// Any other code: `atom [SP 1*<any TEXT-CHAR except "]">]`, e.g. the RFC 5530 codes.
    Other(Atom<'a>, Option<Cow<'a, str>>),
}

/// A mailbox's attributes and name in LIST/LSUB (RFC 3501 §7.2.2, RFC 5258 §9).
///
/// ```text
/// mailbox-list    = "(" [mbx-list-flags] ")" SP
///                    (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListData<'a> {
    /// The attributes, each a `"\" atom` stored without the backslash (`Noselect`, `HasChildren`,
    /// `Sent` ...).
    pub attributes: Vec<Atom<'a>>,
    /// The hierarchy delimiter; `None` for NIL.
    pub delimiter: Option<u8>,
    /// The name.
    pub mailbox: Mailbox<'a>,
    /// `mbox-list-extended` items (RFC 5258), e.g. `CHILDINFO ("SUBSCRIBED")`; `None` when absent.
    pub extended: Option<Vec<(AString<'a>, ExtValue<'a>)>>,
}

/// A `tagged-ext-val` (RFC 4466 §2.1): a token, a string, or a parenthesised list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtValue<'a> {
    /// A bare token (number, sequence set or astring atom).
    Token(Cow<'a, str>),
    /// A quoted string or literal.
    String(IString<'a>),
    /// `"(" ... ")"`.
    List(Vec<ExtValue<'a>>),
}

/// One ESEARCH return datum (RFC 4731 §3.1, RFC 7162 `MODSEQ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ESearchItem {
    /// `MIN n`.
    Min(NonZeroU32),
    /// `MAX n`.
    Max(NonZeroU32),
    /// `ALL set`.
    All(SequenceSet),
    /// `COUNT n`.
    Count(u32),
    /// `MODSEQ n`.
    ModSeq(u64),
}

/// One namespace (RFC 2342 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDescription<'a> {
    /// The prefix.
    pub prefix: IString<'a>,
    /// The hierarchy delimiter; `None` for NIL.
    pub delimiter: Option<u8>,
    /// `Namespace_Response_Extension`s: name and values.
    pub extensions: Vec<(IString<'a>, Vec1<IString<'a>>)>,
}

/// One FETCH data item (`msg-att`, RFC 3501 §7.4.2).
///
/// ```text
/// msg-att-dynamic = "FLAGS" SP "(" [flag-fetch *(SP flag-fetch)] ")"
/// msg-att-static  = "ENVELOPE" SP envelope / "INTERNALDATE" SP date-time /
///                   "RFC822" [".HEADER" / ".TEXT"] SP nstring /
///                   "RFC822.SIZE" SP number /
///                   "BODY" ["STRUCTURE"] SP body /
///                   "BODY" section ["<" number ">"] SP nstring /
///                   "UID" SP uniqueid
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchItem<'a> {
    /// `FLAGS (...)`.
    Flags(Vec<FlagFetch<'a>>),
    /// `ENVELOPE (...)`.
    Envelope(Box<Envelope<'a>>),
    /// `INTERNALDATE "..."`.
    InternalDate(DateTime),
    /// `RFC822 nstring`.
    Rfc822(NString<'a>),
    /// `RFC822.HEADER nstring`.
    Rfc822Header(NString<'a>),
    /// `RFC822.TEXT nstring`.
    Rfc822Text(NString<'a>),
    /// `RFC822.SIZE n`.
    Rfc822Size(u32),
    /// `BODY (...)`: structure without extension data.
    Body(Box<BodyStructure<'a>>),
    /// `BODYSTRUCTURE (...)`.
    BodyStructure(Box<BodyStructure<'a>>),
    /// `BODY[section]<origin> nstring`.
    BodySection {
        /// The section.
        section: Section<'a>,
        /// The origin octet of a partial fetch.
        origin: Option<u32>,
        /// The data.
        data: NString<'a>,
    },
    /// `UID n`.
    Uid(NonZeroU32),
    /// `MODSEQ (n)` (RFC 7162 §3.1.4.1).
    ModSeq(u64),
    /// `BINARY[section-binary]<origin> (nstring / literal8)` (RFC 3516 §4.2): decoded content,
    /// sent as `~{n}` (literal8) when `literal8` is set or it holds NUL, else as a literal.
    Binary {
        /// The part number; empty for the whole message.
        section: Vec<NonZeroU32>,
        /// The origin octet of a partial fetch.
        origin: Option<u32>,
        /// The octets; `None` is NIL.
        data: Option<std::borrow::Cow<'a, [u8]>>,
        /// Sent (or received) as literal8: Dovecot sends it for every content it decoded.
        literal8: bool,
    },
    /// `BINARY.SIZE[section-binary] number` (RFC 3516 §4.2).
    BinarySize {
        /// The part number; empty for the whole message.
        section: Vec<NonZeroU32>,
        /// The decoded size.
        size: u32,
    },
}

/// Untagged response data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Data<'a> {
    /// `CAPABILITY ...`.
    Capability(Vec1<Atom<'a>>),
    /// `LIST ...`.
    List(ListData<'a>),
    /// `LSUB ...`.
    Lsub(ListData<'a>),
    /// `STATUS mailbox (items)`.
    Status {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// Item values; `None` is `NIL`, which only `APPENDLIMIT` may carry (no limit, RFC 7889 §4).
        items: Vec<(StatusItem, Option<u64>)>,
    },
    /// `SEARCH n...` with CONDSTORE's `(MODSEQ n)`.
    Search {
        /// Matching numbers.
        ids: Vec<NonZeroU32>,
        /// Highest mod-sequence of the matches (RFC 7162 §3.1.5).
        modseq: Option<u64>,
    },
    /// `SORT n...` (RFC 5256 §4) with CONDSTORE's `(MODSEQ n)` (RFC 7162 §3.1.5).
    Sort {
        /// The matching numbers, in sort order.
        ids: Vec<NonZeroU32>,
        /// Highest mod-sequence of the matches.
        modseq: Option<u64>,
    },
    /// `THREAD thread-list...` (RFC 5256 §4).
    Thread(Vec<Thread>),
    /// `ESEARCH` (RFC 4731).
    ESearch {
        /// The correlator: the tag of the SEARCH.
        tag: Option<IString<'a>>,
        /// `UID`.
        uid: bool,
        /// The data.
        items: Vec<ESearchItem>,
    },
    /// `FLAGS (...)`.
    Flags(Vec<Flag<'a>>),
    /// `n EXISTS`.
    Exists(u32),
    /// `n RECENT`.
    Recent(u32),
    /// `n EXPUNGE`.
    Expunge(NonZeroU32),
    /// `VANISHED [(EARLIER)] known-uids` (RFC 7162 §3.2.10): UIDs expunged, in place of
    /// `EXPUNGE` once QRESYNC is enabled; `(EARLIER)` in answer to a resynchronisation.
    Vanished {
        /// `(EARLIER)`: the UIDs went before this command (and may include some the client
        /// never had); without it, each UID is in the client's view and now leaves it.
        earlier: bool,
        /// The UIDs (explicit: no `*`, no `$`).
        uids: SequenceSet,
    },
    /// `n FETCH (...)`.
    Fetch {
        /// The message sequence number.
        seq: NonZeroU32,
        /// The data items.
        items: Vec1<FetchItem<'a>>,
    },
    /// `ENABLED ...` (RFC 5161).
    Enabled(Vec<Atom<'a>>),
    /// `ID (...) / NIL` (RFC 2971).
    Id(Option<Vec<(IString<'a>, NString<'a>)>>),
    /// `NAMESPACE personal other shared` (RFC 2342).
    Namespace {
        /// Personal namespaces.
        personal: Option<Vec1<NamespaceDescription<'a>>>,
        /// Other users' namespaces.
        other: Option<Vec1<NamespaceDescription<'a>>>,
        /// Shared namespaces.
        shared: Option<Vec1<NamespaceDescription<'a>>>,
    },
    /// `QUOTA root (resource usage limit ...)` (RFC 9208 §5.1).
    Quota {
        /// The quota root.
        root: AString<'a>,
        /// The resources.
        resources: Vec1<QuotaResource<'a>>,
    },
    /// `QUOTAROOT mailbox root...` (RFC 9208 §5.2).
    QuotaRoot {
        /// The mailbox.
        mailbox: Mailbox<'a>,
        /// Its quota roots (none when it has no quota).
        roots: Vec<AString<'a>>,
    },
    /// Untagged data this crate does not parse (`* XFOO bar`, `* 3 XBAR`): kept
    /// as read, so that a client can ignore it (RFC 3501 §7) and it re-encodes as it came.
    Other {
        /// The first word after `* ` (an atom; a number for message data such as `* 3 XBAR`).
        name: Atom<'a>,
        /// Everything after the name up to the final CRLF, literals included: empty, or starting
        /// with SP. Never a bare CR or LF outside a literal.
        raw: Cow<'a, [u8]>,
    },
}

impl IntoStatic for Code<'_> {
    type Static = Code<'static>;
    fn into_static(self) -> Code<'static> {
        use Code as C;
        match self {
            C::Alert => C::Alert,
            C::BadCharset(v) => C::BadCharset(v.into_static()),
            C::Capability(v) => C::Capability(v.into_static()),
            C::Parse => C::Parse,
            C::PermanentFlags(v) => C::PermanentFlags(v.into_static()),
            C::ReadOnly => C::ReadOnly,
            C::ReadWrite => C::ReadWrite,
            C::TryCreate => C::TryCreate,
            C::UidNext(n) => C::UidNext(n),
            C::UidValidity(n) => C::UidValidity(n),
            C::Unseen(n) => C::Unseen(n),
            C::AppendUid { uid_validity, uids } => C::AppendUid { uid_validity, uids },
            C::CopyUid {
                uid_validity,
                source,
                destination,
            } => C::CopyUid {
                uid_validity,
                source,
                destination,
            },
            C::UidNotSticky => C::UidNotSticky,
            C::HighestModSeq(n) => C::HighestModSeq(n),
            C::NoModSeq => C::NoModSeq,
            C::Modified(s) => C::Modified(s),
            C::Closed => C::Closed,
            C::CompressionActive => C::CompressionActive,
            C::TooBig => C::TooBig,
            C::Other(a, t) => C::Other(a.into_static(), t.map(|t| Cow::Owned(t.into_owned()))),
        }
    }
}

impl IntoStatic for StatusResponse<'_> {
    type Static = StatusResponse<'static>;
    fn into_static(self) -> StatusResponse<'static> {
        StatusResponse {
            tag: self.tag.into_static(),
            kind: self.kind,
            code: self.code.into_static(),
            text: self.text.into_static(),
        }
    }
}

impl IntoStatic for Continue<'_> {
    type Static = Continue<'static>;
    fn into_static(self) -> Continue<'static> {
        Continue {
            code: self.code.into_static(),
            text: self.text.into_static(),
        }
    }
}

impl IntoStatic for ExtValue<'_> {
    type Static = ExtValue<'static>;
    fn into_static(self) -> ExtValue<'static> {
        match self {
            ExtValue::Token(t) => ExtValue::Token(Cow::Owned(t.into_owned())),
            ExtValue::String(s) => ExtValue::String(s.into_static()),
            ExtValue::List(l) => ExtValue::List(l.into_static()),
        }
    }
}

impl IntoStatic for ListData<'_> {
    type Static = ListData<'static>;
    fn into_static(self) -> ListData<'static> {
        ListData {
            attributes: self.attributes.into_static(),
            delimiter: self.delimiter,
            mailbox: self.mailbox.into_static(),
            extended: self.extended.map(|v| {
                v.into_iter()
                    .map(|(k, v)| (k.into_static(), v.into_static()))
                    .collect()
            }),
        }
    }
}

impl IntoStatic for NamespaceDescription<'_> {
    type Static = NamespaceDescription<'static>;
    fn into_static(self) -> NamespaceDescription<'static> {
        NamespaceDescription {
            prefix: self.prefix.into_static(),
            delimiter: self.delimiter,
            extensions: self
                .extensions
                .into_iter()
                .map(|(k, v)| (k.into_static(), v.into_static()))
                .collect(),
        }
    }
}

impl IntoStatic for FetchItem<'_> {
    type Static = FetchItem<'static>;
    fn into_static(self) -> FetchItem<'static> {
        use FetchItem as F;
        match self {
            F::Flags(v) => F::Flags(v.into_static()),
            F::Envelope(e) => F::Envelope(e.into_static()),
            F::InternalDate(d) => F::InternalDate(d),
            F::Rfc822(s) => F::Rfc822(s.into_static()),
            F::Rfc822Header(s) => F::Rfc822Header(s.into_static()),
            F::Rfc822Text(s) => F::Rfc822Text(s.into_static()),
            F::Rfc822Size(n) => F::Rfc822Size(n),
            F::Body(b) => F::Body(b.into_static()),
            F::BodyStructure(b) => F::BodyStructure(b.into_static()),
            F::BodySection {
                section,
                origin,
                data,
            } => F::BodySection {
                section: section.into_static(),
                origin,
                data: data.into_static(),
            },
            F::Uid(n) => F::Uid(n),
            F::ModSeq(n) => F::ModSeq(n),
            F::Binary {
                section,
                origin,
                data,
                literal8,
            } => F::Binary {
                section,
                origin,
                data: data.map(|d| std::borrow::Cow::Owned(d.into_owned())),
                literal8,
            },
            F::BinarySize { section, size } => F::BinarySize { section, size },
        }
    }
}

impl IntoStatic for Data<'_> {
    type Static = Data<'static>;
    fn into_static(self) -> Data<'static> {
        use Data as D;
        match self {
            D::Capability(v) => D::Capability(v.into_static()),
            D::List(l) => D::List(l.into_static()),
            D::Lsub(l) => D::Lsub(l.into_static()),
            D::Status { mailbox, items } => D::Status {
                mailbox: mailbox.into_static(),
                items,
            },
            D::Search { ids, modseq } => D::Search { ids, modseq },
            D::Sort { ids, modseq } => D::Sort { ids, modseq },
            D::Thread(t) => D::Thread(t),
            D::Quota { root, resources } => D::Quota {
                root: root.into_static(),
                resources: resources.into_static(),
            },
            D::QuotaRoot { mailbox, roots } => D::QuotaRoot {
                mailbox: mailbox.into_static(),
                roots: roots.into_static(),
            },
            D::ESearch { tag, uid, items } => D::ESearch {
                tag: tag.into_static(),
                uid,
                items,
            },
            D::Flags(v) => D::Flags(v.into_static()),
            D::Exists(n) => D::Exists(n),
            D::Recent(n) => D::Recent(n),
            D::Expunge(n) => D::Expunge(n),
            D::Vanished { earlier, uids } => D::Vanished { earlier, uids },
            D::Fetch { seq, items } => D::Fetch {
                seq,
                items: items.into_static(),
            },
            D::Enabled(v) => D::Enabled(v.into_static()),
            D::Id(p) => D::Id(p.map(|v| {
                v.into_iter()
                    .map(|(k, v)| (k.into_static(), v.into_static()))
                    .collect()
            })),
            D::Namespace {
                personal,
                other,
                shared,
            } => D::Namespace {
                personal: personal.into_static(),
                other: other.into_static(),
                shared: shared.into_static(),
            },
            D::Other { name, raw } => D::Other {
                name: name.into_static(),
                raw: Cow::Owned(raw.into_owned()),
            },
        }
    }
}

impl IntoStatic for Response<'_> {
    type Static = Response<'static>;
    fn into_static(self) -> Response<'static> {
        match self {
            Response::Status(s) => Response::Status(s.into_static()),
            Response::Data(d) => Response::Data(d.into_static()),
            Response::Continue(c) => Response::Continue(c.into_static()),
        }
    }
}

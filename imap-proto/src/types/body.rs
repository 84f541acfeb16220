//! ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2, §9).
//!
//! ```text
//! envelope        = "(" env-date SP env-subject SP env-from SP
//!                   env-sender SP env-reply-to SP env-to SP env-cc SP
//!                   env-bcc SP env-in-reply-to SP env-message-id ")"
//! env-from        = "(" 1*address ")" / nil
//! address         = "(" addr-name SP addr-adl SP addr-mailbox SP
//!                   addr-host ")"
//! body            = "(" (body-type-1part / body-type-mpart) ")"
//! body-type-1part = (body-type-basic / body-type-msg / body-type-text)
//!                   [SP body-ext-1part]
//! body-type-basic = media-basic SP body-fields
//! body-type-mpart = 1*body SP media-subtype
//!                   [SP body-ext-mpart]
//! body-type-msg   = media-message SP body-fields SP envelope
//!                   SP body SP body-fld-lines
//! body-type-text  = media-text SP body-fields SP body-fld-lines
//! body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
//!                   body-fld-enc SP body-fld-octets
//! body-fld-param  = "(" string SP string *(SP string SP string) ")" / nil
//! body-fld-dsp    = "(" string SP body-fld-param ")" / nil
//! body-fld-lang   = nstring / "(" string *(SP string) ")"
//! body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
//!                   [SP body-fld-loc *(SP body-extension)]]]
//! body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
//!                   [SP body-fld-loc *(SP body-extension)]]]
//! body-extension  = nstring / number /
//!                    "(" body-extension *(SP body-extension) ")"
//! ```

use super::core::{IString, IntoStatic, NString, Vec1};

/// `address`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    /// `addr-name`: the display name.
    pub name: NString<'a>,
    /// `addr-adl`: the source route.
    pub adl: NString<'a>,
    /// `addr-mailbox`: local part (or group name / end of group).
    pub mailbox: NString<'a>,
    /// `addr-host`: domain (NIL for group syntax).
    pub host: NString<'a>,
}

/// `envelope`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Envelope<'a> {
    /// `env-date`.
    pub date: NString<'a>,
    /// `env-subject`.
    pub subject: NString<'a>,
    /// `env-from`; `None` for NIL.
    pub from: Option<Vec1<Address<'a>>>,
    /// `env-sender`.
    pub sender: Option<Vec1<Address<'a>>>,
    /// `env-reply-to`.
    pub reply_to: Option<Vec1<Address<'a>>>,
    /// `env-to`.
    pub to: Option<Vec1<Address<'a>>>,
    /// `env-cc`.
    pub cc: Option<Vec1<Address<'a>>>,
    /// `env-bcc`.
    pub bcc: Option<Vec1<Address<'a>>>,
    /// `env-in-reply-to`.
    pub in_reply_to: NString<'a>,
    /// `env-message-id`.
    pub message_id: NString<'a>,
}

/// `body-fld-param`: attribute/value pairs, `None` for NIL.
pub type BodyParams<'a> = Option<Vec1<(IString<'a>, IString<'a>)>>;

/// `body-fields`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BodyFields<'a> {
    /// `body-fld-param`.
    pub parameters: BodyParams<'a>,
    /// `body-fld-id`.
    pub id: NString<'a>,
    /// `body-fld-desc`.
    pub description: NString<'a>,
    /// `body-fld-enc`.
    pub encoding: IString<'a>,
    /// `body-fld-octets`.
    pub octets: u32,
}

/// What follows the body fields of a single part, by media type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpecificFields<'a> {
    /// Any type but TEXT and MESSAGE/RFC822.
    Basic,
    /// MESSAGE/RFC822: the encapsulated message's envelope, structure and line count.
    Message {
        /// Its envelope.
        envelope: Box<Envelope<'a>>,
        /// Its structure.
        body: Box<BodyStructure<'a>>,
        /// `body-fld-lines`.
        lines: u32,
    },
    /// TEXT/*: the line count.
    Text {
        /// `body-fld-lines`.
        lines: u32,
    },
}

/// `body-fld-dsp = "(" string SP body-fld-param ")" / nil`.
pub type Disposition<'a> = Option<(IString<'a>, BodyParams<'a>)>;

/// `body-fld-lang = nstring / "(" string *(SP string) ")"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Language<'a> {
    /// One tag or NIL.
    Single(NString<'a>),
    /// A list of tags.
    List(Vec1<IString<'a>>),
}

/// `body-extension`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BodyExtension<'a> {
    /// A string or NIL.
    NString(NString<'a>),
    /// A number.
    Number(u32),
    /// A parenthesised list.
    List(Vec1<BodyExtension<'a>>),
}

/// The optional tail shared by both extension forms: `[SP body-fld-dsp [SP body-fld-lang
/// [SP body-fld-loc *(SP body-extension)]]]`. Each level is present only if the one before is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DispositionTail<'a> {
    /// `body-fld-dsp`.
    pub disposition: Disposition<'a>,
    /// `[SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]`.
    pub language: Option<LanguageTail<'a>>,
}

/// `body-fld-lang [SP body-fld-loc *(SP body-extension)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LanguageTail<'a> {
    /// `body-fld-lang`.
    pub language: Language<'a>,
    /// `body-fld-loc` and any further extensions.
    pub location: Option<(NString<'a>, Vec<BodyExtension<'a>>)>,
}

/// A single-part body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SinglePart<'a> {
    /// Media type (`"TEXT"`, `"IMAGE"` ...), kept as sent.
    pub media_type: IString<'a>,
    /// Media subtype.
    pub subtype: IString<'a>,
    /// `body-fields`.
    pub fields: BodyFields<'a>,
    /// Type-specific fields.
    pub specific: SpecificFields<'a>,
    /// `body-ext-1part`: `body-fld-md5` and the tail; `None` for non-extensible BODY.
    pub extension: Option<(NString<'a>, Option<DispositionTail<'a>>)>,
}

/// A multipart body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultiPart<'a> {
    /// The parts.
    pub parts: Vec1<BodyStructure<'a>>,
    /// Multipart subtype (`"MIXED"` ...).
    pub subtype: IString<'a>,
    /// `body-ext-mpart`: `body-fld-param` and the tail.
    pub extension: Option<(BodyParams<'a>, Option<DispositionTail<'a>>)>,
}

/// `body`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BodyStructure<'a> {
    /// One part.
    Single(SinglePart<'a>),
    /// A multipart.
    Multi(MultiPart<'a>),
}

impl IntoStatic for Address<'_> {
    type Static = Address<'static>;
    fn into_static(self) -> Address<'static> {
        Address {
            name: self.name.into_static(),
            adl: self.adl.into_static(),
            mailbox: self.mailbox.into_static(),
            host: self.host.into_static(),
        }
    }
}

impl IntoStatic for Envelope<'_> {
    type Static = Envelope<'static>;
    fn into_static(self) -> Envelope<'static> {
        Envelope {
            date: self.date.into_static(),
            subject: self.subject.into_static(),
            from: self.from.into_static(),
            sender: self.sender.into_static(),
            reply_to: self.reply_to.into_static(),
            to: self.to.into_static(),
            cc: self.cc.into_static(),
            bcc: self.bcc.into_static(),
            in_reply_to: self.in_reply_to.into_static(),
            message_id: self.message_id.into_static(),
        }
    }
}

fn params_static(p: BodyParams<'_>) -> BodyParams<'static> {
    p.map(|v| {
        Vec1::unvalidated(
            v.into_vec()
                .into_iter()
                .map(|(a, b)| (a.into_static(), b.into_static()))
                .collect(),
        )
    })
}

impl IntoStatic for BodyFields<'_> {
    type Static = BodyFields<'static>;
    fn into_static(self) -> BodyFields<'static> {
        BodyFields {
            parameters: params_static(self.parameters),
            id: self.id.into_static(),
            description: self.description.into_static(),
            encoding: self.encoding.into_static(),
            octets: self.octets,
        }
    }
}

impl IntoStatic for SpecificFields<'_> {
    type Static = SpecificFields<'static>;
    fn into_static(self) -> SpecificFields<'static> {
        match self {
            SpecificFields::Basic => SpecificFields::Basic,
            SpecificFields::Message {
                envelope,
                body,
                lines,
            } => SpecificFields::Message {
                envelope: envelope.into_static(),
                body: body.into_static(),
                lines,
            },
            SpecificFields::Text { lines } => SpecificFields::Text { lines },
        }
    }
}

impl IntoStatic for Language<'_> {
    type Static = Language<'static>;
    fn into_static(self) -> Language<'static> {
        match self {
            Language::Single(s) => Language::Single(s.into_static()),
            Language::List(l) => Language::List(l.into_static()),
        }
    }
}

impl IntoStatic for BodyExtension<'_> {
    type Static = BodyExtension<'static>;
    fn into_static(self) -> BodyExtension<'static> {
        match self {
            BodyExtension::NString(s) => BodyExtension::NString(s.into_static()),
            BodyExtension::Number(n) => BodyExtension::Number(n),
            BodyExtension::List(l) => BodyExtension::List(l.into_static()),
        }
    }
}

impl IntoStatic for DispositionTail<'_> {
    type Static = DispositionTail<'static>;
    fn into_static(self) -> DispositionTail<'static> {
        DispositionTail {
            disposition: self
                .disposition
                .map(|(t, p)| (t.into_static(), params_static(p))),
            language: self.language.map(|l| LanguageTail {
                language: l.language.into_static(),
                location: l
                    .location
                    .map(|(loc, ext)| (loc.into_static(), ext.into_static())),
            }),
        }
    }
}

impl IntoStatic for BodyStructure<'_> {
    type Static = BodyStructure<'static>;
    fn into_static(self) -> BodyStructure<'static> {
        match self {
            BodyStructure::Single(s) => BodyStructure::Single(SinglePart {
                media_type: s.media_type.into_static(),
                subtype: s.subtype.into_static(),
                fields: s.fields.into_static(),
                specific: s.specific.into_static(),
                extension: s
                    .extension
                    .map(|(md5, tail)| (md5.into_static(), tail.into_static())),
            }),
            BodyStructure::Multi(m) => BodyStructure::Multi(MultiPart {
                parts: m.parts.into_static(),
                subtype: m.subtype.into_static(),
                extension: m
                    .extension
                    .map(|(p, tail)| (params_static(p), tail.into_static())),
            }),
        }
    }
}

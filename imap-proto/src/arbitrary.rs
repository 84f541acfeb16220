//! Proptest strategies for every value type (tests only).

use std::num::NonZeroU32;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::types::command::*;
use crate::types::core::*;
use crate::types::datetime::{Date, DateTime};
use crate::types::flag::{Flag, FlagFetch, FlagPerm};
use crate::types::mailbox::{ListMailbox, Mailbox};
use crate::types::qresync::{QresyncParams, SeqMatch};
use crate::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use crate::types::sort::{SortCriterion, SortKey, Thread, ThreadAlgorithm};

pub(crate) fn atom() -> impl Strategy<Value = Atom<'static>> {
    "[A-Za-z0-9$&'+,./:;<=>?@^_`|~!#-]{1,8}".prop_map(|s| Atom::try_from(s).unwrap())
}

pub(crate) fn tag() -> impl Strategy<Value = Tag<'static>> {
    "[A-Za-z0-9.\\]]{1,6}".prop_map(|s| Tag::try_from(s).unwrap())
}

pub(crate) fn text() -> impl Strategy<Value = Text<'static>> {
    // A text that starts with "[" would read back as a response code.
    "([ -Z\\^-~][ -~]{0,20})?".prop_map(|s| Text::try_from(s).unwrap())
}

pub(crate) fn istring() -> impl Strategy<Value = IString<'static>> {
    prop_oneof![
        "[ -~]{0,12}".prop_map(|s| IString::Quoted(Quoted::try_from(s).unwrap())),
        (vec(1u8..=255, 0..16), any::<bool>()).prop_map(|(d, ns)| {
            IString::Literal(
                Literal::new(
                    d,
                    if ns {
                        LiteralMode::NonSync
                    } else {
                        LiteralMode::Sync
                    },
                )
                .unwrap(),
            )
        }),
    ]
}

pub(crate) fn astring() -> impl Strategy<Value = AString<'static>> {
    prop_oneof![
        "[A-Za-z0-9\\]$&'+,./:;<=>?@^_`|~!#-]{1,8}"
            .prop_map(|s| AString::Atom(AtomExt::try_from(s).unwrap())),
        istring().prop_map(AString::String),
    ]
}

pub(crate) fn nstring() -> impl Strategy<Value = NString<'static>> {
    proptest::option::of(istring()).prop_map(NString)
}

pub(crate) fn nz() -> impl Strategy<Value = NonZeroU32> {
    (1u32..=u32::MAX).prop_map(|n| NonZeroU32::new(n).unwrap())
}

fn seq_number() -> impl Strategy<Value = SeqNumber> {
    prop_oneof![nz().prop_map(SeqNumber::Value), Just(SeqNumber::Largest)]
}

pub(crate) fn sequence_set() -> impl Strategy<Value = SequenceSet> {
    (
        vec(
            prop_oneof![
                seq_number().prop_map(SeqItem::Single),
                (seq_number(), seq_number()).prop_map(|(a, b)| SeqItem::Range(a, b))
            ],
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(mut v, last)| {
            if last || v.is_empty() {
                v.push(SeqItem::LastResult);
            }
            SequenceSet::try_from(v).unwrap()
        })
}

/// A `known-uids` set: numbers and ranges only (RFC 7162 §7).
pub(crate) fn known_set() -> impl Strategy<Value = SequenceSet> {
    vec(
        prop_oneof![
            nz().prop_map(|n| SeqItem::Single(SeqNumber::Value(n))),
            (nz(), nz())
                .prop_map(|(a, b)| SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b)))
        ],
        1..4,
    )
    .prop_map(|v| SequenceSet::try_from(v).unwrap())
}

fn qresync_params() -> impl Strategy<Value = QresyncParams> {
    (
        nz(),
        modseq(),
        proptest::option::of(known_set()),
        proptest::option::of((known_set(), known_set())),
    )
        .prop_map(|(uid_validity, modseq, known_uids, m)| QresyncParams {
            uid_validity,
            modseq,
            known_uids,
            seq_match: m.map(|(seqs, uids)| SeqMatch { seqs, uids }),
        })
}

pub(crate) fn flag() -> impl Strategy<Value = Flag<'static>> {
    prop_oneof![
        Just(Flag::Answered),
        Just(Flag::Flagged),
        Just(Flag::Deleted),
        Just(Flag::Seen),
        Just(Flag::Draft),
        atom().prop_map(Flag::Keyword),
        atom().prop_filter_map("system", |a| match Flag::from_atom(true, a) {
            f @ Flag::Extension(_) if !f_is_recent(&f) => Some(f),
            _ => None,
        }),
    ]
}

fn f_is_recent(f: &Flag<'_>) -> bool {
    matches!(f, Flag::Extension(a) if a.as_str().eq_ignore_ascii_case("Recent"))
}

pub(crate) fn flag_fetch() -> impl Strategy<Value = FlagFetch<'static>> {
    prop_oneof![flag().prop_map(FlagFetch::Flag), Just(FlagFetch::Recent)]
}

pub(crate) fn flag_perm() -> impl Strategy<Value = FlagPerm<'static>> {
    prop_oneof![flag().prop_map(FlagPerm::Flag), Just(FlagPerm::Asterisk)]
}

pub(crate) fn mailbox() -> impl Strategy<Value = Mailbox<'static>> {
    prop_oneof![
        astring().prop_map(Mailbox),
        "\\PC{0,6}".prop_map(|s| Mailbox::from_utf8(&s).unwrap())
    ]
}

pub(crate) fn list_mailbox() -> impl Strategy<Value = ListMailbox<'static>> {
    prop_oneof![
        "[A-Za-z%*/\\]]{1,6}".prop_map(|s| ListMailbox::from_bytes(s.into_bytes()).unwrap()),
        istring().prop_map(ListMailbox::String)
    ]
}

pub(crate) fn date() -> impl Strategy<Value = Date> {
    (0u16..=9999, 1u8..=12, 1u8..=31).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

pub(crate) fn date_time() -> impl Strategy<Value = DateTime> {
    (date(), 0u8..24, 0u8..60, 0u8..=60, -5999i16..=5999)
        .prop_map(|(d, h, m, s, z)| DateTime::new(d, h, m, s, z).unwrap())
}

fn status_item() -> impl Strategy<Value = StatusItem> {
    proptest::sample::select(StatusItem::ALL.iter().map(|(i, _)| *i).collect::<Vec<_>>())
}

fn vec1<T: std::fmt::Debug>(
    s: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = Vec1<T>> {
    vec(s, 1..=max).prop_map(|v| Vec1::try_from(v).unwrap())
}

fn search_return_option() -> impl Strategy<Value = SearchReturnOption> {
    prop_oneof![
        Just(SearchReturnOption::Min),
        Just(SearchReturnOption::Max),
        Just(SearchReturnOption::All),
        Just(SearchReturnOption::Count),
        Just(SearchReturnOption::Save)
    ]
}

fn sort_criterion() -> impl Strategy<Value = SortCriterion> {
    (
        any::<bool>(),
        proptest::sample::select(SortKey::ALL.iter().map(|(k, _)| *k).collect::<Vec<_>>()),
    )
        .prop_map(|(reverse, key)| SortCriterion { reverse, key })
}

fn thread_algorithm() -> impl Strategy<Value = ThreadAlgorithm<'static>> {
    prop_oneof![
        Just(ThreadAlgorithm::OrderedSubject),
        Just(ThreadAlgorithm::References),
        Just(ThreadAlgorithm::Refs),
        // No known algorithm starts with X.
        "X[A-Z0-9]{0,6}".prop_map(|a| ThreadAlgorithm::Other(Atom::try_from(a).unwrap())),
    ]
}

/// A thread tree built from messages and missing parents, in `thread-list` form.
pub(crate) fn thread() -> impl Strategy<Value = Thread> {
    let leaf = nz().prop_map(|n| Thread::node(Some(n), Vec::new()).unwrap());
    leaf.prop_recursive(4, 24, 3, |inner| {
        (proptest::option::of(nz()), vec(inner, 0..3))
            .prop_filter_map("a missing parent needs children", |(id, children)| {
                Thread::node(id, children)
            })
    })
}

pub(crate) fn search_key() -> impl Strategy<Value = SearchKey<'static>> {
    let leaf = prop_oneof![
        Just(SearchKey::All),
        Just(SearchKey::Answered),
        Just(SearchKey::Deleted),
        Just(SearchKey::Draft),
        Just(SearchKey::New),
        Just(SearchKey::Unseen),
        Just(SearchKey::Undraft),
        astring().prop_map(SearchKey::Subject),
        astring().prop_map(SearchKey::From),
        astring().prop_map(SearchKey::Text),
        (astring(), astring()).prop_map(|(a, b)| SearchKey::Header(a, b)),
        date().prop_map(SearchKey::Since),
        date().prop_map(SearchKey::SentBefore),
        atom().prop_map(SearchKey::Keyword),
        any::<u32>().prop_map(SearchKey::Larger),
        sequence_set().prop_map(SearchKey::Uid),
        sequence_set().prop_map(SearchKey::SequenceSet),
        nz().prop_map(SearchKey::Older),
        (0u64..=i64::MAX as u64).prop_map(|m| SearchKey::ModSeq {
            entry: None,
            modseq: m
        }),
        (
            istring(),
            prop_oneof![
                Just(EntryType::All),
                Just(EntryType::Private),
                Just(EntryType::Shared)
            ],
            any::<u32>()
        )
            .prop_map(|(n, t, m)| SearchKey::ModSeq {
                entry: Some((n, t)),
                modseq: u64::from(m)
            }),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            vec1(inner, 3).prop_map(SearchKey::And),
        ]
    })
}

pub(crate) fn section() -> impl Strategy<Value = Section<'static>> {
    (
        vec(nz(), 0..3),
        proptest::option::of(prop_oneof![
            Just(SectionText::Header),
            Just(SectionText::Text),
            Just(SectionText::Mime),
            vec1(astring(), 3).prop_map(SectionText::HeaderFields),
            vec1(astring(), 3).prop_map(SectionText::HeaderFieldsNot),
        ]),
    )
        .prop_filter_map("MIME needs a part", |(p, t)| Section::new(p, t).ok())
}

pub(crate) fn fetch_att() -> impl Strategy<Value = FetchAttribute<'static>> {
    prop_oneof![
        Just(FetchAttribute::Envelope),
        Just(FetchAttribute::Flags),
        Just(FetchAttribute::InternalDate),
        Just(FetchAttribute::Rfc822),
        Just(FetchAttribute::Rfc822Header),
        Just(FetchAttribute::Rfc822Size),
        Just(FetchAttribute::Rfc822Text),
        Just(FetchAttribute::Body),
        Just(FetchAttribute::BodyStructure),
        Just(FetchAttribute::Uid),
        Just(FetchAttribute::ModSeq),
        (
            any::<bool>(),
            section(),
            proptest::option::of((any::<u32>(), nz()))
        )
            .prop_map(|(peek, section, partial)| FetchAttribute::BodySection {
                peek,
                section,
                partial
            }),
        (
            any::<bool>(),
            vec(nz(), 0..3),
            proptest::option::of((any::<u32>(), nz()))
        )
            .prop_map(|(peek, section, partial)| FetchAttribute::Binary {
                peek,
                section,
                partial
            }),
        vec(nz(), 0..3).prop_map(|section| FetchAttribute::BinarySize { section }),
    ]
}

fn modseq() -> impl Strategy<Value = u64> {
    0u64..=i64::MAX as u64
}

pub(crate) fn command_body() -> impl Strategy<Value = CommandBody<'static>> {
    prop_oneof![
        prop_oneof![
            Just(CommandBody::Capability),
            Just(CommandBody::Noop),
            Just(CommandBody::Logout),
            Just(CommandBody::StartTls),
            Just(CommandBody::Check),
            Just(CommandBody::Close),
            Just(CommandBody::Unselect),
            Just(CommandBody::Expunge),
            Just(CommandBody::Idle),
            Just(CommandBody::Namespace),
        ],
        (
            atom(),
            proptest::option::of(prop_oneof![
                Just(AuthData::Empty),
                vec(any::<u8>(), 1..20).prop_map(|d| AuthData::encode(&d))
            ])
        )
            .prop_map(|(mechanism, initial_response)| CommandBody::Authenticate {
                mechanism,
                initial_response
            }),
        (astring(), astring()).prop_map(|(username, password)| CommandBody::Login {
            username,
            password: mailwright_sansio::Secret::new(password)
        }),
        (
            mailbox(),
            any::<bool>(),
            proptest::option::of(qresync_params())
        )
            .prop_map(|(mailbox, condstore, qresync)| CommandBody::Select {
                mailbox,
                condstore,
                qresync
            }),
        (
            mailbox(),
            any::<bool>(),
            proptest::option::of(qresync_params())
        )
            .prop_map(|(mailbox, condstore, qresync)| CommandBody::Examine {
                mailbox,
                condstore,
                qresync
            }),
        (mailbox(), proptest::option::of(vec(atom(), 0..3))).prop_map(|(mailbox, special_use)| {
            CommandBody::Create {
                mailbox,
                special_use,
            }
        }),
        mailbox().prop_map(|mailbox| CommandBody::Delete { mailbox }),
        mailbox().prop_map(|mailbox| CommandBody::Subscribe { mailbox }),
        (mailbox(), mailbox()).prop_map(|(from, to)| CommandBody::Rename { from, to }),
        (
            proptest::option::of(vec(
                prop_oneof![
                    Just(ListSelectOption::Subscribed),
                    Just(ListSelectOption::Remote),
                    Just(ListSelectOption::RecursiveMatch),
                    Just(ListSelectOption::SpecialUse),
                    Just(ListSelectOption::Other(Atom::try_from("X-FOO").unwrap())),
                ],
                0..3
            )),
            mailbox(),
            vec1(list_mailbox(), 3),
            any::<bool>(),
            proptest::option::of(vec(
                prop_oneof![
                    Just(ListReturnOption::Subscribed),
                    Just(ListReturnOption::Children),
                    Just(ListReturnOption::SpecialUse),
                    vec1(status_item(), 3).prop_map(ListReturnOption::Status),
                ],
                0..3
            )),
        )
            .prop_map(|(selection, reference, patterns, pl, returns)| {
                let patterns_list = pl || patterns.len() > 1;
                CommandBody::List {
                    selection,
                    reference,
                    patterns,
                    patterns_list,
                    returns,
                }
            }),
        (mailbox(), list_mailbox())
            .prop_map(|(reference, pattern)| CommandBody::Lsub { reference, pattern }),
        (mailbox(), vec1(status_item(), 4))
            .prop_map(|(mailbox, items)| CommandBody::Status { mailbox, items }),
        (
            mailbox(),
            proptest::option::of(vec(flag(), 0..3)),
            proptest::option::of(date_time()),
            vec(1u8..=255, 0..20),
            any::<bool>()
        )
            .prop_map(|(mailbox, flags, date, d, ns)| CommandBody::Append {
                mailbox,
                flags,
                date,
                message: Literal::new(
                    d,
                    if ns {
                        LiteralMode::NonSync
                    } else {
                        LiteralMode::Sync
                    }
                )
                .unwrap()
            }),
        (
            mailbox(),
            vec(
                (
                    proptest::option::of(vec(flag(), 0..3)),
                    proptest::option::of(date_time()),
                    vec(1u8..=255, 0..20),
                    any::<bool>()
                ),
                2..4
            )
        )
            .prop_map(|(mailbox, ms)| CommandBody::MultiAppend {
                mailbox,
                messages: ms
                    .into_iter()
                    .map(
                        |(flags, date, d, ns)| crate::types::command::AppendMessage {
                            flags,
                            date,
                            message: Literal::new(
                                d,
                                if ns {
                                    LiteralMode::NonSync
                                } else {
                                    LiteralMode::Sync
                                }
                            )
                            .unwrap()
                        }
                    )
                    .collect()
            }),
        sequence_set().prop_map(|set| CommandBody::UidExpunge { set }),
        (
            any::<bool>(),
            proptest::option::of(vec(
                prop_oneof![
                    Just(SearchReturnOption::Min),
                    Just(SearchReturnOption::Max),
                    Just(SearchReturnOption::All),
                    Just(SearchReturnOption::Count),
                    Just(SearchReturnOption::Save)
                ],
                0..3
            )),
            proptest::option::of(astring()),
            vec1(search_key(), 3),
        )
            .prop_map(|(uid, returns, charset, criteria)| CommandBody::Search {
                uid,
                returns,
                charset,
                criteria
            }),
        (
            any::<bool>(),
            proptest::option::of(vec(search_return_option(), 0..3)),
            vec1(sort_criterion(), 3),
            astring(),
            vec1(search_key(), 2),
        )
            .prop_map(
                |(uid, returns, criteria, charset, search)| CommandBody::Sort {
                    uid,
                    returns,
                    criteria,
                    charset,
                    search
                }
            ),
        (
            any::<bool>(),
            thread_algorithm(),
            astring(),
            vec1(search_key(), 2)
        )
            .prop_map(|(uid, algorithm, charset, search)| CommandBody::Thread {
                uid,
                algorithm,
                charset,
                search
            }),
        (
            any::<bool>(),
            sequence_set(),
            prop_oneof![
                Just(FetchItems::All),
                Just(FetchItems::Fast),
                Just(FetchItems::Full),
                fetch_att().prop_map(FetchItems::Single),
                vec1(fetch_att(), 4).prop_map(FetchItems::List)
            ],
            proptest::option::of(modseq()),
            any::<bool>(),
        )
            .prop_map(
                |(uid, set, items, changed_since, vanished)| CommandBody::Fetch {
                    uid,
                    set,
                    items,
                    changed_since,
                    // RFC 7162 §3.2.6: only in UID FETCH with CHANGEDSINCE.
                    vanished: vanished && uid && changed_since.is_some(),
                }
            ),
        (
            any::<bool>(),
            sequence_set(),
            proptest::option::of(modseq()),
            prop_oneof![
                Just(StoreKind::Replace),
                Just(StoreKind::Add),
                Just(StoreKind::Remove)
            ],
            any::<bool>(),
            vec(flag(), 0..3),
            any::<bool>(),
        )
            .prop_map(|(uid, set, unchanged_since, kind, silent, flags, fl)| {
                let flags_list = fl || flags.is_empty();
                CommandBody::Store {
                    uid,
                    set,
                    unchanged_since,
                    kind,
                    silent,
                    flags,
                    flags_list,
                }
            }),
        (any::<bool>(), sequence_set(), mailbox())
            .prop_map(|(uid, set, mailbox)| CommandBody::Copy { uid, set, mailbox }),
        (any::<bool>(), sequence_set(), mailbox())
            .prop_map(|(uid, set, mailbox)| CommandBody::Move { uid, set, mailbox }),
        vec1(atom(), 3).prop_map(|capabilities| CommandBody::Enable { capabilities }),
        proptest::option::of(vec((istring(), nstring()), 0..3))
            .prop_map(|parameters| CommandBody::Id { parameters }),
        atom().prop_map(|algorithm| CommandBody::Compress { algorithm }),
        astring().prop_map(|root| CommandBody::GetQuota { root }),
        mailbox().prop_map(|mailbox| CommandBody::GetQuotaRoot { mailbox }),
        (astring(), vec((atom(), modseq()), 0..3))
            .prop_map(|(root, limits)| CommandBody::SetQuota { root, limits }),
    ]
}

pub(crate) fn command() -> impl Strategy<Value = Command<'static>> {
    (tag(), command_body()).prop_map(|(tag, body)| Command { tag, body })
}

use crate::types::body::*;
use crate::types::response::*;

fn code() -> impl Strategy<Value = Code<'static>> {
    prop_oneof![
        Just(Code::Alert),
        proptest::option::of(vec1(astring(), 3)).prop_map(Code::BadCharset),
        vec1(atom(), 4).prop_map(Code::Capability),
        Just(Code::Parse),
        vec(flag_perm(), 0..4).prop_map(Code::PermanentFlags),
        Just(Code::ReadOnly),
        Just(Code::ReadWrite),
        Just(Code::TryCreate),
        nz().prop_map(Code::UidNext),
        nz().prop_map(Code::UidValidity),
        nz().prop_map(Code::Unseen),
        (nz(), sequence_set())
            .prop_map(|(uid_validity, uids)| Code::AppendUid { uid_validity, uids }),
        (nz(), sequence_set(), sequence_set()).prop_map(|(uid_validity, source, destination)| {
            Code::CopyUid {
                uid_validity,
                source,
                destination,
            }
        }),
        Just(Code::UidNotSticky),
        modseq().prop_map(Code::HighestModSeq),
        Just(Code::NoModSeq),
        sequence_set().prop_map(Code::Modified),
        Just(Code::Closed),
        Just(Code::TooBig),
        ("X[A-Z]{1,6}", proptest::option::of("[ -\\\\^-~]{1,10}")).prop_map(|(a, t)| Code::Other(
            Atom::try_from(a).unwrap(),
            t.map(std::borrow::Cow::Owned)
        )),
    ]
}

fn list_data() -> impl Strategy<Value = ListData<'static>> {
    let ext = prop_oneof![
        "[0-9:*,]{1,5}".prop_map(|t| ExtValue::Token(std::borrow::Cow::Owned(t))),
        istring().prop_map(ExtValue::String),
    ];
    let ext = ext.prop_recursive(2, 6, 3, |inner| vec(inner, 0..3).prop_map(ExtValue::List));
    (
        vec(atom(), 0..3),
        proptest::option::of(prop_oneof![Just(b'/'), Just(b'.'), Just(b'"'), Just(b'\\')]),
        mailbox(),
        proptest::option::of(vec((astring(), ext), 0..2)),
    )
        .prop_map(|(attributes, delimiter, mailbox, extended)| ListData {
            attributes,
            delimiter,
            mailbox,
            extended,
        })
}

fn address() -> impl Strategy<Value = Address<'static>> {
    (nstring(), nstring(), nstring(), nstring()).prop_map(|(name, adl, mailbox, host)| Address {
        name,
        adl,
        mailbox,
        host,
    })
}

fn envelope() -> impl Strategy<Value = Envelope<'static>> {
    let al = || proptest::option::of(vec1(address(), 2));
    (
        (nstring(), nstring(), al(), al(), al()),
        (al(), al(), al(), nstring(), nstring()),
    )
        .prop_map(
            |((date, subject, from, sender, reply_to), (to, cc, bcc, in_reply_to, message_id))| {
                Envelope {
                    date,
                    subject,
                    from,
                    sender,
                    reply_to,
                    to,
                    cc,
                    bcc,
                    in_reply_to,
                    message_id,
                }
            },
        )
}

fn params() -> impl Strategy<Value = BodyParams<'static>> {
    proptest::option::of(vec1((istring(), istring()), 2))
}

fn disposition_tail() -> impl Strategy<Value = Option<DispositionTail<'static>>> {
    let ext = prop_oneof![
        nstring().prop_map(BodyExtension::NString),
        any::<u32>().prop_map(BodyExtension::Number)
    ];
    let ext = ext.prop_recursive(2, 6, 3, |inner| {
        vec1(inner, 3).prop_map(BodyExtension::List)
    });
    proptest::option::of((
        proptest::option::of((istring(), params())),
        proptest::option::of((
            prop_oneof![
                nstring().prop_map(Language::Single),
                vec1(istring(), 2).prop_map(Language::List)
            ],
            proptest::option::of((nstring(), vec(ext, 0..2))),
        )),
    ))
    .prop_map(|t| {
        t.map(|(disposition, language)| DispositionTail {
            disposition,
            language: language.map(|(language, location)| LanguageTail { language, location }),
        })
    })
}

fn body_fields() -> impl Strategy<Value = BodyFields<'static>> {
    (params(), nstring(), nstring(), istring(), any::<u32>()).prop_map(
        |(parameters, id, description, encoding, octets)| BodyFields {
            parameters,
            id,
            description,
            encoding,
            octets,
        },
    )
}

fn quoted(s: &'static str) -> IString<'static> {
    IString::Quoted(Quoted::try_from(s).unwrap())
}

pub(crate) fn body_structure() -> impl Strategy<Value = BodyStructure<'static>> {
    let leaf = (
        prop_oneof![
            (Just(quoted("TEXT")), any::<u32>())
                .prop_map(|(t, lines)| (t, SpecificFields::Text { lines })),
            Just((quoted("IMAGE"), SpecificFields::Basic)),
        ],
        prop_oneof![Just(quoted("PLAIN")), Just(quoted("png")), istring()],
        body_fields(),
        proptest::option::of((nstring(), disposition_tail())),
    )
        .prop_map(|((media_type, specific), subtype, fields, extension)| {
            BodyStructure::Single(SinglePart {
                media_type,
                subtype,
                fields,
                specific,
                extension,
            })
        });
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (
                vec1(inner.clone(), 3),
                istring(),
                proptest::option::of((params(), disposition_tail()))
            )
                .prop_map(|(parts, subtype, extension)| BodyStructure::Multi(
                    MultiPart {
                        parts,
                        subtype,
                        extension
                    }
                )),
            (envelope(), inner, any::<u32>(), body_fields()).prop_map(
                |(env, body, lines, fields)| {
                    BodyStructure::Single(SinglePart {
                        media_type: quoted("MESSAGE"),
                        subtype: quoted("RFC822"),
                        fields,
                        specific: SpecificFields::Message {
                            envelope: Box::new(env),
                            body: Box::new(body),
                            lines,
                        },
                        extension: None,
                    })
                }
            ),
        ]
    })
}

fn fetch_item() -> impl Strategy<Value = FetchItem<'static>> {
    prop_oneof![
        vec(flag_fetch(), 0..4).prop_map(FetchItem::Flags),
        envelope().prop_map(|e| FetchItem::Envelope(Box::new(e))),
        date_time().prop_map(FetchItem::InternalDate),
        nstring().prop_map(FetchItem::Rfc822),
        nstring().prop_map(FetchItem::Rfc822Header),
        nstring().prop_map(FetchItem::Rfc822Text),
        any::<u32>().prop_map(FetchItem::Rfc822Size),
        body_structure().prop_map(|b| FetchItem::BodyStructure(Box::new(b))),
        body_structure().prop_map(|b| FetchItem::Body(Box::new(b))),
        (section(), proptest::option::of(any::<u32>()), nstring()).prop_map(
            |(section, origin, data)| FetchItem::BodySection {
                section,
                origin,
                data
            }
        ),
        nz().prop_map(FetchItem::Uid),
        modseq().prop_map(FetchItem::ModSeq),
        (
            vec(nz(), 0..3),
            proptest::option::of(any::<u32>()),
            proptest::option::of(vec(any::<u8>(), 0..20)),
            any::<bool>()
        )
            .prop_map(|(section, origin, data, l8)| FetchItem::Binary {
                section,
                origin,
                // NUL forces literal8 (and NIL has none), so that the value round-trips.
                literal8: data.as_ref().is_some_and(|d| l8 || d.contains(&0)),
                data: data.map(std::borrow::Cow::Owned),
            }),
        (vec(nz(), 0..3), any::<u32>())
            .prop_map(|(section, size)| FetchItem::BinarySize { section, size }),
    ]
}

fn ns() -> impl Strategy<Value = Option<Vec1<NamespaceDescription<'static>>>> {
    proptest::option::of(vec1(
        (
            istring(),
            proptest::option::of(Just(b'/')),
            vec((istring(), vec1(istring(), 2)), 0..2),
        )
            .prop_map(|(prefix, delimiter, extensions)| NamespaceDescription {
                prefix,
                delimiter,
                extensions,
            }),
        2,
    ))
}

pub(crate) fn data() -> impl Strategy<Value = Data<'static>> {
    prop_oneof![
        vec1(atom(), 4).prop_map(Data::Capability),
        list_data().prop_map(Data::List),
        list_data().prop_map(Data::Lsub),
        (
            mailbox(),
            vec(
                (
                    proptest::sample::select(
                        StatusItem::ALL.iter().map(|(i, _)| *i).collect::<Vec<_>>()
                    ),
                    modseq()
                ),
                0..4
            )
        )
            .prop_map(|(mailbox, items)| Data::Status {
                mailbox,
                items: items
                    .into_iter()
                    .map(|(i, n)| (
                        i,
                        if i == StatusItem::AppendLimit && n % 2 == 0 {
                            None
                        } else {
                            Some(n)
                        }
                    ))
                    .collect(),
            }),
        (vec(nz(), 0..5), proptest::option::of(modseq()))
            .prop_map(|(ids, modseq)| Data::Search { ids, modseq }),
        (vec(nz(), 0..5), proptest::option::of(modseq()))
            .prop_map(|(ids, modseq)| Data::Sort { ids, modseq }),
        vec(thread(), 0..3).prop_map(Data::Thread),
        (
            astring(),
            vec1(
                (atom(), modseq(), modseq()).prop_map(|(name, usage, limit)| {
                    crate::types::quota::QuotaResource { name, usage, limit }
                }),
                3
            )
        )
            .prop_map(|(root, resources)| Data::Quota { root, resources }),
        (mailbox(), vec(astring(), 0..3))
            .prop_map(|(mailbox, roots)| Data::QuotaRoot { mailbox, roots }),
        (
            proptest::option::of(istring()),
            any::<bool>(),
            vec(
                prop_oneof![
                    nz().prop_map(ESearchItem::Min),
                    nz().prop_map(ESearchItem::Max),
                    sequence_set().prop_map(ESearchItem::All),
                    any::<u32>().prop_map(ESearchItem::Count),
                    modseq().prop_map(ESearchItem::ModSeq),
                ],
                0..3
            )
        )
            .prop_map(|(tag, uid, items)| Data::ESearch { tag, uid, items }),
        vec(flag(), 0..4).prop_map(Data::Flags),
        any::<u32>().prop_map(Data::Exists),
        any::<u32>().prop_map(Data::Recent),
        nz().prop_map(Data::Expunge),
        (any::<bool>(), known_set()).prop_map(|(earlier, uids)| Data::Vanished { earlier, uids }),
        (nz(), vec1(fetch_item(), 3)).prop_map(|(seq, items)| Data::Fetch { seq, items }),
        vec(atom(), 0..3).prop_map(Data::Enabled),
        proptest::option::of(vec((istring(), nstring()), 0..3)).prop_map(Data::Id),
        (ns(), ns(), ns()).prop_map(|(personal, other, shared)| Data::Namespace {
            personal,
            other,
            shared
        }),
        // No known keyword starts with X; a raw part never ends in "}" (a literal header).
        (
            "X[A-Za-z0-9$&'+,./:;<=>?@^_`|~!#-]{0,6}",
            "( [ -|~]{0,20})?",
            proptest::option::of(vec(any::<u8>(), 0..8))
        )
            .prop_map(|(name, raw, literal)| {
                let mut raw = raw.into_bytes();
                if let Some(lit) = literal {
                    raw.extend_from_slice(format!(" {{{}}}\r\n", lit.len()).as_bytes());
                    raw.extend_from_slice(&lit);
                }
                Data::Other {
                    name: Atom::try_from(name).unwrap(),
                    raw: raw.into(),
                }
            }),
    ]
}

pub(crate) fn response() -> impl Strategy<Value = Response<'static>> {
    let kind = prop_oneof![
        Just(StatusKind::Ok),
        Just(StatusKind::No),
        Just(StatusKind::Bad)
    ];
    let untagged_kind = prop_oneof![
        Just(StatusKind::Ok),
        Just(StatusKind::No),
        Just(StatusKind::Bad),
        Just(StatusKind::PreAuth),
        Just(StatusKind::Bye)
    ];
    prop_oneof![
        (tag(), kind, proptest::option::of(code()), text()).prop_map(|(t, kind, code, text)| {
            Response::Status(StatusResponse {
                tag: Some(t),
                kind,
                code,
                text,
            })
        }),
        (untagged_kind, proptest::option::of(code()), text()).prop_map(|(kind, code, text)| {
            Response::Status(StatusResponse {
                tag: None,
                kind,
                code,
                text,
            })
        }),
        data().prop_map(Response::Data),
        (proptest::option::of(code()), text())
            .prop_map(|(code, text)| Response::Continue(Continue { code, text })),
    ]
}

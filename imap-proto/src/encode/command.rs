//! Command serialisers; the inverse of `parse::command`.

use super::{Encode, Encoder};
use crate::types::command::{
    AuthData, Command, CommandBody, EntryType, FetchAttribute, FetchItems, ListReturnOption,
    ListSelectOption, SearchKey, SearchReturnOption, Section, SectionText, StatusItem, StoreKind,
};
use crate::types::sort::{SortCriterion, ThreadAlgorithm};

impl Encode for Command<'_> {
    fn encode(&self, e: &mut Encoder) {
        self.tag.encode(e);
        e.sp();
        self.body.encode(e);
        e.crlf();
    }
}

impl Encode for StatusItem {
    fn encode(&self, e: &mut Encoder) {
        e.raw(self.as_str().as_bytes());
    }
}

impl Encode for AuthData<'_> {
    /// The initial-response form (`=` for empty); continuation lines use [`AuthData::encode_line`].
    fn encode(&self, e: &mut Encoder) {
        match self {
            AuthData::Empty => e.raw(b"="),
            AuthData::Base64(a) => a.expose().encode(e),
            AuthData::Cancel => e.raw(b"*"),
        }
    }
}

impl AuthData<'_> {
    /// An AUTHENTICATE continuation line, CRLF included (empty data is an empty line).
    pub fn encode_line(&self, e: &mut Encoder) {
        match self {
            AuthData::Empty => {}
            AuthData::Base64(a) => a.expose().encode(e),
            AuthData::Cancel => e.raw(b"*"),
        }
        e.crlf();
    }
}

impl Encode for ListSelectOption<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ListSelectOption::Subscribed => e.raw(b"SUBSCRIBED"),
            ListSelectOption::Remote => e.raw(b"REMOTE"),
            ListSelectOption::RecursiveMatch => e.raw(b"RECURSIVEMATCH"),
            ListSelectOption::SpecialUse => e.raw(b"SPECIAL-USE"),
            ListSelectOption::Other(a) => a.encode(e),
        }
    }
}

impl Encode for ListReturnOption<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ListReturnOption::Subscribed => e.raw(b"SUBSCRIBED"),
            ListReturnOption::Children => e.raw(b"CHILDREN"),
            ListReturnOption::SpecialUse => e.raw(b"SPECIAL-USE"),
            ListReturnOption::Status(items) => {
                e.raw(b"STATUS ");
                e.paren(items);
            }
            ListReturnOption::Other(a) => a.encode(e),
        }
    }
}

impl Encode for SearchReturnOption {
    fn encode(&self, e: &mut Encoder) {
        e.raw(match self {
            SearchReturnOption::Min => b"MIN",
            SearchReturnOption::Max => b"MAX",
            SearchReturnOption::All => b"ALL",
            SearchReturnOption::Count => b"COUNT",
            SearchReturnOption::Save => b"SAVE",
        });
    }
}

impl Encode for SortCriterion {
    fn encode(&self, e: &mut Encoder) {
        if self.reverse {
            e.raw(b"REVERSE ");
        }
        e.raw(self.key.as_str().as_bytes());
    }
}

impl Encode for ThreadAlgorithm<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(self.as_str().as_bytes());
    }
}

impl Encode for SearchKey<'_> {
    fn encode(&self, e: &mut Encoder) {
        use SearchKey as K;
        let arg = |name: &[u8], v: &dyn Encode, e: &mut Encoder| {
            e.raw(name);
            e.sp();
            v.encode(e);
        };
        match self {
            K::All => e.raw(b"ALL"),
            K::Answered => e.raw(b"ANSWERED"),
            K::Deleted => e.raw(b"DELETED"),
            K::Draft => e.raw(b"DRAFT"),
            K::Flagged => e.raw(b"FLAGGED"),
            K::New => e.raw(b"NEW"),
            K::Old => e.raw(b"OLD"),
            K::Recent => e.raw(b"RECENT"),
            K::Seen => e.raw(b"SEEN"),
            K::Unanswered => e.raw(b"UNANSWERED"),
            K::Undeleted => e.raw(b"UNDELETED"),
            K::Undraft => e.raw(b"UNDRAFT"),
            K::Unflagged => e.raw(b"UNFLAGGED"),
            K::Unseen => e.raw(b"UNSEEN"),
            K::Bcc(v) => arg(b"BCC", v, e),
            K::Body(v) => arg(b"BODY", v, e),
            K::Cc(v) => arg(b"CC", v, e),
            K::From(v) => arg(b"FROM", v, e),
            K::Subject(v) => arg(b"SUBJECT", v, e),
            K::Text(v) => arg(b"TEXT", v, e),
            K::To(v) => arg(b"TO", v, e),
            K::Before(d) => arg(b"BEFORE", d, e),
            K::On(d) => arg(b"ON", d, e),
            K::Since(d) => arg(b"SINCE", d, e),
            K::SentBefore(d) => arg(b"SENTBEFORE", d, e),
            K::SentOn(d) => arg(b"SENTON", d, e),
            K::SentSince(d) => arg(b"SENTSINCE", d, e),
            K::Keyword(a) => arg(b"KEYWORD", a, e),
            K::Unkeyword(a) => arg(b"UNKEYWORD", a, e),
            K::Header(n, v) => {
                arg(b"HEADER", n, e);
                e.sp();
                v.encode(e);
            }
            K::Larger(n) => arg(b"LARGER", n, e),
            K::Smaller(n) => arg(b"SMALLER", n, e),
            K::Older(n) => arg(b"OLDER", n, e),
            K::Younger(n) => arg(b"YOUNGER", n, e),
            K::Uid(s) => arg(b"UID", s, e),
            K::Not(k) => arg(b"NOT", k.as_ref(), e),
            K::Or(a, b) => {
                arg(b"OR", a.as_ref(), e);
                e.sp();
                b.encode(e);
            }
            K::SequenceSet(s) => s.encode(e),
            K::And(keys) => e.paren(keys),
            K::ModSeq { entry, modseq } => {
                e.raw(b"MODSEQ ");
                if let Some((name, t)) = entry {
                    name.encode(e);
                    e.raw(match t {
                        EntryType::Private => b" priv ",
                        EntryType::Shared => b" shared ",
                        EntryType::All => b" all ",
                    });
                }
                e.number(*modseq);
            }
        }
    }
}

impl Encode for Section<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"[");
        for (k, p) in self.part().iter().enumerate() {
            if k > 0 {
                e.raw(b".");
            }
            p.encode(e);
        }
        if let Some(t) = self.text() {
            if !self.part().is_empty() {
                e.raw(b".");
            }
            match t {
                SectionText::Header => e.raw(b"HEADER"),
                SectionText::Text => e.raw(b"TEXT"),
                SectionText::Mime => e.raw(b"MIME"),
                SectionText::HeaderFields(l) => {
                    e.raw(b"HEADER.FIELDS ");
                    e.paren(l);
                }
                SectionText::HeaderFieldsNot(l) => {
                    e.raw(b"HEADER.FIELDS.NOT ");
                    e.paren(l);
                }
            }
        }
        e.raw(b"]");
    }
}

impl Encode for FetchAttribute<'_> {
    fn encode(&self, e: &mut Encoder) {
        use FetchAttribute as A;
        match self {
            A::Envelope => e.raw(b"ENVELOPE"),
            A::Flags => e.raw(b"FLAGS"),
            A::InternalDate => e.raw(b"INTERNALDATE"),
            A::Rfc822 => e.raw(b"RFC822"),
            A::Rfc822Header => e.raw(b"RFC822.HEADER"),
            A::Rfc822Size => e.raw(b"RFC822.SIZE"),
            A::Rfc822Text => e.raw(b"RFC822.TEXT"),
            A::Body => e.raw(b"BODY"),
            A::BodyStructure => e.raw(b"BODYSTRUCTURE"),
            A::Uid => e.raw(b"UID"),
            A::ModSeq => e.raw(b"MODSEQ"),
            A::BodySection {
                peek,
                section,
                partial,
            } => {
                e.raw(if *peek { b"BODY.PEEK" } else { b"BODY" });
                section.encode(e);
                if let Some((off, len)) = partial {
                    e.raw(b"<");
                    off.encode(e);
                    e.raw(b".");
                    len.encode(e);
                    e.raw(b">");
                }
            }
            A::Binary {
                peek,
                section,
                partial,
            } => {
                e.raw(if *peek { b"BINARY.PEEK" } else { b"BINARY" });
                section_binary(e, section);
                if let Some((off, len)) = partial {
                    e.raw(b"<");
                    off.encode(e);
                    e.raw(b".");
                    len.encode(e);
                    e.raw(b">");
                }
            }
            A::BinarySize { section } => {
                e.raw(b"BINARY.SIZE");
                section_binary(e, section);
            }
        }
    }
}

/// `section-binary = "[" [section-part] "]"` (RFC 3516 §4.1).
pub(crate) fn section_binary(e: &mut Encoder, part: &[std::num::NonZeroU32]) {
    e.raw(b"[");
    for (k, n) in part.iter().enumerate() {
        if k > 0 {
            e.raw(b".");
        }
        n.encode(e);
    }
    e.raw(b"]");
}

impl Encode for FetchItems<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FetchItems::All => e.raw(b"ALL"),
            FetchItems::Fast => e.raw(b"FAST"),
            FetchItems::Full => e.raw(b"FULL"),
            FetchItems::Single(a) => a.encode(e),
            FetchItems::List(l) => e.paren(l),
        }
    }
}

impl Encode for CommandBody<'_> {
    fn encode(&self, e: &mut Encoder) {
        use CommandBody as C;
        match self {
            C::Capability
            | C::Noop
            | C::Logout
            | C::StartTls
            | C::Check
            | C::Close
            | C::Unselect
            | C::Expunge
            | C::Idle
            | C::Namespace => {
                e.raw(self.name().as_bytes());
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                e.raw(b"AUTHENTICATE ");
                mechanism.encode(e);
                if let Some(ir) = initial_response {
                    e.sp();
                    ir.encode(e);
                }
            }
            C::Login { username, password } => {
                e.raw(b"LOGIN ");
                username.encode(e);
                e.sp();
                password.expose().encode(e);
            }
            C::Select {
                mailbox,
                condstore,
                qresync,
            }
            | C::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                e.raw(self.name().as_bytes());
                e.sp();
                mailbox.encode(e);
                match (condstore, qresync) {
                    (false, None) => {}
                    (true, None) => e.raw(b" (CONDSTORE)"),
                    (c, Some(q)) => {
                        e.raw(if *c {
                            b" (CONDSTORE QRESYNC ("
                        } else {
                            b" (QRESYNC ("
                        });
                        e.number(u64::from(q.uid_validity.get()));
                        e.sp();
                        e.number(q.modseq);
                        if let Some(k) = &q.known_uids {
                            e.sp();
                            k.encode(e);
                        }
                        if let Some(m) = &q.seq_match {
                            e.raw(b" (");
                            m.seqs.encode(e);
                            e.sp();
                            m.uids.encode(e);
                            e.raw(b")");
                        }
                        e.raw(b"))");
                    }
                }
            }
            C::Create {
                mailbox,
                special_use: Some(uses),
            } => {
                e.raw(b"CREATE ");
                mailbox.encode(e);
                e.raw(b" (USE (");
                for (k, a) in uses.iter().enumerate() {
                    if k > 0 {
                        e.sp();
                    }
                    e.raw(b"\\");
                    a.encode(e);
                }
                e.raw(b"))");
            }
            C::Create {
                mailbox,
                special_use: None,
            }
            | C::Delete { mailbox }
            | C::Subscribe { mailbox }
            | C::Unsubscribe { mailbox } => {
                e.raw(self.name().as_bytes());
                e.sp();
                mailbox.encode(e);
            }
            C::Rename { from, to } => {
                e.raw(b"RENAME ");
                from.encode(e);
                e.sp();
                to.encode(e);
            }
            C::List {
                selection,
                reference,
                patterns,
                patterns_list,
                returns,
            } => {
                e.raw(b"LIST ");
                if let Some(s) = selection {
                    e.paren(s);
                    e.sp();
                }
                reference.encode(e);
                e.sp();
                if *patterns_list || patterns.len() > 1 {
                    e.paren(patterns);
                } else {
                    patterns[0].encode(e);
                }
                if let Some(r) = returns {
                    e.raw(b" RETURN ");
                    e.paren(r);
                }
            }
            C::Lsub { reference, pattern } => {
                e.raw(b"LSUB ");
                reference.encode(e);
                e.sp();
                pattern.encode(e);
            }
            C::Status { mailbox, items } => {
                e.raw(b"STATUS ");
                mailbox.encode(e);
                e.sp();
                e.paren(items);
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                e.raw(b"APPEND ");
                mailbox.encode(e);
                if let Some(f) = flags {
                    e.sp();
                    e.paren(f);
                }
                if let Some(d) = date {
                    e.sp();
                    d.encode(e);
                }
                e.sp();
                message.encode(e);
            }
            C::MultiAppend { mailbox, messages } => {
                e.raw(b"APPEND ");
                mailbox.encode(e);
                for m in messages {
                    if let Some(f) = &m.flags {
                        e.sp();
                        e.paren(f);
                    }
                    if let Some(d) = &m.date {
                        e.sp();
                        d.encode(e);
                    }
                    e.sp();
                    m.message.encode(e);
                }
            }
            C::UidExpunge { set } => {
                e.raw(b"UID EXPUNGE ");
                set.encode(e);
            }
            C::Search {
                returns,
                charset,
                criteria,
                ..
            } => {
                e.raw(self.name().as_bytes());
                if let Some(r) = returns {
                    e.raw(b" RETURN ");
                    e.paren(r);
                }
                if let Some(c) = charset {
                    e.raw(b" CHARSET ");
                    c.encode(e);
                }
                e.sp();
                e.join(criteria);
            }
            C::Sort {
                returns,
                criteria,
                charset,
                search,
                ..
            } => {
                e.raw(self.name().as_bytes());
                if let Some(r) = returns {
                    e.raw(b" RETURN ");
                    e.paren(r);
                }
                e.sp();
                e.paren(criteria);
                e.sp();
                charset.encode(e);
                e.sp();
                e.join(search);
            }
            C::Thread {
                algorithm,
                charset,
                search,
                ..
            } => {
                e.raw(self.name().as_bytes());
                e.sp();
                algorithm.encode(e);
                e.sp();
                charset.encode(e);
                e.sp();
                e.join(search);
            }
            C::Fetch {
                set,
                items,
                changed_since,
                vanished,
                ..
            } => {
                e.raw(self.name().as_bytes());
                e.sp();
                set.encode(e);
                e.sp();
                items.encode(e);
                if let Some(m) = changed_since {
                    e.raw(b" (CHANGEDSINCE ");
                    e.number(*m);
                    if *vanished {
                        e.raw(b" VANISHED");
                    }
                    e.raw(b")");
                }
            }
            C::Store {
                set,
                unchanged_since,
                kind,
                silent,
                flags,
                flags_list,
                ..
            } => {
                e.raw(self.name().as_bytes());
                e.sp();
                set.encode(e);
                if let Some(m) = unchanged_since {
                    e.raw(b" (UNCHANGEDSINCE ");
                    e.number(*m);
                    e.raw(b")");
                }
                e.raw(match kind {
                    StoreKind::Replace => b" ",
                    StoreKind::Add => b" +",
                    StoreKind::Remove => b" -",
                });
                e.raw(if *silent { b"FLAGS.SILENT " } else { b"FLAGS " });
                if *flags_list || flags.is_empty() {
                    e.paren(flags);
                } else {
                    e.join(flags);
                }
            }
            C::Copy { set, mailbox, .. } | C::Move { set, mailbox, .. } => {
                e.raw(self.name().as_bytes());
                e.sp();
                set.encode(e);
                e.sp();
                mailbox.encode(e);
            }
            C::Enable { capabilities } => {
                e.raw(b"ENABLE ");
                e.join(capabilities);
            }
            C::Id { parameters } => {
                e.raw(b"ID ");
                match parameters {
                    None => e.raw(b"NIL"),
                    Some(p) => {
                        e.raw(b"(");
                        for (k, (name, value)) in p.iter().enumerate() {
                            if k > 0 {
                                e.sp();
                            }
                            name.encode(e);
                            e.sp();
                            value.encode(e);
                        }
                        e.raw(b")");
                    }
                }
            }
            C::GetQuota { root } => {
                e.raw(b"GETQUOTA ");
                root.encode(e);
            }
            C::GetQuotaRoot { mailbox } => {
                e.raw(b"GETQUOTAROOT ");
                mailbox.encode(e);
            }
            C::SetQuota { root, limits } => {
                e.raw(b"SETQUOTA ");
                root.encode(e);
                e.raw(b" (");
                for (k, (name, limit)) in limits.iter().enumerate() {
                    if k > 0 {
                        e.sp();
                    }
                    name.encode(e);
                    e.sp();
                    e.number(*limit);
                }
                e.raw(b")");
            }
            C::Compress { algorithm } => {
                e.raw(b"COMPRESS ");
                algorithm.encode(e);
            }
        }
    }
}

//! Response serialisers; the inverse of `parse::response`.

use super::{Encode, Encoder};
use crate::types::body::{
    Address, BodyExtension, BodyParams, BodyStructure, DispositionTail, Envelope, Language,
    SpecificFields,
};
use crate::types::core::{IString, NString, Vec1};
use crate::types::response::{
    Code, Continue, Data, ESearchItem, ExtValue, FetchItem, ListData, NamespaceDescription,
    Response, StatusResponse,
};
use crate::types::sort::Thread;

impl Encode for Response<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Response::Status(s) => s.encode(e),
            Response::Data(d) => d.encode(e),
            Response::Continue(c) => c.encode(e),
        }
    }
}

fn resp_text(e: &mut Encoder, code: Option<&Code<'_>>, text: &crate::types::core::Text<'_>) {
    if let Some(c) = code {
        e.raw(b"[");
        c.encode(e);
        e.raw(b"] ");
    }
    text.encode(e);
}

impl Encode for StatusResponse<'_> {
    fn encode(&self, e: &mut Encoder) {
        match &self.tag {
            Some(t) => t.encode(e),
            None => e.raw(b"*"),
        }
        e.sp();
        e.raw(self.kind.as_str().as_bytes());
        e.sp();
        resp_text(e, self.code.as_ref(), &self.text);
        e.crlf();
    }
}

impl Encode for Continue<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"+ ");
        resp_text(e, self.code.as_ref(), &self.text);
        e.crlf();
    }
}

impl Encode for Code<'_> {
    fn encode(&self, e: &mut Encoder) {
        use Code as C;
        match self {
            C::Alert => e.raw(b"ALERT"),
            C::BadCharset(None) => e.raw(b"BADCHARSET"),
            C::BadCharset(Some(l)) => {
                e.raw(b"BADCHARSET ");
                e.paren(l);
            }
            C::Capability(l) => {
                e.raw(b"CAPABILITY ");
                e.join(l);
            }
            C::Parse => e.raw(b"PARSE"),
            C::PermanentFlags(l) => {
                e.raw(b"PERMANENTFLAGS ");
                e.paren(l);
            }
            C::ReadOnly => e.raw(b"READ-ONLY"),
            C::ReadWrite => e.raw(b"READ-WRITE"),
            C::TryCreate => e.raw(b"TRYCREATE"),
            C::UidNext(n) => {
                e.raw(b"UIDNEXT ");
                n.encode(e);
            }
            C::UidValidity(n) => {
                e.raw(b"UIDVALIDITY ");
                n.encode(e);
            }
            C::Unseen(n) => {
                e.raw(b"UNSEEN ");
                n.encode(e);
            }
            C::AppendUid { uid_validity, uids } => {
                e.raw(b"APPENDUID ");
                uid_validity.encode(e);
                e.sp();
                uids.encode(e);
            }
            C::CopyUid {
                uid_validity,
                source,
                destination,
            } => {
                e.raw(b"COPYUID ");
                uid_validity.encode(e);
                e.sp();
                source.encode(e);
                e.sp();
                destination.encode(e);
            }
            C::UidNotSticky => e.raw(b"UIDNOTSTICKY"),
            C::HighestModSeq(n) => {
                e.raw(b"HIGHESTMODSEQ ");
                e.number(*n);
            }
            C::NoModSeq => e.raw(b"NOMODSEQ"),
            C::Modified(s) => {
                e.raw(b"MODIFIED ");
                s.encode(e);
            }
            C::Closed => e.raw(b"CLOSED"),
            C::CompressionActive => e.raw(b"COMPRESSIONACTIVE"),
            C::TooBig => e.raw(b"TOOBIG"),
            C::Other(name, text) => {
                name.encode(e);
                if let Some(t) = text {
                    e.sp();
                    e.raw(t.as_bytes());
                }
            }
        }
    }
}

fn delimiter(e: &mut Encoder, d: Option<u8>) {
    match d {
        None => e.raw(b"NIL"),
        Some(c @ (b'"' | b'\\')) => e.raw(&[b'"', b'\\', c, b'"']),
        Some(c) => e.raw(&[b'"', c, b'"']),
    }
}

impl Encode for ExtValue<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ExtValue::Token(t) => e.raw(t.as_bytes()),
            ExtValue::String(s) => s.encode(e),
            ExtValue::List(l) => e.paren(l),
        }
    }
}

impl Encode for ListData<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"(");
        for (k, a) in self.attributes.iter().enumerate() {
            if k > 0 {
                e.sp();
            }
            e.raw(b"\\");
            a.encode(e);
        }
        e.raw(b") ");
        delimiter(e, self.delimiter);
        e.sp();
        self.mailbox.encode(e);
        if let Some(ext) = &self.extended {
            e.raw(b" (");
            for (k, (name, v)) in ext.iter().enumerate() {
                if k > 0 {
                    e.sp();
                }
                name.encode(e);
                e.sp();
                v.encode(e);
            }
            e.raw(b")");
        }
    }
}

impl Encode for Thread {
    /// `thread-list` (RFC 5256 §5), without recursion: a deep tree cannot exhaust the stack.
    fn encode(&self, e: &mut Encoder) {
        enum Step<'t> {
            Open(&'t Thread),
            Close,
        }
        let mut stack = vec![Step::Open(self)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Close => e.raw(b")"),
                Step::Open(t) => {
                    e.raw(b"(");
                    for (k, n) in t.members().iter().enumerate() {
                        if k > 0 {
                            e.sp();
                        }
                        n.encode(e);
                    }
                    if !t.members().is_empty() && !t.children().is_empty() {
                        e.sp();
                    }
                    stack.push(Step::Close);
                    stack.extend(t.children().iter().rev().map(Step::Open));
                }
            }
        }
    }
}

impl Encode for ESearchItem {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ESearchItem::Min(n) => {
                e.raw(b"MIN ");
                n.encode(e);
            }
            ESearchItem::Max(n) => {
                e.raw(b"MAX ");
                n.encode(e);
            }
            ESearchItem::All(s) => {
                e.raw(b"ALL ");
                s.encode(e);
            }
            ESearchItem::Count(n) => {
                e.raw(b"COUNT ");
                n.encode(e);
            }
            ESearchItem::ModSeq(n) => {
                e.raw(b"MODSEQ ");
                e.number(*n);
            }
        }
    }
}

fn namespace(e: &mut Encoder, ns: Option<&Vec1<NamespaceDescription<'_>>>) {
    let Some(list) = ns else {
        e.raw(b"NIL");
        return;
    };
    e.raw(b"(");
    for d in list.iter() {
        e.raw(b"(");
        d.prefix.encode(e);
        e.sp();
        delimiter(e, d.delimiter);
        for (name, values) in &d.extensions {
            e.sp();
            name.encode(e);
            e.sp();
            e.paren(values);
        }
        e.raw(b")");
    }
    e.raw(b")");
}

fn address_list(e: &mut Encoder, l: Option<&Vec1<Address<'_>>>) {
    match l {
        None => e.raw(b"NIL"),
        Some(l) => {
            e.raw(b"(");
            for a in l.iter() {
                e.raw(b"(");
                a.name.encode(e);
                e.sp();
                a.adl.encode(e);
                e.sp();
                a.mailbox.encode(e);
                e.sp();
                a.host.encode(e);
                e.raw(b")");
            }
            e.raw(b")");
        }
    }
}

impl Encode for Envelope<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"(");
        self.date.encode(e);
        e.sp();
        self.subject.encode(e);
        for l in [
            &self.from,
            &self.sender,
            &self.reply_to,
            &self.to,
            &self.cc,
            &self.bcc,
        ] {
            e.sp();
            address_list(e, l.as_ref());
        }
        e.sp();
        self.in_reply_to.encode(e);
        e.sp();
        self.message_id.encode(e);
        e.raw(b")");
    }
}

fn params(e: &mut Encoder, p: &BodyParams<'_>) {
    match p {
        None => e.raw(b"NIL"),
        Some(l) => {
            e.raw(b"(");
            for (k, (a, v)) in l.iter().enumerate() {
                if k > 0 {
                    e.sp();
                }
                a.encode(e);
                e.sp();
                v.encode(e);
            }
            e.raw(b")");
        }
    }
}

impl Encode for BodyExtension<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            BodyExtension::NString(s) => s.encode(e),
            BodyExtension::Number(n) => n.encode(e),
            BodyExtension::List(l) => e.paren(l),
        }
    }
}

fn tail(e: &mut Encoder, t: Option<&DispositionTail<'_>>) {
    let Some(t) = t else { return };
    e.sp();
    match &t.disposition {
        None => e.raw(b"NIL"),
        Some((ty, p)) => {
            e.raw(b"(");
            ty.encode(e);
            e.sp();
            params(e, p);
            e.raw(b")");
        }
    }
    let Some(l) = &t.language else { return };
    e.sp();
    match &l.language {
        Language::Single(s) => s.encode(e),
        Language::List(v) => e.paren(v),
    }
    let Some((loc, ext)) = &l.location else {
        return;
    };
    e.sp();
    loc.encode(e);
    for x in ext {
        e.sp();
        x.encode(e);
    }
}

impl Encode for BodyStructure<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"(");
        match self {
            BodyStructure::Multi(m) => {
                for p in m.parts.iter() {
                    p.encode(e);
                }
                e.sp();
                m.subtype.encode(e);
                if let Some((p, t)) = &m.extension {
                    e.sp();
                    params(e, p);
                    tail(e, t.as_ref());
                }
            }
            BodyStructure::Single(s) => {
                s.media_type.encode(e);
                e.sp();
                s.subtype.encode(e);
                e.sp();
                params(e, &s.fields.parameters);
                e.sp();
                s.fields.id.encode(e);
                e.sp();
                s.fields.description.encode(e);
                e.sp();
                s.fields.encoding.encode(e);
                e.sp();
                s.fields.octets.encode(e);
                match &s.specific {
                    SpecificFields::Basic => {}
                    SpecificFields::Text { lines } => {
                        e.sp();
                        lines.encode(e);
                    }
                    SpecificFields::Message {
                        envelope,
                        body,
                        lines,
                    } => {
                        e.sp();
                        envelope.encode(e);
                        e.sp();
                        body.encode(e);
                        e.sp();
                        lines.encode(e);
                    }
                }
                if let Some((md5, t)) = &s.extension {
                    e.sp();
                    md5.encode(e);
                    tail(e, t.as_ref());
                }
            }
        }
        e.raw(b")");
    }
}

impl Encode for FetchItem<'_> {
    fn encode(&self, e: &mut Encoder) {
        use FetchItem as F;
        let named = |e: &mut Encoder, name: &[u8], v: &dyn Encode| {
            e.raw(name);
            e.sp();
            v.encode(e);
        };
        match self {
            F::Flags(f) => {
                e.raw(b"FLAGS ");
                e.paren(f);
            }
            F::Envelope(env) => named(e, b"ENVELOPE", env.as_ref()),
            F::InternalDate(d) => named(e, b"INTERNALDATE", d),
            F::Rfc822(s) => named(e, b"RFC822", s),
            F::Rfc822Header(s) => named(e, b"RFC822.HEADER", s),
            F::Rfc822Text(s) => named(e, b"RFC822.TEXT", s),
            F::Rfc822Size(n) => named(e, b"RFC822.SIZE", n),
            F::Body(b) => named(e, b"BODY", b.as_ref()),
            F::BodyStructure(b) => named(e, b"BODYSTRUCTURE", b.as_ref()),
            F::Uid(n) => named(e, b"UID", n),
            F::ModSeq(n) => {
                e.raw(b"MODSEQ (");
                e.number(*n);
                e.raw(b")");
            }
            F::BodySection {
                section,
                origin,
                data,
            } => {
                e.raw(b"BODY");
                section.encode(e);
                if let Some(o) = origin {
                    e.raw(b"<");
                    o.encode(e);
                    e.raw(b">");
                }
                e.sp();
                data.encode(e);
            }
            F::Binary {
                section,
                origin,
                data,
                literal8,
            } => {
                e.raw(b"BINARY");
                super::command::section_binary(e, section);
                if let Some(o) = origin {
                    e.raw(b"<");
                    o.encode(e);
                    e.raw(b">");
                }
                e.sp();
                match data {
                    None => e.raw(b"NIL"),
                    // RFC 3516 §4.2: literal8 is needed when the content has NUL.
                    Some(d) if *literal8 || d.contains(&0) => {
                        e.raw(b"~{");
                        e.number(d.len() as u64);
                        e.raw(b"}\r\n");
                        e.raw(d);
                    }
                    Some(d) => e.literal(d, crate::types::core::LiteralMode::Sync),
                }
            }
            F::BinarySize { section, size } => {
                e.raw(b"BINARY.SIZE");
                super::command::section_binary(e, section);
                e.sp();
                size.encode(e);
            }
        }
    }
}

fn id_params(e: &mut Encoder, p: Option<&Vec<(IString<'_>, NString<'_>)>>) {
    match p {
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

impl Encode for Data<'_> {
    fn encode(&self, e: &mut Encoder) {
        use Data as D;
        e.raw(b"* ");
        match self {
            D::Capability(l) => {
                e.raw(b"CAPABILITY ");
                e.join(l);
            }
            D::List(l) => {
                e.raw(b"LIST ");
                l.encode(e);
            }
            D::Lsub(l) => {
                e.raw(b"LSUB ");
                l.encode(e);
            }
            D::Status { mailbox, items } => {
                e.raw(b"STATUS ");
                mailbox.encode(e);
                e.raw(b" (");
                for (k, (item, n)) in items.iter().enumerate() {
                    if k > 0 {
                        e.sp();
                    }
                    item.encode(e);
                    e.sp();
                    match n {
                        Some(n) => e.number(*n),
                        None => e.raw(b"NIL"),
                    }
                }
                e.raw(b")");
            }
            D::Search { ids, modseq } => {
                e.raw(b"SEARCH");
                for n in ids {
                    e.sp();
                    n.encode(e);
                }
                if let Some(m) = modseq {
                    e.raw(b" (MODSEQ ");
                    e.number(*m);
                    e.raw(b")");
                }
            }
            D::Sort { ids, modseq } => {
                e.raw(b"SORT");
                for n in ids {
                    e.sp();
                    n.encode(e);
                }
                if let Some(m) = modseq {
                    e.raw(b" (MODSEQ ");
                    e.number(*m);
                    e.raw(b")");
                }
            }
            D::Thread(threads) => {
                e.raw(b"THREAD");
                if !threads.is_empty() {
                    e.sp();
                }
                for t in threads {
                    t.encode(e);
                }
            }
            D::Quota { root, resources } => {
                e.raw(b"QUOTA ");
                root.encode(e);
                e.raw(b" (");
                for (k, q) in resources.iter().enumerate() {
                    if k > 0 {
                        e.sp();
                    }
                    q.name.encode(e);
                    e.sp();
                    e.number(q.usage);
                    e.sp();
                    e.number(q.limit);
                }
                e.raw(b")");
            }
            D::QuotaRoot { mailbox, roots } => {
                e.raw(b"QUOTAROOT ");
                mailbox.encode(e);
                for r in roots {
                    e.sp();
                    r.encode(e);
                }
            }
            D::ESearch { tag, uid, items } => {
                e.raw(b"ESEARCH");
                if let Some(t) = tag {
                    e.raw(b" (TAG ");
                    t.encode(e);
                    e.raw(b")");
                }
                if *uid {
                    e.raw(b" UID");
                }
                for item in items {
                    e.sp();
                    item.encode(e);
                }
            }
            D::Flags(f) => {
                e.raw(b"FLAGS ");
                e.paren(f);
            }
            D::Exists(n) => {
                n.encode(e);
                e.raw(b" EXISTS");
            }
            D::Recent(n) => {
                n.encode(e);
                e.raw(b" RECENT");
            }
            D::Expunge(n) => {
                n.encode(e);
                e.raw(b" EXPUNGE");
            }
            D::Vanished { earlier, uids } => {
                e.raw(if *earlier {
                    b"VANISHED (EARLIER) "
                } else {
                    b"VANISHED "
                });
                uids.encode(e);
            }
            D::Fetch { seq, items } => {
                seq.encode(e);
                e.raw(b" FETCH ");
                e.paren(items);
            }
            D::Enabled(caps) => {
                e.raw(b"ENABLED");
                for c in caps {
                    e.sp();
                    c.encode(e);
                }
            }
            D::Id(p) => {
                e.raw(b"ID ");
                id_params(e, p.as_ref());
            }
            D::Namespace {
                personal,
                other,
                shared,
            } => {
                e.raw(b"NAMESPACE ");
                namespace(e, personal.as_ref());
                e.sp();
                namespace(e, other.as_ref());
                e.sp();
                namespace(e, shared.as_ref());
            }
            D::Other { name, raw } => {
                name.encode(e);
                e.raw(raw);
            }
        }
        e.crlf();
    }
}

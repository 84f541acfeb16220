//! The operations of an `imap_check` session (see `imap_check.rs`): APPEND, STORE, EXPUNGE,
//! FETCH (with the octets of the session's own messages checked), COPY and SEARCH, each with
//! the checks the module docs of `imap_check.rs` list.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use mailwright::imap::types::command::{
    FetchAttribute, FetchItems, SearchKey, SectionText, StoreKind,
};
use mailwright::imap::types::datetime::Date;
use mailwright::imap::types::flag::Flag;
use mailwright::imap::types::response::FetchItem;
use mailwright::imap::{
    ClientEvent, Code, CommandBody, Data, Literal, LiteralMode, NString, StatusKind, Vec1,
};

use super::imap_check::Checker;
use super::imap_check_model::{POOL, Reading, expand, flag_name, pool, range, section, set_of};
use super::imap_client::{Reply, astring, mailbox};

impl Checker {
    pub(crate) fn message_id(&self, n: u64) -> String {
        format!("<check-{}-{}-{n}@example.net>", self.nonce, self.id)
    }

    pub(crate) fn message(&mut self) -> Vec<u8> {
        let n = self.appended;
        let mut m = format!(
            "From: Checker <check@example.net>\r\nTo: shared@example.org\r\n\
             Subject: check {} {n}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
             Message-ID: {}\r\n\r\n",
            self.id,
            self.message_id(n)
        );
        for i in 0..self.rng.below(40) {
            let _ = write!(m, "line {i} of message {} {n}\r\n", self.id);
        }
        m.into_bytes()
    }

    /// A message number (the session has messages): half the time one of the first eight, so
    /// that sessions often work on the same messages.
    pub(crate) fn pick(&mut self) -> u32 {
        let len = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let hot = if self.rng.below(2) == 0 {
            len.min(8)
        } else {
            len
        };
        self.rng.below(hot) + 1
    }

    /// A random message this session put there.
    pub(crate) fn pick_own(&mut self) -> Option<u32> {
        let mut own: Vec<u32> = self.own.keys().copied().collect();
        own.sort_unstable();
        if own.is_empty() {
            return None;
        }
        let i = self.rng.below(u32::try_from(own.len()).unwrap_or(u32::MAX)) as usize;
        Some(own[i])
    }

    pub(crate) fn random_flags(&mut self, max: u32) -> Vec<Flag<'static>> {
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..=self.rng.below(max) {
            let f = pool(self.rng.below(POOL));
            if names.insert(flag_name(&f)) {
                out.push(f);
            }
        }
        out
    }

    /// One random operation, then the model completed.
    pub(crate) async fn step(&mut self) {
        // Keep the mailbox about its size: a session with many messages of its own expunges.
        let crowded = self.own.len() > 3 * self.cfg.preload.max(2);
        match self.rng.below(20) {
            0..=2 if !crowded => self.append().await,
            0..=2 => self.expunge().await,
            3..=7 => self.store().await,
            8..=10 => self.expunge().await,
            11..=14 => self.fetch().await,
            15..=16 if !crowded => self.copy().await,
            15..=16 => self.expunge().await,
            17..=18 => self.search().await,
            _ => {
                self.cmd("NOOP", CommandBody::Noop, Reading::default())
                    .await;
            }
        }
        self.complete().await;
    }

    pub(crate) async fn append(&mut self) {
        self.appended += 1;
        let msg = Arc::new(self.message());
        let flags = if self.rng.below(2) == 0 {
            None
        } else {
            Some(self.random_flags(3))
        };
        let max_known = self.max_uid();
        let body = CommandBody::Append {
            mailbox: mailbox(&self.cfg.mailbox),
            flags,
            date: None,
            message: Literal::new(msg.to_vec(), LiteralMode::Sync).expect("no NUL"),
        };
        let Some(r) = self.cmd("APPEND", body, Reading::default()).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        match &r.status.code {
            Some(Code::AppendUid { uid_validity, uids }) => {
                let uids = expand(uids);
                if uid_validity.get() != self.uid_validity || uids.len() != 1 {
                    self.disagree(&format!(
                        "APPENDUID {uid_validity} {uids:?} (UIDVALIDITY {})",
                        self.uid_validity
                    ));
                }
                if let Some(&u) = uids.first() {
                    if u <= max_known {
                        self.disagree(&format!(
                            "APPENDUID {u} not above UID {max_known} the session knew"
                        ));
                    }
                    self.own.insert(u, msg);
                }
            }
            _ => self.disagree("APPEND without APPENDUID"),
        }
    }

    pub(crate) async fn store(&mut self) {
        if self.slots.is_empty() {
            return self.append().await;
        }
        let n = self.pick();
        let uid = self.slots[n as usize - 1].uid;
        let by_uid = uid.is_some() && self.rng.below(3) == 0;
        let add = self.rng.below(2) == 0;
        let silent = self.rng.below(5) == 0;
        let flags = self.random_flags(2);
        let names: Vec<String> = flags.iter().map(flag_name).collect();
        let set = set_of(&[if by_uid { uid.unwrap_or(n) } else { n }]);
        let body = CommandBody::Store {
            uid: by_uid,
            set,
            unchanged_since: None,
            kind: if add {
                StoreKind::Add
            } else {
                StoreKind::Remove
            },
            silent,
            flags,
            flags_list: true,
        };
        let name = if by_uid { "UID STORE" } else { "STORE" };
        let how = Reading {
            uid: by_uid,
            ..Reading::default()
        };
        let Some(r) = self.cmd(name, body, how).await else {
            return;
        };
        // .SILENT: the client applies the change it asked for itself, unless the server told
        // the message's flags in the answer anyway (another session changed them meanwhile:
        // what it tells is the state after this STORE).
        let told = r.untagged.iter().any(|ev| match ev {
            ClientEvent::Data(Data::Fetch { seq, items }) => {
                let this = items
                    .iter()
                    .any(|it| matches!(it, FetchItem::Uid(u) if Some(u.get()) == uid))
                    || (!by_uid && seq.get() == n);
                this && items.iter().any(|it| matches!(it, FetchItem::Flags(_)))
            }
            _ => false,
        });
        if r.status.kind == StatusKind::Ok
            && silent
            && !told
            && let Some(i) = uid.and_then(|u| self.slot_of(u))
            && let Some(set) = &mut self.slots[i].flags
        {
            for name in names {
                if add {
                    set.insert(name);
                } else {
                    set.remove(&name);
                }
            }
        }
    }

    /// Expunges a message of this session's: `\Deleted` (silently), then UID EXPUNGE or
    /// EXPUNGE (which may take other sessions' `\Deleted` messages with it).
    pub(crate) async fn expunge(&mut self) {
        let Some(uid) = self.pick_own() else {
            return self.append().await;
        };
        let set = set_of(&[uid]);
        let body = CommandBody::Store {
            uid: true,
            set: set.clone(),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: true,
            flags: vec![Flag::Deleted],
            flags_list: true,
        };
        let uid_reading = Reading {
            uid: true,
            ..Reading::default()
        };
        let Some(r) = self.cmd("UID STORE", body, uid_reading).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        if let Some(i) = self.slot_of(uid)
            && let Some(set) = &mut self.slots[i].flags
        {
            set.insert("\\deleted".into());
        }
        let r = if self.rng.below(3) == 0 {
            self.cmd("EXPUNGE", CommandBody::Expunge, Reading::default())
                .await
        } else {
            self.cmd("UID EXPUNGE", CommandBody::UidExpunge { set }, uid_reading)
                .await
        };
        self.own.remove(&uid);
        if r.is_some_and(|r| r.status.kind == StatusKind::Ok) && self.slot_of(uid).is_some() {
            self.disagree(&format!(
                "UID {uid} is \\Deleted, and still there after EXPUNGE"
            ));
        }
    }

    pub(crate) async fn fetch(&mut self) {
        if self.slots.is_empty() {
            return self.append().await;
        }
        let len = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let n = self.pick();
        let uid = self.slots[n as usize - 1].uid;
        let peek_all = FetchAttribute::BodySection {
            peek: true,
            section: section(None),
            partial: None,
        };
        let text = FetchAttribute::BodySection {
            peek: false,
            section: section(Some(SectionText::Text)),
            partial: None,
        };
        let message_id = FetchAttribute::BodySection {
            peek: true,
            section: section(Some(SectionText::HeaderFields(Vec1::one(astring(
                "Message-ID",
            ))))),
            partial: None,
        };
        let (by_uid, set, items) = match (self.rng.below(6), uid) {
            (0, _) => (
                false,
                set_of(&[n]),
                vec![FetchAttribute::Flags, FetchAttribute::Uid],
            ),
            (1, _) => (
                false,
                set_of(&[n]),
                vec![
                    FetchAttribute::Uid,
                    FetchAttribute::Rfc822Size,
                    FetchAttribute::InternalDate,
                    FetchAttribute::Envelope,
                ],
            ),
            (2, Some(u)) => (true, set_of(&[u]), vec![peek_all]),
            (3, _) => (
                false,
                range(n, (n + 4).min(len)),
                vec![FetchAttribute::Uid, FetchAttribute::Flags],
            ),
            (4, _) => (false, set_of(&[n]), vec![FetchAttribute::Uid, text]),
            (_, Some(u)) => (true, set_of(&[u]), vec![message_id]),
            (_, None) => (false, set_of(&[n]), vec![FetchAttribute::Uid, peek_all]),
        };
        let body = CommandBody::Fetch {
            uid: by_uid,
            set,
            items: FetchItems::List(Vec1::try_from(items).expect("non-empty")),
            changed_since: None,
            vanished: false,
        };
        let name = if by_uid { "UID FETCH" } else { "FETCH" };
        let how = Reading {
            uid: by_uid,
            ..Reading::default()
        };
        let Some(r) = self.cmd(name, body, how).await else {
            return;
        };
        self.check_contents(&r, by_uid);
    }

    /// A FETCH of a message this session put there returns its octets.
    pub(crate) fn check_contents(&mut self, r: &Reply, by_uid: bool) {
        let mut problems = Vec::new();
        for ev in &r.untagged {
            let ClientEvent::Data(Data::Fetch { seq, items }) = ev else {
                continue;
            };
            let uid = items
                .iter()
                .find_map(|it| match it {
                    FetchItem::Uid(u) => Some(u.get()),
                    _ => None,
                })
                .or_else(|| {
                    // Without the UID item: a FETCH, which no EXPUNGE interrupts.
                    (!by_uid)
                        .then(|| self.slots.get(seq.get() as usize - 1).and_then(|s| s.uid))
                        .flatten()
                });
            let Some(content) = uid.and_then(|u| self.own.get(&u)) else {
                continue;
            };
            let body_at = content
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(content.len(), |p| p + 4);
            for it in items.iter() {
                let (what, got, want): (&str, &NString<'_>, &[u8]) = match it {
                    FetchItem::BodySection { section, data, .. } => match section.text() {
                        None => ("BODY[]", data, &content[..]),
                        Some(SectionText::Text) => ("BODY[TEXT]", data, &content[body_at..]),
                        Some(SectionText::HeaderFields(_)) => {
                            let Some(got) = data.0.as_ref() else {
                                problems.push(format!("UID {uid:?}: BODY[HEADER.FIELDS] NIL"));
                                continue;
                            };
                            let text = String::from_utf8_lossy(got.as_bytes()).into_owned();
                            let line = content
                                .split(|&b| b == b'\n')
                                .find(|l| l.starts_with(b"Message-ID: "))
                                .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
                                .unwrap_or_default();
                            if !text.contains(&line) {
                                problems.push(format!(
                                    "UID {uid:?}: Message-ID field {text:?}, expected {line:?}"
                                ));
                            }
                            continue;
                        }
                        Some(_) => continue,
                    },
                    FetchItem::Rfc822Size(size) => {
                        if *size as usize != content.len() {
                            problems.push(format!(
                                "UID {uid:?}: RFC822.SIZE {size}, appended {}",
                                content.len()
                            ));
                        }
                        continue;
                    }
                    _ => continue,
                };
                if got.0.as_ref().map(mailwright::imap::IString::as_bytes) != Some(want) {
                    problems.push(format!(
                        "UID {uid:?}: {what} is not what the session stored ({} octets)",
                        got.0.as_ref().map_or(0, |s| s.as_bytes().len())
                    ));
                }
            }
        }
        for p in problems {
            self.disagree(&p);
        }
    }

    /// COPY of messages this session put there: into the shared mailbox (the copies are its
    /// own then) or into the side mailbox.
    pub(crate) async fn copy(&mut self) {
        let mut uids = BTreeSet::new();
        for _ in 0..=self.rng.below(3) {
            if let Some(u) = self.pick_own() {
                uids.insert(u);
            }
        }
        if uids.is_empty() {
            return self.append().await;
        }
        let uids: Vec<u32> = uids.into_iter().collect();
        let side = self.rng.below(4) == 0;
        let dest = if side {
            self.cfg.side_mailbox.clone()
        } else {
            self.cfg.mailbox.clone()
        };
        let max_known = self.max_uid();
        let body = CommandBody::Copy {
            uid: true,
            set: set_of(&uids),
            mailbox: mailbox(&dest),
        };
        let how = Reading {
            uid: true,
            ..Reading::default()
        };
        let Some(r) = self.cmd("UID COPY", body, how).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        let Some(Code::CopyUid {
            uid_validity,
            source,
            destination,
        }) = &r.status.code
        else {
            return self.disagree("COPY without COPYUID");
        };
        let (src, dst) = (expand(source), expand(destination));
        if src.len() != dst.len() || src != uids {
            return self.disagree(&format!(
                "COPY of {uids:?} answered COPYUID {src:?} {dst:?}"
            ));
        }
        if side {
            return;
        }
        if uid_validity.get() != self.uid_validity {
            self.disagree(&format!("COPYUID with UIDVALIDITY {uid_validity}"));
        }
        for (s, d) in src.iter().zip(&dst) {
            if *d <= max_known {
                self.disagree(&format!(
                    "COPYUID gave UID {d}, not above UID {max_known} the session knew"
                ));
            }
            if let Some(c) = self.own.get(s).cloned() {
                self.own.insert(*d, c);
            }
        }
    }

    pub(crate) async fn search(&mut self) {
        let before = self.slots.len();
        match self.rng.below(5) {
            0 => {
                let Some(_) = self
                    .cmd(
                        "SEARCH",
                        search_body(false, SearchKey::All),
                        Reading::default(),
                    )
                    .await
                else {
                    return;
                };
                let k = self.last_search.len();
                let exact = self
                    .last_search
                    .iter()
                    .enumerate()
                    .all(|(i, n)| *n as usize == i + 1);
                if !exact || k < before || k > self.slots.len() {
                    let msg = format!(
                        "SEARCH ALL found {k} messages ({}), the session has {before}",
                        if exact { "in order" } else { "not 1:n" }
                    );
                    self.disagree(&msg);
                }
            }
            1 => {
                let known: Vec<u32> = self.slots.iter().filter_map(|s| s.uid).collect();
                if known.is_empty() {
                    return;
                }
                let len = u32::try_from(known.len()).unwrap_or(u32::MAX);
                let a = known[self.rng.below(len) as usize];
                let b = known[self.rng.below(len) as usize];
                let (lo, hi) = (a.min(b), a.max(b));
                let how = Reading {
                    uid: true,
                    ..Reading::default()
                };
                let key = SearchKey::Uid(range(lo, hi));
                if self
                    .cmd("UID SEARCH", search_body(true, key), how)
                    .await
                    .is_none()
                {
                    return;
                }
                let found: BTreeSet<u32> = self.last_search.iter().copied().collect();
                let own: Vec<u32> = self.own.keys().copied().collect();
                if let Some(u) = found.iter().find(|u| **u < lo || **u > hi) {
                    self.disagree(&format!("UID SEARCH UID {lo}:{hi} found UID {u}"));
                }
                if let Some(u) = own
                    .iter()
                    .find(|u| (lo..=hi).contains(*u) && !found.contains(*u))
                {
                    self.disagree(&format!("UID SEARCH UID {lo}:{hi} missed UID {u}"));
                }
            }
            2 => {
                let Some(uid) = self.pick_own() else { return };
                let content = self.own[&uid].clone();
                let id = content
                    .split(|&b| b == b'\n')
                    .find_map(|l| l.strip_prefix(b"Message-ID: "))
                    .map(|v| String::from_utf8_lossy(v).trim_end().to_owned())
                    .unwrap_or_default();
                let key = SearchKey::Header(astring("Message-ID"), astring(&id));
                if self
                    .cmd("SEARCH", search_body(false, key), Reading::default())
                    .await
                    .is_none()
                {
                    return;
                }
                // The message and the copies this session made of it.
                let mut want: Vec<u32> = self
                    .own
                    .iter()
                    .filter(|(_, c)| **c == content)
                    .filter_map(|(u, _)| self.slot_of(*u))
                    .map(|i| u32::try_from(i + 1).unwrap_or(0))
                    .collect();
                want.sort_unstable();
                if self.last_search != want {
                    let msg = format!(
                        "SEARCH HEADER Message-ID of UID {uid} found {:?}, expected {want:?}",
                        self.last_search
                    );
                    self.disagree(&msg);
                }
            }
            3 => {
                let key = match self.rng.below(6) {
                    0 => SearchKey::Flagged,
                    1 => SearchKey::Unseen,
                    2 => SearchKey::Not(Box::new(SearchKey::Deleted)),
                    3 => SearchKey::Since(Date::new(2000, 1, 1).expect("date")),
                    4 => SearchKey::Larger(400),
                    _ => SearchKey::Or(Box::new(SearchKey::Seen), Box::new(SearchKey::Flagged)),
                };
                self.cmd("SEARCH", search_body(false, key), Reading::default())
                    .await;
            }
            _ => {
                let Flag::Keyword(k) = pool(4 + self.rng.below(30)) else {
                    return;
                };
                let how = Reading {
                    uid: true,
                    ..Reading::default()
                };
                self.cmd("UID SEARCH", search_body(true, SearchKey::Keyword(k)), how)
                    .await;
            }
        }
    }
}

pub(crate) fn search_body(uid: bool, key: SearchKey<'static>) -> CommandBody<'static> {
    CommandBody::Search {
        uid,
        returns: None,
        charset: None,
        criteria: Vec1::one(key),
    }
}

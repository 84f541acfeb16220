//! The SORT, THREAD and SEARCH header keys of a message ([`HeaderKeys`]): worked out of its header block once
//! and kept in the store's per-folder [`KeyCache`](crate::store::summary::KeyCache) when it
//! has one, so that a later SORT or THREAD of the folder, in any session of the process,
//! reads no header.

use std::sync::{Arc, MutexGuard, PoisonError};

use super::mime::{HeaderMatch, field_value};
use super::search::indexed_header;
use super::selected::Selected;
use super::sort::{base_subject, display_key, field, mailbox_key, sent_date_of};
use super::thread::msg_ids;
use crate::store::summary::{HeaderKeys, KeyCache, SharedKeys};
use mailwright_imap_proto::structure::{Field, fields};

/// Over this many messages a folder's keys are not kept (worked out per command instead).
const MAX_KEPT: usize = 4_000_000;

/// The keys of a header block.
pub(crate) fn of_header(header: &[u8]) -> HeaderKeys {
    let fields: Vec<Field<'_>> = fields(header).collect();
    let (subject, reply) = field(&fields, "Subject")
        .map(|f| base_subject(&f.unfolded()))
        .unwrap_or_default();
    let message_id = field(&fields, "Message-ID").and_then(|f| msg_ids(f.value).into_iter().next());
    let mut references = field(&fields, "References")
        .map(|f| msg_ids(&f.unfolded()))
        .unwrap_or_default();
    if references.is_empty()
        && let Some(id) =
            field(&fields, "In-Reply-To").and_then(|f| msg_ids(f.value).into_iter().next())
    {
        references.push(id);
    }
    HeaderKeys {
        sent_date: sent_date_of(&fields),
        subject: subject.into(),
        reply,
        from: mailbox_key(&fields, "From").into(),
        to: mailbox_key(&fields, "To").into(),
        cc: mailbox_key(&fields, "Cc").into(),
        display_from: display_key(&fields, "From").into(),
        display_to: display_key(&fields, "To").into(),
        message_id: message_id.map(Into::into),
        references: references.into_iter().map(Into::into).collect(),
        search: SEARCHED.map(|(name, how)| {
            fields
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
                .map(|f| field_value(f, how).into())
                .collect()
        }),
    }
}

/// The header keys of SEARCH kept in [`HeaderKeys::search`], in its order.
pub(crate) const SEARCHED: [(&str, HeaderMatch); 4] = [
    ("From", HeaderMatch::Address),
    ("To", HeaderMatch::Address),
    ("Cc", HeaderMatch::Address),
    ("Subject", HeaderMatch::CompressSpace),
];

/// The keys of a session's messages for one command: from the folder's cache, or worked out
/// (and kept there).
pub(crate) struct Keys<'s> {
    sel: &'s Selected,
    cache: Option<SharedKeys>,
}

fn lock(cache: &SharedKeys) -> MutexGuard<'_, KeyCache> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<'s> Keys<'s> {
    /// The keys of `sel`'s messages; the folder's cache is emptied when it is of another
    /// UIDVALIDITY, and rid of expunged messages' keys when they are many.
    pub(crate) fn new(sel: &'s Selected) -> Self {
        let cache = sel
            .mailbox
            .header_keys()
            .filter(|_| sel.msgs.len() <= MAX_KEPT);
        if let Some(c) = &cache {
            let mut c = lock(c);
            if c.uid_validity != sel.uid_validity {
                c.keys.clear();
                c.uid_validity = sel.uid_validity;
            }
            let n = sel.msgs.len();
            if c.keys.len() > n + n / 8 + 1024 {
                // Messages are in UID order in the view.
                c.keys
                    .retain(|uid, _| sel.msgs.binary_search_by_key(uid, |m| m.uid).is_ok());
            }
        }
        Keys { sel, cache }
    }

    /// The keys of message `i` (the session's view's index); a message gone has empty keys
    /// (not kept).
    pub(crate) fn get(&self, i: usize) -> Arc<HeaderKeys> {
        self.get_or(i, || indexed_header(self.sel, i))
    }

    /// The keys of message `i`, worked out (when not kept) of what `header` gives: its header
    /// block, or a text that starts with it; `None` when the message is gone.
    pub(crate) fn get_or<H: AsRef<[u8]>>(
        &self,
        i: usize,
        header: impl FnOnce() -> Option<H>,
    ) -> Arc<HeaderKeys> {
        let uid = self.sel.msgs[i].uid;
        if let Some(c) = &self.cache
            && let Some(k) = lock(c).keys.get(&uid)
        {
            return k.clone();
        }
        let Some(header) = header() else {
            return Arc::new(of_header(&[]));
        };
        let keys = Arc::new(of_header(header.as_ref()));
        if let Some(c) = &self.cache {
            let mut c = lock(c);
            if c.uid_validity == self.sel.uid_validity {
                c.keys.insert(uid, keys.clone());
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use mailwright_maildir::Maildir;

    use super::*;

    fn mailbox(name: &str, n: usize) -> (std::path::PathBuf, Maildir, Selected) {
        let dir = std::env::temp_dir().join(format!("mw-keys-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut md = Maildir::create(&dir).unwrap();
        md.set_fsync(false);
        for i in 0..n {
            let text = format!(
                "From: Ann <ann{i}@example.com>\nSubject: Re: note {i}\nMessage-ID: <{i}@x>\n\
                 References: <a@x> <b@x>\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n\nbody {i}\n"
            );
            md.deliver(text.as_bytes()).unwrap();
        }
        let (mailbox, view) = crate::store::maildir::MaildirMailbox::open(
            md.clone(),
            md.clone(),
            true,
            crate::store::MailboxName::inbox(),
            "u@x.test".parse().unwrap(),
            std::sync::Arc::default(),
        )
        .unwrap();
        (dir, md, Selected::open(Box::new(mailbox), view))
    }

    #[test]
    fn keys_are_worked_out_once_per_folder_and_kept_by_uid() {
        let (dir, md, mut sel) = mailbox("kept", 3);
        let keys = Keys::new(&sel);
        let k = keys.get(1);
        assert_eq!(
            *k,
            HeaderKeys {
                sent_date: Some(760_686_745),
                subject: "NOTE 1".into(),
                reply: true,
                from: "ANN1".into(),
                to: "".into(),
                cc: "".into(),
                display_from: "ANN".into(),
                display_to: "".into(),
                message_id: Some("1@x".into()),
                references: vec!["a@x".into(), "b@x".into()].into(),
                search: [
                    vec!["ANN <ANN1@EXAMPLE.COM>".into()].into(),
                    Box::default(),
                    Box::default(),
                    vec!["RE: NOTE 1".into()].into(),
                ],
            }
        );
        // Message 0's file goes before its keys are worked out: empty keys, not kept.
        let gone = md.scan().unwrap();
        std::fs::remove_file(md.entry_path(&gone[0])).unwrap();
        std::fs::remove_file(md.entry_path(&gone[2])).unwrap();
        let _ = std::fs::remove_file(dir.join(mailwright_maildir::INDEX_FILE));
        assert_eq!(*keys.get(0), HeaderKeys::default());
        // Message 1's keys come from the folder's cache, without its file, in a new command.
        std::fs::remove_file(md.entry_path(&gone[1])).unwrap();
        assert!(Arc::ptr_eq(&Keys::new(&sel).get(1), &k));
        let cache = sel
            .mailbox
            .header_keys()
            .expect("the Maildir store keeps keys");
        assert_eq!(lock(&cache).keys.len(), 1);
        // Another UIDVALIDITY: the folder's keys are dropped.
        sel.uid_validity += 1;
        assert_eq!(*Keys::new(&sel).get(1), HeaderKeys::default());
        assert!(lock(&cache).keys.is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}

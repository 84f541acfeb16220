//! Fuzz target bodies for the `maildir` crate.

use mailwright_maildir::{
    FileName, Flags, FolderIndex, Keywords, UidList, VanishedHistory, with_flags,
};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("maildir_filename", maildir_filename),
    ("maildir_uidlist", maildir_uidlist),
    ("maildir_vanished", maildir_vanished),
    ("maildir_index", maildir_index),
];

/// File-name / info parser: never panics; base and flags survive a rebuild of the name.
pub fn maildir_filename(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let Some(parsed) = FileName::parse(name) else {
        return;
    };
    if let Some(flags) = parsed.flags() {
        let rebuilt = with_flags(parsed.base, flags);
        let again = FileName::parse(&rebuilt).expect("a rebuilt name parses");
        assert_eq!(again.base, parsed.base);
        assert_eq!(again.flags(), Some(flags));
        assert_eq!((again.size, again.vsize), (parsed.size, parsed.vsize));
        assert_eq!(Flags::parse(&flags.to_string()), Some(flags));
    }
}

/// `dovecot-uidlist` (and `dovecot-keywords`) parsers: never panic; parse → encode → parse agrees.
pub fn maildir_uidlist(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(list) = UidList::parse(text) {
        let encoded = list.encode();
        let again = UidList::parse(&encoded).expect("encoded uidlist parses");
        assert_eq!(again, list);
    }
    let kw = Keywords::parse(text);
    assert_eq!(Keywords::parse(&kw.encode()), kw);
}

/// `mailwright-vanished` (QRESYNC's history of expunges) parser: never panics; parse → encode →
/// parse agrees.
pub fn maildir_vanished(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(history) = VanishedHistory::parse(text) {
        let again = VanishedHistory::parse(&history.encode()).expect("encoded history parses");
        assert_eq!(again, history);
    }
}

/// `mailwright-index` parser: never panics; parse → encode → parse agrees.
pub fn maildir_index(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(index) = FolderIndex::parse(text) {
        let encoded = index.encode();
        let again = FolderIndex::parse(&encoded).expect("an encoded index parses");
        assert_eq!(again.len(), index.len());
        assert_eq!(again.encode(), encoded);
    }
}

//! Message flags (RFC 3501 §2.3.2, §9).
//!
//! ```text
//! flag            = "\Answered" / "\Flagged" / "\Deleted" /
//!                   "\Seen" / "\Draft" / flag-keyword / flag-extension
//!                     ; Does not include "\Recent"
//! flag-extension  = "\" atom
//! flag-fetch      = flag / "\Recent"
//! flag-keyword    = atom
//! flag-list       = "(" [flag *(SP flag)] ")"
//! flag-perm       = flag / "\*"
//! ```

use super::core::{Atom, IntoStatic};

/// `flag`: a system flag, a keyword or a flag extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag<'a> {
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Seen`.
    Seen,
    /// `\Draft`.
    Draft,
    /// `flag-keyword = atom`, e.g. `$Forwarded`.
    Keyword(Atom<'a>),
    /// `flag-extension = "\" atom` other than the system flags (the atom without the backslash).
    Extension(Atom<'a>),
}

impl<'a> Flag<'a> {
    /// Builds the flag a `\`-prefixed or bare name stands for (system flags case-insensitively).
    pub fn from_atom(backslash: bool, atom: Atom<'a>) -> Self {
        if !backslash {
            return Flag::Keyword(atom);
        }
        let s = atom.as_str();
        if s.eq_ignore_ascii_case("Answered") {
            Flag::Answered
        } else if s.eq_ignore_ascii_case("Flagged") {
            Flag::Flagged
        } else if s.eq_ignore_ascii_case("Deleted") {
            Flag::Deleted
        } else if s.eq_ignore_ascii_case("Seen") {
            Flag::Seen
        } else if s.eq_ignore_ascii_case("Draft") {
            Flag::Draft
        } else {
            Flag::Extension(atom)
        }
    }
}

impl IntoStatic for Flag<'_> {
    type Static = Flag<'static>;
    fn into_static(self) -> Flag<'static> {
        match self {
            Flag::Answered => Flag::Answered,
            Flag::Flagged => Flag::Flagged,
            Flag::Deleted => Flag::Deleted,
            Flag::Seen => Flag::Seen,
            Flag::Draft => Flag::Draft,
            Flag::Keyword(a) => Flag::Keyword(a.into_static()),
            Flag::Extension(a) => Flag::Extension(a.into_static()),
        }
    }
}

/// `flag-fetch = flag / "\Recent"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagFetch<'a> {
    /// A flag.
    Flag(Flag<'a>),
    /// `\Recent`.
    Recent,
}

impl IntoStatic for FlagFetch<'_> {
    type Static = FlagFetch<'static>;
    fn into_static(self) -> FlagFetch<'static> {
        match self {
            FlagFetch::Flag(f) => FlagFetch::Flag(f.into_static()),
            FlagFetch::Recent => FlagFetch::Recent,
        }
    }
}

/// `flag-perm = flag / "\*"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagPerm<'a> {
    /// A flag.
    Flag(Flag<'a>),
    /// `\*`: clients may create new keywords.
    Asterisk,
}

impl IntoStatic for FlagPerm<'_> {
    type Static = FlagPerm<'static>;
    fn into_static(self) -> FlagPerm<'static> {
        match self {
            FlagPerm::Flag(f) => FlagPerm::Flag(f.into_static()),
            FlagPerm::Asterisk => FlagPerm::Asterisk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_are_case_insensitive() {
        assert_eq!(
            Flag::from_atom(true, Atom::try_from("deleted").unwrap()),
            Flag::Deleted
        );
        assert!(matches!(
            Flag::from_atom(true, Atom::try_from("Junk").unwrap()),
            Flag::Extension(_)
        ));
        assert!(matches!(
            Flag::from_atom(false, Atom::try_from("Seen").unwrap()),
            Flag::Keyword(_)
        ));
    }
}

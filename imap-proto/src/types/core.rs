//! The lexical building blocks of RFC 3501 §9: atoms, strings, literals, numbers, tags and text.
//!
//! ```text
//! atom            = 1*ATOM-CHAR
//! ATOM-CHAR       = <any CHAR except atom-specials>
//! atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
//!                   quoted-specials / resp-specials
//! astring         = 1*ASTRING-CHAR / string
//! ASTRING-CHAR   = ATOM-CHAR / resp-specials
//! string          = quoted / literal
//! quoted          = DQUOTE *QUOTED-CHAR DQUOTE
//! QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
//!                   "\" quoted-specials
//! literal         = "{" number "}" CRLF *CHAR8
//!                     ; Number represents the number of CHAR8s
//! nstring         = string / nil
//! tag             = 1*<any ASTRING-CHAR except "+">
//! text            = 1*TEXT-CHAR
//! TEXT-CHAR       = <any CHAR except CR and LF>
//! CHAR8           = %x01-ff
//! ```
//! (RFC 3501 §9.) RFC 7888 §8 adds the non-synchronizing form: `literal = "{" number64 ["+"] "}" CRLF *CHAR8`.

use std::borrow::Cow;
use std::fmt;

use super::ValidationError;

/// Turns a borrowed value into one that owns its data (`'static`).
pub trait IntoStatic {
    /// The owned form.
    type Static: 'static;
    /// Copies whatever is borrowed.
    fn into_static(self) -> Self::Static;
}

impl<T: IntoStatic> IntoStatic for Vec<T> {
    type Static = Vec<T::Static>;
    fn into_static(self) -> Self::Static {
        self.into_iter().map(IntoStatic::into_static).collect()
    }
}

impl<T: IntoStatic> IntoStatic for Option<T> {
    type Static = Option<T::Static>;
    fn into_static(self) -> Self::Static {
        self.map(IntoStatic::into_static)
    }
}

impl<T: IntoStatic> IntoStatic for Box<T> {
    type Static = Box<T::Static>;
    fn into_static(self) -> Self::Static {
        Box::new((*self).into_static())
    }
}

macro_rules! static_copy {
    ($($t:ty),*) => {$(
        impl IntoStatic for $t {
            type Static = $t;
            fn into_static(self) -> Self { self }
        }
    )*};
}
static_copy!(
    u8,
    u32,
    u64,
    bool,
    std::num::NonZeroU32,
    std::num::NonZeroU64
);

/// Character classes of RFC 3501 §9.
pub mod chars {
    /// `CTL`: %x00-1F / %x7F.
    pub fn is_ctl(b: u8) -> bool {
        b < 0x20 || b == 0x7f
    }
    /// `ATOM-CHAR`: any CHAR except atom-specials.
    pub fn is_atom_char(b: u8) -> bool {
        b.is_ascii()
            && !is_ctl(b)
            && !matches!(
                b,
                b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
            )
    }
    /// `ASTRING-CHAR`: ATOM-CHAR / resp-specials.
    pub fn is_astring_char(b: u8) -> bool {
        is_atom_char(b) || b == b']'
    }
    /// A `tag` character: any ASTRING-CHAR except "+".
    pub fn is_tag_char(b: u8) -> bool {
        is_astring_char(b) && b != b'+'
    }
    /// `list-char`: ATOM-CHAR / list-wildcards / resp-specials.
    pub fn is_list_char(b: u8) -> bool {
        is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
    }
    /// `TEXT-CHAR`: any CHAR (%x01-7F) except CR and LF.
    pub fn is_text_char(b: u8) -> bool {
        matches!(b, 0x01..=0x7f) && b != b'\r' && b != b'\n'
    }
    /// `CHAR8`: %x01-ff.
    pub fn is_char8(b: u8) -> bool {
        b != 0
    }
}

macro_rules! str_newtype {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name<'a>(Cow<'a, str>);

        impl<'a> $name<'a> {
            /// Checks `s` against the grammar rule.
            pub fn validate(s: &str) -> Result<(), ValidationError> {
                let check: fn(&str) -> bool = $check;
                if check(s) { Ok(()) } else { Err(ValidationError::new($what, s)) }
            }
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The value without validation; callers have checked it (parsers).
            #[allow(dead_code)] // Not every rule has a parser that builds it.
            pub(crate) fn unvalidated(s: impl Into<Cow<'a, str>>) -> Self {
                let s = s.into();
                debug_assert!(Self::validate(&s).is_ok(), "{} {:?}", $what, s);
                Self(s)
            }
        }

        impl IntoStatic for $name<'_> {
            type Static = $name<'static>;
            fn into_static(self) -> $name<'static> {
                $name(Cow::Owned(self.0.into_owned()))
            }
        }

        impl<'a> TryFrom<&'a str> for $name<'a> {
            type Error = ValidationError;
            fn try_from(s: &'a str) -> Result<Self, ValidationError> {
                Self::validate(s)?;
                Ok(Self(Cow::Borrowed(s)))
            }
        }

        impl TryFrom<String> for $name<'static> {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, ValidationError> {
                Self::validate(&s)?;
                Ok(Self(Cow::Owned(s)))
            }
        }

        impl AsRef<str> for $name<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn all_nonempty(s: &str, f: fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

str_newtype!(
    /// `atom = 1*ATOM-CHAR` (RFC 3501 §9).
    Atom, |s| all_nonempty(s, chars::is_atom_char), "atom"
);
str_newtype!(
    /// `1*ASTRING-CHAR`: the atom form of an `astring` (RFC 3501 §9), which may hold "]".
    AtomExt, |s| all_nonempty(s, chars::is_astring_char), "astring atom"
);
str_newtype!(
    /// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 §9).
    Tag, |s| all_nonempty(s, chars::is_tag_char), "tag"
);
str_newtype!(
    /// `text = 1*TEXT-CHAR` (RFC 3501 §9); human-readable response text.
    ///
    /// The empty text is accepted too, because servers send `+ ` and `* OK` lines without any.
    Text, |s| s.bytes().all(chars::is_text_char), "text"
);
str_newtype!(
    /// The unescaped content of a `quoted` string: any TEXT-CHAR (RFC 3501 §9).
    Quoted, |s| s.bytes().all(chars::is_text_char), "quoted"
);
str_newtype!(
    /// `1*list-char`: the atom form of a LIST pattern, which may hold `%` and `*` (RFC 3501 §9).
    ListCharString, |s| all_nonempty(s, chars::is_list_char), "list-mailbox"
);

impl Tag<'_> {
    /// A borrowed copy.
    pub fn borrow(&self) -> Tag<'_> {
        Tag(Cow::Borrowed(&self.0))
    }
}

/// Whether a literal is synchronizing (`{n}`, the client waits for `+`) or not (`{n+}`, RFC 7888).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LiteralMode {
    /// `{n}`: the client sends the octets only after a `+` continuation request.
    #[default]
    Sync,
    /// `{n+}`: LITERAL+ / LITERAL- (RFC 7888); the octets follow at once.
    NonSync,
}

/// `literal = "{" number ["+"] "}" CRLF *CHAR8` (RFC 3501 §9, RFC 7888 §8): octets other than NUL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Literal<'a> {
    data: Cow<'a, [u8]>,
    mode: LiteralMode,
}

impl<'a> Literal<'a> {
    /// A literal from octets, which must not hold NUL (`CHAR8`).
    pub fn new(data: impl Into<Cow<'a, [u8]>>, mode: LiteralMode) -> Result<Self, ValidationError> {
        let data = data.into();
        if data.contains(&0) {
            return Err(ValidationError::new("literal (CHAR8, no NUL)", &data));
        }
        Ok(Self { data, mode })
    }
    pub(crate) fn unvalidated(data: impl Into<Cow<'a, [u8]>>, mode: LiteralMode) -> Self {
        Self {
            data: data.into(),
            mode,
        }
    }
    /// The octets.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Synchronizing or not.
    pub fn mode(&self) -> LiteralMode {
        self.mode
    }
    /// The same octets with another mode.
    pub fn with_mode(mut self, mode: LiteralMode) -> Self {
        self.mode = mode;
        self
    }
}

impl IntoStatic for Literal<'_> {
    type Static = Literal<'static>;
    fn into_static(self) -> Literal<'static> {
        Literal {
            data: Cow::Owned(self.data.into_owned()),
            mode: self.mode,
        }
    }
}

impl fmt::Debug for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.data[..self.data.len().min(64)];
        write!(
            f,
            "Literal({:?}, {} octets: {:?})",
            self.mode,
            self.data.len(),
            String::from_utf8_lossy(shown)
        )
    }
}

/// `string = quoted / literal` (RFC 3501 §9). The form is kept so that values re-serialise as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IString<'a> {
    /// `"..."`.
    Quoted(Quoted<'a>),
    /// `{n}` CRLF octets.
    Literal(Literal<'a>),
}

impl<'a> IString<'a> {
    /// The octets of the string (unescaped).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            IString::Quoted(q) => q.as_str().as_bytes(),
            IString::Literal(l) => l.data(),
        }
    }
    /// The string as text when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }
    /// The lightest form that carries `data`: quoted when every octet is a TEXT-CHAR, else a literal.
    pub fn from_bytes(data: impl Into<Cow<'a, [u8]>>) -> Result<Self, ValidationError> {
        let data = data.into();
        if data.iter().all(|&b| chars::is_text_char(b)) && data.len() <= 1024 {
            let s = match data {
                // TEXT-CHAR is 7-bit, hence UTF-8.
                Cow::Borrowed(b) => Cow::Borrowed(
                    std::str::from_utf8(b).map_err(|_| ValidationError::new("quoted", b))?,
                ),
                Cow::Owned(v) => Cow::Owned(
                    String::from_utf8(v)
                        .map_err(|e| ValidationError::new("quoted", e.as_bytes()))?,
                ),
            };
            Ok(IString::Quoted(Quoted::unvalidated(s)))
        } else {
            Literal::new(data, LiteralMode::Sync).map(IString::Literal)
        }
    }
}

impl IntoStatic for IString<'_> {
    type Static = IString<'static>;
    fn into_static(self) -> IString<'static> {
        match self {
            IString::Quoted(q) => IString::Quoted(q.into_static()),
            IString::Literal(l) => IString::Literal(l.into_static()),
        }
    }
}

/// `astring = 1*ASTRING-CHAR / string` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AString<'a> {
    /// The bare form.
    Atom(AtomExt<'a>),
    /// A quoted string or a literal.
    String(IString<'a>),
}

impl<'a> AString<'a> {
    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            AString::Atom(a) => a.as_str().as_bytes(),
            AString::String(s) => s.as_bytes(),
        }
    }
    /// The value as text when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }
    /// The lightest form that carries `data`: atom, quoted, or literal.
    pub fn from_bytes(data: impl Into<Cow<'a, [u8]>>) -> Result<Self, ValidationError> {
        let data = data.into();
        if !data.is_empty() && data.iter().all(|&b| chars::is_astring_char(b)) {
            let s = match data {
                Cow::Borrowed(b) => Cow::Borrowed(
                    std::str::from_utf8(b).map_err(|_| ValidationError::new("astring", b))?,
                ),
                Cow::Owned(v) => Cow::Owned(
                    String::from_utf8(v)
                        .map_err(|e| ValidationError::new("astring", e.as_bytes()))?,
                ),
            };
            return Ok(AString::Atom(AtomExt::unvalidated(s)));
        }
        IString::from_bytes(data).map(AString::String)
    }
}

impl<'a> TryFrom<&'a str> for AString<'a> {
    type Error = ValidationError;
    fn try_from(s: &'a str) -> Result<Self, ValidationError> {
        AString::from_bytes(s.as_bytes())
    }
}

impl IntoStatic for AString<'_> {
    type Static = AString<'static>;
    fn into_static(self) -> AString<'static> {
        match self {
            AString::Atom(a) => AString::Atom(a.into_static()),
            AString::String(s) => AString::String(s.into_static()),
        }
    }
}

/// `nstring = string / nil` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NString<'a>(pub Option<IString<'a>>);

impl NString<'_> {
    /// `NIL`.
    pub const NIL: NString<'static> = NString(None);
    /// The octets, `None` for NIL.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        self.0.as_ref().map(IString::as_bytes)
    }
}

impl IntoStatic for NString<'_> {
    type Static = NString<'static>;
    fn into_static(self) -> NString<'static> {
        NString(self.0.into_static())
    }
}

/// A non-empty list, for grammar rules of the form `1*x` (validated on construction).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vec1<T>(Vec<T>);

impl<T> Vec1<T> {
    /// A list of one item.
    pub fn one(item: T) -> Self {
        Self(vec![item])
    }
    /// The items.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
    /// The items, owned.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
    pub(crate) fn unvalidated(v: Vec<T>) -> Self {
        debug_assert!(!v.is_empty());
        Self(v)
    }
}

impl<T> TryFrom<Vec<T>> for Vec1<T> {
    type Error = ValidationError;
    fn try_from(v: Vec<T>) -> Result<Self, ValidationError> {
        if v.is_empty() {
            Err(ValidationError::new("non-empty list", b""))
        } else {
            Ok(Self(v))
        }
    }
}

impl<T, const N: usize> From<[T; N]> for Vec1<T> {
    /// A list of the array's items; an empty array does not compile.
    ///
    /// ```
    /// use mailwright_imap_proto::Vec1;
    ///
    /// let list = Vec1::from([1, 2]);
    /// assert_eq!(list.as_slice(), [1, 2]);
    /// ```
    ///
    /// ```compile_fail
    /// let empty: mailwright_imap_proto::Vec1<u8> = mailwright_imap_proto::Vec1::from([]);
    /// ```
    fn from(items: [T; N]) -> Self {
        const { assert!(N > 0, "a Vec1 holds at least one item") };
        Self(items.into())
    }
}

impl<T> std::ops::Deref for Vec1<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: IntoStatic> IntoStatic for Vec1<T> {
    type Static = Vec1<T::Static>;
    fn into_static(self) -> Self::Static {
        Vec1(self.0.into_static())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_follow_the_abnf() {
        assert!(Atom::try_from("INBOX").is_ok());
        assert!(Atom::try_from("a]b").is_err());
        assert!(AtomExt::try_from("a]b").is_ok());
        assert!(Atom::try_from("").is_err());
        assert!(Atom::try_from("a b").is_err());
        assert!(Tag::try_from("A+1").is_err());
        assert!(Tag::try_from("A]1").is_ok());
        assert!(ListCharString::try_from("a/%*").is_ok());
    }

    #[test]
    fn lightest_form() {
        assert!(matches!(
            AString::from_bytes(&b"abc"[..]).unwrap(),
            AString::Atom(_)
        ));
        assert!(matches!(
            AString::from_bytes(&b"a c"[..]).unwrap(),
            AString::String(IString::Quoted(_))
        ));
        assert!(matches!(
            AString::from_bytes(&b""[..]).unwrap(),
            AString::String(IString::Quoted(_))
        ));
        assert!(matches!(
            AString::from_bytes(&b"a\r\n"[..]).unwrap(),
            AString::String(IString::Literal(_))
        ));
        assert!(AString::from_bytes(&b"a\0"[..]).is_err());
    }
}

//! Value types: variants, `From ` lines, flags and metadata, entries and what the reader tolerated.

mod entry;
mod from_line;
mod metadata;

pub use entry::{Entry, Tolerated};
pub use from_line::{Asctime, FromLine};
pub use metadata::{Flags, ImapBase, Metadata};

/// The four mbox dialects (see the crate docs for how they differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Variant {
    /// Original mbox: writers quote `From ` as `>From `, readers remove one `>` from `>From `
    /// lines. Lossy: a body line `>From ` comes back as `From `.
    Mboxo,
    /// Reversible quoting: writers add one `>` to every `>*From ` line, readers remove one from
    /// every `>+From ` line. The default, and the one to write.
    #[default]
    Mboxrd,
    /// `mboxo` quoting plus a `Content-Length:` header that readers trust when it checks out.
    Mboxcl,
    /// `Content-Length:` framing and no quoting at all.
    Mboxcl2,
}

impl Variant {
    /// Every variant, for tests and tools.
    pub const ALL: [Variant; 4] = [
        Variant::Mboxo,
        Variant::Mboxrd,
        Variant::Mboxcl,
        Variant::Mboxcl2,
    ];

    /// Whether this variant frames messages with `Content-Length:`.
    pub fn uses_content_length(self) -> bool {
        matches!(self, Variant::Mboxcl | Variant::Mboxcl2)
    }

    /// The quoting this variant applies to `From ` lines.
    pub(crate) fn quoting(self) -> Quoting {
        match self {
            Variant::Mboxo | Variant::Mboxcl => Quoting::Mboxo,
            Variant::Mboxrd => Quoting::Mboxrd,
            Variant::Mboxcl2 => Quoting::None,
        }
    }

    /// The variant's usual name (`mboxrd` ...).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Mboxo => "mboxo",
            Variant::Mboxrd => "mboxrd",
            Variant::Mboxcl => "mboxcl",
            Variant::Mboxcl2 => "mboxcl2",
        }
    }
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mboxo" => Ok(Variant::Mboxo),
            "mboxrd" => Ok(Variant::Mboxrd),
            "mboxcl" => Ok(Variant::Mboxcl),
            "mboxcl2" => Ok(Variant::Mboxcl2),
            _ => Err(format!(
                "unknown mbox variant {s:?} (mboxo, mboxrd, mboxcl, mboxcl2)"
            )),
        }
    }
}

/// How `From ` lines inside messages are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quoting {
    /// No quoting (mboxcl2).
    None,
    /// `From ` <-> `>From ` only (mboxo, mboxcl).
    Mboxo,
    /// `>*From ` gains one `>`, `>+From ` loses one (mboxrd).
    Mboxrd,
}

/// Line ending of the `From ` line and the separating blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineEnding {
    /// `\n`, the Unix convention and the default.
    #[default]
    Lf,
    /// `\r\n`, seen in mbox files made on or for Windows.
    CrLf,
}

impl LineEnding {
    /// The bytes of this line ending.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

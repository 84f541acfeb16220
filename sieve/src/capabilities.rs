//! What a script may `require`, and the limits that bound its parsing and its run.

use std::fmt;
use std::time::Duration;

/// A Sieve extension this crate implements, by its capability string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Extension {
    /// `fileinto` (RFC 5228 §4.1).
    FileInto,
    /// `envelope` (RFC 5228 §5.4).
    Envelope,
    /// `encoded-character` (RFC 5228 §2.4.2.4).
    EncodedCharacter,
    /// `reject` (RFC 5429 §2.2).
    Reject,
    /// `ereject` (RFC 5429 §2.1).
    Ereject,
    /// `vacation` (RFC 5230).
    Vacation,
    /// `vacation-seconds` (RFC 6131).
    VacationSeconds,
    /// `imap4flags` (RFC 5232).
    Imap4Flags,
    /// `subaddress` (RFC 5233).
    Subaddress,
    /// `variables` (RFC 5229).
    Variables,
    /// `relational` (RFC 5231).
    Relational,
    /// `copy` (RFC 3894).
    Copy,
    /// `body` (RFC 5173).
    Body,
    /// `date` (RFC 5260 §4, §5).
    Date,
    /// `index` (RFC 5260 §6).
    Index,
    /// `mailbox` (RFC 5490 §3).
    Mailbox,
    /// `include` (RFC 6609).
    Include,
    /// `comparator-i;ascii-numeric` (RFC 4790 §9.1, named by RFC 5228 §2.7.3).
    ComparatorAsciiNumeric,
    /// `comparator-i;unicode-casemap` (RFC 5051): simple Unicode case folding of each character
    /// (no decomposition to a normal form).
    ComparatorUnicodeCasemap,
}

impl Extension {
    /// Every extension, in the order of [`Capabilities::sieve_capability`].
    pub const ALL: &'static [Extension] = &[
        Extension::FileInto,
        Extension::Reject,
        Extension::Envelope,
        Extension::EncodedCharacter,
        Extension::Vacation,
        Extension::Subaddress,
        Extension::ComparatorAsciiNumeric,
        Extension::Relational,
        Extension::Imap4Flags,
        Extension::Copy,
        Extension::Include,
        Extension::Variables,
        Extension::Body,
        Extension::Mailbox,
        Extension::Date,
        Extension::Index,
        Extension::Ereject,
        Extension::VacationSeconds,
        Extension::ComparatorUnicodeCasemap,
    ];

    /// The capability string a script names in `require`.
    pub fn name(self) -> &'static str {
        match self {
            Extension::FileInto => "fileinto",
            Extension::Envelope => "envelope",
            Extension::EncodedCharacter => "encoded-character",
            Extension::Reject => "reject",
            Extension::Ereject => "ereject",
            Extension::Vacation => "vacation",
            Extension::VacationSeconds => "vacation-seconds",
            Extension::Imap4Flags => "imap4flags",
            Extension::Subaddress => "subaddress",
            Extension::Variables => "variables",
            Extension::Relational => "relational",
            Extension::Copy => "copy",
            Extension::Body => "body",
            Extension::Date => "date",
            Extension::Index => "index",
            Extension::Mailbox => "mailbox",
            Extension::Include => "include",
            Extension::ComparatorAsciiNumeric => "comparator-i;ascii-numeric",
            Extension::ComparatorUnicodeCasemap => "comparator-i;unicode-casemap",
        }
    }

    /// The extension a capability string names. The core comparators `comparator-i;octet` and
    /// `comparator-i;ascii-casemap` are not extensions (RFC 5228 §2.7.3): see
    /// [`Capabilities::enabled_name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The extensions a script may require, and the limits a program runs within. Built once by the
/// application and given to [`Script::compile`](crate::Script::compile); the compiled program
/// keeps the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    enabled: u32,
    /// The limits of parsing, compiling and running.
    pub limits: Limits,
    /// The separator between user and detail in a subaddress (RFC 5233 §1). Default `+`.
    pub subaddress_separator: char,
}

impl Default for Capabilities {
    /// Every extension, default limits.
    fn default() -> Self {
        Self::all()
    }
}

impl Capabilities {
    /// Every extension this crate implements, with [`Limits::default`].
    pub fn all() -> Self {
        let mut enabled = 0;
        for e in Extension::ALL {
            enabled |= e.bit();
        }
        Self {
            enabled,
            limits: Limits::default(),
            subaddress_separator: '+',
        }
    }

    /// Only the base language of RFC 5228 (no extension).
    pub fn none() -> Self {
        Self {
            enabled: 0,
            ..Self::all()
        }
    }

    /// With `extension` enabled.
    pub fn with(mut self, extension: Extension) -> Self {
        self.enabled |= extension.bit();
        self
    }

    /// With `extension` disabled: a script that requires it does not compile.
    pub fn without(mut self, extension: Extension) -> Self {
        self.enabled &= !extension.bit();
        self
    }

    /// With these limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether `extension` is enabled.
    pub fn has(&self, extension: Extension) -> bool {
        self.enabled & extension.bit() != 0
    }

    /// Whether a `require` of this capability string succeeds.
    pub fn enabled_name(&self, name: &str) -> bool {
        matches!(name, "comparator-i;octet" | "comparator-i;ascii-casemap")
            || Extension::from_name(name).is_some_and(|e| self.has(e))
    }

    /// The enabled extensions, space-separated: the value of the ManageSieve `SIEVE` capability
    /// (RFC 5804 §1.7).
    ///
    /// ```
    /// use mailwright_sieve::{Capabilities, Extension};
    /// let caps = Capabilities::none().with(Extension::FileInto).with(Extension::Vacation);
    /// assert_eq!(caps.sieve_capability(), "fileinto vacation");
    /// ```
    pub fn sieve_capability(&self) -> String {
        Extension::ALL
            .iter()
            .filter(|e| self.has(**e))
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Bounds on the time and memory one script may take. Each has a documented default; exceeding a
/// parse or compile limit fails the script's upload, exceeding a run-time limit is a
/// [`RuntimeError`](crate::RuntimeError), after which the application keeps the message
/// (Pigeonhole's behaviour).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest script, in octets. Default 1 MiB (Pigeonhole's `sieve_max_script_size`).
    pub max_script_size: usize,
    /// Deepest nesting of blocks, and of tests within tests. Default 32.
    pub max_nesting: usize,
    /// Most distinct variables one script may name (RFC 5229 §6 asks for at least 128).
    /// Default 255 (Pigeonhole's `sieve_variables_max_scope_size`).
    pub max_variables: usize,
    /// Longest value of a variable, in octets; longer values are cut at a character boundary,
    /// as RFC 5229 §6 allows and Pigeonhole does (an error would let a long Subject switch the
    /// user's filter off). Default 4096 (Pigeonhole's `sieve_variables_max_variable_size`).
    pub max_variable_size: usize,
    /// Most steps of one run: each command, each test and each comparison of a value with a key
    /// is one step, and each further KiB compared one more. Default 1 000 000.
    pub max_steps: u64,
    /// Most actions one run may produce. Default 32 (Pigeonhole's `sieve_max_actions`).
    pub max_actions: usize,
    /// Most redirects one run may produce. Default 4 (Pigeonhole's `sieve_max_redirects`).
    pub max_redirects: usize,
    /// Deepest nesting of `include`. Default 10 (Pigeonhole's
    /// `sieve_include_max_nesting_depth`).
    pub max_include_depth: usize,
    /// Most `include`s executed in one run. Default 255 (Pigeonhole's
    /// `sieve_include_max_includes`).
    pub max_includes: usize,
    /// Shortest period between two vacation replies to one sender; a shorter `:days` or
    /// `:seconds` is raised to it. Default one day (Pigeonhole's `sieve_vacation_min_period`).
    pub vacation_min_period: Duration,
    /// Period of a vacation without `:days` or `:seconds`. Default 7 days (RFC 5230 §4.1 and
    /// Pigeonhole's `sieve_vacation_default_period`).
    pub vacation_default_period: Duration,
    /// Longest period; `None` for no bound. Default `None` (Pigeonhole's
    /// `sieve_vacation_max_period = 0`).
    pub vacation_max_period: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_script_size: 1 << 20,
            max_nesting: 32,
            max_variables: 255,
            max_variable_size: 4096,
            max_steps: 1_000_000,
            max_actions: 32,
            max_redirects: 4,
            max_include_depth: 10,
            max_includes: 255,
            vacation_min_period: Duration::from_hours(24),
            vacation_default_period: Duration::from_hours(7 * 24),
            vacation_max_period: None,
        }
    }
}

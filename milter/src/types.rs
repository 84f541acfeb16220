//! The values the two sides exchange: commands (MTA to filter), responses (filter to MTA), the
//! option negotiation and its flag sets.

/// The protocol version this crate speaks (Sendmail 8.14 and later, Postfix 2.6 and later).
pub const VERSION: u32 = 6;

/// The largest body chunk an MTA sends in one `SMFIC_BODY` (and libmilter's default frame limit).
pub const CHUNK_SIZE: usize = 65535;

/// The modifications a filter may make (`SMFIF_*`), agreed in the option negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Actions(pub u32);

impl Actions {
    /// Add header fields (`SMFIF_ADDHDRS`).
    pub const ADD_HEADERS: Self = Self(0x01);
    /// Replace the body (`SMFIF_CHGBODY`).
    pub const CHANGE_BODY: Self = Self(0x02);
    /// Add recipients (`SMFIF_ADDRCPT`).
    pub const ADD_RCPT: Self = Self(0x04);
    /// Delete recipients (`SMFIF_DELRCPT`).
    pub const DELETE_RCPT: Self = Self(0x08);
    /// Change or delete header fields (`SMFIF_CHGHDRS`).
    pub const CHANGE_HEADERS: Self = Self(0x10);
    /// Quarantine the message (`SMFIF_QUARANTINE`).
    pub const QUARANTINE: Self = Self(0x20);
    /// Change the envelope sender (`SMFIF_CHGFROM`).
    pub const CHANGE_FROM: Self = Self(0x40);
    /// Add recipients with ESMTP parameters (`SMFIF_ADDRCPT_PAR`).
    pub const ADD_RCPT_PAR: Self = Self(0x80);
    /// Ask for a list of macros per stage (`SMFIF_SETSYMLIST`).
    pub const SET_SYMLIST: Self = Self(0x100);
    /// Every action of version 6.
    pub const ALL: Self = Self(0x1ff);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Actions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The protocol steps a filter does not want (`SMFIP_NO*`), the commands it will not answer
/// (`SMFIP_NR_*`) and a few behaviours, agreed in the option negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Protocol(pub u32);

impl Protocol {
    /// Do not send the connection information (`SMFIP_NOCONNECT`).
    pub const NO_CONNECT: Self = Self(0x01);
    /// Do not send HELO (`SMFIP_NOHELO`).
    pub const NO_HELO: Self = Self(0x02);
    /// Do not send MAIL FROM (`SMFIP_NOMAIL`).
    pub const NO_MAIL: Self = Self(0x04);
    /// Do not send RCPT TO (`SMFIP_NORCPT`).
    pub const NO_RCPT: Self = Self(0x08);
    /// Do not send the body (`SMFIP_NOBODY`).
    pub const NO_BODY: Self = Self(0x10);
    /// Do not send the header fields (`SMFIP_NOHDRS`).
    pub const NO_HEADERS: Self = Self(0x20);
    /// Do not send the end of the header (`SMFIP_NOEOH`).
    pub const NO_EOH: Self = Self(0x40);
    /// No reply to each header field (`SMFIP_NR_HDR`).
    pub const NR_HEADER: Self = Self(0x80);
    /// Do not send unknown SMTP commands (`SMFIP_NOUNKNOWN`).
    pub const NO_UNKNOWN: Self = Self(0x100);
    /// Do not send DATA (`SMFIP_NODATA`).
    pub const NO_DATA: Self = Self(0x200);
    /// The MTA understands `SMFIR_SKIP` (`SMFIP_SKIP`).
    pub const SKIP: Self = Self(0x400);
    /// Send rejected recipients too (`SMFIP_RCPT_REJ`).
    pub const RCPT_REJECTED: Self = Self(0x800);
    /// No reply to the connection information (`SMFIP_NR_CONN`).
    pub const NR_CONNECT: Self = Self(0x1000);
    /// No reply to HELO (`SMFIP_NR_HELO`).
    pub const NR_HELO: Self = Self(0x2000);
    /// No reply to MAIL FROM (`SMFIP_NR_MAIL`).
    pub const NR_MAIL: Self = Self(0x4000);
    /// No reply to RCPT TO (`SMFIP_NR_RCPT`).
    pub const NR_RCPT: Self = Self(0x8000);
    /// No reply to DATA (`SMFIP_NR_DATA`).
    pub const NR_DATA: Self = Self(0x1_0000);
    /// No reply to unknown commands (`SMFIP_NR_UNKN`).
    pub const NR_UNKNOWN: Self = Self(0x2_0000);
    /// No reply to the end of the header (`SMFIP_NR_EOH`).
    pub const NR_EOH: Self = Self(0x4_0000);
    /// No reply to body chunks (`SMFIP_NR_BODY`).
    pub const NR_BODY: Self = Self(0x8_0000);
    /// Header values are sent with their leading space (`SMFIP_HDR_LEADSPC`).
    pub const HEADER_LEADING_SPACE: Self = Self(0x10_0000);

    /// What an MTA using [`crate::ClientSession`] offers: every step may be left out or left
    /// unanswered, and `SMFIR_SKIP` is understood; rejected recipients are not sent and header
    /// values go without their leading space.
    pub const MTA_OFFER: Self = Self(0x000f_f7ff);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Protocol {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The stage a list of macros is asked for in the option negotiation (`SMFIM_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Connection information (`SMFIM_CONNECT`).
    Connect,
    /// HELO (`SMFIM_HELO`).
    Helo,
    /// MAIL FROM (`SMFIM_ENVFROM`).
    Mail,
    /// RCPT TO (`SMFIM_ENVRCPT`).
    Rcpt,
    /// DATA (`SMFIM_DATA`).
    Data,
    /// End of message (`SMFIM_EOM`).
    EndOfMessage,
    /// End of header (`SMFIM_EOH`).
    EndOfHeaders,
}

impl Stage {
    /// Every stage, in wire order.
    pub const ALL: [Self; 7] = [
        Self::Connect,
        Self::Helo,
        Self::Mail,
        Self::Rcpt,
        Self::Data,
        Self::EndOfMessage,
        Self::EndOfHeaders,
    ];

    /// The number on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The stage numbered `code`.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The command code whose macros (`SMFIC_MACRO`) belong to this stage.
    pub fn command_code(self) -> u8 {
        match self {
            Self::Connect => b'C',
            Self::Helo => b'H',
            Self::Mail => b'M',
            Self::Rcpt => b'R',
            Self::Data => b'T',
            Self::EndOfMessage => b'E',
            Self::EndOfHeaders => b'N',
        }
    }
}

/// The option negotiation (`SMFIC_OPTNEG` from the MTA, the same code back from the filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptNeg {
    /// The protocol version (6).
    pub version: u32,
    /// The modifications offered (MTA) or wanted (filter).
    pub actions: Actions,
    /// The protocol flags offered (MTA) or wanted (filter).
    pub protocol: Protocol,
    /// The macros the filter wants per stage (`SMFIF_SETSYMLIST`): names separated by spaces.
    /// An MTA sends none.
    pub macros: Vec<(Stage, Vec<u8>)>,
}

/// The client address of the connection information (`SMFIC_CONNECT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// Not known (`SMFIA_UNKNOWN`).
    Unknown,
    /// IPv4 (`SMFIA_INET`): the port and the address as text.
    Inet4 {
        /// The client's port.
        port: u16,
        /// The dotted address.
        addr: Vec<u8>,
    },
    /// IPv6 (`SMFIA_INET6`): the port and the address as text.
    Inet6 {
        /// The client's port.
        port: u16,
        /// The address.
        addr: Vec<u8>,
    },
    /// A local socket (`SMFIA_UNIX`): its path.
    Unix {
        /// The socket's path.
        path: Vec<u8>,
    },
}

impl Address {
    /// The address of `ip` and `port`.
    pub fn ip(ip: std::net::IpAddr, port: u16) -> Self {
        match ip {
            std::net::IpAddr::V4(v4) => Self::Inet4 {
                port,
                addr: v4.to_string().into_bytes(),
            },
            std::net::IpAddr::V6(v6) => Self::Inet6 {
                port,
                addr: v6.to_string().into_bytes(),
            },
        }
    }
}

/// A command from the MTA to the filter.
///
/// Text fields are C strings on the wire: they must not hold a NUL octet (encoding refuses them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `SMFIC_OPTNEG`: the MTA's offer.
    OptNeg(OptNeg),
    /// `SMFIC_MACRO`: macros for the command with code `code` that follows.
    Macro {
        /// The command code the macros belong to (`C`, `H`, `M`, `R`, `T`, `N`, `E` ...).
        code: u8,
        /// Names (`j`, `{client_addr}`) and values.
        macros: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `SMFIC_CONNECT`: the client's host name and address.
    Connect {
        /// The client's host name (`[192.0.2.1]` when it has none).
        hostname: Vec<u8>,
        /// The client's address.
        address: Address,
    },
    /// `SMFIC_HELO`: the HELO/EHLO argument.
    Helo(Vec<u8>),
    /// `SMFIC_MAIL`: the sender (`<a@example.com>`) then the ESMTP parameters.
    Mail(Vec<Vec<u8>>),
    /// `SMFIC_RCPT`: the recipient (`<b@example.org>`) then the ESMTP parameters.
    Rcpt(Vec<Vec<u8>>),
    /// `SMFIC_DATA`: the DATA command.
    Data,
    /// `SMFIC_HEADER`: one header field.
    Header {
        /// The field name.
        name: Vec<u8>,
        /// The field value (continuation lines joined by their line breaks).
        value: Vec<u8>,
    },
    /// `SMFIC_EOH`: the end of the header.
    EndOfHeaders,
    /// `SMFIC_BODY`: a body chunk of at most [`CHUNK_SIZE`] octets.
    Body(Vec<u8>),
    /// `SMFIC_BODYEOB`: the end of the message; the filter answers with its modifications and
    /// then its verdict.
    EndOfMessage,
    /// `SMFIC_ABORT`: the message is abandoned; the connection goes on.
    Abort,
    /// `SMFIC_QUIT`: the connection ends.
    Quit,
    /// `SMFIC_QUIT_NC`: the SMTP connection ends, the filter connection is reused for another.
    QuitNewConnection,
    /// `SMFIC_UNKNOWN`: an SMTP command the MTA did not know.
    Unknown(Vec<u8>),
}

impl Command {
    /// The command code on the wire.
    pub fn code(&self) -> u8 {
        match self {
            Self::OptNeg(_) => b'O',
            Self::Macro { .. } => b'D',
            Self::Connect { .. } => b'C',
            Self::Helo(_) => b'H',
            Self::Mail(_) => b'M',
            Self::Rcpt(_) => b'R',
            Self::Data => b'T',
            Self::Header { .. } => b'L',
            Self::EndOfHeaders => b'N',
            Self::Body(_) => b'B',
            Self::EndOfMessage => b'E',
            Self::Abort => b'A',
            Self::Quit => b'Q',
            Self::QuitNewConnection => b'K',
            Self::Unknown(_) => b'U',
        }
    }
}

/// A response or modification from the filter to the MTA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `SMFIC_OPTNEG`: the filter's choice.
    OptNeg(OptNeg),
    /// `SMFIR_ACCEPT`: accept; send nothing more for this message (or connection).
    Accept,
    /// `SMFIR_CONTINUE`: go on.
    Continue,
    /// `SMFIR_DISCARD`: accept the message and drop it.
    Discard,
    /// `SMFIR_REJECT`: refuse (`550`, or `554` for a connection).
    Reject,
    /// `SMFIR_TEMPFAIL`: refuse for now (`451`).
    Tempfail,
    /// `SMFIR_REPLYCODE`: refuse with this SMTP reply (`550 5.7.1 Blocked`).
    ReplyCode(Vec<u8>),
    /// `SMFIR_SKIP`: send no more body chunks, go on to the end of the message.
    Skip,
    /// `SMFIR_PROGRESS`: still working; the MTA restarts its timer.
    Progress,
    /// `SMFIR_CONN_FAIL`: drop the connection.
    ConnectionFail,
    /// `SMFIR_SHUTDOWN`: close the SMTP session with `421`.
    Shutdown,
    /// `SMFIR_QUARANTINE`: hold the message, with a reason.
    Quarantine(Vec<u8>),
    /// `SMFIR_ADDHEADER`: append a header field.
    AddHeader {
        /// The field name.
        name: Vec<u8>,
        /// The field value.
        value: Vec<u8>,
    },
    /// `SMFIR_INSHEADER`: insert a header field at `index` (0 is first).
    InsertHeader {
        /// Where the field goes among the header fields, 0 first.
        index: u32,
        /// The field name.
        name: Vec<u8>,
        /// The field value.
        value: Vec<u8>,
    },
    /// `SMFIR_CHGHEADER`: change the `index`th field (1 is first) named `name`; an empty value
    /// deletes it.
    ChangeHeader {
        /// Which occurrence of the name, 1 first.
        index: u32,
        /// The field name.
        name: Vec<u8>,
        /// The new value; empty deletes the field.
        value: Vec<u8>,
    },
    /// `SMFIR_REPLBODY`: a chunk of the new body; the chunks of one message are joined.
    ReplaceBody(Vec<u8>),
    /// `SMFIR_ADDRCPT`: add a recipient.
    AddRcpt(Vec<u8>),
    /// `SMFIR_ADDRCPT_PAR`: add a recipient with ESMTP parameters.
    AddRcptPar {
        /// The recipient.
        rcpt: Vec<u8>,
        /// The ESMTP parameters.
        args: Vec<u8>,
    },
    /// `SMFIR_DELRCPT`: delete a recipient.
    DeleteRcpt(Vec<u8>),
    /// `SMFIR_CHGFROM`: change the envelope sender, with optional ESMTP parameters.
    ChangeFrom {
        /// The new sender.
        from: Vec<u8>,
        /// The ESMTP parameters.
        args: Option<Vec<u8>>,
    },
}

impl Response {
    /// The response code on the wire.
    pub fn code(&self) -> u8 {
        match self {
            Self::OptNeg(_) => b'O',
            Self::Accept => b'a',
            Self::Continue => b'c',
            Self::Discard => b'd',
            Self::Reject => b'r',
            Self::Tempfail => b't',
            Self::ReplyCode(_) => b'y',
            Self::Skip => b's',
            Self::Progress => b'p',
            Self::ConnectionFail => b'f',
            Self::Shutdown => b'4',
            Self::Quarantine(_) => b'q',
            Self::AddHeader { .. } => b'h',
            Self::InsertHeader { .. } => b'i',
            Self::ChangeHeader { .. } => b'm',
            Self::ReplaceBody(_) => b'b',
            Self::AddRcpt(_) => b'+',
            Self::AddRcptPar { .. } => b'2',
            Self::DeleteRcpt(_) => b'-',
            Self::ChangeFrom { .. } => b'e',
        }
    }

    /// Whether this is a modification (or quarantine), which a filter sends only after
    /// [`Command::EndOfMessage`] and before its verdict, and which ends no step.
    pub fn is_modification(&self) -> bool {
        matches!(
            self,
            Self::Quarantine(_)
                | Self::AddHeader { .. }
                | Self::InsertHeader { .. }
                | Self::ChangeHeader { .. }
                | Self::ReplaceBody(_)
                | Self::AddRcpt(_)
                | Self::AddRcptPar { .. }
                | Self::DeleteRcpt(_)
                | Self::ChangeFrom { .. }
        )
    }

    /// The action flag a modification needs, or `None` for verdicts.
    pub fn required_action(&self) -> Option<Actions> {
        Some(match self {
            Self::Quarantine(_) => Actions::QUARANTINE,
            Self::AddHeader { .. } | Self::InsertHeader { .. } => Actions::ADD_HEADERS,
            Self::ChangeHeader { .. } => Actions::CHANGE_HEADERS,
            Self::ReplaceBody(_) => Actions::CHANGE_BODY,
            Self::AddRcpt(_) => Actions::ADD_RCPT,
            Self::AddRcptPar { .. } => Actions::ADD_RCPT_PAR,
            Self::DeleteRcpt(_) => Actions::DELETE_RCPT,
            Self::ChangeFrom { .. } => Actions::CHANGE_FROM,
            _ => return None,
        })
    }
}

//! Validated value types: addresses, commands, replies, capabilities.

pub mod address;
pub mod command;
mod envelope;
pub mod reply;
pub(crate) mod text;

pub use address::{
    AddressError, AddressLiteral, Domain, ForwardPath, GeneralLiteral, Host, LocalPart, Mailbox,
    ReversePath,
};
pub use command::{
    BodyType, Command, MailAuth, MailParameters, Mechanism, Notify, OriginalRecipient, Parameter,
    Params, RcptParameters, Ret, ValueError,
};
pub use envelope::EnvelopeError;
pub use reply::{Capability, EhloResponse, EnhancedCode, Reply, ReplyCode, ReplyError};

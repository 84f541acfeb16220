// The README is the crate's documentation; its examples run as doctests on `ReadmeDoctests`.
#![cfg_attr(not(doctest), doc = include_str!("../README.md"))]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod encode;
pub mod parse;
pub mod types;

pub use encode::{Encode, Encoder};
pub use types::ValidationError;
pub use types::core::{
    AString, Atom, AtomExt, IString, IntoStatic, Literal, LiteralMode, NString, Quoted, Tag, Text,
    Vec1,
};
#[cfg(test)]
mod arbitrary;
pub mod client;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod codec;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod framer;
pub mod server;
pub mod state;
pub mod structure;

pub use client::{ClientConfig, ClientSession, Event as ClientEvent};
pub use framer::{FrameError, Framer, FramerConfig, FramerEvent, FramerSide};
pub use mailwright_sansio::{Excerpt, Machine, Secret, UsageError};
pub use parse::{DecodeError, MalformedKind};
pub use server::{Event as ServerEvent, RejectReason, ServerConfig, ServerSession};
pub use state::SessionState;
pub use types::command::{
    Command, CommandBody, FetchAttribute, FetchItems, SearchKey, Section, StatusItem, StoreKind,
};
pub use types::datetime::Date;
pub use types::flag::Flag;
pub use types::mailbox::{IntoMailbox, Mailbox};
pub use types::response::{Code, Continue, Data, Response, StatusKind, StatusResponse};
pub use types::sequence::{SequenceSet, SequenceSetError};

/// The README's examples, run as doctests with the `tokio` feature, which its async client
/// examples need.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "tokio"))]
pub struct ReadmeDoctests;

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

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
pub mod codec;
pub mod framer;
pub mod server;
pub mod structure;

pub use client::{ClientEvent, ClientFlow, ClientOptions};
pub use framer::{FrameError, Framer, FramerEvent, FramerOptions};
pub use parse::DecodeError;
pub use server::{RejectReason, ServerEvent, ServerFlow, ServerOptions, SessionState};
pub use types::command::{Command, CommandBody};
pub use types::response::{Code, Continue, Data, Response, StatusKind, StatusResponse};

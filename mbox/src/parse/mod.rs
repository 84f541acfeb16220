//! Reading: the streaming scanner, header metadata and unquoting.

mod headers;
mod reader;
mod unquote;

pub(crate) use headers::for_each_header;
pub use reader::{ReadOptions, Reader};
pub use unquote::{Unquoter, unquote_all};

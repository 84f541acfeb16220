//! The responses to a FETCH, one at a time.

use std::num::NonZeroU32;

use super::{Client, Error, Transport};
use crate::client::Event;
use crate::types::body::Envelope;
use crate::types::core::{Tag, Vec1};
use crate::types::flag::FlagFetch;
use crate::types::response::{Data, FetchItem, StatusKind};

/// A FETCH in progress, from [`Client::fetch`]: [`Fetch::next`] until `None`.
#[derive(Debug)]
pub struct Fetch<'a, T> {
    client: &'a mut Client<T>,
    tag: Tag<'static>,
    done: bool,
}

/// One `* n FETCH (...)` response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The message sequence number.
    pub seq: NonZeroU32,
    /// The data items, as the server sent them.
    pub items: Vec1<FetchItem<'static>>,
}

impl Fetched {
    /// `UID`.
    pub fn uid(&self) -> Option<NonZeroU32> {
        self.items.iter().find_map(|i| match i {
            FetchItem::Uid(uid) => Some(*uid),
            _ => None,
        })
    }

    /// `ENVELOPE`.
    pub fn envelope(&self) -> Option<&Envelope<'static>> {
        self.items.iter().find_map(|i| match i {
            FetchItem::Envelope(envelope) => Some(&**envelope),
            _ => None,
        })
    }

    /// `FLAGS`.
    pub fn flags(&self) -> Option<&[FlagFetch<'static>]> {
        self.items.iter().find_map(|i| match i {
            FetchItem::Flags(flags) => Some(&flags[..]),
            _ => None,
        })
    }

    /// `RFC822.SIZE`.
    pub fn size(&self) -> Option<u32> {
        self.items.iter().find_map(|i| match i {
            FetchItem::Rfc822Size(size) => Some(*size),
            _ => None,
        })
    }

    /// The octets of the first `BODY[section]` item (`BODY[]`, `BODY[HEADER]` ...); `None`
    /// when there is none or it is NIL.
    pub fn body(&self) -> Option<&[u8]> {
        self.items.iter().find_map(|i| match i {
            FetchItem::BodySection { data, .. } => data.as_bytes(),
            _ => None,
        })
    }
}

impl<'a, T: Transport> Fetch<'a, T> {
    pub(super) fn new(client: &'a mut Client<T>, tag: Tag<'static>) -> Self {
        Self {
            client,
            tag,
            done: false,
        }
    }

    /// The FETCH command's tag.
    pub fn tag(&self) -> &Tag<'static> {
        &self.tag
    }

    /// The next FETCH response; `None` after the command's `OK`, [`Error::Refused`] for its
    /// `NO` or `BAD`. Other untagged data goes to [`Client::take_updates`]. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Fetched>, Error> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.client.event().await? {
                Event::Data(Data::Fetch { seq, items }) => {
                    return Ok(Some(Fetched { seq, items }));
                }
                Event::Data(data) => self.client.update(data),
                Event::Completed { command, status } if status.tag.as_ref() == Some(&self.tag) => {
                    self.done = true;
                    self.client.completed(Some(&self.tag));
                    return if status.kind == StatusKind::Ok {
                        Ok(None)
                    } else {
                        Err(Error::Refused { command, status })
                    };
                }
                _ => {}
            }
        }
    }

    /// Every remaining response.
    pub async fn all(mut self) -> Result<Vec<Fetched>, Error> {
        let mut all = Vec::new();
        while let Some(fetched) = self.next().await? {
            all.push(fetched);
        }
        Ok(all)
    }
}

//! IDLE (RFC 2177) as a guard: updates while it runs, re-issued by the machine before the
//! server's autologout, `DONE` when it ends.

use mailwright_sansio::UsageError;

use super::{Client, Error, Transport};
use crate::client::Event;
use crate::types::response::{Data, StatusKind};

/// An IDLE in progress, from [`Client::idle`]: [`Idle::next`] yields what the server reports,
/// [`Idle::done`] ends it. Left without `done`, the next call of the client ends it.
///
/// The machine re-issues the IDLE every [`ClientConfig::idle_reissue`] (29 minutes by default,
/// RFC 2177 §3: servers may log out a client idle for 30) while [`Idle::next`] waits: `DONE`,
/// and a new `IDLE` after the server's `OK`; [`Idle::reissues`] counts them.
///
/// [`ClientConfig::idle_reissue`]: crate::client::ClientConfig::idle_reissue
#[derive(Debug)]
pub struct Idle<'a, T> {
    client: &'a mut Client<T>,
    reissues: u32,
}

impl<T: Transport> Client<T> {
    /// IDLE (RFC 2177): returns once the server has accepted it (its `+`). Fails with
    /// [`Error::NotOffered`] when the server does not advertise IDLE.
    pub async fn idle(&mut self) -> Result<Idle<'_, T>, Error> {
        self.require("IDLE").await?;
        let handle = self.conn.machine_mut().idle()?;
        let tag = self
            .conn
            .machine()
            .in_flight()
            .last()
            .cloned()
            .expect("the IDLE command is in flight");
        self.idle = Some(handle);
        self.idle_tag = Some(tag.clone());
        loop {
            match self.event().await? {
                Event::Idling { .. } => break,
                Event::Completed { command, status } if status.tag.as_ref() == Some(&tag) => {
                    self.completed(Some(&tag));
                    return Err(Error::Refused { command, status });
                }
                Event::Data(data) => self.update(data),
                _ => {}
            }
        }
        Ok(Idle {
            client: self,
            reissues: 0,
        })
    }
}

impl<T: Transport> Idle<'_, T> {
    /// The next update the server sends (`EXISTS`, `EXPUNGE`, `FETCH` with new flags ...).
    /// Cancel-safe: use it in `tokio::select!` beside whatever else the application waits for.
    pub async fn next(&mut self) -> Result<Data<'static>, Error> {
        loop {
            let Some(tag) = self.client.idle_tag.clone() else {
                return Err(UsageError::NotPending { expected: "IDLE" }.into());
            };
            match self.client.event().await? {
                Event::Data(data) => return Ok(data),
                Event::IdleReissued { tag } => {
                    self.client.idle_tag = Some(tag);
                    self.reissues += 1;
                }
                Event::Completed { command, status } if status.tag.as_ref() == Some(&tag) => {
                    self.client.completed(Some(&tag));
                    return Err(if status.kind == StatusKind::Ok {
                        Error::Unexpected("the server ended IDLE without DONE".to_owned())
                    } else {
                        Error::Refused { command, status }
                    });
                }
                _ => {}
            }
        }
    }

    /// How many times the machine has re-issued the IDLE.
    pub fn reissues(&self) -> u32 {
        self.reissues
    }

    /// Ends the IDLE (`DONE`) and waits for its completion; returns the updates that came
    /// meanwhile.
    pub async fn done(self) -> Result<Vec<Data<'static>>, Error> {
        let handle = self
            .client
            .idle
            .take()
            .ok_or(UsageError::NotPending { expected: "IDLE" })?;
        self.client.conn.machine_mut().idle_done(handle)?;
        let mut updates = Vec::new();
        loop {
            let Some(tag) = self.client.idle_tag.clone() else {
                return Ok(updates);
            };
            match self.client.event().await? {
                Event::Data(data) => updates.push(data),
                Event::IdleReissued { tag } => self.client.idle_tag = Some(tag),
                Event::Completed { command, status } if status.tag.as_ref() == Some(&tag) => {
                    self.client.completed(Some(&tag));
                    return if status.kind == StatusKind::Ok {
                        Ok(updates)
                    } else {
                        Err(Error::Refused { command, status })
                    };
                }
                _ => {}
            }
        }
    }
}

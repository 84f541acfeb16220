//! The TRANSACTION state (RFC 1939 §5): the commands the session answers from the maildrop
//! listing, and the two (RETR, TOP) and the QUIT it hands to the application.

use crate::encode::{DotStuffer, Encode, end_multiline};
use crate::types::{Command, MessageNumber, Response, ScanListing, Stat, UidListing};

use super::event::{self, Deleted, Event, MaildropEntry, SessionState, UpdateTicket};
use super::{Pending, ServerSession};

impl ServerSession {
    pub(super) fn stat_line(&self) -> String {
        let s = self.stat();
        format!("maildrop has {} messages ({} octets)", s.count, s.size)
    }

    fn message(&self, n: MessageNumber) -> Option<&MaildropEntry> {
        let i = n.index();
        if self.deleted.get(i).copied().unwrap_or(true) {
            None
        } else {
            self.maildrop.entries.get(i)
        }
    }

    fn no_such_message(&mut self, n: MessageNumber) {
        let text = if self.deleted.get(n.index()).copied().unwrap_or(false) {
            format!("message {n} already deleted")
        } else {
            format!(
                "no such message, only {} messages in maildrop",
                self.maildrop.entries.len()
            )
        };
        self.reply(&Response::err(&text));
    }

    pub(super) fn stat(&self) -> Stat {
        let mut count = 0;
        let mut size = 0;
        for (e, _) in self
            .maildrop
            .entries
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
        {
            count += 1;
            size += e.size;
        }
        Stat { count, size }
    }

    fn live(&self) -> impl Iterator<Item = (MessageNumber, &MaildropEntry)> {
        self.maildrop
            .entries
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, d))| !**d)
            .filter_map(|(i, (e, _))| {
                let n = u32::try_from(i + 1).ok()?;
                Some((MessageNumber::new(n).ok()?, e))
            })
    }

    pub(super) fn dispatch_transaction(&mut self, cmd: &Command) {
        match *cmd {
            Command::Stat => self.stat().encode(&mut self.out),
            Command::List(None) => {
                let s = self.stat();
                self.reply(&Response::ok(&format!(
                    "{} messages ({} octets)",
                    s.count, s.size
                )));
                let mut out = std::mem::take(&mut self.out);
                for (message, e) in self.live() {
                    ScanListing {
                        message,
                        size: e.size,
                    }
                    .encode(&mut out);
                }
                end_multiline(&mut out);
                self.out = out;
            }
            Command::Uidl(None) => {
                self.reply(&Response::ok("unique-id listing follows"));
                let mut out = std::mem::take(&mut self.out);
                for (message, e) in self.live() {
                    UidListing {
                        message,
                        uid: e.uid.clone(),
                    }
                    .encode(&mut out);
                }
                end_multiline(&mut out);
                self.out = out;
            }
            Command::List(Some(n)) => match self.message(n) {
                Some(e) => self.reply(&Response::ok(&format!("{n} {}", e.size))),
                None => self.no_such_message(n),
            },
            Command::Uidl(Some(n)) => match self.message(n) {
                Some(e) => self.reply(&Response::ok(&format!("{n} {}", e.uid))),
                None => self.no_such_message(n),
            },
            Command::Retr(n) => match self.message(n) {
                Some(e) => {
                    let (uid, size) = (e.uid.clone(), e.size);
                    self.pending = Pending::Message {
                        stuffer: DotStuffer::new(),
                        started: false,
                        size,
                    };
                    self.events.push_back(Event::Retr {
                        message: n,
                        uid,
                        size,
                    });
                }
                None => self.no_such_message(n),
            },
            Command::Top { message, lines } => match self.message(message) {
                Some(e) => {
                    let (uid, size) = (e.uid.clone(), e.size);
                    self.pending = Pending::Message {
                        stuffer: DotStuffer::top(lines),
                        started: false,
                        size,
                    };
                    self.events.push_back(Event::Top {
                        message,
                        uid,
                        lines,
                    });
                }
                None => self.no_such_message(message),
            },
            Command::Dele(n) => match self.message(n) {
                Some(_) => {
                    self.deleted[n.index()] = true;
                    self.reply(&Response::ok(&format!("message {n} deleted")));
                }
                None => self.no_such_message(n),
            },
            Command::Noop => self.reply(&Response::ok("")),
            Command::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                self.reply(&Response::ok(&self.stat_line()));
            }
            Command::Quit => {
                // RFC 1939 §6: the UPDATE state removes the messages marked as deleted.
                let deleted = self
                    .maildrop
                    .entries
                    .iter()
                    .zip(&self.deleted)
                    .enumerate()
                    .filter(|(_, (_, d))| **d)
                    .filter_map(|(i, (e, _))| {
                        let n = MessageNumber::new(u32::try_from(i + 1).ok()?).ok()?;
                        Some(Deleted {
                            message: n,
                            uid: e.uid.clone(),
                        })
                    })
                    .collect();
                let ticket = event::next_ticket();
                self.state = SessionState::Update;
                self.pending = Pending::Update(ticket);
                self.events.push_back(Event::Update {
                    deleted,
                    ticket: UpdateTicket(ticket),
                });
            }
            _ => self.wrong_state(),
        }
    }
}

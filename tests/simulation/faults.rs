//! A mail store that injects faults: it wraps the server's Maildir store and, when armed, makes
//! one operation fail as a full disk (`ENOSPC`) or an I/O error (`EIO`) would, or "crashes"
//! between the two steps of a delivery or an APPEND: the prepared message is left where a real
//! crash leaves it (the Maildir's `tmp/`) and every later call fails, as nothing more is written
//! by a process that died. The simulation then drops the server and its runtime and opens a new
//! server on the same data directory.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mailwright::core::directory::Address;
use mailwright::store::{
    Account, AppendRequest, Appended, Changes, CopyId, CopyOutcome, Delivery, FlagOp, Flags,
    MailStore, MailboxInfo, MailboxName, MailboxStatus, MailboxView, Maildrop, MessageText,
    PreparedAppend, QuotaUsage, SelectedMailbox, SpecialUse, StoreError, StoreOutcome, Transfer,
};

/// An operation a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The commit of a local delivery.
    DeliveryCommit,
    /// The commit of an APPEND.
    Append,
    /// STORE.
    Store,
    /// EXPUNGE.
    Expunge,
    /// COPY or MOVE.
    Copy,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The disk is full.
    NoSpace,
    /// An I/O error.
    Io,
    /// The process dies before the commit (delivery and APPEND only).
    Crash,
}

/// Which copies of a delivery a fault of its commit hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copies {
    /// Every copy.
    All,
    /// The first copy committed only; the others go in.
    First,
}

/// The armed fault, shared by the store and the simulation.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Mutex<Option<(Op, Fault, Copies)>>,
    crashed: AtomicBool,
}

impl Faults {
    /// The next `op` fails with `fault`.
    pub(crate) fn arm(&self, op: Op, fault: Fault, copies: Copies) {
        *self.armed.lock().unwrap() = Some((op, fault, copies));
    }

    /// Whether the armed fault is still waiting (its operation did not run).
    pub(crate) fn pending(&self) -> bool {
        self.armed.lock().unwrap().is_some()
    }

    /// Disarms whatever is armed.
    pub(crate) fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }

    /// Whether the store crashed.
    pub(crate) fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// The fault armed for `op`, taken.
    fn take(&self, op: Op) -> Option<(Fault, Copies)> {
        let mut armed = self.armed.lock().unwrap();
        match *armed {
            Some((o, f, c)) if o == op => {
                *armed = None;
                Some((f, c))
            }
            _ => None,
        }
    }

    /// `Err` when the store crashed: a dead process does nothing more.
    fn alive(&self) -> Result<(), StoreError> {
        if self.crashed() { Err(eio()) } else { Ok(()) }
    }

    /// Fails `op` if a fault is armed for it (a crash is only for the two-step operations).
    fn check(&self, op: Op) -> Result<(), StoreError> {
        self.alive()?;
        match self.take(op) {
            None => Ok(()),
            Some((fault, _)) => Err(error(fault)),
        }
    }

    fn crash(&self) -> StoreError {
        self.crashed.store(true, Ordering::SeqCst);
        eio()
    }
}

fn eio() -> StoreError {
    StoreError::Io(io::Error::from_raw_os_error(5))
}

fn error(fault: Fault) -> StoreError {
    match fault {
        Fault::NoSpace => StoreError::from(io::Error::from(io::ErrorKind::StorageFull)),
        Fault::Io | Fault::Crash => eio(),
    }
}

/// The wrapper.
#[derive(Debug)]
pub(crate) struct FaultyStore {
    inner: Arc<dyn MailStore>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    pub(crate) fn new(inner: Arc<dyn MailStore>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

impl MailStore for FaultyStore {
    fn account(&self, user: &Address) -> Result<Box<dyn Account>, StoreError> {
        self.faults.alive()?;
        Ok(Box::new(FaultyAccount {
            inner: self.inner.account(user)?,
            faults: self.faults.clone(),
        }))
    }

    fn quota(&self, user: &Address) -> Result<Option<QuotaUsage>, StoreError> {
        self.faults.alive()?;
        self.inner.quota(user)
    }

    fn delivery(&self) -> Box<dyn Delivery> {
        Box::new(FaultyDelivery {
            inner: Some(self.inner.delivery()),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyAccount {
    inner: Box<dyn Account>,
    faults: Arc<Faults>,
}

impl Account for FaultyAccount {
    fn user(&self) -> &Address {
        self.inner.user()
    }
    fn list(&self) -> Result<Vec<MailboxInfo>, StoreError> {
        self.faults.alive()?;
        self.inner.list()
    }
    fn special_use(&self, name: &MailboxName) -> Option<SpecialUse> {
        self.inner.special_use(name)
    }
    fn exists(&self, name: &MailboxName) -> Result<bool, StoreError> {
        self.faults.alive()?;
        self.inner.exists(name)
    }
    fn create(&self, name: &MailboxName) -> Result<(), StoreError> {
        self.faults.alive()?;
        self.inner.create(name)
    }
    fn delete(&self, name: &MailboxName) -> Result<(), StoreError> {
        self.faults.alive()?;
        self.inner.delete(name)
    }
    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        self.faults.alive()?;
        self.inner.rename(from, to)
    }
    fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError> {
        self.faults.alive()?;
        self.inner.subscriptions()
    }
    fn set_subscribed(&self, name: &MailboxName, on: bool) -> Result<(), StoreError> {
        self.faults.alive()?;
        self.inner.set_subscribed(name, on)
    }
    fn status(&self, name: &MailboxName) -> Result<MailboxStatus, StoreError> {
        self.faults.alive()?;
        self.inner.status(name)
    }
    fn quota(&self) -> Result<Option<QuotaUsage>, StoreError> {
        self.faults.alive()?;
        self.inner.quota()
    }
    fn select(
        &self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<(Box<dyn SelectedMailbox>, MailboxView), StoreError> {
        self.faults.alive()?;
        let (inner, view) = self.inner.select(name, read_only)?;
        Ok((
            Box::new(FaultySelected {
                inner,
                faults: self.faults.clone(),
            }),
            view,
        ))
    }
    fn append_all(
        &self,
        name: &MailboxName,
        messages: &mut [(AppendRequest, &mut dyn io::Read)],
    ) -> Result<Vec<Appended>, StoreError> {
        self.faults.alive()?;
        match self.faults.take(Op::Append) {
            None => self.inner.append_all(name, messages),
            // The batch is all or none: a crash or a failure before it leaves nothing.
            Some((Fault::Crash, _)) => Err(self.faults.crash()),
            Some((fault, _)) => Err(error(fault)),
        }
    }
    fn append(
        &self,
        name: &MailboxName,
        request: &AppendRequest,
        message: &mut dyn io::Read,
    ) -> Result<Box<dyn PreparedAppend>, StoreError> {
        self.faults.alive()?;
        Ok(Box::new(FaultyAppend {
            inner: Some(self.inner.append(name, request, message)?),
            faults: self.faults.clone(),
        }))
    }
    fn watch(&self, name: &MailboxName) -> Changes {
        self.inner.watch(name)
    }
    fn maildrop(&self) -> Result<Box<dyn Maildrop>, StoreError> {
        self.faults.alive()?;
        self.inner.maildrop()
    }
}

#[derive(Debug)]
struct FaultySelected {
    inner: Box<dyn SelectedMailbox>,
    faults: Arc<Faults>,
}

impl SelectedMailbox for FaultySelected {
    fn name(&self) -> &MailboxName {
        self.inner.name()
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    fn sync(&mut self, force: bool) -> Result<Option<MailboxView>, StoreError> {
        self.faults.alive()?;
        self.inner.sync(force)
    }
    fn open(&self, uid: u32) -> Result<Option<MessageText>, StoreError> {
        self.faults.alive()?;
        self.inner.open(uid)
    }
    fn internal_date(&self, uid: u32) -> Result<Option<SystemTime>, StoreError> {
        self.faults.alive()?;
        self.inner.internal_date(uid)
    }
    fn store(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError> {
        self.faults.check(Op::Store)?;
        self.inner.store(uids, op, flags, keywords, unchanged_since)
    }
    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        self.faults.check(Op::Expunge)?;
        self.inner.expunge(uids)
    }
    fn copy(
        &mut self,
        uids: &[u32],
        to: &MailboxName,
        how: Transfer,
    ) -> Result<CopyOutcome, StoreError> {
        self.faults.check(Op::Copy)?;
        self.inner.copy(uids, to, how)
    }
    fn claim_recent(&mut self, uid_validity: u32, through: u32) -> Result<Vec<u32>, StoreError> {
        self.faults.alive()?;
        self.inner.claim_recent(uid_validity, through)
    }
    fn release(&mut self, uids: &[u32]) {
        self.inner.release(uids);
    }
    fn vanished_since(&self, modseq: u64) -> Result<Option<Vec<(u32, u32)>>, StoreError> {
        self.faults.alive()?;
        self.inner.vanished_since(modseq)
    }
}

#[derive(Debug)]
struct FaultyAppend {
    inner: Option<Box<dyn PreparedAppend>>,
    faults: Arc<Faults>,
}

impl PreparedAppend for FaultyAppend {
    fn commit(mut self: Box<Self>) -> Result<Appended, StoreError> {
        self.faults.alive()?;
        let inner = self.inner.take().expect("committed once");
        match self.faults.take(Op::Append) {
            None => inner.commit(),
            Some((Fault::Crash, _)) => {
                // The process dies here: what was written stays where it was written.
                std::mem::forget(inner);
                Err(self.faults.crash())
            }
            Some((fault, _)) => Err(error(fault)),
        }
    }
}

#[derive(Debug)]
struct FaultyDelivery {
    inner: Option<Box<dyn Delivery>>,
    faults: Arc<Faults>,
}

impl FaultyDelivery {
    fn inner(&mut self) -> Result<&mut Box<dyn Delivery>, StoreError> {
        self.faults.alive()?;
        self.inner.as_mut().ok_or_else(eio)
    }
}

impl Delivery for FaultyDelivery {
    fn prepare(
        &mut self,
        user: &Address,
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        self.inner()?.prepare(user, message)
    }

    fn commit(&mut self, copies: &[CopyId]) -> Vec<Result<(), StoreError>> {
        if let Err(e) = self.inner() {
            let e = e.to_string();
            return copies
                .iter()
                .map(|_| Err(StoreError::Io(io::Error::other(e.clone()))))
                .collect();
        }
        match self.faults.take(Op::DeliveryCommit) {
            None => self.inner().expect("alive").commit(copies),
            Some((Fault::Crash, _)) => {
                // The process dies before the commit: the prepared copies stay in tmp/.
                std::mem::forget(self.inner.take());
                self.faults.crash();
                copies.iter().map(|_| Err(eio())).collect()
            }
            Some((fault, Copies::All)) => copies.iter().map(|_| Err(error(fault))).collect(),
            Some((fault, Copies::First)) => {
                let Some((first, rest)) = copies.split_first() else {
                    return Vec::new();
                };
                let _ = first;
                let mut out = vec![Err(error(fault))];
                out.extend(self.inner().expect("alive").commit(rest));
                out
            }
        }
    }

    fn rollback(&mut self, copy: CopyId) -> Result<(), StoreError> {
        self.inner()?.rollback(copy)
    }

    fn publish(mut self: Box<Self>) -> Vec<(CopyId, String)> {
        if self.faults.crashed() {
            // Nothing is announced by a process that died; keep the tmp files as they are.
            std::mem::forget(self.inner.take());
            return Vec::new();
        }
        self.inner
            .take()
            .map(mailwright::store::Delivery::publish)
            .unwrap_or_default()
    }
}

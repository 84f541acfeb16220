//! A small text file parsed once and re-parsed only when it changes on disk (modification time or
//! size), so admin commands and editors take effect without a restart. Readers share the parsed
//! value through an `Arc`: a lookup costs one `stat`, never a copy.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// What tells a file changed: its modification time and size; `None` while it does not exist.
type Stamp = Option<(SystemTime, u64)>;

/// A watched file; a missing file parses as empty text.
#[derive(Debug)]
pub(crate) struct Watched<T> {
    path: PathBuf,
    state: Mutex<(Stamp, Arc<T>)>,
}

impl<T: Default> Watched<T> {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: Mutex::new((None, Arc::new(T::default()))),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The current value, re-parsed with `parse` if the file changed since the last call.
    /// `io` turns a read failure into the caller's error type.
    pub(crate) fn get<E>(
        &self,
        parse: impl FnOnce(&str) -> Result<T, E>,
        io: impl Fn(io::Error) -> E,
    ) -> Result<Arc<T>, E> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        // A missing file is looked for again each time: it may be created at any moment.
        if stamp.is_none() || stamp != state.0 {
            let text = match std::fs::read_to_string(&self.path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(io(e)),
            };
            state.1 = Arc::new(parse(&text)?);
            state.0 = stamp;
        }
        Ok(state.1.clone())
    }
}

//! An [`Envelope`] from the addresses people write: `Envelope::parse("alice@example.org",
//! ["bob@example.net"])`.

use crate::client::Envelope;

use super::address::{AddressError, ForwardPath, ReversePath};

/// Why [`Envelope::parse`] refused its addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The sender is not a reverse path (`<>`, `<mailbox>` or a mailbox).
    #[error("sender: {0}")]
    Sender(AddressError),
    /// A recipient is not a forward path (`<mailbox>`, a mailbox, or `Postmaster`).
    #[error("recipient {index}: {error}")]
    Recipient {
        /// Its position in the list, from 0.
        index: usize,
        /// What is wrong with it.
        error: AddressError,
    },
    /// No recipient: a transaction needs at least one (RFC 5321 §3.3).
    #[error("no recipients")]
    NoRecipients,
}

impl Envelope {
    /// An envelope without parameters from text: the sender as [`ReversePath`] reads it (`<>` or
    /// the empty text for a bounce), each recipient as [`ForwardPath`] reads it, brackets
    /// optional.
    ///
    /// ```
    /// use mailwright_smtp_proto::{Envelope, EnvelopeError, AddressError, ForwardPath, ReversePath};
    ///
    /// let envelope = Envelope::parse("alice@example.org", ["bob@example.net", "<carol@example.com>"])?;
    /// assert_eq!(envelope.from.to_string(), "<alice@example.org>");
    /// assert_eq!(envelope.rcpts[1].0.to_string(), "<carol@example.com>");
    ///
    /// let bounce = Envelope::parse("<>", ["Postmaster"])?;
    /// assert_eq!((bounce.from, &bounce.rcpts[0].0), (ReversePath::Null, &ForwardPath::Postmaster));
    ///
    /// assert_eq!(
    ///     Envelope::parse("alice@example.org", ["bob@example.net", "carol"]),
    ///     Err(EnvelopeError::Recipient { index: 1, error: AddressError::Mailbox })
    /// );
    /// # Ok::<(), EnvelopeError>(())
    /// ```
    pub fn parse<S: AsRef<str>>(
        from: &str,
        rcpts: impl IntoIterator<Item = S>,
    ) -> Result<Envelope, EnvelopeError> {
        let from = ReversePath::try_from(from).map_err(EnvelopeError::Sender)?;
        let rcpts = rcpts
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                ForwardPath::try_from(r.as_ref())
                    .map_err(|error| EnvelopeError::Recipient { index, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rcpts.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        Ok(Envelope::new(from, rcpts))
    }
}

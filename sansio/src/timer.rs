//! One protocol timer, armed and fired with instants the driver passes in.

use std::time::{Duration, Instant};

/// A deadline that is either armed at an [`Instant`] or off. Machines keep one per protocol timer
/// (command deadline, autologout) and report the earliest from `poll_timeout`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mailwright_sansio::Timer;
/// let start = Instant::now();
/// let mut t = Timer::default();
/// t.arm(start, Duration::from_secs(300));
/// assert!(!t.expired(start + Duration::from_secs(299)));
/// assert!(t.expired(start + Duration::from_secs(300)));
/// t.disarm();
/// assert_eq!(t.deadline(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timer(Option<Instant>);

impl Timer {
    /// Arms the timer to fire `after` from `now` (re-arming replaces the earlier deadline).
    pub fn arm(&mut self, now: Instant, after: Duration) {
        self.0 = now.checked_add(after);
    }

    /// Arms the timer only if it is off: a deadline that runs from the first byte of a command,
    /// not from the last read.
    pub fn arm_if_off(&mut self, now: Instant, after: Duration) {
        if self.0.is_none() {
            self.arm(now, after);
        }
    }

    /// Turns the timer off.
    pub fn disarm(&mut self) {
        self.0 = None;
    }

    /// The deadline, if armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.0
    }

    /// Whether the timer is armed and its deadline is not after `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.0.is_some_and(|d| d <= now)
    }

    /// The earliest of several optional deadlines.
    pub fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
        deadlines.into_iter().flatten().min()
    }
}

//! The async closes of one bridge's bound values (`Handle::bind_closing`), as the handles,
//! the stopping bridge and the loop thread share them: which values are bound with a
//! close, which close has been claimed, and which never ran to its end.
//!
//! States of one entry, and who moves it:
//!
//! | state     | meaning                                   | leaves by                          |
//! |-----------|-------------------------------------------|------------------------------------|
//! | `Bound`   | the value is on the loop, not closing     | `claim` (its last handle dropped, or `close`), `sweep` |
//! | `Claimed` | one side started (or will run) its close  | `finished` (the close ran to its end) |
//!
//! The rule that makes a close run exactly once, and never be lost: a claim *and* its
//! submission happen under the lock, and a refused submission puts the entry back to
//! `Bound` before the lock is let go. The loop's last `sweep` (after the bridge refused
//! new work) takes the lock too, so it finds every entry either claimed by a submission
//! that got in, or `Bound`: it then claims it and runs the close itself. After the sweep
//! nothing is `Bound` and nothing can be claimed.

use crate::error::Site;
use crate::sync::Mutex;

/// One bound value with a close.
struct Entry {
    /// Where the value was bound (named for its close).
    site: Site,
    /// The value's place in its loop's store.
    slot: usize,
    claimed: bool,
}

#[derive(Default)]
struct Inner {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// The loop's last sweep ran: nothing more is bound or claimed.
    swept: bool,
}

/// What [`Closes::claim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This side claimed the close and its submission got in.
    Submitted,
    /// The submission was refused; the entry is `Bound` again, for the loop's sweep.
    Refused,
    /// Another side claimed it first (or the sweep did).
    Taken,
}

/// The async closes of one bridge's bound values.
pub(crate) struct Closes {
    inner: Mutex<Inner>,
}

impl Default for Closes {
    fn default() -> Closes {
        Closes {
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl Closes {
    /// Adds a bound value with a close; `None` once the loop's sweep has run (the caller
    /// closes the value itself).
    pub(crate) fn add(&self, site: Site, slot: usize) -> Option<usize> {
        let mut inner = self.inner.lock();
        if inner.swept {
            return None;
        }
        let entry = Some(Entry {
            site,
            slot,
            claimed: false,
        });
        Some(match inner.free.pop() {
            Some(key) => {
                inner.entries[key] = entry;
                key
            }
            None => {
                inner.entries.push(entry);
                inner.entries.len() - 1
            }
        })
    }

    /// Claims the close of `key` and runs `submit(slot)` under the lock; `submit`
    /// answers whether its submission got in (it must not block, nor call back in).
    pub(crate) fn claim(&self, key: usize, submit: impl FnOnce(usize) -> bool) -> Claim {
        let mut inner = self.inner.lock();
        let Some(entry) = inner.entries.get_mut(key).and_then(Option::as_mut) else {
            return Claim::Taken;
        };
        if entry.claimed {
            return Claim::Taken;
        }
        entry.claimed = true;
        if submit(entry.slot) {
            Claim::Submitted
        } else {
            // Left for the loop's sweep, which cannot have run: it takes this lock.
            entry.claimed = false;
            Claim::Refused
        }
    }

    /// The loop's last sweep, once the bridge refuses new work: claims every entry still
    /// `Bound` and returns `(key, slot)` of each, for the loop to close itself.
    pub(crate) fn sweep(&self) -> Vec<(usize, usize)> {
        let mut inner = self.inner.lock();
        inner.swept = true;
        inner
            .entries
            .iter_mut()
            .enumerate()
            .filter_map(|(key, entry)| {
                let entry = entry.as_mut().filter(|entry| !entry.claimed)?;
                entry.claimed = true;
                Some((key, entry.slot))
            })
            .collect()
    }

    /// The close of `key` ran to its end.
    pub(crate) fn finished(&self, key: usize) {
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.entries.get_mut(key) {
            if entry.take().is_some() {
                inner.free.push(key);
            }
        }
    }

    /// Where the values whose close has not run to its end were bound.
    pub(crate) fn unfinished(&self) -> Vec<Site> {
        let inner = self.inner.lock();
        inner
            .entries
            .iter()
            .flatten()
            .map(|entry| entry.site.clone())
            .collect()
    }
}

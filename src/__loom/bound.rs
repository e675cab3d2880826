//! The protocols behind `LoopBound` for the loom models in `loom-tests/bound.rs`: the
//! real closes registry (a value's close claimed by its last handle, racing the
//! shutdown's sweep) and the real release queue (a handle dropped off the loop, racing
//! the loop's teardown).

use std::panic::Location;

use crate::bound::Releases;
use crate::error::Site;
use crate::job::{Claim, Closes};

/// A bridge's closes registry, with its operations public.
#[derive(Default)]
pub struct ClosesModel(Closes);

impl ClosesModel {
    /// Adds a value bound with a close in `slot`; `None` once swept.
    pub fn add(&self, slot: usize) -> Option<usize> {
        self.0.add(Site::new(Location::caller(), None), slot)
    }

    /// The last handle's claim, with `submit` as its submission; `true` if it submitted.
    /// `Some(false)`: refused (left for the sweep); `None`: another side had it.
    pub fn claim(&self, key: usize, submit: impl FnOnce(usize) -> bool) -> Option<bool> {
        match self.0.claim(key, submit) {
            Claim::Submitted => Some(true),
            Claim::Refused => Some(false),
            Claim::Taken => None,
        }
    }

    /// The loop's last sweep: `(key, slot)` of every value it must close itself.
    pub fn sweep(&self) -> Vec<(usize, usize)> {
        self.0.sweep()
    }

    /// The close of `key` ran to its end.
    pub fn finished(&self, key: usize) {
        self.0.finished(key);
    }

    /// How many closes did not run to their end.
    pub fn unfinished(&self) -> usize {
        self.0.unfinished().len()
    }
}

/// The queue of slots released off the loop, with its operations public.
#[derive(Default)]
pub struct ReleasesModel(Releases);

impl ReleasesModel {
    /// A handle dropped off the loop; `false` if the teardown dropped the value already.
    pub fn release(&self, slot: usize) -> bool {
        self.0.release(slot)
    }

    /// The loop's drain task takes what was released.
    pub fn take(&self) -> Vec<usize> {
        self.0.take()
    }

    /// A handle hands `start` to the loop thread (a close deferred for room); `false`
    /// (and `start` dropped unrun) once the teardown ran.
    pub fn defer(&self, start: Box<dyn FnOnce() + Send>) -> bool {
        self.0.defer(start)
    }

    /// The loop's drain task takes what was deferred, to run it.
    pub fn take_deferred(&self) -> Vec<Box<dyn FnOnce() + Send>> {
        self.0.take_deferred()
    }

    /// The loop's teardown: refuses later releases, hands back what is queued.
    pub fn close(&self) -> Vec<usize> {
        self.0.close()
    }
}

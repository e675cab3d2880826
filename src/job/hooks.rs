//! Shutdown hooks: async work a bridge (or a scope) runs when it starts to stop, before
//! jobs are cut off (flush a cache, say goodbye to a server). Registered through a
//! `Handle` or a `Scope`, removed when their guard is dropped, taken all at once by the
//! stopping bridge or the closing scope.

use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;

use crate::error::Site;

/// A hook's future, built when the shutdown starts.
pub(crate) type HookFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One registered hook.
pub(crate) struct Hook {
    /// Where it was registered, with its name.
    pub(crate) site: Site,
    pub(crate) make: Box<dyn FnOnce() -> HookFuture + Send>,
}

/// The hooks of one bridge, in registration order.
#[derive(Default)]
pub(crate) struct Hooks {
    slots: Mutex<Vec<Option<Hook>>>,
}

impl Hooks {
    /// Registers `hook`; its key removes it again.
    pub(crate) fn add(&self, hook: Hook) -> usize {
        let mut slots = self.slots.lock();
        slots.push(Some(hook));
        slots.len() - 1
    }

    /// Removes the hook registered under `key`, unless the shutdown took it already.
    pub(crate) fn remove(&self, key: usize) {
        let removed = self.slots.lock().get_mut(key).and_then(Option::take);
        // Dropped outside the lock: it may hold user values with destructors.
        drop(removed);
    }

    /// Every hook still registered, in registration order; later ones are not run.
    pub(crate) fn take_all(&self) -> Vec<Hook> {
        let taken = std::mem::take(&mut *self.slots.lock());
        taken.into_iter().flatten().collect()
    }
}

//! [`Waitable`]: what a multi-wait can wait on, whatever the result type.

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::loop_thread::AssertMode;
use crate::notify::Watcher;

/// Anything [`wait_any`](crate::wait_any) and [`wait_all`](crate::wait_all) can wait on:
/// every [`Completion<T>`], whatever its `T` and whoever runs its job (a loop or a
/// pool), and references and boxes of them.
///
/// The trait is object-safe, so completions of different types go into one wait as
/// `&dyn Waitable`; a `Vec<Completion<T>>` goes in as `&vec` (or `vec.iter()`). It is
/// sealed: the crate implements it, others use it. Waiting through it never takes a
/// value: read it from the completion afterwards.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopbridge::{wait_all, Waitable};
///
/// let bridge = loopbridge::Bridge::new()?;
/// let pool = loopbridge::ThreadPool::new(2)?;
/// let name = bridge.handle().submit(async { "loop" });
/// let size = pool.submit(|| 42_usize);
///
/// let both: [&dyn Waitable; 2] = [&name, &size];
/// wait_all(both, Duration::from_secs(30))?;
/// assert!(both.iter().all(|job| job.is_done()));
/// assert_eq!((name.wait()?, size.wait()?), ("loop", 42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Waitable: sealed::Target {
    /// `true` once the job has resolved, as [`Completion::is_done`].
    fn is_done(&self) -> bool {
        self.target().done()
    }
}

pub(crate) mod sealed {
    /// What a multi-wait needs of one job, without its output type.
    pub trait Target {
        #[doc(hidden)]
        fn target(&self) -> Waited<'_>;
    }

    /// One job as a multi-wait sees it.
    #[doc(hidden)]
    pub struct Waited<'a> {
        pub(crate) job: &'a dyn super::Watched,
    }
}

pub(crate) use sealed::Waited;

/// A job seen without its output type: its slot, its site, its executor's fork
/// generation.
pub(crate) trait Watched {
    fn is_resolved(&self) -> bool;
    /// See `Slot::watch`.
    fn watch(&self, watcher: &Watcher) -> bool;
    fn unwatch(&self, watcher: &Watcher);
    fn site(&self) -> &Site;
    /// `Forked` when the job is pending and its executor was left behind in a fork.
    fn orphaned(&self) -> Option<Error>;
    /// What a blocking wait on the job inside another runtime's async context does.
    fn assert_mode(&self) -> AssertMode;
}

impl<T> Watched for Completion<T> {
    fn is_resolved(&self) -> bool {
        self.cell().slot.is_resolved()
    }

    fn watch(&self, watcher: &Watcher) -> bool {
        self.cell().slot.watch(watcher)
    }

    fn unwatch(&self, watcher: &Watcher) {
        self.cell().slot.unwatch(watcher);
    }

    fn site(&self) -> &Site {
        &self.cell().record.site
    }

    fn assert_mode(&self) -> AssertMode {
        self.cell().record.home.assert_mode
    }

    fn orphaned(&self) -> Option<Error> {
        self.cell().orphaned()
    }
}

impl Waited<'_> {
    pub(crate) fn done(&self) -> bool {
        self.job.is_resolved()
    }
}

impl<T> sealed::Target for Completion<T> {
    fn target(&self) -> Waited<'_> {
        Waited { job: self }
    }
}

impl<T> Waitable for Completion<T> {}

impl<W: Waitable + ?Sized> sealed::Target for &W {
    fn target(&self) -> Waited<'_> {
        (**self).target()
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {}

impl<W: Waitable + ?Sized> sealed::Target for &mut W {
    fn target(&self) -> Waited<'_> {
        (**self).target()
    }
}

impl<W: Waitable + ?Sized> Waitable for &mut W {}

impl<W: Waitable + ?Sized> sealed::Target for Box<W> {
    fn target(&self) -> Waited<'_> {
        (**self).target()
    }
}

impl<W: Waitable + ?Sized> Waitable for Box<W> {}

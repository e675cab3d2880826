//! [`LoopContext`]: a token that proves the code holding it runs on a bridge's loop
//! thread, Home Assistant's `@callback` as a type.

use std::fmt;
use std::future::Future;
use std::rc::Rc;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::handle::Handle;
use crate::loop_thread;

use super::store::Store;

/// Proof that the code holding it runs on a bridge's loop thread.
///
/// Home Assistant marks functions that must run on the event loop with `@callback` and
/// checks it at run time; here the proof is a value: a function that takes
/// `&LoopContext` cannot be called off the loop at all, and with it loop-confined state
/// ([`LoopBound::with_cx`](crate::LoopBound::with_cx)) is reached synchronously, with no
/// job and no round trip.
///
/// A `LoopContext` is `!Send` and `!Sync` (a token that could be stashed and sent to
/// another thread would prove nothing), and names the bridge whose loop made it. Get one
/// with [`LoopContext::current`] on a loop thread, or from
/// [`Handle::run_callback_cx`], [`Handle::call_soon_cx`] and
/// [`Handle::submit_local_cx`].
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// let bridge = loopbridge::Bridge::new().unwrap();
/// bridge.handle().run_callback_cx(|cx| needs_send(cx.clone()));
/// ```
///
/// ```compile_fail
/// fn needs_sync<T: Sync>(_: &T) {}
/// let bridge = loopbridge::Bridge::new().unwrap();
/// bridge.handle().run_callback_cx(|cx| needs_sync(cx));
/// ```
///
/// # Examples
///
/// ```
/// use loopbridge::LoopContext;
///
/// // Callable only where a loop context exists: on a loop thread.
/// fn on_loop_only(_cx: &LoopContext) -> &'static str {
///     "on the loop"
/// }
///
/// let bridge = loopbridge::Bridge::new()?;
/// assert!(LoopContext::current().is_none());
/// let said = bridge.handle().run_callback_cx(|cx| on_loop_only(cx)).wait()?;
/// assert_eq!(said, "on the loop");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LoopContext {
    bridge: u64,
    /// The loop thread's store (and `Rc`: what makes the token `!Send + !Sync`).
    store: Rc<Store>,
}

impl LoopContext {
    /// The context of the loop the calling thread runs: `Some` on a bridge's loop thread
    /// (in a job, a callback, a task spawned there), `None` anywhere else, and once the
    /// loop's teardown began.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::LoopContext;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// assert!(LoopContext::current().is_none());
    /// let inside = bridge
    ///     .handle()
    ///     .run_callback(|| LoopContext::current().is_some())
    ///     .wait()?;
    /// assert!(inside);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn current() -> Option<LoopContext> {
        let mark = loop_thread::current()?;
        let store = Store::current().filter(|store| store.bridge == mark.bridge)?;
        Some(LoopContext {
            bridge: mark.bridge,
            store,
        })
    }

    /// `true` when this is the context of `handle`'s bridge.
    ///
    /// # Examples
    ///
    /// ```
    /// let first = loopbridge::Bridge::new()?;
    /// let second = loopbridge::Bridge::new()?;
    /// let other = second.handle();
    /// let (mine, theirs) = first
    ///     .handle()
    ///     .run_callback_cx({
    ///         let mine = first.handle();
    ///         move |cx| (cx.is_of(&mine), cx.is_of(&other))
    ///     })
    ///     .wait()?;
    /// assert!(mine && !theirs);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_of(&self, handle: &Handle) -> bool {
        handle.state().id == self.bridge
    }

    pub(super) fn bridge(&self) -> u64 {
        self.bridge
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }
}

impl fmt::Debug for LoopContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopContext")
            .field("thread", &loop_thread::thread_name())
            .finish()
    }
}

/// The context of the loop a job of `handle` runs on.
fn context_here() -> LoopContext {
    LoopContext::current().expect("a job runs on its loop thread")
}

impl Handle {
    /// [`run_callback`](Handle::run_callback) with the loop's [`LoopContext`]: `f` runs on
    /// the loop thread and may reach loop-bound values synchronously.
    ///
    /// # Errors
    ///
    /// In the completion: as [`run_callback`](Handle::run_callback).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let name = handle.bind(|| String::from("ada")).wait()?;
    /// let len = handle.run_callback_cx(move |cx| name.with_cx(cx, |name| name.len())).wait()?;
    /// assert_eq!(len, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_callback_cx<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce(&LoopContext) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_callback_at(Site::caller(), move || f(&context_here()))
    }

    /// [`call_soon`](Handle::call_soon) with the loop's [`LoopContext`], in the same
    /// order as the other callbacks from this thread.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the bridge is shut down or shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let seen = handle.bind(Vec::<u32>::new).wait()?;
    /// for n in 0..3 {
    ///     let seen = seen.clone();
    ///     handle.call_soon_cx(move |cx| seen.with_cx(cx, |seen| seen.push(n)))?;
    /// }
    /// assert_eq!(seen.with(|seen| seen.clone()).wait()?, [0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_soon_cx<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce(&LoopContext) + Send + 'static,
    {
        self.call_soon_at(Site::caller(), move || f(&context_here()))
    }

    /// [`submit_local`](Handle::submit_local) with the loop's [`LoopContext`], which the
    /// future may keep across its awaits (it never leaves the loop thread).
    ///
    /// # Errors
    ///
    /// In the completion: as [`submit_local`](Handle::submit_local).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let total = handle.bind(|| 0_u32).wait()?;
    /// let sum = handle.submit_local_cx(move |cx| async move {
    ///     for n in 1..=3 {
    ///         total.with_cx(&cx, |total| *total += n);
    ///         tokio::task::yield_now().await;
    ///     }
    ///     total.with_cx(&cx, |total| *total)
    /// });
    /// assert_eq!(sum.wait()?, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_local_cx<M, F>(&self, make: M) -> Completion<F::Output>
    where
        M: FnOnce(LoopContext) -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.submit_local_at(Site::caller(), move || make(context_here()))
    }
}

//! [`HandleJob`]: a named way to submit jobs to a bridge, with the whole submit family of
//! [`Handle`].

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use crate::completion::Completion;
use crate::error::{Error, Site};

use super::Handle;

/// A named way to submit jobs, from [`Handle::job`]: the same calls as [`Handle`], and
/// every job's [`Site`] carries the name.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let completion = bridge.handle().job("refresh").run_callback(|| 3);
/// assert_eq!(completion.site().name(), Some("refresh"));
/// assert_eq!(completion.wait()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct HandleJob<'a> {
    handle: &'a Handle,
    name: Arc<str>,
}

impl<'a> HandleJob<'a> {
    pub(crate) fn new(handle: &'a Handle, name: Arc<str>) -> HandleJob<'a> {
        HandleJob { handle, name }
    }

    #[track_caller]
    fn site(&self) -> Site {
        Site::new(Location::caller(), Some(self.name.clone()))
    }

    /// [`Handle::submit`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("fetch").submit(async { 7 });
    /// assert_eq!(done.site().name(), Some("fetch"));
    /// assert_eq!(done.wait()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F>(&self, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.submit_at(self.site(), fut)
    }

    /// [`Handle::block_on`], named.
    ///
    /// # Errors
    ///
    /// As [`Handle::block_on`]; errors name the job.
    ///
    /// # Blocking
    ///
    /// As [`Handle::block_on`]: blocks until the future's output is in; on a loop thread
    /// it returns [`Error::BlockingOnLoop`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// assert_eq!(bridge.handle().job("sum").block_on(async { 2 + 2 })?, 4);
    /// let inner = bridge.handle();
    /// let refused = bridge
    ///     .handle()
    ///     .run_callback(move || inner.job("nested").block_on(async {}))
    ///     .wait()?;
    /// assert_eq!(refused.unwrap_err().site().name(), Some("nested"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.block_on_at(self.site(), fut)
    }

    /// [`Handle::call_soon`], named: a panic in `f` is logged with the name.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], naming the job, if the bridge is shut down or shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().job("notify").call_soon(move || tx.send("called").unwrap())?;
    /// assert_eq!(rx.recv()?, "called");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_soon<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        self.handle.call_soon_at(self.site(), f)
    }

    /// [`Handle::submit_local`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("local").submit_local(|| async { std::rc::Rc::new(3) == std::rc::Rc::new(3) });
    /// assert_eq!(done.site().name(), Some("local"));
    /// assert!(done.wait()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_local<M, F>(&self, make: M) -> Completion<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.handle.submit_local_at(self.site(), make)
    }

    /// [`Handle::run_callback`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("tick").run_callback(loopbridge::is_any_loop_thread);
    /// assert_eq!(done.site().name(), Some("tick"));
    /// assert!(done.wait()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_callback<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.run_callback_at(self.site(), f)
    }

    /// [`Handle::add_job`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().job("flush").add_job(async move { tx.send("flushed").unwrap() });
    /// assert_eq!(rx.recv()?, "flushed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn add_job<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.add_job_at(self.site(), fut);
    }

    /// [`Handle::run_in_executor`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("read").run_in_executor(|| loopbridge::is_any_loop_thread());
    /// assert_eq!(done.site().name(), Some("read"));
    /// assert!(!done.wait()?, "runs on a pool thread, not the loop");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_in_executor<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.run_in_executor_at(self.site(), f)
    }
}

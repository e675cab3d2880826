//! Backpressure on the loop itself ([`BridgeBuilder::max_pending`](crate::BridgeBuilder::max_pending)):
//! a timed wait for room ([`Handle::submit_timeout`]), and for async producers
//! [`LoopReserve`] and the [`LoopPermit`] it earns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::event_loop::LoopState;
use crate::host_runtime;
use crate::loop_thread;
use crate::room::NoRoom;

use super::Handle;

impl Handle {
    /// Like [`submit`](Handle::submit), but when [`max_pending`](crate::BridgeBuilder::max_pending)
    /// jobs are pending, blocks the calling thread until one ends, for at most `timeout`
    /// (backpressure for a synchronous producer). Without a bound it never waits.
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::BlockingOnLoop`] on a loop thread (whether or
    /// not there is room); [`Error::QueueFull`] if no room came within `timeout`;
    /// [`Error::Closed`] if the bridge is or gets shut down while waiting;
    /// [`Error::BlockingInRuntime`] if it must wait inside a current-thread tokio runtime
    /// in `AssertMode::Panic`.
    ///
    /// # Blocking
    ///
    /// For at most `timeout`, and only while the loop is full. Inside another tokio
    /// runtime's async context, as [`Completion::wait`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::builder().max_pending(1).build()?;
    /// let handle = bridge.handle();
    /// let (release, released) = tokio::sync::oneshot::channel::<()>();
    /// let busy = handle.submit(async move { released.await.unwrap() });
    /// let refused = handle.submit_timeout(async {}, Duration::from_millis(5));
    /// assert!(refused.wait().unwrap_err().is_queue_full());
    ///
    /// let waiter = {
    ///     let handle = handle.clone();
    ///     std::thread::spawn(move || handle.submit_timeout(async { 2 }, Duration::from_secs(30)).wait())
    /// };
    /// release.send(()).unwrap();
    /// busy.wait()?;
    /// assert_eq!(waiter.join().unwrap()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_timeout<F>(&self, fut: F, timeout: Duration) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Site::caller();
        if loop_thread::is_any_loop_thread() {
            return Completion::failed(Error::BlockingOnLoop { site });
        }
        let state = self.state();
        let Some(room) = &state.pending_room else {
            return self.submit_at(site, fut);
        };
        if let Err(forked) = crate::process::check_not_forked(state.fork_generation, &site) {
            return Completion::failed(forked);
        }
        let got = match host_runtime::take_room(room, state.assert_mode, &site, timeout) {
            Ok(got) => got,
            Err(refused) => return Completion::failed(refused),
        };
        match got {
            Ok(()) => self
                .submit_holding(site, fut, true)
                .unwrap_or_else(Completion::failed),
            Err(NoRoom::Full) => Completion::failed(Error::QueueFull { site }),
            Err(NoRoom::Closed) => Completion::failed(Error::Closed { site }),
        }
    }

    /// Waits for room among the loop's pending jobs without blocking the thread, and
    /// returns a [`LoopPermit`] that submits one job into it (backpressure for an async
    /// producer, as [`ThreadPool::reserve`](crate::ThreadPool::reserve)). Without
    /// [`max_pending`](crate::BridgeBuilder::max_pending) the permit is ready at once. Waiters
    /// are served first come, first served; dropping the future gives up its place.
    ///
    /// # Errors
    ///
    /// From the future: [`Error::Closed`] if the bridge is or gets shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().max_pending(4).build()?;
    /// let target = loopbridge::Bridge::builder().max_pending(2).build()?;
    /// let handle = target.handle();
    /// let total = bridge.handle().block_on(async move {
    ///     let mut jobs = Vec::new();
    ///     for n in 0..20u64 {
    ///         // Waits (without blocking this loop) while two jobs are pending there.
    ///         jobs.push(handle.reserve().await?.submit(async move { n * n }));
    ///     }
    ///     let mut total = 0;
    ///     for job in jobs {
    ///         total += job.await?;
    ///     }
    ///     Ok::<u64, loopbridge::Error>(total)
    /// })??;
    /// assert_eq!(total, (0..20).map(|n| n * n).sum());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn reserve(&self) -> LoopReserve {
        LoopReserve {
            handle: self.clone(),
            site: Site::caller(),
            ticket: None,
        }
    }

    /// A place among the loop's pending jobs if there is one now, without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] if [`max_pending`](crate::BridgeBuilder::max_pending) jobs are
    /// pending; [`Error::Closed`] if the bridge is shut down.
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().max_pending(1).build()?;
    /// let handle = bridge.handle();
    /// let permit = handle.try_reserve()?;
    /// assert!(handle.try_reserve().unwrap_err().is_queue_full());
    /// assert!(handle.submit(async {}).wait().unwrap_err().is_queue_full());
    /// assert_eq!(permit.submit(async { 1 }).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_reserve(&self) -> Result<LoopPermit, Error> {
        let site = Site::caller();
        let state = self.state();
        crate::process::check_not_forked(state.fork_generation, &site)?;
        if state.is_closed() {
            return Err(Error::Closed { site });
        }
        let Some(room) = &state.pending_room else {
            return Ok(LoopPermit::new(self.clone(), false));
        };
        match room.try_acquire() {
            Ok(()) => Ok(LoopPermit::new(self.clone(), true)),
            Err(NoRoom::Full) => Err(Error::QueueFull { site }),
            Err(NoRoom::Closed) => Err(Error::Closed { site }),
        }
    }
}

/// The future of [`Handle::reserve`]: resolves to a [`LoopPermit`] once fewer than
/// [`max_pending`](crate::BridgeBuilder::max_pending) jobs are pending, or to
/// [`Error::Closed`] if the bridge shuts down. Dropping it gives up its place in line.
///
/// # Examples
///
/// ```
/// // Two places: one for the `block_on` job itself, one for the job it submits.
/// let bridge = loopbridge::Bridge::builder().max_pending(2).build()?;
/// let handle = bridge.handle();
/// let inner = handle.clone();
/// let value = handle.block_on(async move {
///     let permit = inner.reserve().await?;      // waits for room without blocking the loop
///     permit.submit(async { 5 }).await
/// })??;
/// assert_eq!(value, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled: `.await` it"]
pub struct LoopReserve {
    handle: Handle,
    site: Site,
    ticket: Option<u64>,
}

impl Future for LoopReserve {
    type Output = Result<LoopPermit, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let state: &Arc<LoopState> = this.handle.state();
        if let Err(forked) = crate::process::check_not_forked(state.fork_generation, &this.site) {
            return Poll::Ready(Err(forked));
        }
        let closed = || Error::Closed {
            site: this.site.clone(),
        };
        let Some(room) = &state.pending_room else {
            if state.is_closed() {
                return Poll::Ready(Err(closed()));
            }
            return Poll::Ready(Ok(LoopPermit::new(this.handle.clone(), false)));
        };
        match room.poll_acquire(&mut this.ticket, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(LoopPermit::new(this.handle.clone(), true))),
            Poll::Ready(Err(NoRoom::Closed | NoRoom::Full)) => Poll::Ready(Err(closed())),
        }
    }
}

impl Drop for LoopReserve {
    fn drop(&mut self) {
        if let (Some(ticket), Some(room)) = (self.ticket.take(), &self.handle.state().pending_room)
        {
            room.forget(ticket);
        }
    }
}

impl fmt::Debug for LoopReserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopReserve")
            .field("site", &self.site)
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}

/// A place among a loop's pending jobs, from [`Handle::reserve`] or
/// [`Handle::try_reserve`]: the job submitted through it is never refused for want of
/// room. Dropping it unused gives the place back.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::builder().max_pending(1).build()?;
/// let handle = bridge.handle();
/// let permit = handle.try_reserve()?;               // the one place
/// assert!(handle.try_reserve().unwrap_err().is_queue_full());
/// drop(permit);                                     // given back unused
/// let permit = handle.try_reserve()?;
/// assert_eq!(permit.submit(async { 6 }).wait()?, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a LoopPermit holds a place among the loop's pending jobs until it is used or dropped"]
pub struct LoopPermit {
    handle: Handle,
    holds_room: bool,
}

impl LoopPermit {
    fn new(handle: Handle, holds_room: bool) -> LoopPermit {
        LoopPermit { handle, holds_room }
    }

    /// Hands the place over to a job submitted by the crate itself: `true` if the permit
    /// held one (the job gives it back when it ends).
    pub(crate) fn into_room(mut self) -> bool {
        std::mem::take(&mut self.holds_room)
    }

    /// Runs `fut` on the loop in the place this permit holds; otherwise as
    /// [`Handle::submit`].
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] if the bridge shut down after the permit was
    /// granted. Never [`Error::QueueFull`].
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().max_pending(8).build()?;
    /// let handle = bridge.handle();
    /// let inner = handle.clone();
    /// let answer = handle.block_on(async move {
    ///     inner.reserve().await?.submit(async { 6 * 7 }).await
    /// })??;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F>(mut self, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Site::caller();
        // The job takes the place over (and gives it back when it ends or is refused).
        let holds_room = std::mem::take(&mut self.holds_room);
        self.handle
            .submit_holding(site, fut, holds_room)
            .unwrap_or_else(Completion::failed)
    }
}

impl Drop for LoopPermit {
    fn drop(&mut self) {
        if self.holds_room {
            self.handle.state().give_room_back();
        }
    }
}

impl fmt::Debug for LoopPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopPermit")
            .field("holds_room", &self.holds_room)
            .finish()
    }
}

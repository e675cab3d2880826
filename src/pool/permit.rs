//! [`PoolReserve`] and [`PoolPermit`]: waiting for room in a bounded queue without blocking a
//! thread, and the place in the queue that waiting earns. Generic over the queue (a
//! [`Bounded`]): a [`ThreadPool`]'s (the default) or a
//! [`ThreadBound`](crate::ThreadBound)'s mailbox; what a permit submits is the queue's own
//! business (`PoolPermit<ThreadPool>::submit`, `PoolPermit<ThreadBound<T>>::call`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::completion::Completion;
use crate::error::{Error, Site};

use super::thread_pool::ThreadPool;
use crate::room::{Bounded, NoRoom, Room};

/// The future of [`ThreadPool::reserve`] (and of
/// [`ThreadBound::reserve`](crate::ThreadBound::reserve), as `PoolReserve<ThreadBound<T>>`):
/// resolves to a [`PoolPermit`] once the queue has room for one more job, or to
/// [`Error::Closed`] if the pool (or thread) shuts down.
///
/// It never blocks a thread, so it is the way to apply backpressure on a loop. Dropping
/// it gives up its place in line (a place already handed to it goes to the next waiter).
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::builder().queue_capacity(1).build()?;
/// let bridge = loopbridge::Bridge::new()?;
/// let answer = bridge.handle().block_on(async move {
///     let permit = pool.reserve().await?;
///     permit.submit(|| 42).await
/// })??;
/// assert_eq!(answer, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled: `.await` it"]
pub struct PoolReserve<Q: Bounded = ThreadPool> {
    pool: Q,
    site: Site,
    /// Our place in line while waiting.
    ticket: Option<u64>,
}

impl<Q: Bounded> PoolReserve<Q> {
    pub(crate) fn new(pool: Q, site: Site) -> PoolReserve<Q> {
        PoolReserve {
            pool,
            site,
            ticket: None,
        }
    }
}

impl<Q: Bounded> Future for PoolReserve<Q> {
    type Output = Result<PoolPermit<Q>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Err(forked) =
            crate::process::check_not_forked(this.pool.fork_generation(), &this.site)
        {
            return Poll::Ready(Err(forked));
        }
        let closed = || Error::Closed {
            site: this.site.clone(),
        };
        let Some(room) = this.pool.room() else {
            if this.pool.is_closed() {
                return Poll::Ready(Err(closed()));
            }
            return Poll::Ready(Ok(PoolPermit::new(this.pool.clone(), false)));
        };
        match room.poll_acquire(&mut this.ticket, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(NoRoom::Closed | NoRoom::Full)) => Poll::Ready(Err(closed())),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(PoolPermit::new(this.pool.clone(), true))),
        }
    }
}

impl<Q: Bounded> Unpin for PoolReserve<Q> {}

impl<Q: Bounded> Drop for PoolReserve<Q> {
    fn drop(&mut self) {
        if let (Some(ticket), Some(room)) = (self.ticket.take(), self.pool.room()) {
            room.forget(ticket);
        }
    }
}

impl<Q: Bounded> fmt::Debug for PoolReserve<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolReserve")
            .field("site", &self.site)
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}

/// A place in a [`ThreadPool`]'s queue, from [`ThreadPool::reserve`]: submitting
/// through it cannot be refused for want of room. Dropping it unused gives the place
/// back. As `PoolPermit<ThreadBound<T>>` (from
/// [`ThreadBound::reserve`](crate::ThreadBound::reserve)) it is a place in a thread-bound
/// value's mailbox, used with `call`.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::builder().max_workers(1).queue_capacity(1).build()?;
/// let bridge = loopbridge::Bridge::new()?;
/// let (first, second) = bridge.handle().block_on(async move {
///     let permit = pool.reserve().await?;
///     // The permit holds the only place: a plain submit is refused meanwhile.
///     let refused = pool.submit(|| ()).await.unwrap_err();
///     assert!(refused.is_queue_full());
///     let first = permit.submit(|| 1).await?;
///     let second = pool.reserve().await?.submit(|| 2).await?;
///     Ok::<_, loopbridge::Error>((first, second))
/// })??;
/// assert_eq!((first, second), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a PoolPermit holds a place in the pool's queue until it is used or dropped"]
pub struct PoolPermit<Q: Bounded = ThreadPool> {
    pool: Q,
    /// Holds a unit of a bounded queue's room.
    holds_room: bool,
}

impl<Q: Bounded> PoolPermit<Q> {
    /// A permit if the queue has room now: `QueueFull` if it has none, `Closed` once the
    /// pool is shut down.
    pub(crate) fn try_new(pool: &Q, site: Site) -> Result<PoolPermit<Q>, Error> {
        crate::process::check_not_forked(pool.fork_generation(), &site)?;
        let Some(room) = pool.room() else {
            if pool.is_closed() {
                return Err(Error::Closed { site });
            }
            return Ok(PoolPermit::new(pool.clone(), false));
        };
        match room.try_acquire() {
            Ok(()) => Ok(PoolPermit::new(pool.clone(), true)),
            Err(NoRoom::Full) => Err(Error::QueueFull { site }),
            Err(NoRoom::Closed) => Err(Error::Closed { site }),
        }
    }

    fn new(pool: Q, holds_room: bool) -> PoolPermit<Q> {
        PoolPermit { pool, holds_room }
    }

    /// Hands the permit's place to the job about to be queued (which gives it back if it
    /// is refused), and the queue it is for.
    pub(crate) fn into_parts(mut self) -> (Q, bool) {
        let holds_room = std::mem::replace(&mut self.holds_room, false);
        (self.pool.clone(), holds_room)
    }
}

impl PoolPermit<ThreadPool> {
    /// Runs `f` on the pool, in the place this permit holds; otherwise as
    /// [`ThreadPool::submit`].
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] if the pool shut down after the permit was
    /// granted. Never [`Error::QueueFull`].
    ///
    /// # Blocking
    ///
    /// Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let pool = loopbridge::ThreadPool::builder().queue_capacity(4).build()?;
    /// let answer = bridge.handle().block_on(async move {
    ///     let permit = pool.reserve().await?;
    ///     permit.submit(|| 6 * 7).await
    /// })??;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F, T>(mut self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Site::caller();
        // The job takes the place over, and gives it back if it is refused.
        self.holds_room = false;
        self.pool.enqueue(site, f)
    }
}

impl<Q: Bounded> Drop for PoolPermit<Q> {
    fn drop(&mut self) {
        if self.holds_room {
            if let Some(room) = self.pool.room() {
                room.release();
            }
        }
    }
}

impl<Q: Bounded> fmt::Debug for PoolPermit<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolPermit")
            .field("holds_room", &self.holds_room)
            .finish()
    }
}

impl Bounded for ThreadPool {
    fn room(&self) -> Option<&Room> {
        self.core().room.as_ref()
    }

    fn is_closed(&self) -> bool {
        self.core().queue.is_closed()
    }

    fn fork_generation(&self) -> u64 {
        self.core().fork_generation
    }
}

/// Backpressure for async producers: a place in a bounded queue, waited for or taken now.
impl ThreadPool {
    /// Waits for room in the queue without blocking the thread, and returns a
    /// [`PoolPermit`](crate::PoolPermit) that submits one job into it (backpressure for an async
    /// producer). On an unbounded pool the permit is ready at once. Waiters are served
    /// first come, first served; dropping the future gives up its place in line.
    ///
    /// # Errors
    ///
    /// From the future: [`Error::Closed`] if the pool is or gets shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::builder().max_workers(2).queue_capacity(4).build()?;
    /// let bridge = loopbridge::Bridge::new()?;
    /// let total = bridge.handle().block_on(async move {
    ///     let mut jobs = Vec::new();
    ///     for n in 0..20u64 {
    ///         // Waits (without blocking the loop) while four jobs are already queued.
    ///         let permit = pool.reserve().await?;
    ///         jobs.push(permit.submit(move || n * n));
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
    pub fn reserve(&self) -> PoolReserve {
        PoolReserve::new(self.clone(), Site::caller())
    }

    /// A place in the queue if there is room now, without waiting: the way to submit
    /// only when the job can be queued, keeping the closure otherwise (to retry later,
    /// run it elsewhere, or shed it).
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] if the bounded queue is full (not counted in
    /// [`PoolStats::refused`](crate::PoolStats::refused): nothing was submitted); [`Error::Closed`] if the pool is
    /// shut down.
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = loopbridge::ThreadPool::builder().max_workers(1).queue_capacity(1).build()?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let running = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     release_rx.recv().unwrap();
    /// });
    /// started.recv()?;
    /// let queued = pool.try_reserve()?.submit(|| 1); // takes the one place in the queue
    ///
    /// let job = || 2;
    /// let error = pool.try_reserve().unwrap_err();
    /// assert!(error.is_queue_full()); // `job` is still ours
    ///
    /// release.send(())?;
    /// running.wait()?;
    /// assert_eq!(queued.wait()?, 1);
    /// assert_eq!(pool.try_reserve()?.submit(job).wait()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_reserve(&self) -> Result<PoolPermit, Error> {
        PoolPermit::try_new(self, Site::caller())
    }
}

//! [`Reserve`] and [`Permit`]: waiting for room in a bounded queue without blocking a
//! thread, and the place in the queue that waiting earns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::completion::Completion;
use crate::error::{Error, Site};

use super::room::NoRoom;
use super::thread_pool::ThreadPool;

/// The future of [`ThreadPool::reserve`]: resolves to a [`Permit`] once the pool's
/// queue has room for one more job, or to [`Error::Closed`] if the pool shuts down.
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
pub struct Reserve {
    pool: ThreadPool,
    site: Site,
    /// Our place in line while waiting.
    ticket: Option<u64>,
}

impl Reserve {
    pub(crate) fn new(pool: ThreadPool, site: Site) -> Reserve {
        Reserve {
            pool,
            site,
            ticket: None,
        }
    }
}

impl Future for Reserve {
    type Output = Result<Permit, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let core = this.pool.core();
        let closed = || Error::Closed {
            site: this.site.clone(),
        };
        let Some(room) = &core.room else {
            if core.queue.is_closed() {
                return Poll::Ready(Err(closed()));
            }
            return Poll::Ready(Ok(Permit::new(this.pool.clone(), false)));
        };
        match room.poll_acquire(&mut this.ticket, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(NoRoom::Closed | NoRoom::Full)) => Poll::Ready(Err(closed())),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Permit::new(this.pool.clone(), true))),
        }
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        if let (Some(ticket), Some(room)) = (self.ticket.take(), &self.pool.core().room) {
            room.forget(ticket);
        }
    }
}

impl fmt::Debug for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("site", &self.site)
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}

/// A place in a [`ThreadPool`]'s queue, from [`ThreadPool::reserve`]: submitting
/// through it cannot be refused for want of room. Dropping it unused gives the place
/// back.
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
#[must_use = "a Permit holds a place in the pool's queue until it is used or dropped"]
pub struct Permit {
    pool: ThreadPool,
    /// Holds a unit of a bounded queue's room.
    holds_room: bool,
}

impl Permit {
    /// A permit if the queue has room now: `QueueFull` if it has none, `Closed` once the
    /// pool is shut down.
    pub(crate) fn try_new(pool: &ThreadPool, site: Site) -> Result<Permit, Error> {
        let core = pool.core();
        let Some(room) = &core.room else {
            if core.queue.is_closed() {
                return Err(Error::Closed { site });
            }
            return Ok(Permit::new(pool.clone(), false));
        };
        match room.try_acquire() {
            Ok(()) => Ok(Permit::new(pool.clone(), true)),
            Err(NoRoom::Full) => Err(Error::QueueFull { site }),
            Err(NoRoom::Closed) => Err(Error::Closed { site }),
        }
    }

    fn new(pool: ThreadPool, holds_room: bool) -> Permit {
        Permit { pool, holds_room }
    }

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

impl Drop for Permit {
    fn drop(&mut self) {
        if self.holds_room {
            if let Some(room) = &self.pool.core().room {
                room.release();
            }
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("holds_room", &self.holds_room)
            .finish()
    }
}

//! Named jobs on pools: [`ThreadPoolJob`] from [`ThreadPool::job`] and [`RayonPoolJob`]
//! from [`RayonPool::job`], as [`Handle::job`](crate::Handle::job) names loop jobs.

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::completion::Completion;
use crate::error::Site;

#[cfg(feature = "rayon")]
use super::rayon_pool::RayonPool;
use super::thread_pool::ThreadPool;

/// A named way to submit jobs to a [`ThreadPool`]: every job's [`Site`] carries the name.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::new(1)?;
/// let error = pool.job("read config").submit(|| -> u8 { panic!("missing") }).wait().unwrap_err();
/// assert!(error.to_string().contains("read config"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadPoolJob<'a> {
    pool: &'a ThreadPool,
    name: Arc<str>,
}

impl<'a> ThreadPoolJob<'a> {
    pub(crate) fn new(pool: &'a ThreadPool, name: Arc<str>) -> ThreadPoolJob<'a> {
        ThreadPoolJob { pool, name }
    }

    /// [`ThreadPool::submit`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::new(1)?;
    /// let done = pool.job("checksum").submit(|| 7);
    /// assert_eq!(done.site().name(), Some("checksum"));
    /// assert_eq!(done.wait()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(self.name.clone()));
        self.pool.submit_at(site, f)
    }

    /// [`ThreadPool::submit_timeout`], named.
    ///
    /// # Errors
    ///
    /// As [`ThreadPool::submit_timeout`], in the completion; errors name the job.
    ///
    /// # Blocking
    ///
    /// As [`ThreadPool::submit_timeout`]: waits at most `timeout` for room in a bounded
    /// queue; on a loop thread it does not wait (the completion resolves with
    /// `BlockingOnLoop` when there is no room).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = loopbridge::ThreadPool::builder().queue_capacity(4).build()?;
    /// let done = pool.job("upload").submit_timeout(|| 1, Duration::from_secs(30));
    /// assert_eq!(done.site().name(), Some("upload"));
    /// assert_eq!(done.wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_timeout<F, T>(&self, f: F, timeout: Duration) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(self.name.clone()));
        self.pool.submit_timeout_at(site, f, timeout)
    }
}

#[cfg(feature = "rayon")]
/// A named way to submit jobs to a [`RayonPool`]: every job's [`Site`] carries the name.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::RayonPool::global();
/// let done = pool.job("sum").submit(|| (1..=4).sum::<u32>());
/// assert_eq!(done.site().name(), Some("sum"));
/// assert_eq!(done.wait()?, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
pub struct RayonPoolJob<'a> {
    pool: &'a RayonPool,
    name: Arc<str>,
}

#[cfg(feature = "rayon")]
impl<'a> RayonPoolJob<'a> {
    pub(crate) fn new(pool: &'a RayonPool, name: Arc<str>) -> RayonPoolJob<'a> {
        RayonPoolJob { pool, name }
    }

    /// [`RayonPool::submit`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::RayonPool::global();
    /// let done = pool.job("square").submit(|| 9 * 9);
    /// assert_eq!(done.site().name(), Some("square"));
    /// assert_eq!(done.wait()?, 81);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(self.name.clone()));
        self.pool.submit_at(site, f)
    }
}

/// Naming a pool's jobs.
impl ThreadPool {
    /// A named job builder: the name is part of the site, errors, log lines and shutdown
    /// reports of the jobs submitted through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// let done = pool.job("resize").submit(|| 640 * 2);
    /// assert_eq!(done.site().name(), Some("resize"));
    /// assert_eq!(done.wait()?, 1280);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job(&self, name: impl Into<Arc<str>>) -> ThreadPoolJob<'_> {
        ThreadPoolJob::new(self, name.into())
    }
}

/// Naming a pool's jobs.
#[cfg(feature = "rayon")]
impl RayonPool {
    /// A named job builder: the name is part of the site, errors and log lines of the
    /// job submitted through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::RayonPool::global();
    /// let error = pool.job("hash").submit(|| -> u8 { panic!("bad block") }).wait().unwrap_err();
    /// assert_eq!(error.site().name(), Some("hash"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job(&self, name: impl Into<Arc<str>>) -> RayonPoolJob<'_> {
        RayonPoolJob::new(self, name.into())
    }
}

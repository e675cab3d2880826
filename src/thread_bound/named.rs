//! [`ThreadBoundJob`]: named calls on a [`ThreadBound`], from [`ThreadBound::job`].

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::completion::Completion;
use crate::error::Site;

use super::ThreadBound;

/// A named way to call a [`ThreadBound`]: every call's [`Site`] carries the name, in
/// errors, logs (a slow call) and shutdown reports.
///
/// # Examples
///
/// ```
/// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(0u8)).map_err(|_| "spawn")?;
/// let error = bound.job("parse").call(|_| -> u8 { panic!("bad row") }).wait().unwrap_err();
/// assert!(error.to_string().contains("parse"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadBoundJob<'a, T: 'static> {
    bound: &'a ThreadBound<T>,
    name: Arc<str>,
}

impl<'a, T: 'static> ThreadBoundJob<'a, T> {
    pub(crate) fn new(bound: &'a ThreadBound<T>, name: Arc<str>) -> ThreadBoundJob<'a, T> {
        ThreadBoundJob { bound, name }
    }

    /// [`ThreadBound::call`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(4)).map_err(|_| "spawn")?;
    /// let done = bound.job("double").call(|n| *n * 2);
    /// assert_eq!(done.site().name(), Some("double"));
    /// assert_eq!(done.wait()?, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call<F, R>(&self, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(self.name.clone()));
        self.bound.call_at(site, f)
    }

    /// [`ThreadBound::call_timeout`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(4)).map_err(|_| "spawn")?;
    /// let done = bound.job("read").call_timeout(|n| *n, Duration::from_secs(5));
    /// assert_eq!(done.site().name(), Some("read"));
    /// assert_eq!(done.wait()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_timeout<F, R>(&self, f: F, timeout: Duration) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(self.name.clone()));
        self.bound.call_timeout_at(site, f, timeout)
    }
}

impl<T: 'static> std::fmt::Debug for ThreadBoundJob<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadBoundJob")
            .field("name", &self.name)
            .finish()
    }
}

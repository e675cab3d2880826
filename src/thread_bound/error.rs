//! [`SpawnError`]: why a [`ThreadBound`](crate::ThreadBound) did not start.

use std::fmt;
use std::io;

use crate::error::Error;

/// Why [`ThreadBound::spawn`](crate::ThreadBound::spawn) (or a builder's `spawn`) gave no
/// handle: the closure that builds the value failed, the thread could not start, or the
/// wait for the closure was refused or the closure panicked.
///
/// # Examples
///
/// ```
/// use loopbridge::{SpawnError, ThreadBound};
///
/// let failed = ThreadBound::<u32>::spawn("db", || Err("no such file"));
/// match failed {
///     Err(SpawnError::Make(reason)) => assert_eq!(reason, "no such file"),
///     _ => panic!("expected the closure's error"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError<E> {
    /// The closure returned this error; the thread has exited.
    Make(E),
    /// The operating system refused the thread.
    Io(io::Error),
    /// The closure panicked ([`Error::Panicked`], with the spawning site), or the wait
    /// for it was refused: [`Error::BlockingOnLoop`] on a loop thread,
    /// [`Error::BlockingInRuntime`] inside a current-thread runtime (use
    /// [`ThreadBoundBuilder::spawn_async`](crate::ThreadBoundBuilder::spawn_async) there).
    Failed(Error),
}

impl<E> SpawnError<E> {
    /// The closure's own error, if that is what this is.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = loopbridge::ThreadBound::<u8>::spawn("x", || Err(7)).unwrap_err();
    /// assert_eq!(error.into_make(), Some(7));
    /// ```
    pub fn into_make(self) -> Option<E> {
        match self {
            SpawnError::Make(error) => Some(error),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for SpawnError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Make(error) => write!(f, "thread-bound value could not be made: {error}"),
            SpawnError::Io(error) => {
                write!(f, "cannot start a thread for a thread-bound value: {error}")
            }
            SpawnError::Failed(error) => write!(f, "thread-bound value did not start: {error}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for SpawnError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Make(_) => None,
            SpawnError::Io(error) => Some(error),
            SpawnError::Failed(error) => Some(error),
        }
    }
}

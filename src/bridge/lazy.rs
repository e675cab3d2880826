//! [`LazyBridge`]: a bridge that starts on first use, one per fork generation, fit for a
//! `static`. [`global()`](super::global) is one of them.

use std::fmt;
use std::io;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::handle::Handle;
use crate::process;
use crate::report::ShutdownReport;

use super::{Bridge, BridgeBuilder};

/// How many fork generations have a slot of their own.
const GENERATIONS: usize = 64;

/// A bridge of a library's own, started on first use: put it in a `static`, and every
/// call after the first gets its [`Handle`] for the cost of two atomic loads.
///
/// Each `LazyBridge` is a bridge apart: two libraries with one each never share a loop
/// thread, a configuration or a shutdown, and neither starts (or touches)
/// [`global()`](crate::global).
///
/// It is fork-aware: in a process forked after the bridge started (a pre-forking
/// server's worker), the first use starts a bridge of the child's own, since the
/// parent's loop thread does not exist there; a child never inherits a slot
/// half-initialized by a parent's thread that was starting it at the fork. (Past 64
/// generations of forks, one locked slot serves the rest; a bridge started there lives
/// until the process exits.)
///
/// [`shutdown`](LazyBridge::shutdown) is for hosts that unload the library (a plugin, a
/// library loaded by a C program or another language's runtime). After it, the handle
/// answers [`Error::Closed`](crate::Error::Closed) in this process; a later fork's child
/// starts afresh. Dropping a `LazyBridge` that is not a `static` shuts its bridge down as
/// dropping a [`Bridge`] does.
///
/// # Examples
///
/// ```
/// use loopbridge::{Bridge, LazyBridge};
///
/// static RUNTIME: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("mylib"));
///
/// /// The library's blocking API, over async code.
/// pub fn answer() -> Result<u32, loopbridge::Error> {
///     RUNTIME.handle().block_on(async { 42 })
/// }
///
/// assert_eq!(answer()?, 42);
/// let name = RUNTIME.handle().run_callback(|| std::thread::current().name().map(str::to_owned));
/// assert_eq!(name.wait()?.as_deref(), Some("mylib"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LazyBridge {
    configure: fn() -> BridgeBuilder,
    by_generation: [Slot; GENERATIONS],
    /// Beyond the last slot (a chain of more forks than anyone makes): one slot, locked.
    deeper: Mutex<Option<(u64, &'static Started)>>,
}

/// One fork generation's bridge. Its `starting` lock is its own, so a child never waits
/// on a lock that a thread of the parent held at the fork.
struct Slot {
    started: OnceLock<Box<Started>>,
    starting: Mutex<()>,
}

struct Started {
    handle: Handle,
    /// `None` once shut down.
    bridge: Mutex<Option<Bridge>>,
}

impl Started {
    fn start(configure: fn() -> BridgeBuilder) -> io::Result<Started> {
        // Started by whichever call comes first: a subscriber scoped to that caller must
        // not become the bridge's for the rest of the process.
        let bridge = configure().without_inherited_dispatch().build()?;
        Ok(Started {
            handle: bridge.handle(),
            bridge: Mutex::new(Some(bridge)),
        })
    }
}

impl LazyBridge {
    /// A bridge that `configure`'s builder starts on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::{Bridge, LazyBridge};
    ///
    /// static RUNTIME: LazyBridge = LazyBridge::new(|| {
    ///     Bridge::builder().thread_name("db").shutdown_timeout(Duration::from_secs(1))
    /// });
    /// assert!(!RUNTIME.is_started());
    /// RUNTIME.handle().submit(async {}).wait()?;
    /// assert!(RUNTIME.is_started());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new(configure: fn() -> BridgeBuilder) -> LazyBridge {
        LazyBridge {
            configure,
            by_generation: [const {
                Slot {
                    started: OnceLock::new(),
                    starting: Mutex::new(()),
                }
            }; GENERATIONS],
            deeper: Mutex::new(None),
        }
    }

    /// The bridge's handle, starting the bridge if this process has not yet (also in a
    /// forked child whose parent had started it). Clone it to keep one.
    ///
    /// # Panics
    ///
    /// If the bridge cannot be started (the operating system refused a thread, or the
    /// builder's configuration is refused); use [`try_handle`](LazyBridge::try_handle)
    /// to get that error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::{Bridge, LazyBridge};
    ///
    /// static RUNTIME: LazyBridge = LazyBridge::new(Bridge::builder);
    /// let first = RUNTIME.handle();
    /// assert!(std::ptr::eq(first, RUNTIME.handle()), "started once");
    /// assert_eq!(first.block_on(async { 2 + 2 })?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn handle(&self) -> &Handle {
        self.try_handle()
            .unwrap_or_else(|error| panic!("loopbridge: cannot start a lazy bridge: {error}"))
    }

    /// The bridge's handle, starting the bridge if this process has not yet.
    ///
    /// # Errors
    ///
    /// If the bridge cannot be started, as [`BridgeBuilder::build`] says. Nothing is kept of a
    /// failed start: the next call tries again.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::{Bridge, LazyBridge};
    ///
    /// static BAD: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("nul\0"));
    /// let error = BAD.try_handle().unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(!BAD.is_started());
    /// ```
    pub fn try_handle(&self) -> io::Result<&Handle> {
        let generation = process::generation();
        match self.slot(generation) {
            Some(slot) => {
                if let Some(started) = slot.started.get() {
                    return Ok(&started.handle);
                }
                let _starting = lock(&slot.starting);
                if let Some(started) = slot.started.get() {
                    return Ok(&started.handle);
                }
                let started = Box::new(Started::start(self.configure)?);
                Ok(&slot.started.get_or_init(|| started).handle)
            }
            None => {
                let mut deeper = lock(&self.deeper);
                match *deeper {
                    Some((started_in, started)) if started_in == generation => Ok(&started.handle),
                    _ => {
                        let started: &'static Started =
                            Box::leak(Box::new(Started::start(self.configure)?));
                        *deeper = Some((generation, started));
                        Ok(&started.handle)
                    }
                }
            }
        }
    }

    /// `true` once this process has started the bridge (a forked child has not, until
    /// its first use), also after a shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::{Bridge, LazyBridge};
    ///
    /// static RUNTIME: LazyBridge = LazyBridge::new(Bridge::builder);
    /// assert!(!RUNTIME.is_started());
    /// let _ = RUNTIME.handle();
    /// assert!(RUNTIME.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.started().is_some()
    }

    /// Shuts this process's bridge down as [`Bridge::shutdown`] does, waiting at most
    /// about `timeout`: for a host that unloads the library. From then on the handle
    /// answers [`Error::Closed`](crate::Error::Closed) in this process (a second shutdown
    /// returns an empty report). A bridge that never started is not started: the report is
    /// empty, and a later use starts it.
    ///
    /// # Blocking
    ///
    /// As [`Bridge::shutdown`]: at most about `timeout`; on a loop thread or inside an
    /// async context it finishes in the background.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::{Bridge, LazyBridge};
    ///
    /// static PLUGIN: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("plugin"));
    /// let handle = PLUGIN.handle().clone();
    /// handle.add_job(async { tokio::time::sleep(Duration::from_millis(1)).await });
    ///
    /// let report = PLUGIN.shutdown(Duration::from_secs(5));
    /// assert!(report.is_clean());
    /// assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
    /// assert!(PLUGIN.handle().block_on(async {}).unwrap_err().is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let bridge = self
            .started()
            .and_then(|started| lock(&started.bridge).take());
        match bridge {
            Some(bridge) => bridge.shutdown(timeout),
            None => ShutdownReport::default(),
        }
    }

    /// This generation's slot, if it has one of its own.
    fn slot(&self, generation: u64) -> Option<&Slot> {
        usize::try_from(generation)
            .ok()
            .and_then(|at| self.by_generation.get(at))
    }

    /// This process's bridge, if it has started.
    fn started(&self) -> Option<&Started> {
        let generation = process::generation();
        match self.slot(generation) {
            Some(slot) => slot.started.get().map(|started| &**started),
            None => match *lock(&self.deeper) {
                Some((started_in, started)) if started_in == generation => Some(started),
                _ => None,
            },
        }
    }
}

impl fmt::Debug for LazyBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyBridge")
            .field("handle", &self.started().map(|started| &started.handle))
            .finish()
    }
}

/// Locks `mutex`; a panic elsewhere while it was held poisons nothing this type keeps.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

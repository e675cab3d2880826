//! Staged shutdown from a handle's side: hooks that run as the bridge starts to stop,
//! and a way to learn that it has.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::completion::Completion;
use crate::error::Site;
use crate::event_loop::LoopState;
use crate::job::{scope, Hook, ScopeState};
use crate::report::StageReport;

use super::Handle;

/// Keeps a shutdown hook registered; dropping it removes the hook (unless the shutdown
/// already took it). From [`Handle::on_shutdown`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let ran = Arc::new(AtomicBool::new(false));
/// let removed = bridge.handle().on_shutdown("never", {
///     let ran = ran.clone();
///     move || async move { ran.store(true, Ordering::SeqCst) }
/// });
/// drop(removed); // the hook is gone
/// bridge.shutdown(Duration::from_secs(5));
/// assert!(!ran.load(Ordering::SeqCst));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard removes the hook at once"]
pub struct ShutdownHook {
    owner: Owner,
    key: usize,
    site: Site,
}

/// Where a hook is registered.
enum Owner {
    Bridge(Weak<LoopState>),
    Scope(Weak<ScopeState>),
}

impl ShutdownHook {
    /// Registers `make` with the bridge's or the scope's hooks.
    pub(crate) fn register<M, F>(
        state: &Arc<LoopState>,
        scope: Option<&Arc<ScopeState>>,
        site: Site,
        make: M,
    ) -> ShutdownHook
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let hook = Hook {
            site: site.clone(),
            make: Box::new(move || Box::pin(make())),
        };
        let (owner, key) = match scope {
            Some(scope) => (Owner::Scope(Arc::downgrade(scope)), scope.hooks.add(hook)),
            None => (Owner::Bridge(Arc::downgrade(state)), state.hooks.add(hook)),
        };
        ShutdownHook { owner, key, site }
    }
}

impl Handle {
    /// Registers `make` to run when the bridge starts to stop, before any job is cut
    /// off: the shutdown submits it as a job named `name` (in no scope) just before it
    /// refuses new work, so `make` and the future it returns run on the loop while the
    /// jobs already submitted keep running. A hook does its work itself (its own async
    /// I/O: flush, say goodbye): jobs it would submit, to the loop or to the bridge's
    /// pool, are refused like any submission once the shutdown has begun. The shutdown
    /// waits for hooks for its first share of the timeout
    /// ([`BridgeBuilder::shutdown_hook_share`](crate::BridgeBuilder::shutdown_hook_share), a quarter by
    /// default), then cuts off those still running, and names them in its
    /// [`stages`](crate::ShutdownReport::stages). A panic in a hook is logged with its
    /// name. Hooks registered once the shutdown began never run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (said_tx, said) = mpsc::channel();
    /// let _hook = bridge.handle().on_shutdown("say goodbye", move || async move {
    ///     tokio::task::yield_now().await; // an async goodbye to a server, say
    ///     said_tx.send("goodbye").unwrap();
    /// });
    /// let report = bridge.shutdown(Duration::from_secs(30));
    /// assert_eq!(said.recv()?, "goodbye");
    /// assert_eq!(report.stages[0].name, "hooks");
    /// assert!(report.stages[0].held_up_by.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn on_shutdown<M, F>(&self, name: impl Into<Arc<str>>, make: M) -> ShutdownHook
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(name.into()));
        ShutdownHook::register(self.state(), None, site, make)
    }

    /// A future that resolves once the bridge starts to stop (its shutdown began, or it
    /// was dropped), for jobs that wind down on their own: `select!` on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let watcher = handle.clone();
    /// let job = handle.add_job(async move {
    ///     watcher.closing().await;
    /// });
    /// let report = bridge.shutdown(Duration::from_secs(30));
    /// assert_eq!((report.finished, report.cancelled), (1, 0), "{report}");
    /// assert!(handle.is_closing());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        self.state().closing.clone().cancelled_owned()
    }

    /// `true` once the bridge has started to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// assert!(!handle.is_closing());
    /// drop(bridge);
    /// assert!(handle.is_closing());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        self.state().closing.is_cancelled() || self.state().is_closed()
    }
}

impl Drop for ShutdownHook {
    fn drop(&mut self) {
        match &self.owner {
            Owner::Bridge(state) => {
                if let Some(state) = state.upgrade() {
                    state.hooks.remove(self.key);
                }
            }
            Owner::Scope(scope) => {
                if let Some(scope) = scope.upgrade() {
                    scope.hooks.remove(self.key);
                }
            }
        }
    }
}

impl fmt::Debug for ShutdownHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHook")
            .field("site", &self.site)
            .finish()
    }
}

/// Submits `hooks` as jobs on `handle`'s bridge, while it still takes submissions, in no
/// scope (a scope's own hooks must not be cut off by its close).
pub(crate) fn start_hooks(handle: &Handle, hooks: Vec<Hook>) -> Vec<Completion<()>> {
    let unscoped = handle.unscoped();
    scope::outside(|| {
        hooks
            .into_iter()
            .map(|hook| unscoped.submit_at(hook.site, async move { (hook.make)().await }))
            .collect()
    })
}

/// Waits until `until` for the hooks to finish; cuts off those still running.
pub(crate) fn wait_for_hooks(hooks: Vec<Completion<()>>, until: Instant) -> StageReport {
    let began = Instant::now();
    let mut held_up_by = Vec::new();
    for mut hook in hooks {
        match hook.wait_deadline(until) {
            Ok(()) => {}
            Err(error) if error.is_timeout() => {
                hook.cancel();
                held_up_by.push(hook.site().clone());
            }
            Err(error) => {
                let site = hook.site();
                tracing::warn!(
                    target: "loopbridge::shutdown_hook",
                    site = %site.location(),
                    name = site.name(),
                    scope = site.scope(),
                    error = %error,
                    "shutdown hook {site} failed: {error}"
                );
            }
        }
    }
    if !held_up_by.is_empty() {
        tracing::warn!(
            target: "loopbridge::shutdown_hook",
            cut_off = held_up_by.len(),
            "shutdown hooks still running after their share of the timeout were cut off: {}",
            crate::report::list(&held_up_by)
        );
    }
    StageReport {
        name: "hooks",
        elapsed: began.elapsed(),
        held_up_by,
    }
}

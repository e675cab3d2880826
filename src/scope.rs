//! [`Scope`]: a named group of work on one bridge that can be stopped as one, as a plugin
//! host unloads one plugin while the others keep running. Home Assistant's
//! `entry.async_create_background_task` (cancelled on unload), anyio's task groups,
//! tokio-util's `TaskTracker` with a `CancellationToken`.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::Site;
use crate::event_loop::LoopStats;
use crate::handle::{start_hooks, wait_for_hooks, Handle, ShutdownHook};
use crate::host_runtime;
use crate::job::scope::{self, STOP_GRACE};
use crate::job::{JobInfo, JobRecord, ScopeState};
use crate::loop_thread;
use crate::pool::{is_pool_job_at, is_running_pool_job, running_pool_job};
use crate::report::{ShutdownReport, StageReport};
use crate::util::{deadline_after, share_of, Dispatcher};

/// A named group of jobs on one bridge that is stopped as one: everything submitted
/// through its [`handle`](Scope::handle), and everything those jobs submit in turn (to
/// the loop, to the bridge's [`run_in_executor`](Handle::run_in_executor), to a
/// [`ThreadPool`](crate::ThreadPool) or a [`RayonPool`](crate::RayonPool)), belongs to it
/// until it has really stopped.
///
/// - [`close`](Scope::close) is the unload: new work is refused, every job in the scope
///   is cut off, and the call waits (bounded) until they have stopped.
/// - [`drain`](Scope::drain) is the graceful version: new work is refused and the
///   scope's [cancellation token](Scope::token) cancelled, jobs get until the timeout to
///   finish, then what is left is closed.
/// - Dropping a `Scope` closes it, bounded by the bridge's
///   [`shutdown_timeout`](crate::BridgeBuilder::shutdown_timeout), and logs what it cut off
///   (on a loop thread or inside an async context it does not wait, as
///   [`close`](Scope::close) does not).
/// - [`Bridge::shutdown`](crate::Bridge::shutdown) closes every scope on the bridge.
///
/// Nested scopes ([`child`](Scope::child)) close with their parent, children first.
///
/// **Joining.** A job joins the scope of the handle it was submitted through. From
/// inside a scoped job (a loop job or a pool job), a submission through *any* handle of
/// the same bridge, and any submission to a pool, joins the running job's scope (the
/// innermost one, when the handle's scope encloses it), as the job's tracing span
/// follows it. Work that must outlive the scope is submitted inside
/// [`outside_scopes`](crate::outside_scopes). Tasks spawned with `tokio::spawn` are not
/// jobs: they belong to no scope (end them through the scope's token).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let plugin = bridge.handle().scope("weather");
/// let ticker = plugin.handle().submit(async {
///     let mut interval = tokio::time::interval(Duration::from_millis(1));
///     loop {
///         interval.tick().await;
///     }
/// });
/// let other = bridge.handle().submit(async { "still serving" });
///
/// let report = plugin.close(Duration::from_secs(30));
/// assert_eq!(report.cancelled, 1);
/// assert!(ticker.wait().unwrap_err().is_closed());
/// assert_eq!(other.wait()?, "still serving");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a Scope closes it: every job in it is cut off"]
pub struct Scope {
    state: Arc<ScopeState>,
    /// The bridge, with every submission joining this scope.
    handle: Handle,
    /// `close` or `drain` ran: `Drop` has nothing left to do.
    done: bool,
}

/// Scopes.
impl Handle {
    /// A new scope on this bridge named `name` (nested in this handle's scope, if it is
    /// a scoped handle).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("plugin-a");
    /// assert_eq!(scope.name(), "plugin-a");
    /// let nested = scope.handle().scope("tasks");
    /// assert_eq!(nested.name(), "plugin-a/tasks");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scope(&self, name: &str) -> Scope {
        let state = match self.own_scope() {
            Some(parent) => ScopeState::child(parent, name),
            None => self.state().new_scope(name),
        };
        Scope {
            handle: self.scoped(state.clone()),
            state,
            done: false,
        }
    }
}

impl Scope {
    /// A handle whose every submission belongs to this scope: an ordinary [`Handle`], so
    /// library code that takes one works with it unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("plugin");
    /// let job = scope.handle().run_callback(|| 2 + 2);
    /// assert_eq!(job.site().scope(), Some("plugin"));
    /// assert_eq!(job.wait()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// A scope nested in this one: closed when this one closes (first), counted in this
    /// one's [`stats`](Scope::stats) and [`jobs`](Scope::jobs). Its name is this scope's,
    /// a slash, and `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let plugin = bridge.handle().scope("plugin");
    /// let poller = plugin.child("poller");
    /// let job = poller.handle().submit(std::future::pending::<()>());
    /// plugin.close(Duration::from_secs(30));
    /// assert!(job.wait().unwrap_err().is_closed());
    /// assert!(poller.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn child(&self, name: &str) -> Scope {
        let state = ScopeState::child(&self.state, name);
        Scope {
            handle: self.handle.scoped(state.clone()),
            state,
            done: false,
        }
    }

    /// The scope's path: its name, after its parents' (`plugins/weather`).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let plugins = bridge.handle().scope("plugins");
    /// assert_eq!(plugins.child("weather").name(), "plugins/weather");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.state.path
    }

    /// The scope's cancellation token, cancelled when the scope starts to close or drain
    /// (a child's is a child token of its parent's). Jobs reach it without being handed
    /// it through [`cancellation_token`](crate::cancellation_token).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("sync");
    /// let token = scope.token();
    /// assert!(!token.is_cancelled());
    /// scope.drain(Duration::from_secs(30));
    /// assert!(token.is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.state.token.clone()
    }

    /// `true` once the scope has started to close or drain (or its parent, or its
    /// bridge, has).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let parent = bridge.handle().scope("parent");
    /// let child = parent.child("child");
    /// assert!(!child.is_closed());
    /// parent.close(Duration::from_secs(5));
    /// assert!(child.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    /// Closes the scope (the unload): refuses new work in it at once
    /// ([`Error::Closed`](crate::Error::Closed), naming the scope), cancels its token and
    /// cuts off every job in it and in its children: their completions resolve with
    /// `Closed`; a loop job's future is dropped at its next poll boundary, a queued pool
    /// job never runs, a running pool job finishes and its value is dropped. Then it
    /// waits at most `timeout` for them to have stopped, and reports what it cut off, what
    /// finished meanwhile, and what is stuck (a poll or a pool closure still running).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`. On a loop thread (a host unloading a plugin from a
    /// callback, or a job closing its own scope) or inside an async context (a task or
    /// `block_on` of a tokio runtime, whose other tasks waiting would stall) it does not
    /// wait: the jobs are cut off at once (after the scope's hooks, if it has any) and
    /// counted in [`cancelled`](ShutdownReport::cancelled); a thread of its own waits up
    /// to `timeout` for them to stop and logs what it cut off or found stuck
    /// (`loopbridge::scope_closed`); the report says
    /// [`finishing_in_background`](ShutdownReport::finishing_in_background), so it is not
    /// [clean](ShutdownReport::is_clean). Called from one of the scope's own pool jobs, it
    /// does not wait for that job.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// let scope = bridge.handle().scope("import");
    /// let inner = pool.clone();
    /// // A loop job of the scope offloads to a pool: the pool job joins the scope too.
    /// let job = scope.handle().submit(async move {
    ///     inner.submit(|| std::thread::sleep(Duration::from_millis(1))).await
    /// });
    /// let report = scope.close(Duration::from_secs(30));
    /// assert!(report.stuck.is_empty(), "{report}");
    /// assert!(job.wait().unwrap_err().is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self, timeout: Duration) -> ShutdownReport {
        self.done = true;
        self.close_within(timeout, Ending::Close)
    }

    /// Drains the scope (the graceful unload): refuses new work, cancels its token, lets
    /// its jobs finish on their own within `timeout`, then [closes](Scope::close) what is
    /// left, waiting up to 100 ms more for the jobs it cut off to stop.
    ///
    /// # Blocking
    ///
    /// At most about `timeout` plus 100 ms. On a loop thread or inside an async context
    /// it does not wait: a thread of its own drains the scope (logging what it cut off,
    /// `loopbridge::scope_closed`), and the report says
    /// [`finishing_in_background`](ShutdownReport::finishing_in_background).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("uploader");
    /// // A job that watches its scope's token and finishes cleanly when it is cancelled.
    /// let job = scope.handle().submit(async {
    ///     let token = loopbridge::cancellation_token().expect("runs in a scope");
    ///     token.cancelled().await;
    ///     "flushed and stopped"
    /// });
    /// let report = scope.drain(Duration::from_secs(30));
    /// assert_eq!((report.finished, report.cancelled), (1, 0), "{report}");
    /// assert_eq!(job.wait()?, "flushed and stopped");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain(mut self, timeout: Duration) -> ShutdownReport {
        self.done = true;
        let timeout = self.waitable(timeout);
        let started = Instant::now();
        let before = self.state.counts();
        if must_not_wait() {
            return self.finish_in_background(timeout, Ending::Drain, started, before);
        }
        let deadline = deadline_after(timeout);
        let hooks = self.run_hooks(timeout);
        let mut report = if self.state.drain(deadline, &spare) {
            ShutdownReport::default()
        } else {
            self.cut_off(STOP_GRACE)
        };
        report.stages.extend(hooks);
        tally(&self.state, &mut report, before, started, 0);
        report
    }

    /// The scope's live jobs and its children's, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("plugin");
    /// let job = scope.handle().job("poll").submit(std::future::pending::<()>());
    /// let jobs = scope.jobs();
    /// assert_eq!(jobs.len(), 1);
    /// assert_eq!(jobs[0].site.scope(), Some("plugin"));
    /// assert!(bridge.handle().scope("other").jobs().is_empty());
    /// job.cancel();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs(&self) -> Vec<JobInfo> {
        let now = Instant::now();
        let mut jobs = self.state.jobs();
        jobs.sort_by_key(|job| job.record().submitted());
        jobs.iter()
            .filter(|job| !job.is_resolved())
            .map(|job| JobInfo::of(job.record(), now))
            .collect()
    }

    /// The scope's counters, with its children's: submitted, finished, cancelled,
    /// panicked and in flight (slow polls are counted per bridge, in
    /// [`Handle::stats`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let scope = bridge.handle().scope("plugin");
    /// scope.handle().submit(async {}).wait()?;
    /// let _ = scope.handle().submit(async { panic!("bad config") }).wait();
    /// bridge.handle().submit(async {}).wait()?; // not in the scope
    /// let stats = scope.stats();
    /// assert_eq!((stats.submitted, stats.finished, stats.panicked), (2, 1, 1));
    /// assert_eq!(stats.in_flight, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> LoopStats {
        let [submitted, finished, cancelled, panicked] = self.state.counts();
        LoopStats {
            submitted,
            finished,
            cancelled,
            panicked,
            in_flight: submitted.saturating_sub(finished + cancelled + panicked),
            ..LoopStats::default()
        }
    }

    fn close_within(&self, timeout: Duration, ending: Ending) -> ShutdownReport {
        let timeout = self.waitable(timeout);
        let started = Instant::now();
        let before = self.state.counts();
        if must_not_wait() {
            return self.finish_in_background(timeout, ending, started, before);
        }
        let hooks = self.run_hooks(timeout);
        let mut report = self.cut_off(timeout.saturating_sub(started.elapsed()));
        report.stages.extend(hooks);
        tally(&self.state, &mut report, before, started, 0);
        report
    }

    /// How long a close may wait: nothing in a forked child, where the bridge's loop
    /// and pool threads stayed in the parent and no member still running ever stops
    /// (they are cut off and listed as stuck at once).
    fn waitable(&self, timeout: Duration) -> Duration {
        if self.handle.state().fork_generation == crate::process::generation() {
            timeout
        } else {
            Duration::ZERO
        }
    }

    /// Runs the hooks of this scope and its children, outside the scope (its close must
    /// not cut them off), and waits for them for their share of `timeout`.
    fn run_hooks(&self, timeout: Duration) -> Option<StageReport> {
        let hooks = self.state.take_hooks();
        if hooks.is_empty() {
            return None;
        }
        let running = start_hooks(&self.handle, hooks);
        let share = self.handle.state().hook_share;
        Some(wait_for_hooks(
            running,
            deadline_after(share_of(timeout, share)),
        ))
    }

    /// A close, drain or drop where waiting would stall a loop or an async host: new work
    /// is refused at once; without hooks to wait for, a close cuts its jobs off at once
    /// too, and the report counts them. A thread of its own does the rest as the waiting
    /// path would (hooks, drain, cut off, wait until `timeout`), and logs what it cut off
    /// or found stuck.
    fn finish_in_background(
        &self,
        timeout: Duration,
        ending: Ending,
        started: Instant,
        before: [u64; 4],
    ) -> ShutdownReport {
        let deadline = deadline_after(timeout);
        let hooks = self.state.take_hooks();
        let running = if hooks.is_empty() {
            Vec::new()
        } else {
            start_hooks(&self.handle, hooks)
        };
        let hooks_until = deadline_after(share_of(timeout, self.handle.state().hook_share));
        let cut_at_once = if running.is_empty() && ending != Ending::Drain {
            self.state.close(None, &spare).cut_off
        } else {
            self.state.refuse_new();
            0
        };
        let mut report = ShutdownReport::default();
        if running.is_empty() && self.state.is_empty() {
            // Nothing is left to stop: the report is whole.
            tally(&self.state, &mut report, before, started, cut_at_once);
            return report;
        }
        let state = self.state.clone();
        // The caller's dispatcher (a loop thread's is its bridge's), for the log.
        let dispatch = Dispatcher::current();
        // The closing pool job, if one is: not waited for there either.
        let closer = running_pool_job();
        let spare = move |record: &JobRecord| is_pool_job_at(record, closer);
        let waiter = std::thread::Builder::new()
            .name(format!("loopbridge-{}", ending.as_str()))
            .spawn(move || {
                dispatch.in_scope(|| {
                    let mut report = ShutdownReport::default();
                    if !running.is_empty() {
                        report.stages.push(wait_for_hooks(running, hooks_until));
                    }
                    let (cut, stuck) = match ending {
                        Ending::Drain if state.drain(deadline, &spare) => (0, Vec::new()),
                        Ending::Drain => {
                            let closing = state.close(Some(deadline_after(STOP_GRACE)), &spare);
                            (closing.cut_off, closing.stuck)
                        }
                        Ending::Close | Ending::Drop => {
                            let closing = state.close(Some(deadline), &spare);
                            (closing.cut_off, closing.stuck)
                        }
                    };
                    report.stuck = stuck;
                    tally(&state, &mut report, before, started, cut_at_once + cut);
                    if !report.is_clean() {
                        log_background(&state, ending, &report);
                    }
                });
            });
        if let Err(error) = waiter {
            tracing::error!(
                target: "loopbridge::thread_start",
                what = "a scope's background close",
                scope = %self.state.path,
                error = %error,
                "cannot start a thread to finish a scope's close: {error}"
            );
            // Nothing will finish it: at least nothing in it runs on.
            self.state.close(None, &spare);
        }
        tally(&self.state, &mut report, before, started, cut_at_once);
        report.finishing_in_background = true;
        report
    }

    /// Registers `make` to run when this scope starts to close or drain (or its parent
    /// does, or its bridge shuts down), before its jobs are cut off: an unloading plugin
    /// says goodbye. The hook runs as a job of no scope, named `name`; the close waits for
    /// it for [`BridgeBuilder::shutdown_hook_share`](crate::BridgeBuilder::shutdown_hook_share) of its
    /// timeout, then cuts it off and names it in the report's
    /// [`stages`](ShutdownReport::stages). Dropping the guard removes the hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let plugin = bridge.handle().scope("weather");
    /// let (said_tx, said) = mpsc::channel();
    /// let _goodbye = plugin.on_close("unsubscribe", move || async move {
    ///     said_tx.send("unsubscribed").unwrap();
    /// });
    /// let report = plugin.close(Duration::from_secs(30));
    /// assert_eq!(said.recv()?, "unsubscribed");
    /// assert_eq!(report.stages[0].name, "hooks");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn on_close<M, F>(&self, name: impl Into<Arc<str>>, make: M) -> ShutdownHook
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let site = Site::new(Location::caller(), Some(name.into()));
        ShutdownHook::register(self.handle.state(), Some(&self.state), site, make)
    }

    /// Closes the scope, waiting up to `timeout` for its jobs to stop. Reports what is
    /// stuck.
    fn cut_off(&self, timeout: Duration) -> ShutdownReport {
        let closing = self.state.close(Some(deadline_after(timeout)), &spare);
        ShutdownReport {
            stuck: closing.stuck,
            ..ShutdownReport::default()
        }
    }
}

/// How a scope was stopped, for a background finish's thread name and log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Close,
    Drain,
    Drop,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Close => "close",
            Ending::Drain => "drain",
            Ending::Drop => "drop",
        }
    }
}

/// `true` where a close must not wait: on a loop thread (it would stall or deadlock the
/// loop) or inside an async context (it would stall the host's tasks).
fn must_not_wait() -> bool {
    loop_thread::is_any_loop_thread() || host_runtime::in_async_context()
}

/// Fills in what ended since `before` (counted once each, by whichever side ended it),
/// at least the `cut_off` this close knows it resolved, and how long it took.
fn tally(
    state: &ScopeState,
    report: &mut ShutdownReport,
    before: [u64; 4],
    started: Instant,
    cut_off: usize,
) {
    let after = state.counts();
    // Cut-off pool jobs still queued are counted by their pool when it reaches them;
    // this close ended them, so its report counts them now (looked at after the
    // counts, so that none is in both).
    let parked = state.parked_uncounted();
    let ran = (after[1] + after[3]).saturating_sub(before[1] + before[3]);
    let cancelled = after[2].saturating_sub(before[2]);
    report.finished = usize::try_from(ran).unwrap_or(usize::MAX);
    report.cancelled = usize::try_from(cancelled)
        .unwrap_or(usize::MAX)
        .saturating_add(parked)
        .max(cut_off);
    report.elapsed = started.elapsed();
}

/// The log of a close, drain or drop that finished in the background with work cut off
/// or stuck.
fn log_background(state: &ScopeState, ending: Ending, report: &ShutdownReport) {
    if ending == Ending::Drop {
        tracing::warn!(
            target: "loopbridge::scope_dropped",
            scope = %state.path,
            caller = "background",
            finished = report.finished,
            cancelled = report.cancelled,
            stuck = report.stuck.len(),
            elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
            "scope `{}` dropped, finished in the background: {report}",
            state.path
        );
    } else {
        tracing::warn!(
            target: "loopbridge::scope_closed",
            scope = %state.path,
            how = ending.as_str(),
            finished = report.finished,
            cancelled = report.cancelled,
            stuck = report.stuck.len(),
            elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
            "scope `{}`'s {} finished in the background: {report}",
            state.path,
            ending.as_str()
        );
    }
}

/// The job doing the closing, if it is one of the scope's pool jobs: not waited for.
fn spare(record: &JobRecord) -> bool {
    is_running_pool_job(record)
}

impl Drop for Scope {
    /// Closes the scope, bounded by the bridge's shutdown timeout (not waiting on a loop
    /// thread or in an async context), and logs what it cut off.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let timeout = self.handle.state().shutdown_timeout;
        let report = self.close_within(timeout, Ending::Drop);
        // A close finishing in the background logs from there, once it knows.
        if !report.is_clean() && !report.finishing_in_background {
            tracing::warn!(
                target: "loopbridge::scope_dropped",
                scope = %self.state.path,
                caller = "drop",
                finished = report.finished,
                cancelled = report.cancelled,
                stuck = report.stuck.len(),
                elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
                "scope `{}` dropped: {report}",
                self.state.path
            );
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("name", &self.state.path)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The cancellation token of the scope the calling job runs in (a loop job or a pool
/// job), `None` outside scoped jobs. A long blocking pool job checks it between steps;
/// an async job `select!`s on `token.cancelled()`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let pool = loopbridge::ThreadPool::new(1)?;
/// let scope = bridge.handle().scope("batch");
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let inner = pool.clone();
/// let job = scope.handle().submit(async move {
///     // The pool job joins the scope, and reaches its token without being handed it.
///     inner.submit(move || {
///         let token = loopbridge::cancellation_token().expect("in a scope");
///         started_tx.send(()).unwrap();
///         let mut steps = 0;
///         while !token.is_cancelled() {
///             steps += 1;
///             std::thread::yield_now();
///         }
///         steps
///     }).await
/// });
/// started.recv()?;
/// let report = scope.drain(Duration::from_secs(30));
/// assert!(report.stuck.is_empty(), "{report}");
/// assert!(loopbridge::cancellation_token().is_none(), "not in a scoped job here");
/// let _ = job.wait();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cancellation_token() -> Option<CancellationToken> {
    scope::current().map(|scope| scope.token.clone())
}

/// Runs `f` outside every scope: what it submits, from inside a scoped job, joins no
/// scope by itself (a scoped handle's own scope still applies). For work a scoped job
/// starts that must outlive its scope: a cache refresh shared by every plugin, say.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// let scope = handle.scope("plugin");
/// let outer = handle.clone();
/// let survivor = scope
///     .handle()
///     .submit(async move {
///         loopbridge::outside_scopes(|| outer.submit(std::future::pending::<()>()))
///     })
///     .wait()?;
/// scope.close(Duration::from_secs(30));
/// assert!(!survivor.is_done(), "it belongs to no scope");
/// assert_eq!(survivor.site().scope(), None);
/// survivor.cancel();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn outside_scopes<R>(f: impl FnOnce() -> R) -> R {
    scope::outside(f)
}

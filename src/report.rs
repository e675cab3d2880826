//! [`ShutdownReport`] and [`StuckJob`]: what a shutdown finished, cut short and left behind.

use std::fmt;
use std::time::Duration;

use crate::error::Site;

/// What a shutdown did, from [`Bridge::shutdown`](crate::Bridge::shutdown),
/// [`ThreadPool::shutdown`](crate::ThreadPool::shutdown), [`Scope::close`](crate::Scope::close)
/// or [`Scope::drain`](crate::Scope::drain).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let forever = bridge.handle().submit(std::future::pending::<()>());
/// let report = bridge.shutdown(Duration::from_millis(50));
/// assert_eq!(report.cancelled, 1);
/// assert!(report.stuck.is_empty());
/// assert!(forever.wait().unwrap_err().is_closed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that ended (with a value or a panic) while the shutdown waited for them.
    pub finished: usize,
    /// Jobs the shutdown ended without a value once its timeout ran out; their
    /// completions resolve with [`Error::Closed`](crate::Error::Closed).
    pub cancelled: usize,
    /// Jobs that held a thread the shutdown could not take back (a poll blocking the loop
    /// thread, a pool job that never returns); their threads were left behind.
    pub stuck: Vec<StuckJob>,
    /// The loop thread did not stop in time and was left behind. Usually a job in
    /// `stuck` holds it; when none does, something the bridge does not track holds it (a
    /// task spawned with `tokio::spawn` from a job, or a destructor run while the runtime
    /// is torn down).
    pub loop_left_behind: bool,
    /// The shutdown was called where waiting would stall a loop (a loop thread, or an
    /// async context): it did not wait, and finishes in the background. The counts then
    /// cover only what was ended before it returned.
    pub finishing_in_background: bool,
    /// Where the values bound with an async close
    /// ([`Handle::bind_closing`](crate::Handle::bind_closing)) whose close did not run to
    /// its end were bound: cut off at the deadline, or never started because the loop
    /// thread was held. Each is also named in the `"jobs"` stage's `held_up_by`.
    pub unclosed: Vec<Site>,
    /// A bridge's shutdown stages, in order: `"hooks"` (the shutdown hooks run while
    /// every job keeps running), `"jobs"` (jobs get until the timeout to finish, then are
    /// cut off), `"teardown"` (the loop thread drops what was cut off); each with how long
    /// it took and what held it up. A scope's close or drain has a `"hooks"` stage when the
    /// scope has hooks ([`Scope::on_close`](crate::Scope::on_close)); a pool's is empty.
    pub stages: Vec<StageReport>,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// `true` when every job ended by itself: nothing was cancelled or left stuck, every
    /// bound value's close ran to its end, and nothing is left to finish in the
    /// background (a report that did not wait cannot say how that ends).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// bridge.handle().submit(async {}).wait()?;
    /// let report = bridge.shutdown(Duration::from_secs(10));
    /// assert!(report.is_clean(), "{report}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_clean(&self) -> bool {
        self.cancelled == 0
            && self.stuck.is_empty()
            && !self.loop_left_behind
            && self.unclosed.is_empty()
            && !self.finishing_in_background
    }

    /// Adds what a shutdown running alongside (a bridge's default pool's) did.
    pub(crate) fn absorb(&mut self, other: ShutdownReport) {
        self.finished += other.finished;
        self.cancelled += other.cancelled;
        self.stuck.extend(other.stuck);
        self.unclosed.extend(other.unclosed);
        self.loop_left_behind |= other.loop_left_behind;
        self.finishing_in_background |= other.finishing_in_background;
        self.stages.extend(other.stages);
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown in {:?}: {} finished, {} cancelled, {} stuck",
            self.elapsed,
            self.finished,
            self.cancelled,
            self.stuck.len()
        )?;
        for stuck in &self.stuck {
            write!(f, "; {stuck}")?;
        }
        for site in &self.unclosed {
            write!(f, "; the close of the value bound at {site} did not end")?;
        }
        if self.loop_left_behind {
            write!(f, "; the loop thread was left behind")?;
        }
        if self.finishing_in_background {
            write!(f, "; finishing in the background")?;
        }
        Ok(())
    }
}

/// A job that held its thread past the shutdown's timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let (release, held) = std::sync::mpsc::channel::<()>();
/// let (entered, started) = std::sync::mpsc::channel();
/// // A callback that blocks the loop thread itself (a bug the report names).
/// let _stuck = bridge.handle().job("blocking call").run_callback(move || {
///     entered.send(()).unwrap();
///     let _ = held.recv();
/// });
/// started.recv()?;
/// let report = bridge.shutdown(Duration::from_millis(20));
/// assert_eq!(report.stuck.len(), 1);
/// assert_eq!(report.stuck[0].site.name(), Some("blocking call"));
/// assert!(report.loop_left_behind);
/// drop(release); // lets the abandoned loop thread finish
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StuckJob {
    /// Where the job was submitted, and its name if it has one.
    pub site: Site,
    /// How long it had been running without yielding when the shutdown gave up on it.
    pub running_for: Duration,
}

impl fmt::Display for StuckJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {} stuck for {:?}", self.site, self.running_for)
    }
}

/// One stage of a bridge's shutdown, in [`ShutdownReport::stages`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let _hook = bridge
///     .handle()
///     .on_shutdown("flush forever", || std::future::pending::<()>());
/// let report = bridge.shutdown(Duration::from_millis(40));
/// let hooks = &report.stages[0];
/// assert_eq!(hooks.name, "hooks");
/// assert_eq!(hooks.held_up_by[0].name(), Some("flush forever"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StageReport {
    /// `"hooks"`, `"jobs"` or `"teardown"`.
    pub name: &'static str,
    /// How long the stage took.
    pub elapsed: Duration,
    /// What held it up: hooks that ran past their share, jobs still running at the
    /// timeout.
    pub held_up_by: Vec<Site>,
}

/// `items`, displayed and separated by commas, for a log line.
pub(crate) fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

//! [`LoopStats`]: counters a bridge keeps about its jobs, cheap to update and to read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::job::Tally;
use crate::spin::SpinCounts;

/// A snapshot of a bridge's counters, from [`Handle::stats`](crate::Handle::stats).
///
/// Counters are updated with relaxed atomics: each is exact, but a snapshot taken while
/// jobs run may mix moments (`in_flight` is derived from the others).
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// handle.submit(async { 1 }).wait()?;
/// let _ = handle.submit(async { panic!("boom") }).wait();
/// let stats = handle.stats();
/// assert_eq!(stats.submitted, 2);
/// assert_eq!(stats.finished, 1);
/// assert_eq!(stats.panicked, 1);
/// assert_eq!(stats.in_flight, 0);
/// // Nothing but these jobs ran on the loop, and none of them held it for long.
/// assert_eq!(stats.loop_stalls, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStats {
    /// Jobs accepted (submitted futures, callbacks, `add_job` jobs).
    pub submitted: u64,
    /// Jobs that ran to completion and produced a value.
    pub finished: u64,
    /// Jobs ended without a value by `cancel()` or by shutdown.
    pub cancelled: u64,
    /// Jobs whose future or callback panicked.
    pub panicked: u64,
    /// Jobs accepted and not yet ended.
    pub in_flight: u64,
    /// Polls or callbacks that ran longer than the slow-poll threshold. A job's last
    /// poll includes delivering its result (and running `then` callbacks), so it is
    /// counted just after its waiter wakes.
    pub slow_polls: u64,
    /// The longest single poll or callback seen.
    pub longest_poll: Duration,
    /// Stalls of the loop that no job caused: times the dispatcher, woken with work for
    /// it, did not get the loop thread for longer than the slow-poll threshold, because
    /// other code held it (a task spawned with `tokio::spawn` or `spawn_local`, such as
    /// a connection's driver, blocking in a poll of its own). The stall watchdog counts
    /// and logs each while it lasts; its time is in no job's `longest_poll`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let bridge = loopbridge::Bridge::builder()
    ///     .slow_poll_threshold(Duration::from_millis(20))
    ///     .build()?;
    /// let handle = bridge.handle();
    /// let (held_tx, held) = std::sync::mpsc::channel();
    /// let probe = handle.clone();
    /// handle
    ///     .submit(async move {
    ///         // A task of tokio's own, not a job, holds the loop thread until the
    ///         // watchdog has counted the stall (or ten seconds have passed).
    ///         tokio::spawn(async move {
    ///             held_tx.send(()).unwrap();
    ///             let give_up = Instant::now() + Duration::from_secs(10);
    ///             while probe.stats().loop_stalls == 0 && Instant::now() < give_up {
    ///                 std::thread::yield_now();
    ///             }
    ///         });
    ///     })
    ///     .wait()?;
    /// held.recv()?;
    /// // This job waits for the loop meanwhile.
    /// handle.run_callback(|| ()).wait()?;
    /// assert!(handle.stats().loop_stalls >= 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub loop_stalls: u64,
    /// Waits that spun (see [`SpinPolicy`](crate::SpinPolicy)) and met their result
    /// while spinning.
    pub spins_met: u64,
    /// Waits that spun, ran out of budget and parked.
    pub spins_missed: u64,
    /// Waits that parked (after a spin that ran out, or at once).
    ///
    /// ```
    /// use loopbridge::{Bridge, SpinPolicy};
    ///
    /// let bridge = Bridge::builder().spin(SpinPolicy::Off).build()?;
    /// let handle = bridge.handle();
    /// let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    /// let waiting = std::thread::spawn({
    ///     let handle = handle.clone();
    ///     move || handle.submit(async move { rx.await.unwrap() }).wait()
    /// });
    /// // The waiter is parked on its result before it is sent.
    /// while handle.stats().parks == 0 {
    ///     std::thread::yield_now();
    /// }
    /// tx.send(7).unwrap();
    /// assert_eq!(waiting.join().unwrap()?, 7);
    /// assert_eq!(handle.stats().spins_met + handle.stats().spins_missed, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub parks: u64,
    /// Times the loop thread, done with a batch of work, spun for more and got it.
    pub loop_spins_met: u64,
    /// Times the loop thread spun for more work, got none in its budget, and parked.
    pub loop_spins_missed: u64,
    /// Times the loop thread parked, having no work (after a spin or at once).
    pub loop_parks: u64,
}

/// The live counters behind [`LoopStats`].
#[derive(Default)]
pub(crate) struct Counters {
    /// Accepted jobs and how they ended.
    pub(crate) jobs: Tally,
    pub(crate) slow_polls: AtomicU64,
    pub(crate) loop_stalls: AtomicU64,
    longest_poll_nanos: AtomicU64,
}

impl Counters {
    // ORDERING: every counter is independent and only ever read as a statistic, so
    // relaxed increments and loads are enough.
    pub(crate) fn record_poll(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if nanos > self.longest_poll_nanos.load(Ordering::Relaxed) {
            self.longest_poll_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, spins: SpinCounts) -> LoopStats {
        let jobs = &self.jobs;
        let submitted = Tally::read(&jobs.submitted);
        let finished = Tally::read(&jobs.finished);
        let cancelled = Tally::read(&jobs.cancelled);
        let panicked = Tally::read(&jobs.panicked);
        LoopStats {
            submitted,
            finished,
            cancelled,
            panicked,
            in_flight: submitted.saturating_sub(finished + cancelled + panicked),
            slow_polls: self.slow_polls.load(Ordering::Relaxed),
            loop_stalls: self.loop_stalls.load(Ordering::Relaxed),
            longest_poll: Duration::from_nanos(self.longest_poll_nanos.load(Ordering::Relaxed)),
            spins_met: spins.spins_met,
            spins_missed: spins.spins_missed,
            parks: spins.parks,
            loop_spins_met: spins.loop_spins_met,
            loop_spins_missed: spins.loop_spins_missed,
            loop_parks: spins.loop_parks,
        }
    }
}

//! [`SpinPolicy`]: whether waiters and the loop spin before they park, and for how long.

use std::time::Duration;

/// Whether a bridge's waiters and its loop thread spin before they park
/// ([`BridgeBuilder::spin`](crate::BridgeBuilder::spin)).
///
/// A thread that parks costs tens of microseconds to wake from another CPU (more on a
/// VM), and a round trip through a bridge pays that twice: the loop wakes for the
/// submission, the waiter for the result. Two threads that are both awake meet in about
/// a microsecond, which is also less CPU than the system calls and context switches of a
/// park. A spin that runs out, though, is CPU burnt for nothing.
///
/// # Examples
///
/// ```
/// use loopbridge::{Bridge, SpinPolicy};
///
/// // No spinning at all: every wait parks at once, the loop sleeps as soon as it is idle.
/// let bridge = Bridge::builder().spin(SpinPolicy::Off).build()?;
/// assert_eq!(bridge.handle().submit(async { 1 }).wait()?, 1);
/// let stats = bridge.handle().stats();
/// assert_eq!(stats.spins_met + stats.spins_missed, 0, "nobody spun");
/// assert_eq!(stats.loop_spins_met + stats.loop_spins_missed, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpinPolicy {
    /// The default: spin for a budget learned from what recent spins took, per bridge
    /// and per submitting call site for waiters, per bridge for the loop (how soon work
    /// followed its last batch; it spins only while a waiter is awake to submit). Short jobs are met while spinning; a spin that keeps
    /// running out (long jobs, a timer, a loaded machine) backs off to none, with a rare
    /// probe to notice when spinning pays again. Never spins where it cannot pay: when
    /// the process may run on one CPU only, when the waiter and the loop thread were last
    /// seen on the same CPU, or (for a waiter) while the loop thread sleeps, since its
    /// wake-up alone outlasts any budget but a rare probe. A waiter's spin lasts at
    /// most 30 µs (a probe 50 µs, or 150 µs through the loop's wake-up), the loop's 50 µs.
    /// Measured on a loaded 2-vCPU VM (`benches/compare.rs`, caller and loop on different
    /// CPUs): a back-to-back round trip takes 8–15 µs instead of ~80 µs, and the whole
    /// process spends 0.2× raw tokio's CPU time per round trip (a spin that meets costs
    /// less than two wake-ups); a round trip whose job sleeps 1 ms costs no more CPU than
    /// with [`Off`](SpinPolicy::Off) within the noise of those runs.
    #[default]
    Adaptive,
    /// Spin for this long, learning nothing ([`BridgeBuilder::spin_before_park`](crate::BridgeBuilder::spin_before_park)):
    /// each waiter before it parks, and the loop thread after each batch of work. Still
    /// never spins on one CPU or when the waiter and the loop share a CPU. At most
    /// [`MAX_SPIN_BEFORE_PARK`](crate::MAX_SPIN_BEFORE_PARK).
    Fixed(Duration),
    /// Never spin: every wait parks at once and the loop sleeps as soon as it is idle.
    /// The least CPU when the machine is busy with other work, at the price of two
    /// wake-ups per round trip.
    Off,
}

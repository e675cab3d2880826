//! CPU time, next to wall-clock time: a wait that spins can be faster and still cost
//! more CPU, and a park costs CPU too (system calls, context switches on both sides).
//!
//! The whole process's CPU time is read (`CLOCK_PROCESS_CPUTIME_ID`: every thread,
//! exact to the nanosecond on Linux), so one reading covers the caller, the loop thread
//! and any pool worker a pattern uses. The other loops of the benches idle meanwhile
//! (none spins but right after its own work), so a batch's CPU time is its pattern's.

use std::time::Duration;

/// The CPU time all threads of this process have used so far (`None` if unknown).
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn process_cpu() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    (status == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(not(unix))]
pub fn process_cpu() -> Option<Duration> {
    None
}

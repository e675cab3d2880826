//! [`ThreadClock`]: how much CPU time one thread has used, and how long it has waited to
//! be scheduled, readable from another thread. The stall watchdog uses it to tell a loop
//! thread that ran code for the whole of a stall from one that was off the CPU: blocked
//! in a call, or not scheduled because the machine is busy.
//!
//! Linux only (the thread's CPU-time clock, and the scheduler's statistics in `/proc`);
//! elsewhere nothing is known and the watchdog says so.

use std::time::Duration;

/// What the clocks of a thread read at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadTimes {
    /// CPU time the thread has used.
    pub(crate) cpu: Duration,
    /// Time the thread has spent ready to run but waiting for a CPU, if the kernel keeps
    /// scheduler statistics.
    pub(crate) run_queue: Option<Duration>,
}

/// A thread's clocks, captured on that thread by [`ThreadClock::current`] and read from
/// any thread of the process.
pub(crate) struct ThreadClock {
    #[cfg(target_os = "linux")]
    cpu: Option<libc::clockid_t>,
    /// `/proc/<pid>/task/<tid>/schedstat` of the thread.
    #[cfg(target_os = "linux")]
    schedstat: Option<std::path::PathBuf>,
}

impl ThreadClock {
    /// The calling thread's clocks.
    pub(crate) fn current() -> ThreadClock {
        #[cfg(target_os = "linux")]
        {
            ThreadClock {
                cpu: linux::cpu_clock_of_this_thread(),
                schedstat: std::fs::read_link("/proc/thread-self")
                    .ok()
                    .map(|task| std::path::Path::new("/proc").join(task).join("schedstat")),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            ThreadClock {}
        }
    }

    /// What the thread's clocks read now; `None` where they cannot be read (another
    /// platform, or a thread that has exited).
    pub(crate) fn read(&self) -> Option<ThreadTimes> {
        #[cfg(target_os = "linux")]
        {
            let cpu = linux::read_clock(self.cpu?)?;
            let run_queue = self
                .schedstat
                .as_deref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .and_then(|stat| linux::run_queue_wait(&stat));
            Some(ThreadTimes { cpu, run_queue })
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::mem::MaybeUninit;
    use std::time::Duration;

    #[allow(unsafe_code)]
    pub(super) fn cpu_clock_of_this_thread() -> Option<libc::clockid_t> {
        let mut clock = MaybeUninit::<libc::clockid_t>::uninit();
        // SAFETY: `pthread_self()` names the calling thread, which is alive for the whole
        // call; `clock` is valid for a write of one `clockid_t`, read only on success.
        let status =
            unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), clock.as_mut_ptr()) };
        if status != 0 {
            return None;
        }
        // SAFETY: the call succeeded, so it wrote the clock id.
        Some(unsafe { clock.assume_init() })
    }

    #[allow(unsafe_code)]
    pub(super) fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
        let mut now = MaybeUninit::<libc::timespec>::uninit();
        // SAFETY: `now` is valid for a write of one `timespec`, read only on success. A
        // thread clock whose thread has exited makes the call fail (EINVAL); it does not
        // touch memory beyond `now`.
        let status = unsafe { libc::clock_gettime(clock, now.as_mut_ptr()) };
        if status != 0 {
            return None;
        }
        // SAFETY: the call succeeded, so it wrote the whole `timespec`.
        let now = unsafe { now.assume_init() };
        let secs = u64::try_from(now.tv_sec).ok()?;
        let nanos = u32::try_from(now.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }

    /// The second field of a `schedstat` line: nanoseconds spent waiting on a run queue.
    pub(super) fn run_queue_wait(schedstat: &str) -> Option<Duration> {
        let nanos = schedstat.split_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(nanos))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_threads_cpu_time_and_run_queue_wait() {
        let clock = ThreadClock::current();
        let before = clock.read().expect("a thread's CPU clock on Linux");
        let mut spun = 0u64;
        while clock.read().unwrap().cpu == before.cpu {
            spun = std::hint::black_box(spun + 1);
        }
        assert!(clock.read().unwrap().cpu > before.cpu);
        assert_eq!(
            linux::run_queue_wait("3969175 7174540 2\n"),
            Some(Duration::from_nanos(7_174_540))
        );
    }
}

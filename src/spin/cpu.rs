//! Where this thread runs, and on how many CPUs the process may run: what tells a spin
//! that cannot pay (the other side shares this CPU, or there is only one).

/// The CPU the calling thread runs on now (`None` where the platform does not tell, and
/// under loom, whose models must not depend on the scheduler).
#[cfg(all(target_os = "linux", not(loopbridge_loom)))]
#[allow(unsafe_code)]
pub(crate) fn current() -> Option<u32> {
    // SAFETY: `sched_getcpu` takes no arguments and only reads the calling thread's
    // state (from the vDSO or rseq area: no system call on current kernels).
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).ok()
}

#[cfg(not(all(target_os = "linux", not(loopbridge_loom))))]
pub(crate) fn current() -> Option<u32> {
    None
}

/// `true` if the process may run on one CPU only (its affinity mask, or the machine):
/// then a spinning thread only keeps the one it waits for from running.
pub(crate) fn only_one() -> bool {
    if cfg!(loopbridge_loom) {
        return false;
    }
    std::thread::available_parallelism().map_or(true, |cpus| cpus.get() == 1)
}

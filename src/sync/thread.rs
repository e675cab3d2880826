//! Waiting for another thread without blocking.

/// One step of waiting for another thread that is between two steps that never block
/// (a submitter between counting its job and sending it): give it the processor.
pub(crate) fn spin_wait() {
    #[cfg(not(loopbridge_loom))]
    std::thread::yield_now();
    #[cfg(loopbridge_loom)]
    loom::hint::spin_loop();
}

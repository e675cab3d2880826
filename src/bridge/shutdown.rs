//! A bridge's bounded shutdown: close, let the loop wind down until the deadline, and
//! leave behind a loop thread that a stuck job holds.

use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::event_loop::LoopState;
use crate::handle::Handle;
use crate::job::Tally;
use crate::loop_thread;
use crate::process;
use crate::report::ShutdownReport;
use crate::util::deadline_after;

use super::loop_body::TEARDOWN_GRACE;

/// Shuts the loop behind `handle` down, waiting at most about `timeout` (see
/// [`Bridge::shutdown`](super::Bridge::shutdown)); `exited` hears from the loop thread as it ends.
pub(super) fn stop(
    handle: &Handle,
    exited: &crossbeam_channel::Receiver<()>,
    timeout: Duration,
) -> ShutdownReport {
    let started = Instant::now();
    let deadline = deadline_after(timeout);
    let state = handle.state().clone();
    let tally = &state.counters.jobs;
    let finished_before = tally.ran();
    let cancelled_before = Tally::read(&tally.cancelled);

    *state.stop_deadline.lock() = Some(deadline);
    state.refuse_new();
    state.stop.notify_one();
    // A forked child has neither the loop thread nor the pool's workers: nothing to
    // wait for.
    let forked = state.fork_generation != process::generation();
    // The default pool shuts down within the same deadline while the loop winds down
    // (on the loop thread itself it does not wait).
    let executor = handle
        .executor()
        .shutdown(if forked { Instant::now() } else { deadline });

    let mut report = ShutdownReport::default();
    let cancelled_by_loop = || Tally::read(&tally.cancelled) - cancelled_before;
    let mut cancelled = 0;
    if forked {
        // A forked child: the loop thread is in the parent, and nothing here will
        // ever end these jobs.
        leave_loop_behind(&state, &mut report);
        report.stuck.clear();
    } else if loop_thread::on_loop_thread() {
        // Waiting here would stall this loop (or deadlock, on the bridge's own loop)
        // for the whole timeout: a thread of its own waits instead, and cuts off
        // what the loop could not end by the deadline.
        let exited = exited.clone();
        let reaper_state = state.clone();
        let reaper = std::thread::Builder::new()
            .name(format!("{}-stop", state.thread_name))
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) =
                    exited.recv_deadline(deadline + TEARDOWN_GRACE)
                {
                    let mut report = ShutdownReport::default();
                    leave_loop_behind(&reaper_state, &mut report);
                    tracing::warn!(target: "loopbridge", "bridge shut down from a loop thread: {report}");
                }
            });
        if let Err(error) = reaper {
            tracing::error!(target: "loopbridge", "cannot start a thread to finish a shutdown: {error}");
        }
    } else {
        match exited.recv_deadline(deadline + TEARDOWN_GRACE) {
            Ok(_) | Err(RecvTimeoutError::Disconnected) => cancelled = cancelled_by_loop(),
            Err(RecvTimeoutError::Timeout) => {
                // Counted before leaving the loop behind: a job the stuck loop drops later is
                // already counted here, not twice.
                cancelled = cancelled_by_loop();
                leave_loop_behind(&state, &mut report);
            }
        }
    }
    let finished_after = tally.ran();
    report.finished = usize::try_from(finished_after - finished_before).unwrap_or(usize::MAX);
    report.cancelled += usize::try_from(cancelled).unwrap_or(usize::MAX);
    if let Some(executor) = executor {
        report.absorb(executor);
    }
    report.elapsed = started.elapsed();
    report
}

/// The loop thread did not stop in time: name the jobs holding it, resolve every job
/// still pending, and leave the thread behind.
fn leave_loop_behind(state: &LoopState, report: &mut ShutdownReport) {
    report.loop_left_behind = true;
    // Jobs still queued will never reach the loop: end them here, and refuse later
    // pushes (which also frees what the queue holds).
    report.cancelled += state.close_run_queue();
    let (stuck, resolved) = state
        .registry
        .cut_off_all(|_| false, |record, now| record.running_poll(now));
    report.stuck = stuck;
    report.cancelled += resolved;
    tracing::error!(
        target: "loopbridge",
        thread = %state.thread_name,
        stuck = ?report.stuck,
        "loop thread did not stop within the shutdown timeout; it is left behind"
    );
}

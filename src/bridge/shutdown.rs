//! A bridge's bounded shutdown: close, let the loop wind down until the deadline, and
//! leave behind a loop thread that a stuck job holds.
//!
//! The loop thread tells the stopper two things as it ends ([`Stage`]): that every job
//! is resolved and counted (its teardown's fast half), then that it exited (the slow
//! half: dropping the jobs' futures, the runtime). The stopper waits for both until the
//! deadline plus a grace; a loop still dropping futures then finishes in the background,
//! so a shutdown's length does not grow with the number of jobs it cuts off.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::event_loop::LoopState;
use crate::handle::Handle;
use crate::handle::{start_hooks, wait_for_hooks};
use crate::host_runtime;
use crate::job::Tally;
use crate::loop_thread;
use crate::process;
use crate::report::{ShutdownReport, StageReport};
use crate::util::{deadline_after, share_of};

use super::loop_body::TEARDOWN_GRACE;

/// What the loop thread tells a stopper as it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// The loop stopped polling, and every job left is resolved and counted.
    Resolved,
    /// The jobs' futures and the runtime are dropped; the thread ends.
    Exited,
}

/// Shuts the loop behind `handle` down, waiting at most about `timeout` (see
/// [`Bridge::shutdown`](super::Bridge::shutdown)); `stages` hears from the loop thread as
/// it ends.
pub(super) fn stop(handle: &Handle, stages: &Receiver<Stage>, timeout: Duration) -> ShutdownReport {
    let started = Instant::now();
    let deadline = deadline_after(timeout);
    let state = handle.state().clone();
    let tally = &state.counters.jobs;
    let finished_before = tally.ran();
    let cancelled_before = Tally::read(&tally.cancelled);

    // A forked child has neither the loop thread nor the pool's workers: nothing to
    // wait for.
    let forked = state.fork_generation != process::generation();
    // The hooks first: submitted as jobs while the bridge still takes submissions.
    let hooks = if forked {
        Vec::new()
    } else {
        // The bridge's hooks, then its scopes' (each scope closes with the bridge).
        let mut hooks = state.hooks.take_all();
        hooks.extend(state.take_scope_hooks());
        start_hooks(handle, hooks)
    };
    let hooks_until = deadline_after(share_of(timeout, state.hook_share));

    *state.stop_deadline.lock() = Some(deadline);
    state.refuse_new();
    state.closing.cancel();
    state.refuse_scopes();
    if !forked {
        // In a forked child the loop's stop waiter is linked from the parent's loop
        // thread's stack, memory the child reuses: waking it would write through a
        // dangling pointer.
        state.stop.notify_one();
    }
    let in_background =
        !forked && (loop_thread::is_any_loop_thread() || host_runtime::in_async_context());
    // The default pool shuts down within the same deadline while the loop winds down
    // (where this thread must not wait, it does not wait for the pool either).
    let executor = if forked {
        handle.executor().shutdown(Instant::now(), false)
    } else {
        handle.executor().shutdown(deadline, !in_background)
    };

    let mut report = ShutdownReport::default();
    if forked {
        // A forked child: the loop thread is in the parent, and nothing here will ever
        // end these jobs.
        state.close_run_queue();
        state.cut_off_registered();
        report.loop_left_behind = true;
    } else if in_background {
        // Waiting here would stall this loop (or deadlock, on the bridge's own loop), or
        // block a worker of another runtime, for the whole timeout: a thread of its own
        // waits instead, and cuts off what the loop could not end by the deadline.
        let stages = stages.clone();
        let waiting_state = state.clone();
        let waiter = std::thread::Builder::new()
            .name(format!("{}-stop", state.thread_name))
            .spawn(move || {
                waiting_state.dispatch.clone().in_scope(|| {
                    let mut report = ShutdownReport::default();
                    report.stages.push(wait_for_hooks(hooks, hooks_until));
                    wait_for_loop(&waiting_state, &stages, deadline, &mut report);
                    waiting_state.close_scopes();
                    name_unclosed(&waiting_state, &mut report);
                    let tally = &waiting_state.counters.jobs;
                    report.finished =
                        usize::try_from(tally.ran() - finished_before).unwrap_or(usize::MAX);
                    let cancelled = Tally::read(&tally.cancelled) - cancelled_before;
                    report.cancelled = usize::try_from(cancelled).unwrap_or(usize::MAX);
                    report.elapsed = started.elapsed();
                    if !report.is_clean() {
                        tracing::warn!(
                            target: "loopbridge::shutdown",
                            thread = %waiting_state.thread_name,
                            caller = "background",
                            finished = report.finished,
                            cancelled = report.cancelled,
                            stuck = report.stuck.len(),
                            elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
                            "bridge '{}' shut down in the background: {report}",
                            waiting_state.thread_name
                        );
                    }
                })
            });
        if let Err(error) = waiter {
            tracing::error!(
                target: "loopbridge::thread_start",
                what = "a bridge's background shutdown",
                thread = %state.thread_name,
                error = %error,
                "cannot start a thread to finish a shutdown: {error}"
            );
        }
        tracing::debug!(
            target: "loopbridge::shutdown",
            thread = %state.thread_name,
            caller = "background",
            "shutdown called where waiting would block a loop or a runtime's worker: it finishes in the background"
        );
        report.finishing_in_background = true;
    } else {
        report.stages.push(wait_for_hooks(hooks, hooks_until));
        wait_for_loop(&state, stages, deadline, &mut report);
        state.close_scopes();
        name_unclosed(&state, &mut report);
    }
    report.finished = usize::try_from(tally.ran() - finished_before).unwrap_or(usize::MAX);
    let cancelled = Tally::read(&tally.cancelled) - cancelled_before;
    report.cancelled = usize::try_from(cancelled).unwrap_or(usize::MAX);
    if let Some(executor) = executor {
        report.absorb(executor);
    }
    report.elapsed = started.elapsed();
    report
}

/// Waits until `deadline` plus the teardown grace for the loop thread to resolve its
/// jobs and exit; past that, cuts off what is left here, and leaves the thread behind if
/// a job (or other code on it) still holds it.
fn wait_for_loop(
    state: &LoopState,
    stages: &Receiver<Stage>,
    deadline: Instant,
    report: &mut ShutdownReport,
) {
    let give_up = deadline + TEARDOWN_GRACE;
    let jobs_began = Instant::now();
    let resolved = stages.recv_deadline(give_up);
    let teardown_began = Instant::now();
    match resolved {
        Ok(Stage::Resolved) => {
            if let Err(RecvTimeoutError::Timeout) = stages.recv_deadline(give_up) {
                tracing::debug!(
                    target: "loopbridge::shutdown",
                    thread = %state.thread_name,
                    "every job is resolved; the loop thread goes on dropping them in the background"
                );
            }
        }
        // Exited (the teardown resolved nothing, or its fast half had no listener), or
        // the thread ended without saying so: every job was resolved as it ended.
        Ok(Stage::Exited) | Err(RecvTimeoutError::Disconnected) => {}
        Err(RecvTimeoutError::Timeout) if state.is_tearing_down() => {
            // No job holds the loop thread: it is still resolving a great many jobs.
            // Resolve the rest from here, so this shutdown stays bounded.
            state.close_run_queue();
            state.cut_off_registered();
        }
        Err(RecvTimeoutError::Timeout) => leave_loop_behind(state, report),
    }
    report.stages.push(StageReport {
        name: "jobs",
        elapsed: teardown_began - jobs_began,
        held_up_by: report
            .stuck
            .iter()
            .map(|stuck| stuck.site.clone())
            .collect(),
    });
    report.stages.push(StageReport {
        name: "teardown",
        elapsed: teardown_began.elapsed(),
        held_up_by: Vec::new(),
    });
}

/// Names the bound values whose async close did not run to its end (cut off with the
/// jobs at the deadline, or never run), in the report and in its `"jobs"` stage.
fn name_unclosed(state: &LoopState, report: &mut ShutdownReport) {
    report.unclosed = state.closes.unfinished();
    if let Some(jobs) = report.stages.iter_mut().find(|stage| stage.name == "jobs") {
        jobs.held_up_by.extend(report.unclosed.iter().cloned());
    }
}

/// The loop thread did not stop in time: name the jobs holding it, resolve every job
/// still pending, and leave the thread behind.
fn leave_loop_behind(state: &LoopState, report: &mut ShutdownReport) {
    report.loop_left_behind = true;
    // Jobs still queued will never reach the loop: end them here, and refuse later
    // pushes (which also frees what the queue holds).
    state.close_run_queue();
    report.stuck = state.cut_off_registered();
    tracing::error!(
        target: "loopbridge::loop_left_behind",
        thread = %state.thread_name,
        stuck = report.stuck.len(),
        "loop thread '{}' did not stop within the shutdown timeout; it is left behind{}",
        state.thread_name,
        if report.stuck.is_empty() {
            String::new()
        } else {
            format!(", held by {}", crate::report::list(&report.stuck))
        }
    );
}

//! The loop thread's whole life: build the runtime, put the loop under the watchdog, run
//! the dispatcher until told to stop, then tear down what is left inside the runtime.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::task::LocalSet;

use crate::bound;
use crate::event_loop::{dispatch, LoopSettings, LoopState};
use crate::loop_thread::{self, LoopMark};
use crate::watchdog;

use super::shutdown::Stage;

/// What the loop thread may take, after the shutdown timeout, to drop the jobs it cut off.
pub(super) const TEARDOWN_GRACE: Duration = Duration::from_millis(200);

/// The loop thread's whole life.
pub(super) fn run_loop_thread(
    settings: LoopSettings,
    ready: crossbeam_channel::Sender<io::Result<Arc<LoopState>>>,
    stages: crossbeam_channel::Sender<Stage>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let assert_mode = settings.assert_mode;
    let state = Arc::new(LoopState::new(settings));
    watchdog::watch(&state);
    let watched = Watched(&state);
    loop_thread::mark_current(LoopMark {
        bridge: state.id,
        mode: assert_mode,
    });
    // The LocalSet lets jobs hold what is not `Send` (and spawn with `spawn_local`).
    let local = LocalSet::new();
    local.spawn_local(dispatch(state.clone()));
    // Values bound to this loop (`Handle::bind`) live in its store, on this thread only.
    let store = bound::Store::install(state.id);
    local.spawn_local(bound::drain_releases(store));
    if ready.send(Ok(state.clone())).is_err() {
        return;
    }

    local.block_on(&runtime, run_until_stopped(&state));
    // The values still bound with an async close are closed once the last job ended,
    // within what is left of the deadline.
    local.block_on(&runtime, bound::close_remaining(state.clone()));

    // The fast half of the teardown: closing the queue refuses every later submission
    // and cuts off what is still queued; then every job left is resolved with `Closed`
    // and counted, and the stopper told. The slow half follows: the dispatcher's jobs
    // (in the LocalSet) and the runtime's tasks are dropped, inside the runtime, so that
    // their destructors can still use tokio (spawn a last cleanup, read a handle).
    let in_runtime = runtime.enter();
    state.begin_teardown();
    state.close_run_queue();
    state.cut_off_registered();
    // The dispatcher will not run again: a wake-up just before the close is no stall.
    state.poll_clock.turn.stopped();
    let _ = stages.send(Stage::Resolved);
    drop(local);
    // Every value still bound is dropped here, inside the runtime, before it goes away.
    bound::teardown();
    drop(in_runtime);
    runtime.shutdown_timeout(TEARDOWN_GRACE);
    // Off the watchdog's list before the bridge learns the thread exited: once shutdown
    // returns, nothing but the handles keeps the loop's state.
    drop(watched);
    let _ = stages.send(Stage::Exited);
}

/// The loop's place on the watchdog's list, given up when the loop thread ends (however
/// it ends).
struct Watched<'a>(&'a LoopState);

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        watchdog::unwatch(self.0);
    }
}

/// The loop's own future: waits to be told to stop, then for the last job to end or the
/// deadline to pass.
async fn run_until_stopped(state: &LoopState) {
    state.stop.notified().await;
    let deadline = state.stop_deadline.lock().unwrap_or_else(Instant::now);
    let mut expired = pin!(tokio::time::sleep_until(deadline.into()));
    loop {
        let mut idle = pin!(state.idle.notified());
        if state.registry.live() == 0 {
            return;
        }
        let timed_out = poll_fn(|cx| {
            if expired.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            idle.as_mut().poll(cx).map(|()| false)
        })
        .await;
        if timed_out {
            return;
        }
    }
}

//! The crate's `tracing` events as a subscriber sees them: each has a target of its own
//! (`loopbridge::<event>`), a level, and its facts as fields beside the message (the
//! table in README's "Diagnostics"). Every test captures with a *scoped* subscriber
//! (`tracing::subscriber::with_default`), so the events prove also that the crate's own
//! threads (the loop thread, pool workers, the watchdog, a background shutdown) carry
//! the dispatcher that was current where the bridge or pool was built.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use common::{recv, round_trip, wait, Hold};
use loopbridge::{AssertMode, Bridge, ThreadPool};
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event.
#[derive(Clone, Debug)]
struct Event {
    target: String,
    level: Level,
    message: String,
    fields: HashMap<String, String>,
}

impl Event {
    /// A field as recorded (strings without quotes); `None` if the event lacks it.
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A field that must be there.
    #[track_caller]
    fn field(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("no field `{name}` in {self:#?}"))
    }

    /// A numeric field that must be there.
    #[track_caller]
    fn number(&self, name: &str) -> f64 {
        self.field(name)
            .parse()
            .unwrap_or_else(|_| panic!("field `{name}` is not a number in {self:#?}"))
    }
}

impl Visit for Event {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }
}

/// A layer that records every event it is given.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut seen = Event {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            message: String::new(),
            fields: HashMap::new(),
        };
        event.record(&mut seen);
        self.0.lock().unwrap().push(seen);
    }
}

impl Capture {
    /// The captured events of `target`.
    fn of(&self, target: &str) -> Vec<Event> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|event| event.target == target)
            .cloned()
            .collect()
    }

    /// Waits for the first event of `target` that `matches` (with `common::WAIT` as
    /// the bound; the failure lists every event captured).
    #[track_caller]
    fn wait_for(&self, target: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + common::WAIT;
        loop {
            if let Some(found) = self.of(target).into_iter().find(|event| matches(event)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "never happened: an event of {target}; captured: {:#?}",
                self.0.lock().unwrap()
            );
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }
}

/// Runs `f` under a scoped subscriber that captures into the `Capture` it is given.
fn captured<R>(f: impl FnOnce(&Capture) -> R) -> R {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || f(&capture))
}

/// `"tests/events.rs:<line>:"`, how a site at `line` of this file starts.
fn here(line: u32) -> String {
    common::at(file!(), line)
}

#[test]
fn a_slow_poll_names_its_job_the_loop_thread_and_both_durations() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("slow-loop")
            .slow_poll_threshold(Duration::from_millis(5))
            .build()
            .unwrap();
        let handle = bridge.handle();
        let line = line!() + 1;
        let slow = handle.job("slow one").run_callback(|| {
            // The workload itself: a callback that holds the loop past the threshold.
            std::thread::sleep(Duration::from_millis(20));
        });
        wait(slow).unwrap();
        let event = events.wait_for("loopbridge::slow_poll", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "slow one");
        assert_eq!(event.get("scope"), None);
        assert_eq!(event.field("thread"), "slow-loop");
        assert!(event.number("elapsed_ms") >= 5.0, "{event:#?}");
        assert_eq!(event.number("threshold_ms"), 5.0);
        assert!(event.message.contains("slow one"), "{event:#?}");
    });
}

#[test]
fn a_loop_stall_is_reported_by_the_watchdog_to_the_bridges_subscriber() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("stalled-loop")
            .slow_poll_threshold(Duration::from_millis(10))
            .build()
            .unwrap();
        let handle = bridge.handle();
        let line = line!() + 1;
        let hold = Hold::with(|gate| handle.job("stall probe").run_callback(gate));
        // The watchdog's own thread reports, while the callback still holds the loop.
        let event = events.wait_for("loopbridge::loop_stall", |_| true);
        assert!(!hold.completion.is_done());
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "stall probe");
        assert_eq!(event.field("thread"), "stalled-loop");
        assert!(event.number("elapsed_ms") >= 10.0, "{event:#?}");
        assert_eq!(event.number("threshold_ms"), 10.0);
        assert!(!event.field("thread_state").is_empty());
        wait(hold.release()).unwrap();
    });
}

#[test]
fn a_panic_nobody_reads_is_logged_with_its_site_name_and_message() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let job = handle.job("lost cause");
        let line = line!() + 1;
        drop(job.submit(async { panic!("nobody reads me") }));
        // Dropped unread, resolved on the loop thread or found resolved at the drop:
        // either side reports it, once.
        let event = events.wait_for("loopbridge::unobserved_panic", |_| true);
        assert_eq!(event.level, Level::ERROR);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "lost cause");
        assert_eq!(event.field("panic"), "nobody reads me");
        assert!(event.message.contains("nobody reads me"), "{event:#?}");
        round_trip(&handle);
        assert_eq!(events.of("loopbridge::unobserved_panic").len(), 1);
    });
}

#[test]
fn a_panic_nobody_reads_reaches_the_bridges_subscriber_from_any_thread() {
    // The bridge and the pool are built under the subscriber; the completions are
    // dropped on a thread that has none, after their jobs resolved: the report still
    // goes to the subscriber the bridge and the pool were built with.
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let (bridge, pool) = tracing::subscriber::with_default(subscriber, || {
        (Bridge::new().unwrap(), ThreadPool::new(1).unwrap())
    });
    let handle = bridge.handle();
    let (loop_job, pool_job) = std::thread::spawn({
        let handle = handle.clone();
        let pool = pool.clone();
        move || {
            let loop_job = handle
                .job("loop side")
                .submit(async { panic!("on the loop") });
            let pool_job = pool.job("pool side").submit(|| panic!("on a worker"));
            while !(loop_job.is_done() && pool_job.is_done()) {
                std::thread::yield_now();
            }
            (loop_job, pool_job)
        }
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        drop(loop_job);
        drop(pool_job);
    })
    .join()
    .unwrap();
    let names: Vec<String> = capture
        .of("loopbridge::unobserved_panic")
        .iter()
        .map(|event| event.field("name").to_owned())
        .collect();
    assert!(names.contains(&"loop side".to_owned()), "{names:?}");
    assert!(names.contains(&"pool side".to_owned()), "{names:?}");
}

#[test]
fn a_pool_job_panicking_after_its_cancel_is_logged_at_debug() {
    captured(|events| {
        let pool = ThreadPool::new(1).unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let line = line!() + 1;
        let job = pool.job("cancelled late").submit(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
            panic!("after the cancel");
        });
        recv(&started, "the pool job started");
        assert!(job.cancel());
        drop(release);
        let event = events.wait_for("loopbridge::cancelled_panic", |_| true);
        assert_eq!(event.level, Level::DEBUG);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "cancelled late");
        assert_eq!(event.field("panic"), "after the cancel");
        assert!(wait(job).unwrap_err().is_cancelled());
    });
}

#[test]
fn a_then_callback_panicking_is_logged_with_what_it_was() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let job = handle.job("then probe");
        let line = line!() + 1;
        let submitted = job.submit(async { 1 });
        submitted.then(|_| panic!("then exploded"));
        let event = events.wait_for("loopbridge::callback_panic", |event| {
            event.get("name") == Some("then probe")
        });
        assert_eq!(event.level, Level::ERROR);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("what"), "a `then` callback");
        assert_eq!(event.field("panic"), "then exploded");
        assert_eq!(wait(handle.submit(async { "alive" })).unwrap(), "alive");
    });
}

#[test]
fn broken_loop_thread_rules_in_log_mode_name_the_rule_the_site_and_the_thread() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("rules-loop")
            .assert_mode(AssertMode::Log)
            .build()
            .unwrap();
        let handle = bridge.handle();
        let blocking_line = line!() + 1;
        wait(handle.run_callback(|| loopbridge::check_blocking("read the disk"))).unwrap();
        let event = events.wait_for("loopbridge::loop_thread_rule", |event| {
            event.get("rule") == Some("check_blocking")
        });
        assert_eq!(event.level, Level::ERROR);
        assert!(
            event.field("site").starts_with(&here(blocking_line)),
            "{event:#?}"
        );
        assert_eq!(event.field("thread"), "rules-loop");
        assert!(event.message.contains("read the disk"), "{event:#?}");

        let verify_line = line!() + 1;
        handle.verify_loop_thread("update the state");
        let event = events.wait_for("loopbridge::loop_thread_rule", |event| {
            event.get("rule") == Some("verify_loop_thread")
        });
        assert!(
            event.field("site").starts_with(&here(verify_line)),
            "{event:#?}"
        );
        let this_thread = std::thread::current().name().unwrap().to_owned();
        assert_eq!(event.field("thread"), this_thread);
    });
}

#[test]
fn a_blocking_wait_in_a_current_thread_runtime_in_log_mode_is_a_broken_rule() {
    captured(|events| {
        let bridge = Bridge::builder()
            .assert_mode(AssertMode::Log)
            .build()
            .unwrap();
        let handle = bridge.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let line = line!() + 1;
        let value = runtime.block_on(async { handle.submit(async { 7 }).wait() });
        assert_eq!(value.unwrap(), 7);
        let event = events.wait_for("loopbridge::loop_thread_rule", |event| {
            event.get("rule") == Some("blocking_in_runtime")
        });
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
    });
}

#[test]
fn a_blocking_wait_in_a_multi_thread_runtime_is_warned_as_block_in_place() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let line = line!() + 5;
        let task = async move {
            // The task runs on a worker of the runtime: give it the test's subscriber.
            tracing::dispatcher::with_default(&dispatch, || {
                let job = handle.job("in place").submit(async { 8 });
                job.wait()
            })
        };
        let value = runtime
            .block_on(async { tokio::spawn(task).await })
            .unwrap();
        assert_eq!(value.unwrap(), 8);
        let event = events.wait_for("loopbridge::block_in_place", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "in place");
    });
}

#[test]
fn add_job_on_a_shut_down_bridge_is_warned() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        assert!(bridge.shutdown(common::WAIT).is_clean());
        let line = line!() + 1;
        handle.job("too late").add_job(async {});
        let event = events.wait_for("loopbridge::job_dropped", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "too late");
    });
}

#[test]
fn a_scope_dropped_with_work_in_it_reports_its_counts() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let plugin = handle.scope("weather");
        plugin.handle().add_job(std::future::pending::<()>());
        round_trip(&handle);
        drop(plugin);
        let event = events.wait_for("loopbridge::scope_dropped", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.field("scope"), "weather");
        assert_eq!(event.number("cancelled"), 1.0);
        assert_eq!(event.number("stuck"), 0.0);
        assert!(event.get("finished").is_some());
        assert!(event.get("elapsed_ms").is_some());
    });
}

#[test]
fn a_bridge_dropped_with_work_in_it_reports_its_counts() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("dropped-loop")
            .shutdown_timeout(Duration::from_millis(10))
            .build()
            .unwrap();
        bridge.handle().add_job(std::future::pending::<()>());
        round_trip(&bridge.handle());
        drop(bridge);
        let event = events.wait_for("loopbridge::shutdown", |event| {
            event.get("caller") == Some("drop")
        });
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.field("thread"), "dropped-loop");
        assert_eq!(event.number("cancelled"), 1.0);
        assert_eq!(event.number("stuck"), 0.0);
    });
}

#[test]
fn a_shutdown_on_the_loop_thread_finishes_and_reports_in_the_background() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("self-stopping")
            .build()
            .unwrap();
        let handle = bridge.handle();
        handle.add_job(std::future::pending::<()>());
        // The bridge shuts itself down from its own loop thread: the shutdown cannot
        // wait there, and a thread of its own finishes it.
        let report =
            wait(handle.run_callback(move || bridge.shutdown(Duration::from_millis(10)))).unwrap();
        assert!(report.finishing_in_background);
        let started = events.wait_for("loopbridge::shutdown", |event| {
            event.level == Level::DEBUG && event.get("caller") == Some("background")
        });
        assert_eq!(started.field("thread"), "self-stopping");
        // The waiting thread's report: the pending job was cut off.
        let finished = events.wait_for("loopbridge::shutdown", |event| {
            event.level == Level::WARN && event.get("caller") == Some("background")
        });
        assert_eq!(finished.field("thread"), "self-stopping");
        assert_eq!(finished.number("cancelled"), 1.0);
    });
}

#[test]
fn a_loop_thread_held_past_the_shutdown_is_left_behind_and_logged() {
    captured(|events| {
        let bridge = Bridge::builder().thread_name("held-loop").build().unwrap();
        let handle = bridge.handle();
        let hold = Hold::with(|gate| handle.job("holder").run_callback(gate));
        let report = bridge.shutdown(Duration::from_millis(20));
        assert!(report.loop_left_behind);
        let event = events.wait_for("loopbridge::loop_left_behind", |_| true);
        assert_eq!(event.level, Level::ERROR);
        assert_eq!(event.field("thread"), "held-loop");
        assert_eq!(event.number("stuck"), 1.0);
        assert!(event.message.contains("holder"), "{event:#?}");
        drop(hold);
    });
}

#[test]
fn a_pool_shutdown_that_leaves_a_worker_behind_is_logged() {
    captured(|events| {
        let pool = ThreadPool::builder().name("stuck-pool").build().unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let job = pool.job("never returns").submit(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        recv(&started, "the pool job started");
        let report = pool.shutdown(Duration::from_millis(10));
        assert_eq!(report.stuck.len(), 1);
        let event = events.wait_for("loopbridge::pool_shutdown", |event| {
            event.level == Level::ERROR
        });
        assert_eq!(event.field("pool"), "stuck-pool");
        assert_eq!(event.number("stuck"), 1.0);
        assert!(event.message.contains("never returns"), "{event:#?}");
        drop(release);
        drop(job);
    });
}

#[test]
fn a_failing_shutdown_hook_is_logged_with_its_name_and_error() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let line = line!() + 1;
        let _hook = bridge.handle().on_shutdown("flush", || async {
            panic!("flush failed");
        });
        bridge.shutdown(common::WAIT);
        let event = events.wait_for("loopbridge::shutdown_hook", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "flush");
        assert!(event.field("error").contains("flush failed"), "{event:#?}");
    });
}

/// A future that is ready at once and panics when it is dropped.
struct PanicsOnDrop;

impl Future for PanicsOnDrop {
    type Output = u8;

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<u8> {
        Poll::Ready(3)
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped badly");
    }
}

#[test]
fn a_job_whose_future_panics_as_it_is_dropped_is_logged() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let line = line!() + 1;
        let value = wait(handle.job("bad drop").submit(PanicsOnDrop));
        assert_eq!(value.unwrap(), 3);
        let event = events.wait_for("loopbridge::teardown_panic", |_| true);
        assert_eq!(event.level, Level::ERROR);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "bad drop");
        assert_eq!(event.field("panic"), "dropped badly");
        assert_eq!(wait(handle.submit(async { "alive" })).unwrap(), "alive");
    });
}

#[test]
fn jobs_own_events_reach_the_subscriber_current_where_the_bridge_and_pool_were_built() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let (bridge, pool) = tracing::subscriber::with_default(subscriber, || {
        (Bridge::new().unwrap(), ThreadPool::new(1).unwrap())
    });
    // Submitted from outside the scope: the loop thread and the worker carry it.
    wait(
        bridge
            .handle()
            .submit(async { tracing::info!(target: "user", "from the loop") }),
    )
    .unwrap();
    wait(pool.submit(|| tracing::info!(target: "user", "from a worker"))).unwrap();
    let messages: Vec<String> = capture.of("user").into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["from the loop", "from a worker"]);
}

#[test]
fn a_slow_thread_bound_call_names_its_site_name_thread_and_both_durations() {
    captured(|events| {
        let bound = loopbridge::ThreadBound::builder()
            .name("slow-owner")
            .slow_call_threshold(Duration::from_millis(5))
            .spawn(|| Ok::<_, ()>(Vec::<u8>::new()))
            .unwrap();
        let line = line!() + 1;
        let slow = bound.job("slow query").call(|value| {
            // The workload itself: a call that holds the owning thread past the
            // threshold. The owning thread carries the spawner's subscriber.
            tracing::info!(target: "user::in_call", "in the call");
            std::thread::sleep(Duration::from_millis(20));
            value.push(1);
        });
        wait(slow).unwrap();
        let event = events.wait_for("loopbridge::slow_call", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "slow query");
        assert_eq!(event.get("scope"), None);
        assert_eq!(event.field("thread"), "slow-owner");
        assert!(event.number("elapsed_ms") >= 5.0, "{event:#?}");
        assert_eq!(event.number("threshold_ms"), 5.0);
        assert!(event.message.contains("slow-owner"), "{event:#?}");
        assert_eq!(events.of("user::in_call").len(), 1);
    });
}

#[test]
fn a_thread_bound_call_still_running_at_shutdown_is_logged_as_stuck() {
    captured(|events| {
        let bound = loopbridge::ThreadBound::builder()
            .name("stuck-owner")
            .spawn(|| Ok::<_, ()>(()))
            .unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let call = bound.job("never answers").call(move |_| {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        recv(&started, "the call started");
        let report = bound.shutdown(Duration::from_millis(10));
        assert_eq!(report.stuck.len(), 1, "{report:?}");
        let event = events.wait_for("loopbridge::thread_bound_shutdown", |_| true);
        assert_eq!(event.level, Level::ERROR);
        assert_eq!(event.field("thread"), "stuck-owner");
        assert_eq!(event.field("caller"), "shutdown");
        assert!(event.message.contains("never answers"), "{event:#?}");
        drop(release);
        drop(call);
    });
}

#[test]
fn a_tokio_task_holding_the_loop_is_a_foreign_stall_with_its_durations() {
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("foreign-loop")
            .slow_poll_threshold(Duration::from_millis(10))
            .build()
            .unwrap();
        let handle = bridge.handle();
        // A task spawned with tokio directly (not a job) holds the loop thread, and a
        // job waits behind it.
        let release = common::hold_outside_jobs(&handle);
        let behind = handle.job("behind the task").run_callback(|| ());
        let event = events.wait_for("loopbridge::foreign_stall", |_| true);
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.field("thread"), "foreign-loop");
        assert!(event.number("elapsed_ms") >= 10.0, "{event:#?}");
        assert_eq!(event.number("threshold_ms"), 10.0);
        assert!(!event.field("thread_state").is_empty());
        assert_eq!(event.get("site"), None);
        release.send(()).unwrap();
        wait(behind).unwrap();
    });
}

#[test]
fn a_bound_values_close_that_panics_at_shutdown_is_logged_with_its_error() {
    struct PanicsOnClose;
    impl loopbridge::AsyncClose for PanicsOnClose {
        async fn close(self) {
            panic!("the close blew up");
        }
    }
    captured(|events| {
        let bridge = Bridge::builder()
            .thread_name("closing-loop")
            .build()
            .unwrap();
        let handle = bridge.handle();
        let bound = wait(handle.bind_closing(|| PanicsOnClose)).unwrap();
        // Still bound at the shutdown: its close runs in the shutdown's final sweep.
        let report = bridge.shutdown(common::WAIT);
        assert!(!report.loop_left_behind, "{report:?}");
        let event = events.wait_for("loopbridge::bound_close", |event| {
            event.level == Level::ERROR
        });
        assert!(event.field("error").contains("panic"), "{event:#?}");
        drop(bound);
    });
}

#[test]
fn a_scope_dropped_or_closed_on_the_loop_thread_reports_from_the_background() {
    captured(|events| {
        let bridge = Bridge::new().unwrap();
        let handle = bridge.handle();
        let radar = handle.scope("radar");
        let _ticker = radar.handle().submit(std::future::pending::<()>());
        wait(handle.run_callback(move || drop(radar))).unwrap();
        let event = events.wait_for("loopbridge::scope_dropped", |event| {
            event.get("scope") == Some("radar")
        });
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.field("caller"), "background");
        assert_eq!(event.number("cancelled"), 1.0);
        assert_eq!(event.number("stuck"), 0.0);

        let weather = handle.scope("weather");
        let _ticker = weather.handle().submit(std::future::pending::<()>());
        let report = wait(handle.run_callback(move || weather.close(common::WAIT))).unwrap();
        assert_eq!(report.cancelled, 1, "{report}");
        let event = events.wait_for("loopbridge::scope_closed", |event| {
            event.get("scope") == Some("weather")
        });
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.field("how"), "close");
        assert_eq!(event.number("cancelled"), 1.0);
        assert!(event.get("elapsed_ms").is_some());
    });
}

#[test]
fn a_scope_dropped_inside_an_async_host_lets_the_host_run_and_reports_from_the_background() {
    captured(|events| {
        let bridge = Bridge::builder()
            .shutdown_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let plugin = bridge.handle().scope("plugin");
        let host = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        host.block_on(async move {
            let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let _io = plugin.handle().run_in_executor(move || {
                let _ = entered_tx.send(());
                let _ = release_rx.recv();
            });
            entered_rx.await.unwrap();
            // Releases the pool job, once the host has its thread back.
            let released = tokio::spawn(async move {
                let _ = release_tx.send(());
            });
            drop(plugin);
            released.await.unwrap();
        });
        // The pool job stopped as soon as the host ran: nothing was stuck at the end.
        let event = events.wait_for("loopbridge::scope_dropped", |event| {
            event.get("scope") == Some("plugin")
        });
        assert_eq!(event.field("caller"), "background");
        assert_eq!(event.number("cancelled"), 1.0);
        assert_eq!(event.number("stuck"), 0.0);
    });
}

#[test]
fn a_pool_jobs_unread_value_whose_destructor_panics_is_logged_with_its_site() {
    struct PanicsWhenDropped;
    impl Drop for PanicsWhenDropped {
        fn drop(&mut self) {
            panic!("the unread value's destructor panicked");
        }
    }
    captured(|events| {
        let pool = ThreadPool::new(1).unwrap();
        let (go, gate) = mpsc::channel::<()>();
        let line = line!() + 1;
        let job = pool.job("unread").submit(move || {
            let _ = gate.recv();
            PanicsWhenDropped
        });
        // Nobody reads it: the worker drops the value as it delivers.
        drop(job);
        go.send(()).unwrap();
        let event = events.wait_for("loopbridge::callback_panic", |event| {
            event.field("panic").contains("unread value")
        });
        assert!(event.field("site").starts_with(&here(line)), "{event:#?}");
        assert_eq!(event.field("name"), "unread");
    });
}

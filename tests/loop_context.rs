//! `LoopContext`: the proof that code runs on a bridge's loop thread, and synchronous
//! access to loop-bound values with it.

mod common;

use std::time::Duration;

use loopbridge::{Bridge, LoopContext};

use common::{recv, wait};

#[test]
fn there_is_no_context_off_the_loop() {
    let bridge = Bridge::new().unwrap();
    assert!(LoopContext::current().is_none());
    let on_a_thread = std::thread::spawn(|| LoopContext::current().is_none())
        .join()
        .unwrap();
    assert!(on_a_thread);
    // Nor on the bridge's pool, which serves the loop but is not it.
    let on_the_pool = wait(
        bridge
            .handle()
            .run_in_executor(|| LoopContext::current().is_none()),
    )
    .unwrap();
    assert!(on_the_pool);
}

#[test]
fn every_kind_of_loop_code_has_one() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let mine = handle.clone();
    assert!(wait(handle.run_callback_cx(move |cx| cx.is_of(&mine))).unwrap());
    assert!(wait(handle.run_callback(|| LoopContext::current().is_some())).unwrap());
    assert!(wait(handle.submit(async { LoopContext::current().is_some() })).unwrap());
    let mine = handle.clone();
    let kept = handle.submit_local_cx(move |cx| async move {
        tokio::task::yield_now().await;
        cx.is_of(&mine)
    });
    assert!(wait(kept).unwrap());
    // A task spawned on the loop with tokio runs on the loop thread too.
    let spawned = handle.submit(async {
        tokio::task::spawn_local(async { LoopContext::current().is_some() })
            .await
            .unwrap()
    });
    assert!(wait(spawned).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    handle
        .call_soon_cx(move |cx| tx.send(format!("{cx:?}")).unwrap())
        .unwrap();
    assert!(recv(&rx, "call_soon_cx ran").starts_with("LoopContext"));
}

#[test]
fn with_cx_reaches_the_value_synchronously() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let count = wait(handle.bind(|| std::rc::Rc::new(std::cell::Cell::new(0_u32)))).unwrap();
    let on_loop = count.clone();
    let total = wait(handle.run_callback_cx(move |cx| {
        for _ in 0..100 {
            on_loop.with_cx(cx, |count| count.set(count.get() + 1));
        }
        on_loop.with_cx(cx, |count| count.get())
    }))
    .unwrap();
    assert_eq!(total, 100);
    assert_eq!(wait(count.with(|count| count.get())).unwrap(), 100);
}

#[test]
fn a_context_of_another_bridge_is_a_clear_panic() {
    let first = Bridge::builder().thread_name("first-loop").build().unwrap();
    let second = Bridge::builder()
        .thread_name("second-loop")
        .build()
        .unwrap();
    let bound = wait(first.handle().bind(|| 1_u32)).unwrap();
    let error = wait(
        second
            .handle()
            .run_callback_cx(move |cx| bound.with_cx(cx, |v| *v)),
    )
    .unwrap_err();
    let message = error.panic_message().expect("a panic");
    assert!(message.contains("another bridge"), "{message}");
    assert!(message.contains("'first-loop'"), "{message}");
    assert!(message.contains("'second-loop'"), "{message}");
    assert!(message.contains("loop_context.rs"), "{message}");
    // Both loops keep serving.
    assert_eq!(wait(first.handle().submit(async { 1 })).unwrap(), 1);
    assert_eq!(wait(second.handle().submit(async { 2 })).unwrap(), 2);
}

#[test]
fn with_cx_inside_with_cx_on_the_same_value_is_a_clear_panic() {
    let bridge = Bridge::new().unwrap();
    let bound = wait(bridge.handle().bind(|| 0_u32)).unwrap();
    let inner = bound.clone();
    let error = wait(
        bridge
            .handle()
            .run_callback_cx(move |cx| bound.with_cx(cx, |_| inner.with_cx(cx, |v| *v))),
    )
    .unwrap_err();
    let message = error.panic_message().expect("a panic");
    assert!(message.contains("borrowed already"), "{message}");
}

#[test]
fn with_cx_while_a_with_async_job_holds_the_value_names_that_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let bound = wait(handle.bind(|| 0_u32)).unwrap();
    let (held_tx, held) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release) = tokio::sync::oneshot::channel::<()>();
    let holder = bound.with_async(async move |value: &mut u32| {
        held_tx.send(()).unwrap();
        release.await.unwrap(); // holds `value` across this await
        *value += 1;
    });
    let holder_line = line!() - 5;
    held.blocking_recv().unwrap();
    let probe = bound.clone();
    let error = wait(handle.run_callback_cx(move |cx| probe.with_cx(cx, |v| *v))).unwrap_err();
    let message = error.panic_message().expect("a panic");
    assert!(message.contains("with_async"), "{message}");
    assert!(
        message.contains(&format!("loop_context.rs:{holder_line}:")),
        "{message}"
    );
    release_tx.send(()).unwrap();
    wait(holder).unwrap();
    // Free again once the job ended.
    let after = bound.clone();
    assert_eq!(
        wait(handle.run_callback_cx(move |cx| after.with_cx(cx, |v| *v))).unwrap(),
        1
    );
}

#[test]
fn there_is_no_context_once_the_bridge_is_gone() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    // A value whose destructor looks for a context during the teardown.
    struct Probe(std::sync::mpsc::Sender<bool>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(LoopContext::current().is_some());
        }
    }
    let probe = wait(handle.bind(move || Probe(tx))).unwrap();
    let report = bridge.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
    assert!(
        !recv(&rx, "the probe's drop"),
        "a context during the teardown"
    );
    drop(probe);
}

#[test]
fn a_handle_dropped_inside_with_cx_is_released_after_it() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    struct Probe(std::sync::mpsc::Sender<std::thread::ThreadId>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }
    let outer = wait(handle.bind(|| 0_u32)).unwrap();
    let inner = wait(handle.bind(move || Probe(tx))).unwrap();
    let loop_id = wait(handle.run_callback_cx(move |cx| {
        outer.with_cx(cx, move |_| drop(inner));
        std::thread::current().id()
    }))
    .unwrap();
    assert_eq!(recv(&rx, "the inner value's drop"), loop_id);
}

//! Scopes: a plugin's work stops as one, through the public API, while the rest of the
//! bridge keeps serving.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use common::{eventually, recv, wait, DropCount, WAIT};
use loopbridge::{Bridge, Handle, RayonPool, Scope, ThreadPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one plugin runs: a periodic timer, a TCP listener on 127.0.0.1, and a blocking
/// pool job started by a loop job, each counting what it did.
struct Plugin {
    scope: Scope,
    ticks: Arc<AtomicUsize>,
    address: std::net::SocketAddr,
    pool_steps: Arc<AtomicUsize>,
    pool_job_stopped: mpsc::Receiver<()>,
}

fn load_plugin(handle: &Handle, name: &str, pool: &ThreadPool) -> Plugin {
    let scope = handle.scope(name);
    let plugin = scope.handle();
    let ticks = Arc::new(AtomicUsize::new(0));
    let counted = ticks.clone();
    plugin.add_job(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(1));
        loop {
            interval.tick().await;
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let address = wait(plugin.submit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        (listener, address)
    }))
    .map(|(listener, address)| {
        plugin.add_job(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut byte = [0u8; 1];
                if socket.read_exact(&mut byte).await.is_ok() {
                    let _ = socket.write_all(&[byte[0] + 1]).await;
                }
            }
        });
        address
    })
    .unwrap();
    let pool_steps = Arc::new(AtomicUsize::new(0));
    let steps = pool_steps.clone();
    let (stopped_tx, pool_job_stopped) = mpsc::channel();
    let pool = pool.clone();
    plugin.add_job(async move {
        // Started from a scoped loop job: the pool job joins the scope too.
        let _ = pool
            .submit(move || {
                let token = loopbridge::cancellation_token().expect("the pool job is scoped");
                while !token.is_cancelled() {
                    steps.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                }
                stopped_tx.send(()).unwrap();
            })
            .await;
    });
    Plugin {
        scope,
        ticks,
        address,
        pool_steps,
        pool_job_stopped,
    }
}

/// Sends one byte to the plugin's listener and reads the reply, through `handle`.
fn echo(handle: &Handle, address: std::net::SocketAddr, byte: u8) -> std::io::Result<u8> {
    handle
        .block_on(async move {
            let mut stream = TcpStream::connect(address).await?;
            stream.write_all(&[byte]).await?;
            let mut reply = [0u8; 1];
            stream.read_exact(&mut reply).await?;
            Ok(reply[0])
        })
        .map_err(std::io::Error::other)?
}

fn grows(counter: &AtomicUsize, what: &str) {
    let before = counter.load(Ordering::SeqCst);
    eventually(what, || counter.load(Ordering::SeqCst) > before);
}

#[test]
fn unloading_one_of_three_plugins_stops_everything_it_started_and_only_that() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pool = ThreadPool::new(4).unwrap();
    let mut plugins: Vec<Plugin> = ["a", "b", "c"]
        .into_iter()
        .map(|name| load_plugin(&handle, name, &pool))
        .collect();
    for plugin in &plugins {
        grows(&plugin.ticks, "the plugin's timer ticks");
        grows(&plugin.pool_steps, "the plugin's pool job runs");
        assert_eq!(echo(&handle, plugin.address, 1).unwrap(), 2);
    }

    let unloaded = plugins.remove(1);
    let report = unloaded.scope.close(WAIT);
    assert!(report.stuck.is_empty(), "{report}");
    // The timer, the accept loop, the loop job awaiting the pool job and the pool job:
    // each is cut off, or ended on its own as the token was cancelled (the pool job
    // watches it). Either way all four stopped before close returned.
    assert_eq!(report.cancelled + report.finished, 4, "{report}");
    assert!(report.cancelled >= 2, "{report}");
    recv(
        &unloaded.pool_job_stopped,
        "the unloaded plugin's pool job returned",
    );
    let ticks = unloaded.ticks.load(Ordering::SeqCst);
    let steps = unloaded.pool_steps.load(Ordering::SeqCst);
    // The listener was dropped with its job: nothing accepts there any more.
    let refused = echo(&handle, unloaded.address, 1);
    assert!(refused.is_err(), "{refused:?}");

    for plugin in &plugins {
        grows(&plugin.ticks, "the other plugins' timers keep ticking");
        grows(
            &plugin.pool_steps,
            "the other plugins' pool jobs keep running",
        );
        assert_eq!(echo(&handle, plugin.address, 7).unwrap(), 8);
        assert!(!plugin.scope.is_closed());
    }
    assert_eq!(
        unloaded.ticks.load(Ordering::SeqCst),
        ticks,
        "its timer stopped"
    );
    assert_eq!(
        unloaded.pool_steps.load(Ordering::SeqCst),
        steps,
        "its pool job stopped"
    );
    let refused = unloaded_handle_refuses(&handle, "b");
    assert!(refused);
    drop(plugins);
}

/// A scoped handle of a closed scope refuses at once, with an error naming the scope.
fn unloaded_handle_refuses(handle: &Handle, name: &str) -> bool {
    let scope = handle.scope(name);
    let scoped = scope.handle();
    let report = scope.close(WAIT);
    assert!(report.is_clean(), "{report}");
    let error = wait(scoped.submit(async {})).unwrap_err();
    assert!(error.is_closed());
    assert!(
        error.to_string().contains(&format!("scope `{name}`")),
        "{error}"
    );
    assert!(scoped.call_soon(|| ()).unwrap_err().is_closed());
    assert!(wait(scoped.run_in_executor(|| ())).unwrap_err().is_closed());
    true
}

#[test]
fn close_on_a_scope_whose_job_blocks_the_loop_returns_and_names_the_job() {
    let bridge = Bridge::new().unwrap();
    let scope = bridge.handle().scope("stuck-plugin");
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = scope.handle().job("blocking read").run_callback(move || {
        entered_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    recv(&entered_rx, "the job holds the loop thread");
    let report = scope.close(Duration::from_millis(20));
    assert_eq!(report.stuck.len(), 1, "{report}");
    assert_eq!(report.stuck[0].site.name(), Some("blocking read"));
    assert_eq!(report.stuck[0].site.scope(), Some("stuck-plugin"));
    assert!(blocker.is_done(), "cut off, though its callback still runs");
    release_tx.send(()).unwrap();
    assert!(wait(blocker).unwrap_err().is_closed());
}

#[test]
fn a_job_closing_its_own_scope_does_not_deadlock() {
    let bridge = Bridge::new().unwrap();
    let scope = bridge.handle().scope("self-unloading");
    let sibling = scope.handle().submit(std::future::pending::<()>());
    let (scope_tx, scope_rx) = mpsc::channel::<Scope>();
    scope_tx.send(scope).unwrap();
    let closer = bridge.handle().submit(async move {
        let scope = scope_rx.recv().unwrap();
        scope.close(WAIT)
    });
    let report = wait(closer).unwrap();
    assert!(report.finishing_in_background, "{report}");
    assert!(wait(sibling).unwrap_err().is_closed());

    // The same from inside one of the scope's own jobs, on the loop and on a pool.
    let scope = Arc::new(std::sync::Mutex::new(Some(bridge.handle().scope("inner"))));
    let own = scope.clone();
    let scoped = scope.lock().unwrap().as_ref().unwrap().handle();
    let report = wait(scoped.run_callback(move || own.lock().unwrap().take().unwrap().close(WAIT)));
    // The closing job is itself cut off: its own result is `Closed`.
    assert!(report.unwrap_err().is_closed());

    let pool = ThreadPool::new(1).unwrap();
    let scope = bridge.handle().scope("pool-closer");
    let (scope_tx, scope_rx) = mpsc::channel::<Scope>();
    let inner = pool.clone();
    let (report_tx, report_rx) = mpsc::channel();
    let job = scope.handle().submit(async move {
        inner
            .submit(move || {
                let report = scope_rx.recv().unwrap().close(WAIT);
                report_tx.send(report).unwrap();
            })
            .await
    });
    scope_tx.send(scope).unwrap();
    let report = recv(
        &report_rx,
        "the pool job closed its own scope without waiting for itself",
    );
    assert!(report.stuck.is_empty(), "{report}");
    assert!(wait(job).unwrap_err().is_closed());
}

#[test]
fn nested_scopes_close_with_their_parent_children_first() {
    let bridge = Bridge::new().unwrap();
    let parent = bridge.handle().scope("host");
    let child = parent.child("plugin");
    let grandchild = child.handle().scope("task");
    assert_eq!(grandchild.name(), "host/plugin/task");
    let drops = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = [&parent, &child, &grandchild]
        .iter()
        .map(|scope| {
            let guard = DropCount(drops.clone());
            scope.handle().submit(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
        })
        .collect();
    assert_eq!(parent.stats().in_flight, 3);
    assert_eq!(child.jobs().len(), 2);
    let child_token = grandchild.token();
    let report = parent.close(WAIT);
    assert_eq!(report.cancelled, 3, "{report}");
    assert!(child.is_closed() && grandchild.is_closed() && child_token.is_cancelled());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "every future dropped before close returned"
    );
    for job in jobs {
        assert!(wait(job).unwrap_err().is_closed());
    }
    let late = child.child("late");
    assert!(late.is_closed(), "a child of a closed scope starts closed");
    assert!(wait(late.handle().submit(async {}))
        .unwrap_err()
        .is_closed());
}

#[test]
fn a_submission_racing_close_is_refused_or_cut_off_never_left_pending() {
    const ROUNDS: usize = 50;
    const SUBMITTERS: usize = 2;
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    for _ in 0..ROUNDS {
        let scope = bridge.handle().scope("racing");
        let start = Arc::new(Barrier::new(SUBMITTERS + 1));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|n| {
                let handle = scope.handle();
                let start = start.clone();
                let pool = pool.clone();
                std::thread::spawn(move || {
                    start.wait();
                    let mut completions = Vec::new();
                    for _ in 0..50 {
                        if n == 0 {
                            completions.push(handle.submit(std::future::pending::<()>()));
                        } else {
                            let pool = pool.clone();
                            let job = handle.submit(async move {
                                pool.submit(std::thread::yield_now).await.ok();
                                std::future::pending::<()>().await
                            });
                            completions.push(job);
                        }
                    }
                    completions
                })
            })
            .collect();
        start.wait();
        let report = scope.close(WAIT);
        assert!(report.stuck.is_empty(), "{report}");
        for submitter in submitters {
            for completion in submitter.join().unwrap() {
                // Pending jobs that got in were cut off; later ones were refused.
                let error = wait(completion).unwrap_err();
                assert!(error.is_closed(), "{error}");
            }
        }
    }
    assert_eq!(bridge.handle().stats().in_flight, 0);
}

#[test]
fn drain_lets_a_job_watching_its_token_finish_cleanly() {
    let bridge = Bridge::new().unwrap();
    let scope = bridge.handle().scope("uploader");
    let (flushed_tx, flushed_rx) = mpsc::channel();
    let watcher = scope.handle().submit(async move {
        let token = loopbridge::cancellation_token().unwrap();
        token.cancelled().await;
        flushed_tx.send("flushed").unwrap();
        42
    });
    let ignorer = scope.handle().submit(std::future::pending::<()>());
    let report = scope.drain(Duration::from_millis(50));
    assert_eq!(report.finished, 1, "{report}");
    assert_eq!(report.cancelled, 1, "{report}");
    assert_eq!(wait(watcher).unwrap(), 42);
    assert_eq!(recv(&flushed_rx, "the watcher flushed"), "flushed");
    assert!(wait(ignorer).unwrap_err().is_closed());
}

#[test]
fn work_started_inside_a_scoped_job_joins_the_scope_unless_it_steps_outside() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let scope = handle.scope("plugin");
    let unscoped = handle.clone();
    let pool = ThreadPool::new(1).unwrap();
    let sites = wait(scope.handle().submit(async move {
        let loop_job = unscoped.submit(async {});
        let executor_job = unscoped.run_in_executor(|| ());
        let pool_job = pool.submit(|| ());
        let rayon_job = RayonPool::global().submit(|| ());
        let outside = loopbridge::outside_scopes(|| unscoped.submit(async {}));
        let sites = [
            loop_job.site().scope().map(str::to_owned),
            executor_job.site().scope().map(str::to_owned),
            pool_job.site().scope().map(str::to_owned),
            rayon_job.site().scope().map(str::to_owned),
            outside.site().scope().map(str::to_owned),
        ];
        let _ = (
            loop_job.await,
            executor_job.await,
            pool_job.await,
            rayon_job.await,
        );
        let _ = outside.await;
        sites
    }))
    .unwrap();
    let plugin = Some("plugin".to_owned());
    assert_eq!(
        sites,
        [plugin.clone(), plugin.clone(), plugin.clone(), plugin, None]
    );
    // Jobs on another bridge, through its own handle, do not join implicitly.
    let other = Bridge::new().unwrap();
    let other_handle = other.handle();
    let site = wait(scope.handle().submit(async move {
        other_handle
            .submit(async {})
            .site()
            .scope()
            .map(str::to_owned)
    }))
    .unwrap();
    assert_eq!(site, None);
}

#[test]
fn cancel_and_wait_returns_once_a_running_pool_job_has_returned() {
    let pool = ThreadPool::new(1).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let returned = Arc::new(AtomicUsize::new(0));
    let marker = returned.clone();
    let job = pool.submit(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
        marker.fetch_add(1, Ordering::SeqCst);
    });
    recv(&started_rx, "the pool job runs");
    // Still running: a short wait times out, saying it cancelled.
    let error = job.cancel_and_wait(Duration::from_millis(5)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    release_tx.send(()).unwrap();
    job.cancel_and_wait(WAIT).unwrap();
    assert_eq!(
        returned.load(Ordering::SeqCst),
        1,
        "returned before the wait did"
    );
    assert!(wait(job).unwrap_err().is_cancelled());
}

#[test]
fn shutting_the_bridge_down_closes_every_scope_on_it() {
    let bridge = Bridge::new().unwrap();
    let scope = bridge.handle().scope("plugin");
    let child = scope.child("worker");
    let token = child.token();
    let job = child.handle().submit(std::future::pending::<()>());
    let report = bridge.shutdown(Duration::from_millis(20));
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(scope.is_closed() && child.is_closed() && token.is_cancelled());
    assert!(wait(job).unwrap_err().is_closed());
    let report = scope.close(WAIT);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn dropping_a_scope_closes_it_and_works_on_the_global_bridge() {
    let scope = loopbridge::global().scope("dropped-plugin");
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(drops.clone());
    let job = scope.handle().submit(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let info = &scope.jobs()[0];
    assert_eq!(info.site.scope(), Some("dropped-plugin"));
    assert!(loopbridge::global()
        .jobs()
        .iter()
        .any(|job| job.site.scope() == Some("dropped-plugin")));
    drop(scope);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(wait(job).unwrap_err().is_closed());
    assert_eq!(loopbridge::global().block_on(async { 1 }).unwrap(), 1);
}

#[test]
fn a_close_on_the_loop_thread_counts_what_it_cut_off_and_is_not_clean() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let plugin = handle.scope("weather");
    let ticker = plugin.handle().submit(std::future::pending::<()>());
    let report = wait(handle.run_callback(move || plugin.close(WAIT))).unwrap();
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(report.finishing_in_background, "{report}");
    assert!(!report.is_clean(), "{report}");
    assert!(wait(ticker).unwrap_err().is_closed());

    // A scope with nothing in it has nothing to finish in the background.
    let empty = handle.scope("empty");
    let report = wait(handle.run_callback(move || empty.close(WAIT))).unwrap();
    assert!(!report.finishing_in_background, "{report}");
    assert!(report.is_clean(), "{report}");
}

/// A pool job of `scope` that holds its worker until the host runtime's task releases
/// it, and has started.
async fn pool_job_released_by_a_host_task(scope: &Scope) -> loopbridge::Completion<()> {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = scope.handle().run_in_executor(move || {
        let _ = entered_tx.send(());
        let _ = release_rx.recv();
    });
    entered_rx.await.unwrap();
    // Runs only once the host gets its thread back.
    tokio::spawn(async move {
        let _ = release_tx.send(());
    });
    job
}

#[test]
fn closing_or_dropping_a_scope_inside_an_async_host_does_not_block_it() {
    let timeout = Duration::from_secs(30);
    let bridge = Bridge::builder().shutdown_timeout(timeout).build().unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    host.block_on(async move {
        let plugin = handle.scope("io-plugin");
        let io = pool_job_released_by_a_host_task(&plugin).await;
        let report = plugin.close(timeout);
        assert!(report.finishing_in_background, "{report}");
        assert_eq!(report.cancelled, 1, "{report}");
        assert!(!report.is_clean(), "{report}");
        assert!(io.await.unwrap_err().is_closed());

        let plugin = handle.scope("io-plugin-dropped");
        let io = pool_job_released_by_a_host_task(&plugin).await;
        let started = std::time::Instant::now();
        drop(plugin);
        assert!(
            started.elapsed() < timeout,
            "the drop did not wait for its timeout"
        );
        assert!(io.await.unwrap_err().is_closed());

        // A drain as well: the job watches the token and ends by itself.
        let plugin = handle.scope("io-plugin-drained");
        let job = plugin.handle().submit(async {
            loopbridge::cancellation_token().unwrap().cancelled().await;
            "stopped"
        });
        let report = plugin.drain(timeout);
        assert!(report.finishing_in_background, "{report}");
        assert_eq!(job.await.unwrap(), "stopped");
    });
}

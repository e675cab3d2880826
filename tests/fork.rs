//! A forked child inherits a bridge and a thread pool but none of their threads: waiting
//! on them there fails at once with `Forked` instead of hanging forever, and a bridge
//! started in the child works. A process of its own (`harness = false`): the fork is
//! made from a known state, with the loop and the pool idle.

use std::time::{Duration, Instant};

use loopbridge::{Bridge, Completion, LazyBridge, RayonPool, ThreadPool};

/// A library's own lazily started bridge: the child gets one of its own, as with `global()`.
static LIBRARY: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("fork-lib"));

/// Long enough never to be reached when the crate works; a wait that ends by this
/// timeout (instead of `Forked`) is the bug this test catches.
const WAIT: Duration = Duration::from_secs(30);

fn main() {
    let bridge = Bridge::new().expect("bridge");
    let pool = ThreadPool::new(2).expect("pool");
    // Both have run a job to the end, so their threads are idle when the fork happens.
    assert_eq!(bridge.handle().submit(async { 1 }).wait().unwrap(), 1);
    assert_eq!(pool.submit(|| 2).wait().unwrap(), 2);
    assert_eq!(loopbridge::global().block_on(async { 10 }).unwrap(), 10);
    let parents_library = LIBRARY.handle().clone();
    assert_eq!(parents_library.block_on(async { 17 }).unwrap(), 17);
    let rayon = RayonPool::global();
    assert_eq!(rayon.submit(|| 13).wait().unwrap(), 13);
    // A job still pending at the fork, parked on a channel: the loop is idle.
    let (release, released) = tokio::sync::oneshot::channel::<u32>();
    let pending = bridge
        .handle()
        .submit(async move { released.await.unwrap() });
    while bridge
        .handle()
        .jobs()
        .first()
        .is_none_or(|job| job.polls == 0)
    {
        std::thread::yield_now();
    }

    // SAFETY: `fork` has no preconditions; the child runs only the code in `child`,
    // and leaves with `_exit`, skipping destructors that belong to the parent's threads.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(&bridge, &pool, &rayon, pending);
        // SAFETY: ends the child at once; nothing of it is needed after this.
        unsafe { libc::_exit(code) };
    }

    let status = wait_for(pid);
    // The parent's bridge and pool are untouched by the child.
    release.send(9).unwrap();
    assert_eq!(pending.wait().unwrap(), 9);
    assert_eq!(loopbridge::global().block_on(async { 12 }).unwrap(), 12);
    assert_eq!(LIBRARY.handle().block_on(async { 19 }).unwrap(), 19);
    assert_eq!(rayon.submit(|| 15).wait().unwrap(), 15);
    assert_eq!(bridge.handle().submit(async { 6 }).wait().unwrap(), 6);
    assert_eq!(pool.submit(|| 7).wait().unwrap(), 7);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        println!("fork: 1 passed, 0 failed");
    } else {
        println!("fork: 0 passed, 1 failed");
        std::process::exit(1);
    }
}

/// Runs in the forked child; its exit code says whether every check held.
fn child(bridge: &Bridge, pool: &ThreadPool, rayon: &RayonPool, pending: Completion<u32>) -> i32 {
    let inherited = bridge.handle().submit(async { 3 }).wait_timeout(WAIT);
    if !matches!(&inherited, Err(error) if error.is_forked()) {
        eprintln!("child: a job on the inherited bridge gave {inherited:?}, not Forked");
        return 1;
    }
    // An inherited pool refuses the job unrun: a worker of the child's own would run it
    // and then have its result disowned.
    let inherited = pool.submit(|| 4).wait_timeout(WAIT);
    if !matches!(&inherited, Err(error) if error.is_forked()) {
        eprintln!("child: a job on the inherited pool gave {inherited:?}, not Forked");
        return 2;
    }
    // rayon's threads stayed in the parent too.
    let inherited = rayon.submit(|| 14).wait_timeout(WAIT);
    if !matches!(&inherited, Err(error) if error.is_forked()) {
        eprintln!("child: a job on the inherited rayon pool gave {inherited:?}, not Forked");
        return 8;
    }
    let fresh = match Bridge::new() {
        Ok(fresh) => fresh,
        Err(error) => {
            eprintln!("child: cannot start a bridge: {error}");
            return 3;
        }
    };
    match fresh.handle().block_on(async { 5 }) {
        Ok(5) => {}
        other => {
            eprintln!("child: the child's own bridge gave {other:?}");
            return 4;
        }
    }
    // The global bridge: the child gets one of its own, once.
    let global = loopbridge::global();
    match global.block_on(async { 11 }) {
        Ok(11) if std::ptr::eq(global, loopbridge::global()) => {}
        other => {
            eprintln!("child: the global bridge gave {other:?}");
            return 7;
        }
    }
    // The multi-waits fail fast on it too, and leave it usable.
    let any = loopbridge::wait_any([&pending], WAIT);
    let all = loopbridge::wait_all([&pending], WAIT);
    if !matches!(&any, Err(error) if error.is_forked())
        || !matches!(&all, Err(error) if error.is_forked())
    {
        eprintln!("child: wait_any gave {any:?} and wait_all {all:?}, not Forked");
        return 10;
    }
    let mut done =
        loopbridge::as_completed(vec![bridge.handle().submit(std::future::pending::<u32>())]);
    match done.next_timeout(WAIT) {
        Ok(Some((0, Err(error)))) if error.is_forked() => {}
        other => {
            eprintln!("child: as_completed over an inherited job gave {other:?}, not Forked");
            return 11;
        }
    }
    // A library's lazy bridge too: its handle from before the fork is the parent's.
    let library = LIBRARY.handle();
    match library.block_on(async { 18 }) {
        Ok(18) if std::ptr::eq(library, LIBRARY.handle()) => {}
        other => {
            eprintln!("child: the library's lazy bridge gave {other:?}");
            return 12;
        }
    }
    if LIBRARY.handle().block_on(async {}).is_err() {
        return 13;
    }
    // Awaiting (not waiting on) a job that was pending on the inherited bridge.
    match fresh.handle().block_on(pending) {
        Ok(Err(error)) if error.is_forked() => {}
        other => {
            eprintln!("child: awaiting an inherited pending job gave {other:?}, not Forked");
            return 6;
        }
    }
    // rayon's global pool ran a job in the parent, so its threads are there: a
    // `RayonPool::global()` made in the child runs on a pool of the child's own.
    match RayonPool::global().submit(|| 16).wait_timeout(WAIT) {
        Ok(16) => {}
        other => {
            eprintln!("child: RayonPool::global() made in the child gave {other:?}, not 16");
            return 9;
        }
    }
    let fresh_pool = ThreadPool::new(1).expect("pool in the child");
    if fresh_pool.submit(|| 8).wait().ok() != Some(8) {
        eprintln!("child: the child's own pool did not run its job");
        return 5;
    }
    0
}

/// Waits for the child to exit, killing it if it has not within twice `WAIT` (a child
/// that hangs fails the test instead of hanging it).
fn wait_for(pid: libc::pid_t) -> libc::c_int {
    let deadline = Instant::now() + 2 * WAIT;
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid place for the child's status.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return status;
        }
        assert!(done == 0, "waitpid failed");
        if Instant::now() >= deadline {
            // SAFETY: `pid` is our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
        // Polling a child process's exit status: there is no channel to wait on.
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

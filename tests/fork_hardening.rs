//! Fork cases of the hardening tests: what a forked child gets from rayon's global pool
//! and from a thread pool it inherited. A process of its own (`harness = false`): each
//! case forks a child from a known state; the child reports through a pipe, and the
//! parent kills a child that does not finish within a generous limit and fails the case.
//! Each case is named after the failure it pins.

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    println!("fork_hardening: no fork on this platform, nothing to run");
}

#[cfg(unix)]
mod unix {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::{Duration, Instant};

    use loopbridge::{RayonPool, ThreadBound, ThreadPool};

    /// Long enough never to be reached when the crate works, however loaded the machine.
    const WAIT: Duration = Duration::from_secs(30);

    /// One case, run in the parent: `Err` says how it failed.
    type Case = fn() -> Result<(), String>;

    pub fn main() {
        let cases: [(&str, Case); 5] = [
            (
                "inherited_idle_thread_pool_runs_the_job_and_reports_closed_in_a_forked_child",
                inherited_idle_thread_pool_runs_the_job_and_reports_closed_in_a_forked_child,
            ),
            (
                "rayon_global_made_in_a_forked_child_hangs_its_wait",
                rayon_global_made_in_a_forked_child_hangs_its_wait,
            ),
            (
                "thread_bound_value_in_a_forked_child_refuses_calls_and_fails_waits_fast",
                thread_bound_value_in_a_forked_child_refuses_calls_and_fails_waits_fast,
            ),
            (
                "bridge_shut_down_in_a_forked_child_writes_nothing_on_the_parents_loop_stack",
                bridge_shut_down_in_a_forked_child_writes_nothing_on_the_parents_loop_stack,
            ),
            (
                "scope_closed_in_a_forked_child_waits_for_no_job_left_in_the_parent",
                scope_closed_in_a_forked_child_waits_for_no_job_left_in_the_parent,
            ),
        ];
        let mut failed = 0;
        for (name, case) in cases {
            match case() {
                Ok(()) => println!("test {name} ... ok"),
                Err(why) => {
                    failed += 1;
                    println!(
                        "test {name} ... FAILED\n    {}",
                        why.replace('\n', "\n    ")
                    );
                }
            }
        }
        println!(
            "fork_hardening: {} passed, {failed} failed",
            cases.len() - failed
        );
        if failed > 0 {
            std::process::exit(1);
        }
    }

    fn inherited_idle_thread_pool_runs_the_job_and_reports_closed_in_a_forked_child(
    ) -> Result<(), String> {
        // Broke: a pool with no worker at the fork starts one of the child's own for a
        // job submitted in the child, and runs it; but the completion, made for the
        // parent's pool, told the child's `wait()` that the job never runs there, and
        // returned `Closed` at once: the side effect happened and was reported undone.
        // Either answer is fine (refused without running, or run and its value
        // reported); both at once is not.
        let pool = ThreadPool::new(2).expect("pool");
        // No job has run on it: it has no worker to leave behind in the parent.
        assert_eq!(pool.stats().workers, 0);
        let output = in_child(WAIT * 2, |pipe| {
            let side_effect = pipe.clone();
            let result = pool
                .submit(move || {
                    side_effect.say("side effect");
                    7
                })
                .wait();
            pipe.say(&match &result {
                Ok(value) => format!("result: Ok({value})"),
                Err(error) => format!("result: Err({error})"),
            });
            // Once nothing is queued and no worker holds a job, the closure has either
            // run to its end (its side effect is in the pipe) or never will.
            let idle = eventually(|| {
                let stats = pool.stats();
                stats.queued == 0 && stats.workers == stats.idle_workers
            });
            pipe.say(&format!("pool idle: {idle} ({:?})", pool.stats()));
            let report = pool.shutdown(WAIT);
            pipe.say(&format!("shutdown: {report}"));
        })?;
        let ran = output.lines().any(|line| line == "side effect");
        let result = output
            .lines()
            .find(|line| line.starts_with("result: "))
            .ok_or_else(|| format!("the child reported no result:\n{output}"))?;
        match (result.starts_with("result: Ok("), ran) {
            (true, true) | (false, false) => Ok(()),
            (false, true) => Err(format!(
                "the job's closure ran in the child (its side effect happened), but `wait()` \
                 gave {}:\n{output}",
                &result["result: ".len()..]
            )),
            (true, false) => Err(format!(
                "`wait()` gave a value, but the closure never ran:\n{output}"
            )),
        }
    }

    fn rayon_global_made_in_a_forked_child_hangs_its_wait() -> Result<(), String> {
        // Broke: a `RayonPool::global()` made in the child belongs to the child's fork
        // generation, so it handed the job to rayon's global pool, whose threads stayed
        // in the parent: the job never ran and `wait()` never returned. It must return,
        // with the value (rayon work done in the child) or an error saying why not.
        let parent = RayonPool::global();
        // rayon's global pool is started and has run a job when the fork happens.
        assert_eq!(parent.submit(|| 1).wait().expect("rayon in the parent"), 1);
        let output = in_child(WAIT, |pipe| {
            let result = RayonPool::global().submit(|| 2).wait();
            pipe.say(&format!("result: {result:?}"));
        })?;
        if !output.lines().any(|line| line.starts_with("result: ")) {
            return Err(format!("the child reported no result:\n{output}"));
        }
        // The parent's rayon pool is untouched by the child.
        assert_eq!(parent.submit(|| 3).wait().expect("rayon in the parent"), 3);
        Ok(())
    }

    fn thread_bound_value_in_a_forked_child_refuses_calls_and_fails_waits_fast(
    ) -> Result<(), String> {
        // The owning thread stays in the parent: in the child a new call must be refused
        // with `Forked` (it would never run), a wait on a call queued before the fork
        // must give up at once, and dropping the handle must not wait for a thread that
        // is not there.
        let bound = ThreadBound::spawn("forked", || Ok::<_, ()>(1u32)).map_err(|_| "spawn")?;
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = bound.call(move |_| {
            started_tx.send(()).unwrap();
            let _ = held.recv();
        });
        started.recv_timeout(WAIT).map_err(|e| e.to_string())?;
        let queued = bound.call(|n| *n);
        let in_the_child = bound.clone();
        let output = in_child(WAIT, move |pipe| {
            let bound = in_the_child;
            let refused = bound.call(|n| *n).wait();
            pipe.say(&format!("call: {}", refused.is_err_and(|e| e.is_forked())));
            pipe.say(&format!(
                "queued: {}",
                queued.wait().is_err_and(|e| e.is_forked())
            ));
            let started = Instant::now();
            drop(bound);
            pipe.say(&format!("dropped in {:?}", started.elapsed()));
        })?;
        release.send(()).map_err(|e| e.to_string())?;
        busy.wait().map_err(|e| e.to_string())?;
        // The parent's value is untouched by the child.
        if !matches!(bound.call(|n| *n).wait(), Ok(1)) {
            return Err("the parent's value stopped serving".to_owned());
        }
        for line in ["call: true", "queued: true"] {
            if !output.lines().any(|said| said == line) {
                return Err(format!("the child did not say {line:?}:\n{output}"));
            }
        }
        if !output.lines().any(|said| said.starts_with("dropped in")) {
            return Err(format!("the child's drop never returned:\n{output}"));
        }
        Ok(())
    }

    fn bridge_shut_down_in_a_forked_child_writes_nothing_on_the_parents_loop_stack(
    ) -> Result<(), String> {
        // Broke: the child's shutdown (and the bridge's drop) woke the loop's stop
        // waiter, linked from the parent's loop thread's stack. That thread does not
        // exist in the child and its stack's memory is reused by the child's threads:
        // a write through a dangling pointer, then a call through a garbage waker.
        let bridge = loopbridge::Bridge::new().map_err(|e| e.to_string())?;
        let handle = bridge.handle();
        handle
            .submit(async { 1 })
            .wait()
            .map_err(|e| e.to_string())?;
        let scoped = handle.scope("plugin");
        let output = in_child(WAIT, move |pipe| {
            // The child's own threads reuse the memory where the parent's threads had
            // their stacks.
            let scribblers: Vec<_> = (0..4)
                .map(|_| {
                    std::thread::spawn(|| {
                        std::hint::black_box([0xA5u8; 256 * 1024]);
                    })
                })
                .collect();
            for scribbler in scribblers {
                scribbler.join().unwrap();
            }
            let refused = handle.submit(async { 2 }).wait();
            pipe.say(&format!(
                "submit: {}",
                refused.is_err_and(|e| e.is_forked())
            ));
            let closed = scoped.close(WAIT);
            pipe.say(&format!("scope: {closed}"));
            let report = bridge.shutdown(WAIT);
            pipe.say(&format!(
                "shutdown: left behind {}",
                report.loop_left_behind
            ));
            drop(handle);
            pipe.say("dropped");
        })?;
        for line in ["submit: true", "shutdown: left behind true", "dropped"] {
            if !output.lines().any(|said| said == line) {
                return Err(format!("the child did not say {line:?}:\n{output}"));
            }
        }
        Ok(())
    }

    fn scope_closed_in_a_forked_child_waits_for_no_job_left_in_the_parent() -> Result<(), String> {
        // Broke: the child's close waited its whole timeout for a pool job whose thread
        // is in the parent (it never stops in the child), then reported it stuck.
        let bridge = loopbridge::Bridge::new().map_err(|e| e.to_string())?;
        let scope = bridge.handle().scope("plugin");
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let running = scope.handle().run_in_executor(move || {
            started_tx.send(()).unwrap();
            let _ = held.recv();
        });
        started.recv_timeout(WAIT).map_err(|e| e.to_string())?;
        let output = in_child(WAIT, move |pipe| {
            // Far longer than the child may take: only a close that does not wait returns.
            let report = scope.close(Duration::from_secs(3600));
            pipe.say(&format!("stuck: {}", report.stuck.len()));
        })?;
        // The parent's copy of the scope went with the closure: its job is cut off here.
        release.send(()).map_err(|e| e.to_string())?;
        let _ = running.wait();
        if !output.lines().any(|said| said == "stuck: 1") {
            return Err(format!("the child did not name the stuck job:\n{output}"));
        }
        Ok(())
    }

    /// Polls `cond` until it holds (`true`) or [`WAIT`] passes (`false`).
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // The condition is what synchronizes; the pause only spares the CPU.
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }

    /// The write end of the pipe a child reports through.
    #[derive(Clone)]
    struct Pipe(libc::c_int);

    impl Pipe {
        /// Writes one line (a single `write` of less than a pipe buffer is atomic).
        fn say(&self, line: &str) {
            let line = format!("{line}\n");
            // SAFETY: writes from a valid buffer of the given length to an open fd.
            let _ = unsafe { libc::write(self.0, line.as_ptr().cast(), line.len()) };
        }
    }

    /// Forks; the child runs `child` (which reports through the pipe) and exits. Returns
    /// what the child wrote, once it has exited; an error if it did not exit within
    /// `limit` (it is killed) or did not exit normally.
    fn in_child(limit: Duration, child: impl FnOnce(&Pipe)) -> Result<String, String> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe failed");
        let (read_end, write_end) = (fds[0], fds[1]);
        // SAFETY: `fork` has no preconditions; the child runs only `child` and leaves
        // with `_exit`, skipping destructors that belong to the parent's threads.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: closes the child's copy of the read end, which it does not use.
            unsafe { libc::close(read_end) };
            let pipe = Pipe(write_end);
            let code = match catch_unwind(AssertUnwindSafe(|| child(&pipe))) {
                Ok(()) => 0,
                Err(_) => {
                    pipe.say("the child panicked");
                    1
                }
            };
            // SAFETY: ends the child at once; nothing of it is needed after this.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: the parent's copy of the write end: closed, so that the read end sees
        // the end of the file once the child (the only writer left) has exited.
        unsafe { libc::close(write_end) };
        let (output, finished) = read_until_closed(read_end, Instant::now() + limit);
        // SAFETY: closes the parent's read end, which nothing else uses.
        unsafe { libc::close(read_end) };
        if !finished {
            // SAFETY: `pid` is our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: `status` is a valid place for the child's status; `pid` is our child.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid, "waitpid failed");
        if !finished {
            return Err(format!(
                "the forked child did not finish within {limit:?} and was killed; it had \
                 written:\n{output}"
            ));
        }
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!(
                "the forked child failed (status {status:#x}); it had written:\n{output}"
            ));
        }
        Ok(output)
    }

    /// Reads `fd` until every writer has closed it (`true`) or `deadline` passes
    /// (`false`). Waits in `poll(2)`, woken by the child's writes and by its exit.
    fn read_until_closed(fd: libc::c_int, deadline: Instant) -> (String, bool) {
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (String::from_utf8_lossy(&output).into_owned(), false);
            }
            let mut poll_fd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let timeout = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid `pollfd`.
            let ready = unsafe { libc::poll(&mut poll_fd, 1, timeout) };
            if ready <= 0 {
                continue; // timed out (checked above) or interrupted
            }
            let mut buffer = [0u8; 4096];
            // SAFETY: reads into a valid buffer of the given length.
            let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            match read {
                0 => return (String::from_utf8_lossy(&output).into_owned(), true),
                n if n > 0 => output.extend_from_slice(&buffer[..n as usize]),
                _ => {} // interrupted: read again
            }
        }
    }
}

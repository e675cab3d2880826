//! The patterns loopbridge replaces, each with its runtime on a thread of its own like a
//! bridge's loop:
//!
//! - [`RawLoop`]: a tokio current-thread runtime parked on its own thread; callers use
//!   `Handle::spawn` and a blocking wait on the `JoinHandle`.
//! - [`ReqwestLoop`]: the `reqwest::blocking` client's design: the runtime thread receives
//!   jobs over an unbounded mpsc channel and spawns each, and the job replies through a
//!   oneshot channel that the caller waits on by parking its thread.
//! - [`Actor`]: the hand-written actor that `ThreadBound` replaces: a thread that owns a
//!   value and runs boxed closures from a crossbeam channel, each replying through a
//!   tokio oneshot the caller waits on (`blocking_recv`).
//! - [`PingPong`]: no peer but the floor under every round trip between two threads: a
//!   number handed back and forth through two cache lines by threads that both
//!   busy-spin.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A tokio current-thread runtime parked on its own thread.
pub struct RawLoop {
    pub handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawLoop {
    pub fn start() -> RawLoop {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("raw-loop".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .expect("raw loop thread");
        RawLoop {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `fut` on the loop: `Handle::spawn`.
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Blocks the calling thread until the task is done.
    pub fn wait<T>(&self, join: JoinHandle<T>) -> T {
        self.handle.block_on(join).expect("raw task")
    }

    /// One sync → loop round trip: spawn, then a blocking wait on the `JoinHandle`.
    pub fn round_trip<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.wait(self.spawn(fut))
    }
}

impl Drop for RawLoop {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        let _ = self.thread.take().map(thread::JoinHandle::join);
    }
}

/// A job for the [`ReqwestLoop`]: reqwest sends a request; here, any future.
type Job = Pin<Box<dyn Future<Output = u64> + Send>>;

/// The `reqwest::blocking` design: a runtime thread serving jobs from an mpsc channel.
pub struct ReqwestLoop {
    jobs: Option<mpsc::UnboundedSender<(Job, oneshot::Sender<u64>)>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ReqwestLoop {
    pub fn start() -> ReqwestLoop {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (jobs, mut inbox) = mpsc::unbounded_channel::<(Job, oneshot::Sender<u64>)>();
        let thread = thread::Builder::new()
            .name("reqwest-pattern".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // As reqwest's client thread: every request becomes a task that
                    // forwards its result to the waiting caller.
                    while let Some((job, reply)) = inbox.recv().await {
                        tokio::spawn(async move {
                            let _ = reply.send(job.await);
                        });
                    }
                });
            })
            .expect("reqwest-pattern thread");
        ReqwestLoop {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Sends `fut` to the loop; its result arrives on the returned receiver.
    pub fn submit(
        &self,
        fut: impl Future<Output = u64> + Send + 'static,
    ) -> oneshot::Receiver<u64> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .as_ref()
            .expect("running")
            .send((Box::pin(fut), reply))
            .expect("the loop thread is running");
        result
    }

    /// One sync → loop round trip.
    pub fn round_trip(&self, fut: impl Future<Output = u64> + Send + 'static) -> u64 {
        wait(self.submit(fut))
    }
}

impl Drop for ReqwestLoop {
    fn drop(&mut self) {
        // Closing the channel ends the loop thread's receive loop, and with it the runtime.
        drop(self.jobs.take());
        let _ = self.thread.take().map(thread::JoinHandle::join);
    }
}

/// reqwest's blocking wait (`blocking::wait::timeout` without a deadline): poll the
/// receiver with a waker that unparks this thread, and park between polls.
pub fn wait(result: oneshot::Receiver<u64>) -> u64 {
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut result = pin!(result);
    loop {
        match result.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value.expect("the job replies"),
            Poll::Pending => thread::park(),
        }
    }
}

/// A call to the actor: a boxed closure on its value.
type ActorCall = Box<dyn FnOnce(&mut u64) + Send>;

/// A thread that owns a `u64` and runs the closures sent to it, one at a time.
pub struct Actor {
    calls: Option<crossbeam_channel::Sender<ActorCall>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Actor {
    pub fn start() -> Actor {
        let (calls, inbox) = crossbeam_channel::unbounded::<ActorCall>();
        let thread = thread::Builder::new()
            .name("bench-actor".into())
            .spawn(move || {
                let mut value = 1u64;
                for call in inbox {
                    call(&mut value);
                }
            })
            .expect("actor thread");
        Actor {
            calls: Some(calls),
            thread: Some(thread),
        }
    }

    /// Runs `f` on the actor's value and waits for its result.
    pub fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut u64) -> R + Send + 'static) -> R {
        let (reply, result) = oneshot::channel();
        let call: ActorCall = Box::new(move |value| {
            let _ = reply.send(f(value));
        });
        self.calls
            .as_ref()
            .expect("running")
            .send(call)
            .expect("the actor runs");
        result.blocking_recv().expect("the actor replies")
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        drop(self.calls.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A value alone on its own cache lines (two, as adjacent-line prefetching pairs them).
#[repr(align(128))]
#[derive(Default)]
struct Line(AtomicU64);

/// What the two sides of a [`PingPong`] share.
#[derive(Default)]
struct Court {
    /// The last number the caller sent.
    ball: Line,
    /// The last number the server sent back.
    returned: Line,
    /// The server spins while this is set and parks otherwise, so it takes no CPU from
    /// the other cases between its own batches.
    serving: AtomicBool,
    stop: AtomicBool,
}

/// The floor of a round trip between two threads: the caller writes a number to one
/// cache line and spins until a server thread, spinning on that line, writes it back on
/// another. Nothing a bridge does between two threads can be faster.
pub struct PingPong {
    court: Arc<Court>,
    server: Thread,
    /// The server's kernel thread id, for pinning it like a loop thread.
    pub thread_id: Option<u32>,
    thread: Option<thread::JoinHandle<()>>,
    sent: u64,
}

impl PingPong {
    pub fn start() -> PingPong {
        let court = Arc::new(Court::default());
        let (id_tx, id_rx) = std_mpsc::channel();
        let thread = {
            let court = court.clone();
            thread::Builder::new()
                .name("ping-pong".into())
                .spawn(move || {
                    let _ = id_tx.send(super::placement::current_thread_id());
                    serve(&court);
                })
                .expect("ping-pong thread")
        };
        PingPong {
            court,
            server: thread.thread().clone(),
            thread_id: id_rx.recv().ok().flatten(),
            thread: Some(thread),
            sent: 0,
        }
    }

    /// `rounds` round trips back to back, with the server spinning throughout.
    pub fn rally(&mut self, rounds: u64) {
        let court = &*self.court;
        court.serving.store(true, Ordering::SeqCst);
        self.server.unpark();
        for _ in 0..rounds {
            self.sent += 1;
            court.ball.0.store(self.sent, Ordering::Release);
            while court.returned.0.load(Ordering::Acquire) != self.sent {
                std::hint::spin_loop();
            }
        }
        court.serving.store(false, Ordering::SeqCst);
    }
}

/// The server's side: returns every number it sees while serving, parks otherwise.
fn serve(court: &Court) {
    let mut seen = 0;
    loop {
        while !court.serving.load(Ordering::SeqCst) {
            if court.stop.load(Ordering::SeqCst) {
                return;
            }
            // A park between the look and an unpark returns at once (the token).
            thread::park();
        }
        while court.serving.load(Ordering::Relaxed) {
            let ball = court.ball.0.load(Ordering::Acquire);
            if ball != seen {
                seen = ball;
                court.returned.0.store(ball, Ordering::Release);
            }
            std::hint::spin_loop();
        }
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        self.court.stop.store(true, Ordering::SeqCst);
        self.server.unpark();
        let _ = self.thread.take().map(thread::JoinHandle::join);
    }
}

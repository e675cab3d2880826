//! The mailbox of a [`ThreadBound`](crate::ThreadBound): callers count a call in and send
//! it, the owning thread takes calls out one at a time, and `close` refuses the rest
//! without stranding one. Written against [`crate::sync`], so the loom models in
//! `loom-tests/thread_bound.rs` explore it.
//!
//! One atomic word holds the state: bit 0 is `CLOSED` (set once, never cleared), the rest
//! counts the calls pushed and not yet taken out of the channel.
//!
//! | step               | change         | when                                              |
//! |--------------------|----------------|---------------------------------------------------|
//! | `push`             | `queued + 1`   | not `CLOSED` (a compare-and-swap), then the send   |
//! | the thread takes   | `queued - 1`   | after the receive; the call runs, or is refused if `CLOSED` was set |
//! | `close` takes      | `queued - 1`   | after the receive; the call is refused             |
//! | `close`            | sets `CLOSED`  | then drains until `queued == 0`, then (first close only) sends `Stop` |
//!
//! Invariants: a call counted in `queued` is in the channel or about to be (its pusher
//! sends it right after counting it, without blocking). So once `close` has set `CLOSED`
//! and then seen `queued == 0`, every call is in someone's hands and none is left in the
//! channel: the `Stop` it sends is the last message, and the thread, which blocks on the
//! channel, is woken by it after the call it is running (no lost wake-up, no call left
//! behind the stop).

use std::sync::atomic::Ordering;

use crate::sync::{spin_wait, AtomicU64, Channel};

const CLOSED: u64 = 1;
const ONE: u64 = 2;

enum Msg<J> {
    Call(J),
    /// Sent once by the first `close`, after the drain: the thread exits.
    Stop,
}

/// What the owning thread does next, from [`Mailbox::next`].
pub(crate) enum Next<J> {
    /// Run this call.
    Run(J),
    /// The mailbox closed after this call was pushed: refuse it with `Closed`, unrun.
    Close(J),
    /// Drop the value and exit.
    Exit,
}

pub(crate) struct Mailbox<J> {
    state: AtomicU64,
    channel: Channel<Msg<J>>,
}

// ORDERING: AcqRel/Acquire on `state`, as the pool's queue (src/pool/queue.rs): the calls
// travel through the channel, which synchronizes them; the word's read-modify-writes are
// totally ordered whatever their ordering, so a push either sees `CLOSED` or is counted
// before `close` sets it, and `close` then waits for that count to drain.
impl<J> Mailbox<J> {
    pub(crate) fn new() -> Mailbox<J> {
        Mailbox {
            state: AtomicU64::new(0),
            channel: Channel::new(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: a fast refusal or a report; `push` makes the exact check.
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Calls pushed and not yet taken out.
    pub(crate) fn queued(&self) -> usize {
        // ORDERING: a report; see `impl Mailbox`.
        usize::try_from(self.state.load(Ordering::Acquire) >> 1).unwrap_or(usize::MAX)
    }

    /// Counts `call` in and sends it, or hands it back if the mailbox is closed.
    pub(crate) fn push(&self, call: J) -> Result<(), J> {
        // ORDERING: the decision is a compare-and-swap of the word; see `impl Mailbox`.
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                return Err(call);
            }
            match self.state.compare_exchange_weak(
                current,
                current + ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        self.channel.send(Msg::Call(call));
        Ok(())
    }

    /// Waits for the owning thread's next step.
    pub(crate) fn next(&self) -> Next<J> {
        loop {
            match self.channel.recv() {
                Some(Msg::Call(call)) => {
                    // ORDERING: counted out only after it was taken; see `impl Mailbox`.
                    let before = self.state.fetch_sub(ONE, Ordering::AcqRel);
                    return if before & CLOSED != 0 {
                        Next::Close(call)
                    } else {
                        Next::Run(call)
                    };
                }
                Some(Msg::Stop) => return Next::Exit,
                // The channel never disconnects: `recv` always returns a message.
                None => {}
            }
        }
    }

    /// Closes the mailbox: later pushes are refused, every call still queued is handed
    /// to `unrun` (on this thread), and the owning thread is told to exit once it is done
    /// with the call it runs. Returns `false` if it was closed already (a second close
    /// still drains what a racing pusher counted in).
    pub(crate) fn close(&self, mut unrun: impl FnMut(J)) -> bool {
        // ORDERING: the flag is set before the drain below looks; see `impl Mailbox`.
        let before = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut stops = 0;
        loop {
            match self.channel.try_recv() {
                Some(Msg::Call(call)) => {
                    // ORDERING: counted out only after it was taken; see `impl Mailbox`.
                    self.state.fetch_sub(ONE, Ordering::AcqRel);
                    unrun(call);
                }
                // The first close's stop, taken by a later close: passed on below.
                Some(Msg::Stop) => stops += 1,
                None if self.queued() == 0 => break,
                // A pusher counted its call in before the flag and is about to send it,
                // or the thread took one and is about to count it out: neither blocks.
                None => spin_wait(),
            }
        }
        let first = before & CLOSED == 0;
        if first {
            stops += 1;
        }
        for _ in 0..stops {
            self.channel.send(Msg::Stop);
        }
        first
    }
}

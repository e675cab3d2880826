//! loom models of a thread-bound value's mailbox (`src/thread_bound/mailbox.rs`, through
//! `__loom::thread_bound::MailboxModel`): callers push, a shutdown closes, and a loom
//! thread stands in for the owning thread, which blocks on the mailbox until it is told
//! to exit. Each model targets one race and asserts what must hold in every
//! interleaving.

use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::thread_bound::{MailboxModel, Step};

/// The owning thread's life: every call it takes out, run or refused, until it exits.
fn serve(mailbox: &MailboxModel) -> (Vec<u32>, Vec<u32>) {
    let (mut ran, mut refused) = (Vec::new(), Vec::new());
    loop {
        match mailbox.next() {
            Step::Run(call) => ran.push(call),
            Step::Refuse(call) => refused.push(call),
            Step::Exit => return (ran, refused),
        }
    }
}

/// A call pushed while a shutdown closes the mailbox: it is refused at the push, or
/// taken out exactly once (run by the owning thread, or refused by it or by the close);
/// and the owning thread is woken to exit after it (no call is left behind the stop,
/// no wake-up lost). Mutation checked: a close that stops draining at the first empty
/// look (without waiting for counted-in calls to arrive) fails here: the late call
/// arrives after the stop and is never taken out.
#[test]
fn a_call_racing_the_close_is_taken_out_exactly_once_and_the_thread_exits() {
    loom::model(|| {
        let mailbox = Arc::new(MailboxModel::new());
        assert!(mailbox.push(1), "an open mailbox takes a call");
        let pusher = {
            let mailbox = mailbox.clone();
            thread::spawn(move || mailbox.push(2))
        };
        let closer = {
            let mailbox = mailbox.clone();
            thread::spawn(move || mailbox.close())
        };
        let (ran, refused_by_thread) = serve(&mailbox);
        let accepted = pusher.join().unwrap();
        let (refused_by_close, first) = closer.join().unwrap();
        assert!(first, "the only close is the first");

        let mut handled: Vec<u32> = ran
            .iter()
            .chain(&refused_by_thread)
            .chain(&refused_by_close)
            .copied()
            .collect();
        handled.sort_unstable();
        let expected: Vec<u32> = if accepted { vec![1, 2] } else { vec![1] };
        assert_eq!(
            handled, expected,
            "each accepted call is taken out exactly once (ran {ran:?}, refused by the \
             thread {refused_by_thread:?}, by the close {refused_by_close:?})"
        );
        // FIFO: the thread runs calls in the order they were pushed.
        assert!(
            ran.windows(2).all(|pair| pair[0] < pair[1]),
            "ran out of order: {ran:?}"
        );
        assert!(!mailbox.push(3), "a closed mailbox refuses");
    });
}

/// Two shutdowns (two handles) close at once while the owning thread waits: exactly one
/// is the first, and the thread is woken by exactly one stop (the second close may take
/// the first's stop out of the channel, and must pass it on).
#[test]
fn two_closes_racing_stop_the_thread_once() {
    loom::model(|| {
        let mailbox = Arc::new(MailboxModel::new());
        let closers: Vec<_> = (0..2)
            .map(|_| {
                let mailbox = mailbox.clone();
                thread::spawn(move || mailbox.close())
            })
            .collect();
        let (ran, refused_by_thread) = serve(&mailbox);
        let closes: Vec<_> = closers.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(
            closes.iter().filter(|(_, first)| *first).count(),
            1,
            "exactly one close is the first"
        );
        assert!(ran.is_empty() && refused_by_thread.is_empty());
        assert!(closes.iter().all(|(refused, _)| refused.is_empty()));
    });
}

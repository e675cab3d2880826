//! A thread-bound value's mailbox for the loom models in `loom-tests/thread_bound.rs`:
//! the real push, take and close, with a loom thread as the owning thread and numbers
//! standing in for calls.

use crate::thread_bound::{Mailbox, Next};

/// What the owning thread does next (mirrors the crate's own `Next`).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Run this call.
    Run(u32),
    /// Refuse this call: the mailbox closed after it was pushed.
    Refuse(u32),
    /// Drop the value and exit.
    Exit,
}

/// A `ThreadBound`'s mailbox, without the thread or the value.
pub struct MailboxModel {
    mailbox: Mailbox<u32>,
}

impl Default for MailboxModel {
    fn default() -> MailboxModel {
        MailboxModel::new()
    }
}

impl MailboxModel {
    /// An open, empty mailbox.
    pub fn new() -> MailboxModel {
        MailboxModel {
            mailbox: Mailbox::new(),
        }
    }

    /// Queues `call` as `ThreadBound::call` does; `false` if the mailbox refused it.
    pub fn push(&self, call: u32) -> bool {
        self.mailbox.push(call).is_ok()
    }

    /// The owning thread's next step (waits for one).
    pub fn next(&self) -> Step {
        match self.mailbox.next() {
            Next::Run(call) => Step::Run(call),
            Next::Close(call) => Step::Refuse(call),
            Next::Exit => Step::Exit,
        }
    }

    /// Closes the mailbox as a shutdown does: returns the calls it refused and whether
    /// it was the first close.
    pub fn close(&self) -> (Vec<u32>, bool) {
        let mut refused = Vec::new();
        let first = self.mailbox.close(|call| refused.push(call));
        (refused, first)
    }
}

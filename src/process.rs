//! Fork awareness. A forked child inherits a bridge's or a pool's memory but none of its
//! threads: a job handed to them there never runs. Each job records the process whose
//! threads will run it, and a wait that is about to block checks it, so the child gets
//! `Error::Closed` at once instead of waiting forever.

use std::sync::Once;

use crate::error::Site;

/// The calling process's id (a system call: for set-up and slow paths only).
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// `true` when `owner` (a process id recorded when the executor started; zero when not
/// recorded) is not this process: the executor's threads were left behind in a fork.
pub(crate) fn forked_away(owner: u32, site: &Site) -> bool {
    if owner == 0 || owner == current_pid() {
        return false;
    }
    static REPORTED: Once = Once::new();
    REPORTED.call_once(|| {
        tracing::error!(
            target: "loopbridge",
            site = %site,
            "waiting on a job of a bridge or pool started in process {owner}, but this is process {} \
             (a forked child): its threads do not exist here; start a new bridge or pool in the child",
            current_pid()
        );
    });
    true
}

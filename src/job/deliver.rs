//! The one way a job's own result reaches its slot, for loop jobs and pool jobs alike:
//! counted first (so a reader woken by the result finds the job counted), then
//! offered; a cancel that won the race turns the count into a cancellation.

use crate::error::Error;
use crate::slot::Resolved;

use super::cell::JobCell;
use super::tally::Tally;

/// Delivers what a job produced: its value, or the message of its panic.
pub(crate) fn deliver<T>(cell: &JobCell<T>, produced: Result<T, String>, tally: Option<&Tally>) {
    let count = |pick: fn(&Tally) -> &std::sync::atomic::AtomicU64| {
        if let Some(tally) = tally {
            Tally::bump(pick(tally));
        }
    };
    match produced {
        Ok(value) => {
            count(|tally| &tally.finished);
            if let Resolved::AlreadyResolved = cell.resolve(Ok(value)) {
                // A cancel won the race: the value was dropped, so count it cancelled.
                if let Some(tally) = tally {
                    Tally::unbump(&tally.finished);
                    Tally::bump(&tally.cancelled);
                }
            }
        }
        Err(message) => {
            count(|tally| &tally.panicked);
            let site = cell.record.site.clone();
            let panicked = Error::Panicked {
                message: message.clone(),
                site: site.clone(),
            };
            if let Resolved::AlreadyResolved = cell.resolve(Err(panicked)) {
                tracing::debug!(target: "loopbridge", site = %site, "cancelled job panicked: {message}");
            }
        }
    }
}

//! The one way a job's own result reaches its slot, for loop jobs and pool jobs alike:
//! counted first (so a reader woken by the result finds the job counted), then
//! offered; a cancel that won the race turns the count into a cancellation.

use crate::error::Error;
use crate::slot::Resolved;

use super::cell::JobCell;
use super::tally::{Ended, Tally};

/// Delivers what a job produced: its value, or the message of its panic. Counted in
/// `tally` (if given) unless another side counted the job already.
pub(crate) fn deliver<T, B: ?Sized>(
    cell: &JobCell<T, B>,
    produced: Result<T, String>,
    tally: Option<&Tally>,
) {
    let record = &cell.record;
    match produced {
        Ok(value) if cell.slot.is_resolved() => {
            // A cancel (or a cut-off) came first: the value is dropped unread. Counted
            // before it is dropped, since its destructor may panic.
            if let Some(tally) = tally {
                tally.end(record, Ended::Cancelled);
            }
            drop(value);
        }
        Ok(value) => {
            let counted = tally.is_some_and(|tally| tally.end(record, Ended::Finished));
            if let Err(refused) = cell.slot.offer(Ok(value)) {
                // A cancel won the race after the look above: the value is dropped
                // unread, recounted first (its destructor may panic).
                if let (true, Some(tally)) = (counted, tally) {
                    tally.finished_was_cancelled(record);
                }
                drop(refused);
            }
        }
        Err(message) => {
            if let Some(tally) = tally {
                tally.end(record, Ended::Panicked);
            }
            let site = record.site.clone();
            let panicked = Error::Panicked {
                message: message.clone(),
                site: site.clone(),
            };
            if let Resolved::AlreadyResolved = cell.resolve(Err(panicked)) {
                tracing::debug!(
                    target: "loopbridge::cancelled_panic",
                    site = %site.location(),
                    name = site.name(),
                    scope = site.scope(),
                    panic = %message,
                    "job {site} panicked after it was cancelled: {message}"
                );
            }
        }
    }
}

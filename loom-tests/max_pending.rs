//! loom models of `BridgeBuilder::max_pending`: the loop's pending jobs hold units of the
//! loop's room, taken at registration and given back when the job leaves the registry.
//! The property: after every race, exactly the bound is free again, neither a unit lost
//! (the loop would refuse forever) nor one made (the bound would leak).

use std::task::Poll;

use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::dispatch::{DispatchModel, Submitter};

fn submit_ready(submitter: &Submitter) -> Result<loopbridge::Completion<()>, loopbridge::Error> {
    submitter.try_submit(None, |_| Poll::Ready(()), || {})
}

/// With the loop's one place free again, exactly one more job is admitted.
fn assert_one_place(model: &mut DispatchModel) {
    let submitter = model.submitter();
    let held = submit_ready(&submitter).expect("a place was lost");
    let refused = submit_ready(&submitter).unwrap_err();
    assert!(refused.is_queue_full(), "a place was made: {refused}");
    model.run_until(|| held.is_done() && submitter.live_jobs() == 0);
}

/// A submission racing the end of the job that holds the only place: it is refused with
/// `QueueFull` or admitted after the end, and the place is counted once either way.
#[test]
fn a_submission_racing_the_end_of_the_pending_job_keeps_the_count() {
    loom::model(|| {
        let mut model = DispatchModel::with_max_pending(1);
        let submitter = model.submitter();
        let first = submit_ready(&submitter).unwrap();
        let racer = {
            let submitter = submitter.clone();
            thread::spawn(move || submit_ready(&submitter))
        };
        // The racer's job, if admitted, is seen by the dispatcher after this or run below.
        model.run_until(|| first.is_done());
        let second = racer.join().unwrap();
        match &second {
            Ok(job) => model.run_until(|| job.is_done() && submitter.live_jobs() == 0),
            Err(error) => assert!(error.is_queue_full(), "{error}"),
        }
        model.run_until(|| submitter.live_jobs() == 0);
        assert_one_place(&mut model);
    });
}

/// A cancel racing the job's own end: the job leaves the registry once, and gives its
/// place back once.
#[test]
fn a_cancel_racing_the_end_gives_the_place_back_once() {
    loom::model(|| {
        let mut model = DispatchModel::with_max_pending(1);
        let submitter = model.submitter();
        let job = submit_ready(&submitter).unwrap();
        let job = Arc::new(job);
        let canceller = {
            let job = job.clone();
            thread::spawn(move || {
                job.cancel();
            })
        };
        model.run_until(|| job.is_done());
        canceller.join().unwrap();
        model.run_until(|| submitter.live_jobs() == 0);
        assert_one_place(&mut model);
    });
}

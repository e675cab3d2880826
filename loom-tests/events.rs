//! loom models of a threadsafe function's bounded queue (`Handle::threadsafe_fn`): the
//! real room and run queue, with loom threads as callers and the model's thread as the
//! drain job. The property: an event whose call returned `Ok` is run exactly once (it is
//! in a batch the drain job took, or among those the close hands back), and an event
//! whose call was refused never is.

use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::events::EventsModel;
use loopbridge::__loom::pool::Acquired;

/// Calls racing the close: nothing accepted is lost, nothing refused appears.
#[test]
fn an_accepted_call_is_never_lost_to_a_racing_close() {
    loom::model(|| {
        let events = Arc::new(EventsModel::new(2));
        let caller = {
            let events = events.clone();
            thread::spawn(move || {
                [1, 2]
                    .into_iter()
                    .filter(|&event| events.try_call(event) == Acquired::Unit)
                    .collect::<Vec<u32>>()
            })
        };
        let mut run: Vec<u32> = events.take().into_iter().collect();
        events.ran(run.len());
        run.extend(events.close());
        let accepted = caller.join().unwrap();
        assert_eq!(run, accepted, "accepted {accepted:?}, run {run:?}");
    });
}

/// A blocking caller waiting for room, racing the drain job's release and the close:
/// it gets the unit (and its event runs) or is refused (and it does not).
#[test]
fn a_waiting_caller_is_handed_the_room_or_refused_never_both() {
    loom::model(|| {
        let events = Arc::new(EventsModel::new(1));
        assert_eq!(events.try_call(0), Acquired::Unit);
        let caller = {
            let events = events.clone();
            thread::spawn(move || events.call_until(1))
        };
        let first = events.take();
        events.ran(first.len());
        let mut run: Vec<u32> = first.into_iter().collect();
        run.extend(events.close());
        let got = caller.join().unwrap();
        match got {
            Acquired::Unit => assert_eq!(run, [0, 1]),
            Acquired::Full | Acquired::Closed => assert_eq!(run, [0]),
        }
        assert!(events.close().is_empty(), "closed twice hands back nothing");
    });
}

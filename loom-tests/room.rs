//! loom models of a bounded pool queue's room (`ThreadPoolBuilder::queue_capacity`): the
//! real semaphore, with loom threads as submitters that wait for room. Each model checks
//! that units are neither lost nor made: after the race, exactly the capacity is free.

use std::future::poll_fn;

use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::pool::{Acquired, RoomModel};

/// After everything is given back, exactly one unit of a capacity-1 room is free.
fn assert_one_unit(room: &RoomModel) {
    assert_eq!(room.try_acquire(), Acquired::Unit, "a unit was lost");
    assert_eq!(room.try_acquire(), Acquired::Full, "a unit was made");
}

/// A release racing a blocking waiter that times out: the unit is either handed to the
/// waiter (which then gives it back) or stays free; never lost with the waiter.
#[test]
fn a_release_racing_a_timed_out_waiter_loses_no_unit() {
    loom::model(|| {
        let room = Arc::new(RoomModel::new(1));
        assert_eq!(room.try_acquire(), Acquired::Unit);
        let waiter = {
            let room = room.clone();
            thread::spawn(move || {
                let got = room.acquire_until();
                if got == Acquired::Unit {
                    room.release();
                }
                got
            })
        };
        room.release();
        let got = waiter.join().unwrap();
        assert!(matches!(got, Acquired::Unit | Acquired::Full), "{got:?}");
        assert_one_unit(&room);
    });
}

/// An async waiter that gives up (a dropped `PoolReserve`) racing a release: a unit handed
/// to it is passed on, so it is free again afterwards.
#[test]
fn an_async_waiter_giving_up_passes_on_a_unit_it_was_handed() {
    loom::model(|| {
        let room = Arc::new(RoomModel::new(1));
        assert_eq!(room.try_acquire(), Acquired::Unit);
        let waiter = {
            let room = room.clone();
            thread::spawn(move || {
                let mut ticket = None;
                match room.poll_acquire(&mut ticket) {
                    Some(Acquired::Unit) => room.release(),
                    Some(other) => panic!("{other:?}"),
                    None => {
                        // Gives up while the release may be handing it the unit.
                        thread::yield_now();
                        room.forget(ticket.expect("a pending waiter has a ticket"));
                    }
                }
            })
        };
        room.release();
        waiter.join().unwrap();
        assert_one_unit(&room);
    });
}

/// `close` racing a blocking waiter: the waiter ends (with the unit, at the deadline, or
/// refused), and everything after the close is refused.
#[test]
fn close_racing_a_waiter_ends_it_and_refuses_later_acquisitions() {
    loom::model(|| {
        let room = Arc::new(RoomModel::new(1));
        assert_eq!(room.try_acquire(), Acquired::Unit);
        let waiter = {
            let room = room.clone();
            thread::spawn(move || room.acquire_until())
        };
        room.close();
        let got = waiter.join().unwrap();
        assert!(matches!(got, Acquired::Full | Acquired::Closed), "{got:?}");
        assert_eq!(room.try_acquire(), Acquired::Closed);
    });
}

/// The lock-free fast path: a release (an add on the free count, then a look for
/// waiters) racing an async waiter that queues up (counted in, then a look for a free
/// unit). The waiter always gets the unit: a lost wake-up leaves `block_on` parked
/// forever, which loom reports. Mutations caught: a release that looks for waiters
/// before adding its unit, and a waiter that does not look for a free unit once queued
/// (both deadlock here).
#[test]
fn a_lock_free_release_racing_a_queueing_waiter_wakes_it() {
    loom::model(|| {
        let room = Arc::new(RoomModel::new(1));
        assert_eq!(room.try_acquire(), Acquired::Unit);
        let waiter = {
            let room = room.clone();
            thread::spawn(move || {
                let mut ticket = None;
                let got =
                    loom::future::block_on(poll_fn(|cx| room.poll_acquire_with(&mut ticket, cx)));
                assert_eq!(got, Acquired::Unit);
                room.release();
            })
        };
        room.release();
        waiter.join().unwrap();
        assert_one_unit(&room);
    });
}

/// A batch release (the drain job's) racing a waiter and a non-blocking caller on the
/// fast path: every unit ends up free again, none lost, none made, and the waiter is
/// woken whoever wins the race for the first unit.
#[test]
fn a_batch_release_racing_a_waiter_and_a_try_acquire_loses_no_unit() {
    loom::model(|| {
        let room = Arc::new(RoomModel::new(2));
        assert_eq!(room.try_acquire(), Acquired::Unit);
        assert_eq!(room.try_acquire(), Acquired::Unit);
        let waiter = {
            let room = room.clone();
            thread::spawn(move || {
                let mut ticket = None;
                let got =
                    loom::future::block_on(poll_fn(|cx| room.poll_acquire_with(&mut ticket, cx)));
                assert_eq!(got, Acquired::Unit);
                room.release();
            })
        };
        let trier = {
            let room = room.clone();
            thread::spawn(move || {
                if room.try_acquire() == Acquired::Unit {
                    room.release();
                }
            })
        };
        room.release_many(2);
        waiter.join().unwrap();
        trier.join().unwrap();
        assert_eq!(room.try_acquire(), Acquired::Unit, "a unit was lost");
        assert_eq!(room.try_acquire(), Acquired::Unit, "a unit was lost");
        assert_eq!(room.try_acquire(), Acquired::Full, "a unit was made");
    });
}

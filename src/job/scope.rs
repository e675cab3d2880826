//! [`ScopeState`]: a named group of jobs that can be stopped as one, below the public
//! [`Scope`](crate::Scope). A scope knows its members (loop jobs and pool jobs alike, each
//! until it has really stopped), its children, its cancellation token and its own counts;
//! it knows no loop and no pool.
//!
//! Which scope a submission joins: the scope of the handle it goes through, or, from
//! inside a scoped job, that job's scope when it is the same scope or one nested in it
//! (the innermost). The running job's scope is a thread-local, set around each poll of a
//! scoped loop job and each run of a scoped pool job, as the job's tracing span is.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Site};
use crate::report::StuckJob;
use crate::sync::AtomicBool;

use super::hooks::{Hook, Hooks};
use super::record::{JobRecord, LiveJob};
use super::registry::Registry;
use super::tally::Tally;

/// A scope: its members, children, token and counts.
pub(crate) struct ScopeState {
    /// `parent/child` names from the root scope down.
    pub(crate) path: Arc<str>,
    /// The loop whose handles made it: a job on another bridge never joins it implicitly.
    pub(crate) bridge: u64,
    parent: Option<Arc<ScopeState>>,
    children: Mutex<Vec<Weak<ScopeState>>>,
    /// Set once the scope starts to close or drain: submissions are refused.
    closed: AtomicBool,
    pub(crate) token: CancellationToken,
    /// The jobs that have not stopped yet.
    members: Registry,
    /// Accepted jobs and how they ended, for this scope alone.
    pub(crate) tally: Tally,
    /// The counts of children that are gone, kept so that the sums never go back.
    retired: Mutex<[u64; 4]>,
    /// Run as the scope starts to close or drain, before its jobs are cut off.
    pub(crate) hooks: Hooks,
    /// Wakes a closer once no more than `wake_at` members are left.
    emptied: Condvar,
    /// How many members a waiting closer spares (its own job): it is woken when only
    /// those are left, not at every departure.
    wake_at: std::sync::atomic::AtomicUsize,
    gate: Mutex<()>,
}

thread_local! {
    /// The scope of the job running on this thread, if it has one.
    static CURRENT: RefCell<Option<Arc<ScopeState>>> = const { RefCell::new(None) };
}

/// The scope of the job running on this thread.
pub(crate) fn current() -> Option<Arc<ScopeState>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Runs `f` as part of a job in `scope`: submissions from inside join it.
pub(crate) fn enter<R>(scope: Option<&Arc<ScopeState>>, f: impl FnOnce() -> R) -> R {
    let Some(scope) = scope else {
        return outside(f);
    };
    struct Restore(Option<Arc<ScopeState>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = outer);
        }
    }
    let outer = CURRENT.with(|current| current.borrow_mut().replace(scope.clone()));
    let _restore = Restore(outer);
    f()
}

/// Runs `f` outside every scope: what it submits joins no scope implicitly.
pub(crate) fn outside<R>(f: impl FnOnce() -> R) -> R {
    let outer = CURRENT.with(|current| current.borrow_mut().take());
    struct Restore(Option<Arc<ScopeState>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = outer);
        }
    }
    let _restore = Restore(outer);
    f()
}

/// The scope a submission joins: `explicit` (a scoped handle's), unless the running
/// job's scope is nested in it (or is it); with no explicit scope, the running job's,
/// if it belongs to `bridge` (`None` for pools, which join any running job's scope).
pub(crate) fn joined(
    explicit: Option<&Arc<ScopeState>>,
    bridge: Option<u64>,
) -> Option<Arc<ScopeState>> {
    let running = CURRENT.with(|current| {
        let current = current.borrow();
        match (explicit, current.as_ref()) {
            (Some(explicit), Some(running)) if running.is_within(explicit) => Some(running.clone()),
            (Some(_), _) => None,
            (None, Some(running)) if bridge.is_none_or(|bridge| bridge == running.bridge) => {
                Some(running.clone())
            }
            (None, _) => None,
        }
    });
    running.or_else(|| explicit.cloned())
}

/// What a close or drain did, for its report.
pub(crate) struct Closing {
    /// Jobs this close resolved (cut off).
    pub(crate) cut_off: usize,
    /// Members still running at the deadline.
    pub(crate) stuck: Vec<StuckJob>,
}

impl ScopeState {
    /// A root scope of the bridge `bridge`.
    pub(crate) fn root(name: &str, bridge: u64) -> Arc<ScopeState> {
        Arc::new(ScopeState::new(name.into(), bridge, None))
    }

    /// A child of `parent`, closed with it (children first). A child of a closed parent
    /// is closed from the start.
    pub(crate) fn child(parent: &Arc<ScopeState>, name: &str) -> Arc<ScopeState> {
        let path = format!("{}/{name}", parent.path);
        let child = Arc::new(ScopeState::new(
            path.into(),
            parent.bridge,
            Some(parent.clone()),
        ));
        let mut children = parent.children.lock();
        children.retain(|child| child.strong_count() > 0);
        children.push(Arc::downgrade(&child));
        drop(children);
        if parent.is_closed() {
            child.refuse_new();
        }
        child
    }

    fn new(path: Arc<str>, bridge: u64, parent: Option<Arc<ScopeState>>) -> ScopeState {
        let token = match &parent {
            Some(parent) => parent.token.child_token(),
            None => CancellationToken::new(),
        };
        ScopeState {
            path,
            bridge,
            parent,
            children: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            token,
            members: Registry::default(),
            tally: Tally::default(),
            retired: Mutex::new([0; 4]),
            hooks: Hooks::default(),
            emptied: Condvar::new(),
            wake_at: std::sync::atomic::AtomicUsize::new(0),
            gate: Mutex::new(()),
        }
    }

    /// `true` if this is `other` or is nested in it.
    pub(crate) fn is_within(&self, other: &ScopeState) -> bool {
        let mut scope = self;
        loop {
            if std::ptr::eq(scope, other) {
                return true;
            }
            match &scope.parent {
                Some(parent) => scope = parent,
                None => return false,
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: a fast refusal or a report; `admit` makes the exact check.
        self.closed.load(Ordering::Acquire)
    }

    /// Makes `job` a member until it stops, or refuses it with `Closed` (naming this
    /// scope) once the scope is closed. Counted as submitted here.
    pub(crate) fn admit(&self, job: Arc<dyn LiveJob>) -> Result<(), Error> {
        let key = self.members.insert(job.clone());
        // ORDERING: the members' locks order this insert against a closer's look at the
        // members, which follows its store of the flag: if that look missed the job, this
        // load comes after the store and sees it.
        if self.closed.load(Ordering::SeqCst) {
            self.members.remove(key);
            return Err(Error::Closed {
                site: job.record().site.clone(),
            });
        }
        job.record().joined_scope(key);
        Tally::bump(&self.tally.submitted);
        Ok(())
    }

    /// A member has stopped: it leaves, and a closer waiting for it is woken.
    pub(crate) fn leave(&self, key: usize) {
        self.members.remove(key);
        // ORDERING: the closer stores `wake_at` before it looks at the live count under
        // the gate; this side counts the departure, then reads `wake_at` and takes the
        // gate to notify, so a closer that missed the departure is woken.
        if self.closed.load(Ordering::SeqCst)
            && self.members.live() <= self.wake_at.load(Ordering::SeqCst)
        {
            let _gate = self.gate.lock();
            self.emptied.notify_all();
        }
    }

    /// Refuses every later submission, this scope's and its children's, and cancels their
    /// tokens.
    pub(crate) fn refuse_new(&self) {
        // ORDERING: see `admit`. Stored before the children are looked at: a child made
        // meanwhile either is in that look, or (pushed before it reads this flag in
        // `child`) refuses itself.
        self.closed.swap(true, Ordering::SeqCst);
        for child in self.live_children() {
            child.refuse_new();
        }
        self.token.cancel();
    }

    /// Closes the scope and its children (children first): refuses new work, cancels the
    /// tokens, cuts off every member (`Closed`: a loop job is dropped at its next poll, a
    /// queued pool job never runs, a running one's value is dropped), then waits until
    /// `deadline` (if given) for them to stop. Members `spare` names (the job doing the
    /// closing) are not waited for.
    pub(crate) fn close(
        &self,
        deadline: Option<Instant>,
        spare: &dyn Fn(&JobRecord) -> bool,
    ) -> Closing {
        self.refuse_new();
        self.cut_off_members(deadline, spare)
    }

    fn cut_off_members(
        &self,
        deadline: Option<Instant>,
        spare: &dyn Fn(&JobRecord) -> bool,
    ) -> Closing {
        let mut closing = Closing {
            cut_off: 0,
            stuck: Vec::new(),
        };
        for child in self.live_children() {
            let closed = child.cut_off_members(deadline, spare);
            closing.cut_off += closed.cut_off;
            closing.stuck.extend(closed.stuck);
        }
        for job in self.members.unordered() {
            let closed = Error::Closed {
                site: job.record().site.clone(),
            };
            if job.interrupt(closed) {
                closing.cut_off += 1;
            }
        }
        if let Some(deadline) = deadline {
            closing.stuck.extend(self.wait_stopped(deadline, spare));
        }
        closing
    }

    /// Refuses new work and cancels the tokens (scope and children), then waits until
    /// `deadline` for the members to end on their own; `true` if they all did.
    pub(crate) fn drain(&self, deadline: Instant, spare: &dyn Fn(&JobRecord) -> bool) -> bool {
        self.refuse_new();
        self.wait_drained(deadline, spare)
    }

    fn wait_drained(&self, deadline: Instant, spare: &dyn Fn(&JobRecord) -> bool) -> bool {
        // Every child is waited for, drained or not.
        let drained: Vec<bool> = self
            .live_children()
            .iter()
            .map(|child| child.wait_drained(deadline, spare))
            .collect();
        let children_drained = !drained.contains(&false);
        self.wait_stopped(deadline, spare);
        children_drained && self.left(spare) == 0
    }

    /// Cut-off pool jobs still queued whose end nobody has counted yet: their pool
    /// counts them when it reaches them. A report counts them now.
    pub(crate) fn parked_uncounted(&self) -> usize {
        let mut parked = self
            .members
            .unordered()
            .iter()
            .filter(|job| job.is_parked() && !job.record().is_counted())
            .count();
        for child in self.live_children() {
            parked += child.parked_uncounted();
        }
        parked
    }

    /// `true` when neither the scope nor its children have a member left.
    pub(crate) fn is_empty(&self) -> bool {
        self.members.live() == 0 && self.live_children().iter().all(|child| child.is_empty())
    }

    /// Members not spared.
    fn left(&self, spare: &dyn Fn(&JobRecord) -> bool) -> usize {
        self.members
            .unordered()
            .iter()
            .filter(|job| !spare(job.record()))
            .count()
    }

    /// Waits until every member but the spared ones has stopped or `deadline` passes;
    /// returns the members whose poll or closure is running then: they hold a thread.
    fn wait_stopped(&self, deadline: Instant, spare: &dyn Fn(&JobRecord) -> bool) -> Vec<StuckJob> {
        let mut gate = self.gate.lock();
        loop {
            // Not waited for: the closing job itself, and pool jobs cut off while queued
            // (they never run; they leave when their pool reaches them, which may be long
            // after, behind other work). Counted per wake-up, which comes only when no
            // more than that many members are left.
            let ignored = self
                .members
                .unordered()
                .iter()
                .filter(|job| spare(job.record()) || job.is_parked())
                .count();
            // The largest of what concurrent closers ignore: each rechecks its own.
            self.wake_at.fetch_max(ignored, Ordering::SeqCst);
            if self.members.live() <= ignored {
                return Vec::new();
            }
            if self.emptied.wait_until(&mut gate, deadline).timed_out() {
                break;
            }
        }
        drop(gate);
        let now = Instant::now();
        self.members
            .unordered()
            .into_iter()
            .filter(|job| !spare(job.record()))
            .filter_map(|job| {
                let record = job.record();
                record.running_poll(now).map(|running_for| StuckJob {
                    site: record.site.clone(),
                    running_for,
                })
            })
            .collect()
    }

    fn live_children(&self) -> Vec<Arc<ScopeState>> {
        self.children
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// The hooks of this scope and its children (children first), taken: each runs once.
    pub(crate) fn take_hooks(&self) -> Vec<Hook> {
        let mut hooks: Vec<Hook> = self
            .live_children()
            .iter()
            .flat_map(|child| child.take_hooks())
            .collect();
        hooks.extend(self.hooks.take_all());
        hooks
    }

    /// The live members of this scope and its children.
    pub(crate) fn jobs(&self) -> Vec<Arc<dyn LiveJob>> {
        let mut jobs = self.members.unordered();
        for child in self.live_children() {
            jobs.extend(child.jobs());
        }
        jobs
    }

    /// This scope's counts with its children's: submitted, finished, cancelled, panicked.
    pub(crate) fn counts(&self) -> [u64; 4] {
        let tally = &self.tally;
        let retired = *self.retired.lock();
        let mut counts = [
            Tally::read(&tally.submitted) + retired[0],
            Tally::read(&tally.finished) + retired[1],
            Tally::read(&tally.cancelled) + retired[2],
            Tally::read(&tally.panicked) + retired[3],
        ];
        for child in self.live_children() {
            for (sum, part) in counts.iter_mut().zip(child.counts()) {
                *sum += part;
            }
        }
        counts
    }

    /// The site of a call refused because this scope is closed.
    pub(crate) fn refused(&self, site: Site) -> Error {
        Error::Closed {
            site: site.in_scope(Some(self.path.clone())),
        }
    }
}

impl Drop for ScopeState {
    /// A child that is gone leaves its counts with its parent (its own children, which
    /// hold it, are gone already and left theirs with it).
    fn drop(&mut self) {
        if let Some(parent) = &self.parent {
            let counts = self.counts();
            let mut retired = parent.retired.lock();
            for (sum, part) in retired.iter_mut().zip(counts) {
                *sum += part;
            }
        }
    }
}

/// How long a close may take beyond its deadline to see cut-off loop jobs dropped at
/// their next poll: they are resolved at once, but dropping them is the loop's work.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(100);

//! What every job is, whoever runs it: its cell (record, schedule, result slot), the
//! registry of live jobs, how a loop job is queued for a poll, and the one way a result
//! is delivered and counted. The loop (`event_loop`) and the pools (`pool`) build on it;
//! it knows neither of them, nor tokio.
//!
//! May import: `slot`, `sync`, `util`, `error`, `report`, `process`; and tokio-util's
//! `CancellationToken` for scopes.

mod cell;
mod closes;
mod deliver;
mod home;
mod hooks;
mod record;
mod registry;
mod run_queue;
mod schedule;
pub(crate) mod scope;
mod stop;
mod tally;

pub(crate) use cell::{report_unread, Body, JobCell, NoFuture};
pub(crate) use closes::{Claim, Closes};
pub(crate) use deliver::deliver;
pub(crate) use home::JobHome;
pub(crate) use hooks::{Hook, Hooks};
pub(crate) use record::{JobRecord, LiveJob};
pub use registry::JobInfo;
pub(crate) use registry::Registry;
pub(crate) use run_queue::RunQueue;
pub(crate) use schedule::{Arrival, JobHold, LocalFuture, LoopJob, NewJob, Schedule, Start};
pub(crate) use scope::ScopeState;
pub(crate) use stop::StopSignal;
pub(crate) use tally::{Ended, Tally};

//! Pools that run blocking and CPU-bound work off the loop, with their results as
//! [`Completion`](crate::Completion)s: [`ThreadPool`] for blocking calls (its queue, the
//! room of a bounded queue, permits, workers, and the bridge's default pool),
//! [`RayonPool`] for computation, and the claim-run-deliver code both share.
//!
//! May import: `job`, `completion`, `report`, `sync`, `util`, `error`, `loop_thread`,
//! `process`, `spin`. Not `event_loop`: a pool knows no loop.

mod default_pool;
mod named;
mod permit;
mod pool_job;
pub(crate) mod queue;
#[cfg(feature = "rayon")]
mod rayon_pool;
mod stats;
mod thread_pool;
pub(crate) mod worker;

pub(crate) use default_pool::DefaultPool;
#[cfg(feature = "rayon")]
pub use named::RayonPoolJob;
pub use named::ThreadPoolJob;
pub use permit::{PoolPermit, PoolReserve};
pub(crate) use pool_job::is_current as is_running_pool_job;
pub(crate) use pool_job::{admitted_cell, run_claimed, JobContext};
pub(crate) use pool_job::{current_address as running_pool_job, is_at as is_pool_job_at};
#[cfg(feature = "rayon")]
pub use rayon_pool::RayonPool;
pub use stats::PoolStats;
pub use thread_pool::{ThreadPool, ThreadPoolBuilder};

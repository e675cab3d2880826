//! Pools that run blocking and CPU-bound work off the loop, with their results as
//! [`Completion`](crate::Completion)s: [`ThreadPool`] for blocking calls, [`RayonPool`]
//! for computation.

mod default_pool;
mod job;
#[cfg(loopbridge_loom)]
pub mod loom_model;
mod permit;
mod queue;
mod rayon_pool;
mod room;
mod stats;
mod thread_pool;
mod worker;

pub(crate) use default_pool::DefaultPool;
pub use permit::{Permit, Reserve};
pub use rayon_pool::RayonPool;
pub use stats::PoolStats;
pub use thread_pool::{ThreadPool, ThreadPoolBuilder};

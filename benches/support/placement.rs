//! Where the threads of a round trip run.
//!
//! A round trip between a caller and a loop thread costs about twice as much when the two
//! sit on different CPUs (the wake-up crosses CPUs; on a VM it is an inter-processor
//! interrupt to an idle vCPU) as when they share one, and the scheduler's choice sticks for
//! many thousands of round trips. Left to the scheduler, two patterns can land in
//! different modes and their ratio then measures placement, not code. So the cases with a
//! single caller pin it and the loop threads, in one of two placements:
//!
//! - [`Placement::Split`]: the caller on one CPU, every loop thread on another, as when a
//!   bridge serves a busy application on a multi-core machine;
//! - [`Placement::Shared`]: caller and loop threads on one CPU, as on a machine with more
//!   runnable threads than cores.
//!
//! Pinning goes through `taskset` (Linux, util-linux) by kernel thread id, so the benches
//! need neither `unsafe` nor another dependency; where it is unavailable the cases run
//! unpinned and say so.

use std::process::{Command, Stdio};

/// Where a case's caller and loop threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler puts them (cases with many threads).
    Free,
    /// The caller on one CPU, the loop threads on another.
    Split,
    /// The caller and the loop threads on one CPU.
    Shared,
    /// The loop threads on one CPU, every other thread (pool workers, tokio's blocking
    /// threads, rayon's) on another: an offload crosses CPUs.
    SplitWorkers,
    /// The loop threads and every other thread on one CPU.
    SharedWorkers,
}

impl Placement {
    pub fn describe(self) -> &'static str {
        match self {
            Placement::Free => "unpinned",
            Placement::Split => "caller on CPU A, loop thread on CPU B",
            Placement::Shared => "caller and loop thread on one CPU",
            Placement::SplitWorkers => "loop thread on CPU B, pool workers on CPU A",
            Placement::SharedWorkers => "loop thread and pool workers on one CPU",
        }
    }

    /// `true` if the other threads of the process (pool workers) are pinned too.
    pub fn pins_workers(self) -> bool {
        matches!(self, Placement::SplitWorkers | Placement::SharedWorkers)
    }
}

/// The calling thread's kernel thread id, from `/proc/thread-self` (`PID/task/TID`).
pub fn current_thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The CPUs this process may run on, as `taskset` writes them (`0-1`), and the first two.
fn allowed_cpus() -> Option<(String, u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?
        .trim()
        .to_owned();
    let mut cpus = list.split(',').flat_map(|range| {
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let first: u32 = first.parse().unwrap_or(u32::MAX);
        let last: u32 = last.parse().unwrap_or(0);
        first..=last
    });
    let (a, b) = (cpus.next()?, cpus.next()?);
    Some((list, a, b))
}

fn taskset(thread: u32, cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-p", "-c", cpus, &thread.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|error| format!("taskset: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpus} {thread}: {status}"))
    }
}

/// Threads pinned by [`pin`]; dropping it lets them run on every allowed CPU again.
pub struct Pinned {
    threads: Vec<u32>,
    all: String,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        for &thread in &self.threads {
            let _ = taskset(thread, &self.all);
        }
    }
}

/// Pins `caller` and `loops` per `placement` until the returned guard is dropped.
/// `Ok(None)` for [`Placement::Free`]; `Err` says why the threads stay unpinned.
pub fn pin(placement: Placement, caller: u32, loops: &[u32]) -> Result<Option<Pinned>, String> {
    if placement == Placement::Free {
        return Ok(None);
    }
    let (all, a, b) = allowed_cpus().ok_or("fewer than two CPUs to place threads on")?;
    let loop_cpu = match placement {
        Placement::Split | Placement::SplitWorkers => b,
        _ => a,
    };
    let mut pinned = Pinned {
        threads: Vec::new(),
        all,
    };
    // The guard restores whatever was pinned before an error.
    taskset(caller, &a.to_string())?;
    pinned.threads.push(caller);
    for &thread in loops {
        taskset(thread, &loop_cpu.to_string())?;
        pinned.threads.push(thread);
    }
    if placement.pins_workers() {
        // Every other thread of the process: the pools' workers, started before.
        for thread in all_threads() {
            if thread != caller && !loops.contains(&thread) {
                taskset(thread, &a.to_string())?;
                pinned.threads.push(thread);
            }
        }
    }
    Ok(Some(pinned))
}

/// The kernel ids of this process's threads.
fn all_threads() -> Vec<u32> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| task.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

//! pool: which threads run a query?
//!
//! Every query spreads its sources over the same pool: up to `parallelism` scoped threads
//! (one per core by default) take the sources in order, newest first, so that early stops
//! (the kept matches already newer than what is left, a tag limit reached) take effect as
//! soon as possible. The async runtime never runs a scan.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads for `parallelism` (0: one per core).
pub(crate) fn threads(parallelism: usize) -> usize {
    match parallelism {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Runs `work` on every job, in order, on up to `parallelism` threads (0: one per core);
/// each thread starts with `init()` state, and `finish` receives each thread's state at the
/// end. Runs on the calling thread when one thread suffices.
pub(crate) fn run<J: Sync, S>(
    jobs: &[J],
    parallelism: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&J, &mut S) + Sync,
    finish: impl Fn(S) + Sync,
) {
    let cursor = AtomicUsize::new(0);
    let worker = || {
        let mut state = init();
        loop {
            let j = cursor.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(j) else { break };
            work(job, &mut state);
        }
        finish(state);
    };
    let threads = threads(parallelism).min(jobs.len());
    if threads <= 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[test]
    fn every_job_runs_once_whatever_the_threads() {
        for parallelism in [0, 1, 2, 7] {
            let jobs: Vec<u64> = (1..=100).collect();
            let sum = AtomicU64::new(0);
            let states = AtomicU64::new(0);
            run(
                &jobs,
                parallelism,
                || 0u64,
                |j, s| *s += j,
                |s| {
                    sum.fetch_add(s, Ordering::Relaxed);
                    states.fetch_add(1, Ordering::Relaxed);
                },
            );
            assert_eq!(sum.load(Ordering::Relaxed), 5050);
            assert!(states.load(Ordering::Relaxed) >= 1);
        }
    }
}

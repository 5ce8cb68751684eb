//! Dependent resources fetched concurrently (`parallelized: true`), written in order.
//!
//! For one page of parent items, every (item, parallelized child) pair is a job: all pages of
//! that child for that item, fetched by a pool of at most `[extract] workers` threads into
//! memory ([`Collected`]). The jobs are consumed in the order a sequential run makes them
//! (item by item, child by child), and each is written exactly as the sequential run writes
//! it (the same items, filters, parent fields and grandchildren), so a table gets the same
//! rows in the same order. Only the requests overlap: a job may run at most a few jobs
//! ahead of the one being written (a window of `4 × workers`), which bounds the memory.
//! Every request goes through the same client: retries, rate limits and auth apply to each.
//! The first failing job in sequential order fails the run; jobs after it stop early.
//! How one job is fetched is the caller's (`fetch.rs` fetches it into a [`Collected`]).

use std::sync::{Condvar, Mutex};

use serde_json::Value;

use super::Node;
use crate::error::{Error, Result};

/// What a child fetch read: pages, each with its size and items (raw item text when the
/// fast path applied, parsed items otherwise).
#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) pages: Vec<Page>,
}

/// One page of a collected fetch.
pub(crate) struct Page {
    pub(crate) bytes: u64,
    pub(crate) raw: Vec<String>,
    pub(crate) items: Vec<Value>,
}

impl Collected {
    /// The page being read.
    pub(crate) fn last(&mut self) -> Result<&mut Page> {
        self.pages
            .last_mut()
            .ok_or_else(|| Error::Internal("items before a page was read".into()))
    }
}

/// One job: a child node for one parent item.
pub(crate) type Job<'a> = (&'a Node, (&'a str, &'a Value));

struct Shared {
    next: usize,
    consumed: usize,
    stop: bool,
    /// The first job (in order) that failed: later jobs are not started.
    failed: usize,
    done: Vec<Option<Result<Collected>>>,
}

/// Runs `jobs` on up to `workers` threads and hands each result to `consume` in job order.
/// Returns the first error (of a job or of `consume`), in job order.
pub(crate) fn run_ordered(
    fetch: &(dyn Fn(Job<'_>) -> Result<Collected> + Sync),
    jobs: &[Job<'_>],
    workers: usize,
    mut consume: impl FnMut(usize, Collected) -> Result<()>,
) -> Result<()> {
    let n = jobs.len();
    let workers = workers.clamp(1, n.max(1));
    let window = workers * 4;
    let shared = Mutex::new(Shared {
        next: 0,
        consumed: 0,
        stop: false,
        failed: usize::MAX,
        done: (0..n).map(|_| None).collect(),
    });
    let cv = Condvar::new();
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::scope(|s| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new()
                .name("dango-children".into())
                .spawn_scoped(s, || worker(fetch, jobs, window, &shared, &cv));
            if let Err(e) = spawned {
                lock().stop = true;
                cv.notify_all();
                return Err(Error::Internal(format!("cannot start a fetch thread: {e}")));
            }
        }
        let mut result = Ok(());
        for i in 0..n {
            let got = {
                let mut g = lock();
                loop {
                    if let Some(r) = g.done[i].take() {
                        g.consumed = i + 1;
                        break r;
                    }
                    g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            };
            cv.notify_all();
            if let Err(e) = got.and_then(|c| consume(i, c)) {
                result = Err(e);
                break;
            }
        }
        lock().stop = true;
        cv.notify_all();
        result
    })
}

fn worker(
    fetch: &(dyn Fn(Job<'_>) -> Result<Collected> + Sync),
    jobs: &[Job<'_>],
    window: usize,
    shared: &Mutex<Shared>,
    cv: &Condvar,
) {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let i = {
            let mut g = lock();
            loop {
                if g.stop || g.next >= jobs.len() || g.next > g.failed {
                    return;
                }
                if g.next < g.consumed + window {
                    break;
                }
                g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            g.next += 1;
            g.next - 1
        };
        let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch(jobs[i])))
            .unwrap_or_else(|_| Err(Error::Internal("a fetch thread panicked".into())));
        let mut g = lock();
        // The run fails at the first error in order: jobs after a failed one are not
        // started; the jobs before it still finish.
        if fetched.is_err() {
            g.failed = g.failed.min(i);
        }
        g.done[i] = Some(fetched);
        drop(g);
        cv.notify_all();
    }
}

//! One read-write destination connection shared by the pipelines of one process (the sources
//! of one `dango sync`): their state checks, commits and history records, one after the other.
//!
//! Opening a DuckDB warehouse builds a database instance (its catalog of functions, the
//! default views of `information_schema`) and closing it checkpoints the WAL into the file:
//! about 0.1 s of CPU each. A connection per state check, per commit and per history record
//! made that the largest part of a small source's sync.
//!
//! The connection is open only while this process holds the project's writer lock, as the
//! connection of each commit was: other processes still get the warehouse between uses. A use
//! that ends hands the open connection (and the lock) to the next use of this process when one
//! is waiting, for at most [`HAND_OVER_FOR`] in a row; otherwise the connection is closed (DuckDB
//! checkpoints then: once per run of commits instead of once per commit) and the lock released.
//! A use may keep the connection for its thread (`keep`): a source keeps it from its commit to
//! its history record, and [`SharedWarehouse::release`] gives it up.
//!
//! A committed transaction is durable in DuckDB's WAL before `COMMIT` returns, so a process
//! killed while it keeps the connection open loses nothing: the next open replays the WAL.
//! A use that fails closes the connection (no half-done transaction is handed on).
//!
//! The local files a use writes (a committed package moved to `loaded/`, the new state and
//! schema) are fsynced after the connection is handed on, in the order they were written, and
//! before the use returns ([`crate::storage::deferred`]): the connection does not wait for
//! them.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::destinations::{Destination, DestinationFactory, OpenMode};
use crate::error::Result;
use crate::ops::lock::{LockGuard, ProjectLock};

/// How long one process keeps the warehouse open across consecutive uses before closing it
/// (and letting other processes in) even when more uses wait.
pub const HAND_OVER_FOR: Duration = Duration::from_secs(10);

/// How long an unused connection stays open for the next use of this process (the next
/// source of a sync one source at a time, the commit of a small source after its state
/// check) before it is closed and the lock released.
pub const LINGER: Duration = Duration::from_millis(300);

/// A destination connection shared by the pipelines of this process (see the module docs).
pub struct SharedWarehouse {
    factory: Arc<dyn DestinationFactory>,
    lock: Option<ProjectLock>,
    slot: Mutex<Slot>,
    changed: Condvar,
    /// Back to itself, for the thread that closes a lingering connection.
    this: std::sync::Weak<SharedWarehouse>,
}

impl std::fmt::Debug for SharedWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWarehouse")
            .field("location", &self.factory.location())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Slot {
    /// A use is running (the connection is out of the slot).
    busy: bool,
    /// The thread the connection is kept for between its uses.
    kept_by: Option<ThreadId>,
    /// Uses waiting.
    waiting: usize,
    open: Option<Open>,
    /// When the open connection was last put back unused (it closes [`LINGER`] later).
    idle_since: Option<Instant>,
}

struct Open {
    // Field order: the connection closes (and checkpoints) before the lock is released.
    dest: Box<dyn Destination>,
    _guard: Option<LockGuard>,
    since: Instant,
}

impl SharedWarehouse {
    /// A shared connection to `factory`'s destination, taken under `lock` (the project's
    /// writer lock; `None`: no lock, as a pipeline without one).
    pub fn new(factory: Arc<dyn DestinationFactory>, lock: Option<ProjectLock>) -> Arc<Self> {
        Arc::new_cyclic(|this| SharedWarehouse {
            factory,
            lock,
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            this: this.clone(),
        })
    }

    /// The destination.
    pub fn factory(&self) -> &Arc<dyn DestinationFactory> {
        &self.factory
    }

    /// The lock file it is taken under.
    pub fn lock_path(&self) -> Option<&std::path::Path> {
        self.lock.as_ref().map(ProjectLock::path)
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection (opening it, under the lock, if needed), waiting for other
    /// uses of this process. With `keep`, the connection stays open for this thread until
    /// [`SharedWarehouse::release`] (or a later use without `keep` that fails).
    pub fn with<T>(
        &self,
        source: &str,
        operation: &str,
        keep: bool,
        f: impl FnOnce(&mut dyn Destination) -> Result<T>,
    ) -> Result<T> {
        match self.run(source, operation, true, keep, f)? {
            Some(v) => Ok(v),
            None => Err(crate::Error::Internal(
                "a waiting use of the shared warehouse did not run".into(),
            )),
        }
    }

    /// [`SharedWarehouse::with`] if the connection is free now: `None` when another use of
    /// this process runs or keeps it, or another process holds the lock.
    pub fn try_with<T>(
        &self,
        source: &str,
        operation: &str,
        f: impl FnOnce(&mut dyn Destination) -> Result<T>,
    ) -> Result<Option<T>> {
        self.run(source, operation, false, false, f)
    }

    fn run<T>(
        &self,
        source: &str,
        operation: &str,
        wait: bool,
        keep: bool,
        f: impl FnOnce(&mut dyn Destination) -> Result<T>,
    ) -> Result<Option<T>> {
        let me = std::thread::current().id();
        let asked = Instant::now();
        let mut slot = self.slot();
        while slot.busy || slot.kept_by.is_some_and(|t| t != me) {
            if !wait {
                return Ok(None);
            }
            slot.waiting += 1;
            slot = self.changed.wait(slot).unwrap_or_else(|p| p.into_inner());
            slot.waiting -= 1;
        }
        slot.busy = true;
        slot.idle_since = None;
        let open = slot.open.take();
        drop(slot);
        let mut open = match open {
            Some(o) => o,
            None => match self.open(source, operation, wait) {
                Ok(Some(o)) => o,
                Ok(None) => {
                    self.put_back(None, me, false);
                    return Ok(None);
                }
                Err(e) => {
                    self.put_back(None, me, false);
                    return Err(e);
                }
            },
        };
        let started = Instant::now();
        // What the use writes locally (after a commit) is fsynced once the connection is
        // handed on (see `storage::deferred`), before this call returns.
        let deferred = crate::storage::deferred::defer();
        let result = f(open.dest.as_mut());
        tracing::debug!(
            source,
            operation,
            waited_ms = (started - asked).as_secs_f64() * 1000.0,
            held_ms = started.elapsed().as_secs_f64() * 1000.0,
            "used the shared warehouse connection"
        );
        self.put_back_after(Some(open), me, keep, result.is_ok());
        match (result, deferred.finish()) {
            (Ok(v), Ok(())) => Ok(Some(v)),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), synced) => {
                if let Err(s) = synced {
                    tracing::warn!("after a failed use of the warehouse: {s}");
                }
                Err(e)
            }
        }
    }

    /// Takes the lock and opens the connection (`None`: the lock is held elsewhere and
    /// `wait` is false).
    fn open(&self, source: &str, operation: &str, wait: bool) -> Result<Option<Open>> {
        let guard = match &self.lock {
            Some(l) if wait => Some(l.acquire(source, operation)?),
            Some(l) => match l.try_acquire(source, operation)? {
                Some(g) => Some(g),
                None => return Ok(None),
            },
            None => None,
        };
        let dest = self.factory.open(OpenMode::ReadWrite)?;
        tracing::debug!(location = %self.factory.location(), "opened the shared warehouse connection");
        Ok(Some(Open {
            dest,
            _guard: guard,
            since: Instant::now(),
        }))
    }

    /// Ends a use (`ok`: it succeeded): keeps the connection for this thread (`keep`), for a
    /// waiting use, or for [`LINGER`]; closes it after a failure or [`HAND_OVER_FOR`].
    fn put_back(&self, open: Option<Open>, me: ThreadId, keep: bool) {
        self.put_back_after(open, me, keep, true);
    }

    fn put_back_after(&self, open: Option<Open>, me: ThreadId, keep: bool, ok: bool) {
        let mut slot = self.slot();
        // Kept only while no other use waits: a waiting use gets it at once (the keeping
        // thread waits its turn for its next use), so the connection never idles while
        // other sources' commits wait for it.
        let keep = keep && slot.waiting == 0;
        if keep {
            slot.kept_by = Some(me);
        } else if slot.kept_by == Some(me) {
            slot.kept_by = None;
        }
        let (close, linger) = match &open {
            Some(_) if !ok => (true, false),
            Some(_) if keep => (false, false),
            Some(o) if o.since.elapsed() >= HAND_OVER_FOR => (true, false),
            Some(_) => (false, slot.waiting == 0),
            None => (false, false),
        };
        if close {
            self.close_busy(slot, open);
            return;
        }
        slot.open = open;
        if linger {
            let at = Instant::now();
            slot.idle_since = Some(at);
            let this = self.this.clone();
            let spawned = std::thread::Builder::new()
                .name("dango-warehouse-linger".into())
                .spawn(move || {
                    std::thread::sleep(LINGER);
                    if let Some(s) = this.upgrade() {
                        s.close_if_idle_since(at);
                    }
                });
            if spawned.is_err() {
                let open = slot.open.take();
                self.close_busy(slot, open);
                return;
            }
        }
        slot.busy = false;
        drop(slot);
        self.changed.notify_all();
    }

    /// Closes `open` outside the slot's mutex while the slot stays busy (so no second
    /// connection opens meanwhile), then frees the slot.
    fn close_busy(&self, mut slot: MutexGuard<'_, Slot>, open: Option<Open>) {
        slot.busy = true;
        slot.idle_since = None;
        drop(slot);
        if open.is_some() {
            drop(open);
            tracing::debug!(location = %self.factory.location(), "closed the shared warehouse connection");
        }
        let mut slot = self.slot();
        slot.busy = false;
        drop(slot);
        self.changed.notify_all();
    }

    /// Closes the connection if nothing used it since `at`.
    fn close_if_idle_since(&self, at: Instant) {
        let mut slot = self.slot();
        if slot.busy || slot.kept_by.is_some() || slot.idle_since != Some(at) {
            return;
        }
        let open = slot.open.take();
        self.close_busy(slot, open);
    }

    /// Closes the connection now (waiting for a running use), releasing the lock.
    pub fn close(&self) {
        let mut slot = self.slot();
        while slot.busy {
            slot = self.changed.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
        slot.kept_by = None;
        let open = slot.open.take();
        self.close_busy(slot, open);
    }

    /// Gives up the connection this thread keeps (closing it unless another use waits).
    pub fn release(&self) {
        let me = std::thread::current().id();
        let mut slot = self.slot();
        if slot.kept_by != Some(me) || slot.busy {
            return;
        }
        slot.busy = true;
        let open = slot.open.take();
        drop(slot);
        self.put_back(open, me, false);
    }
}

/// The shared connections of one process, one per destination that can be shared
/// ([`DestinationFactory::share_key`]), all under the same project lock.
#[derive(Debug)]
pub struct SharedWarehouses {
    lock: Option<ProjectLock>,
    by_key: Mutex<HashMap<String, Arc<SharedWarehouse>>>,
}

impl SharedWarehouses {
    /// No connection yet; each will be taken under `lock`.
    pub fn new(lock: Option<ProjectLock>) -> SharedWarehouses {
        SharedWarehouses {
            lock,
            by_key: Mutex::default(),
        }
    }

    /// Closes every connection (at the end of a sync: DuckDB checkpoints its WAL then).
    pub fn close_all(&self) {
        let all: Vec<Arc<SharedWarehouse>> = self
            .by_key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for s in all {
            s.close();
        }
    }

    /// The shared connection to `factory`'s destination (`None` if it cannot be shared).
    pub fn get(&self, factory: &Arc<dyn DestinationFactory>) -> Option<Arc<SharedWarehouse>> {
        let key = factory.share_key()?;
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            map.entry(key)
                .or_insert_with(|| SharedWarehouse::new(factory.clone(), self.lock.clone()))
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::duckdb::{DuckDb, DuckDbOptions};

    fn shared(dir: &std::path::Path) -> Arc<SharedWarehouse> {
        let db: Arc<dyn DestinationFactory> =
            Arc::new(DuckDb::new(dir.join("w.duckdb"), DuckDbOptions::default()));
        let lock = ProjectLock::for_project(dir, Duration::from_secs(5));
        SharedWarehouse::new(db, Some(lock))
    }

    fn lock_is_free(dir: &std::path::Path) -> bool {
        let lock = ProjectLock::for_project(dir, Duration::from_secs(5));
        lock.try_acquire("t", "probe").unwrap().is_some()
    }

    #[test]
    fn an_unused_connection_closes_after_lingering_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        s.with("a", "load", false, |d| d.health_check()).unwrap();
        // The next use within LINGER finds it open.
        assert!(!lock_is_free(dir.path()));
        s.with("a", "load", false, |d| d.health_check()).unwrap();
        std::thread::sleep(LINGER + Duration::from_millis(300));
        assert!(lock_is_free(dir.path()));
        // A second process could open the file now.
        let ro = s.factory().open(OpenMode::ReadOnly).unwrap();
        drop(ro);
    }

    #[test]
    fn a_kept_connection_holds_the_lock_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        s.with("a", "load", true, |d| d.health_check()).unwrap();
        assert!(!lock_is_free(dir.path()));
        // The keeping thread uses it again without reopening.
        s.with("a", "history", true, |d| d.health_check()).unwrap();
        // Another thread does not get it while it is kept.
        let s2 = s.clone();
        let other = std::thread::spawn(move || s2.try_with("b", "read", |_| Ok(())).unwrap());
        assert!(other.join().unwrap().is_none());
        s.release();
        // Released: another thread gets it (still open).
        let s2 = s.clone();
        let other = std::thread::spawn(move || s2.try_with("b", "read", |_| Ok(())).unwrap());
        assert!(other.join().unwrap().is_some());
        s.close();
        assert!(lock_is_free(dir.path()));
    }

    #[test]
    fn a_failed_use_closes_even_a_kept_connection() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let r: Result<()> = s.with("a", "load", true, |_| {
            Err(crate::Error::Internal("boom".into()))
        });
        assert!(r.is_err());
        assert!(lock_is_free(dir.path()));
    }

    #[test]
    fn waiting_threads_run_one_at_a_time_on_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        s.with("init", "load", false, |d| {
            d.initialize_storage("ds", false)?;
            Ok(())
        })
        .unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for j in 0..5 {
                        s.with(&format!("s{i}"), "load", false, |d| {
                            d.initialize_storage(&format!("ds_{i}_{j}"), false)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        s.close();
        assert!(lock_is_free(dir.path()));
        let ro =
            crate::destinations::duckdb::DuckDbClient::open_read_only(&dir.path().join("w.duckdb"))
                .unwrap();
        let n: i64 = ro
            .conn()
            .query_row(
                "SELECT count(*) FROM duckdb_schemas() WHERE schema_name LIKE 'ds%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 21);
    }
}

//! Syncs deferred to the end of a short critical section, in the order they were asked for.
//!
//! The sources of one `dango sync` commit one after the other on one warehouse connection
//! ([`crate::pipeline::SharedWarehouse`]). What a load writes locally after its `COMMIT` (the
//! jobs moved to `completed_jobs/`, the package moved to `loaded/`, dlt's package files, the
//! new `state.json` and schema) used to be fsynced while the connection waited, about six
//! fsyncs per source. Inside [`defer`], this thread's [`super::write_atomic`],
//! [`super::publish`] and [`super::jobs::complete_all`] still do every rename a reader needs
//! right away except the final rename of an atomic write, and queue the fsyncs (and that
//! rename, which must follow the fsync of its file) for [`Deferred::finish`], which the
//! connection's user calls after handing the connection on.
//!
//! The guarantee is the one without deferral: each file is fsynced before it is renamed into
//! place, each folder is fsynced after the renames into it, in the same order, and all of it
//! is done before the source's sync goes on. A crash before `finish` leaves what a crash just
//! after the `COMMIT` left before: a committed package whose local copies are older, which the
//! next run finishes (`_dlt_loads` holds its load id; the state follows the destination's).
//! A read of a file whose write is queued ([`settle`]) runs the queue first.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

enum Pending {
    /// A written temp file to fsync and rename to `path`.
    Rename { tmp: PathBuf, path: PathBuf },
    /// A folder to fsync (renames into it were done).
    SyncDir(PathBuf),
}

thread_local! {
    static QUEUE: RefCell<Option<Vec<Pending>>> = const { RefCell::new(None) };
}

/// Defers this thread's syncs until [`Deferred::finish`] (or drop). Nested calls queue into
/// the outermost one.
pub fn defer() -> Deferred {
    let outer = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_some() {
            return false;
        }
        *q = Some(Vec::new());
        true
    });
    Deferred { outer }
}

/// Syncs queued by [`defer`]: done by [`Deferred::finish`], or when dropped (errors logged).
#[must_use = "finish() does the deferred syncs and reports their errors"]
pub struct Deferred {
    outer: bool,
}

impl Deferred {
    /// Stops deferring and does the queued syncs and renames in order.
    pub fn finish(mut self) -> Result<()> {
        self.run()
    }

    fn run(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.outer) {
            return Ok(());
        }
        let queue = QUEUE.with(|q| q.borrow_mut().take()).unwrap_or_default();
        run_all(queue)
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Err(e) = self.run() {
            tracing::warn!("a deferred sync failed: {e}");
        }
    }
}

fn run_all(queue: Vec<Pending>) -> Result<()> {
    let mut first_error = None;
    for p in queue {
        let done = match &p {
            Pending::Rename { tmp, path } => std::fs::File::open(tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(tmp, e))
                .and_then(|_| std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))),
            Pending::SyncDir(dir) => super::sync_dir(dir),
        };
        if let Err(e) = done {
            if let Pending::Rename { tmp, .. } = &p {
                let _ = std::fs::remove_file(tmp);
            }
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs `f` without deferring: this thread's queued syncs are done first, and `f`'s own are
/// done as it goes, as outside [`defer`]; deferring resumes after it. For work whose files
/// other threads read while it runs (an extract whose package a normalize thread reads).
pub fn undeferred<T>(f: impl FnOnce() -> T) -> Result<T> {
    let queue = QUEUE.with(|q| q.borrow_mut().take());
    let deferring = queue.is_some();
    let flushed = queue.map_or(Ok(()), run_all);
    let out = f();
    if deferring {
        QUEUE.with(|q| *q.borrow_mut() = Some(Vec::new()));
    }
    flushed.map(|()| out)
}

/// Whether this thread defers syncs now.
pub(super) fn active() -> bool {
    QUEUE.with(|q| q.borrow().is_some())
}

/// Queues the fsync of `tmp` and its rename to `path` (a later write of the same file
/// replaces an earlier one still queued: they share the temp file). `false` if not deferring.
pub(super) fn queue_rename(tmp: &Path, path: &Path) -> bool {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let Some(q) = q.as_mut() else {
            return false;
        };
        q.retain(|p| !matches!(p, Pending::Rename { path: p, .. } if p == path));
        q.push(Pending::Rename {
            tmp: tmp.to_path_buf(),
            path: path.to_path_buf(),
        });
        true
    })
}

/// Queues the fsync of folder `dir`. `false` if not deferring.
pub(super) fn queue_sync_dir(dir: &Path) -> bool {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let Some(q) = q.as_mut() else {
            return false;
        };
        q.push(Pending::SyncDir(dir.to_path_buf()));
        true
    })
}

/// Folder `from` was renamed to `to`: queued syncs of paths under it follow it.
pub(super) fn moved(from: &Path, to: &Path) {
    let follow = |p: &mut PathBuf| {
        if let Ok(rest) = p.strip_prefix(from) {
            *p = to.join(rest);
        }
    };
    QUEUE.with(|q| {
        for p in q.borrow_mut().iter_mut().flatten() {
            match p {
                Pending::Rename { tmp, path } => {
                    follow(tmp);
                    follow(path);
                }
                Pending::SyncDir(dir) => follow(dir),
            }
        }
    });
}

/// Before reading `path`: if its write is queued, does the queue now (so the read sees it).
pub fn settle(path: &Path) -> Result<()> {
    let queue = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let pending = q.as_ref().is_some_and(|q| {
            q.iter()
                .any(|p| matches!(p, Pending::Rename { path: p, .. } if p == path))
        });
        if pending {
            q.as_mut().map(std::mem::take)
        } else {
            None
        }
    });
    match queue {
        Some(queue) => run_all(queue),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_writes_land_in_order_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let d = defer();
        crate::storage::write_atomic(&a, b"1").unwrap();
        // Not in place yet: the rename waits for the fsync.
        assert!(!a.exists());
        crate::storage::write_atomic(&a, b"2").unwrap();
        d.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"2");
        // Not deferring any more: written at once.
        crate::storage::write_atomic(&a, b"3").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"3");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn a_read_of_a_queued_write_settles_it_and_nesting_queues_into_the_outer() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let outer = defer();
        let inner = defer();
        crate::storage::write_json(&a, &serde_json::json!({"x": 1})).unwrap();
        inner.finish().unwrap();
        assert!(!a.exists());
        let v: serde_json::Value = crate::storage::read_json(&a).unwrap();
        assert_eq!(v["x"], 1);
        drop(outer);
        assert!(a.exists());
    }

    #[test]
    fn undeferred_work_writes_at_once_and_deferring_resumes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        let d = defer();
        crate::storage::write_atomic(&a, b"1").unwrap();
        assert!(!a.exists());
        undeferred(|| {
            // What was queued is done first; this write lands at once.
            assert!(a.exists());
            crate::storage::write_atomic(&b, b"2").unwrap();
            assert!(b.exists());
        })
        .unwrap();
        crate::storage::write_atomic(&c, b"3").unwrap();
        assert!(!c.exists());
        d.finish().unwrap();
        assert_eq!(std::fs::read(&c).unwrap(), b"3");
    }

    #[test]
    fn queued_syncs_follow_a_published_folder() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("normalized/1");
        crate::storage::jobs::create_folders(&pkg).unwrap();
        std::fs::write(pkg.join("new_jobs/t.arrow"), b"x").unwrap();
        let d = defer();
        crate::storage::jobs::complete_all(&pkg, ["t.arrow"]).unwrap();
        let to = dir.path().join("loaded/1");
        crate::storage::publish(&pkg, &to).unwrap();
        crate::storage::write_atomic(&to.join("done.json"), b"loaded").unwrap();
        d.finish().unwrap();
        assert!(to.join("completed_jobs/t.arrow").is_file());
        assert_eq!(std::fs::read(to.join("done.json")).unwrap(), b"loaded");
    }

    #[test]
    fn a_dropped_deferral_still_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        {
            let _d = defer();
            crate::storage::write_atomic(&a, b"x").unwrap();
        }
        assert_eq!(std::fs::read(&a).unwrap(), b"x");
    }
}

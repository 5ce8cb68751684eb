//! Job states in a normalized package, as dlt keeps them (`dlt/common/storages/load_package.py`):
//! every job file sits in exactly one of `new_jobs/`, `started_jobs/`, `completed_jobs/` or
//! `failed_jobs/`, and moves between them with a `rename`, so its state survives a crash and
//! dlt's own `dlt pipeline … load-package` reads it.
//!
//! - A transactional destination commits all jobs at once: they stay in `new_jobs/` while the
//!   transaction runs and move to `completed_jobs/` after `COMMIT` ([`complete_all`]).
//! - A non-transactional destination makes each job durable on its own: the loader moves it to
//!   `started_jobs/` before loading it and to `completed_jobs/` after, and on resume skips
//!   completed jobs and loads started ones again.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Jobs not started.
pub const NEW_JOBS: &str = "new_jobs";
/// Jobs being loaded.
pub const STARTED_JOBS: &str = "started_jobs";
/// Jobs whose data is in the destination.
pub const COMPLETED_JOBS: &str = "completed_jobs";
/// Jobs that failed for good.
pub const FAILED_JOBS: &str = "failed_jobs";

/// The four job folders, in the order a job passes them.
pub const FOLDERS: [&str; 4] = [NEW_JOBS, STARTED_JOBS, COMPLETED_JOBS, FAILED_JOBS];

/// Where a job file is in its package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// In `new_jobs/`.
    New,
    /// In `started_jobs/`.
    Started,
    /// In `completed_jobs/`.
    Completed,
    /// In `failed_jobs/`.
    Failed,
}

impl JobState {
    /// The folder of the state.
    pub fn folder(self) -> &'static str {
        match self {
            JobState::New => NEW_JOBS,
            JobState::Started => STARTED_JOBS,
            JobState::Completed => COMPLETED_JOBS,
            JobState::Failed => FAILED_JOBS,
        }
    }
}

/// Creates the job folders of a package that are missing.
pub fn create_folders(pkg: &Path) -> Result<()> {
    for f in FOLDERS {
        let d = pkg.join(f);
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    Ok(())
}

/// The state and path of job `file` in `pkg` (`None` if it is in no job folder).
pub fn locate(pkg: &Path, file: &str) -> Option<(JobState, PathBuf)> {
    [
        JobState::New,
        JobState::Started,
        JobState::Completed,
        JobState::Failed,
    ]
    .into_iter()
    .map(|s| (s, pkg.join(s.folder()).join(file)))
    .find(|(_, p)| p.is_file())
}

/// Moves job `file` to state `to` (from wherever it is) and returns its new path. Moving a job
/// to the state it is in does nothing.
pub fn move_to(pkg: &Path, file: &str, to: JobState) -> Result<PathBuf> {
    let (dest, moved) = rename_to(pkg, file, to)?;
    if moved {
        super::sync_dir(&pkg.join(to.folder()))?;
    }
    Ok(dest)
}

/// [`move_to`] without syncing the folder: the new path, and whether the job moved.
fn rename_to(pkg: &Path, file: &str, to: JobState) -> Result<(PathBuf, bool)> {
    let dest = pkg.join(to.folder()).join(file);
    match locate(pkg, file) {
        Some((s, _)) if s == to => Ok((dest, false)),
        Some((s, from)) => {
            let dir = pkg.join(to.folder());
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            std::fs::rename(&from, &dest).map_err(|e| Error::io(&from, e))?;
            if s == JobState::Failed {
                let _ = std::fs::remove_file(exception_path(pkg, file));
            }
            Ok((dest, true))
        }
        None => Err(Error::Corrupt {
            path: pkg.join(NEW_JOBS).join(file),
            reason: "the job file is missing from the package's job folders".into(),
        }),
    }
}

/// Where the error of a failed job is kept: `failed_jobs/<file>.exception`.
pub fn exception_path(pkg: &Path, file: &str) -> PathBuf {
    pkg.join(FAILED_JOBS).join(format!("{file}.exception"))
}

/// Marks job `file` failed with `message` (already redacted): it moves to `failed_jobs/`
/// with its error beside it. The next load of the package tries it again.
pub fn fail(pkg: &Path, file: &str, message: &str) -> Result<()> {
    move_to(pkg, file, JobState::Failed)?;
    super::write_atomic(&exception_path(pkg, file), message.as_bytes())
}

/// The error a failed job was marked with.
pub fn exception(pkg: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(exception_path(pkg, file)).ok()
}

/// Moves every job of `files` that is not completed yet to `completed_jobs/` (after a
/// transactional commit; idempotent, so a run that died half way finishes it). One sync of
/// `completed_jobs/` makes all the renames durable (one fsync per package, not per job).
pub fn complete_all<'a>(pkg: &Path, files: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut moved = false;
    for f in files {
        moved |= rename_to(pkg, f, JobState::Completed)?.1;
    }
    let dir = pkg.join(COMPLETED_JOBS);
    if moved && !super::deferred::queue_sync_dir(&dir) {
        super::sync_dir(&dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_move_between_states_and_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path();
        create_folders(pkg).unwrap();
        std::fs::write(pkg.join(NEW_JOBS).join("t.1.arrow"), b"x").unwrap();
        assert_eq!(locate(pkg, "t.1.arrow").unwrap().0, JobState::New);
        let p = move_to(pkg, "t.1.arrow", JobState::Started).unwrap();
        assert_eq!(p, pkg.join(STARTED_JOBS).join("t.1.arrow"));
        assert_eq!(locate(pkg, "t.1.arrow").unwrap().0, JobState::Started);
        complete_all(pkg, ["t.1.arrow"]).unwrap();
        complete_all(pkg, ["t.1.arrow"]).unwrap();
        assert_eq!(locate(pkg, "t.1.arrow").unwrap().0, JobState::Completed);
        assert!(!pkg.join(NEW_JOBS).join("t.1.arrow").exists());
        assert!(move_to(pkg, "missing", JobState::Started).is_err());
        // A failed job keeps its error until it is loaded again.
        fail(pkg, "t.1.arrow", "bad value").unwrap();
        assert_eq!(locate(pkg, "t.1.arrow").unwrap().0, JobState::Failed);
        assert_eq!(exception(pkg, "t.1.arrow").as_deref(), Some("bad value"));
        move_to(pkg, "t.1.arrow", JobState::Completed).unwrap();
        assert_eq!(exception(pkg, "t.1.arrow"), None);
    }
}

//! What the operational commands share: the project lock with a live waiting message, and
//! the out-of-disk diagnosis of a failed sync.

use std::io::IsTerminal;

use crate::config::{Project, Settings};
use crate::ops::lock::{ProjectLock, stderr_reporter};
use crate::ops::settings::OpsSettings;
use crate::sources::SourceEntry;

/// The project's writer lock, waiting up to `[runtime] lock_timeout` with a message on stderr.
pub(crate) fn project_lock(project: &Project, settings: &Settings) -> crate::Result<ProjectLock> {
    let ops = OpsSettings::load(settings)?;
    Ok(ProjectLock::for_project(project.root(), ops.lock_timeout)
        .on_wait(stderr_reporter(std::io::stderr().is_terminal())))
}

/// [`project_lock`] with the settings read from the project.
pub(crate) fn lock_of(project: &Project) -> anyhow::Result<ProjectLock> {
    Ok(project_lock(project, &project.settings()?)?)
}

/// A sync that ran out of disk gets an error that says where, how much and what to do.
pub(crate) fn out_of_space(
    project: &Project,
    entry: &SourceEntry,
    e: crate::Error,
) -> crate::Error {
    let name = entry.pipeline_name();
    let cx = crate::ops::disk::SpaceContext {
        working_dir: project.pipeline_dir(&name),
        warehouse: Some(project.warehouse()),
        pipeline: name,
    };
    crate::ops::disk::out_of_space_error(&e, &cx).unwrap_or(e)
}

//! Pending load packages: what is pending (with sizes), and aborting them (dlt's
//! `pipeline <name> abort-packages`, formerly `drop-pending-packages`).
//!
//! An aborted package moves to `load/loaded/<id>` marked `aborted` (`package_completed.json`),
//! its jobs to `failed_jobs/` with the reason, so `pipeline failed-jobs` still shows them.
//! Nothing in the destination is touched: committed data stays.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::storage::jobs::{self, JobState};
use crate::storage::{self, ExtractedManifest, NormalizedJob, NormalizedManifest, PipelineDir};

/// A package that is not loaded.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPackage {
    /// Load id.
    pub load_id: String,
    /// `extracting`, `extracted`, `normalizing` or `normalized`.
    pub state: &'static str,
    /// Its folder.
    pub path: PathBuf,
    /// Bytes on disk.
    pub size: u64,
    /// Job files.
    pub jobs: usize,
    /// Rows (normalized) or items (extracted), as far as known.
    pub rows: u64,
}

/// Pending packages of a pipeline, oldest first within each state.
pub fn pending(dir: &PipelineDir) -> Result<Vec<PendingPackage>> {
    let mut out = Vec::new();
    for (sub, state) in [
        ("normalize/extracting", "extracting"),
        ("normalize/extracted", "extracted"),
        ("load/normalizing", "normalizing"),
        ("load/normalized", "normalized"),
    ] {
        for id in dir.list(sub)? {
            let path = dir.root().join(sub).join(&id);
            let (jobs, rows) = match state {
                "normalized" => {
                    storage::read_json::<NormalizedManifest>(&path.join("package.json"))
                        .map(|m| (m.jobs.len(), m.jobs.iter().map(|j| j.rows).sum()))
                        .unwrap_or((0, 0))
                }
                "extracted" => storage::read_json::<ExtractedManifest>(&path.join("package.json"))
                    .map(|m| (m.jobs.len(), m.jobs.iter().map(|j| j.items).sum()))
                    .unwrap_or((0, 0)),
                _ => (0, 0),
            };
            out.push(PendingPackage {
                load_id: id,
                state,
                size: super::disk::dir_size(&path),
                path,
                jobs,
                rows,
            });
        }
    }
    Ok(out)
}

/// Aborts `packages` (see the module docs); in-progress folders are removed.
pub fn abort(dir: &PipelineDir, packages: &[PendingPackage], reason: &str) -> Result<()> {
    for p in packages {
        let dlt_written = !p.path.join("package.json").exists();
        match p.state {
            "normalized" | "extracted" if dlt_written => abort_dlt_written(dir, p, reason)?,
            "normalized" => abort_normalized(dir, p, reason)?,
            "extracted" => abort_extracted(dir, p, reason)?,
            _ => std::fs::remove_dir_all(&p.path).map_err(|e| Error::io(&p.path, e))?,
        }
        clear_refresh_marker(dir, &p.load_id)?;
        tracing::info!(load_id = %p.load_id, "Aborted a pending package: {reason}");
    }
    Ok(())
}

fn abort_normalized(dir: &PipelineDir, p: &PendingPackage, reason: &str) -> Result<()> {
    let m: NormalizedManifest = storage::read_json(&p.path.join("package.json"))?;
    jobs::create_folders(&p.path)?;
    for j in &m.jobs {
        if !matches!(
            jobs::locate(&p.path, &j.file),
            Some((JobState::Completed, _))
        ) {
            jobs::fail(&p.path, &j.file, reason)?;
        }
    }
    publish_aborted(dir, p)
}

fn abort_extracted(dir: &PipelineDir, p: &PendingPackage, reason: &str) -> Result<()> {
    let m: ExtractedManifest = storage::read_json(&p.path.join("package.json"))?;
    // Shown like a loaded package: the extracted jobs as jobs of their resource's table.
    let normalized = NormalizedManifest {
        load_id: m.load_id.clone(),
        created_at: m.created_at.clone(),
        schema_name: m.schema_name.clone(),
        jobs: m
            .jobs
            .iter()
            .map(|j| NormalizedJob {
                table: j.resource.clone(),
                file: j.file.clone(),
                rows: j.items,
                size: std::fs::metadata(p.path.join(jobs::NEW_JOBS).join(&j.file))
                    .map(|m| m.len())
                    .unwrap_or(0),
                columns: Vec::new(),
            })
            .collect(),
        truncate_tables: Vec::new(),
        items: m.jobs.iter().map(|j| j.items).sum(),
    };
    let from = p.path.join("package.json");
    let kept = p.path.join("extracted_package.json");
    std::fs::rename(&from, &kept).map_err(|e| Error::io(&from, e))?;
    storage::write_json(&from, &normalized)?;
    jobs::create_folders(&p.path)?;
    for j in &m.jobs {
        jobs::fail(&p.path, &j.file, reason)?;
    }
    publish_aborted(dir, p)
}

/// A package dlt wrote (no dango manifest): its new jobs failed with the reason.
fn abort_dlt_written(dir: &PipelineDir, p: &PendingPackage, reason: &str) -> Result<()> {
    jobs::create_folders(&p.path)?;
    let new_jobs = p.path.join(jobs::NEW_JOBS);
    let files: Vec<String> = std::fs::read_dir(&new_jobs)
        .map_err(|e| Error::io(&new_jobs, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for f in files {
        jobs::fail(&p.path, &f, reason)?;
    }
    publish_aborted(dir, p)
}

fn publish_aborted(dir: &PipelineDir, p: &PendingPackage) -> Result<()> {
    let to = dir.loaded(&p.load_id);
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| Error::io(&to, e))?;
    }
    storage::publish(&p.path, &to)?;
    storage::write_atomic(&to.join("package_completed.json"), b"\"aborted\"")
}

fn clear_refresh_marker(dir: &PipelineDir, load_id: &str) -> Result<()> {
    let m = dir.root().join("full_refresh.json");
    let marked = std::fs::read_to_string(&m)
        .ok()
        .and_then(|t| serde_json::from_str::<String>(&t).ok());
    if marked.as_deref() == Some(load_id) {
        std::fs::remove_file(&m).map_err(|e| Error::io(&m, e))?;
    }
    Ok(())
}

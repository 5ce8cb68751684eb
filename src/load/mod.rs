//! Load: commits a normalized package to a destination, over `dyn Destination` (the protocol
//! is in [`crate::destinations`]).
//!
//! On a transactional destination (DuckDB) one transaction holds the schema migration, the
//! truncation of replaced tables, every job's rows, the `_dlt_version` row (if the schema is
//! new), the `_dlt_pipeline_state` row (if the state changed) and the `_dlt_loads` row. Only
//! after the commit do the jobs move to `completed_jobs/` and the package to `load/loaded/`.
//! If the process dies after the commit but before the move, the next run finds the load id
//! in `_dlt_loads` and only finishes the move, so nothing is loaded twice. On a
//! non-transactional destination each job moves `new_jobs/` → `started_jobs/` →
//! `completed_jobs/` as it loads, and a resumed load skips completed jobs.

use std::collections::HashMap;

pub use crate::destinations::ReplaceStrategy;
use crate::destinations::{Destination, JobFile, LoadPlan};
use crate::error::{Error, Result};
use crate::schema::WriteDisposition;
use crate::schema::{Schema, dlt_dict};
use crate::state::PipelineState;
use crate::storage::jobs::{self, JobState};
use crate::storage::{self, NormalizedManifest, PipelineDir, read_json};

/// What loading one package did.
#[derive(Debug, Clone)]
pub struct LoadedPackage {
    /// The package manifest (jobs with tables, files, sizes, rows).
    pub manifest: NormalizedManifest,
    /// Schema of the package.
    pub schema: Schema,
    /// DDL statements that ran.
    pub migrations: Vec<String>,
    /// True when the package had already been committed by an earlier, interrupted run.
    pub already_committed: bool,
}

/// Reads the schema stored in a normalized package.
pub fn package_schema(dir: &PipelineDir, load_id: &str) -> Result<Schema> {
    let path = dir.normalized(load_id).join("schema.json");
    let v: serde_json::Value = read_json(&path)?;
    dlt_dict::from_json(&v).map_err(|reason| Error::Corrupt { path, reason })
}

/// Options of [`load_package_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Full refresh: drop the whole dataset (tables and dlt system tables) inside the load
    /// transaction before creating it anew, so the old data stays until the new load commits.
    pub replace_dataset: bool,
    /// How `replace` tables are loaded.
    pub replace_strategy: ReplaceStrategy,
    /// Refuse the load (before the commit) if it would leave a previously non-empty root
    /// table with 0 rows ([`Error::EmptyReplaceRefused`]).
    pub refuse_empty_replace: bool,
}

/// Loads the normalized package `load_id` into `dataset`, committing `state` with it.
pub fn load_package(
    dir: &PipelineDir,
    load_id: &str,
    dest: &mut dyn Destination,
    dataset: &str,
    state: &PipelineState,
) -> Result<LoadedPackage> {
    load_package_with(dir, load_id, dest, dataset, state, LoadOptions::default())
}

/// [`load_package`] with options: drives `dest` through the load protocol of
/// [`crate::destinations`] and moves the package to `loaded/` once it is committed.
pub fn load_package_with(
    dir: &PipelineDir,
    load_id: &str,
    dest: &mut dyn Destination,
    dataset: &str,
    state: &PipelineState,
    opts: LoadOptions,
) -> Result<LoadedPackage> {
    load_package_inner(dir, load_id, dest, dataset, state, opts, None)
}

/// [`load_package_with`], or the end of a load that [`streamed::Begun`] while the package was
/// normalized.
fn load_package_inner(
    dir: &PipelineDir,
    load_id: &str,
    dest: &mut dyn Destination,
    dataset: &str,
    state: &PipelineState,
    opts: LoadOptions,
    streamed: Option<&streamed::Begun>,
) -> Result<LoadedPackage> {
    let pkg = dir.normalized(load_id);
    let manifest: NormalizedManifest = read_json(&pkg.join("package.json"))?;
    let schema = package_schema(dir, load_id)?;

    if streamed.is_none() && dest.has_load(dataset, load_id)? {
        finish_package(dir, load_id, &manifest)?;
        return Ok(LoadedPackage {
            manifest,
            schema,
            migrations: Vec::new(),
            already_committed: true,
        });
    }

    let existing = match streamed {
        Some(begun) => begun.before.clone(),
        None if opts.replace_dataset => HashMap::new(),
        None => dest.dataset_tables(dataset)?,
    };
    let version_known = existing.contains_key(crate::schema::VERSION_TABLE)
        && dest.has_schema_version(dataset, &schema.version_hash)?;
    let pipeline_name = state
        .doc()
        .get("pipeline_name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let last_state_hash = if existing.contains_key(crate::schema::STATE_TABLE) {
        dest.stored_state_hash(dataset, &pipeline_name)?
    } else {
        None
    };

    let plan = LoadPlan {
        load_id,
        dataset,
        schema: &schema,
        jobs: manifest
            .jobs
            .iter()
            .map(|j| JobFile {
                path: jobs::locate(&pkg, &j.file)
                    .map(|(_, p)| p)
                    .unwrap_or_else(|| pkg.join(jobs::NEW_JOBS).join(&j.file)),
                table: j.table.clone(),
                columns: j.columns.clone(),
            })
            .collect(),
        merge_roots: merge_roots(&schema, &manifest),
    };
    let guarded = if let Some(begun) = streamed {
        begun.guarded.clone()
    } else if opts.refuse_empty_replace {
        guard::candidates(
            dest,
            dataset,
            &schema,
            &manifest.truncate_tables,
            opts.replace_dataset,
        )?
    } else {
        Vec::new()
    };
    if streamed.is_none() {
        dest.begin_load(&plan)?;
    }
    let steps = PackageSteps {
        guarded: &guarded,
        pkg: &pkg,
        plan: &plan,
        manifest: &manifest,
        existing: &existing,
        opts,
        version_known,
        state_changed: last_state_hash.as_deref() != Some(state.stored_hash()),
        state,
        streamed,
    };
    let migrations = match steps.run(dest) {
        Ok(m) => m,
        Err((job, e)) => {
            dest.rollback_load();
            // A job the destination refused for good is marked failed in the package (dlt's
            // `failed_jobs/`, shown by `pipeline failed-jobs`); the package stays pending and
            // the next load tries it again.
            if let Some(i) = job.filter(|_| !e.is_transient()) {
                let message = crate::config::redact::redact(&e.to_string());
                jobs::fail(&pkg, &manifest.jobs[i].file, &message)?;
            }
            return Err(e);
        }
    };
    crate::fault::point("load_before_commit");
    dest.commit_load()?;
    crate::fault::point("load_after_commit");
    finish_package(dir, load_id, &manifest)?;
    Ok(LoadedPackage {
        manifest,
        schema,
        migrations,
        already_committed: false,
    })
}

/// The steps of one package load between `begin_load` and `commit_load`.
struct PackageSteps<'a> {
    pkg: &'a std::path::Path,
    plan: &'a LoadPlan<'a>,
    manifest: &'a NormalizedManifest,
    existing: &'a HashMap<String, Vec<String>>,
    opts: LoadOptions,
    version_known: bool,
    state_changed: bool,
    state: &'a PipelineState,
    /// Tables that must not end empty, with their rows before the load.
    guarded: &'a [(String, u64)],
    /// The load began while the package was normalized: storage is initialized, replaced
    /// tables are truncated, and these jobs are loaded already.
    streamed: Option<&'a streamed::Begun>,
}

impl PackageSteps<'_> {
    /// Runs the steps; on error, says which job failed (if a job did).
    fn run(&self, dest: &mut dyn Destination) -> Result<Vec<String>, (Option<usize>, Error)> {
        let mut current = None;
        self.run_jobs(dest, &mut current).map_err(|e| (current, e))
    }

    fn run_jobs(
        &self,
        dest: &mut dyn Destination,
        current: &mut Option<usize>,
    ) -> Result<Vec<String>> {
        let (dataset, schema) = (self.plan.dataset, self.plan.schema);
        if let Some(begun) = self.streamed {
            return self.finish_streamed(dest, begun, current);
        }
        dest.initialize_storage(dataset, self.opts.replace_dataset)?;
        let migrations = dest.update_stored_schema(dataset, schema, self.existing)?;
        let from_staging = self.opts.replace_strategy == ReplaceStrategy::InsertFromStaging;
        if !from_staging {
            let truncate: Vec<String> = self
                .manifest
                .truncate_tables
                .iter()
                .filter(|t| self.existing.contains_key(*t))
                .cloned()
                .collect();
            dest.truncate_tables(dataset, &truncate)?;
        }
        // Merge tables (and, with insert-from-staging, replaced ones) load into the staging
        // dataset first, then merge from there.
        let staging = format!("{dataset}_staging");
        let replace_roots = if from_staging {
            replace_roots(schema, self.manifest)
        } else {
            Vec::new()
        };
        let staged: Vec<String> = self
            .plan
            .merge_roots
            .iter()
            .chain(&replace_roots)
            .cloned()
            .collect();
        if !staged.is_empty() {
            dest.prepare_staging(&staging, schema, &staged)?;
        }
        let per_job = !dest.capabilities().transactional_loads;
        for (i, job) in self.plan.jobs.iter().enumerate() {
            let root = schema.root_table(&job.table);
            let target = if staged.iter().any(|r| r == root) {
                &staging
            } else {
                dataset
            };
            *current = Some(i);
            if !per_job {
                dest.load_job(i, job, target)?;
                continue;
            }
            // Non-transactional: each job's state is kept in the package, so a crash
            // resumes job by job.
            let file = &self.manifest.jobs[i].file;
            if matches!(jobs::locate(self.pkg, file), Some((JobState::Completed, _))) {
                continue;
            }
            let started = JobFile {
                path: jobs::move_to(self.pkg, file, JobState::Started)?,
                ..job.clone()
            };
            dest.load_job(i, &started, target)?;
            jobs::move_to(self.pkg, file, JobState::Completed)?;
        }
        *current = None;
        for root in &self.plan.merge_roots {
            dest.merge_table(dataset, &staging, schema, root, self.plan.load_id)?;
        }
        // insert-from-staging: each replaced table (nested ones too, even without new rows) is
        // emptied and refilled from staging.
        for t in self
            .manifest
            .truncate_tables
            .iter()
            .filter(|_| from_staging)
        {
            if let Some(table) = schema.table(t).filter(|t| t.has_complete_columns()) {
                dest.replace_from_staging(dataset, &staging, table)?;
            }
        }
        self.commit_records(dest)?;
        Ok(migrations)
    }

    /// The records every load ends with: the empty-replace check, the schema (if new), the
    /// state (if changed) and the `_dlt_loads` row.
    fn commit_records(&self, dest: &mut dyn Destination) -> Result<()> {
        let (dataset, schema) = (self.plan.dataset, self.plan.schema);
        guard::check(dest, dataset, self.guarded)?;
        if !self.version_known {
            dest.store_schema(dataset, schema)?;
        }
        if self.state_changed {
            dest.store_state(dataset, &self.state.to_row(), self.plan.load_id)?;
        }
        dest.complete_load(dataset, self.plan.load_id, schema)
    }
}

/// Root tables with write disposition `merge` that have jobs in the package.
fn merge_roots(schema: &Schema, manifest: &NormalizedManifest) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for job in &manifest.jobs {
        let root = schema.root_table(&job.table).to_string();
        if schema.write_disposition(&root) == WriteDisposition::Merge && !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// Root tables with write disposition `replace` in the package (their tables are in
/// `truncate_tables`).
fn replace_roots(schema: &Schema, manifest: &NormalizedManifest) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for t in &manifest.truncate_tables {
        let root = schema.root_table(t).to_string();
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// Moves a committed package's jobs to `completed_jobs/`, the package to `load/loaded/`, and
/// marks it completed. Idempotent: a run that died half way through finishes it.
fn finish_package(dir: &PipelineDir, load_id: &str, manifest: &NormalizedManifest) -> Result<()> {
    let from = dir.normalized(load_id);
    jobs::create_folders(&from)?;
    jobs::complete_all(&from, manifest.jobs.iter().map(|j| j.file.as_str()))?;
    let to = dir.loaded(load_id);
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| Error::io(&to, e))?;
    }
    storage::publish(&from, &to)?;
    // dlt's own files, so `dlt pipeline … load-package` reads the package as one of its own.
    let state = crate::state::package_state(&to)?.map(|s| s.to_row());
    storage::dlt_files::write_load_package_state(
        &to,
        load_id,
        &manifest.created_at,
        state.as_ref(),
    )?;
    storage::dlt_files::write_package_completed(&to)?;
    Ok(())
}

pub use crate::destinations::random_dlt_id;

mod guard;
pub mod streamed;

#[cfg(test)]
mod tests;

//! A load that overlaps normalize: the load transaction opens before the package is
//! normalized, each job file goes in as soon as normalize closes it, and the package's
//! schema, state and `_dlt_loads` row commit with the rest once the normalized package is
//! published.
//!
//! The guarantees are those of [`super::load_package_with`]: one transaction holds
//! everything, so a crash or an error before `COMMIT` leaves the destination as it was; the
//! extracted package stays until the normalized one is published, and the normalized one
//! until the commit, so the next run resumes from whichever exists. Only destinations whose
//! factory says [`crate::destinations::DestinationFactory::streams_jobs`] are loaded this way,
//! and only packages without `merge` tables (merges need every row staged first).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{LoadOptions, LoadedPackage, PackageSteps, guard};
use crate::destinations::{Destination, JobFile, LoadPlan};
use crate::error::{Error, Result};
use crate::normalize::ClosedJob;
use crate::schema::Schema;
use crate::state::PipelineState;
use crate::storage::PipelineDir;

/// A load transaction opened before its package was normalized.
#[derive(Debug)]
pub struct Begun {
    /// The dataset's tables and columns before the load.
    pub(super) before: HashMap<String, Vec<String>>,
    /// The tables and columns as the load's migrations left them so far.
    current: HashMap<String, Vec<String>>,
    /// Migrations that ran.
    migrations: Vec<String>,
    /// Job files loaded already.
    loaded: HashSet<String>,
    /// Replaced root tables that must not end empty, with their rows before the load.
    pub(super) guarded: Vec<(String, u64)>,
    /// Tables of `replace` resources to empty before their first rows go in (those that
    /// exist), and those emptied already.
    truncate: Vec<String>,
    truncated: HashSet<String>,
}

impl Begun {
    /// Opens the load transaction on `dest` for a package of `dataset` about to be normalized
    /// against `schema`, and creates the dataset. The `truncate` tables (of `replace`
    /// resources) that exist are emptied when their root table gets its first rows, or when
    /// the finished package lists them (a resource with nothing new leaves its table alone).
    pub fn start(
        dest: &mut dyn Destination,
        load_id: &str,
        dataset: &str,
        schema: &Schema,
        truncate: &[String],
        opts: LoadOptions,
    ) -> Result<Begun> {
        let before = dest.dataset_tables(dataset)?;
        let guarded = if opts.refuse_empty_replace {
            guard::candidates(dest, dataset, schema, truncate, false)?
        } else {
            Vec::new()
        };
        let plan = LoadPlan {
            load_id,
            dataset,
            schema,
            jobs: Vec::new(),
            merge_roots: Vec::new(),
        };
        dest.begin_load(&plan)?;
        if let Err(e) = dest.initialize_storage(dataset, false) {
            dest.rollback_load();
            return Err(e);
        }
        Ok(Begun {
            current: before.clone(),
            truncate: truncate
                .iter()
                .filter(|t| before.contains_key(*t))
                .cloned()
                .collect(),
            truncated: HashSet::new(),
            before,
            migrations: Vec::new(),
            loaded: HashSet::new(),
            guarded,
        })
    }

    /// Loads one job file that normalize just closed: migrates the dataset to the schema it
    /// was written against, then inserts its rows. `published` is the folder the file is in
    /// once normalize has published the package (it may finish before the load catches up).
    /// On error the caller rolls back.
    pub fn job(
        &mut self,
        dest: &mut dyn Destination,
        dataset: &str,
        job: &ClosedJob,
        published: &Path,
    ) -> Result<()> {
        self.migrate(dest, dataset, &job.schema)?;
        let root = job.schema.root_table(&job.job.table).to_string();
        let tables: Vec<String> = self
            .truncate
            .iter()
            .filter(|t| job.schema.root_table(t) == root)
            .cloned()
            .collect();
        self.empty(dest, dataset, &tables)?;
        let mut file = JobFile {
            path: job.path.clone(),
            table: job.job.table.clone(),
            columns: job.job.columns.clone(),
        };
        match dest.load_streamed_job(&file, dataset) {
            // Published (renamed with its folder) since it was handed over; the file is
            // opened before any statement runs, so the transaction is intact.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                file.path = published.join(&job.job.file);
                dest.load_streamed_job(&file, dataset)?;
            }
            loaded => loaded?,
        }
        self.loaded.insert(job.job.file.clone());
        crate::fault::point("after_streamed_job");
        Ok(())
    }

    /// Empties those of `tables` not emptied yet.
    fn empty(
        &mut self,
        dest: &mut dyn Destination,
        dataset: &str,
        tables: &[String],
    ) -> Result<()> {
        let due: Vec<String> = tables
            .iter()
            .filter(|t| !self.truncated.contains(*t))
            .cloned()
            .collect();
        dest.truncate_tables(dataset, &due)?;
        self.truncated.extend(due);
        Ok(())
    }

    /// Brings the dataset in line with `schema` (new tables, new columns).
    fn migrate(
        &mut self,
        dest: &mut dyn Destination,
        dataset: &str,
        schema: &Schema,
    ) -> Result<()> {
        let statements = dest.update_stored_schema(dataset, schema, &self.current)?;
        if statements.is_empty() {
            return Ok(());
        }
        for t in schema.tables.values().filter(|t| t.has_complete_columns()) {
            let cols = self.current.entry(t.name.clone()).or_default();
            for c in t.columns.values().filter(|c| c.is_complete()) {
                if !cols.contains(&c.name) {
                    cols.push(c.name.clone());
                }
            }
        }
        self.migrations.extend(statements);
        Ok(())
    }

    /// Ends the load once the package `load_id` is normalized and published: loads the jobs
    /// that were not handed over yet, stores the schema, `state` and the `_dlt_loads` row,
    /// commits and moves the package to `loaded/`. Rolls back on error.
    pub fn finish(
        self,
        dir: &PipelineDir,
        load_id: &str,
        dest: &mut dyn Destination,
        dataset: &str,
        state: &PipelineState,
        opts: LoadOptions,
    ) -> Result<LoadedPackage> {
        let out = super::load_package_inner(dir, load_id, dest, dataset, state, opts, Some(&self));
        if out.is_err() {
            dest.rollback_load();
        }
        out
    }
}

impl PackageSteps<'_> {
    /// The rest of a load [`Begun`] while the package was normalized.
    pub(super) fn finish_streamed(
        &self,
        dest: &mut dyn Destination,
        begun: &Begun,
        current: &mut Option<usize>,
    ) -> Result<Vec<String>> {
        let (dataset, schema) = (self.plan.dataset, self.plan.schema);
        let mut migrations = begun.migrations.clone();
        migrations.extend(dest.update_stored_schema(dataset, schema, &begun.current)?);
        let due: Vec<String> = self
            .manifest
            .truncate_tables
            .iter()
            .filter(|t| begun.before.contains_key(*t) && !begun.truncated.contains(*t))
            .cloned()
            .collect();
        dest.truncate_tables(dataset, &due)?;
        for (i, job) in self.plan.jobs.iter().enumerate() {
            if begun.loaded.contains(&self.manifest.jobs[i].file) {
                continue;
            }
            *current = Some(i);
            dest.load_streamed_job(job, dataset)?;
        }
        *current = None;
        self.commit_records(dest)?;
        Ok(migrations)
    }
}

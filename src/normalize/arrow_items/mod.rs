//! Normalizes Arrow jobs of an extracted package (written by
//! [`crate::extract::ItemWriter::write_arrow`]) without a JSON text round trip.
//!
//! What the rows become is the job's [`ArrowMode`], chosen by the source after its dlt
//! counterpart:
//!
//! - [`ArrowMode::Tables`] ([`tables`]) follows dlt's Arrow normalizer: columns pass through to
//!   the Arrow IPC output jobs with dlt's naming (`normalize_path`) applied to their names;
//!   nested (struct, list) columns stay whole and are typed `json`; `_dlt_load_id` / `_dlt_id`
//!   are added only when `[normalize.parquet_normalizer] add_dlt_load_id` / `add_dlt_id` are
//!   set. Schema columns get dlt's types from the Arrow types, adjusted to the destination as
//!   dlt does (`adjust_schema_to_capabilities`: the timezone flag is dropped, so naive
//!   timestamps load as `TIMESTAMP WITH TIME ZONE` in UTC; the default precision is omitted).
//! - [`ArrowMode::Dicts`] ([`dicts`]) produces what dlt's dict path makes of the same rows as
//!   Python dicts: the top-level columns are declared from the Arrow schema first (as
//!   `sql_database` declares its reflected columns: decimals with precision and scale,
//!   timestamps with their precision and `timezone: false` when naive), then each row is
//!   converted straight from the Arrow arrays into the normalizer's [`super::value::Value`]
//!   and normalized like a JSON item (structs flattened into `a__b` columns, lists into nested
//!   tables, `_dlt_load_id` / `_dlt_id`, contracts, variants).
//!
//! Arrow jobs are normalized after the JSON chunks of the package, one batch at a time.

mod dicts;
mod tables;
pub mod types;

use std::path::PathBuf;

use arrow::ipc::reader::FileReader;

use super::NormalizeConfig;
use super::relational::TableSettings;
use super::writer::JobWriters;
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::schema::contract::SchemaContract;
use crate::storage::{ArrowMode, ExtractedManifest, JobFormat, NormalizedJob};

/// The Arrow jobs of one package being normalized, with what normalize knows of each job
/// (indexes match `manifest.jobs`).
pub(super) struct Package<'a> {
    /// The extracted package's manifest.
    pub manifest: &'a ExtractedManifest,
    /// Path of each job file.
    pub paths: &'a [PathBuf],
    /// Normalizer settings of each job's resource.
    pub settings: &'a [TableSettings],
    /// Schema contract of each job's resource.
    pub contracts: &'a [SchemaContract],
    /// The load id.
    pub load_id: &'a str,
    /// Normalize settings.
    pub cfg: &'a NormalizeConfig,
    /// `new_jobs/` of the normalized package.
    pub out: PathBuf,
}

/// What the Arrow jobs produced besides the rows handed to the shared job writers.
#[derive(Default)]
pub(super) struct Normalized {
    /// Items (rows of the extracted batches) read.
    pub items: u64,
    /// Output jobs written directly (the Arrow path passes columns through).
    pub jobs: Vec<NormalizedJob>,
}

impl Package<'_> {
    /// Normalizes every Arrow job of the package into `schema` and `writers` (dict path) or
    /// into job files of their own (Arrow path).
    /// Jobs whose file `skip` names were normalized before (see [`super::Early`]).
    pub fn normalize(
        &self,
        schema: &mut Schema,
        writers: &mut JobWriters,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<Normalized> {
        let mut done = Normalized::default();
        for (i, job) in self.manifest.jobs.iter().enumerate() {
            let JobFormat::Arrow(mode) = job.format else {
                continue;
            };
            if skip(&job.file) {
                continue;
            }
            let path = &self.paths[i];
            let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let reader = FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, f), None)
                .map_err(|e| Error::Corrupt {
                path: path.clone(),
                reason: format!("not an Arrow IPC file: {e}"),
            })?;
            let job_ctx = JobContext {
                schema_name: schema.name.clone(),
                origin: job.origin.origin.clone(),
                settings: &self.settings[i],
                contract: &self.contracts[i],
                load_id: self.load_id,
                cfg: self.cfg,
            };
            match mode {
                ArrowMode::Tables => {
                    let (job, items) = tables::normalize_job(&job_ctx, reader, schema, &self.out)?;
                    done.items += items;
                    done.jobs.extend(job);
                }
                ArrowMode::Dicts => {
                    done.items += dicts::normalize_job(&job_ctx, reader, schema, writers)?;
                }
            }
        }
        Ok(done)
    }
}

impl Normalized {
    /// These jobs, then those of `later`.
    pub fn with_later(self, later: Normalized) -> Normalized {
        later.with(self)
    }

    /// These jobs and those `earlier` normalized before them.
    pub fn with(mut self, earlier: Normalized) -> Normalized {
        self.items += earlier.items;
        let mut jobs = earlier.jobs;
        jobs.extend(self.jobs);
        self.jobs = jobs;
        self
    }

    /// Adds the Arrow path's jobs to `jobs` (from the shared writers) and orders all of them
    /// by the schema's table order (parents before nested tables), as the writers do.
    pub fn merge_jobs(self, mut jobs: Vec<NormalizedJob>, schema: &Schema) -> Vec<NormalizedJob> {
        if self.jobs.is_empty() {
            return jobs;
        }
        jobs.extend(self.jobs);
        let order = |t: &str| schema.tables.get_index_of(t).unwrap_or(usize::MAX);
        jobs.sort_by_key(|j| order(&j.table));
        jobs
    }
}

/// What one Arrow job is normalized with.
pub(super) struct JobContext<'a> {
    schema_name: String,
    /// Where the items came from (for errors).
    origin: String,
    settings: &'a TableSettings,
    contract: &'a SchemaContract,
    load_id: &'a str,
    cfg: &'a NormalizeConfig,
}

impl JobContext<'_> {
    /// A normalize error about this job.
    fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::Normalize {
            schema: self.schema_name.clone(),
            reason: format!("Arrow items of {}: {reason}", self.origin),
        }
    }
}

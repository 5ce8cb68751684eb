//! Destinations: where load packages land.
//!
//! A destination type is one folder, `src/destinations/<type>/`, that implements two traits:
//!
//! - [`DestinationFactory`]: what the pipeline holds. Built from config (a file path, a
//!   connection URL), it knows the destination's [`Capabilities`] without connecting, and
//!   opens a [`Destination`] when a stage needs one.
//! - [`Destination`]: an open connection, after dlt's `JobClientBase` / `WithStateSync`. The
//!   loader ([`crate::load`]) drives it through one load package; inspection
//!   ([`crate::inspect`]), state restore and `pipeline drop` read and write through it.
//!
//! Nothing outside `destinations/<type>/` names a concrete client: stages hold
//! `dyn Destination`. Dialect SQL (DDL, merge statements, type names) lives with its type.
//!
//! # The load protocol
//!
//! The loader calls, for one package:
//!
//! 1. [`Destination::has_load`]: a package whose id is in `_dlt_loads` was committed by an
//!    earlier run that died before moving it; it is only moved to `loaded/`.
//! 2. [`Destination::begin_load`] with the [`LoadPlan`] (jobs, staging tables). A
//!    transactional destination ([`Capabilities::transactional_loads`]) opens its transaction
//!    here: everything up to [`Destination::commit_load`] then commits together or not at all.
//! 3. [`Destination::initialize_storage`], [`Destination::update_stored_schema`],
//!    [`Destination::truncate_tables`], [`Destination::prepare_staging`].
//! 4. [`Destination::load_job`] for each job, in manifest order. A non-transactional
//!    destination makes each job durable when it returns; the loader records the job as
//!    completed in the package (`completed_jobs/`), so a crash resumes job by job.
//! 5. [`Destination::merge_table`] for each merge root, [`Destination::replace_from_staging`]
//!    for each replaced table (insert-from-staging).
//! 6. [`Destination::store_schema`] (if the schema version is new), [`Destination::store_state`]
//!    (if the state changed), then [`Destination::complete_load`], which writes the
//!    `_dlt_loads` row: dlt's contract is that a load id in `_dlt_loads` with status 0 means
//!    the package's data, schema and state are all in the destination.
//! 7. [`Destination::commit_load`]; on any error before it, [`Destination::rollback_load`].

pub mod config;
pub mod duckdb;
pub mod filesystem;
pub mod history;
pub mod postgres;
pub mod sql_common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::schema::{Column, MergeStrategy, Schema, Table, WriteDisposition};

/// How tables with write disposition `replace` are loaded (dlt's
/// `[destination] replace_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplaceStrategy {
    /// Empty the table and its nested tables (`DELETE … WHERE 1=1`), then insert (dlt's
    /// default).
    #[default]
    TruncateAndInsert,
    /// Load into `<dataset>_staging`, then empty each table and copy the staging rows over.
    /// dlt's `staging-optimized` does the same on DuckDB.
    InsertFromStaging,
}

impl std::str::FromStr for ReplaceStrategy {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s {
            "truncate-and-insert" => Ok(ReplaceStrategy::TruncateAndInsert),
            "insert-from-staging" | "staging-optimized" => Ok(ReplaceStrategy::InsertFromStaging),
            _ => Err(()),
        }
    }
}

/// `[destination.<kind>] replace_strategy`, then `[destination] replace_strategy` (dlt's
/// `DESTINATION__REPLACE_STRATEGY`): how `replace` tables are loaded.
pub fn replace_strategy(kind: &str, settings: &crate::config::Settings) -> Result<ReplaceStrategy> {
    for sections in [&["destination", kind][..], &["destination"][..]] {
        if let Some(v) = settings.parse(
            sections,
            "replace_strategy",
            "one of truncate-and-insert, insert-from-staging, staging-optimized",
        )? {
            return Ok(v);
        }
    }
    Ok(ReplaceStrategy::default())
}

/// The file format of normalized job files (dlt's `loader_file_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFileFormat {
    /// Arrow IPC files (dango's normalizer output).
    ArrowIpc,
}

/// What a destination can do and its limits, after dlt's `DestinationCapabilitiesContext`.
/// Normalize reads the naming and type limits from here instead of constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The destination type, as dlt names it (`duckdb`, `postgres`, `filesystem`).
    pub destination_type: &'static str,
    /// Longest table or column name; longer ones are shortened with dlt's hash tag
    /// (`NamingConvention.shorten_identifier`).
    pub max_identifier_length: usize,
    /// Precision and scale of `decimal` columns without their own (dlt's
    /// `decimal_precision`).
    pub decimal_precision: (u32, u32),
    /// Precision and scale of `wei` columns (dlt's `wei_precision`).
    pub wei_precision: (u32, u32),
    /// Fractional-second digits timestamps keep (dlt's `timestamp_precision`).
    pub timestamp_precision: u32,
    /// Whether a package's data, schema, state and `_dlt_loads` row commit in one
    /// transaction. When false the loader tracks job states in the package.
    pub transactional_loads: bool,
    /// Write dispositions the destination implements.
    pub write_dispositions: &'static [WriteDisposition],
    /// Merge strategies the destination implements.
    pub merge_strategies: &'static [MergeStrategy],
    /// Replace strategies the destination implements.
    pub replace_strategies: &'static [ReplaceStrategy],
    /// The job file format the destination loads best.
    pub preferred_file_format: JobFileFormat,
}

/// How a destination is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Reading only (inspection, state restore); never creates anything.
    ReadOnly,
    /// Loading, dropping.
    ReadWrite,
}

/// A destination as configured: capabilities without connecting, and a way to connect.
pub trait DestinationFactory: Send + Sync + std::fmt::Debug {
    /// The destination's capabilities.
    fn capabilities(&self) -> Capabilities;

    /// Where it is, for messages (a file path, a URL without credentials).
    fn location(&self) -> String;

    /// Whether anything can be stored there yet (a warehouse file that does not exist holds no
    /// state). Reading stops early when false.
    fn exists(&self) -> bool;

    /// The destination's type name for a column (the type it creates for it; dlt's type
    /// mapper).
    fn column_type(&self, column: &Column) -> String;

    /// Opens a connection.
    fn open(&self, mode: OpenMode) -> Result<Box<dyn Destination>>;

    /// A key naming the stored data when one read-write connection may serve several
    /// pipelines of one process, one after the other (the sources of one `dango sync`); the
    /// pipelines whose destinations give the same key share it. `None` (the default): every
    /// pipeline opens its own connections.
    fn share_key(&self) -> Option<String> {
        None
    }

    /// What identifies the stored data as it is now, when the destination can tell cheaply
    /// without connecting (a local file's identity, size and change times), with the time it
    /// last changed. Equal fingerprints mean nothing was written in between, so a pipeline may
    /// skip reading its state again when its local state has not changed either. `None` (the
    /// default): unknown, always read.
    fn fingerprint(&self) -> Option<(String, std::time::SystemTime)> {
        None
    }

    /// Whether a load can take jobs while the package is still being normalized
    /// ([`Destination::load_streamed_job`] inside one open transaction), so normalize and load
    /// overlap. `false` (the default): the package is normalized first, then loaded.
    fn streams_jobs(&self) -> bool {
        false
    }
}

/// One job of a [`LoadPlan`]: a normalized job file and the table it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    /// The job file.
    pub path: PathBuf,
    /// Table name.
    pub table: String,
    /// Columns of the file, in file order.
    pub columns: Vec<String>,
}

/// What one package load does, handed to [`Destination::begin_load`].
#[derive(Debug, Clone)]
pub struct LoadPlan<'a> {
    /// The package's load id.
    pub load_id: &'a str,
    /// The dataset.
    pub dataset: &'a str,
    /// The schema of the package.
    pub schema: &'a Schema,
    /// Jobs, in load order.
    pub jobs: Vec<JobFile>,
    /// Root tables with write disposition `merge` that have jobs.
    pub merge_roots: Vec<String>,
}

/// An open destination, after dlt's `JobClientBase` and `WithStateSync`.
///
/// Datasets are dlt's: a schema (DuckDB, Postgres) or folder (filesystem) named by the
/// pipeline's `dataset_name`; staging tables live in `<dataset>_staging`.
pub trait Destination: Send {
    /// The destination's capabilities.
    fn capabilities(&self) -> Capabilities;

    /// Checks that the destination answers and, when opened read-write, can be written.
    fn health_check(&mut self) -> Result<()>;

    // --- What is stored ---

    /// Tables of `dataset` with their column names in order (empty if there is no dataset).
    fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>>;

    /// Columns of `dataset.table` with the destination's type names, in order; `None` if
    /// there is no such table.
    fn table_columns(&self, dataset: &str, table: &str) -> Result<Option<Vec<(String, String)>>>;

    /// Rows of `dataset.table` (0 if it does not exist).
    fn row_count(&self, dataset: &str, table: &str) -> Result<u64>;

    /// Rows of `dataset.table` with `_dlt_load_id = load_id` (0 if the table or column is
    /// missing).
    fn rows_of_load(&self, dataset: &str, table: &str, load_id: &str) -> Result<u64>;

    /// Up to `n` rows of `dataset.table`: column names, and every value as text (NULL as
    /// `None`).
    fn sample(&self, dataset: &str, table: &str, n: usize) -> Result<Sample>;

    /// Whether `_dlt_loads` of the dataset records `load_id`.
    fn has_load(&self, dataset: &str, load_id: &str) -> Result<bool>;

    /// The newest completed load (status 0) of schema `schema_name`: load id and
    /// `inserted_at` as ISO 8601 in UTC.
    fn last_load(&self, dataset: &str, schema_name: &str) -> Result<Option<(String, String)>>;

    /// The newest committed state of `pipeline` (dlt's `get_stored_state`: the latest
    /// `_dlt_pipeline_state` row whose load is in `_dlt_loads` with status 0), as stored:
    /// zlib + base64 of the state document.
    fn stored_state(&self, dataset: &str, pipeline: &str) -> Result<Option<String>>;

    /// The `version_hash` of the newest stored state row of `pipeline`.
    fn stored_state_hash(&self, dataset: &str, pipeline: &str) -> Result<Option<String>>;

    /// The newest stored schema called `schema_name` (`_dlt_version`).
    fn stored_schema(&self, dataset: &str, schema_name: &str) -> Result<Option<Schema>>;

    /// Whether `_dlt_version` holds a schema with `version_hash`.
    fn has_schema_version(&self, dataset: &str, version_hash: &str) -> Result<bool>;

    // --- Loading a package (see the module docs for the order) ---

    /// Starts loading `plan` (a transactional destination opens its transaction).
    fn begin_load(&mut self, plan: &LoadPlan<'_>) -> Result<()>;

    /// Creates the dataset; with `replace`, drops it first (full refresh), inside the load.
    fn initialize_storage(&mut self, dataset: &str, replace: bool) -> Result<()>;

    /// Creates missing tables and adds missing columns of `schema`; never drops or retypes.
    /// `existing` is [`Destination::dataset_tables`] read before the load. Returns the DDL.
    fn update_stored_schema(
        &mut self,
        dataset: &str,
        schema: &Schema,
        existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>>;

    /// Empties `tables` (write disposition `replace`, truncate-and-insert).
    fn truncate_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()>;

    /// Creates the staging tables (empty, all columns nullable) of `roots` and their nested
    /// tables in `staging`.
    fn prepare_staging(&mut self, staging: &str, schema: &Schema, roots: &[String]) -> Result<()>;

    /// Loads job `index` of the plan into `dataset` (the dataset or its staging dataset).
    /// `job` is the plan's job, with the path where the file is now (a non-transactional load
    /// moves it to `started_jobs/` first).
    fn load_job(&mut self, index: usize, job: &JobFile, dataset: &str) -> Result<()>;

    /// Loads a job that was not in the plan given to `begin_load` into `dataset`, inside the
    /// open load transaction (a job that arrives while the package is still being
    /// normalized). Only destinations whose factory says [`DestinationFactory::streams_jobs`]
    /// implement it; the default fails.
    fn load_streamed_job(&mut self, job: &JobFile, dataset: &str) -> Result<()> {
        let _ = dataset;
        Err(Error::Internal(format!(
            "this destination cannot load job {} while the package is normalized",
            job.path.display()
        )))
    }

    /// Merges the staged rows of root table `root` (and its nested tables) into `dataset`,
    /// with the table's merge strategy; scd2's validity boundary is the package's creation
    /// time, taken from `load_id`.
    fn merge_table(
        &mut self,
        dataset: &str,
        staging: &str,
        schema: &Schema,
        root: &str,
        load_id: &str,
    ) -> Result<()>;

    /// Replaces the rows of `table` with its staged rows (insert-from-staging).
    fn replace_from_staging(&mut self, dataset: &str, staging: &str, table: &Table) -> Result<()>;

    /// Stores `schema` in `_dlt_version`.
    fn store_schema(&mut self, dataset: &str, schema: &Schema) -> Result<()>;

    /// Stores a `_dlt_pipeline_state` row, attributed to `load_id`.
    fn store_state(&mut self, dataset: &str, row: &StateRow, load_id: &str) -> Result<()>;

    /// Writes the `_dlt_loads` row (status 0) of `load_id`: the marker that the package is
    /// complete in the destination.
    fn complete_load(&mut self, dataset: &str, load_id: &str, schema: &Schema) -> Result<()>;

    /// Commits the load (transactional destinations; a no-op otherwise).
    fn commit_load(&mut self) -> Result<()>;

    /// Abandons the load after an error (rolls the transaction back where there is one) and
    /// releases what [`Destination::begin_load`] took.
    fn rollback_load(&mut self);

    // --- Maintenance ---

    /// Drops `tables` of `dataset` (those that exist). Inside a load when one is open.
    fn drop_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()>;

    // --- Operations (sync history) ---

    /// Appends `record` to the `_dango_sync_history` table of `dataset` (creating the dataset
    /// and table if needed), keeping the newest `keep` records of its source. Commits on its
    /// own (never inside a load).
    fn append_sync_history(
        &mut self,
        dataset: &str,
        record: &history::SyncRecord,
        keep: u64,
    ) -> Result<()> {
        let _ = (dataset, record, keep);
        Err(crate::Error::Config(format!(
            "the {} destination does not keep a sync history yet",
            self.capabilities().destination_type
        )))
    }

    /// The newest `limit` history records of `source` in `dataset`, newest first (empty when
    /// there is no history table).
    fn sync_history(
        &self,
        dataset: &str,
        source: &str,
        limit: usize,
    ) -> Result<Vec<history::SyncRecord>> {
        let _ = (dataset, source, limit);
        Err(crate::Error::Config(format!(
            "the {} destination does not keep a sync history yet",
            self.capabilities().destination_type
        )))
    }
}

pub use crate::storage::dlt_files::StateRow;

/// A random 14-character `_dlt_id` (for rows dango writes itself, like state rows).
pub fn random_dlt_id() -> String {
    use base64::Engine;
    let bytes: [u8; 10] = rand::random();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Column names and rows of [`Destination::sample`].
pub type Sample = (Vec<String>, Vec<Vec<Option<String>>>);

/// Makes a configured destination of one type from the project and its settings.
pub type MakeDestination =
    fn(&crate::config::Project, &crate::config::Settings) -> Result<Arc<dyn DestinationFactory>>;

/// Destination types, by the name dlt gives them: one line per type.
const TYPES: &[(&str, MakeDestination)] = &[
    ("duckdb", duckdb::from_project),
    ("postgres", postgres::from_project),
    ("filesystem", filesystem::from_project),
];

/// The names of the destination types this build has (what `destination:` may say).
pub fn names() -> Vec<&'static str> {
    TYPES.iter().map(|(n, _)| *n).collect()
}

/// The destination `kind` of `project`, configured from `settings` (dlt's
/// `[destination.<kind>]` sections).
pub fn configured(
    kind: &str,
    project: &crate::config::Project,
    settings: &crate::config::Settings,
) -> Result<Arc<dyn DestinationFactory>> {
    match TYPES.iter().find(|(name, _)| *name == kind) {
        Some((_, make)) => make(project, settings),
        None => Err(crate::Error::Config(format!(
            "unknown destination `{kind}`; dango supports: {}",
            TYPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Destination settings a source entry in sources.yml gives itself, winning over
/// `[destination.<type>]` for that source only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntrySettings {
    /// `table_format` (filesystem: `delta`).
    pub table_format: Option<String>,
    /// `file_format` (filesystem: `parquet` for plain Parquet files).
    pub file_format: Option<String>,
}

impl EntrySettings {
    /// Whether the entry sets nothing.
    pub fn is_empty(&self) -> bool {
        self.table_format.is_none() && self.file_format.is_none()
    }
}

/// [`configured`], with the settings of one source entry winning over
/// `[destination.<kind>]`. Only the filesystem destination has per-source settings
/// (`table_format`, `file_format`); `dango validate` refuses them on other types.
pub fn configured_for_entry(
    kind: &str,
    entry: &EntrySettings,
    project: &crate::config::Project,
    settings: &crate::config::Settings,
) -> Result<Arc<dyn DestinationFactory>> {
    if entry.is_empty() {
        return configured(kind, project, settings);
    }
    match kind {
        "filesystem" => filesystem::from_project_for_entry(project, settings, entry),
        other => Err(crate::Error::Config(format!(
            "`table_format` / `file_format` on a source entry apply to the filesystem destination only, and this source loads into `{other}`: remove them from the entry in .dango/sources.yml, or set `destination: filesystem` on it"
        ))),
    }
}

/// The project's default destination (DuckDB at `data/warehouse.duckdb`) with default
/// options, for reading: inspection never depends on load settings.
pub fn for_inspection(project: &crate::config::Project) -> Arc<dyn DestinationFactory> {
    Arc::new(duckdb::DuckDb::new(
        project.warehouse(),
        duckdb::DuckDbOptions::default(),
    ))
}

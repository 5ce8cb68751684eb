//! The pipeline: extract → normalize → load, with resume of pending work.
//!
//! [`Pipeline::run`] is the Rust counterpart of dlt's `pipeline.run(source)`:
//!
//! ```no_run
//! use dango::pipeline::Pipeline;
//! use dango::sources::{IterResource, Source};
//! use dango::schema::WriteDisposition;
//!
//! let pages = vec![vec![serde_json::json!({"id": 1, "tags": ["a", "b"]})]];
//! let users = IterResource::new("users", pages.into_iter())
//!     .write_disposition(WriteDisposition::Replace);
//! let mut pipeline = Pipeline::builder("my_pipeline")
//!     .dataset("raw_my_pipeline")
//!     .duckdb("data/warehouse.duckdb")
//!     .working_dir(".dlt/pipelines/my_pipeline")
//!     .build()?;
//! let info = pipeline.run(Source::new("my_pipeline", vec![Box::new(users)]))?;
//! println!("{info}");
//! # Ok::<(), dango::Error>(())
//! ```

mod dlt_pending;
mod info;
mod overlap;
mod resume;
mod shared;
mod state_check;
mod steps;
pub mod trace;

pub use crate::extract::{CancelToken, Progress, ProgressFn, RunContext};
pub use info::{JobInfo, LoadInfo, LoadPackageInfo, TableInfo};
pub use shared::{HAND_OVER_FOR, SharedWarehouse, SharedWarehouses};
pub use trace::{NormalizeInfo, PipelineTrace};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::destinations::DestinationFactory;
use crate::destinations::duckdb::{DuckDb, DuckDbOptions};
use crate::error::{Error, Result};
use crate::normalize::{self, NormalizeConfig};
use crate::schema::{Schema, dlt_dict};
use crate::sources::Source;
use crate::state::PipelineState;
use crate::storage::PipelineDir;

/// Builds a [`Pipeline`].
#[derive(Clone)]
pub struct PipelineBuilder {
    name: String,
    dataset: Option<String>,
    warehouse: Option<PathBuf>,
    destination: Option<Arc<dyn DestinationFactory>>,
    working_dir: Option<PathBuf>,
    normalize: NormalizeConfig,
    limit: Option<u64>,
    extract_workers: usize,
    full_refresh: bool,
    ctx: RunContext,
    duckdb_options: DuckDbOptions,
    window: Option<crate::incremental::Window>,
    replace_strategy: crate::load::ReplaceStrategy,
    commit_lock: Option<crate::ops::lock::ProjectLock>,
    refuse_empty_replace: bool,
    shared: Option<Arc<SharedWarehouse>>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("full_refresh", &self.full_refresh)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// Full refresh: the next run starts from a fresh schema and state and replaces the whole
    /// dataset in its load transaction (old data stays until the new load commits).
    pub fn full_refresh(mut self, on: bool) -> Self {
        self.full_refresh = on;
        self
    }

    /// An ad-hoc window for the incrementals of the next runs (`--since/--until`): it replaces
    /// their `initial_value`/`end_value` and never moves the saved cursors.
    pub fn window(mut self, w: Option<crate::incremental::Window>) -> Self {
        self.window = w;
        self
    }

    /// How `replace` tables are loaded (`[destination] replace_strategy`; truncate-and-insert
    /// by default).
    pub fn replace_strategy(mut self, s: crate::load::ReplaceStrategy) -> Self {
        self.replace_strategy = s;
        self
    }

    /// Takes `lock` (the project's writer lock) around every write to the destination, so
    /// only one process commits at a time; extract and normalize run without it.
    pub fn commit_lock(mut self, lock: crate::ops::lock::ProjectLock) -> Self {
        self.commit_lock = Some(lock);
        self
    }

    /// Reads the destination's state and commits through `shared`, a connection the other
    /// pipelines of this process share (see [`SharedWarehouse`]), instead of opening one of
    /// its own each time. It is taken under its own lock, which replaces
    /// [`PipelineBuilder::commit_lock`] for these uses.
    pub fn shared_warehouse(mut self, shared: Arc<SharedWarehouse>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Refuses (before the commit, changing nothing) a load that would leave a previously
    /// non-empty root table empty: a `replace` table, or any table of a full refresh.
    pub fn refuse_empty_replace(mut self, on: bool) -> Self {
        self.refuse_empty_replace = on;
        self
    }

    /// Reports progress of runs to `f`.
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.ctx.progress = Some(f);
        self
    }

    /// Cancels runs when `token` is cancelled (from another thread: a Ctrl-C handler, a
    /// dashboard). Each pipeline has its own token by default.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.ctx.cancel = token;
        self
    }

    /// Resources extracted at the same time (`[extract] workers`, default 5).
    pub fn extract_workers(mut self, n: usize) -> Self {
        self.extract_workers = n.max(1);
        self
    }

    /// Dataset (DuckDB schema); default `<name>_dataset`, as dlt.
    pub fn dataset(mut self, d: impl Into<String>) -> Self {
        self.dataset = Some(d.into());
        self
    }

    /// The destination (default: DuckDB, see [`PipelineBuilder::duckdb`]).
    pub fn destination(mut self, d: Arc<dyn DestinationFactory>) -> Self {
        self.destination = Some(d);
        self
    }

    /// DuckDB file; default `<name>.duckdb` in the current dir, as dlt.
    pub fn duckdb(mut self, path: impl Into<PathBuf>) -> Self {
        self.warehouse = Some(path.into());
        self
    }

    /// DuckDB settings for the warehouse connection (default: [`DuckDbOptions::default`]).
    pub fn duckdb_options(mut self, options: DuckDbOptions) -> Self {
        self.duckdb_options = options;
        self
    }

    /// Working dir; default `.dlt/pipelines/<name>` under the current dir (never `~/.dlt`).
    pub fn working_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(p.into());
        self
    }

    /// Normalize settings.
    pub fn normalize(mut self, cfg: NormalizeConfig) -> Self {
        self.normalize = cfg;
        self
    }

    /// Caps the items taken from each resource.
    pub fn limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// Creates the pipeline (and its working dir).
    pub fn build(self) -> Result<Pipeline> {
        let name = self.name;
        if name.is_empty() {
            return Err(Error::Config("pipeline name is empty".into()));
        }
        let destination = match self.destination {
            Some(d) => d,
            None => Arc::new(DuckDb::new(
                self.warehouse
                    .unwrap_or_else(|| PathBuf::from(format!("{name}.duckdb"))),
                self.duckdb_options,
            )),
        };
        // Names follow the destination's limits (dlt's naming convention gets the
        // destination's `max_identifier_length`).
        let naming =
            normalize::naming::Naming::new(destination.capabilities().max_identifier_length);
        let mut normalize = self.normalize;
        normalize.naming = naming;
        let dataset = self.dataset.unwrap_or_else(|| format!("{name}_dataset"));
        let dataset = naming.normalize_table_identifier(&dataset);
        let dir = PipelineDir::new(
            self.working_dir
                .unwrap_or_else(|| Path::new(".dlt").join("pipelines").join(&name)),
        );
        dir.create().map_err(|e| match e {
            Error::Io { path, source } => Error::Config(format!(
                "cannot create the pipeline working dir {}: {source}. Check that the project directory is writable",
                path.display()
            )),
            e => e,
        })?;
        Ok(Pipeline {
            name,
            dataset,
            destination,
            dir,
            normalize,
            limit: self.limit,
            extract_workers: self.extract_workers,
            full_refresh: self.full_refresh,
            ctx: self.ctx,
            window: self.window,
            replace_strategy: self.replace_strategy,
            commit_lock: self.commit_lock,
            refuse_empty_replace: self.refuse_empty_replace,
            shared: self.shared,
        })
    }
}

/// A pipeline: name, destination, dataset and working dir.
#[derive(Clone)]
pub struct Pipeline {
    name: String,
    dataset: String,
    destination: Arc<dyn DestinationFactory>,
    dir: PipelineDir,
    normalize: NormalizeConfig,
    limit: Option<u64>,
    extract_workers: usize,
    full_refresh: bool,
    ctx: RunContext,
    window: Option<crate::incremental::Window>,
    replace_strategy: crate::load::ReplaceStrategy,
    commit_lock: Option<crate::ops::lock::ProjectLock>,
    refuse_empty_replace: bool,
    shared: Option<Arc<SharedWarehouse>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("dataset", &self.dataset)
            .field("destination", &self.destination)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts building a pipeline called `name`.
    pub fn builder(name: impl Into<String>) -> PipelineBuilder {
        PipelineBuilder {
            name: name.into(),
            dataset: None,
            warehouse: None,
            destination: None,
            working_dir: None,
            normalize: NormalizeConfig::default(),
            limit: None,
            extract_workers: 5,
            full_refresh: false,
            ctx: RunContext::default(),
            duckdb_options: DuckDbOptions::default(),
            window: None,
            replace_strategy: crate::load::ReplaceStrategy::default(),
            commit_lock: None,
            refuse_empty_replace: false,
            shared: None,
        }
    }

    /// Pipeline name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dataset name.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The destination.
    pub fn destination(&self) -> &Arc<dyn DestinationFactory> {
        &self.destination
    }

    /// Working dir.
    pub fn working_dir(&self) -> &PipelineDir {
        &self.dir
    }

    /// The stored schema, or a new one (always a new one while a full refresh is pending).
    pub fn schema(&self) -> Result<Schema> {
        if self.full_refresh || self.refresh_pending().is_some() {
            return Ok(dlt_dict::new_schema(&self.name));
        }
        let path = self.dir.schema_path(&self.name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                dlt_dict::from_json(&v).map_err(|reason| Error::Corrupt { path, reason })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(dlt_dict::new_schema(&self.name))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// The local state, or a new one (always a new one while a full refresh is pending; its
    /// `_state_version` continues the old one, so it is newer than every state it replaces and
    /// a stale cursor can never be restored over it).
    pub fn state(&self) -> Result<PipelineState> {
        let local = PipelineState::load(&self.dir.state_path())?;
        let mut state = if self.full_refresh || self.refresh_pending().is_some() {
            let mut fresh = PipelineState::new(&self.name, &self.dataset, &self.name);
            fresh.set_state_version(local.map(|s| s.state_version()).unwrap_or(0));
            fresh
        } else {
            local.unwrap_or_else(|| PipelineState::new(&self.name, &self.dataset, &self.name))
        };
        // dlt records the destination the pipeline loads into.
        let kind = format!(
            "dlt.destinations.{}",
            self.destination.capabilities().destination_type
        );
        state
            .doc_mut()
            .insert("destination_type".into(), serde_json::Value::String(kind));
        Ok(state)
    }

    /// Restores state and schema from the warehouse if the local ones are missing or older
    /// (dlt's `sync_destination`). Returns what it did.
    pub fn sync_destination(&self) -> Result<crate::state::warehouse::Restored> {
        crate::state::warehouse::restore_if_newer(
            self.destination.as_ref(),
            &self.dataset,
            &self.name,
            &self.dir,
            false,
        )
    }

    /// The trace of the last run (`trace.json`), the counterpart of dlt's `last_trace`.
    pub fn last_trace(&self) -> Result<Option<PipelineTrace>> {
        PipelineTrace::load(&self.dir.root().join("trace.json"))
    }

    fn report(&self, p: Progress) {
        self.ctx.report(p);
    }

    /// The token that cancels this pipeline's runs.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.ctx.cancel
    }

    /// Runs `source`: finishes pending work, then extracts, normalizes and loads it. The
    /// run's trace is saved as `trace.json` (see [`Pipeline::last_trace`]).
    pub fn run(&mut self, source: Source) -> Result<LoadInfo> {
        let (mut trace, started) = PipelineTrace::start(&self.name, self.full_refresh);
        let result = self.run_traced(source, &mut trace);
        trace.elapsed_secs = started.elapsed().as_secs_f64();
        let step = trace::PipelineTrace::begin("run");
        trace.end(step, result.as_ref().err()).load_info = result.as_ref().ok().cloned();
        if let Some(last) = trace.steps.last_mut() {
            last.elapsed_secs = trace.elapsed_secs;
        }
        if let Err(e) = trace.save(&self.dir.root().join("trace.json")) {
            tracing::warn!("cannot save the trace of pipeline {}: {e}", self.name);
        }
        result
    }
}

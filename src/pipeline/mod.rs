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

mod info;
pub mod interrupt;
pub mod trace;

pub use info::{JobInfo, LoadInfo, LoadPackageInfo, TableInfo};
pub use trace::{NormalizeInfo, PipelineTrace, Progress, ProgressFn};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};
use crate::extract::PackageWriter;
use crate::load::destinations::duckdb::{DuckDbClient, DuckDbOptions};
use crate::load::{self, LoadedPackage};
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
    working_dir: Option<PathBuf>,
    normalize: NormalizeConfig,
    limit: Option<u64>,
    extract_workers: usize,
    full_refresh: bool,
    progress: Option<ProgressFn>,
    duckdb_options: DuckDbOptions,
    window: Option<crate::incremental::Window>,
    replace_strategy: crate::load::ReplaceStrategy,
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

    /// Reports progress of runs to `f`.
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
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
        let dataset = self.dataset.unwrap_or_else(|| format!("{name}_dataset"));
        let dataset = normalize::naming::normalize_table_identifier(&dataset);
        let warehouse = self
            .warehouse
            .unwrap_or_else(|| PathBuf::from(format!("{name}.duckdb")));
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
            warehouse,
            dir,
            normalize: self.normalize,
            limit: self.limit,
            extract_workers: self.extract_workers,
            full_refresh: self.full_refresh,
            progress: self.progress,
            duckdb_options: self.duckdb_options,
            window: self.window,
            replace_strategy: self.replace_strategy,
        })
    }
}

/// A pipeline: name, destination (DuckDB file), dataset and working dir.
#[derive(Clone)]
pub struct Pipeline {
    name: String,
    dataset: String,
    warehouse: PathBuf,
    dir: PipelineDir,
    normalize: NormalizeConfig,
    limit: Option<u64>,
    extract_workers: usize,
    full_refresh: bool,
    progress: Option<ProgressFn>,
    duckdb_options: DuckDbOptions,
    window: Option<crate::incremental::Window>,
    replace_strategy: crate::load::ReplaceStrategy,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("dataset", &self.dataset)
            .field("warehouse", &self.warehouse)
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
            working_dir: None,
            normalize: NormalizeConfig::default(),
            limit: None,
            extract_workers: 5,
            full_refresh: false,
            progress: None,
            duckdb_options: DuckDbOptions::default(),
            window: None,
            replace_strategy: crate::load::ReplaceStrategy::default(),
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

    /// Warehouse file.
    pub fn warehouse(&self) -> &Path {
        &self.warehouse
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
        if self.full_refresh || self.refresh_pending().is_some() {
            let mut fresh = PipelineState::new(&self.name, &self.dataset, &self.name);
            fresh.set_state_version(local.map(|s| s.state_version()).unwrap_or(0));
            return Ok(fresh);
        }
        Ok(local.unwrap_or_else(|| PipelineState::new(&self.name, &self.dataset, &self.name)))
    }

    /// Restores state and schema from the warehouse if the local ones are missing or older
    /// (dlt's `sync_destination`). Returns what it did.
    pub fn sync_destination(&self) -> Result<crate::state::warehouse::Restored> {
        crate::state::warehouse::restore_if_newer(
            &self.warehouse,
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

    fn refresh_marker(&self) -> PathBuf {
        self.dir.root().join("full_refresh.json")
    }

    /// The load id of a full-refresh package not yet committed.
    fn refresh_pending(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.refresh_marker()).ok()?;
        serde_json::from_str::<String>(&text).ok()
    }

    fn report(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    fn lock(&self) -> Result<File> {
        let path = self.dir.root().join(".lock");
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        match f.try_lock_exclusive() {
            Ok(true) => Ok(f),
            Ok(false) | Err(_) => Err(Error::Config(format!(
                "pipeline `{}` is being run by another process (lock {}). Wait for it to finish",
                self.name,
                path.display()
            ))),
        }
    }

    /// Finishes pending work of earlier, interrupted runs: discards half-written packages,
    /// normalizes complete extracted packages and loads normalized ones.
    pub fn resume_pending(&mut self) -> Result<Vec<LoadedPackage>> {
        let _lock = self.lock()?;
        self.resume_locked()
    }

    fn resume_locked(&mut self) -> Result<Vec<LoadedPackage>> {
        let discarded = self.dir.discard_in_progress()?;
        for id in discarded {
            tracing::info!(load_id = %id, "Discarded an unfinished package of an interrupted run.");
        }
        if let Some(id) = self.refresh_pending()
            && !self.dir.extracted(&id).exists()
            && !self.dir.normalized(&id).exists()
        {
            // The full refresh never got a complete package: nothing was dropped, the old
            // state and data are intact.
            tracing::warn!(load_id = %id, "A full refresh was interrupted before its data was extracted; the old data and state are kept. Run it again with --full-refresh.");
            let m = self.refresh_marker();
            std::fs::remove_file(&m).map_err(|e| Error::io(&m, e))?;
        }
        let mut schema = self.schema()?;
        for id in self.dir.list("normalize/extracted")? {
            if self.dir.normalized(&id).exists() || self.dir.loaded(&id).exists() {
                let p = self.dir.extracted(&id);
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                continue;
            }
            tracing::info!(load_id = %id, "Normalizing a pending extracted package.");
            normalize::normalize_package(&self.dir, &id, &mut schema, &self.normalize)
                .map_err(|e| e.in_step(&self.name, "normalize", Some(&id)))?;
        }
        let mut loaded = Vec::new();
        let pending = self.dir.list("load/normalized")?;
        if pending.is_empty() {
            return Ok(loaded);
        }
        let mut client = DuckDbClient::open_with(&self.warehouse, &self.duckdb_options)?;
        for id in pending {
            tracing::info!(load_id = %id, "Loading a pending normalized package.");
            loaded.push(self.load_one(&mut client, &id)?);
        }
        Ok(loaded)
    }

    fn load_one(&mut self, client: &mut DuckDbClient, load_id: &str) -> Result<LoadedPackage> {
        let refresh = self.refresh_pending().as_deref() == Some(load_id);
        // The state extracted with the package is the state its data commits.
        let mut state = match crate::state::package_state(&self.dir.normalized(load_id))? {
            Some(s) => s,
            None => self.state()?,
        };
        let package_schema = load::package_schema(&self.dir, load_id)
            .map_err(|e| e.in_step(&self.name, "load", Some(load_id)))?;
        state.set_local("first_run", serde_json::json!(false));
        state.set_local(
            "_last_extracted_at",
            serde_json::json!(chrono::Utc::now().to_rfc3339()),
        );
        state.bump();
        let opts = load::LoadOptions {
            replace_dataset: refresh,
            replace_strategy: self.replace_strategy,
        };
        let pkg = load::load_package_with(&self.dir, load_id, client, &self.dataset, &state, opts)
            .map_err(|e| e.in_step(&self.name, "load", Some(load_id)))?;
        crate::fault::point("load_before_state_save");
        // The warehouse is committed: the local copies follow it.
        state.save(&self.dir.state_path())?;
        crate::storage::write_atomic(
            &self.dir.schema_path(&self.name),
            dlt_dict::to_json_string_pretty(&package_schema).as_bytes(),
        )?;
        if refresh {
            let m = self.refresh_marker();
            std::fs::remove_file(&m).map_err(|e| Error::io(&m, e))?;
            self.full_refresh = false;
        }
        Ok(pkg)
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

    fn run_traced(&mut self, mut source: Source, trace: &mut PipelineTrace) -> Result<LoadInfo> {
        let started = Instant::now();
        let _lock = self.lock()?;
        if self.full_refresh {
            // Pending packages hold data of the state being dropped.
            for sub in ["normalize/extracted", "load/normalized"] {
                for id in self.dir.list(sub)? {
                    let p = self.dir.root().join(sub).join(&id);
                    std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                    tracing::info!(load_id = %id, "Full refresh: dropped a pending package.");
                }
            }
        }
        let current: Vec<crate::storage::ResourceHints> =
            source.resources.iter().flat_map(|r| r.tables()).collect();
        normalize::contract::refresh_pending_contracts(&self.dir, &current)?;
        let mut packages = Vec::new();
        for p in self.resume_locked()? {
            packages.push(p);
        }
        interrupt::check()?;
        // A lost or older local state (deleted dir, killed before the local write) follows
        // the warehouse.
        match self.sync_destination() {
            Ok(crate::state::warehouse::Restored::State { local, warehouse }) => {
                tracing::warn!(
                    "pipeline {}: the local state (version {local:?}) was older than the destination's (version {warehouse}); restored state and schema from the destination",
                    self.name
                );
            }
            Ok(_) => {}
            // Another process writes the warehouse: go on with the local state; the load
            // waits for the warehouse anyway.
            Err(e @ Error::WarehouseLocked { .. }) => {
                tracing::warn!("cannot compare the local state with the destination's: {e}")
            }
            Err(e) => return Err(e),
        }
        let mut state = self.state()?;
        let source_state =
            crate::state::SourceState::new(state.source(&source.name), self.window.clone());

        // Schema contracts on new root tables are decided at extract, as in dlt: discarded
        // resources are not extracted; frozen ones fail below if they yield items.
        let new_roots = normalize::contract::new_root_tables(
            &self.schema()?,
            &current,
            self.normalize.schema_contract.as_ref(),
        )
        .map_err(|e| e.in_step(&self.name, "extract", None))?;
        source.resources.retain(|r| {
            let discard = new_roots.iter().any(|n| {
                n.resource == r.hints().name && n.mode != crate::schema::contract::ContractMode::Freeze
            });
            if discard {
                tracing::info!(resource = %r.hints().name, "Table of resource {} is new and the schema contract discards new tables: its items are not loaded.", r.hints().name);
            }
            !discard
        });

        // Extract.
        let t = PipelineTrace::begin("extract");
        self.report(Progress::Step("extract"));
        let mut writer = PackageWriter::new(&self.dir, &self.name)
            .map_err(|e| e.in_step(&self.name, "extract", None))?;
        writer.set_limit(self.limit);
        writer.set_state(source_state.clone());
        writer.set_progress(self.progress.clone());
        let load_id = writer.load_id().to_string();
        if self.full_refresh {
            crate::storage::write_atomic(
                &self.refresh_marker(),
                serde_json::to_string(&load_id)
                    .unwrap_or_default()
                    .as_bytes(),
            )?;
        }
        let mut extract_info = trace::ExtractInfo {
            load_id: Some(load_id.clone()),
            ..Default::default()
        };
        let extracted = interrupt::check().and_then(|_| {
            crate::extract::extract_resources(&writer, &mut source.resources, self.extract_workers)
        });
        if let Err(e) = extracted {
            writer.abort();
            let e = e.in_step(&self.name, "extract", Some(&load_id));
            trace.end(t, Some(&e)).extract_info = Some(extract_info);
            return Err(e);
        }
        for r in writer.resource_stats() {
            extract_info
                .resource_items
                .insert(r.resource.clone(), r.items);
            self.report(Progress::ResourceExtracted {
                resource: r.resource,
                items: r.items,
                pages: r.pages,
                bytes: r.bytes,
            });
        }
        // The new cursors and state slots travel with the package: they become the saved
        // state only when its data commits.
        let source_doc = source_state.doc();
        if !source_doc.is_empty() || !state.source(&source.name).is_empty() {
            state.set_source(&source.name, source_doc);
        }
        state.set_local("first_run", serde_json::json!(false));
        state.set_local(
            "_last_extracted_at",
            serde_json::json!(chrono::Utc::now().to_rfc3339()),
        );
        state.bump();
        if let Err(e) = writer
            .attach_pipeline_state(&state)
            .and_then(|_| writer.finish())
        {
            let e = e.in_step(&self.name, "extract", Some(&load_id));
            trace.end(t, Some(&e));
            return Err(e);
        }
        if let Some(n) = normalize::contract::frozen_with_items(&self.dir, &load_id, &new_roots)? {
            let p = self.dir.extracted(&load_id);
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            let e = normalize::contract::frozen_table_error(&self.schema()?, &n.table).in_step(
                &self.name,
                "extract",
                Some(&load_id),
            );
            trace.end(t, Some(&e)).extract_info = Some(extract_info);
            return Err(e);
        }
        trace.end(t, None).extract_info = Some(extract_info);
        if self.window.is_some() && !source_state.window_used() {
            tracing::warn!(
                "--since/--until/--backfill had no effect on source `{}`: none of its resources has an incremental cursor (add `incremental:` with a `cursor_path` to a resource)",
                source.name
            );
        }
        crate::fault::point("after_extract");
        tracing::info!(load_id = %load_id, elapsed = ?started.elapsed(), "Extracted.");
        interrupt::check()?;

        // Normalize.
        let t = PipelineTrace::begin("normalize");
        self.report(Progress::Step("normalize"));
        let normalize_started = Instant::now();
        let mut schema = self.schema()?;
        if let Err(e) =
            normalize::normalize_package(&self.dir, &load_id, &mut schema, &self.normalize)
        {
            // Bad data in the package would fail again on every run: drop the package; the
            // source is read again next time.
            if matches!(e, Error::BadInput { .. } | Error::Normalize { .. }) {
                let p = self.dir.extracted(&load_id);
                let _ = std::fs::remove_dir_all(&p);
            }
            let e = e.in_step(&self.name, "normalize", Some(&load_id));
            trace.end(t, Some(&e));
            return Err(e);
        }
        let mut normalize_info = NormalizeInfo::default();
        if let Ok(m) = crate::storage::read_json::<crate::storage::NormalizedManifest>(
            &self.dir.normalized(&load_id).join("package.json"),
        ) {
            for j in &m.jobs {
                *normalize_info
                    .row_counts
                    .entry(j.table.clone())
                    .or_insert(0) += j.rows;
            }
        }
        self.report(Progress::Normalized {
            rows: normalize_info.row_counts.values().sum(),
        });
        trace.end(t, None).normalize_info = Some(normalize_info);
        crate::fault::point("after_normalize");
        tracing::info!(load_id = %load_id, elapsed = ?normalize_started.elapsed(), "Normalized.");
        interrupt::check()?;

        // Load.
        let t = PipelineTrace::begin("load");
        let load_started = Instant::now();
        self.report(Progress::Step("load"));
        let loaded = DuckDbClient::open_with(&self.warehouse, &self.duckdb_options)
            .map_err(|e| e.in_step(&self.name, "load", Some(&load_id)))
            .and_then(|mut client| {
                let pkg = self.load_one(&mut client, &load_id)?;
                Ok((client, pkg))
            });
        let (client, pkg) = match loaded {
            Ok(x) => x,
            Err(e) => {
                trace.end(t, Some(&e));
                return Err(e);
            }
        };
        packages.push(pkg);
        tracing::info!(load_id = %load_id, elapsed = ?load_started.elapsed(), "Loaded.");

        let mut info = LoadInfo::new(&self.name, &self.dataset, &self.warehouse, packages);
        info.elapsed = load_started.elapsed();
        for tbl in info.tables() {
            let n = client.row_count(&self.dataset, &tbl)?;
            info.total_rows.insert(tbl, n);
        }
        trace.end(t, None).load_info = Some(info.clone());
        Ok(info)
    }
}

//! The steps of a run: [`Pipeline::extract_step`] → [`Pipeline::normalize_step`] →
//! [`Pipeline::load_step`], each returning its info (dlt's `ExtractInfo`, `NormalizeInfo`,
//! `LoadInfo`). The schema is read once per run and handed from step to step.

use std::time::Instant;

use super::trace::{ExtractInfo, NormalizeInfo, PipelineTrace, StepTimer};
use super::{LoadInfo, Pipeline, Progress};
use crate::destinations::OpenMode;
use crate::error::{Error, Result};
use crate::extract::PackageWriter;
use crate::load::LoadedPackage;
use crate::normalize::{self, contract::NewRootTable};
use crate::schema::Schema;
use crate::sources::Source;
use crate::state::{PipelineState, SourceState};

/// A package writer ready to extract into, with the pipeline state and the source's state it
/// starts from.
pub(super) struct PreparedExtract {
    /// The package writer.
    pub writer: PackageWriter,
    state: PipelineState,
    source_state: SourceState,
}

/// Records a step's outcome in the trace, timed from `timer`.
pub(super) fn record<T: Clone>(
    trace: &mut PipelineTrace,
    timer: StepTimer,
    result: Result<T>,
    put: impl FnOnce(&mut super::trace::StepTrace, T),
) -> Result<T> {
    match result {
        Ok(v) => {
            put(trace.end(timer, None), v.clone());
            Ok(v)
        }
        Err(e) => {
            trace.end(timer, Some(&e));
            Err(e)
        }
    }
}

impl Pipeline {
    /// One run: resume, then extract, normalize and load `source`.
    pub(super) fn run_traced(
        &mut self,
        mut source: Source,
        trace: &mut PipelineTrace,
    ) -> Result<LoadInfo> {
        let _lock = self.lock()?;
        if self.full_refresh {
            self.drop_pending()?;
        }
        let current: Vec<crate::storage::ResourceHints> =
            source.resources.iter().flat_map(|r| r.tables()).collect();
        normalize::contract::refresh_pending_contracts(&self.dir, &current)?;
        let resumed = self.resume_locked()?;
        self.ctx.cancel.check()?;
        self.follow_destination()?;

        let mut schema = self.schema()?;
        let new_roots = self.new_table_contracts(&schema, &current, &mut source)?;

        if self.can_stream(&source, &new_roots) {
            return self.stream_run(&mut source, &mut schema, &new_roots, resumed, trace);
        }
        let started = Instant::now();
        let timer = PipelineTrace::begin("extract");
        let extracted = self.extract_step(&mut source, &schema, &new_roots);
        let extract = record(trace, timer, extracted, |s, i| s.extract_info = Some(i))?;
        let Some(load_id) = extract.load_id.clone() else {
            // Nothing new (dlt: "load step did not start"): no package, nothing committed.
            return Ok(self.nothing_loaded(resumed));
        };
        crate::fault::point("after_extract");
        tracing::info!(load_id = %load_id, elapsed = ?started.elapsed(), "Extracted.");
        self.ctx.cancel.check()?;

        let started = Instant::now();
        let timer = PipelineTrace::begin("normalize");
        let normalized = self.normalize_step(&load_id, &mut schema);
        record(trace, timer, normalized, |s, i| s.normalize_info = Some(i))?;
        crate::fault::point("after_normalize");
        tracing::info!(load_id = %load_id, elapsed = ?started.elapsed(), "Normalized.");
        self.ctx.cancel.check()?;

        let timer = PipelineTrace::begin("load");
        let loaded = self.load_step(&load_id, resumed);
        record(trace, timer, loaded, |s, i| s.load_info = Some(i))
    }

    /// Schema contracts on new root tables are decided at extract, as in dlt: discarded
    /// resources are not extracted; frozen ones fail after extract if they yield items.
    fn new_table_contracts(
        &self,
        schema: &Schema,
        current: &[crate::storage::ResourceHints],
        source: &mut Source,
    ) -> Result<Vec<NewRootTable>> {
        let new_roots = normalize::contract::new_root_tables(
            schema,
            current,
            self.normalize.schema_contract.as_ref(),
        )
        .map_err(|e| e.in_step(&self.name, "extract", None))?;
        source.resources.retain(|r| {
            let name = &r.hints().name;
            let discard = new_roots.iter().any(|n| {
                &n.resource == name && n.mode != crate::schema::contract::ContractMode::Freeze
            });
            if discard {
                tracing::info!(resource = %name, "Table of resource {name} is new and the schema contract discards new tables: its items are not loaded.");
            }
            !discard
        });
        Ok(new_roots)
    }

    /// Extracts `source` into a new package, with the pipeline state it will commit.
    pub(super) fn extract_step(
        &mut self,
        source: &mut Source,
        schema: &Schema,
        new_roots: &[NewRootTable],
    ) -> Result<ExtractInfo> {
        let prepared = self.prepare_extract(source)?;
        self.extract_prepared(prepared, source, schema, new_roots)
    }

    /// The package writer of a new extract of `source`, with the state it starts from.
    pub(super) fn prepare_extract(&mut self, source: &Source) -> Result<PreparedExtract> {
        self.report(Progress::Step("extract"));
        let state = self.state()?;
        let source_state = SourceState::new(state.source(&source.name), self.window.clone());
        let mut writer = PackageWriter::new(&self.dir, &self.name)
            .map_err(|e| e.in_step(&self.name, "extract", None))?;
        writer.set_limit(self.limit);
        writer.set_state(source_state.clone());
        writer.set_context(self.ctx.clone());
        Ok(PreparedExtract {
            writer,
            state,
            source_state,
        })
    }

    /// Extracts `source` with a [`Pipeline::prepare_extract`]ed writer.
    pub(super) fn extract_prepared(
        &mut self,
        prepared: PreparedExtract,
        source: &mut Source,
        schema: &Schema,
        new_roots: &[NewRootTable],
    ) -> Result<ExtractInfo> {
        let PreparedExtract {
            writer,
            mut state,
            source_state,
        } = prepared;
        let load_id = writer.load_id().to_string();
        if self.full_refresh {
            self.mark_refresh(&load_id)?;
        }
        let in_step = |e: Error| e.in_step(&self.name, "extract", Some(&load_id));
        if let Err(e) =
            crate::extract::extract_resources(&writer, &mut source.resources, self.extract_workers)
        {
            writer.abort();
            return Err(in_step(e));
        }
        let mut info = ExtractInfo {
            load_id: Some(load_id.clone()),
            ..Default::default()
        };
        for r in writer.resource_stats() {
            info.resource_items.insert(r.resource.clone(), r.items);
            self.report(Progress::ResourceExtracted {
                resource: r.resource,
                items: r.items,
                pages: r.pages,
                bytes: r.bytes,
            });
        }
        let last_extracted = state
            .doc()
            .get("_local")
            .and_then(|l| l.get("_last_extracted_hash"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        self.attach_state(&mut state, &source.name, &source_state);
        let state_unchanged = last_extracted.as_deref() == Some(state.stored_hash());
        if state_unchanged && writer.job_count() == 0 && self.nothing_new(source) {
            // Nothing new: the package is never published (dlt drops it before loading).
            writer.abort();
            tracing::info!(load_id = %load_id, "Nothing new: no items and an unchanged state; nothing to load.");
            info.load_id = None;
            return Ok(info);
        }
        writer
            .attach_pipeline_state(&state)
            .and_then(|_| writer.finish())
            .map_err(in_step)?;
        if let Some(n) = normalize::contract::frozen_with_items(&self.dir, &load_id, new_roots)? {
            let p = self.dir.extracted(&load_id);
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            return Err(in_step(normalize::contract::frozen_table_error(
                schema, &n.table,
            )));
        }
        if self.window.is_some() && !source_state.window_used() {
            tracing::warn!(
                "--since/--until/--backfill had no effect on source `{}`: none of its resources has an incremental cursor (add `incremental:` with a `cursor_path` to a resource)",
                source.name
            );
        }
        Ok(info)
    }

    /// Whether a package without jobs is dropped before loading, as dlt does (no `replace`
    /// table, which dango's load may empty; no full refresh).
    fn nothing_new(&self, source: &Source) -> bool {
        !self.full_refresh
            && self.refresh_pending().is_none()
            && !source
                .resources
                .iter()
                .flat_map(|r| r.tables())
                .any(|t| t.write_disposition == crate::schema::WriteDisposition::Replace)
    }

    /// The info of a run that found nothing new: the packages an earlier run left and this
    /// one finished, and no new load.
    pub(super) fn nothing_loaded(&self, packages: Vec<LoadedPackage>) -> LoadInfo {
        let caps = self.destination.capabilities();
        LoadInfo::new(
            &self.name,
            &self.dataset,
            caps.destination_type,
            &self.destination.location(),
            packages,
        )
    }

    /// The new cursors and state slots travel with the package: they become the saved state
    /// only when its data commits.
    fn attach_state(&self, state: &mut PipelineState, source: &str, source_state: &SourceState) {
        let source_doc = source_state.doc();
        if !source_doc.is_empty() || !state.source(source).is_empty() {
            state.set_source(source, source_doc);
        }
        state.mark_extracted();
    }

    /// Normalizes the extracted package `load_id` against `schema` (which it evolves).
    pub(super) fn normalize_step(
        &mut self,
        load_id: &str,
        schema: &mut Schema,
    ) -> Result<NormalizeInfo> {
        self.report(Progress::Step("normalize"));
        normalize::normalize_package(&self.dir, load_id, schema, &self.normalize)
            .map_err(|e| self.normalize_failed(load_id, e))?;
        self.normalize_info(load_id)
    }

    /// The error of a failed normalize, in its step. Bad data in the package would fail
    /// again on every run: the package goes, and the source is read again next time.
    pub(super) fn normalize_failed(&self, load_id: &str, e: Error) -> Error {
        if matches!(e, Error::BadInput { .. } | Error::Normalize { .. }) {
            let _ = std::fs::remove_dir_all(self.dir.extracted(load_id));
        }
        e.in_step(&self.name, "normalize", Some(load_id))
    }

    /// The info of the normalized package `load_id`: rows per table in job order, as the
    /// package lists them.
    pub(super) fn normalize_info(&self, load_id: &str) -> Result<NormalizeInfo> {
        let manifest: crate::storage::NormalizedManifest =
            crate::storage::read_json(&self.dir.normalized(load_id).join("package.json"))?;
        let mut info = NormalizeInfo::default();
        for j in &manifest.jobs {
            *info.row_counts.entry(j.table.clone()).or_insert(0) += j.rows;
        }
        self.report(Progress::Normalized {
            rows: info.row_counts.values().sum(),
        });
        Ok(info)
    }

    /// Loads the normalized package `load_id`; the info covers `resumed` packages too.
    pub(super) fn load_step(
        &mut self,
        load_id: &str,
        mut packages: Vec<LoadedPackage>,
    ) -> Result<LoadInfo> {
        let started = Instant::now();
        self.report(Progress::Step("load"));
        if let Some(shared) = self.shared.clone() {
            // The connection stays open for this source's history record.
            let name = self.name.clone();
            return shared
                .with(&name, "load", true, |dest| {
                    packages.push(self.load_one(dest, load_id)?);
                    self.loaded(dest, load_id, packages, started)
                })
                .map_err(|e| e.in_step(&self.name, "load", Some(load_id)));
        }
        let _commit = self
            .commit_lock()
            .map_err(|e| e.in_step(&self.name, "load", Some(load_id)))?;
        let mut dest = self
            .destination
            .open(OpenMode::ReadWrite)
            .map_err(|e| e.in_step(&self.name, "load", Some(load_id)))?;
        packages.push(self.load_one(dest.as_mut(), load_id)?);
        self.loaded(dest.as_mut(), load_id, packages, started)
    }

    /// The info of a load that committed `packages` (the last one just now), with the
    /// tables' row counts.
    pub(super) fn loaded(
        &self,
        dest: &mut dyn crate::destinations::Destination,
        load_id: &str,
        packages: Vec<LoadedPackage>,
        started: Instant,
    ) -> Result<LoadInfo> {
        tracing::info!(load_id = %load_id, elapsed = ?started.elapsed(), "Loaded.");
        let caps = self.destination.capabilities();
        let mut info = LoadInfo::new(
            &self.name,
            &self.dataset,
            caps.destination_type,
            &self.destination.location(),
            packages,
        );
        info.elapsed = started.elapsed();
        for tbl in info.tables() {
            let n = dest.row_count(&self.dataset, &tbl)?;
            info.total_rows.insert(tbl, n);
        }
        Ok(info)
    }
}

//! Normalize: turns an extracted package (JSON lines) into a normalized package (Arrow IPC
//! job files per table) and evolves the schema.
//!
//! Job files are split into chunks of about [`NormalizeConfig::chunk_bytes`] that worker threads
//! parse and normalize in parallel against a snapshot of the schema. A coordinator merges the
//! chunk results strictly in input order: a chunk whose new columns disagree with what earlier
//! chunks added (a type conflict a serial run would have resolved by coercion or a variant) is
//! normalized again against the merged schema. The result is identical to dlt's serial
//! normalization, at the speed of all cores.

pub mod arrow_items;
pub mod chunk;
pub mod coerce;
pub mod columns;
pub mod contract;
pub mod detect;
pub mod naming;
pub mod relational;
pub mod value;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::schema::contract::SchemaContract;
use crate::schema::{Schema, Table, WriteDisposition};
use crate::storage::{
    self, ExtractedManifest, NormalizedManifest, PipelineDir, ResourceHints, read_json,
};
use chunk::{ChunkOutput, ChunkWriter, RowError};
use relational::{Normalizer, RootIdKind, TableSettings};
mod early;
mod hints;
pub use early::Early;
pub use hints::apply_resource_hints;
pub use writer::{ClosedJob, JobSink};

/// Settings of the normalize stage (`[normalize]` in config.toml).
#[derive(Debug, Clone)]
pub struct NormalizeConfig {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Target chunk size in bytes.
    pub chunk_bytes: u64,
    /// The source's (or `.dlt/config.toml`'s) `schema_contract`, for resources without their
    /// own (see [`crate::schema::contract`]).
    pub schema_contract: Option<serde_json::Value>,
    /// `[normalize.parquet_normalizer] add_dlt_load_id`: Arrow tables
    /// ([`crate::storage::ArrowMode::Tables`]) get a `_dlt_load_id` column.
    pub add_dlt_load_id: bool,
    /// `[normalize.parquet_normalizer] add_dlt_id`: Arrow tables get a random `_dlt_id` column.
    pub add_dlt_id: bool,
    /// The naming convention, with the destination's identifier limit (the pipeline sets it
    /// from the destination's capabilities).
    pub naming: naming::Naming,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            workers: 0,
            chunk_bytes: 4 << 20,
            schema_contract: None,
            add_dlt_load_id: false,
            add_dlt_id: false,
            naming: naming::Naming::default(),
        }
    }
}

/// What normalize produced.
#[derive(Debug, Clone, Default)]
pub struct NormalizeInfo {
    /// Load id.
    pub load_id: String,
    /// Rows per table, in schema order.
    pub row_counts: IndexMap<String, u64>,
    /// Items read.
    pub items: u64,
}

#[derive(Debug, Clone)]
struct ChunkSpec {
    job: usize,
    start: u64,
    end: u64,
}

enum ChunkError {
    Parse { offset: u64, reason: String },
    Row { offset: u64, error: RowError },
    Io(std::io::Error),
}

/// Normalizes the extracted package `load_id` of `dir`, publishing a normalized package and
/// updating `schema`. The extracted package is removed once the normalized one is published.
pub fn normalize_package(
    dir: &PipelineDir,
    load_id: &str,
    schema: &mut Schema,
    cfg: &NormalizeConfig,
) -> Result<NormalizeInfo> {
    normalize_package_with(dir, load_id, schema, cfg, None)
}

/// [`normalize_package`], handing each job file to `sink` as soon as it is closed, so a load
/// can take them while the rest of the package is normalized. The sink is dropped when the
/// last file was handed over.
pub fn normalize_package_with<'s>(
    dir: &PipelineDir,
    load_id: &str,
    schema: &mut Schema,
    cfg: &NormalizeConfig,
    sink: Option<JobSink<'s>>,
) -> Result<NormalizeInfo> {
    let manifest: ExtractedManifest = read_json(&dir.extracted(load_id).join("package.json"))?;
    let early = Early::start(dir, load_id, schema, cfg, &manifest.resources, sink)?;
    early.finish(dir, schema, cfg)
}

/// Prepares the package being normalized in `out`: applies the resources' hints to `schema`
/// and declares the state table. Returns the normalizer settings of each resource.
fn prepare(
    schema: &mut Schema,
    resources: &[ResourceHints],
    naming: naming::Naming,
) -> HashMap<String, TableSettings> {
    let settings = apply_resource_hints(schema, resources, naming);
    let state_table = crate::schema::dlt_dict::pipeline_state_table();
    match schema.tables.get_mut(crate::schema::STATE_TABLE) {
        // dlt adds the state table when the first state is extracted: after the resources'
        // root tables, before any nested table.
        None => {
            schema.tables.insert(state_table.name.clone(), state_table);
        }
        // dlt's extract declares it without the normalizer's `_dlt_id` (a schema of a package
        // dlt extracted but did not load); dlt's normalize adds the column.
        Some(t) => {
            for (name, c) in state_table.columns {
                t.columns.entry(name).or_insert(c);
            }
        }
    }
    settings
}

/// The rest of a normalize [`Early::start`]ed: every job `early` did not normalize yet, then
/// the normalized package is published.
fn normalize_rest(
    dir: &PipelineDir,
    load_id: &str,
    schema: &mut Schema,
    cfg: &NormalizeConfig,
    early: Early<'_>,
) -> Result<NormalizeInfo> {
    let src = dir.extracted(load_id);
    let manifest: ExtractedManifest = read_json(&src.join("package.json"))?;
    let out = early.out.clone();
    let naming = cfg.naming;
    let settings = prepare(schema, &manifest.resources, naming);
    let job_paths: Vec<PathBuf> = manifest
        .jobs
        .iter()
        .map(|j| src.join("new_jobs").join(&j.file))
        .collect();
    check_linked(&manifest, &job_paths, &src, &out)?;
    let is_arrow: Vec<bool> = manifest.jobs.iter().map(|j| !j.format.is_jsonl()).collect();
    let Early {
        mut writers,
        done: early_done,
        processed,
        ..
    } = early;
    let chunks = plan_chunks(&job_paths, &is_arrow, cfg.chunk_bytes)?;
    let workers = if cfg.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        cfg.workers
    }
    .clamp(1, 64);

    let job_settings: Vec<TableSettings> = manifest
        .jobs
        .iter()
        .map(|j| {
            settings.get(&j.resource).cloned().unwrap_or(TableSettings {
                root_table: naming.normalize_tables_path(&j.resource),
                max_nesting: 1000,
                propagate_root_id: false,
                root_id: RootIdKind::Random,
                naming,
            })
        })
        .collect();

    let job_contracts = manifest
        .jobs
        .iter()
        .map(|j| contract::resource_contract(&manifest.resources, &j.resource, cfg))
        .collect::<Result<Vec<_>>>()?;

    let shared = RwLock::new(Arc::new(schema.clone()));
    let mut items_total = 0u64;
    let result: Result<()> = std::thread::scope(|scope| {
        let (ticket_tx, ticket_rx) = crossbeam_channel::unbounded::<usize>();
        let (res_tx, res_rx) =
            crossbeam_channel::unbounded::<(usize, std::result::Result<ChunkOutput, ChunkError>)>();
        let window = workers * 2;
        for i in 0..chunks.len().min(window) {
            let _ = ticket_tx.send(i);
        }
        let mut next_ticket = chunks.len().min(window);
        for _ in 0..workers {
            let ticket_rx = ticket_rx.clone();
            let res_tx = res_tx.clone();
            let chunks = &chunks;
            let job_paths = &job_paths;
            let job_settings = &job_settings;
            let job_contracts = &job_contracts;
            let shared = &shared;
            scope.spawn(move || {
                while let Ok(i) = ticket_rx.recv() {
                    let snapshot = shared.read().map(|s| s.clone());
                    let Ok(snapshot) = snapshot else { break };
                    let spec = &chunks[i];
                    let r = run_chunk(
                        &job_paths[spec.job],
                        spec,
                        &job_settings[spec.job],
                        &job_contracts[spec.job],
                        load_id,
                        &snapshot,
                    );
                    if res_tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);
        let mut pending: BTreeMap<usize, std::result::Result<ChunkOutput, ChunkError>> =
            BTreeMap::new();
        let mut next = 0usize;
        let mut outcome = Ok(());
        while next < chunks.len() {
            let Ok((i, r)) = res_rx.recv() else { break };
            pending.insert(i, r);
            while let Some(r) = pending.remove(&next) {
                let spec = &chunks[next];
                let step = (|| -> Result<()> {
                    let mut output = r.map_err(|e| chunk_error(e, &manifest, spec, &job_paths))?;
                    if has_conflict(schema, &output) {
                        let snap = schema.clone();
                        output = run_chunk(
                            &job_paths[spec.job],
                            spec,
                            &job_settings[spec.job],
                            &job_contracts[spec.job],
                            load_id,
                            &snap,
                        )
                        .map_err(|e| chunk_error(e, &manifest, spec, &job_paths))?;
                    }
                    items_total += output.items;
                    let changed = merge_output(schema, &output);
                    writers.write(schema, output)?;
                    if changed && let Ok(mut s) = shared.write() {
                        *s = Arc::new(schema.clone());
                    }
                    Ok(())
                })();
                if let Err(e) = step {
                    outcome = Err(e);
                    break;
                }
                next += 1;
                if next_ticket < chunks.len() {
                    let _ = ticket_tx.send(next_ticket);
                    next_ticket += 1;
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        drop(ticket_tx);
        // Drain so workers stop quickly.
        while res_rx.try_recv().is_ok() {}
        outcome
    });
    // Arrow jobs, after the JSON chunks (see `arrow_items`).
    let arrow_pkg = arrow_items::Package {
        manifest: &manifest,
        paths: &job_paths,
        settings: &job_settings,
        contracts: &job_contracts,
        load_id,
        cfg,
        out: out.join("new_jobs"),
    };
    let skip = |file: &str| processed.contains(file);
    let arrow = match result.and_then(|()| arrow_pkg.normalize(schema, &mut writers, &skip)) {
        Ok(a) => a.with(early_done),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&out);
            return Err(e);
        }
    };
    items_total += arrow.items;
    let jobs = arrow.merge_jobs(writers.finish(schema)?, schema);
    check_linked(&manifest, &job_paths, &src, &out)?;

    let truncate_tables = truncate_tables(schema, &manifest.resources, naming);
    for job in &jobs {
        if let Some(t) = schema.table_mut(&job.table) {
            mark_seen_data(t);
        }
    }
    schema.bump_version();
    let mut row_counts: IndexMap<String, u64> = IndexMap::new();
    for t in schema.tables.keys() {
        let n: u64 = jobs.iter().filter(|j| &j.table == t).map(|j| j.rows).sum();
        if n > 0 {
            row_counts.insert(t.clone(), n);
        }
    }
    let normalized = NormalizedManifest {
        load_id: load_id.to_string(),
        created_at: manifest.created_at.clone(),
        schema_name: manifest.schema_name.clone(),
        jobs,
        truncate_tables,
        items: items_total,
    };
    storage::write_atomic(
        &out.join("schema.json"),
        crate::schema::dlt_dict::to_json_string_pretty(schema).as_bytes(),
    )?;
    storage::write_json(&out.join("package.json"), &normalized)?;
    crate::state::carry_package_state(&src, &out)?;
    storage::publish(&out, &dir.normalized(load_id))?;
    storage::write_atomic(
        &dir.schema_path(&schema.name),
        crate::schema::dlt_dict::to_json_string_pretty(schema).as_bytes(),
    )?;
    std::fs::remove_dir_all(&src).map_err(|e| Error::io(&src, e))?;
    Ok(NormalizeInfo {
        load_id: load_id.to_string(),
        row_counts,
        items: items_total,
    })
}

/// Tables to empty before loading a package of `resources`: replace roots and all their
/// nested tables in `schema`.
pub fn truncate_tables(
    schema: &Schema,
    resources: &[ResourceHints],
    naming: naming::Naming,
) -> Vec<String> {
    let mut tables = Vec::new();
    for r in resources {
        if r.write_disposition == WriteDisposition::Replace {
            let root = naming.normalize_tables_path(&r.table_name);
            tables.push(root.clone());
            for t in schema.nested_tables(&root) {
                tables.push(t.name.clone());
            }
        }
    }
    tables
}

/// Fails (and discards the extracted package `src` and the partial output `out`) when a job
/// that hard-links a user's file no longer matches the size and modification time recorded at
/// extract time: its data is not what was extracted.
fn check_linked(
    manifest: &ExtractedManifest,
    job_paths: &[PathBuf],
    src: &Path,
    out: &Path,
) -> Result<()> {
    for (job, path) in manifest.jobs.iter().zip(job_paths) {
        let Some(stamp) = job.origin.linked else {
            continue;
        };
        if storage::LinkedFile::of(path).ok() != Some(stamp) {
            let _ = std::fs::remove_dir_all(out);
            let _ = std::fs::remove_dir_all(src);
            return Err(Error::SourceChanged {
                origin: job.origin.origin.clone(),
                load_id: manifest.load_id.clone(),
            });
        }
    }
    Ok(())
}

fn chunk_error(
    e: ChunkError,
    manifest: &ExtractedManifest,
    spec: &ChunkSpec,
    job_paths: &[PathBuf],
) -> Error {
    let job = &manifest.jobs[spec.job];
    let line_of = |offset: u64| -> u64 { line_number(&job_paths[spec.job], offset).unwrap_or(0) };
    match e {
        ChunkError::Io(err) => Error::io(&job_paths[spec.job], err),
        ChunkError::Parse { offset, reason } => Error::BadInput {
            origin: job.origin.origin.clone(),
            line: if job.origin.same_lines {
                line_of(offset)
            } else {
                0
            },
            reason: format!("invalid JSON: {reason}"),
        },
        ChunkError::Row {
            error: RowError::Contract(e),
            ..
        } => Error::DataValidation(e),
        ChunkError::Row { offset, error } => Error::BadInput {
            origin: job.origin.origin.clone(),
            line: if job.origin.same_lines {
                line_of(offset)
            } else {
                0
            },
            reason: error.to_string(),
        },
    }
}

/// 1-based line number of byte `offset` in `path`.
fn line_number(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0u64;
    let mut lines = 1u64;
    while seen < offset {
        let want = ((offset - seen) as usize).min(buf.len());
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        seen += n as u64;
    }
    Ok(lines)
}

/// Splits job files (but those marked in `skip`) into chunks of about `target` bytes, cut
/// after a newline.
fn plan_chunks(paths: &[PathBuf], skip: &[bool], target: u64) -> Result<Vec<ChunkSpec>> {
    let mut chunks = Vec::new();
    for (job, path) in paths.iter().enumerate() {
        if skip.get(job) == Some(&true) {
            continue;
        }
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut start = 0u64;
        while start < len {
            let mut end = (start + target).min(len);
            if end < len {
                end = next_newline(&f, end, len).map_err(|e| Error::io(path, e))?;
            }
            chunks.push(ChunkSpec { job, start, end });
            start = end;
        }
    }
    Ok(chunks)
}

/// Offset just past the first `\n` at or after `from` (or `len`).
fn next_newline(f: &File, from: u64, len: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = from;
    while pos < len {
        let n = f.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(len)
}

fn run_chunk(
    path: &Path,
    spec: &ChunkSpec,
    settings: &TableSettings,
    contract: &SchemaContract,
    load_id: &str,
    snapshot: &Schema,
) -> std::result::Result<ChunkOutput, ChunkError> {
    let f = File::open(path).map_err(ChunkError::Io)?;
    let mut buf = vec![0u8; (spec.end - spec.start) as usize];
    f.read_exact_at(&mut buf, spec.start)
        .map_err(ChunkError::Io)?;
    let text = match String::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => {
            let bad = e.utf8_error().valid_up_to() as u64;
            let line_start = e.as_bytes()[..bad as usize]
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| i as u64 + 1)
                .unwrap_or(0);
            return Err(ChunkError::Parse {
                offset: spec.start + line_start,
                reason: "the line is not valid UTF-8".into(),
            });
        }
    };
    let seed: u64 = rand::random();
    let mut normalizer = Normalizer::new(settings.clone(), load_id, seed);
    let mut writer = ChunkWriter::new(snapshot).with_contract(*contract);
    let mut items = 0u64;
    let mut offset = spec.start;
    for raw in text.split_inclusive('\n') {
        let line_offset = offset;
        offset += raw.len() as u64;
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let v = value::parse_json(line).map_err(|e| ChunkError::Parse {
            offset: line_offset,
            reason: e.to_string(),
        })?;
        normalizer
            .normalize_item(&v, snapshot, &mut writer)
            .map_err(|error| ChunkError::Row {
                offset: line_offset,
                error,
            })?;
        items += 1;
    }
    Ok(writer.finish(items))
}

/// Whether merging `output` into `schema` would disagree with columns added since the
/// snapshot the chunk was normalized against.
fn has_conflict(schema: &Schema, output: &ChunkOutput) -> bool {
    output.tables.iter().any(|t| {
        let Some(table) = schema.table(&t.name) else {
            return false;
        };
        t.new_columns
            .iter()
            .any(|c| match table.columns.get(&c.name) {
                Some(existing) if existing.is_complete() => {
                    existing.data_type != c.data_type || existing.variant != c.variant
                }
                _ => false,
            })
    })
}

/// Merges new tables and columns of a chunk into the schema. Returns whether it changed.
fn merge_output(schema: &mut Schema, output: &ChunkOutput) -> bool {
    let mut changed = false;
    for t in &output.tables {
        changed |= chunk::ensure_table(schema, &t.name, t.parent.as_deref());
        let Some(table) = schema.table_mut(&t.name) else {
            continue;
        };
        for c in &t.new_columns {
            match table.columns.get(&c.name) {
                Some(existing) if existing.is_complete() => {}
                Some(_) => {
                    // An incomplete (hint-only) column is re-added in data order, as dlt does.
                    table.columns.shift_remove(&c.name);
                    table.columns.insert(c.name.clone(), c.clone());
                    changed = true;
                }
                None => {
                    table.columns.insert(c.name.clone(), c.clone());
                    changed = true;
                }
            }
        }
    }
    changed
}

/// Sets dlt's `x-normalizer: {seen-data: true}` on a table that received rows.
fn mark_seen_data(t: &mut Table) {
    let entry = t
        .extra
        .entry("x-normalizer".to_string())
        .or_insert_with(|| serde_json::json!({}));
    if let serde_json::Value::Object(m) = entry {
        m.insert("seen-data".into(), serde_json::Value::Bool(true));
    }
}

#[cfg(test)]
mod tests;

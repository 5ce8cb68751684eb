//! Writing data tables: Delta commits (append, overwrite, upsert) and plain Parquet files.
//! Every Delta commit names its load and job in `commitInfo`; a job whose commit is already
//! in the log is not committed again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde_json::json;

use super::data;
use super::delta::{self, Commit, Snapshot};
use super::store::Store;
use crate::error::{Error, Result};
use crate::schema::{Schema, Table};

/// The folder of `table` in `dataset`.
pub fn table_dir(dataset: &str, table: &str) -> String {
    format!("{dataset}/{table}")
}

/// The dlt table `name` of `schema`, or an error naming it.
pub fn schema_table<'a>(schema: &'a Schema, name: &str) -> Result<&'a Table> {
    schema
        .table(name)
        .ok_or_else(|| Error::Internal(format!("table `{name}` is not in the package schema")))
}

/// The Arrow schema new files of `table` get, given what the Delta table holds: columns it
/// has keep their nullability, new ones are nullable.
pub fn file_schema(table: &Table, snap: &Snapshot) -> SchemaRef {
    let existing = snap.columns();
    let is_new = snap.metadata.is_none();
    data::arrow_schema(table, &|name: &str| {
        is_new
            || existing
                .iter()
                .any(|(n, _, nullable)| n == name && !nullable)
    })
}

/// The new `schemaString` if it differs from the table's.
fn schema_change(table: &Table, schema: &SchemaRef, snap: &Snapshot) -> Option<String> {
    let s = data::schema_string(table, schema);
    let current = snap
        .metadata
        .as_ref()
        .and_then(|m| m.get("schemaString"))
        .and_then(|v| v.as_str());
    (current != Some(s.as_str())).then_some(s)
}

/// Writes `batches` as a new data file of the table; returns its `add` action.
fn write_file(
    store: &Store,
    dir: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<serde_json::Value> {
    let (bytes, stats) = data::encode_parquet(schema, batches)?;
    let name = format!("part-00000-{}-c000.snappy.parquet", delta::uuid4());
    let size = bytes.len() as u64;
    store.put(&format!("{dir}/{name}"), bytes)?;
    Ok(delta::add_action(&name, size, &stats))
}

/// Streams `batches` into a new data file of the table; returns its `add` action.
fn write_stream(
    store: &Store,
    dir: &str,
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<serde_json::Value> {
    let name = format!("part-00000-{}-c000.snappy.parquet", delta::uuid4());
    let mut stats = serde_json::Value::Null;
    let size = store.put_with(&format!("{dir}/{name}"), |w| {
        let (_, s) = data::write_parquet(w, schema, batches)?;
        stats = s;
        Ok(())
    })?;
    Ok(delta::add_action(&name, size, &stats))
}

/// What a Delta write does with the rows already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Keep them.
    Append,
    /// Remove them in the same commit.
    Overwrite,
}

/// Commits the rows of job files `jobs` to the Delta table `table` as one commit tagged
/// (`load_id`, `job`); nothing if that commit is already in the log. With `Overwrite`, the
/// commit also removes every file the table had.
pub fn delta_write(
    store: &Store,
    dataset: &str,
    table: &Table,
    jobs: &[PathBuf],
    mode: WriteMode,
    load_id: &str,
    job: &str,
) -> Result<()> {
    let dir = table_dir(dataset, &table.name);
    let snap = delta::read_snapshot(store, &dir)?;
    if snap.has_commit(load_id, Some(job)) {
        return Ok(());
    }
    let schema = file_schema(table, &snap);
    // The job files stream into the new data file: no table is held in memory.
    let add = write_stream(store, &dir, &schema, data::job_batches(jobs, &schema))?;
    commit_adds(store, &dir, table, &snap, &schema, add, mode, load_id, job)?;
    // A crash here: the commit is in the log, the loader has not marked the job completed.
    crate::fault::point("filesystem_after_delta_commit");
    Ok(())
}

/// Commits `batches` (already of `schema`, from [`file_schema`] of `snap`) to the Delta table
/// in `dir` as one new file in one commit tagged (`load_id`, `job`).
#[allow(clippy::too_many_arguments)]
pub fn commit_batches(
    store: &Store,
    dir: &str,
    table: &Table,
    snap: &Snapshot,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    mode: WriteMode,
    load_id: &str,
    job: &str,
) -> Result<()> {
    let add = write_file(store, dir, schema, batches)?;
    commit_adds(store, dir, table, snap, schema, add, mode, load_id, job)
}

/// Commits the new file `add` to the Delta table in `dir` (removing every file the table had
/// with `Overwrite`), tagged (`load_id`, `job`).
#[allow(clippy::too_many_arguments)]
fn commit_adds(
    store: &Store,
    dir: &str,
    table: &Table,
    snap: &Snapshot,
    schema: &SchemaRef,
    add: serde_json::Value,
    mode: WriteMode,
    load_id: &str,
    job: &str,
) -> Result<()> {
    let removes = match mode {
        WriteMode::Append => Vec::new(),
        WriteMode::Overwrite => snap.files.values().map(|f| f.action.clone()).collect(),
    };
    let commit = Commit {
        operation: "WRITE",
        parameters: json!({"mode": if mode == WriteMode::Append { "Append" } else { "Overwrite" }, "partitionBy": "[]"}),
        schema_string: schema_change(table, schema, snap),
        removes,
        adds: vec![add],
        load_id: load_id.into(),
        job: job.into(),
    };
    delta::write_commit(store, dir, snap, commit).map(|_| ())
}

/// Empties the Delta table `table` (an overwrite without rows), once per load.
pub fn delta_truncate(store: &Store, dataset: &str, table: &str, load_id: &str) -> Result<()> {
    let dir = table_dir(dataset, table);
    let snap = delta::read_snapshot(store, &dir)?;
    if snap.version.is_none() || snap.has_commit(load_id, None) || snap.files.is_empty() {
        return Ok(());
    }
    let commit = Commit {
        operation: "WRITE",
        parameters: json!({"mode": "Overwrite", "partitionBy": "[]"}),
        schema_string: None,
        removes: snap.files.values().map(|f| f.action.clone()).collect(),
        adds: Vec::new(),
        load_id: load_id.into(),
        job: "truncate".into(),
    };
    delta::write_commit(store, &dir, &snap, commit).map(|_| ())
}

/// Upserts the rows of `jobs` into the Delta table `table` on `keys` (dlt's Delta merge:
/// matched rows are replaced, others inserted) in one commit: files holding a matched row
/// are removed and one new file holds their other rows plus the new ones.
pub fn delta_upsert(
    store: &Store,
    dataset: &str,
    table: &Table,
    keys: &[String],
    jobs: &[PathBuf],
    load_id: &str,
) -> Result<()> {
    const JOB: &str = "merge";
    let dir = table_dir(dataset, &table.name);
    let snap = delta::read_snapshot(store, &dir)?;
    if snap.has_commit(load_id, Some(JOB)) {
        return Ok(());
    }
    let schema = file_schema(table, &snap);
    let mut source = Vec::new();
    for p in jobs {
        source.extend(data::read_job(p, &schema)?);
    }
    let mut incoming: HashSet<String> = HashSet::new();
    for b in &source {
        incoming.extend(data::row_keys(b, keys)?);
    }
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut removes = Vec::new();
    for f in snap.files.values() {
        let what = format!("{dir}/{}", f.path);
        let Some(batches) = store.read_parquet(&what)? else {
            return Err(Error::Destination {
                context: format!("merging into {dir}"),
                reason: format!("data file {} listed in the Delta log is missing", f.path),
            });
        };
        let mut file_kept = Vec::new();
        let mut touched = false;
        for b in batches {
            let (rest, dropped) =
                data::without_keys(&data::conform(&b, &schema)?, keys, &incoming)?;
            touched |= dropped;
            file_kept.push(rest);
        }
        if touched {
            removes.push(f.action.clone());
            kept.extend(file_kept);
        }
    }
    kept.extend(source);
    let add = write_file(store, &dir, &schema, &kept)?;
    let predicate: Vec<String> = keys
        .iter()
        .map(|k| format!("target.{k} = source.{k}"))
        .collect();
    let commit = Commit {
        operation: if snap.version.is_none() {
            "WRITE"
        } else {
            "MERGE"
        },
        parameters: json!({"predicate": predicate.join(" AND "), "mergePredicate": "upsert"}),
        schema_string: schema_change(table, &schema, &snap),
        removes,
        adds: vec![add],
        load_id: load_id.into(),
        job: JOB.into(),
    };
    delta::write_commit(store, &dir, &snap, commit).map(|_| ())
}

/// Writes one job as a plain Parquet file `<table>/<load_id>.<file_id>.parquet` (the name is
/// fixed by the job, so writing it again replaces it: idempotent).
pub fn parquet_write(
    store: &Store,
    dataset: &str,
    table: &Table,
    job: &Path,
    load_id: &str,
) -> Result<()> {
    let dir = table_dir(dataset, &table.name);
    let schema = data::arrow_schema(table, &|_| true);
    let jobs = [job.to_path_buf()];
    store
        .put_with(&format!("{dir}/{load_id}.{}.parquet", file_id(job)), |w| {
            data::write_parquet(w, &schema, data::job_batches(&jobs, &schema)).map(|_| ())
        })
        .map(|_| ())
}

/// The file id of a job file (`<table>.<file_id>.<n>.<ext>`), for Parquet file names.
fn file_id(job: &Path) -> String {
    let name = job
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() >= 3 {
        parts[parts.len() - 3].to_string()
    } else {
        name.replace('.', "_")
    }
}

/// Deletes the Parquet files of `table` that earlier loads wrote (files of `load_id` stay:
/// a resumed load keeps the jobs it already wrote).
pub fn parquet_truncate(store: &Store, dataset: &str, table: &str, load_id: &str) -> Result<()> {
    let dir = table_dir(dataset, table);
    let own = format!("{load_id}.");
    for f in store.list(&dir)? {
        if f.name.ends_with(".parquet") && !f.name.starts_with(&own) {
            store.delete(&format!("{dir}/{}", f.name))?;
        }
    }
    Ok(())
}

/// The data files of a table: Delta's live files, or the Parquet files in its folder.
pub fn data_files(
    store: &Store,
    dataset: &str,
    table: &str,
    delta_fmt: bool,
) -> Result<Vec<String>> {
    let dir = table_dir(dataset, table);
    if delta_fmt {
        let snap = delta::read_snapshot(store, &dir)?;
        Ok(snap.files.keys().map(|p| format!("{dir}/{p}")).collect())
    } else {
        Ok(store
            .list(&dir)?
            .into_iter()
            .filter(|f| f.name.ends_with(".parquet"))
            .map(|f| format!("{dir}/{}", f.name))
            .collect())
    }
}

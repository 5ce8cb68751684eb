//! Reading the package dlt's `pipeline.extract()` wrote (`normalize/extracted/<load_id>/`)
//! into dango's extracted package: one declared table per dlt root table, with its hints from
//! the package's `schema.json`, and its items streamed from the job files
//! (`<table>.<file_id>.<n>.typed-jsonl.gz`: one JSON array of items per line; `.parquet` for
//! Arrow tables and pandas frames, which go through the Arrow path as in dlt).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::extract::ItemWriter;
use crate::schema::{MergeStrategy, WriteDisposition};
use crate::storage::{ArrowMode, ResourceHints};

/// One job file of a dlt package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DltJob {
    /// The table (dlt's normalized name).
    pub table: String,
    /// The file.
    pub path: PathBuf,
}

/// The job files of the dlt package in `dir` (the state table's excepted), by table in
/// `tables` order, then by file name.
pub fn jobs(dir: &Path, tables: &Map<String, Value>) -> Result<Vec<DltJob>> {
    let jobs_dir = dir.join("new_jobs");
    let rd = std::fs::read_dir(&jobs_dir).map_err(|e| Error::io(&jobs_dir, e))?;
    let mut found = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(&jobs_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // <table>.<file_id>.<retry>.<ext>: table names never contain dots (dlt's naming).
        let Some((table, _)) = name.split_once('.') else {
            continue;
        };
        if table.starts_with("_dlt_") {
            continue;
        }
        found.push(DltJob {
            table: table.to_string(),
            path: entry.path(),
        });
    }
    let order = |t: &str| tables.keys().position(|k| k == t).unwrap_or(usize::MAX);
    found.sort_by(|a, b| {
        (order(&a.table), &a.table, &a.path).cmp(&(order(&b.table), &b.table, &b.path))
    });
    Ok(found)
}

/// dango's hints of the dlt table `t` (as in dlt's `schema.json`): disposition, merge
/// strategy, keys, column hints, nesting, contract, scd2 validity columns.
pub fn hints(name: &str, t: &Map<String, Value>) -> ResourceHints {
    let mut h = ResourceHints {
        name: name.to_string(),
        table_name: name.to_string(),
        ..ResourceHints::default()
    };
    h.write_disposition = match t.get("write_disposition").and_then(Value::as_str) {
        Some("merge") => WriteDisposition::Merge,
        Some("replace") => WriteDisposition::Replace,
        _ => WriteDisposition::Append,
    };
    if h.write_disposition == WriteDisposition::Merge {
        h.merge_strategy = t
            .get("x-merge-strategy")
            .and_then(Value::as_str)
            .and_then(MergeStrategy::parse);
    }
    let mut valid = (None, None);
    if let Some(cols) = t.get("columns").and_then(Value::as_object) {
        for (col, hint) in cols {
            let Some(hint) = hint.as_object() else {
                continue;
            };
            let flag = |k: &str| hint.get(k).and_then(Value::as_bool) == Some(true);
            if flag("primary_key") {
                h.primary_key.push(col.clone());
            }
            if flag("merge_key") {
                h.merge_key.push(col.clone());
            }
            if flag("x-valid-from") {
                valid.0 = Some(col.clone());
            }
            if flag("x-valid-to") {
                valid.1 = Some(col.clone());
            }
            let mut hint = hint.clone();
            hint.remove("name");
            if col.starts_with("_dlt_") && !hint.contains_key("data_type") {
                continue;
            }
            h.columns.insert(col.clone(), Value::Object(hint));
        }
    }
    if let (Some(from), Some(to)) = valid
        && h.merge_strategy == Some(MergeStrategy::Scd2)
        && (from != "_dlt_valid_from" || to != "_dlt_valid_to")
    {
        h.validity_column_names = Some(vec![from, to]);
    }
    h.max_table_nesting = t
        .get("x-normalizer")
        .and_then(|n| n.get("max_nesting"))
        .and_then(Value::as_i64);
    h.schema_contract = t.get("schema_contract").cloned();
    h
}

/// Whether a file is a JSON-lines job of dlt (`typed-jsonl`, gzipped or not).
fn is_jsonl(path: &Path) -> bool {
    let n = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    n.ends_with(".typed-jsonl.gz")
        || n.ends_with(".typed-jsonl")
        || n.ends_with(".jsonl")
        || n.ends_with(".jsonl.gz")
}

/// Streams the items of one job into `out` (one line at a time; memory holds one line).
pub fn copy_job(job: &DltJob, out: &mut ItemWriter<'_>) -> Result<()> {
    let path = &job.path;
    if path.extension().is_some_and(|e| e == "parquet") {
        return copy_parquet(path, out);
    }
    if !is_jsonl(path) {
        return Err(Error::Internal(format!(
            "dlt wrote a job file dango does not read: {} (expected .typed-jsonl.gz or .parquet)",
            path.display()
        )));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let bad = |reason: &str| Error::BadInput {
            origin: path.display().to_string(),
            line: n,
            reason: reason.to_string(),
        };
        if text.starts_with('[') {
            let items = crate::json::split::split_array(text)
                .ok_or_else(|| bad("not a JSON array of items"))?;
            for item in items {
                write_item(item, out)?;
            }
        } else {
            write_item(text, out)?;
        }
        out.page_read(read as u64)?;
        if out.is_full() {
            break;
        }
    }
    Ok(())
}

/// Writes one item of dlt's typed JSON (a non-object is wrapped as `{"value": x}`, as dlt does).
pub(super) fn write_item(text: &str, out: &mut ItemWriter<'_>) -> Result<()> {
    if text.starts_with('{') {
        out.write_raw(text)
    } else {
        // A non-object item (dlt wraps scalars as {"value": x}).
        let v: Value = serde_json::from_str(text).map_err(|e| Error::Internal(e.to_string()))?;
        out.write_item(&serde_json::json!({ "value": v }))
    }
}

fn copy_parquet(path: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |e: &dyn std::fmt::Display| Error::BadInput {
        origin: path.display().to_string(),
        line: 0,
        reason: format!("cannot read the Parquet file dlt wrote: {e}"),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(&e))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| bad(&e))?;
    out.set_arrow_mode(ArrowMode::Tables);
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        out.write_arrow(&batch)?;
        out.page_read(batch.get_array_memory_size() as u64)?;
        if out.is_full() {
            break;
        }
    }
    Ok(())
}

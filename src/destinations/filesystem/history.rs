//! The sync history (`_dango_sync_history`) on the filesystem destination: a table of the
//! dataset in the destination's own format, readable by the same tools as the data.
//!
//! - Delta: `<dataset>/_dango_sync_history/` is a Delta table. A record is one append commit
//!   (tagged with the sync id, so it is never committed twice); when a source has more than
//!   `keep` records, one overwrite commit keeps the newest ones of every source.
//! - Plain Parquet: one file per record, `<source>__<sync id>.parquet`; the oldest files of
//!   a source beyond `keep` are deleted.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type, SchemaRef, TimestampMicrosecondType};

use super::config::TableFormat;
use super::store::Store;
use super::tables::{self, WriteMode};
use super::{data, delta};
use crate::destinations::history::{HISTORY_TABLE, SyncRecord, TableRows};
use crate::error::{Error, Result};
use crate::schema::{Column, DataType, Table};

/// The history table's columns (the same as on DuckDB and Postgres).
pub fn history_table() -> Table {
    let mut t = Table::new(HISTORY_TABLE);
    let cols = [
        ("sync_id", DataType::Text, false),
        ("source", DataType::Text, false),
        ("trigger", DataType::Text, true),
        ("started_at", DataType::Timestamp, true),
        ("finished_at", DataType::Timestamp, true),
        ("duration_seconds", DataType::Double, true),
        ("status", DataType::Text, false),
        ("full_refresh", DataType::Bool, true),
        ("rows_loaded", DataType::Bigint, true),
        ("total_rows", DataType::Bigint, true),
        ("tables", DataType::Json, true),
        ("load_ids", DataType::Json, true),
        ("error", DataType::Text, true),
        ("anomaly", DataType::Text, true),
    ];
    for (name, ty, nullable) in cols {
        let mut c = Column::new(name, ty);
        c.nullable = nullable;
        t.columns.insert(name.to_string(), c);
    }
    t
}

fn micros(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|d| d.timestamp_micros())
}

/// The text form DuckDB's and Postgres's history give (milliseconds, UTC).
fn ts_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string())
        .unwrap_or_default()
}

/// `records` as one batch of `schema` (made from [`history_table`]).
fn to_batch(records: &[SyncRecord], schema: &SchemaRef) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&SyncRecord) -> Option<String>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let ts = |f: &dyn Fn(&SyncRecord) -> &str| -> ArrayRef {
        Arc::new(
            records
                .iter()
                .map(|r| micros(f(r)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let int = |f: &dyn Fn(&SyncRecord) -> u64| -> ArrayRef {
        Arc::new(
            records
                .iter()
                .map(|r| Some(i64::try_from(f(r)).unwrap_or(i64::MAX)))
                .collect::<Int64Array>(),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        text(&|r| Some(r.sync_id.clone())),
        text(&|r| Some(r.source.clone())),
        text(&|r| Some(r.trigger.clone())),
        ts(&|r| &r.started_at),
        ts(&|r| &r.finished_at),
        Arc::new(
            records
                .iter()
                .map(|r| Some(r.duration_seconds))
                .collect::<Float64Array>(),
        ),
        text(&|r| Some(r.status.clone())),
        Arc::new(
            records
                .iter()
                .map(|r| Some(r.full_refresh))
                .collect::<BooleanArray>(),
        ),
        int(&|r| r.rows_loaded),
        int(&|r| r.total_rows),
        text(&|r| serde_json::to_string(&r.tables).ok()),
        text(&|r| serde_json::to_string(&r.load_ids).ok()),
        text(&|r| r.error.clone()),
        text(&|r| r.anomaly.clone()),
    ];
    let batch = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        )),
        cols,
    )
    .map_err(|e| Error::Internal(format!("cannot build the sync history rows: {e}")))?;
    data::conform(&batch, schema)
}

/// The records in `batch` (columns by name; missing ones read as empty).
fn from_batch(b: &RecordBatch) -> Vec<SyncRecord> {
    let text = |name: &str, row: usize| -> Option<String> {
        let c = b.column_by_name(name)?;
        let s = c.as_string_opt::<i32>()?;
        (!s.is_null(row)).then(|| s.value(row).to_string())
    };
    let ts = |name: &str, row: usize| -> String {
        b.column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .filter(|a| !a.is_null(row))
            .map(|a| ts_text(a.value(row)))
            .unwrap_or_default()
    };
    let int = |name: &str, row: usize| -> u64 {
        b.column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .filter(|a| !a.is_null(row))
            .map(|a| a.value(row).max(0) as u64)
            .unwrap_or(0)
    };
    (0..b.num_rows())
        .map(|row| SyncRecord {
            sync_id: text("sync_id", row).unwrap_or_default(),
            source: text("source", row).unwrap_or_default(),
            trigger: text("trigger", row).unwrap_or_default(),
            started_at: ts("started_at", row),
            finished_at: ts("finished_at", row),
            duration_seconds: b
                .column_by_name("duration_seconds")
                .and_then(|c| c.as_primitive_opt::<Float64Type>())
                .filter(|a| !a.is_null(row))
                .map(|a| a.value(row))
                .unwrap_or(0.0),
            status: text("status", row).unwrap_or_default(),
            full_refresh: b
                .column_by_name("full_refresh")
                .and_then(|c| c.as_boolean_opt())
                .filter(|a| !a.is_null(row))
                .map(|a| a.value(row))
                .unwrap_or(false),
            rows_loaded: int("rows_loaded", row),
            total_rows: int("total_rows", row),
            tables: text("tables", row)
                .and_then(|t| serde_json::from_str::<Vec<TableRows>>(&t).ok())
                .unwrap_or_default(),
            load_ids: text("load_ids", row)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
            error: text("error", row),
            anomaly: text("anomaly", row),
        })
        .collect()
}

/// Newest first, as DuckDB orders them (`started_at DESC, sync_id DESC`).
fn newest_first(records: &mut [SyncRecord]) {
    records.sort_by(|a, b| {
        let key = |r: &SyncRecord| micros(&r.started_at).unwrap_or(i64::MIN);
        key(b).cmp(&key(a)).then_with(|| b.sync_id.cmp(&a.sync_id))
    });
}

/// Every record of the table, with the file each came from.
fn read_all(
    store: &Store,
    dataset: &str,
    format: TableFormat,
) -> Result<Vec<(String, SyncRecord)>> {
    let files = tables::data_files(store, dataset, HISTORY_TABLE, format == TableFormat::Delta)?;
    let mut out = Vec::new();
    for f in files {
        for b in store.read_parquet(&f)?.unwrap_or_default() {
            out.extend(from_batch(&b).into_iter().map(|r| (f.clone(), r)));
        }
    }
    Ok(out)
}

/// The newest `limit` records of `source`, newest first.
pub fn read(
    store: &Store,
    dataset: &str,
    format: TableFormat,
    source: &str,
    limit: usize,
) -> Result<Vec<SyncRecord>> {
    let mut records: Vec<SyncRecord> = read_all(store, dataset, format)?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.source == source)
        .collect();
    newest_first(&mut records);
    records.truncate(limit);
    Ok(records)
}

/// Appends `record`, keeping the newest `keep` records of its source.
pub fn append(
    store: &Store,
    dataset: &str,
    format: TableFormat,
    record: &SyncRecord,
    keep: u64,
) -> Result<()> {
    let table = history_table();
    let existing = read_all(store, dataset, format)?;
    if existing.iter().any(|(_, r)| r.sync_id == record.sync_id) {
        return Ok(());
    }
    let mut own: Vec<(String, SyncRecord)> = existing
        .iter()
        .filter(|(_, r)| r.source == record.source)
        .cloned()
        .collect();
    own.push((String::new(), record.clone()));
    own.sort_by(|a, b| {
        let key = |r: &SyncRecord| micros(&r.started_at).unwrap_or(i64::MIN);
        key(&b.1)
            .cmp(&key(&a.1))
            .then_with(|| b.1.sync_id.cmp(&a.1.sync_id))
    });
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let dropped: Vec<(String, SyncRecord)> = own.split_off(keep.min(own.len()));
    match format {
        TableFormat::Delta => {
            let dir = tables::table_dir(dataset, HISTORY_TABLE);
            let snap = delta::read_snapshot(store, &dir)?;
            let schema = tables::file_schema(&table, &snap);
            let (mode, rows) = if dropped.is_empty() {
                (WriteMode::Append, vec![record.clone()])
            } else {
                // Every other source's records, and this source's newest `keep`.
                let mut rows: Vec<SyncRecord> = existing
                    .into_iter()
                    .map(|(_, r)| r)
                    .filter(|r| r.source != record.source)
                    .collect();
                rows.extend(own.into_iter().map(|(_, r)| r));
                (WriteMode::Overwrite, rows)
            };
            let batch = to_batch(&rows, &schema)?;
            tables::commit_batches(
                store,
                &dir,
                &table,
                &snap,
                &schema,
                &[batch],
                mode,
                &record.sync_id,
                "history",
            )
        }
        TableFormat::Parquet => {
            let schema = data::arrow_schema(&table, &|_| true);
            let batch = to_batch(std::slice::from_ref(record), &schema)?;
            let (bytes, _) = data::encode_parquet(&schema, &[batch])?;
            let name = format!(
                "{}__{}.parquet",
                path_part(&record.source),
                path_part(&record.sync_id)
            );
            store.put(
                &format!("{}/{name}", tables::table_dir(dataset, HISTORY_TABLE)),
                bytes,
            )?;
            for (file, _) in dropped.iter().filter(|(f, _)| !f.is_empty()) {
                store.delete(file)?;
            }
            Ok(())
        }
    }
}

/// `s` with only characters safe in a file name.
fn path_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, source: &str, at: &str) -> SyncRecord {
        SyncRecord {
            sync_id: id.into(),
            source: source.into(),
            trigger: "cli".into(),
            started_at: at.into(),
            finished_at: at.into(),
            duration_seconds: 1.5,
            status: "success".into(),
            full_refresh: false,
            rows_loaded: 7,
            total_rows: 9,
            tables: vec![TableRows {
                table: "t".into(),
                rows_loaded: 7,
                total_rows: 9,
            }],
            load_ids: vec!["1.5".into()],
            error: None,
            anomaly: Some("odd".into()),
        }
    }

    fn roundtrip(format: TableFormat) {
        let dir = tempfile::tempdir().unwrap();
        let bucket = super::super::config::Bucket::Local(dir.path().to_path_buf());
        let store = Store::open(&bucket, true).unwrap();
        for i in 0..5 {
            let at = format!("2026-01-01T10:00:0{i}.250+00:00");
            append(&store, "ds", format, &rec(&format!("s{i}"), "a", &at), 3).unwrap();
        }
        append(
            &store,
            "ds",
            format,
            &rec("b0", "b", "2026-01-02T00:00:00+00:00"),
            3,
        )
        .unwrap();
        // the same record twice is kept once
        append(
            &store,
            "ds",
            format,
            &rec("b0", "b", "2026-01-02T00:00:00+00:00"),
            3,
        )
        .unwrap();
        let a = read(&store, "ds", format, "a", 10).unwrap();
        let ids: Vec<&str> = a.iter().map(|r| r.sync_id.as_str()).collect();
        assert_eq!(ids, ["s4", "s3", "s2"]);
        assert_eq!(a[0].started_at, "2026-01-01T10:00:04.250+00:00");
        assert_eq!(a[0], {
            let mut r = rec("s4", "a", "2026-01-01T10:00:04.250+00:00");
            r.started_at = a[0].started_at.clone();
            r.finished_at = a[0].finished_at.clone();
            r
        });
        assert_eq!(read(&store, "ds", format, "b", 10).unwrap().len(), 1);
        assert_eq!(read(&store, "ds", format, "a", 1).unwrap().len(), 1);
        assert!(read(&store, "other", format, "a", 10).unwrap().is_empty());
    }

    #[test]
    fn delta_history_appends_and_keeps_the_newest() {
        roundtrip(TableFormat::Delta);
    }

    #[test]
    fn parquet_history_appends_and_keeps_the_newest() {
        roundtrip(TableFormat::Parquet);
    }
}

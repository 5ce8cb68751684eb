//! The sync history table (`_dango_sync_history`) in DuckDB.

use super::client::DuckDbClient;
use super::sql::quote_ident;
use crate::destinations::history::{HISTORY_TABLE, SyncRecord, TableRows};
use crate::error::Result;

fn table(dataset: &str) -> String {
    format!("{}.{}", quote_ident(dataset), quote_ident(HISTORY_TABLE))
}

/// Appends `r`, keeping the newest `keep` records of its source, in one transaction.
pub(super) fn append(c: &DuckDbClient, dataset: &str, r: &SyncRecord, keep: u64) -> Result<()> {
    let t = table(dataset);
    // Created unless the catalog read earlier knows it (reading it for this costs more
    // than the CREATEs).
    let exists = c.known_table(dataset, HISTORY_TABLE) == Some(true);
    // One transaction (one WAL write) for the table and the record.
    c.execute("BEGIN TRANSACTION")?;
    let created = if exists {
        Ok(())
    } else {
        create(c, dataset, &t)
    };
    let done = created.and_then(|_| insert(c, &t, r, keep));
    match done {
        Ok(()) => c.execute("COMMIT"),
        Err(e) => {
            let _ = c.execute("ROLLBACK");
            Err(e)
        }
    }
}

fn create(c: &DuckDbClient, dataset: &str, t: &str) -> Result<()> {
    c.execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(dataset)
    ))?;
    c.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {t} (sync_id VARCHAR NOT NULL, source VARCHAR NOT NULL, \
         trigger VARCHAR, started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE, \
         duration_seconds DOUBLE, status VARCHAR NOT NULL, full_refresh BOOLEAN, rows_loaded BIGINT, \
         total_rows BIGINT, tables VARCHAR, load_ids VARCHAR, error VARCHAR, anomaly VARCHAR)"
    ))
}

fn insert(c: &DuckDbClient, t: &str, r: &SyncRecord, keep: u64) -> Result<()> {
    let tables = serde_json::to_string(&r.tables).unwrap_or_default();
    let load_ids = serde_json::to_string(&r.load_ids).unwrap_or_default();
    c.data_conn().execute(
        &format!(
            "INSERT INTO {t} VALUES (?, ?, ?, CAST(? AS TIMESTAMP WITH TIME ZONE), \
             CAST(? AS TIMESTAMP WITH TIME ZONE), ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        duckdb::params![
            r.sync_id,
            r.source,
            r.trigger,
            r.started_at,
            r.finished_at,
            r.duration_seconds,
            r.status,
            r.full_refresh,
            r.rows_loaded as i64,
            r.total_rows as i64,
            tables,
            load_ids,
            r.error,
            r.anomaly,
        ],
    )?;
    c.data_conn().execute(
        &format!(
            "DELETE FROM {t} WHERE source = ? AND sync_id NOT IN (SELECT sync_id FROM {t} \
             WHERE source = ? ORDER BY started_at DESC, sync_id DESC LIMIT {keep})"
        ),
        duckdb::params![r.source, r.source],
    )?;
    Ok(())
}

/// The newest `limit` records of `source`, newest first.
pub(super) fn read(
    c: &DuckDbClient,
    dataset: &str,
    source: &str,
    limit: usize,
) -> Result<Vec<SyncRecord>> {
    let ts = |col: &str| format!("strftime({col}, '%Y-%m-%dT%H:%M:%S.%g+00:00')");
    let sql = format!(
        "SELECT sync_id, source, trigger, {}, {}, duration_seconds, status, full_refresh, \
         rows_loaded, total_rows, tables, load_ids, error, anomaly FROM {} WHERE source = ? \
         ORDER BY started_at DESC, sync_id DESC LIMIT {limit}",
        ts("started_at"),
        ts("finished_at"),
        table(dataset)
    );
    let run = |conn: &duckdb::Connection| -> duckdb::Result<Vec<SyncRecord>> {
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([source], record)?;
        rows.collect()
    };
    match c.read_unchecked(run) {
        Some(records) => Ok(records?.unwrap_or_default()),
        None if c.table_columns(dataset, HISTORY_TABLE)?.is_none() => Ok(Vec::new()),
        None => Ok(run(c.data_conn())?),
    }
}

/// A row of the history table.
fn record(row: &duckdb::Row<'_>) -> duckdb::Result<SyncRecord> {
    let tables: Option<String> = row.get(10)?;
    let load_ids: Option<String> = row.get(11)?;
    Ok(SyncRecord {
        sync_id: row.get(0)?,
        source: row.get(1)?,
        trigger: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
        started_at: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
        finished_at: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        duration_seconds: row.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
        status: row.get(6)?,
        full_refresh: row.get::<_, Option<bool>>(7)?.unwrap_or(false),
        rows_loaded: row.get::<_, Option<i64>>(8)?.unwrap_or(0).max(0) as u64,
        total_rows: row.get::<_, Option<i64>>(9)?.unwrap_or(0).max(0) as u64,
        tables: tables
            .and_then(|t| serde_json::from_str::<Vec<TableRows>>(&t).ok())
            .unwrap_or_default(),
        load_ids: load_ids
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        error: row.get(12)?,
        anomaly: row.get(13)?,
    })
}

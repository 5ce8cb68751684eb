//! The sync history table (`_dango_sync_history`) in Postgres: one row per sync in the
//! source's schema, the same columns as on DuckDB (`tables` and `load_ids` as `jsonb`).

use super::client::PgClient;
use super::sql::{qualified, quote_ident};
use crate::destinations::history::{HISTORY_TABLE, SyncRecord, TableRows};
use crate::error::Result;

/// The table's DDL (created on the first record).
fn create_sql(dataset: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (sync_id character varying NOT NULL, \
         source character varying NOT NULL, trigger character varying, \
         started_at timestamp with time zone, finished_at timestamp with time zone, \
         duration_seconds double precision, status character varying NOT NULL, \
         full_refresh boolean, rows_loaded bigint, total_rows bigint, tables jsonb, \
         load_ids jsonb, error character varying, anomaly character varying)",
        qualified(dataset, HISTORY_TABLE)
    )
}

/// Appends `r`, keeping the newest `keep` records of its source, in one transaction of its
/// own.
pub(super) fn append(c: &PgClient, dataset: &str, r: &SyncRecord, keep: u64) -> Result<()> {
    c.execute_in(
        &format!(
            "BEGIN; CREATE SCHEMA IF NOT EXISTS {}; {}",
            quote_ident(dataset),
            create_sql(dataset)
        ),
        "creating the sync history table",
    )?;
    let done = insert(c, dataset, r, keep);
    match done {
        Ok(()) => c.execute_in("COMMIT", "committing the sync history"),
        Err(e) => {
            let _ = c.execute("ROLLBACK");
            Err(e)
        }
    }
}

fn insert(c: &PgClient, dataset: &str, r: &SyncRecord, keep: u64) -> Result<()> {
    let t = qualified(dataset, HISTORY_TABLE);
    let tables = serde_json::to_string(&r.tables).unwrap_or_else(|_| "[]".into());
    let load_ids = serde_json::to_string(&r.load_ids).unwrap_or_else(|_| "[]".into());
    let rows_loaded = i64::try_from(r.rows_loaded).unwrap_or(i64::MAX);
    let total_rows = i64::try_from(r.total_rows).unwrap_or(i64::MAX);
    c.exec(
        &format!(
            "INSERT INTO {t} VALUES ($1, $2, $3, CAST($4::text AS timestamp with time zone), \
             CAST($5::text AS timestamp with time zone), $6, $7, $8, $9, $10, \
             CAST($11::text AS jsonb), CAST($12::text AS jsonb), $13, $14)"
        ),
        &[
            &r.sync_id,
            &r.source,
            &r.trigger,
            &r.started_at,
            &r.finished_at,
            &r.duration_seconds,
            &r.status,
            &r.full_refresh,
            &rows_loaded,
            &total_rows,
            &tables,
            &load_ids,
            &r.error,
            &r.anomaly,
        ],
        "writing the sync history",
    )?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    c.exec(
        &format!(
            "DELETE FROM {t} WHERE source = $1 AND sync_id NOT IN (SELECT sync_id FROM {t} \
             WHERE source = $1 ORDER BY started_at DESC, sync_id DESC LIMIT $2)"
        ),
        &[&r.source, &keep],
        "applying the sync history retention",
    )?;
    Ok(())
}

/// The newest `limit` records of `source`, newest first (none without a history table).
pub(super) fn read(
    c: &PgClient,
    dataset: &str,
    source: &str,
    limit: usize,
) -> Result<Vec<SyncRecord>> {
    if !c.has_table(dataset, HISTORY_TABLE)? {
        return Ok(Vec::new());
    }
    // The same text as DuckDB's history (milliseconds, UTC).
    let ts = |col: &str| {
        format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"')")
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c.query(
        &format!(
            "SELECT sync_id::text, source::text, trigger::text, {}, {}, duration_seconds, \
             status::text, full_refresh, rows_loaded, total_rows, tables::text, load_ids::text, \
             error::text, anomaly::text FROM {} WHERE source = $1 \
             ORDER BY started_at DESC, sync_id DESC LIMIT $2",
            ts("started_at"),
            ts("finished_at"),
            qualified(dataset, HISTORY_TABLE)
        ),
        &[&source, &limit],
    )?;
    Ok(rows
        .iter()
        .map(|row| {
            let tables: Option<String> = row.get(10);
            let load_ids: Option<String> = row.get(11);
            SyncRecord {
                sync_id: row.get(0),
                source: row.get(1),
                trigger: row.get::<_, Option<String>>(2).unwrap_or_default(),
                started_at: row.get::<_, Option<String>>(3).unwrap_or_default(),
                finished_at: row.get::<_, Option<String>>(4).unwrap_or_default(),
                duration_seconds: row.get::<_, Option<f64>>(5).unwrap_or(0.0),
                status: row.get(6),
                full_refresh: row.get::<_, Option<bool>>(7).unwrap_or(false),
                rows_loaded: row.get::<_, Option<i64>>(8).unwrap_or(0).max(0) as u64,
                total_rows: row.get::<_, Option<i64>>(9).unwrap_or(0).max(0) as u64,
                tables: tables
                    .and_then(|t| serde_json::from_str::<Vec<TableRows>>(&t).ok())
                    .unwrap_or_default(),
                load_ids: load_ids
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default(),
                error: row.get(12),
                anomaly: row.get(13),
            }
        })
        .collect())
}

//! The sync history record every destination keeps in its `_dango_sync_history` table
//! ([`super::Destination::append_sync_history`]); the policy around it (retention, anomalies)
//! is in `crate::ops::history`.

use serde::{Deserialize, Serialize};

/// The history table, in the source's dataset.
pub const HISTORY_TABLE: &str = "_dango_sync_history";

/// Rows of one table in a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// Table name.
    pub table: String,
    /// Rows this sync loaded into it.
    pub rows_loaded: u64,
    /// Rows in the table after the sync.
    pub total_rows: u64,
}

/// One sync of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// A unique id of the record (the start time and process id).
    pub sync_id: String,
    /// Source (pipeline) name.
    pub source: String,
    /// What started it: `cli` or `scheduler`.
    pub trigger: String,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// End (RFC 3339, UTC).
    pub finished_at: String,
    /// Seconds it took.
    pub duration_seconds: f64,
    /// `success`, `partial`, `failed` or `interrupted`.
    pub status: String,
    /// Whether it was a full refresh.
    pub full_refresh: bool,
    /// Rows loaded by this sync, all tables.
    pub rows_loaded: u64,
    /// Rows in the source's tables after it.
    pub total_rows: u64,
    /// Per table.
    pub tables: Vec<TableRows>,
    /// Load ids it committed.
    pub load_ids: Vec<String>,
    /// The error (redacted), when it failed.
    pub error: Option<String>,
    /// The anomaly warning, when there was one.
    pub anomaly: Option<String>,
}

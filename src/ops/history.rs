//! Sync history: one record per sync (CLI or scheduled), kept with the data in the
//! `_dango_sync_history` table of the source's dataset (written through
//! [`crate::destinations::Destination::append_sync_history`]), and the row-count anomaly
//! warnings computed from it.

use serde::{Deserialize, Serialize};

use super::settings::OpsSettings;

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

/// The anomaly warning for a sync that loaded `rows`, given earlier records (newest first).
/// Compares with the median of the last `anomaly_window` successful syncs: more than
/// `anomaly_drop_pct` below or `anomaly_rise_pct` above it, or 0 after a non-zero run.
pub fn anomaly(rows: u64, earlier: &[SyncRecord], s: &OpsSettings) -> Option<String> {
    let mut ok: Vec<u64> = earlier
        .iter()
        .filter(|r| r.status == "success")
        .take(s.anomaly_window)
        .map(|r| r.rows_loaded)
        .collect();
    let last = *ok.first()?;
    if rows == 0 && last > 0 {
        return Some(format!(
            "0 rows loaded, after {last} row(s) in the last successful sync"
        ));
    }
    ok.sort_unstable();
    let n = ok.len();
    let median = if n % 2 == 1 {
        ok[n / 2] as f64
    } else {
        (ok[n / 2 - 1] + ok[n / 2]) as f64 / 2.0
    };
    if median <= 0.0 {
        return None;
    }
    let r = rows as f64;
    if r < median * (1.0 - s.anomaly_drop_pct / 100.0) {
        return Some(format!(
            "{rows} row(s) loaded, {:.0}% below the median of the last {n} successful sync(s) ({median}); the limit is {}% ([runtime] anomaly_drop_pct)",
            (1.0 - r / median) * 100.0,
            s.anomaly_drop_pct
        ));
    }
    if r > median * (1.0 + s.anomaly_rise_pct / 100.0) {
        return Some(format!(
            "{rows} row(s) loaded, {:.0}% above the median of the last {n} successful sync(s) ({median}); the limit is {}% ([runtime] anomaly_rise_pct)",
            (r / median - 1.0) * 100.0,
            s.anomaly_rise_pct
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: &str, rows: u64) -> SyncRecord {
        SyncRecord {
            sync_id: "x".into(),
            source: "s".into(),
            trigger: "cli".into(),
            started_at: String::new(),
            finished_at: String::new(),
            duration_seconds: 0.0,
            status: status.into(),
            full_refresh: false,
            rows_loaded: rows,
            total_rows: 0,
            tables: Vec::new(),
            load_ids: Vec::new(),
            error: None,
            anomaly: None,
        }
    }

    #[test]
    fn anomalies_against_the_median() {
        let s = OpsSettings::default();
        let h: Vec<SyncRecord> = [100, 90, 110, 100]
            .iter()
            .map(|n| rec("success", *n))
            .collect();
        assert_eq!(anomaly(100, &h, &s), None);
        assert_eq!(anomaly(60, &h, &s), None);
        assert!(anomaly(40, &h, &s).unwrap().contains("60% below"));
        assert_eq!(anomaly(400, &h, &s), None);
        assert!(anomaly(401, &h, &s).unwrap().contains("above"));
        assert!(anomaly(0, &h, &s).unwrap().contains("0 rows loaded"));
        // Failed syncs do not count; no history, no warning.
        let f = vec![rec("failed", 0), rec("success", 10)];
        assert_eq!(anomaly(10, &f, &s), None);
        assert_eq!(anomaly(0, &[], &s), None);
        let tight = OpsSettings {
            anomaly_drop_pct: 10.0,
            ..OpsSettings::default()
        };
        assert!(anomaly(80, &h, &tight).is_some());
    }
}

//! Sync history: one record per sync (CLI or scheduled), kept with the data in the
//! `_dango_sync_history` table of the source's dataset (written through
//! [`crate::destinations::Destination::append_sync_history`]), and the row-count anomaly
//! warnings computed from it.

use super::settings::OpsSettings;

pub use crate::destinations::history::{HISTORY_TABLE, SyncRecord, TableRows};

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

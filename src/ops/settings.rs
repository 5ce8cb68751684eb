//! The settings of the operational machinery, read as dlt reads settings (`[runtime]` in
//! `.dlt/config.toml`, or `RUNTIME__<KEY>` in the environment).

use std::time::Duration;

use crate::config::Settings;
use crate::error::{Error, Result};

/// `[runtime]` settings of the lock, the history and its anomaly warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsSettings {
    /// `lock_timeout`: seconds a writer waits for the project lock (300).
    pub lock_timeout: Duration,
    /// `sync_history_retention`: records kept per source in `_dango_sync_history` (100).
    pub history_retention: u64,
    /// `anomaly_window`: successful syncs whose median the rows of a sync are compared with
    /// (10).
    pub anomaly_window: usize,
    /// `anomaly_drop_pct`: warn when a sync loads more than this many percent fewer rows than
    /// the median (50).
    pub anomaly_drop_pct: f64,
    /// `anomaly_rise_pct`: warn when a sync loads more than this many percent more rows than
    /// the median (300).
    pub anomaly_rise_pct: f64,
    /// `backup_keep_daily`: daily backups kept (7).
    pub backup_keep_daily: usize,
    /// `backup_keep_weekly`: weekly backups kept (4).
    pub backup_keep_weekly: usize,
    /// `backup_before_destructive`: take a backup before `--full-refresh` and
    /// `pipeline drop` (true).
    pub backup_before_destructive: bool,
}

impl Default for OpsSettings {
    fn default() -> Self {
        OpsSettings {
            lock_timeout: Duration::from_secs(300),
            history_retention: 100,
            anomaly_window: 10,
            anomaly_drop_pct: 50.0,
            anomaly_rise_pct: 300.0,
            backup_keep_daily: 7,
            backup_keep_weekly: 4,
            backup_before_destructive: true,
        }
    }
}

impl OpsSettings {
    /// Reads them from `settings`.
    pub fn load(settings: &Settings) -> Result<OpsSettings> {
        let d = OpsSettings::default();
        let r = &["runtime"];
        let num = |key: &str| -> Result<Option<f64>> {
            let v: Option<f64> = settings.parse(r, key, "a number")?;
            match v {
                Some(x) if !(x >= 0.0 && x.is_finite()) => Err(Error::Config(format!(
                    "[runtime] {key} must be a number of at least 0, got {x} (set it in .dlt/config.toml or RUNTIME__{})",
                    key.to_ascii_uppercase()
                ))),
                v => Ok(v),
            }
        };
        Ok(OpsSettings {
            lock_timeout: num("lock_timeout")?
                .map(Duration::from_secs_f64)
                .unwrap_or(d.lock_timeout),
            history_retention: num("sync_history_retention")?
                .map(|v| v.max(1.0) as u64)
                .unwrap_or(d.history_retention),
            anomaly_window: num("anomaly_window")?
                .map(|v| v.max(1.0) as usize)
                .unwrap_or(d.anomaly_window),
            anomaly_drop_pct: num("anomaly_drop_pct")?.unwrap_or(d.anomaly_drop_pct),
            anomaly_rise_pct: num("anomaly_rise_pct")?.unwrap_or(d.anomaly_rise_pct),
            backup_keep_daily: num("backup_keep_daily")?
                .map(|v| v as usize)
                .unwrap_or(d.backup_keep_daily),
            backup_keep_weekly: num("backup_keep_weekly")?
                .map(|v| v as usize)
                .unwrap_or(d.backup_keep_weekly),
            backup_before_destructive: settings
                .parse(r, "backup_before_destructive", "true or false")?
                .unwrap_or(d.backup_before_destructive),
        })
    }
}

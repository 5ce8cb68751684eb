//! `dango history`, and the history record every sync appends (with its anomaly warning).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::redact::redact;
use crate::config::{Project, Settings};
use crate::destinations::OpenMode;
use crate::ops::history::{SyncRecord, TableRows, anomaly};
use crate::ops::settings::OpsSettings;
use crate::pipeline::SharedWarehouse;
use crate::sources::SourceEntry;

/// Outcome of one source in a `dango sync` (what its history record is made of).
pub(crate) struct SourceRun {
    pub name: String,
    pub result: Result<crate::pipeline::LoadInfo, crate::Error>,
    pub duration: std::time::Duration,
    /// Resources left out of a partial sync, with their errors (empty otherwise).
    pub failed_resources: Vec<super::partial::FailedResource>,
}

impl SourceRun {
    /// Whether some resources loaded and others failed.
    pub fn is_partial(&self) -> bool {
        self.result.is_ok() && !self.failed_resources.is_empty()
    }
}

pub(super) const EXAMPLES: &str = "\
Examples:
  dango history                 the last syncs of every source
  dango history orders          one source
  dango history orders --limit 50 --json
Each sync appends a record (start, end, status, rows loaded per table and in total, full
refresh, error, anomaly warning) to the _dango_sync_history table of the source's dataset.
Retention: [runtime] sync_history_retention (RUNTIME__SYNC_HISTORY_RETENTION, default 100).";

/// Arguments of `dango history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Source (default: every source in sources.yml).
    pub source: Option<String>,
    /// Records per source, newest first.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The status of a run, as the history records it.
pub(crate) fn status_of(r: &SourceRun) -> &'static str {
    match &r.result {
        Ok(_) if r.is_partial() => "partial",
        Ok(_) => "success",
        Err(crate::Error::Interrupted) => "interrupted",
        Err(crate::Error::StepFailed { source, .. })
            if matches!(**source, crate::Error::Interrupted) =>
        {
            "interrupted"
        }
        Err(_) => "failed",
    }
}

fn record_of(
    run: &SourceRun,
    full_refresh: bool,
    started: chrono::DateTime<chrono::Utc>,
) -> SyncRecord {
    let finished = chrono::Utc::now();
    let (tables, load_ids) = match &run.result {
        Ok(info) => {
            let loaded = info.row_counts();
            let mut names: Vec<String> = loaded.keys().cloned().collect();
            names.extend(
                info.total_rows
                    .keys()
                    .filter(|t| !loaded.contains_key(*t))
                    .cloned(),
            );
            let tables = names
                .into_iter()
                .map(|t| TableRows {
                    rows_loaded: loaded.get(&t).copied().unwrap_or(0),
                    total_rows: info.total_rows.get(&t).copied().unwrap_or(0),
                    table: t,
                })
                .collect();
            let ids = info
                .load_packages
                .iter()
                .map(|p| p.load_id.clone())
                .collect();
            (tables, ids)
        }
        Err(_) => (Vec::new(), Vec::new()),
    };
    let tables: Vec<TableRows> = tables;
    let trigger = std::env::var("DANGO_SYNC_TRIGGER").unwrap_or_else(|_| "cli".into());
    SyncRecord {
        sync_id: format!(
            "{}-{}",
            started.format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id()
        ),
        source: run.name.clone(),
        trigger,
        started_at: started.to_rfc3339(),
        finished_at: finished.to_rfc3339(),
        duration_seconds: run.duration.as_secs_f64(),
        status: status_of(run).into(),
        full_refresh,
        rows_loaded: tables.iter().map(|t| t.rows_loaded).sum(),
        total_rows: tables.iter().map(|t| t.total_rows).sum(),
        tables,
        load_ids,
        error: match &run.result {
            Err(e) => Some(redact(&e.to_string())),
            Ok(_) if run.is_partial() => Some(partial_error(&run.failed_resources)),
            Ok(_) => None,
        },
        anomaly: None,
    }
}

/// The error of a partial sync: each failed resource and its error.
pub(crate) fn partial_error(failed: &[super::partial::FailedResource]) -> String {
    failed
        .iter()
        .map(|(r, e)| format!("resource `{r}` failed: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Appends the record of `run` to the source's history (under the project lock) and warns
/// about a row-count anomaly. A history that cannot be written is a warning, never a failed
/// sync. A failed sync of a source whose dataset does not exist yet leaves no record (nothing
/// is created for it).
pub(crate) fn record(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    full_refresh: bool,
    run: &SourceRun,
    started: chrono::DateTime<chrono::Utc>,
    shared: Option<&SharedWarehouse>,
) {
    if let Err(e) = try_record(project, settings, entry, full_refresh, run, started, shared) {
        tracing::warn!("cannot write the sync history of {}: {e}", run.name);
        eprintln!(
            "warning: {}",
            redact(&format!(
                "cannot write the sync history of {}: {e}",
                run.name
            ))
        );
    }
}

fn try_record(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    full_refresh: bool,
    run: &SourceRun,
    started: chrono::DateTime<chrono::Utc>,
    shared: Option<&SharedWarehouse>,
) -> crate::Result<()> {
    if run
        .result
        .as_ref()
        .is_ok_and(|info| info.load_packages.is_empty())
    {
        // Nothing new (no package loaded): as dlt, the sync commits nothing, not even its
        // history record; its run is in runtime.log and trace.json.
        return Ok(());
    }
    if run.result.as_ref().err().is_some_and(busy) {
        // The lock holder has the warehouse: recording would wait out the timeout again.
        return Ok(());
    }
    let ops = OpsSettings::load(settings)?;
    let dest = entry.destination(project, settings)?;
    let dataset = entry.dataset_name();
    if run.result.is_err() && !dest.exists() {
        return Ok(());
    }
    let mut rec = record_of(run, full_refresh, started);
    let mut write = |client: &mut dyn crate::destinations::Destination| {
        if run.result.is_err() && client.dataset_tables(&dataset)?.is_empty() {
            return Ok(None);
        }
        if rec.status == "success" {
            let window = ops.anomaly_window.max(1) * 4;
            let earlier = client.sync_history(&dataset, &rec.source, window)?;
            rec.anomaly = anomaly(rec.rows_loaded, &earlier, &ops);
        }
        client.append_sync_history(&dataset, &rec, ops.history_retention)?;
        Ok(Some(rec.anomaly.clone()))
    };
    let written = match shared {
        Some(shared) => shared.with(&run.name, "history", false, write)?,
        None => {
            let lock = super::ops_common::project_lock(project, settings)?;
            let _guard = lock.acquire(&run.name, "history")?;
            let mut client = dest.open(OpenMode::ReadWrite)?;
            write(client.as_mut())?
        }
    };
    if let Some(Some(a)) = &written {
        tracing::warn!(pipeline = %run.name, "row-count anomaly: {a}");
        eprintln!("warning: source `{}`: row-count anomaly: {a}", run.name);
    }
    Ok(())
}

/// Whether the run failed because another process held the warehouse.
fn busy(e: &crate::Error) -> bool {
    match e {
        crate::Error::WarehouseLocked { .. } => true,
        crate::Error::StepFailed { source, .. } => busy(source),
        _ => false,
    }
}

/// Runs `dango history`.
pub fn run(project: Option<PathBuf>, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let settings = project.settings()?;
    let file = crate::sources::SourcesFile::load(&project)?;
    let entries: Vec<&SourceEntry> = match &args.source {
        Some(s) => vec![file.get(s).ok_or_else(|| {
            anyhow::anyhow!(
                "no source `{s}` in {}. Known sources: {}",
                project.sources_file().display(),
                file.names_or_none()
            )
        })?],
        None => file.sources.iter().collect(),
    };
    let mut all: Vec<SyncRecord> = Vec::new();
    for e in entries {
        let dest = e.destination(&project, &settings)?;
        if dest.exists() {
            let client = dest.open(OpenMode::ReadOnly)?;
            match client.sync_history(&e.dataset_name(), &e.pipeline_name(), args.limit) {
                Ok(records) => all.extend(records),
                // A destination without a history table (not yet implemented there): say so
                // and show the others.
                Err(err) => eprintln!("note: source `{}`: {err}", e.pipeline_name()),
            }
        }
    }
    all.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("No sync history yet. Every `dango sync` adds a record.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "source",
        "started",
        "duration",
        "status",
        "rows loaded",
        "total rows",
        "full refresh",
        "note",
    ]);
    for r in &all {
        let note = r
            .anomaly
            .clone()
            .or_else(|| r.error.clone())
            .unwrap_or_default();
        table.add_row(vec![
            r.source.clone(),
            r.started_at.clone(),
            format!("{:.2}s", r.duration_seconds),
            r.status.clone(),
            r.rows_loaded.to_string(),
            r.total_rows.to_string(),
            if r.full_refresh { "yes" } else { "" }.into(),
            note.chars().take(120).collect(),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

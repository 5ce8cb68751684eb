//! `dango governance drift-report|accept`, and the drift check after each sync.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use super::history::SourceRun;
use crate::config::{Project, Settings};
use crate::ops::drift::{self, DriftRecord, DriftSettings};
use crate::sources::SourceEntry;

pub(super) const EXAMPLES: &str = "\
Examples:
  dango governance drift-report           drift of every source
  dango governance drift-report orders --json
  dango governance accept orders          make the current schema the baseline
After each load, the tables, columns and types a source delivered are compared with its
baseline. table_added and column_added are recorded and accepted. column_removed (a column
that got no value in a load with rows for its table) and type_changed (a variant column such
as price__v_text appeared, or a type changed) mark the source \"needs attention\" (`dango
doctor` fails) until `dango governance accept <source>`. A schema contract still decides what
loads. Settings: [runtime] schema_drift (RUNTIME__SCHEMA_DRIFT, default true),
drift_removed_min_rows (RUNTIME__DRIFT_REMOVED_MIN_ROWS, default 1).";

/// Arguments of `dango governance`.
#[derive(Debug, Args)]
pub struct GovernanceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GovernanceCommand,
}

/// `dango governance` subcommands.
#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// List the schema drift events of a source (or of every source) and its status.
    DriftReport {
        /// Source (default: every source in sources.yml).
        source: Option<String>,
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Accept the pending drift of a source: its current schema becomes the baseline.
    Accept {
        /// Source.
        source: String,
    },
}

/// After a sync that loaded something: records the drift of its packages and warns when
/// the source needs attention. Never fails the sync.
pub(crate) fn after_sync(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    run: &SourceRun,
) {
    let Ok(info) = &run.result else { return };
    let name = entry.pipeline_name();
    let ids: Vec<String> = info
        .load_packages
        .iter()
        .map(|p| p.load_id.clone())
        .collect();
    let recorded = DriftSettings::load(settings).and_then(|s| {
        if !s.enabled || ids.is_empty() {
            return Ok(None);
        }
        let dir = crate::storage::PipelineDir::new(project.pipeline_dir(&name));
        drift::record_loads(project.root(), &name, &dir, &ids, &s).map(Some)
    });
    match recorded {
        Ok(Some(events)) => {
            for e in &events {
                tracing::info!(pipeline = %name, load_id = %e.load_id, "schema drift: {}", e.describe());
            }
            let breaking: Vec<String> = events
                .iter()
                .filter(|e| e.breaking)
                .map(|e| e.describe())
                .collect();
            if !breaking.is_empty() {
                eprintln!(
                    "warning: source `{name}`: schema drift needs attention: {}. The data was loaded. Review: `dango governance drift-report {name}`; when it is expected: `dango governance accept {name}`",
                    breaking.join("; ")
                );
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(pipeline = %name, "cannot record the schema drift: {e}");
            eprintln!("warning: source `{name}`: cannot record the schema drift: {e}");
        }
    }
}

/// Runs `dango governance`.
pub fn run(project: Option<PathBuf>, args: GovernanceArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let file = crate::sources::SourcesFile::load(&project)?;
    let find = |s: &str| -> anyhow::Result<String> {
        match file.get(s) {
            Some(e) => Ok(e.pipeline_name()),
            None => anyhow::bail!(
                "no source `{s}` in {}. Known sources: {}",
                project.sources_file().display(),
                file.names_or_none()
            ),
        }
    };
    match args.command {
        GovernanceCommand::DriftReport { source, json } => {
            let names = match source {
                Some(s) => vec![find(&s)?],
                None => file.sources.iter().map(|e| e.pipeline_name()).collect(),
            };
            let mut records = Vec::new();
            for n in names {
                records.push(drift::load(project.root(), &n)?);
            }
            report(&records, json)?;
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Accept { source } => {
            let name = find(&source)?;
            let rec = drift::load(project.root(), &name)?;
            if rec.baseline_load_id.is_none() {
                println!(
                    "Source `{name}` has no baseline yet: its next sync records one. Nothing to accept."
                );
                return Ok(ExitCode::SUCCESS);
            }
            let accepted = drift::accept(project.root(), &name)?;
            if accepted.is_empty() {
                println!("Source `{name}` has no pending schema drift; the baseline is unchanged.");
            } else {
                println!(
                    "Accepted {} change(s) of source `{name}`; its current schema is the baseline:",
                    accepted.len()
                );
                for e in &accepted {
                    println!("  {} (load {})", e.describe(), e.load_id);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report(records: &[DriftRecord], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let sources: Vec<_> = records
            .iter()
            .map(|r| {
                json!({
                    "source": r.source,
                    "status": r.status(),
                    "needs_attention": r.needs_attention(),
                    "baseline_load_id": r.baseline_load_id,
                    "accepted_at": r.accepted_at,
                    "baseline": r.baseline,
                    "events": r.events,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "sources": sources }))?
        );
        return Ok(());
    }
    for r in records {
        let status = match r.status() {
            "needs_attention" => format!(
                "needs attention: {} pending change(s); accept them with `dango governance accept {}`",
                r.pending().len(),
                r.source
            ),
            "no_baseline" => "no baseline yet (never loaded)".to_string(),
            _ => "ok".to_string(),
        };
        println!("source {}: {status}", r.source);
        if r.events.is_empty() {
            if r.baseline_load_id.is_some() {
                println!(
                    "  no drift since the baseline (load {})",
                    r.baseline_load_id.as_deref().unwrap_or_default()
                );
            }
            continue;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(vec![
            "detected", "load id", "event", "table", "column", "old type", "new type", "status",
        ]);
        for e in r.events.iter().rev() {
            let column = match &e.variant_column {
                Some(v) => format!("{} ({v})", e.column.clone().unwrap_or_default()),
                None => e.column.clone().unwrap_or_default(),
            };
            table.add_row(vec![
                e.detected_at.clone(),
                e.load_id.clone(),
                e.kind.clone(),
                e.table.clone(),
                column,
                e.old_type.clone().unwrap_or_default(),
                e.new_type.clone().unwrap_or_default(),
                if !e.breaking {
                    "accepted".into()
                } else if e.accepted {
                    "accepted (governance accept)".into()
                } else {
                    "NEEDS ATTENTION".into()
                },
            ]);
        }
        println!("{table}");
    }
    Ok(())
}

//! `dango source add|list|remove`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::pipeline::PipelineTrace;
use crate::sources::{SourceEntry, SourcesFile};

pub(super) const EXAMPLES: &str = "\
Examples:
  dango source add --dlt-native custom_sources/my_api.py
  dango source add --dlt-native custom_sources/crm.py --template   # write a template first
  dango source list
  dango source list --enabled-only --json
  dango source remove old_api -y

A source in .dango/sources.yml:
  version: \"1.0\"
  sources:
    - name: orders                # letters, digits, _ (used lower-cased)
      type: local_files           # csv, local_files, rest_api, dlt_native, stripe, ...
      enabled: true
      description: Orders export
      tags: [shop]
      local_files:                # one block named after the type
        directory: ${ORDERS_DIR}  # ${VAR} from the environment or .env
        file_pattern: \"*.jsonl\"
        table_name: orders
A key ending in _env names an environment variable: `token_env: GH_TOKEN` passes `token`.";

/// Arguments of `dango source`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// What to do.
    #[command(subcommand)]
    pub op: SourceOp,
}

/// `dango source` operations.
#[derive(Debug, Subcommand)]
pub enum SourceOp {
    /// Register a Python dlt source (`--dlt-native FILE`): imports it, lists its
    /// `@dlt.source` functions and writes the sources.yml entry (`--template` writes the module).
    Add(super::source_add::AddArgs),
    /// List the declared sources with type, status, write disposition and last sync.
    List {
        /// Only enabled sources.
        #[arg(long)]
        enabled_only: bool,
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a source from sources.yml (its loaded data and pipeline state are kept).
    Remove {
        /// Source name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
}

/// Runs `dango source`.
pub fn run(project: Option<PathBuf>, args: SourceArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    match args.op {
        SourceOp::Add(add) => super::source_add::run(&project, add),
        SourceOp::List { enabled_only, json } => {
            let file = crate::sources::SourcesFile::load(&project)?;
            let rows: Vec<&SourceEntry> = file
                .sources
                .iter()
                .filter(|s| s.enabled || !enabled_only)
                .collect();
            let last = |s: &SourceEntry| {
                PipelineTrace::load(&project.pipeline_dir(&s.pipeline_name()).join("trace.json"))
                    .ok()
                    .flatten()
            };
            if json {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|s| {
                        let t = last(s);
                        json!({
                            "name": s.name,
                            "type": s.source_type,
                            "enabled": s.enabled,
                            "description": s.description,
                            "tags": s.tags,
                            "write_disposition": s.write_disposition(),
                            "dataset": s.dataset_name(),
                            "last_sync": t.as_ref().map(|t| json!({
                                "started_at": t.started_at,
                                "status": if t.is_completed() { "ok" } else { "failed" },
                            })),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!(
                    "No {}sources in {}. See `dango source --help` for the format.",
                    if enabled_only { "enabled " } else { "" },
                    project.sources_file().display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(vec![
                "name",
                "type",
                "enabled",
                "write disposition",
                "dataset",
                "last sync",
                "description",
            ]);
            for s in rows {
                let t = last(s);
                table.add_row(vec![
                    s.name.clone(),
                    s.source_type.clone(),
                    if s.enabled { "yes".into() } else { "no".into() },
                    s.write_disposition(),
                    s.dataset_name(),
                    t.map(|t| {
                        format!(
                            "{} ({})",
                            t.started_at,
                            if t.is_completed() { "ok" } else { "failed" }
                        )
                    })
                    .unwrap_or_else(|| "never".into()),
                    s.description.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        SourceOp::Remove { name, yes } => {
            let path = project.sources_file();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let new_text = SourcesFile::remove_from_text(&text, &path, &name)?;
            let lower = name.to_ascii_lowercase();
            if !yes && !super::confirm(&format!("Remove source `{name}` from {}?", path.display()))
            {
                bail!(
                    "not confirmed; nothing was changed. Pass -y to remove without a prompt: `dango source remove {name} -y`"
                );
            }
            crate::storage::write_atomic(&path, new_text.as_bytes())?;
            println!("Removed source `{name}` from {}.", path.display());
            println!(
                "Its data (dataset raw_{lower} in {}) and pipeline dir {} were kept; delete them yourself if you no longer need them.",
                project.warehouse().display(),
                project.pipeline_dir(&lower).display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `dango backup`, `dango backup list`, `dango backup restore <backup>`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::config::Project;
use crate::ops::backup;
use crate::ops::settings::OpsSettings;

pub(super) const EXAMPLES: &str = "\
Examples:
  dango backup                          copy the warehouse, .dango/, .dlt/config.toml and the
                                        pipelines' state into .dango/backups/<timestamp>/
  dango backup list
  dango backup restore 20261207T101500Z -y
Secrets (.dlt/secrets.toml, .env) are never copied. A backup is taken automatically before
`sync --full-refresh` and `pipeline drop` ([runtime] backup_before_destructive). Retention:
[runtime] backup_keep_daily (7) and backup_keep_weekly (4). Only the project's DuckDB
warehouse is copied: back up Postgres or Delta destinations with their own tools.";

/// Arguments of `dango backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// What to do (default: take a backup).
    #[command(subcommand)]
    pub op: Option<BackupOp>,
    /// JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `dango backup` operations.
#[derive(Debug, Subcommand)]
pub enum BackupOp {
    /// List the backups.
    List,
    /// Put a backup back, after verifying its checksums (asks unless -y).
    Restore {
        /// The backup (its folder name under .dango/backups/).
        backup: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
}

/// Takes a backup under the project lock (the caller does not hold it) and applies the
/// retention; prints where it went.
pub(crate) fn take(project: &Project, reason: &str, quiet: bool) -> anyhow::Result<PathBuf> {
    let ops = OpsSettings::load(&project.settings()?)?;
    let (dir, m) = {
        let _lock = super::ops_common::lock_of(project)?.acquire("-", "backup")?;
        backup::create(project, reason)?
    };
    backup::prune(project, ops.backup_keep_daily, ops.backup_keep_weekly)?;
    if !quiet {
        eprintln!(
            "Backup ({reason}): {} ({} file(s))",
            dir.display(),
            m.files.len()
        );
    }
    Ok(dir)
}

/// A backup before a destructive command, unless `[runtime] backup_before_destructive` is off.
pub(crate) fn before_destructive(project: &Project, what: &str) -> anyhow::Result<()> {
    if OpsSettings::load(&project.settings()?)?.backup_before_destructive {
        take(project, &format!("before {what}"), false)?;
    }
    Ok(())
}

/// Runs `dango backup`.
pub fn run(project: Option<PathBuf>, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    match args.op {
        None => {
            let dir = take(&project, "manual", args.json)?;
            if args.json {
                println!("{}", serde_json::json!({"backup": dir}));
            } else {
                println!("{}", dir.display());
            }
        }
        Some(BackupOp::List) => {
            let all = backup::list(&project);
            if args.json {
                let v: Vec<_> = all
                    .iter()
                    .map(|(n, m)| serde_json::json!({"backup": n, "created_at": m.created_at, "reason": m.reason, "files": m.files.len()}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if all.is_empty() {
                println!("No backups in {}", backup::backups_dir(&project).display());
            } else {
                for (n, m) in &all {
                    println!(
                        "{n}  {}  {}  {} file(s)",
                        m.created_at,
                        m.reason,
                        m.files.len()
                    );
                }
            }
        }
        Some(BackupOp::Restore { backup: name, yes }) => {
            backup::verify(&project, &name)?;
            if !yes
                && !super::confirm(&format!(
                    "Restore backup {name}? The warehouse, .dango/, .dlt/config.toml and the pipelines' state are replaced"
                ))
            {
                bail!(
                    "not confirmed; nothing was changed. Pass -y to confirm without a prompt: `dango backup restore {name} -y`"
                );
            }
            let _lock = super::ops_common::lock_of(&project)?.acquire("-", "restore")?;
            let m = backup::restore(&project, &name)?;
            println!(
                "Restored backup {name} ({} file(s), taken {}).",
                m.files.len(),
                m.created_at
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

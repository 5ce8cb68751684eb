//! `dango schedule list|add|remove|enable|disable`: `.dango/schedules.yml`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::config::Project;
use crate::ops::schedule::edit::{self, Edited};
use crate::ops::schedule::file::{self as sfile, ScheduleEntry};
use crate::ops::schedule::{Clock, Schedule, SchedulerState, SchedulesFile};

pub(super) const EXAMPLES: &str = "\
Examples:
  dango schedule list
  dango schedule add nightly --preset daily --timezone Europe/Berlin
  dango schedule add orders_often --cron '*/30 6-20 * * MON-FRI' --sources orders,customers
  dango schedule disable nightly
  dango schedule remove nightly
  dango run-scheduler                 run them (in the foreground, for systemd or a container)

A schedule in .dango/schedules.yml:
  schedules:
    - name: nightly
      type: sync                  # the only type
      preset: daily               # every_15m, every_hour, every_6h, daily (00:00), weekly (Sunday 00:00)
      # cron: \"0 6 * * MON-FRI\"   # or a cron expression (5 fields, names, ranges, steps, @daily)
      sources: [orders]           # empty or absent: every enabled source
      enabled: true
      timezone: Europe/Berlin     # IANA name the times are read in; default UTC";

/// Arguments of `dango schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// What to do.
    #[command(subcommand)]
    pub op: ScheduleOp,
}

/// `dango schedule` operations.
#[derive(Debug, Subcommand)]
pub enum ScheduleOp {
    /// List the schedules with their next run (UTC and the schedule's time zone).
    List {
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Add a schedule to .dango/schedules.yml (created when missing).
    Add(AddArgs),
    /// Remove a schedule.
    Remove {
        /// Schedule name.
        name: String,
    },
    /// Enable a schedule.
    Enable {
        /// Schedule name.
        name: String,
    },
    /// Disable a schedule (kept in the file; the scheduler skips it).
    Disable {
        /// Schedule name.
        name: String,
    },
}

/// Arguments of `dango schedule add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Schedule name (letters, digits, `_`, `-`).
    pub name: String,
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or @daily etc.
    #[arg(long, conflicts_with = "preset", required_unless_present = "preset")]
    pub cron: Option<String>,
    /// A preset: every_15m, every_hour, every_6h, daily, weekly.
    #[arg(long)]
    pub preset: Option<String>,
    /// Sources to sync, comma-separated (default: every enabled source).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub sources: Vec<String>,
    /// IANA time zone the times are read in (default UTC).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Add it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// A description.
    #[arg(long)]
    pub description: Option<String>,
}

/// Runs `dango schedule`.
pub fn run(project: Option<PathBuf>, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let root = project.root().to_path_buf();
    let path = sfile::path(&root);
    match args.op {
        ScheduleOp::List { json } => list(&project, json),
        ScheduleOp::Add(a) => {
            let entry = entry_of(&project, a)?;
            let (_, old) = SchedulesFile::load(&root)?;
            let e = edit::add(old.as_deref(), &entry, &path)?;
            write(&path, e)?;
            println!("Added schedule `{}` to {}.", entry.name, path.display());
            Ok(ExitCode::SUCCESS)
        }
        ScheduleOp::Remove { name } => {
            let e = edit::remove(&existing(&root)?, &name, &path)?;
            write(&path, e)?;
            println!("Removed schedule `{name}` from {}.", path.display());
            Ok(ExitCode::SUCCESS)
        }
        ScheduleOp::Enable { name } => set_enabled(&root, &name, true),
        ScheduleOp::Disable { name } => set_enabled(&root, &name, false),
    }
}

fn set_enabled(root: &std::path::Path, name: &str, on: bool) -> anyhow::Result<ExitCode> {
    let path = sfile::path(root);
    let e = edit::set_enabled(&existing(root)?, name, on, &path)?;
    write(&path, e)?;
    println!(
        "{} schedule `{name}` in {}.",
        if on { "Enabled" } else { "Disabled" },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The text of an existing schedules.yml.
fn existing(root: &std::path::Path) -> anyhow::Result<String> {
    match SchedulesFile::load(root)? {
        (_, Some(text)) => Ok(text),
        (_, None) => bail!(
            "{} does not exist: there are no schedules yet. Add one: `dango schedule add nightly --preset daily`",
            sfile::path(root).display()
        ),
    }
}

fn write(path: &std::path::Path, e: Edited) -> anyhow::Result<()> {
    crate::storage::write_atomic(path, e.text.as_bytes())?;
    if e.comments_lost {
        eprintln!(
            "note: {} was rewritten from its content (it is not in plain block style), so its comments were not kept",
            path.display()
        );
    }
    Ok(())
}

/// The new entry, checked: the schedule itself, and that its sources are declared.
fn entry_of(project: &Project, a: AddArgs) -> anyhow::Result<ScheduleEntry> {
    let entry = ScheduleEntry {
        name: a.name,
        kind: sfile::TYPE_SYNC.into(),
        cron: a.cron,
        preset: a.preset,
        sources: (!a.sources.is_empty()).then(|| {
            a.sources
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        }),
        enabled: !a.disabled,
        timezone: a.timezone,
        description: a.description,
    };
    if let Err((field, msg)) = entry.resolve() {
        bail!("schedule `{}`, {field}: {msg}", entry.name);
    }
    let file = crate::sources::SourcesFile::load(project)?;
    for s in entry.sources.iter().flatten() {
        if file.get(s).is_none() {
            bail!(
                "no source `{s}` in {}. Known sources: {}",
                project.sources_file().display(),
                file.names_or_none()
            );
        }
    }
    Ok(entry)
}

fn fmt_utc(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn fmt_local(s: &Schedule, t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&s.tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

fn list(project: &Project, json_out: bool) -> anyhow::Result<ExitCode> {
    let root = project.root();
    let (file, text) = SchedulesFile::load(root)?;
    let schedules = file.resolved()?;
    let now = Clock::from_env()?.now();
    let state = SchedulerState::load(root);
    let rows: Vec<serde_json::Value> = schedules
        .iter()
        .map(|s| {
            let next = if s.enabled { s.next_after(now) } else { None };
            let last = state.current(s);
            json!({
                "name": s.name,
                "type": sfile::TYPE_SYNC,
                "when": s.when,
                "cron": s.expr,
                "sources": s.sources,
                "enabled": s.enabled,
                "timezone": s.timezone,
                "next_run_utc": next.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "next_run_local": next.map(|t| t.with_timezone(&s.tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
                "last_run_started": last.and_then(|r| r.last_started).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "last_run_status": last.and_then(|r| r.last_status.clone()),
            })
        })
        .collect();
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        println!(
            "No schedules in {}{}. Add one: `dango schedule add nightly --preset daily`.",
            sfile::path(root).display(),
            if text.is_none() { " (no file yet)" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "name",
        "when",
        "sources",
        "enabled",
        "timezone",
        "next run (UTC)",
        "next run (local)",
        "last run",
    ]);
    for (s, r) in schedules.iter().zip(&rows) {
        let next = if s.enabled { s.next_after(now) } else { None };
        let last = match (
            r["last_run_started"].as_str(),
            r["last_run_status"].as_str(),
        ) {
            (Some(t), Some(st)) => format!("{t} {st}"),
            (Some(t), None) => t.to_string(),
            _ => "-".into(),
        };
        table.add_row(vec![
            s.name.clone(),
            s.when.clone(),
            if s.sources.is_empty() {
                "(all enabled)".into()
            } else {
                s.sources.join(", ")
            },
            if s.enabled { "yes" } else { "no" }.into(),
            s.timezone.clone(),
            if s.enabled {
                fmt_utc(next)
            } else {
                "(disabled)".into()
            },
            if s.enabled {
                fmt_local(s, next)
            } else {
                "-".into()
            },
            last,
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

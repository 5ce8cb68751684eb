//! `dango doctor`: whether each source can sync right now.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::ops::doctor::{Check, Status, project_checks, schedules_check, source_checks};
use crate::sources::SourceEntry;

pub(super) const EXAMPLES: &str = "\
Examples:
  dango doctor              every source
  dango doctor orders       one source
  dango doctor --json
Per source: config, secrets (names and where found, never values), reachability with those
credentials (one item per resource into a throwaway warehouse), pending packages and their
size, free disk against the last package, schema drift (needs attention until `dango
governance accept <source>`), the last sync. Also the lock holder and the destination. Exit
code 1 when a check fails.";

/// Arguments of `dango doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Source (default: every enabled source).
    pub source: Option<String>,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok  ",
        Status::Warn => "warn",
        Status::Fail => "FAIL",
        Status::Skip => "skip",
    }
}

fn print(title: &str, checks: &[Check]) {
    println!("{title}");
    for c in checks {
        println!("  [{}] {}: {}", mark(c.status), c.check, c.detail);
    }
}

/// Runs `dango doctor`.
pub fn run(project: Option<PathBuf>, args: DoctorArgs) -> anyhow::Result<ExitCode> {
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
        None => file.sources.iter().filter(|s| s.enabled).collect(),
    };
    // Each destination the checked sources load into (`destination:` in sources.yml) gets
    // its health check once; DuckDB when there are no sources.
    let mut kinds: Vec<&str> = entries.iter().map(|e| e.destination_type()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        kinds.push("duckdb");
    }
    let mut general = Vec::new();
    for kind in &kinds {
        let dest = crate::destinations::configured(kind, &project, &settings)?;
        general.extend(project_checks(&project, dest.as_ref()));
    }
    let names: Vec<&str> = file.sources.iter().map(|s| s.name.as_str()).collect();
    general.extend(schedules_check(project.root(), &names));
    let mut per_source: Vec<(String, Vec<Check>)> = Vec::new();
    for e in &entries {
        let dest = e.destination(&project, &settings)?;
        per_source.push((
            e.pipeline_name(),
            source_checks(&project, &settings, e, dest.as_ref()),
        ));
    }
    let failed = general
        .iter()
        .chain(per_source.iter().flat_map(|(_, c)| c))
        .filter(|c| c.status == Status::Fail)
        .count();
    if args.json {
        let sources: Vec<_> = per_source
            .iter()
            .map(|(s, c)| {
                json!({"source": s, "ok": c.iter().all(|c| c.status != Status::Fail), "checks": c})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": failed == 0, "project": general, "sources": sources})
            )?
        );
    } else {
        print(&format!("project {}", project.root().display()), &general);
        for (s, c) in &per_source {
            print(&format!("source {s}"), c);
        }
        if failed == 0 {
            println!("No problems found.");
        } else {
            println!("{failed} problem(s) found.");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! `dango sync`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::{Project, SourceConfig, SourceEntry};
use crate::pipeline::{LoadInfo, Pipeline};
use crate::sources::{local_files, rest_api};

/// Arguments of `dango sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sources to sync (default: every enabled source).
    pub sources: Vec<String>,
    /// A source to sync (same as the positional form).
    #[arg(long = "source", value_name = "NAME")]
    pub source: Vec<String>,
    /// Take at most N items from each resource.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// Outcome of one source.
pub(crate) struct SourceRun {
    pub name: String,
    pub result: Result<LoadInfo, crate::Error>,
    pub duration: Duration,
}

/// Runs one source's pipeline.
pub(crate) fn sync_source(project: &Project, entry: &SourceEntry, limit: Option<u64>) -> SourceRun {
    let started = Instant::now();
    let result = (|| {
        let name = entry.pipeline_name();
        let source = match entry.config()? {
            SourceConfig::LocalFiles(cfg) => local_files::build(&name, &cfg, project.root())?,
            SourceConfig::RestApi(cfg) => rest_api::build(&name, &cfg, project)?,
        };
        let workers = crate::extract::parse_workers(project.setting("extract", "workers")?)?;
        let normalize = crate::normalize::NormalizeConfig {
            workers: project.normalize_workers()?,
            ..Default::default()
        };
        let mut pipeline = Pipeline::builder(&name)
            .normalize(normalize)
            .dataset(entry.dataset_name())
            .duckdb(project.warehouse())
            .working_dir(project.pipeline_dir(&name))
            .limit(limit)
            .extract_workers(workers)
            .build()?;
        pipeline.run(source)
    })();
    SourceRun {
        name: entry.pipeline_name(),
        result,
        duration: started.elapsed(),
    }
}

/// Runs `dango sync`.
pub fn run(project: Option<PathBuf>, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let file = project.sources()?;
    let mut wanted: Vec<String> = args.sources.clone();
    wanted.extend(args.source.iter().cloned());
    let selected: Vec<&SourceEntry> = if wanted.is_empty() {
        file.sources.iter().filter(|s| s.enabled).collect()
    } else {
        let mut v = Vec::new();
        for w in &wanted {
            match file.get(w) {
                Some(s) => v.push(s),
                None => {
                    let known: Vec<&str> = file.sources.iter().map(|s| s.name.as_str()).collect();
                    bail!(
                        "no source `{w}` in {}. Known sources: {}",
                        project.sources_file().display(),
                        if known.is_empty() {
                            "(none)".to_string()
                        } else {
                            known.join(", ")
                        }
                    );
                }
            }
        }
        v
    };
    if selected.is_empty() {
        println!(
            "No enabled sources in {}. Add one, then run `dango sync` again.",
            project.sources_file().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut runs = Vec::new();
    for entry in selected {
        eprintln!("Syncing {} ...", entry.pipeline_name());
        let run = sync_source(&project, entry, args.limit);
        if let Err(e) = &run.result {
            eprintln!("error: source `{}` failed: {e}", run.name);
        }
        runs.push(run);
    }
    print_summary(&runs);
    if runs.iter().any(|r| r.result.is_err()) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(runs: &[SourceRun]) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "source",
        "status",
        "table",
        "rows loaded",
        "total rows",
        "duration",
    ]);
    for r in runs {
        let dur = format!("{:.2}s", r.duration.as_secs_f64());
        match &r.result {
            Ok(info) => {
                let loaded = info.row_counts();
                if loaded.is_empty() {
                    table.add_row(vec![
                        r.name.clone(),
                        "ok".into(),
                        "-".into(),
                        "0".into(),
                        "-".into(),
                        dur.clone(),
                    ]);
                }
                for (i, (t, n)) in loaded.iter().enumerate() {
                    let total = info.total_rows.get(t).copied().unwrap_or(0);
                    table.add_row(vec![
                        if i == 0 {
                            r.name.clone()
                        } else {
                            String::new()
                        },
                        if i == 0 { "ok".into() } else { String::new() },
                        t.clone(),
                        n.to_string(),
                        total.to_string(),
                        if i == 0 { dur.clone() } else { String::new() },
                    ]);
                }
            }
            Err(_) => {
                table.add_row(vec![
                    r.name.clone(),
                    "failed".into(),
                    "-".into(),
                    "0".into(),
                    "-".into(),
                    dur,
                ]);
            }
        }
    }
    println!("{table}");
}

//! `dango sync`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use super::history::SourceRun;
use super::interrupt;
use crate::config::redact::redact;
use crate::config::{Project, Settings};
use crate::pipeline::{CancelToken, Pipeline, Progress, ProgressFn};
use crate::sources::BuildContext;
use crate::sources::SourceEntry;

pub(super) const EXAMPLES: &str = "\
Examples:
  dango sync                          every enabled source
  dango sync orders                   one source (same as --source orders)
  dango sync orders --limit 100       at most 100 items per resource (a quick test load)
  dango sync --dry-run                resolve config and show the plan; touch nothing
  dango sync orders --full-refresh -y drop the source's tables and state, load it again
  dango sync --json                   the summary as JSON
  dango sync api --since 2024-01-01 --until 2024-02-01
                                      load an ad-hoc window of the incremental resources;
                                      the saved cursors do not move
  dango sync api --backfill 7d        the last 7 days again (also 2w, 3m)

Sources run [runtime] sync_workers at a time (RUNTIME__SYNC_WORKERS, default 4; commits
one at a time). One failing source does not stop the others; the exit code is 1 if any
failed (130 on Ctrl-C). Ctrl-C stops at the next safe point: committed data stays and the next run resumes.
Each run is logged to .dlt/pipelines/<source>/runtime.log.";

/// Arguments of `dango sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sources to sync (default: every enabled source).
    pub sources: Vec<String>,
    /// A source to sync (same as the positional form; repeatable).
    #[arg(long = "source", value_name = "NAME")]
    pub source: Vec<String>,
    /// Take at most N items from each resource.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Drop the source's tables, state and pending packages, then load everything again. The
    /// old data stays until the new load commits. Asks for confirmation unless -y.
    #[arg(long)]
    pub full_refresh: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Resolve config and secrets and print the plan; extract, load and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Load incremental resources from this date (YYYY-MM-DD) instead of their saved cursor;
    /// the saved cursor does not move.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Load incremental resources up to this date (YYYY-MM-DD, exclusive); the saved cursor
    /// does not move.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Load the last N days/weeks/months again (7d, 2w, 3m); conflicts with --since/--until.
    #[arg(long, value_name = "PERIOD")]
    pub backfill: Option<String>,
    /// Let a `replace` or --full-refresh load leave a previously non-empty table with 0 rows
    /// (refused by default: nothing changes and the sync fails naming the table).
    #[arg(long)]
    pub allow_empty_replace: bool,
}

/// How to run a source.
#[derive(Default, Clone)]
pub(crate) struct RunOptions {
    pub limit: Option<u64>,
    pub full_refresh: bool,
    pub progress: Option<ProgressFn>,
    pub window: Option<crate::incremental::Window>,
    /// Cancels the run (Ctrl-C); a fresh token when not set.
    pub cancel: Option<CancelToken>,
    /// Allow a load that empties a previously non-empty table (`--allow-empty-replace`).
    pub allow_empty_replace: bool,
}

fn build_pipeline(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    opts: &RunOptions,
) -> crate::Result<(Pipeline, crate::sources::Source)> {
    let name = entry.pipeline_name();
    let runtime = settings.runtime()?;
    let cx = BuildContext {
        settings,
        project_root: project.root(),
        runtime: &runtime,
    };
    let source = entry.config(settings.env())?.build(&name, &cx)?;
    let extract_workers = settings.extract(Some(&name))?.workers;
    let normalize_settings = settings.normalize()?;
    let normalize = crate::normalize::NormalizeConfig {
        workers: normalize_settings.workers,
        schema_contract: settings.schema_contract(&name)?,
        add_dlt_load_id: normalize_settings.add_dlt_load_id,
        add_dlt_id: normalize_settings.add_dlt_id,
        ..Default::default()
    };
    let mut b = Pipeline::builder(&name)
        .normalize(normalize)
        .dataset(entry.dataset_name())
        .destination(entry.destination(project, settings)?)
        .working_dir(project.pipeline_dir(&name))
        .limit(opts.limit)
        .extract_workers(extract_workers)
        .full_refresh(opts.full_refresh)
        .window(opts.window.clone())
        .replace_strategy(crate::destinations::replace_strategy(
            entry.destination_type(),
            settings,
        )?)
        .commit_lock(super::ops_common::project_lock(project, settings)?)
        .refuse_empty_replace(!opts.allow_empty_replace);
    if let Some(p) = &opts.progress {
        b = b.progress(p.clone());
    }
    if let Some(t) = &opts.cancel {
        b = b.cancel_token(t.clone());
    }
    Ok((b.build()?, source))
}

/// Runs one source's pipeline, logging to its runtime.log.
pub(crate) fn sync_source(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    opts: &RunOptions,
) -> SourceRun {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let name = entry.pipeline_name();
    super::logging::open_runtime_log(&project.runtime_log(&name));
    tracing::info!(
        pipeline = %name,
        full_refresh = opts.full_refresh,
        limit = ?opts.limit,
        "sync of source {name} started"
    );
    if let Some(r) = entry.resolved_block(settings.env()) {
        tracing::debug!(
            pipeline = %name,
            "resolved config of source {name}: {}",
            serde_json::to_string(&r.block).unwrap_or_default()
        );
    }
    let (result, failed_resources) =
        super::partial::run(settings, || build_pipeline(project, settings, entry, opts));
    let result = result.map_err(|e| diagnose(project, settings, entry, e));
    let result = result.map_err(|e| super::ops_common::out_of_space(project, entry, e));
    match &result {
        Ok(info) => tracing::info!(
            pipeline = %name,
            rows = info.row_counts().values().sum::<u64>(),
            seconds = started.elapsed().as_secs_f64(),
            "sync of source {name} completed: {} load package(s)",
            info.load_packages.len()
        ),
        Err(e) => tracing::error!(pipeline = %name, "sync of source {name} failed: {e}"),
    }
    let run = SourceRun {
        name,
        result,
        duration: started.elapsed(),
        failed_resources,
    };
    super::history::record(
        project,
        settings,
        entry,
        opts.full_refresh,
        &run,
        started_at,
    );
    super::governance::after_sync(project, settings, entry, &run);
    super::logging::close_runtime_log();
    run
}

/// Turns a load failure caused by changed column types into [`crate::Error::SchemaMismatch`].
fn diagnose(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    e: crate::Error,
) -> crate::Error {
    let crate::Error::StepFailed {
        step: "load",
        load_id: Some(load_id),
        ..
    } = &e
    else {
        return e;
    };
    // Other sources of this sync may be loading: read the warehouse under the lock.
    let Ok(lock) = super::ops_common::project_lock(project, settings) else {
        return e;
    };
    let Ok(_guard) = lock.acquire(&entry.pipeline_name(), "diagnose") else {
        return e;
    };
    let Ok(destination) = crate::inspect::for_pipeline(project, &entry.pipeline_name()) else {
        return e;
    };
    let changes = crate::inspect::schema_mismatches(
        &project.pipeline_dir(&entry.pipeline_name()),
        destination.as_ref(),
        &entry.dataset_name(),
        load_id,
    );
    if changes.is_empty() {
        return e;
    }
    crate::Error::SchemaMismatch {
        pipeline: entry.pipeline_name(),
        changes,
    }
}

fn select<'a>(
    project: &Project,
    file: &'a crate::sources::SourcesFile,
    args: &SyncArgs,
) -> anyhow::Result<Vec<&'a SourceEntry>> {
    let mut wanted: Vec<String> = args.sources.clone();
    wanted.extend(args.source.iter().cloned());
    if wanted.is_empty() {
        return Ok(file.sources.iter().filter(|s| s.enabled).collect());
    }
    let mut v: Vec<&SourceEntry> = Vec::new();
    for w in &wanted {
        match file.get(w) {
            Some(s) => {
                if !v.iter().any(|x| x.name == s.name) {
                    v.push(s);
                }
            }
            None => bail!(
                "no source `{w}` in {}. Known sources: {}. Add it there (see `dango source --help`)",
                project.sources_file().display(),
                file.names_or_none()
            ),
        }
    }
    Ok(v)
}

/// Runs `dango sync`.
pub fn run(project: Option<PathBuf>, verbose: u8, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let settings = project.settings()?;
    let runtime = settings.runtime()?;
    super::init_logging(verbose, Some(&runtime));
    let file = crate::sources::SourcesFile::load(&project)?;
    let selected = select(&project, &file, &args)?;
    if selected.is_empty() {
        println!(
            "No enabled sources in {}. Add one (see `dango source --help`), then run `dango sync` again.",
            project.sources_file().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let window = super::sync_window::parse_window(
        args.since.as_deref(),
        args.until.as_deref(),
        args.backfill.as_deref(),
        chrono::Utc::now().date_naive(),
    )?;
    let named = !args.sources.is_empty() || !args.source.is_empty();
    super::sync_window::check_sources(window.as_ref(), &selected, named)?;
    if window.is_some() && args.full_refresh {
        bail!(
            "--full-refresh cannot be combined with --since/--until/--backfill: a full refresh reloads everything. Run them separately"
        );
    }
    if args.dry_run {
        return dry_run(&project, &settings, &selected, &args);
    }
    if args.full_refresh && !args.yes {
        let names: Vec<String> = selected.iter().map(|s| s.pipeline_name()).collect();
        let q = format!(
            "Full refresh drops all tables and the pipeline state of {} in {} and loads again. Continue?",
            names
                .iter()
                .map(|n| format!("raw_{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            project.warehouse().display()
        );
        if !super::confirm(&q) {
            bail!(
                "full refresh not confirmed; nothing was changed. Pass -y to confirm without a prompt: `dango sync {} --full-refresh -y`",
                names.join(" ")
            );
        }
    }
    if args.full_refresh {
        super::backup::before_destructive(&project, "full refresh")?;
    }
    let cancel = interrupt::install();
    let live = std::io::stderr().is_terminal() && !args.json;
    let workers = sync_workers(&settings)?.min(selected.len());
    let (runs, not_run) = run_sources(
        &project, &settings, &selected, &args, &window, &cancel, live, workers,
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&runs, &not_run))?
        );
    } else {
        print_summary(&runs, &not_run);
    }
    if cancel.is_cancelled() {
        return Ok(ExitCode::from(130));
    }
    if runs.iter().any(|r| r.result.is_err() || r.is_partial()) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `[runtime] sync_workers` (`RUNTIME__SYNC_WORKERS`): sources synced at once by one
/// `dango sync`, default [`DEFAULT_SYNC_WORKERS`].
fn sync_workers(settings: &Settings) -> crate::Result<usize> {
    let n: Option<usize> = settings.parse(&["runtime"], "sync_workers", "a whole number >= 1")?;
    match n {
        Some(0) => Err(crate::Error::Config(
            "[runtime] sync_workers must be at least 1 (1 syncs the sources one after the other); set it in .dlt/config.toml or RUNTIME__SYNC_WORKERS".into(),
        )),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_SYNC_WORKERS),
    }
}

/// Sources one `dango sync` runs at once by default. Extract and normalize run concurrently;
/// commits take the project lock one at a time (one writer per warehouse).
pub(crate) const DEFAULT_SYNC_WORKERS: usize = 4;

/// Syncs `selected` on up to `workers` threads: each source's runs, in the selected order,
/// and the names of those not started because of Ctrl-C. A failing source does not stop
/// the others.
#[allow(clippy::too_many_arguments)]
fn run_sources(
    project: &Project,
    settings: &Settings,
    selected: &[&SourceEntry],
    args: &SyncArgs,
    window: &Option<crate::incremental::Window>,
    cancel: &CancelToken,
    live: bool,
    workers: usize,
) -> (Vec<SourceRun>, Vec<String>) {
    let multi = live.then(indicatif::MultiProgress::new);
    let one = |entry: &SourceEntry| -> Option<SourceRun> {
        if cancel.is_cancelled() {
            return None;
        }
        let name = entry.pipeline_name();
        let (progress, bar) = progress_for(&name, multi.as_ref(), args.json);
        let opts = RunOptions {
            limit: args.limit,
            full_refresh: args.full_refresh,
            progress: Some(progress),
            window: window.clone(),
            cancel: Some(cancel.clone()),
            allow_empty_replace: args.allow_empty_replace,
        };
        let run = sync_source(project, settings, entry, &opts);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if !args.json {
            let line = match &run.result {
                Ok(info) => format!(
                    "{name}: done in {:.2}s, {} row(s) loaded",
                    run.duration.as_secs_f64(),
                    info.row_counts().values().sum::<u64>()
                ),
                Err(crate::Error::Interrupted) => format!("{name}: interrupted"),
                Err(e) => redact(&format!("error: source `{name}` failed: {e}")),
            };
            match &multi {
                Some(m) => {
                    let _ = m.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
        Some(run)
    };
    let slots: Vec<Option<SourceRun>> = if workers <= 1 {
        selected.iter().map(|e| one(e)).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new((0..selected.len()).map(|_| None).collect::<Vec<_>>());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(entry) = selected.get(i) else {
                            break;
                        };
                        let run = one(entry);
                        done.lock().unwrap_or_else(|p| p.into_inner())[i] = run;
                    }
                });
            }
        });
        done.into_inner().unwrap_or_else(|p| p.into_inner())
    };
    let mut runs = Vec::new();
    let mut not_run = Vec::new();
    for (entry, slot) in selected.iter().zip(slots) {
        match slot {
            Some(r) => runs.push(r),
            None => not_run.push(entry.pipeline_name()),
        }
    }
    (runs, not_run)
}

/// The progress callback of one source: a live display on a terminal (a line for the source
/// with its stage, a line per resource with items, pages and bytes), plain lines otherwise
/// (none with `--json`).
fn progress_for(
    name: &str,
    multi: Option<&indicatif::MultiProgress>,
    quiet: bool,
) -> (ProgressFn, Option<indicatif::ProgressBar>) {
    if let Some(multi) = multi {
        return live_progress(name, multi.clone());
    }
    let name = name.to_string();
    let f: ProgressFn = Arc::new(move |p: &Progress| {
        if quiet {
            return;
        }
        if let Some(line) = plain_line(&name, p) {
            eprintln!("{line}");
        }
    });
    (f, None)
}

/// The plain progress line of an event (`None` for the per-page events).
fn plain_line(name: &str, p: &Progress) -> Option<String> {
    Some(match p {
        Progress::Step(s) => format!("{name}: {s}"),
        Progress::ResourceExtracted {
            resource,
            items,
            pages,
            bytes,
        } => format!(
            "{name}: resource {resource}: {}",
            extracted(*items, *pages, *bytes)
        ),
        Progress::Normalized { rows } => format!("{name}: normalized {rows} row(s)"),
        Progress::Extracting { .. } => return None,
    })
}

fn live_progress(
    name: &str,
    multi: indicatif::MultiProgress,
) -> (ProgressFn, Option<indicatif::ProgressBar>) {
    let style = |t: &str| {
        indicatif::ProgressStyle::with_template(t)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
    };
    let source_bar = multi.add(indicatif::ProgressBar::new_spinner());
    source_bar.set_style(style("{spinner} {prefix:.bold} {elapsed} {msg}"));
    source_bar.set_prefix(name.to_string());
    source_bar.enable_steady_tick(Duration::from_millis(120));
    let resource_style = style("  {prefix}: {msg}");
    let bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>> =
        Default::default();
    let m = multi.clone();
    let bar_of = move |resource: &str| {
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(resource.to_string())
            .or_insert_with(|| {
                let b = m.add(indicatif::ProgressBar::new_spinner());
                b.set_style(resource_style.clone());
                b.set_prefix(resource.to_string());
                b
            })
            .clone()
    };
    let bar = source_bar.clone();
    let source = name.to_string();
    let f: ProgressFn = Arc::new(move |p: &Progress| match p {
        Progress::Step(s) => source_bar.set_message(format!("{s}...")),
        Progress::Extracting {
            resource,
            items,
            pages,
            bytes,
        } => {
            bar_of(resource).set_message(format!("extracting: {}", counts(*items, *pages, *bytes)))
        }
        Progress::ResourceExtracted {
            resource,
            items,
            pages,
            bytes,
        } => {
            // The final counts stay above the display; the live line goes.
            bar_of(resource).finish_and_clear();
            let _ = multi.println(format!(
                "  {source}: {resource}: {}",
                extracted(*items, *pages, *bytes)
            ));
        }
        Progress::Normalized { rows } => {
            source_bar.set_message(format!("normalized {rows} row(s)"))
        }
    });
    (f, Some(bar))
}

/// "12 item(s), 3 page(s), 1.2 MiB" (the parts that are known).
fn counts(items: u64, pages: u64, bytes: u64) -> String {
    let mut parts = Vec::new();
    if items > 0 {
        parts.push(format!("{items} item(s)"));
    }
    if pages > 0 {
        parts.push(format!("{pages} page(s)"));
    }
    if bytes > 0 {
        parts.push(indicatif::HumanBytes(bytes).to_string());
    }
    parts.join(", ")
}

/// "extracted" with what the extract counted (a `.jsonl` file copied as is has its items
/// counted at normalize time).
fn extracted(items: u64, pages: u64, bytes: u64) -> String {
    let c = counts(items, pages, bytes);
    if c.is_empty() {
        "extracted".into()
    } else {
        format!("extracted {c}")
    }
}

fn status(r: &SourceRun) -> &'static str {
    match &r.result {
        Ok(_) if r.is_partial() => "partial",
        Ok(_) => "ok",
        Err(crate::Error::Interrupted) => "interrupted",
        Err(crate::Error::StepFailed { source, .. })
            if matches!(**source, crate::Error::Interrupted) =>
        {
            "interrupted"
        }
        Err(_) => "failed",
    }
}

fn summary_json(runs: &[SourceRun], not_run: &[String]) -> serde_json::Value {
    let mut sources: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let (tables, load_ids, error) = match &r.result {
                Ok(info) => {
                    let loaded = info.row_counts();
                    let mut names: Vec<String> = loaded.keys().cloned().collect();
                    for t in info.total_rows.keys() {
                        if !names.contains(t) {
                            names.push(t.clone());
                        }
                    }
                    let tables: Vec<serde_json::Value> = names
                        .iter()
                        .map(|t| {
                            json!({
                                "table": t,
                                "rows_loaded": loaded.get(t).copied().unwrap_or(0),
                                "total_rows": info.total_rows.get(t).copied(),
                            })
                        })
                        .collect();
                    let ids: Vec<&str> = info
                        .load_packages
                        .iter()
                        .map(|p| p.load_id.as_str())
                        .collect();
                    (tables, json!(ids), serde_json::Value::Null)
                }
                Err(e) => (Vec::new(), json!([]), json!(redact(&e.to_string()))),
            };
            let rows_loaded = tables_sum(&tables, "rows_loaded");
            json!({
                "source": r.name,
                "status": status(r),
                "dataset": format!("raw_{}", r.name),
                "tables": tables,
                "rows_loaded": rows_loaded,
                "load_ids": load_ids,
                "duration_secs": (r.duration.as_secs_f64() * 1000.0).round() / 1000.0,
                "error": error,
            })
        })
        .collect();
    for n in not_run {
        sources.push(json!({"source": n, "status": "not run", "tables": [], "rows_loaded": 0, "error": "interrupted before it started"}));
    }
    json!({
        "ok": runs.iter().all(|r| r.result.is_ok()) && not_run.is_empty(),
        "sources": sources,
    })
}

fn tables_sum(tables: &[serde_json::Value], key: &str) -> u64 {
    tables.iter().filter_map(|t| t[key].as_u64()).sum()
}

fn print_summary(runs: &[SourceRun], not_run: &[String]) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "source",
        "status",
        "table",
        "rows loaded (this run)",
        "total rows (table)",
        "duration",
    ]);
    let mut errors = Vec::new();
    for r in runs {
        let dur = format!("{:.2}s", r.duration.as_secs_f64());
        match &r.result {
            Ok(info) => {
                let loaded = info.row_counts();
                if loaded.is_empty() {
                    table.add_row(vec![
                        r.name.clone(),
                        status(r).into(),
                        "-".into(),
                        "0".into(),
                        "-".into(),
                        dur.clone(),
                    ]);
                }
                for (i, (t, n)) in loaded.iter().enumerate() {
                    let total = info.total_rows.get(t).copied().unwrap_or(0);
                    let first = i == 0;
                    table.add_row(vec![
                        if first { r.name.clone() } else { String::new() },
                        if first {
                            status(r).into()
                        } else {
                            String::new()
                        },
                        t.clone(),
                        n.to_string(),
                        total.to_string(),
                        if first { dur.clone() } else { String::new() },
                    ]);
                }
            }
            Err(e) => {
                table.add_row(vec![
                    r.name.clone(),
                    status(r).into(),
                    "-".into(),
                    "0".into(),
                    "-".into(),
                    dur,
                ]);
                errors.push(format!("{}: {}", r.name, redact(&e.to_string())));
            }
        }
    }
    for n in not_run {
        table.add_row(vec![
            n.clone(),
            "not run".into(),
            "-".into(),
            "0".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    println!("{table}");
    let failed = runs.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        println!(
            "{failed} of {} source(s) failed:",
            runs.len() + not_run.len()
        );
        for e in errors {
            println!("  {e}");
        }
    }
}

fn dry_run(
    project: &Project,
    settings: &Settings,
    selected: &[&SourceEntry],
    args: &SyncArgs,
) -> anyhow::Result<ExitCode> {
    let mut problems = 0;
    let mut plan = Vec::new();
    let mut plan_lines: Vec<Vec<String>> = Vec::new();
    let runtime = settings.runtime()?;
    let cx = BuildContext {
        settings,
        project_root: project.root(),
        runtime: &runtime,
    };
    for entry in selected {
        let name = entry.pipeline_name();
        let mut p = json!({
            "source": name,
            "type": entry.source_type,
            "pipeline": name,
            "dataset": entry.dataset_name(),
            "warehouse": project.warehouse(),
            "working_dir": project.pipeline_dir(&name),
            "full_refresh": args.full_refresh,
            "limit": args.limit,
        });
        let mut errs: Vec<String> = entry
            .config_problems(settings)
            .iter()
            .map(|e| redact(&e.to_string()))
            .collect();
        let mut lines = Vec::new();
        match entry.config(settings.env()) {
            Ok(cfg) => match cfg.plan(&name, &cx) {
                Ok(plan) => {
                    if let Some(m) = p.as_object_mut() {
                        m.extend(plan.details);
                    }
                    lines = plan.lines;
                }
                Err(e) => errs.push(redact(&e.to_string())),
            },
            Err(e) => errs.push(redact(&e.to_string())),
        }
        problems += errs.len();
        p["problems"] = json!(errs);
        plan.push(p);
        plan_lines.push(lines);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"dry_run": true, "sources": plan}))?
        );
    } else {
        println!("Dry run: nothing will be extracted, loaded or written.");
        for (p, lines) in plan.iter().zip(plan_lines) {
            println!(
                "- {} ({}): pipeline {} into dataset {} of {}",
                p["source"].as_str().unwrap_or_default(),
                p["type"].as_str().unwrap_or_default(),
                p["pipeline"].as_str().unwrap_or_default(),
                p["dataset"].as_str().unwrap_or_default(),
                project.warehouse().display()
            );
            for line in lines {
                println!("  {line}");
            }
            if args.full_refresh {
                println!("  full refresh: would drop its tables, state and pending packages first");
            }
            if let Some(limit) = args.limit {
                println!("  at most {limit} item(s) per resource");
            }
            for e in p["problems"].as_array().into_iter().flatten() {
                println!("  problem: {}", e.as_str().unwrap_or_default());
            }
        }
    }
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

//! `dango sync`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use clap::Args;

mod dry_run;
mod progress;
mod summary;

use super::history::SourceRun;
use super::interrupt;
use crate::config::redact::redact;
use crate::config::{Project, Settings};
use crate::pipeline::{CancelToken, Pipeline, ProgressFn, SharedWarehouse, SharedWarehouses};
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
    /// The warehouse connections the sources of this sync share (state checks, commits,
    /// history records); each source opens its own when not set.
    pub warehouses: Option<Arc<SharedWarehouses>>,
}

fn build_pipeline(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    opts: &RunOptions,
    shared: Option<&Arc<SharedWarehouse>>,
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
    if let Some(shared) = shared {
        b = b.shared_warehouse(shared.clone());
    }
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
    let shared = opts.warehouses.as_ref().and_then(|w| {
        let factory = entry.destination(project, settings).ok()?;
        w.get(&factory)
    });
    // The connection a commit kept for the history record is given up on every path.
    let kept = Kept(shared.as_deref());
    let (result, failed_resources) = super::partial::run(settings, || {
        build_pipeline(project, settings, entry, opts, shared.as_ref())
    });
    if result.is_err() {
        // The diagnosis takes the lock itself.
        kept.release();
    }
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
        shared.as_deref(),
    );
    kept.release();
    super::governance::after_sync(project, settings, entry, &run);
    super::logging::close_runtime_log();
    run
}

/// Gives up the shared connection this thread keeps, at the latest when dropped.
struct Kept<'a>(Option<&'a SharedWarehouse>);

impl Kept<'_> {
    fn release(&self) {
        if let Some(s) = self.0 {
            s.release();
        }
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        self.release();
    }
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
        return dry_run::dry_run(&project, &settings, &selected, &args);
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
            serde_json::to_string_pretty(&summary::summary_json(&runs, &not_run))?
        );
    } else {
        summary::print_summary(&runs, &not_run);
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
    // One warehouse connection per destination for all the sources' state checks, commits
    // and history records (taken under the project lock; see `pipeline::SharedWarehouse`).
    let warehouses = super::ops_common::project_lock(project, settings)
        .ok()
        .map(|lock| Arc::new(SharedWarehouses::new(Some(lock))));
    let one = |entry: &SourceEntry| -> Option<SourceRun> {
        if cancel.is_cancelled() {
            return None;
        }
        let name = entry.pipeline_name();
        let (progress, bar) = progress::progress_for(&name, multi.as_ref(), args.json);
        let opts = RunOptions {
            limit: args.limit,
            full_refresh: args.full_refresh,
            progress: Some(progress),
            window: window.clone(),
            cancel: Some(cancel.clone()),
            allow_empty_replace: args.allow_empty_replace,
            warehouses: warehouses.clone(),
        };
        let run = sync_source(project, settings, entry, &opts);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Some(run)
    };
    // Each source's line, in the selected order whatever finished first.
    let print = |line: String| match &multi {
        Some(m) => {
            let _ = m.println(line);
        }
        None => eprintln!("{line}"),
    };
    let lines = std::sync::Mutex::new(InOrder::default());
    let finished = |i: usize, run: Option<&SourceRun>| {
        let line = run.filter(|_| !args.json).map(source_line);
        let ready = lines.lock().unwrap_or_else(|p| p.into_inner()).put(i, line);
        ready.into_iter().for_each(&print);
    };
    let slots: Vec<Option<SourceRun>> = if workers <= 1 {
        let mut slots = Vec::new();
        for (i, e) in selected.iter().enumerate() {
            let run = one(e);
            finished(i, run.as_ref());
            slots.push(run);
        }
        slots
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
                        finished(i, run.as_ref());
                        done.lock().unwrap_or_else(|p| p.into_inner())[i] = run;
                    }
                });
            }
        });
        done.into_inner().unwrap_or_else(|p| p.into_inner())
    };
    if let Some(w) = &warehouses {
        // Closed before the summary: DuckDB checkpoints, the lock is free.
        w.close_all();
    }
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

/// The line printed when a source's sync ends.
fn source_line(run: &SourceRun) -> String {
    let name = &run.name;
    match &run.result {
        Ok(info) => format!(
            "{name}: done in {:.2}s, {} row(s) loaded",
            run.duration.as_secs_f64(),
            info.row_counts().values().sum::<u64>()
        ),
        Err(crate::Error::Interrupted) => format!("{name}: interrupted"),
        Err(e) => redact(&format!("error: source `{name}` failed: {e}")),
    }
}

/// Lines of sources that finish in any order, given out in the order of the sources.
#[derive(Default)]
struct InOrder {
    /// The first source whose line is not out yet.
    next: usize,
    /// Lines of later sources (`None`: a source without a line).
    waiting: std::collections::BTreeMap<usize, Option<String>>,
}

impl InOrder {
    /// Source `i` ended with `line`: the lines that are ready now, in order.
    fn put(&mut self, i: usize, line: Option<String>) -> Vec<String> {
        self.waiting.insert(i, line);
        let mut ready = Vec::new();
        while let Some(line) = self.waiting.remove(&self.next) {
            ready.extend(line);
            self.next += 1;
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn lines_come_out_in_source_order() {
        let mut o = InOrder::default();
        assert!(o.put(2, Some("c".into())).is_empty());
        assert!(o.put(1, None).is_empty());
        assert_eq!(
            o.put(0, Some("a".into())),
            vec!["a".to_string(), "c".into()]
        );
        assert_eq!(o.put(3, Some("d".into())), vec!["d".to_string()]);
    }
}

//! `dango pipeline`: the verbs of `dlt pipeline`, for the project's pipelines.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::inspect::{self, PipelineView};
use crate::schema::dlt_dict;

pub(super) const EXAMPLES: &str = "\
Examples:
  dango pipeline list                      pipelines of this project, with their last run
  dango pipeline orders info               state, dataset, resources, tables and row counts
  dango pipeline orders info -v            ... plus the sources state (incremental cursors)
  dango pipeline orders show               tables, columns, types, row counts, sample rows
  dango pipeline orders trace              the last run's steps, timings and rows per table
  dango pipeline orders schema --format json
  dango pipeline orders load-package       the last package: state and jobs
  dango pipeline orders failed-jobs
  dango pipeline orders sync-state         per resource: cursor, rows of the last sync and in total
  dango pipeline orders drop orders -y     drop a resource's tables and state (also re:REGEX,
                                           --drop-all, --state-paths P, --state-only)
  dango pipeline orders sync               restore the local state and schema from the warehouse
  dango pipeline orders abort-packages -y  discard pending packages (e.g. after running out of
                                           disk); their jobs stay listed in failed-jobs
Every verb takes --json. Each source is its own pipeline (name = source name), kept in
.dlt/pipelines/<name>/.";

/// Arguments of `dango pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Pipeline name (the source name), or `list`. Without a name: list.
    pub name: Option<String>,
    /// What to show (default: info).
    #[command(subcommand)]
    pub op: Option<PipelineOp>,
    /// JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Schema output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaFormat {
    /// YAML (dlt's default).
    Yaml,
    /// JSON.
    Json,
}

/// `dango pipeline <name>` operations.
#[derive(Debug, Subcommand)]
pub enum PipelineOp {
    /// State, dataset, destination, resources with tables and row counts (-v: sources state).
    Info,
    /// Tables, columns, types, row counts and a few sample rows.
    Show {
        /// Sample rows per table.
        #[arg(long, default_value_t = 3)]
        rows: usize,
    },
    /// The last run's steps, timings and rows per table.
    Trace,
    /// The stored schema.
    Schema {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SchemaFormat::Yaml)]
        format: SchemaFormat,
    },
    /// A load package (default: the most recent): state and jobs with table, file, size, rows.
    LoadPackage {
        /// Load id.
        load_id: Option<String>,
    },
    /// Failed jobs and pending packages of failed loads.
    FailedJobs,
    /// Per resource: cursor path, last_value, initial_value, rows loaded by the last sync and
    /// in total, when it last synced.
    SyncState,
    /// Drops resources' tables (with nested tables) and state, in the warehouse and locally.
    Drop(super::pipeline_state::DropArgs),
    /// Drops the local state and schema and restores them from the warehouse.
    Sync,
    /// Discards the pending load packages (never loaded); their jobs stay visible in
    /// `failed-jobs`. Committed data is not touched. Asks unless -y.
    #[command(visible_alias = "drop-pending-packages")]
    AbortPackages {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
}

/// Runs `dango pipeline`.
pub fn run(project: Option<PathBuf>, verbose: u8, args: PipelineArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let name = match args.name.as_deref() {
        None | Some("list") if args.op.is_none() => return list(&project, args.json),
        None => anyhow::bail!(
            "name the pipeline: `dango pipeline <NAME> <VERB>`; see `dango pipeline list`"
        ),
        Some(n) => n.to_string(),
    };
    if let Some(PipelineOp::AbortPackages { yes }) = args.op {
        return super::abort::run(&project, &name, yes, args.json);
    }
    // Commands that write the warehouse or the pipeline's state hold the project lock.
    let _lock = match &args.op {
        Some(PipelineOp::Sync) => {
            Some(super::ops_common::lock_of(&project)?.acquire(&name, "restore state")?)
        }
        Some(PipelineOp::Drop(_)) => {
            super::backup::before_destructive(&project, "pipeline drop")?;
            Some(super::ops_common::lock_of(&project)?.acquire(&name, "drop")?)
        }
        _ => None,
    };
    if matches!(args.op, Some(PipelineOp::Sync)) {
        return super::pipeline_state::sync_from_destination(&project, &name);
    }
    let view = inspect::open(&project, &name)?;
    match args.op.unwrap_or(PipelineOp::Info) {
        PipelineOp::Info => info(&view, verbose > 0, args.json),
        PipelineOp::Show { rows } => show(&view, rows, args.json),
        PipelineOp::Trace => trace(&view, args.json),
        PipelineOp::Schema { format } => schema(&view, format),
        PipelineOp::LoadPackage { load_id } => load_package(&view, load_id.as_deref(), args.json),
        PipelineOp::FailedJobs => failed_jobs(&view, args.json),
        PipelineOp::SyncState => super::pipeline_state::sync_state(&view, args.json),
        PipelineOp::Drop(d) => super::pipeline_state::drop_cmd(&view, &d, args.json),
        PipelineOp::Sync => super::pipeline_state::sync_from_destination(&project, &name),
        PipelineOp::AbortPackages { yes } => super::abort::run(&project, &name, yes, args.json),
    }
}

fn list(project: &crate::config::Project, as_json: bool) -> anyhow::Result<ExitCode> {
    let all = inspect::list(project);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = project.root().join(".dlt").join("pipelines");
    println!("{} pipelines found in {}", all.len(), dir.display());
    for p in &all {
        match (&p.last_run, &p.last_status) {
            (Some(t), Some(s)) => println!("{} (last run: {t}, {s})", p.name),
            _ => println!("{} (never run)", p.name),
        }
    }
    if all.is_empty() {
        println!(
            "Pipelines are created by `dango sync`. Run `dango sync` to create one per source."
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn info(view: &PipelineView, verbose: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    let state = view.state()?;
    let schema = view.schema()?;
    let counts = view.row_counts().unwrap_or_default();
    let doc = state
        .as_ref()
        .map(|s| serde_json::Value::Object(s.doc().clone()));
    let sources_state = doc
        .as_ref()
        .and_then(|d| d.get("sources").cloned())
        .unwrap_or(json!({}));
    // resource -> tables
    let mut resources: indexmap::IndexMap<String, Vec<String>> = indexmap::IndexMap::new();
    if let Some(s) = &schema {
        for t in s.data_tables() {
            let root = s.root_table(&t.name).to_string();
            let res = s
                .table(&root)
                .and_then(|r| r.resource.clone())
                .unwrap_or(root);
            resources.entry(res).or_default().push(t.name.clone());
        }
    }
    let pending: Vec<String> = view
        .packages()?
        .into_iter()
        .filter(|p| p.state != "LOADED")
        .map(|p| format!("{} ({})", p.load_id, p.state))
        .collect();
    if as_json {
        let res: Vec<serde_json::Value> = resources
            .iter()
            .map(|(r, tables)| {
                json!({
                    "resource": r,
                    "state": sources_state.get(&view.name).and_then(|s| s.get("resources")).and_then(|x| x.get(r)),
                    "tables": tables.iter().map(|t| {
                        let cols = schema.as_ref().and_then(|s| s.table(t)).map(|t| t.columns.len()).unwrap_or(0);
                        json!({"table": t, "columns": cols, "rows": counts.get(t)})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut local = json!(null);
        let mut synced = doc.clone().unwrap_or(json!({}));
        if let Some(m) = synced.as_object_mut() {
            local = m.remove("_local").unwrap_or(json!(null));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "pipeline": view.name,
                "working_dir": view.dir.root(),
                "dataset": view.dataset,
                "destination": view.destination.capabilities().destination_type,
                "warehouse": view.destination.location(),
                "state": synced,
                "local_state": local,
                "resources": res,
                "row_counts": counts,
                "pending_packages": pending,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Found pipeline {} in {}",
        view.name,
        view.dir.root().display()
    );
    println!("Synchronized state:");
    if let Some(d) = doc.as_ref().and_then(|d| d.as_object()) {
        for (k, v) in d {
            if k == "_local" || k == "sources" {
                continue;
            }
            println!(
                "{k}: {}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            );
        }
        println!("sources:");
        if verbose {
            println!("{}", serde_json::to_string_pretty(&sources_state)?);
        } else {
            println!("Add -v option to see sources state. Note that it could be large.");
        }
        print_cursors(&sources_state);
        println!();
        println!("Local state:");
        if let Some(l) = d.get("_local").and_then(|l| l.as_object()) {
            for (k, v) in l {
                println!(
                    "{k}: {}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                );
            }
        }
    } else {
        println!("(no state yet: the pipeline has not loaded anything)");
    }
    println!();
    println!(
        "Destination: {}, {} (dataset {})",
        view.destination.capabilities().destination_type,
        view.destination.location(),
        view.dataset
    );
    if let Some(s) = &schema {
        println!("Resources in schema: {}", s.name);
        for (r, tables) in &resources {
            let slots = sources_state
                .get(&view.name)
                .and_then(|x| x.get("resources"))
                .and_then(|x| x.get(r))
                .and_then(|x| x.as_object())
                .map(|o| o.len())
                .unwrap_or(0);
            println!(
                "{r} with {} table(s) and {slots} resource state slot(s)",
                tables.len()
            );
            for t in tables {
                let cols = s.table(t).map(|t| t.columns.len()).unwrap_or(0);
                let rows = counts
                    .get(t)
                    .map(|n| format!("{n} row(s)"))
                    .unwrap_or_else(|| "not in the warehouse".into());
                if verbose {
                    println!("\t{t} table {cols} column(s) received data, {rows}");
                } else {
                    println!("\t{t}: {rows}");
                }
            }
        }
    }
    if !pending.is_empty() {
        println!(
            "Pending packages (loaded by the next `dango sync {}`): {}",
            view.name,
            pending.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(view: &PipelineView, n: usize, as_json: bool) -> anyhow::Result<ExitCode> {
    let schema = view.schema()?;
    let counts = view.row_counts()?;
    let Some(schema) = schema else {
        anyhow::bail!(
            "pipeline `{}` has no schema yet: nothing was loaded. Run `dango sync {}`",
            view.name,
            view.name
        );
    };
    let mut out = Vec::new();
    for t in schema.data_tables() {
        let cols: Vec<(String, String, bool)> = t
            .columns
            .values()
            .filter(|c| c.is_complete())
            .map(|c| (c.name.clone(), view.column_type(c), c.nullable))
            .collect();
        let rows = counts.get(&t.name).copied();
        let sample = if rows.is_some() {
            view.sample(&t.name, n)?
        } else {
            (Vec::new(), Vec::new())
        };
        out.push((t.name.clone(), cols, rows, sample));
    }
    if as_json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(t, cols, rows, (names, sample))| {
                json!({
                    "table": format!("{}.{t}", view.dataset),
                    "rows": rows,
                    "columns": cols.iter().map(|(c, ty, nullable)| json!({"name": c, "type": ty, "nullable": nullable})).collect::<Vec<_>>(),
                    "sample": sample.iter().map(|r| names.iter().zip(r).map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"pipeline": view.name, "dataset": view.dataset, "tables": v})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Pipeline {} — dataset {} in {}",
        view.name,
        view.dataset,
        view.destination.location()
    );
    for (t, cols, rows, (names, sample)) in &out {
        println!();
        println!(
            "{}.{t}: {}",
            view.dataset,
            rows.map(|r| format!("{r} row(s)"))
                .unwrap_or_else(|| "not in the warehouse".into())
        );
        let mut ct = Table::new();
        ct.load_preset(UTF8_FULL_CONDENSED);
        ct.set_header(vec!["column", "type", "nullable"]);
        for (c, ty, null) in cols {
            ct.add_row(vec![
                c.clone(),
                ty.clone(),
                if *null { "yes".into() } else { "no".into() },
            ]);
        }
        println!("{ct}");
        if !sample.is_empty() {
            let mut st = Table::new();
            st.load_preset(UTF8_FULL_CONDENSED);
            st.set_header(names.clone());
            for r in sample {
                st.add_row(
                    r.iter()
                        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                        .collect::<Vec<_>>(),
                );
            }
            println!("{st}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn trace(view: &PipelineView, as_json: bool) -> anyhow::Result<ExitCode> {
    let Some(t) = view.trace()? else {
        // As dlt's `trace` does: a note, not a failure (a working dir dlt restored with
        // `dlt pipeline … sync` has no trace).
        let dlt_trace = view
            .dir
            .root()
            .join(crate::pipeline::trace::DLT_TRACE_FILE)
            .is_file();
        if as_json {
            println!("null");
        } else if dlt_trace {
            println!(
                "The last run of pipeline `{}` was dlt's own: show its trace with `dlt pipeline --pipelines-dir .dlt/pipelines {} trace`.",
                view.name, view.name
            );
        } else {
            println!(
                "Pipeline `{}` does not have a last run trace yet: it appears after the next `dango sync {}`.",
                view.name, view.name
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}

fn schema(view: &PipelineView, format: SchemaFormat) -> anyhow::Result<ExitCode> {
    let Some(s) = view.schema()? else {
        anyhow::bail!(
            "pipeline `{}` has no schema yet. Run `dango sync {}`",
            view.name,
            view.name
        );
    };
    let v = dlt_dict::to_json(&s);
    match format {
        SchemaFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        SchemaFormat::Yaml => print!("{}", serde_norway::to_string(&to_yaml(&v))?),
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON tree as YAML values. serde_json keeps numbers as their text here
/// (`arbitrary_precision`), which YAML would print as a `$serde_json::private::Number` map:
/// integers become YAML integers, other numbers floats.
fn to_yaml(v: &serde_json::Value) -> serde_norway::Value {
    use serde_json::Value as J;
    use serde_norway::Value as Y;
    match v {
        J::Null => Y::Null,
        J::Bool(b) => Y::Bool(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Y::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Y::Number(u.into())
            } else {
                match n.as_f64() {
                    Some(f) => Y::Number(f.into()),
                    None => Y::String(n.to_string()),
                }
            }
        }
        J::String(s) => Y::String(s.clone()),
        J::Array(a) => Y::Sequence(a.iter().map(to_yaml).collect()),
        J::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.1}KB", n as f64 / 1024.0)
    } else {
        format!("{:.1}MB", n as f64 / 1024.0 / 1024.0)
    }
}

fn load_package(
    view: &PipelineView,
    load_id: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    if load_id.is_none() && view.packages()?.is_empty() {
        // A note, not a failure: a working dir dlt restored (`dlt pipeline … sync`) or one
        // whose packages were cleaned up has none.
        if as_json {
            println!("null");
        } else {
            println!(
                "Pipeline `{}` has no load packages in its working dir: the next `dango sync {}` makes one.",
                view.name, view.name
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let p = view.package(load_id)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tables: std::collections::BTreeSet<&str> =
        p.jobs.iter().map(|j| j.table.as_str()).collect();
    print!(
        "The package with load id {} for schema {} is in {} state. It has {} job(s) for {} table(s).",
        p.load_id,
        p.schema_name,
        p.state,
        p.jobs.len(),
        tables.len()
    );
    match &p.completed_at {
        Some(t) => println!(" The package was LOADED at {t}"),
        None => println!(
            " It is not loaded yet; the next `dango sync {}` loads it.",
            view.name
        ),
    }
    println!("Jobs details:");
    for j in &p.jobs {
        let folder = &j.state;
        println!(
            "Job: {}, table: {} in {folder}. File type: {}, size: {}, rows: {}.",
            j.file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            j.table,
            j.file
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
            human_size(j.size),
            j.rows
        );
    }
    if !p.truncated_tables.is_empty() {
        println!(
            "Tables replaced by the load: {}",
            p.truncated_tables.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn failed_jobs(view: &PipelineView, as_json: bool) -> anyhow::Result<ExitCode> {
    let packages = view.packages()?;
    let trace = view.trace()?;
    let failure = trace
        .as_ref()
        .and_then(|t| t.error().map(|(s, e)| (s.to_string(), e.to_string())));
    let pending: Vec<_> = packages.iter().filter(|p| p.state != "LOADED").collect();
    let failed: Vec<(&inspect::PackageView, &inspect::JobView)> = packages
        .iter()
        .flat_map(|p| p.jobs.iter().map(move |j| (p, j)))
        .filter(|(_, j)| j.state == crate::storage::jobs::FAILED_JOBS)
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "failed_jobs": failed.iter().map(|(p, j)| json!({
                    "load_id": p.load_id,
                    "table": j.table,
                    "file": j.file,
                    "error": j.exception,
                })).collect::<Vec<_>>(),
                "pending_packages": pending.iter().map(|p| json!({"load_id": p.load_id, "state": p.state})).collect::<Vec<_>>(),
                "last_run_error": failure.as_ref().map(|(s, e)| json!({"step": s, "error": e})),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &packages {
        println!("Checking failed jobs in load id '{}'", p.load_id);
        for j in p
            .jobs
            .iter()
            .filter(|j| j.state == crate::storage::jobs::FAILED_JOBS)
        {
            println!(
                "JOB: {} ({}) FAILED: {}",
                j.file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                j.table,
                j.exception
                    .as_deref()
                    .unwrap_or("(no error recorded)")
                    .trim()
            );
        }
    }
    if failed.is_empty() {
        println!("No failed jobs found");
    }
    if let Some((step, e)) = failure {
        println!("The last run failed at step {step}: {e}");
    }
    for p in pending {
        println!(
            "Package {} is {} and not loaded yet; `dango sync {}` retries it.",
            p.load_id, p.state, view.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The incremental cursors of every source and resource, one line each.
fn print_cursors(sources_state: &serde_json::Value) {
    let mut lines = Vec::new();
    if let Some(sources) = sources_state.as_object() {
        for (src, s) in sources {
            let Some(rs) = s.get("resources").and_then(|r| r.as_object()) else {
                continue;
            };
            for (r, slot) in rs {
                let Some(inc) = slot.get("incremental").and_then(|i| i.as_object()) else {
                    continue;
                };
                for (path, e) in inc {
                    let v = |k: &str| {
                        e.get(k)
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .unwrap_or_else(|| "null".into())
                    };
                    lines.push(format!(
                        "  {src}.{r} cursor {path}: last_value {} (initial_value {}, {} boundary hash(es))",
                        v("last_value"),
                        v("initial_value"),
                        e.get("unique_hashes").and_then(|h| h.as_array()).map(|a| a.len()).unwrap_or(0)
                    ));
                }
            }
        }
    }
    if !lines.is_empty() {
        println!("Incremental cursors:");
        for l in lines {
            println!("{l}");
        }
    }
}

#[cfg(test)]
mod yaml_tests {
    #[test]
    fn numbers_are_yaml_numbers() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"version": 2, "engine_version": 11, "f": 1.5, "big": 18446744073709551615, "s": "x"}"#)
                .unwrap();
        let text = serde_norway::to_string(&super::to_yaml(&v)).unwrap();
        assert_eq!(
            text,
            "version: 2\nengine_version: 11\nf: 1.5\nbig: 18446744073709551615\ns: x\n"
        );
    }
}

//! `dango pipeline <name> sync-state | drop | sync`: incremental state per resource, dropping
//! resources and state, and restoring the local state from the warehouse.

use std::process::ExitCode;

use anyhow::bail;
use serde_json::{Value, json};

use crate::config::Project;
use crate::destinations::{Destination, OpenMode};
use crate::inspect::PipelineView;
use crate::state::PipelineState;
use crate::state::drop::{self, DropRequest};
use crate::storage::PipelineDir;

/// Arguments of `dango pipeline <name> drop`.
#[derive(Debug, Clone, clap::Args)]
pub struct DropArgs {
    /// Resources to drop (names, or `re:<regex>`).
    pub resources: Vec<String>,
    /// Drop every resource.
    #[arg(long)]
    pub drop_all: bool,
    /// JSONPaths into the source state to reset (e.g. `resources.orders.incremental`).
    #[arg(long, num_args = 1..)]
    pub state_paths: Vec<String>,
    /// Reset the state only; keep the tables and their data.
    #[arg(long)]
    pub state_only: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// One resource's sync state: rows of the last load, rows in total.
fn resource_rows(
    client: Option<&dyn Destination>,
    dataset: &str,
    table: &str,
    last_load: Option<&str>,
) -> (u64, u64) {
    let Some(c) = client else { return (0, 0) };
    let total = c.row_count(dataset, table).unwrap_or(0);
    let last = last_load
        .map(|id| c.rows_of_load(dataset, table, id).unwrap_or(0))
        .unwrap_or(0);
    (last, total)
}

/// `sync-state` data: per resource, cursors, rows of the last sync and in total, last sync.
pub(super) fn sync_state_json(view: &PipelineView) -> anyhow::Result<Value> {
    let state = view
        .state()?
        .unwrap_or_else(|| PipelineState::new(&view.name, &view.dataset, &view.name));
    let schema = view.schema()?;
    let schema_name = schema
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or(view.name.clone());
    let src = state.source(&schema_name);
    let client = if view.destination.exists() {
        view.destination.open(OpenMode::ReadOnly).ok()
    } else {
        None
    };
    let last = client
        .as_ref()
        .and_then(|c| c.last_load(&view.dataset, &schema_name).ok().flatten());
    let names = match &schema {
        Some(s) => drop::resource_names(s, &src),
        None => src
            .get("resources")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    for r in names {
        let slot = src.get("resources").and_then(|x| x.get(&r));
        let cursors: Vec<Value> = slot
            .and_then(|s| s.get("incremental"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(path, e)| {
                        json!({
                            "cursor_path": path,
                            "last_value": e.get("last_value"),
                            "initial_value": e.get("initial_value"),
                            "start_value": e.get("start_value"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tables = schema
            .as_ref()
            .map(|s| drop::resource_tables(s, &r))
            .unwrap_or_default();
        let root = tables.first().cloned();
        let (rows_last, rows_total) = match &root {
            Some(t) => resource_rows(
                client.as_deref(),
                &view.dataset,
                t,
                last.as_ref().map(|l| l.0.as_str()),
            ),
            None => (0, 0),
        };
        out.push(json!({
            "resource": r,
            "table": root,
            "cursors": cursors,
            "rows_last_sync": rows_last,
            "rows_total": rows_total,
            "last_synced_at": last.as_ref().map(|l| l.1.clone()),
            "last_load_id": last.as_ref().map(|l| l.0.clone()),
        }));
    }
    Ok(json!({"pipeline": view.name, "dataset": view.dataset, "resources": out}))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `dango pipeline <name> sync-state`.
pub(super) fn sync_state(view: &PipelineView, as_json: bool) -> anyhow::Result<ExitCode> {
    let data = sync_state_json(view)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&data)?);
        return Ok(ExitCode::SUCCESS);
    }
    let resources = data["resources"].as_array().cloned().unwrap_or_default();
    if resources.is_empty() {
        println!(
            "Pipeline {} has no resources yet. Run `dango sync {}`.",
            view.name, view.name
        );
    }
    for r in &resources {
        println!("resource: {}", text(&r["resource"]));
        let cursors = r["cursors"].as_array().cloned().unwrap_or_default();
        if cursors.is_empty() {
            println!("  cursor: none (not incremental)");
        }
        for c in &cursors {
            println!("  cursor: {}", text(&c["cursor_path"]));
            println!("    last_value: {}", text(&c["last_value"]));
            println!("    initial_value: {}", text(&c["initial_value"]));
        }
        println!("  rows loaded by last sync: {}", r["rows_last_sync"]);
        println!("  rows in total: {}", r["rows_total"]);
        println!("  last synced: {}", text(&r["last_synced_at"]));
    }
    Ok(ExitCode::SUCCESS)
}

/// `dango pipeline <name> sync`: drops the local state and schema and restores them from the
/// warehouse.
pub(super) fn sync_from_destination(project: &Project, name: &str) -> anyhow::Result<ExitCode> {
    let name = name.to_ascii_lowercase();
    let dataset = crate::sources::SourcesFile::load(project)
        .ok()
        .and_then(|f| f.get(&name).map(|e| e.dataset_name()))
        .unwrap_or_else(|| format!("raw_{name}"));
    let destination = crate::inspect::for_pipeline(project, &name)?;
    let dir = PipelineDir::new(project.pipeline_dir(&name));
    if !destination.exists() {
        bail!(
            "no warehouse at {}: nothing to restore pipeline `{name}` from. Run `dango sync {name}` first",
            destination.location()
        );
    }
    let stored = destination
        .open(OpenMode::ReadOnly)?
        .stored_state(&dataset, &name)?;
    if stored.is_none() {
        bail!(
            "dataset `{dataset}` in {} holds no state of pipeline `{name}`; nothing to restore. Run `dango sync {name}` to load it",
            destination.location()
        );
    }
    dir.create()?;
    println!("Dropping local state");
    for p in [dir.state_path(), dir.schema_path(&name)] {
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| crate::Error::io(&p, e))?;
        }
    }
    println!("Restoring from destination");
    crate::state::warehouse::restore_if_newer(destination.as_ref(), &dataset, &name, &dir, true)?;
    let st = PipelineState::load(&dir.state_path())?;
    println!(
        "Restored state version {} and schema of pipeline {name} from {} (dataset {dataset}).",
        st.map(|s| s.state_version()).unwrap_or(0),
        destination.location()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `dango pipeline <name> drop`.
pub(super) fn drop_cmd(
    view: &PipelineView,
    args: &DropArgs,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    if args.resources.is_empty() && !args.drop_all && args.state_paths.is_empty() {
        bail!(
            "name what to drop: resources (`dango pipeline {0} drop orders`, `re:^ord`), --drop-all, or --state-paths; see `dango pipeline {0} info` for the resources",
            view.name
        );
    }
    let pending: Vec<String> = view
        .packages()?
        .into_iter()
        .filter(|p| p.state != "LOADED")
        .map(|p| p.load_id)
        .collect();
    if !pending.is_empty() {
        bail!(
            "pipeline `{}` has pending load packages ({}); finish them first with `dango sync {}`",
            view.name,
            pending.join(", "),
            view.name
        );
    }
    let schema = view
        .schema()?
        .unwrap_or_else(|| crate::schema::dlt_dict::new_schema(&view.name));
    let state = view
        .state()?
        .unwrap_or_else(|| PipelineState::new(&view.name, &view.dataset, &view.name));
    let req = DropRequest {
        resources: args.resources.clone(),
        drop_all: args.drop_all,
        state_paths: args.state_paths.clone(),
        state_only: args.state_only,
    };
    let mut client = if view.destination.exists() {
        Some(view.destination.open(OpenMode::ReadWrite)?)
    } else {
        None
    };
    let plan = drop::plan(
        &schema,
        &state,
        &schema.name,
        &req,
        client.as_deref(),
        &view.dataset,
    )?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        println!(
            "About to drop the following data in dataset {} in destination {} ({}):",
            view.dataset,
            view.destination.capabilities().destination_type,
            view.destination.location()
        );
        println!("Selected schema: {}", plan.schema_name);
        println!("Selected resource(s): {}", list(&plan.resources));
        println!("Table(s) to drop: {}", list(&plan.tables));
        println!(
            "\twith data in destination: {}",
            list(&plan.tables_with_data)
        );
        println!(
            "Resource(s) state to reset: {}",
            list(&plan.resource_states)
        );
        println!("Source state path(s) to reset: {}", list(&plan.state_paths));
    }
    if plan.is_empty() {
        eprintln!("Nothing to drop.");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !super::confirm("Do you want to apply these changes?") {
        bail!("drop not confirmed; nothing was changed. Pass -y to apply it without a prompt");
    }
    drop::apply(
        &plan,
        schema.clone(),
        state,
        &schema.name,
        client.as_mut().map(|c| c.as_mut() as &mut dyn Destination),
        &view.dataset,
        &view.dir,
    )?;
    if !as_json {
        println!(
            "Dropped {} table(s) and reset the state of {} resource(s). The next `dango sync {}` loads them again from their initial values.",
            plan.tables_with_data.len(),
            plan.resource_states.len(),
            view.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

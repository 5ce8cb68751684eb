//! `dango pipeline <name> drop`: drop resources' tables (with their nested tables), reset their
//! state and source state paths, in the warehouse (one transaction that also records the new
//! schema and state as a load) and then locally, as dlt's `pipeline drop`.

use regex::Regex;
use serde_json::{Map, Value};

use super::PipelineState;
use crate::destinations::{Destination, LoadPlan};
use crate::error::{Error, Result};
use crate::schema::{Schema, dlt_dict};
use crate::storage::PipelineDir;

/// What `drop` selects.
#[derive(Debug, Clone, Default)]
pub struct DropRequest {
    /// Resource names or `re:<regex>`.
    pub resources: Vec<String>,
    /// Every resource.
    pub drop_all: bool,
    /// JSONPaths into the source state to reset.
    pub state_paths: Vec<String>,
    /// Reset state only; keep tables.
    pub state_only: bool,
}

/// What `drop` will do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DropPlan {
    /// The schema (and source) name.
    pub schema_name: String,
    /// Selected resources.
    pub resources: Vec<String>,
    /// Tables to drop (roots and nested tables).
    pub tables: Vec<String>,
    /// Of those, the ones with data in the destination.
    pub tables_with_data: Vec<String>,
    /// Resources whose state is reset.
    pub resource_states: Vec<String>,
    /// Source state paths reset (JSON pointers into `sources.<source>`).
    pub state_paths: Vec<String>,
}

impl DropPlan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.resource_states.is_empty() && self.state_paths.is_empty()
    }
}

/// Resource names: from the schema's root tables and from the state.
pub fn resource_names(schema: &Schema, source: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in schema.data_tables() {
        if t.parent.is_none() {
            let r = t.resource.clone().unwrap_or_else(|| t.name.clone());
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    if let Some(Value::Object(rs)) = source.get("resources") {
        for r in rs.keys() {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// Tables of `resource`: its root tables and their nested tables.
pub fn resource_tables(schema: &Schema, resource: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in schema.data_tables() {
        if t.parent.is_none() && t.resource.as_deref().unwrap_or(&t.name) == resource {
            out.push(t.name.clone());
            for n in schema.nested_tables(&t.name) {
                out.push(n.name.clone());
            }
        }
    }
    out
}

/// JSON pointers of the values `path` (a JSONPath, `$.` optional) selects in `doc`.
fn state_pointers(doc: &Value, path: &str) -> Result<Vec<String>> {
    let text = if path.starts_with('$') {
        path.to_string()
    } else {
        format!("$.{path}")
    };
    let p = serde_json_path::JsonPath::parse(&text)
        .map_err(|e| Error::Config(format!("--state-paths `{path}` is not a JSONPath: {e}")))?;
    Ok(p.query_located(doc)
        .locations()
        .map(|l| l.to_json_pointer())
        .collect())
}

/// Plans a drop.
pub fn plan(
    schema: &Schema,
    state: &PipelineState,
    source: &str,
    req: &DropRequest,
    client: Option<&dyn Destination>,
    dataset: &str,
) -> Result<DropPlan> {
    let src = state.source(source);
    let names = resource_names(schema, &src);
    let mut selected: Vec<String> = Vec::new();
    if req.drop_all {
        selected = names.clone();
    }
    for sel in &req.resources {
        let matched: Vec<&String> = if let Some(re) = sel.strip_prefix("re:") {
            let re = Regex::new(re).map_err(|e| {
                Error::Config(format!("`{sel}` is not a valid regular expression: {e}"))
            })?;
            names.iter().filter(|n| re.is_match(n)).collect()
        } else {
            names.iter().filter(|n| *n == sel).collect()
        };
        if matched.is_empty() {
            return Err(Error::Config(format!(
                "no resource matches `{sel}` in pipeline `{source}`. Resources: {}",
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        for m in matched {
            if !selected.contains(m) {
                selected.push(m.clone());
            }
        }
    }
    let mut tables = Vec::new();
    if !req.state_only {
        for r in &selected {
            tables.extend(resource_tables(schema, r));
        }
    }
    let mut tables_with_data = Vec::new();
    if let Some(c) = client {
        let existing = c.dataset_tables(dataset)?;
        tables_with_data = tables
            .iter()
            .filter(|t| existing.contains_key(*t))
            .cloned()
            .collect();
    }
    let has_state = |r: &String| {
        src.get("resources")
            .and_then(|x| x.get(r))
            .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    };
    let resource_states = selected.iter().filter(|r| has_state(r)).cloned().collect();
    let mut state_paths = Vec::new();
    let src_value = Value::Object(src);
    for p in &req.state_paths {
        state_paths.extend(state_pointers(&src_value, p)?);
    }
    Ok(DropPlan {
        schema_name: schema.name.clone(),
        resources: selected,
        tables,
        tables_with_data,
        resource_states,
        state_paths,
    })
}

fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.shift_remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// Applies `plan`: one warehouse transaction drops the tables and records the new schema and
/// state (with a `_dlt_loads` row), then the local schema and state follow.
pub fn apply(
    plan: &DropPlan,
    mut schema: Schema,
    mut state: PipelineState,
    source: &str,
    client: Option<&mut dyn Destination>,
    dataset: &str,
    dir: &PipelineDir,
) -> Result<()> {
    let mut src = Value::Object(state.source(source));
    for p in &plan.state_paths {
        remove_pointer(&mut src, p);
    }
    if let Some(Value::Object(rs)) = src.get_mut("resources") {
        for r in &plan.resource_states {
            rs.shift_remove(r);
        }
    }
    if let Value::Object(m) = src {
        state.set_source(source, m);
    }
    for t in &plan.tables {
        schema.tables.shift_remove(t);
    }
    schema.bump_version();
    state.bump();
    if let Some(client) = client {
        commit_drop(client, plan, &schema, &state, dataset)?;
    }
    crate::storage::write_atomic(
        &dir.schema_path(&schema.name),
        dlt_dict::to_json_string_pretty(&schema).as_bytes(),
    )?;
    state.save(&dir.state_path())?;
    Ok(())
}

/// One destination transaction: drops the tables, records the new schema (if the dataset has
/// `_dlt_version`) and the new state with its `_dlt_loads` row (if it has both tables).
fn commit_drop(
    dest: &mut dyn Destination,
    plan: &DropPlan,
    schema: &Schema,
    state: &PipelineState,
    dataset: &str,
) -> Result<()> {
    let existing = dest.dataset_tables(dataset)?;
    let load_id = crate::storage::new_load_id();
    dest.begin_load(&LoadPlan {
        load_id: &load_id,
        dataset,
        schema,
        jobs: Vec::new(),
        merge_roots: Vec::new(),
    })?;
    let r = (|| -> Result<()> {
        dest.drop_tables(dataset, &plan.tables_with_data)?;
        if existing.contains_key(crate::schema::VERSION_TABLE) {
            dest.store_schema(dataset, schema)?;
        }
        if existing.contains_key(crate::schema::STATE_TABLE)
            && existing.contains_key(crate::schema::LOADS_TABLE)
        {
            dest.store_state(dataset, &state.to_row(), &load_id)?;
            dest.complete_load(dataset, &load_id, schema)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        dest.rollback_load();
        return Err(e);
    }
    dest.commit_load()
}

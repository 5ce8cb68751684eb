//! dlt's bookkeeping on the filesystem destination (`dlt/destinations/impl/filesystem/`): not
//! Delta tables but one JSON document per file, so dlt's own `sync_destination()` reads them:
//!
//! - `<dataset>/init`: `{"initial_version": 2, "current_version": 2}`
//! - `<dataset>/_dlt_loads/<schema>__<load_id>.jsonl`
//! - `<dataset>/_dlt_pipeline_state/<pipeline>__<load_id>__<hex of the schema hash>.jsonl`
//! - `<dataset>/_dlt_version/<schema>__<timestamp>__<hex of the schema hash>.jsonl`

use base64::Engine;
use serde_json::{Value, json};

use super::store::Store;
use crate::destinations::StateRow;
use crate::error::{Error, Result};
use crate::schema::{LOADS_TABLE, STATE_TABLE, Schema, VERSION_TABLE, dlt_dict};

const SEP: &str = "__";

/// dlt's `_to_path_safe_string`: the base64 hash as hex.
pub fn path_safe(hash: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(hash)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_else(|_| hash.replace(['/', '+', '='], "_"))
}

/// Now as Python's `datetime.now(timezone.utc).isoformat()`.
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// Writes the dataset's `init` file if there is none.
pub fn write_init(store: &Store, dataset: &str) -> Result<()> {
    let path = format!("{dataset}/init");
    if store.get(&path)?.is_none() {
        store.put(
            &path,
            br#"{"initial_version": 2, "current_version": 2}"#.to_vec(),
        )?;
    }
    Ok(())
}

/// The `name__part__part.jsonl` files of a dlt table: (file name, parts without `.jsonl`).
fn files(store: &Store, dataset: &str, table: &str) -> Result<Vec<(String, Vec<String>)>> {
    Ok(store
        .list(&format!("{dataset}/{table}"))?
        .into_iter()
        .filter_map(|e| {
            let stem = e.name.strip_suffix(".jsonl")?.to_string();
            let parts: Vec<String> = stem.splitn(3, SEP).map(str::to_string).collect();
            Some((e.name, parts))
        })
        .collect())
}

fn read_doc(store: &Store, dataset: &str, table: &str, name: &str) -> Result<Option<Value>> {
    let Some(bytes) = store.get(&format!("{dataset}/{table}/{name}"))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Destination {
            context: format!("reading {dataset}/{table}/{name} in {}", store.location()),
            reason: format!("not a JSON document: {e}"),
        })
}

/// Writes the `_dlt_loads` row (status 0) of `load_id`.
pub fn store_load(store: &Store, dataset: &str, load_id: &str, schema: &Schema) -> Result<()> {
    let doc = json!({
        "load_id": load_id,
        "schema_name": schema.name,
        "status": 0,
        "inserted_at": now_iso(),
        "schema_version_hash": schema.version_hash,
    });
    store.put(
        &format!(
            "{dataset}/{LOADS_TABLE}/{}{SEP}{load_id}.jsonl",
            schema.name
        ),
        doc.to_string().into_bytes(),
    )
}

/// Whether `_dlt_loads` records `load_id` (any schema).
pub fn has_load(store: &Store, dataset: &str, load_id: &str) -> Result<bool> {
    Ok(files(store, dataset, LOADS_TABLE)?
        .iter()
        .any(|(_, p)| p.len() == 2 && p[1] == load_id))
}

/// The newest load of `schema_name`: load id and `inserted_at` (ISO 8601, UTC).
pub fn last_load(
    store: &Store,
    dataset: &str,
    schema_name: &str,
) -> Result<Option<(String, String)>> {
    let Some((name, parts)) = files(store, dataset, LOADS_TABLE)?
        .into_iter()
        .filter(|(_, p)| p.len() == 2 && p[0] == schema_name)
        .max_by(|a, b| a.1[1].cmp(&b.1[1]))
    else {
        return Ok(None);
    };
    let doc = read_doc(store, dataset, LOADS_TABLE, &name)?.unwrap_or_default();
    let at = doc
        .get("inserted_at")
        .and_then(|v| v.as_str())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string()
        })
        .unwrap_or_default();
    Ok(Some((parts[1].clone(), at)))
}

/// Writes a `_dlt_pipeline_state` document as dlt's `state_doc` has it.
pub fn store_state(
    store: &Store,
    dataset: &str,
    row: &StateRow,
    load_id: &str,
    schema_hash: &str,
) -> Result<()> {
    let doc = json!({
        "version": row.version,
        "engine_version": row.engine_version,
        "pipeline_name": row.pipeline_name,
        "state": row.state,
        "created_at": now_iso(),
        "version_hash": row.version_hash,
        "_dlt_load_id": load_id,
    });
    let name = format!(
        "{}{SEP}{load_id}{SEP}{}.jsonl",
        row.pipeline_name,
        path_safe(schema_hash)
    );
    store.put(
        &format!("{dataset}/{STATE_TABLE}/{name}"),
        doc.to_string().into_bytes(),
    )
}

/// State documents of `pipeline`, newest load first.
fn state_docs(store: &Store, dataset: &str, pipeline: &str) -> Result<Vec<(String, String)>> {
    let mut v: Vec<(String, String)> = files(store, dataset, STATE_TABLE)?
        .into_iter()
        .filter(|(_, p)| p.len() == 3 && p[0] == pipeline)
        .map(|(n, p)| (p[1].clone(), n))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(v)
}

/// The newest state of `pipeline` whose load is complete: (state, version hash).
pub fn stored_state(
    store: &Store,
    dataset: &str,
    pipeline: &str,
    committed_only: bool,
) -> Result<Option<(String, String)>> {
    let loads: Vec<String> = if committed_only {
        files(store, dataset, LOADS_TABLE)?
            .into_iter()
            .filter(|(_, p)| p.len() == 2)
            .map(|(_, p)| p[1].clone())
            .collect()
    } else {
        Vec::new()
    };
    for (load_id, name) in state_docs(store, dataset, pipeline)? {
        if committed_only && !loads.contains(&load_id) {
            continue;
        }
        if let Some(doc) = read_doc(store, dataset, STATE_TABLE, &name)? {
            let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let (Some(s), Some(h)) = (text("state"), text("version_hash")) {
                return Ok(Some((s, h)));
            }
        }
    }
    Ok(None)
}

/// Writes the `_dlt_version` document of `schema`.
pub fn store_schema(store: &Store, dataset: &str, schema: &Schema) -> Result<()> {
    let now = chrono::Utc::now();
    let stamp = format!("{}.{:06}", now.timestamp(), now.timestamp_subsec_micros());
    let doc = json!({
        "version_hash": schema.version_hash,
        "schema_name": schema.name,
        "version": schema.version,
        "engine_version": crate::schema::SCHEMA_ENGINE_VERSION,
        "inserted_at": now_iso(),
        "schema": dlt_dict::to_json_string_compact(schema),
    });
    let name = format!(
        "{}{SEP}{stamp}{SEP}{}.jsonl",
        schema.name,
        path_safe(&schema.version_hash)
    );
    store.put(
        &format!("{dataset}/{VERSION_TABLE}/{name}"),
        doc.to_string().into_bytes(),
    )
}

/// The newest stored schema called `schema_name`.
pub fn stored_schema(store: &Store, dataset: &str, schema_name: &str) -> Result<Option<Schema>> {
    let newest = files(store, dataset, VERSION_TABLE)?
        .into_iter()
        .filter(|(_, p)| p.len() == 3 && p[0] == schema_name)
        .max_by(|a, b| {
            let t = |p: &Vec<String>| p[1].parse::<f64>().unwrap_or(0.0);
            t(&a.1).total_cmp(&t(&b.1))
        });
    let Some((name, _)) = newest else {
        return Ok(None);
    };
    let Some(doc) = read_doc(store, dataset, VERSION_TABLE, &name)? else {
        return Ok(None);
    };
    let text = doc.get("schema").and_then(|s| s.as_str()).unwrap_or("{}");
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored schema is not JSON: {e}")))?;
    dlt_dict::from_json(&v)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored schema `{schema_name}`: {e}")))
}

/// Whether `_dlt_version` holds a schema with `version_hash`.
pub fn has_schema_version(store: &Store, dataset: &str, version_hash: &str) -> Result<bool> {
    let safe = path_safe(version_hash);
    Ok(files(store, dataset, VERSION_TABLE)?
        .iter()
        .any(|(_, p)| p.len() == 3 && p[2] == safe))
}

/// The columns of a dlt bookkeeping table, from dlt's table definitions.
pub fn dlt_table_columns(table: &str) -> Option<Vec<(String, String)>> {
    let t = match table {
        LOADS_TABLE => dlt_dict::loads_table(),
        VERSION_TABLE => dlt_dict::version_table(),
        STATE_TABLE => dlt_dict::pipeline_state_table(),
        _ => return None,
    };
    Some(
        t.columns
            .values()
            .map(|c| (c.name.clone(), super::data::delta_type(c)))
            .collect(),
    )
}

/// Rows of a dlt bookkeeping table (one per file).
pub fn dlt_table_rows(store: &Store, dataset: &str, table: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (name, _) in files(store, dataset, table)? {
        if let Some(doc) = read_doc(store, dataset, table, &name)? {
            out.push(doc);
        }
    }
    Ok(out)
}

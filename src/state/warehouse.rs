//! State and schema kept in the warehouse: read back (`_dlt_pipeline_state` joined to
//! `_dlt_loads`, `_dlt_version`) and restored into the local pipeline dir when the local copy
//! is missing or older, as dlt's `sync_destination` does.

use std::path::Path;

use duckdb::OptionalExt;

use super::PipelineState;
use crate::error::{Error, Result};
use crate::load::destinations::duckdb::{DuckDbClient, quote_ident};
use crate::schema::{Schema, dlt_dict};
use crate::storage::PipelineDir;

/// The newest committed state of `pipeline` in `dataset` (dlt's `get_stored_state`: latest
/// row whose load is in `_dlt_loads` with status 0).
pub fn stored_state(
    client: &DuckDbClient,
    dataset: &str,
    pipeline: &str,
) -> Result<Option<PipelineState>> {
    let tables = client.dataset_tables(dataset)?;
    if !tables.contains_key(crate::schema::STATE_TABLE)
        || !tables.contains_key(crate::schema::LOADS_TABLE)
    {
        return Ok(None);
    }
    let ds = quote_ident(dataset);
    let sql = format!(
        "SELECT s.state FROM {ds}.\"_dlt_pipeline_state\" s JOIN {ds}.\"_dlt_loads\" l \
         ON l.load_id = s._dlt_load_id WHERE l.status = 0 AND s.pipeline_name = ? \
         ORDER BY l.load_id DESC, s.version DESC LIMIT 1"
    );
    let text: Option<String> = client
        .conn()
        .query_row(&sql, [pipeline], |r| r.get(0))
        .optional()?;
    text.map(|t| PipelineState::decompress(&t)).transpose()
}

/// The newest stored schema called `schema_name` in `dataset` (`_dlt_version`).
pub fn stored_schema(
    client: &DuckDbClient,
    dataset: &str,
    schema_name: &str,
) -> Result<Option<Schema>> {
    let tables = client.dataset_tables(dataset)?;
    if !tables.contains_key(crate::schema::VERSION_TABLE) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT schema FROM {}.\"_dlt_version\" WHERE schema_name = ? \
         ORDER BY inserted_at DESC, version DESC LIMIT 1",
        quote_ident(dataset)
    );
    let text: Option<String> = client
        .conn()
        .query_row(&sql, [schema_name], |r| r.get(0))
        .optional()?;
    let Some(text) = text else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("stored schema is not JSON: {e}")))?;
    dlt_dict::from_json(&v)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored schema `{schema_name}`: {e}")))
}

/// What [`restore_if_newer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Nothing in the warehouse, or the local state is as new.
    Nothing,
    /// The warehouse state (and schema) replaced the local ones: `(old, new)` state versions.
    State {
        /// Local `_state_version` (none: no local state).
        local: Option<i64>,
        /// The restored `_state_version`.
        warehouse: i64,
    },
}

/// Restores state and schema from the warehouse when the local state is missing or older
/// (lower `_state_version`). `force` restores whenever the warehouse has a state.
pub fn restore_if_newer(
    warehouse: &Path,
    dataset: &str,
    pipeline: &str,
    dir: &PipelineDir,
    force: bool,
) -> Result<Restored> {
    if !warehouse.exists() {
        return Ok(Restored::Nothing);
    }
    let client = DuckDbClient::open_read_only(warehouse)?;
    let Some(mut remote) = stored_state(&client, dataset, pipeline)? else {
        return Ok(Restored::Nothing);
    };
    let local = PipelineState::load(&dir.state_path())?;
    let local_version = local.as_ref().map(PipelineState::state_version);
    if !force && local_version.is_some_and(|v| v >= remote.state_version()) {
        return Ok(Restored::Nothing);
    }
    let schema_name = remote
        .doc()
        .get("default_schema_name")
        .and_then(|v| v.as_str())
        .unwrap_or(pipeline)
        .to_string();
    if let Some(schema) = stored_schema(&client, dataset, &schema_name)? {
        crate::storage::write_atomic(
            &dir.schema_path(&schema.name),
            dlt_dict::to_json_string_pretty(&schema).as_bytes(),
        )?;
    }
    remote.set_local("first_run", serde_json::json!(false));
    remote.set_local("_restored_from_destination", serde_json::json!(true));
    remote.save(&dir.state_path())?;
    tracing::info!(
        pipeline,
        local_version = ?local_version,
        warehouse_version = remote.state_version(),
        "Restored the pipeline state and schema from the destination."
    );
    Ok(Restored::State {
        local: local_version,
        warehouse: remote.state_version(),
    })
}

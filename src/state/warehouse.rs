//! State and schema kept in the destination: read back
//! ([`crate::destinations::Destination::stored_state`] / `stored_schema`) and restored into the local pipeline dir when the local copy
//! is missing or older, as dlt's `sync_destination` does.

use super::PipelineState;
use crate::destinations::{Destination, DestinationFactory, OpenMode};
use crate::error::Result;
use crate::schema::dlt_dict;
use crate::storage::PipelineDir;

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
    destination: &dyn DestinationFactory,
    dataset: &str,
    pipeline: &str,
    dir: &PipelineDir,
    force: bool,
) -> Result<Restored> {
    if !destination.exists() {
        return Ok(Restored::Nothing);
    }
    let client = destination.open(OpenMode::ReadOnly)?;
    restore_from(client.as_ref(), dataset, pipeline, dir, force)
}

/// [`restore_if_newer`] through an open connection (one a caller shares between pipelines).
pub fn restore_from(
    client: &dyn Destination,
    dataset: &str,
    pipeline: &str,
    dir: &PipelineDir,
    force: bool,
) -> Result<Restored> {
    let Some(mut remote) = client
        .stored_state(dataset, pipeline)?
        .map(|t| PipelineState::decompress(&t))
        .transpose()?
    else {
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
    if let Some(schema) = client.stored_schema(dataset, &schema_name)? {
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

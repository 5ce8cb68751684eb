//! The files dlt keeps in a working dir and its packages beside the jobs, written so dlt's own
//! CLI and Python API read a dango working dir as one of theirs
//! (`dlt/common/storages/load_package.py`, `load_storage.py`):
//!
//! - `normalize/.version` (`1.0.1`) and `load/.version` (`1.0.2`): the storage versions dlt
//!   checks when it attaches;
//! - `package_completed.json` of a loaded package: the bare word `loaded`, which dlt reads as the
//!   package status;
//! - `load_package_state.json`: the package's creation time and the `_dlt_pipeline_state` row
//!   the package committed (dlt's `LoadPackageStateInjectableContext`).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::pycompat::typed::{PyDateTime, TypedValue};

/// dlt's `NormalizeStorage` version.
pub const NORMALIZE_STORAGE_VERSION: &str = "1.0.1";
/// dlt's `LoadStorage` version.
pub const LOAD_STORAGE_VERSION: &str = "1.0.2";
/// The load package state file.
pub const LOAD_PACKAGE_STATE_FILE: &str = "load_package_state.json";
/// The marker of a completed package.
pub const PACKAGE_COMPLETED_FILE: &str = "package_completed.json";

/// Writes `normalize/.version` and `load/.version` under `root` when missing.
pub fn write_storage_versions(root: &Path) -> Result<()> {
    for (sub, version) in [
        ("normalize", NORMALIZE_STORAGE_VERSION),
        ("load", LOAD_STORAGE_VERSION),
    ] {
        let path = root.join(sub).join(".version");
        if !path.is_file() {
            super::write_atomic(&path, version.as_bytes())?;
        }
    }
    Ok(())
}

/// Marks the package at `pkg` loaded, as dlt does (`package_completed.json` = `loaded`).
pub fn write_package_completed(pkg: &Path) -> Result<()> {
    super::write_atomic(&pkg.join(PACKAGE_COMPLETED_FILE), b"loaded")
}

/// Python's `isoformat()` of an RFC 3339 time (microseconds, `+00:00`); now when `rfc3339`
/// does not parse.
fn iso_micros(rfc3339: &str) -> PyDateTime {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    PyDateTime::from_utc(t)
}

/// A `_dlt_pipeline_state` row (dlt's state table), without its load id and `_dlt_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// The state's `_state_version`.
    pub version: i64,
    /// dlt's state engine version.
    pub engine_version: i64,
    /// Pipeline name.
    pub pipeline_name: String,
    /// The state document, zlib-compressed and base64-encoded.
    pub state: String,
    /// The state's `_version_hash`.
    pub version_hash: String,
}

/// Writes `load_package_state.json` of package `load_id` at `pkg`, created at `created_at`
/// (RFC 3339), with the `_dlt_pipeline_state` row of `state` when the package commits one.
/// Its `_version_hash` is dlt's (`generate_state_version_hash` of the typed document).
pub fn write_load_package_state(
    pkg: &Path,
    load_id: &str,
    created_at: &str,
    state: Option<&StateRow>,
) -> Result<()> {
    let created = iso_micros(created_at);
    // The hash covers the typed document (datetimes prefixed); the file holds plain JSON.
    let mut typed = Map::new();
    typed.insert("created_at".into(), TypedValue::DateTime(created).to_json());
    if let Some(row) = state {
        let now = TypedValue::DateTime(PyDateTime::from_utc(chrono::Utc::now()));
        typed.insert(
            "pipeline_state".into(),
            json!({
                "version": row.version,
                "engine_version": row.engine_version,
                "pipeline_name": row.pipeline_name,
                "state": row.state,
                "created_at": now.to_json(),
                "version_hash": row.version_hash,
                "_dlt_load_id": load_id,
            }),
        );
    }
    let text = crate::pycompat::json::dumps_sorted(&Value::Object(typed.clone()));
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD
        .encode(crate::pycompat::hash::sha3_256(text.as_bytes()));
    let mut doc = Map::new();
    doc.insert("_state_version".into(), json!(1));
    doc.insert("_state_engine_version".into(), json!(1));
    let mut plain = Value::Object(typed);
    crate::pycompat::typed::strip_markers(&mut plain);
    if let Value::Object(m) = plain {
        doc.insert("created_at".into(), m["created_at"].clone());
        doc.insert("_version_hash".into(), json!(hash));
        if let Some(ps) = m.get("pipeline_state") {
            doc.insert("pipeline_state".into(), ps.clone());
        }
    }
    let text =
        serde_json::to_string(&doc).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    super::write_atomic(&pkg.join(LOAD_PACKAGE_STATE_FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_as_dlt_writes_them() {
        let tmp = tempfile::tempdir().unwrap();
        write_storage_versions(tmp.path()).unwrap();
        let read = |p: &str| std::fs::read_to_string(tmp.path().join(p)).unwrap();
        assert_eq!(read("normalize/.version"), "1.0.1");
        assert_eq!(read("load/.version"), "1.0.2");
        write_package_completed(tmp.path()).unwrap();
        assert_eq!(read("package_completed.json"), "loaded");
        let state = crate::state::PipelineState::new("p", "ds", "p");
        write_load_package_state(
            tmp.path(),
            "1.5",
            "2024-01-02T10:00:00.123456789Z",
            Some(&state.to_row()),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&read(LOAD_PACKAGE_STATE_FILE)).unwrap();
        assert_eq!(v["created_at"], "2024-01-02T10:00:00.123456+00:00");
        assert_eq!(v["_state_engine_version"], 1);
        assert_eq!(v["pipeline_state"]["_dlt_load_id"], "1.5");
        assert_eq!(v["pipeline_state"]["pipeline_name"], "p");
        assert_eq!(v["_version_hash"].as_str().unwrap().len(), 44);
    }
}

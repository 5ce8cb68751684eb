//! Pipeline state in dlt's shape, kept in `.dlt/pipelines/<name>/state.json` and committed to
//! `_dlt_pipeline_state` in the same transaction as the data it describes.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::pycompat::typed::{PyDateTime, TypedValue};
use crate::storage;

pub mod drop;
mod slots;
pub mod warehouse;
pub use slots::SourceState;

/// The pipeline state a load package commits, inside the package folder.
pub const PACKAGE_STATE_FILE: &str = "pipeline_state.json";

/// dlt's pipeline state engine version.
pub const STATE_ENGINE_VERSION: i64 = 4;

/// The pipeline state document.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    doc: Map<String, Value>,
}

impl PipelineState {
    /// A fresh state for a pipeline loading into DuckDB.
    pub fn new(pipeline_name: &str, dataset_name: &str, schema_name: &str) -> PipelineState {
        let v = json!({
            "_state_version": 0,
            "_state_engine_version": STATE_ENGINE_VERSION,
            "_local": {"first_run": true, "_dev_mode": false},
            "pipeline_name": pipeline_name,
            "dataset_name": dataset_name,
            "default_schema_name": schema_name,
            "schema_names": [schema_name],
            "destination_type": "dlt.destinations.duckdb",
            "destination_name": null,
            "_version_hash": "",
            "sources": {}
        });
        let Value::Object(doc) = v else {
            unreachable!("json! object literal")
        };
        PipelineState { doc }
    }

    /// Reads `state.json`, or `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<PipelineState>> {
        storage::deferred::settle(path)?;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        match v {
            Value::Object(doc) => Ok(Some(PipelineState { doc })),
            _ => Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "state is not a JSON object".into(),
            }),
        }
    }

    /// Writes `state.json` atomically (compact, as dlt does), with `_local` completed as dlt
    /// expects it in a working dir (`initial_cwd`, `last_run_context`: see [`run_context`]),
    /// so dlt's CLI (`drop`, `sync`) and `dlt.attach` work on it.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut doc = self.doc.clone();
        let working_dir = path.parent().unwrap_or_else(|| Path::new("."));
        let context = run_context(working_dir);
        let local = doc
            .entry("_local")
            .or_insert_with(|| Value::Object(Map::new()));
        if !local.is_object() {
            *local = Value::Object(Map::new());
        }
        if let Value::Object(m) = local {
            if !m.get("initial_cwd").is_some_and(Value::is_string) {
                let cwd = context.get("run_dir").cloned().unwrap_or(Value::Null);
                m.insert("initial_cwd".into(), cwd);
            }
            m.insert("last_run_context".into(), Value::Object(context));
        }
        let text = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        storage::write_atomic(path, text.as_bytes())
    }

    /// Marks the state as extracted now, as dlt's extract does: `first_run = false`,
    /// `_last_extracted_at` (a typed datetime), a bumped version, and `_last_extracted_hash`
    /// (the version hash the extract committed to).
    pub fn mark_extracted(&mut self) {
        self.set_local("first_run", json!(false));
        let now = PyDateTime::from_utc(chrono::Utc::now());
        self.set_local("_last_extracted_at", TypedValue::DateTime(now).to_json());
        self.bump();
        let hash = self.stored_hash().to_string();
        self.set_local("_last_extracted_hash", json!(hash));
    }

    /// The whole document.
    pub fn doc(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The whole document, mutably.
    pub fn doc_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.doc
    }

    /// `_state_version`.
    pub fn state_version(&self) -> i64 {
        self.doc
            .get("_state_version")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// `_version_hash` as stored.
    pub fn stored_hash(&self) -> &str {
        self.doc
            .get("_version_hash")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// dlt's `generate_state_version_hash`: sha3-256 of the sorted compact JSON without
    /// `_local`, `_state_version`, `_state_engine_version` and `_version_hash`.
    pub fn compute_hash(&self) -> String {
        let mut m = self.doc.clone();
        for k in [
            "_local",
            "_state_version",
            "_state_engine_version",
            "_version_hash",
        ] {
            m.remove(k);
        }
        let text = crate::pycompat::json::dumps_sorted(&Value::Object(m));
        STANDARD.encode(crate::pycompat::hash::sha3_256(text.as_bytes()))
    }

    /// The `_dlt_pipeline_state` row of this state.
    pub fn to_row(&self) -> crate::destinations::StateRow {
        crate::destinations::StateRow {
            version: self.state_version(),
            engine_version: STATE_ENGINE_VERSION,
            pipeline_name: self
                .doc
                .get("pipeline_name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            state: self.compressed(),
            version_hash: self.stored_hash().to_string(),
        }
    }

    /// Bumps `_state_version` and `_version_hash` if the content changed. Returns whether it did.
    pub fn bump(&mut self) -> bool {
        let hash = self.compute_hash();
        if hash == self.stored_hash() {
            return false;
        }
        let v = self.state_version() + 1;
        self.doc.insert("_state_version".into(), json!(v));
        self.doc.insert("_version_hash".into(), json!(hash));
        true
    }

    /// `sources.<source>` (empty if none).
    pub fn source(&self, source: &str) -> Map<String, Value> {
        self.doc
            .get("sources")
            .and_then(|s| s.get(source))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces `sources.<source>`.
    pub fn set_source(&mut self, source: &str, doc: Map<String, Value>) {
        let sources = self
            .doc
            .entry("sources")
            .or_insert_with(|| Value::Object(Map::new()));
        if !sources.is_object() {
            *sources = Value::Object(Map::new());
        }
        if let Value::Object(m) = sources {
            m.insert(source.to_string(), Value::Object(doc));
        }
    }

    /// Sets `_state_version` (a full refresh continues the old numbering, so a fresh state is
    /// always newer than any state it replaces).
    pub fn set_state_version(&mut self, v: i64) {
        self.doc.insert("_state_version".into(), json!(v));
    }

    /// Sets a `_local` field (never committed to the destination).
    pub fn set_local(&mut self, key: &str, value: Value) {
        let local = self
            .doc
            .entry("_local")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = local {
            m.insert(key.into(), value);
        }
    }

    /// `base64(zlib(json(state without _local), level 9))`: the `state` column of
    /// `_dlt_pipeline_state`.
    pub fn compressed(&self) -> String {
        let mut m = self.doc.clone();
        m.remove("_local");
        let text = serde_json::to_string(&Value::Object(m)).unwrap_or_default();
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
        let _ = enc.write_all(text.as_bytes());
        let bytes = enc.finish().unwrap_or_default();
        STANDARD.encode(bytes)
    }

    /// Decodes the `state` column of `_dlt_pipeline_state`.
    pub fn decompress(text: &str) -> Result<PipelineState> {
        use std::io::Read;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::Internal(format!("state is not base64: {e}")))?;
        let mut dec = flate2::read::ZlibDecoder::new(&bytes[..]);
        let mut s = String::new();
        dec.read_to_string(&mut s)
            .map_err(|e| Error::Internal(format!("state is not zlib: {e}")))?;
        match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(doc)) => Ok(PipelineState { doc }),
            _ => Err(Error::Internal("state is not a JSON object".into())),
        }
    }
}

/// dlt's `last_run_context` of a run of the pipeline whose working dir is `working_dir`:
/// `settings_dir` (`<project>/.dlt`), `local_dir`, `run_dir` (the project root) and `uri`
/// (`file://<project root>`). The project root is the folder holding `.dlt/pipelines/<name>`,
/// or the current directory for a working dir elsewhere.
pub fn run_context(working_dir: &Path) -> Map<String, Value> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let wd = abs(working_dir);
    let pipelines = wd.parent();
    let dlt_dir = pipelines.and_then(Path::parent);
    let root = match (pipelines, dlt_dir) {
        (Some(p), Some(d))
            if p.file_name().is_some_and(|n| n == "pipelines")
                && d.file_name().is_some_and(|n| n == ".dlt") =>
        {
            d.parent().map(Path::to_path_buf)
        }
        _ => None,
    }
    .unwrap_or_else(|| abs(Path::new(".")));
    let text = |p: &Path| Value::String(p.to_string_lossy().into_owned());
    let uri = url::Url::from_file_path(&root)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("file://{}", root.display()));
    let mut m = Map::new();
    m.insert("settings_dir".into(), text(&root.join(".dlt")));
    m.insert("local_dir".into(), text(&root));
    m.insert("run_dir".into(), text(&root));
    m.insert("uri".into(), Value::String(uri));
    m
}

/// Copies the package state from an extracted package folder to its normalized folder.
pub fn carry_package_state(from: &Path, to: &Path) -> Result<()> {
    let src = from.join(PACKAGE_STATE_FILE);
    if src.exists() {
        let dest = to.join(PACKAGE_STATE_FILE);
        std::fs::copy(&src, &dest).map_err(|e| Error::io(&src, e))?;
    }
    Ok(())
}

/// The pipeline state a package folder commits, if it carries one.
pub fn package_state(package_dir: &Path) -> Result<Option<PipelineState>> {
    PipelineState::load(&package_dir.join(PACKAGE_STATE_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_round_trip_starts_like_dlt() {
        let s = PipelineState::new("p", "ds", "p");
        let c = s.compressed();
        assert!(c.starts_with("eN"), "{c}");
        let back = PipelineState::decompress(&c).unwrap();
        assert_eq!(back.doc().get("pipeline_name"), Some(&json!("p")));
        assert!(back.doc().get("_local").is_none());
    }

    #[test]
    fn bump_only_on_change() {
        let mut s = PipelineState::new("p", "ds", "p");
        assert!(s.bump());
        assert_eq!(s.state_version(), 1);
        assert!(!s.bump());
        s.set_local("first_run", json!(false));
        assert!(!s.bump());
        s.doc_mut().insert("sources".into(), json!({"x": {}}));
        assert!(s.bump());
        assert_eq!(s.state_version(), 2);
    }

    #[test]
    fn saved_local_is_dlts() {
        let tmp = tempfile::tempdir().unwrap();
        let wd = tmp.path().join(".dlt/pipelines/p");
        std::fs::create_dir_all(&wd).unwrap();
        let mut s = PipelineState::new("p", "ds", "p");
        s.mark_extracted();
        s.save(&wd.join("state.json")).unwrap();
        let back: Value =
            serde_json::from_slice(&std::fs::read(wd.join("state.json")).unwrap()).unwrap();
        let local = &back["_local"];
        let root = tmp.path().to_string_lossy().into_owned();
        assert_eq!(local["initial_cwd"], json!(root));
        assert_eq!(local["last_run_context"]["run_dir"], json!(root));
        assert_eq!(
            local["last_run_context"]["settings_dir"],
            json!(format!("{root}/.dlt"))
        );
        assert_eq!(
            local["last_run_context"]["uri"],
            json!(format!("file://{root}"))
        );
        assert_eq!(local["_last_extracted_hash"], back["_version_hash"]);
        let at = local["_last_extracted_at"].as_str().unwrap();
        assert!(at.starts_with('\u{f027}') && at.ends_with("+00:00"), "{at}");
        assert!(crate::pycompat::typed::decode_str(at).is_some());
        // dlt's own initial_cwd is kept
        let mut again = PipelineState::load(&wd.join("state.json"))
            .unwrap()
            .unwrap();
        again.set_local("initial_cwd", json!("/elsewhere"));
        again.save(&wd.join("state.json")).unwrap();
        let back = PipelineState::load(&wd.join("state.json"))
            .unwrap()
            .unwrap();
        assert_eq!(back.doc()["_local"]["initial_cwd"], json!("/elsewhere"));
    }
}

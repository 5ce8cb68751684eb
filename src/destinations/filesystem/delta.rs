//! The Delta Lake transaction log, written by hand (protocol: reader 1, writer 2): each
//! commit is `_delta_log/<version, 20 digits>.json`, put only if absent, so two writers can
//! never both create a version. A commit holds `commitInfo`, then (on the first commit or a
//! schema change) `protocol` / `metaData`, then `remove` and `add` actions.
//!
//! dango adds `dangoLoadId` and `dangoJob` to `commitInfo`: a resumed load finds its own
//! commits there and never commits the same job twice.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::store::Store;
use crate::error::{Error, Result};

/// A file of the table (an `add` action).
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// Path relative to the table folder.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Rows (from the `stats`), if known.
    pub num_records: Option<u64>,
    /// The full `add` action, written back as it is into `remove`s.
    pub action: Value,
}

/// The replayed log of a table.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The newest version (`None`: no table).
    pub version: Option<u64>,
    /// The latest `metaData` action.
    pub metadata: Option<Value>,
    /// Live files, by path.
    pub files: BTreeMap<String, DataFile>,
    /// Every `commitInfo` with its version.
    pub commits: Vec<(u64, Value)>,
}

impl Snapshot {
    /// The table's columns as Delta names them: (name, type, nullable).
    pub fn columns(&self) -> Vec<(String, String, bool)> {
        let Some(schema) = self
            .metadata
            .as_ref()
            .and_then(|m| m.get("schemaString"))
            .and_then(|s| s.as_str())
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
        else {
            return Vec::new();
        };
        schema
            .get("fields")
            .and_then(|f| f.as_array())
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| {
                        let ty = match f.get("type") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        (
                            f.get("name").and_then(|n| n.as_str()).unwrap_or("").into(),
                            ty,
                            f.get("nullable").and_then(|n| n.as_bool()).unwrap_or(true),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rows in the table (sum of the files' `numRecords`).
    pub fn row_count(&self) -> Option<u64> {
        self.files.values().map(|f| f.num_records).sum()
    }

    /// Whether a commit of `load_id` (and `job`, if given) is in the log.
    pub fn has_commit(&self, load_id: &str, job: Option<&str>) -> bool {
        self.commits.iter().any(|(_, c)| {
            c.get("dangoLoadId").and_then(|v| v.as_str()) == Some(load_id)
                && job.is_none_or(|j| c.get("dangoJob").and_then(|v| v.as_str()) == Some(j))
        })
    }
}

/// The log folder of a table.
pub fn log_dir(table_dir: &str) -> String {
    format!("{table_dir}/_delta_log")
}

fn commit_name(version: u64) -> String {
    format!("{version:020}.json")
}

/// Reads and replays the log of the table in `table_dir` (relative to the bucket).
pub fn read_snapshot(store: &Store, table_dir: &str) -> Result<Snapshot> {
    let dir = log_dir(table_dir);
    let entries = store.list(&dir)?;
    let mut versions: Vec<u64> = entries
        .iter()
        .filter_map(|e| e.name.strip_suffix(".json")?.parse::<u64>().ok())
        .collect();
    versions.sort_unstable();
    let mut snap = Snapshot::default();
    if versions.is_empty() {
        return Ok(snap);
    }
    if versions[0] != 0 {
        return Err(Error::Destination {
            context: format!(
                "reading the Delta table {table_dir} in {}",
                store.location()
            ),
            reason: "its log starts at a checkpoint (older commits were cleaned up); dango reads \
                     only complete logs. Load this table into a new dataset, or vacuum it with \
                     a Delta tool that keeps the JSON commits"
                .into(),
        });
    }
    for v in versions {
        let Some(bytes) = store.get(&format!("{dir}/{}", commit_name(v)))? else {
            continue;
        };
        apply_commit(&mut snap, v, &bytes, table_dir)?;
        snap.version = Some(v);
    }
    Ok(snap)
}

fn apply_commit(snap: &mut Snapshot, version: u64, bytes: &[u8], table_dir: &str) -> Result<()> {
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt(table_dir, version, "not UTF-8"))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let action: Value =
            serde_json::from_str(line).map_err(|e| corrupt(table_dir, version, &e.to_string()))?;
        if let Some(add) = action.get("add") {
            let path = add.get("path").and_then(|p| p.as_str()).unwrap_or_default();
            let num_records = add
                .get("stats")
                .and_then(|s| s.as_str())
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(|n| n.as_u64()));
            snap.files.insert(
                path.to_string(),
                DataFile {
                    path: path.to_string(),
                    size: add.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
                    num_records,
                    action: add.clone(),
                },
            );
        } else if let Some(rm) = action.get("remove") {
            if let Some(p) = rm.get("path").and_then(|p| p.as_str()) {
                snap.files.remove(p);
            }
        } else if let Some(md) = action.get("metaData") {
            snap.metadata = Some(md.clone());
        } else if let Some(ci) = action.get("commitInfo") {
            snap.commits.push((version, ci.clone()));
        } else if let Some(p) = action.get("protocol") {
            let reader = p
                .get("minReaderVersion")
                .and_then(|v| v.as_u64())
                .unwrap_or(1);
            let writer = p
                .get("minWriterVersion")
                .and_then(|v| v.as_u64())
                .unwrap_or(2);
            if reader > 1 || writer > 2 {
                return Err(Error::Destination {
                    context: format!("reading the Delta table {table_dir}"),
                    reason: format!(
                        "it needs Delta protocol reader {reader} / writer {writer}; dango writes \
                         protocol 1/2 tables only. Load into a new dataset"
                    ),
                });
            }
        }
    }
    Ok(())
}

fn corrupt(table_dir: &str, version: u64, why: &str) -> Error {
    Error::Destination {
        context: format!("reading the Delta log of {table_dir}"),
        reason: format!(
            "commit {} is not valid JSON lines: {why}",
            commit_name(version)
        ),
    }
}

/// One commit to write.
#[derive(Debug, Default)]
pub struct Commit {
    /// `WRITE`, `MERGE`, `DELETE`, ...
    pub operation: &'static str,
    /// `commitInfo.operationParameters`.
    pub parameters: Value,
    /// The Delta schema string, when the table is new or its schema changed.
    pub schema_string: Option<String>,
    /// Files removed (their `add` actions).
    pub removes: Vec<Value>,
    /// Files added (`add` actions).
    pub adds: Vec<Value>,
    /// The load and job this commit belongs to.
    pub load_id: String,
    /// The job (file name) or step.
    pub job: String,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub use super::store::uuid4;

/// Writes `commit` as the version after `snap`'s, put-if-absent. Fails clearly when
/// another writer took that version first (nothing of this commit is then visible).
pub fn write_commit(
    store: &Store,
    table_dir: &str,
    snap: &Snapshot,
    commit: Commit,
) -> Result<u64> {
    let version = snap.version.map_or(0, |v| v + 1);
    let now = now_ms();
    let mut lines: Vec<String> = Vec::new();
    let info = json!({"commitInfo": {
        "timestamp": now,
        "operation": commit.operation,
        "operationParameters": commit.parameters,
        "engineInfo": concat!("dango/", env!("CARGO_PKG_VERSION")),
        "clientVersion": concat!("dango-", env!("CARGO_PKG_VERSION")),
        "isBlindAppend": commit.removes.is_empty() && commit.operation == "WRITE",
        "dangoLoadId": commit.load_id,
        "dangoJob": commit.job,
    }});
    lines.push(info.to_string());
    if snap.version.is_none() {
        lines.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}).to_string());
    }
    if let Some(schema) = commit.schema_string {
        let (id, created) = match &snap.metadata {
            Some(m) => (
                m.get("id").cloned().unwrap_or_else(|| json!(uuid4())),
                m.get("createdTime").cloned().unwrap_or(json!(now)),
            ),
            None => (json!(uuid4()), json!(now)),
        };
        lines.push(
            json!({"metaData": {
                "id": id,
                "format": {"provider": "parquet", "options": {}},
                "schemaString": schema,
                "partitionColumns": [],
                "configuration": {},
                "createdTime": created,
            }})
            .to_string(),
        );
    }
    for add in &commit.removes {
        let mut rm = serde_json::Map::new();
        rm.insert("path".into(), add.get("path").cloned().unwrap_or_default());
        rm.insert("deletionTimestamp".into(), json!(now));
        rm.insert("dataChange".into(), json!(true));
        rm.insert("extendedFileMetadata".into(), json!(true));
        rm.insert("partitionValues".into(), json!({}));
        if let Some(size) = add.get("size") {
            rm.insert("size".into(), size.clone());
        }
        lines.push(json!({ "remove": rm }).to_string());
    }
    for add in commit.adds {
        lines.push(json!({ "add": add }).to_string());
    }
    let mut body = lines.join("\n");
    body.push('\n');
    let name = format!("{}/{}", log_dir(table_dir), commit_name(version));
    if store.put_if_absent(&name, body.into_bytes())? {
        Ok(version)
    } else {
        Err(Error::Destination {
            context: format!(
                "committing to the Delta table {table_dir} in {}",
                store.location()
            ),
            reason: format!(
                "version {version} was written by another writer at the same time; nothing of \
                 this commit is visible. Run `dango sync` again (one writer per table at a time)"
            ),
        })
    }
}

/// An `add` action for a new data file.
pub fn add_action(path: &str, size: u64, stats: &Value) -> Value {
    json!({
        "path": path,
        "partitionValues": {},
        "size": size,
        "modificationTime": now_ms(),
        "dataChange": true,
        "stats": stats.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn commit_names_have_twenty_digits() {
        assert_eq!(commit_name(3), "00000000000000000003.json");
    }
}

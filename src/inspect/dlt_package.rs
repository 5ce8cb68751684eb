//! Packages dlt wrote into a shared working dir: no `package.json` (dango's manifest), only
//! dlt's layout (`dlt/common/storages/load_package.py`): job files in the four job folders,
//! named `{table}.{file_id}.{retry_count}.{format}[.gz]`, `schema.json`,
//! `load_package_state.json` and, once loaded, `package_completed.json`.

use std::path::Path;

use super::{JobView, PackageView};
use crate::storage::jobs::{self, FOLDERS};

/// The view of a dlt-written package at `path` in `state` (`LOADED`, `NORMALIZED`,
/// `EXTRACTED`). Rows per job are not recorded by dlt: they show as 0.
pub(super) fn package_view(path: &Path, id: &str, state: &str) -> PackageView {
    let json = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(path.join(name)).ok()?).ok()
    };
    let schema_name = json("schema.json")
        .and_then(|s| s.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_default();
    let package_state = json(crate::storage::dlt_files::LOAD_PACKAGE_STATE_FILE);
    let created_at = package_state
        .as_ref()
        .and_then(|s| {
            s.get("created_at")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .or_else(|| created_from_load_id(id))
        .unwrap_or_default();
    let completed = path.join(crate::storage::dlt_files::PACKAGE_COMPLETED_FILE);
    let completed_at = std::fs::metadata(&completed)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    // dlt marks a package it gave up on `aborted`.
    let aborted =
        std::fs::read_to_string(&completed).is_ok_and(|s| s.trim().trim_matches('"') == "aborted");
    let mut job_views = Vec::new();
    for folder in FOLDERS {
        let Ok(rd) = std::fs::read_dir(path.join(folder)) else {
            continue;
        };
        let mut files: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "exception"))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            job_views.push(JobView {
                table: name.split('.').next().unwrap_or_default().to_string(),
                size: std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0),
                rows: 0,
                state: folder.into(),
                exception: jobs::exception(path, &name),
                file: f,
            });
        }
    }
    let truncated_tables = package_state
        .as_ref()
        .and_then(|s| s.get("truncated_tables"))
        .and_then(|t| t.as_array())
        .map(|t| {
            t.iter()
                .filter_map(|x| x.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    PackageView {
        load_id: id.to_string(),
        state: if aborted { "ABORTED" } else { state }.into(),
        schema_name,
        path: path.to_path_buf(),
        created_at,
        completed_at,
        jobs: job_views,
        truncated_tables,
    }
}

/// A load id is the creation time in seconds since the epoch.
fn created_from_load_id(id: &str) -> Option<String> {
    let secs: f64 = id.parse().ok()?;
    let t = chrono::DateTime::from_timestamp_micros((secs * 1e6) as i64)?;
    Some(t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dlts_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path();
        for f in FOLDERS {
            std::fs::create_dir_all(pkg.join(f)).unwrap();
        }
        std::fs::write(
            pkg.join("completed_jobs/items.9d287aa84e.0.insert_values.gz"),
            b"xx",
        )
        .unwrap();
        std::fs::write(pkg.join("failed_jobs/other.aa.1.parquet"), b"x").unwrap();
        std::fs::write(
            pkg.join("failed_jobs/other.aa.1.parquet.exception"),
            b"boom",
        )
        .unwrap();
        std::fs::write(pkg.join("schema.json"), br#"{"name": "ref", "tables": {}}"#).unwrap();
        std::fs::write(pkg.join("package_completed.json"), b"loaded").unwrap();
        let v = package_view(pkg, "1796653991.3947704", "LOADED");
        assert_eq!(v.schema_name, "ref");
        assert_eq!(v.state, "LOADED");
        assert!(v.created_at.starts_with("2026-12-07T"), "{}", v.created_at);
        assert!(v.completed_at.is_some());
        assert_eq!(v.jobs.len(), 2);
        assert_eq!(v.jobs[0].table, "items");
        assert_eq!(v.jobs[0].state, "completed_jobs");
        assert_eq!(v.jobs[0].size, 2);
        assert_eq!(v.jobs[1].table, "other");
        assert_eq!(v.jobs[1].exception.as_deref(), Some("boom"));
    }
}

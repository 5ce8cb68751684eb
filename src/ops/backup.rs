//! Backups: `.dango/backups/<timestamp>/` holds a copy of the DuckDB warehouse (the file and
//! its WAL, copied under the project lock, so no writer is between them), `.dango/` (not its
//! backups or lock), `.dlt/config.toml` and each pipeline's state and schemas, with a
//! `manifest.json` listing every file with its size and SHA3-256. Secrets
//! (`.dlt/secrets.toml`, `.env`) are never copied. Restore verifies every checksum before it
//! changes anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Project;
use crate::error::{Error, Result};

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupFile {
    /// Path relative to the project root.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA3-256, hex.
    pub sha3_256: String,
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Why: `manual`, `before full refresh`, `before pipeline drop`.
    pub reason: String,
    /// dango's version.
    pub dango_version: String,
    /// The files.
    pub files: Vec<BackupFile>,
    /// What is not in it.
    pub not_included: Vec<String>,
}

/// The backups folder of a project.
pub fn backups_dir(project: &Project) -> PathBuf {
    project.root().join(".dango").join("backups")
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let h = crate::pycompat::hash::sha3_256(&bytes);
    Ok((
        bytes.len() as u64,
        h.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// The project files a backup holds, relative to the root.
fn files_to_copy(project: &Project) -> Vec<PathBuf> {
    let root = project.root();
    let mut out = Vec::new();
    for f in [
        "data/warehouse.duckdb",
        "data/warehouse.duckdb.wal",
        ".dlt/config.toml",
    ] {
        if root.join(f).is_file() {
            out.push(PathBuf::from(f));
        }
    }
    walk(root, Path::new(".dango"), &mut out, &|rel| {
        rel.starts_with(".dango/backups") || rel == Path::new(".dango/state/warehouse.lock")
    });
    for name in project.pipeline_names() {
        let base = Path::new(".dlt/pipelines").join(&name);
        if root.join(&base).join("state.json").is_file() {
            out.push(base.join("state.json"));
        }
        walk(root, &base.join("schemas"), &mut out, &|_| false);
    }
    out
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>, skip: &dyn Fn(&Path) -> bool) {
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if skip(&r) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(root, &r, out, skip),
            Ok(t) if t.is_file() => out.push(r),
            _ => {}
        }
    }
}

/// Takes a backup (the caller holds the project lock). Returns its folder and manifest.
pub fn create(project: &Project, reason: &str) -> Result<(PathBuf, Manifest)> {
    let now = chrono::Utc::now();
    let base = backups_dir(project);
    let mut dir = base.join(now.format("%Y%m%dT%H%M%SZ").to_string());
    let mut n = 1;
    while dir.exists() {
        dir = base.join(format!("{}-{n}", now.format("%Y%m%dT%H%M%SZ")));
        n += 1;
    }
    let tmp = base.join(format!(".incomplete-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut files = Vec::new();
    for rel in files_to_copy(project) {
        let from = project.root().join(&rel);
        let to = tmp.join(&rel);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        let (size, sha3_256) = hash_file(&to)?;
        files.push(BackupFile {
            path: rel.to_string_lossy().into_owned(),
            size,
            sha3_256,
        });
    }
    let manifest = Manifest {
        created_at: now.to_rfc3339(),
        reason: reason.to_string(),
        dango_version: env!("CARGO_PKG_VERSION").into(),
        files,
        not_included: vec![
            "secrets: .dlt/secrets.toml and .env are never copied".into(),
            "pending load packages and logs under .dlt/pipelines/".into(),
            "destinations other than the project's DuckDB warehouse (Postgres, Delta): back them up with their own tools".into(),
        ],
    };
    crate::storage::write_json(&tmp.join("manifest.json"), &manifest)?;
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    Ok((dir, manifest))
}

/// Backups of the project, oldest first.
pub fn list(project: &Project) -> Vec<(String, Manifest)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(backups_dir(project)) else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(m) = crate::storage::read_json::<Manifest>(&e.path().join("manifest.json")) {
            out.push((name, m));
        }
    }
    out.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at).then(a.0.cmp(&b.0)));
    out
}

/// Deletes backups beyond the newest of each of the last `daily` days and `weekly` ISO
/// weeks. Returns the names deleted.
pub fn prune(project: &Project, daily: usize, weekly: usize) -> Result<Vec<String>> {
    let all = list(project);
    let mut keep = std::collections::HashSet::new();
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    for (name, m) in all.iter().rev() {
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(&m.created_at) else {
            keep.insert(name.clone());
            continue;
        };
        let day = t.date_naive();
        let week = chrono::Datelike::iso_week(&day);
        if !days.contains(&day) && days.len() < daily {
            days.push(day);
            keep.insert(name.clone());
        }
        if !weeks.contains(&week) && weeks.len() < weekly {
            weeks.push(week);
            keep.insert(name.clone());
        }
    }
    let mut deleted = Vec::new();
    for (name, _) in &all {
        if !keep.contains(name) {
            let p = backups_dir(project).join(name);
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            deleted.push(name.clone());
        }
    }
    Ok(deleted)
}

/// Verifies every checksum of backup `name`; returns its folder and manifest.
pub fn verify(project: &Project, name: &str) -> Result<(PathBuf, Manifest)> {
    let dir = backups_dir(project).join(name);
    let manifest: Manifest =
        crate::storage::read_json(&dir.join("manifest.json")).map_err(|_| {
            Error::Config(format!(
                "no backup `{name}` in {} (list them with `dango backup list`)",
                backups_dir(project).display()
            ))
        })?;
    for f in &manifest.files {
        let p = dir.join(&f.path);
        let (size, sum) = hash_file(&p)?;
        if size != f.size || sum != f.sha3_256 {
            return Err(Error::Corrupt {
                path: p,
                reason: format!(
                    "its checksum does not match the backup's manifest (expected {} bytes, SHA3-256 {}); nothing was restored",
                    f.size, f.sha3_256
                ),
            });
        }
    }
    Ok((dir, manifest))
}

/// Restores backup `name` (the caller holds the project lock): checksums first, then each
/// file is put back atomically; a warehouse WAL that is not in the backup is removed, and so
/// are pipeline states and schemas the backup does not have.
pub fn restore(project: &Project, name: &str) -> Result<Manifest> {
    let (dir, manifest) = verify(project, name)?;
    let root = project.root();
    let has = |p: &str| manifest.files.iter().any(|f| f.path == p);
    for stale in files_to_copy(project) {
        let s = stale.to_string_lossy();
        let owned = s.starts_with("data/") || s.starts_with(".dlt/pipelines/");
        if owned && !has(&s) {
            let p = root.join(&stale);
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    for f in &manifest.files {
        let to = root.join(&f.path);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        let tmp = to.with_extension("restoring");
        let from = dir.join(&f.path);
        std::fs::copy(&from, &tmp).map_err(|e| Error::io(&from, e))?;
        std::fs::rename(&tmp, &to).map_err(|e| Error::io(&to, e))?;
    }
    Ok(manifest)
}

//! Load packages on disk: the hand-off between extract, normalize and load.
//!
//! A pipeline's working dir (`.dlt/pipelines/<name>/`) holds:
//!
//! ```text
//! state.json                         local pipeline state
//! schemas/<schema>.schema.json       the stored schema
//! normalize/extracting/<load_id>/    an extract in progress (discarded if the process dies)
//! normalize/extracted/<load_id>/     a complete extracted package: package.json + new_jobs/*.jsonl
//! load/normalizing/<load_id>/        a normalize in progress (discarded if the process dies)
//! load/normalized/<load_id>/         a complete normalized package: package.json, schema.json,
//!                                    new_jobs/*.arrow
//! load/loaded/<load_id>/             a package committed to the destination
//! ```
//!
//! Every stage writes into an "in progress" folder and publishes it with one `rename`, so a
//! package is either complete or absent: a crash at any moment leaves nothing half-visible.

pub mod deferred;
pub mod dlt_files;
pub mod jobs;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{Column, WriteDisposition};

/// The hints of a resource, as carried in a package.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ResourceHints {
    /// Resource name.
    pub name: String,
    /// Root table name (unnormalized; normalized at normalize time).
    pub table_name: String,
    /// Write disposition.
    pub write_disposition: WriteDisposition,
    /// Merge strategy of a `merge` resource (dlt's `{"disposition": "merge", "strategy": …}`);
    /// `None` is dlt's default, delete-insert, without an `x-merge-strategy` hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_strategy: Option<crate::schema::MergeStrategy>,
    /// scd2 validity column names (`[from, to]`); `_dlt_valid_from` / `_dlt_valid_to` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_column_names: Option<Vec<String>>,
    /// Primary key columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// Merge key columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge_key: Vec<String>,
    /// Column hints: name → partial column (`data_type`, `nullable`, …) as dlt writes them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub columns: serde_json::Map<String, serde_json::Value>,
    /// `max_table_nesting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_table_nesting: Option<i64>,
    /// dlt's `schema_contract` (a mode or `{tables, columns, data_type}`), already resolved
    /// from resource, source and config (see [`crate::schema::contract`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<serde_json::Value>,
}

/// Where the lines of an extracted job came from (for error messages).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobOrigin {
    /// Original file (or URL, or resource name).
    pub origin: String,
    /// Whether line numbers in the job equal line numbers in the origin.
    pub same_lines: bool,
    /// Set when the job file is a hard link to the origin rather than a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<LinkedFile>,
}

/// Size and modification time of a hard-linked job file when it was extracted: the file is
/// the user's own, so normalize checks it was not modified in place since.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkedFile {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
}

impl LinkedFile {
    /// Size and modification time of `path` now.
    pub fn of(path: &Path) -> std::io::Result<LinkedFile> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(LinkedFile {
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// One job file of an extracted package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtractedJob {
    /// File name under `new_jobs/`.
    pub file: String,
    /// Resource the items belong to.
    pub resource: String,
    /// Origin of the lines.
    pub origin: JobOrigin,
    /// Items in the file (counted at extract time when known).
    #[serde(default)]
    pub items: u64,
    /// What the file holds: JSON lines (the default, and every package written before Arrow
    /// jobs existed) or Arrow record batches.
    #[serde(default, skip_serializing_if = "JobFormat::is_jsonl")]
    pub format: JobFormat,
}

/// The format of an extracted job file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobFormat {
    /// One JSON item per line (`.jsonl`).
    #[default]
    Jsonl,
    /// Arrow record batches in an Arrow IPC file (`.arrow`), normalized with the given row
    /// semantics.
    Arrow(ArrowMode),
}

impl JobFormat {
    /// Whether this is the JSON-lines format.
    pub fn is_jsonl(&self) -> bool {
        *self == JobFormat::Jsonl
    }
}

/// What the rows of Arrow items become, decided by the source's dlt counterpart.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArrowMode {
    /// dlt's dict path: the dlt counterpart yields dicts (`sql_database` with its default
    /// backend, `filesystem` readers). Rows are normalized like JSON items (structs flattened,
    /// lists into nested tables, `_dlt_load_id` / `_dlt_id` added), with column types taken
    /// from the Arrow schema.
    #[default]
    Dicts,
    /// dlt's Arrow normalizer: the dlt counterpart yields Arrow tables or pandas frames.
    /// Columns pass through with dlt's naming, nested columns stay whole (`json`), and
    /// `_dlt_load_id` / `_dlt_id` are added only when `[normalize.parquet_normalizer]` says so.
    Tables,
}

/// Manifest of an extracted package (`package.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtractedManifest {
    /// Load id.
    pub load_id: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Schema name.
    pub schema_name: String,
    /// Resources with their hints.
    pub resources: Vec<ResourceHints>,
    /// Job files.
    pub jobs: Vec<ExtractedJob>,
}

/// One job of a normalized package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NormalizedJob {
    /// Table the job loads.
    pub table: String,
    /// File name under `new_jobs/`.
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub size: u64,
    /// Columns in the file, in file order.
    pub columns: Vec<String>,
}

/// Manifest of a normalized package (`package.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NormalizedManifest {
    /// Load id.
    pub load_id: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Schema name.
    pub schema_name: String,
    /// Jobs in load order (parents before nested tables).
    pub jobs: Vec<NormalizedJob>,
    /// Root tables with write disposition `replace` and all their nested tables: emptied at the
    /// start of the load, even when the package has no rows for them.
    pub truncate_tables: Vec<String>,
    /// Items normalized per resource.
    #[serde(default)]
    pub items: u64,
}

/// Columns hinted on a table, used by the loader and normalizer.
pub type ColumnHints = Vec<Column>;

/// The working dir of one pipeline.
#[derive(Debug, Clone)]
pub struct PipelineDir {
    root: PathBuf,
}

impl PipelineDir {
    /// The dir at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> PipelineDir {
        PipelineDir { root: root.into() }
    }

    /// Root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the folder layout.
    pub fn create(&self) -> Result<()> {
        for sub in [
            "schemas",
            "normalize/extracting",
            "normalize/extracted",
            "load/normalizing",
            "load/normalized",
            "load/loaded",
        ] {
            let p = self.root.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        dlt_files::write_storage_versions(&self.root)
    }

    /// `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The stored schema file.
    pub fn schema_path(&self, schema: &str) -> PathBuf {
        self.root
            .join("schemas")
            .join(format!("{schema}.schema.json"))
    }

    /// Folder of an extract in progress.
    pub fn extracting(&self, load_id: &str) -> PathBuf {
        self.root.join("normalize/extracting").join(load_id)
    }

    /// Folder of a complete extracted package.
    pub fn extracted(&self, load_id: &str) -> PathBuf {
        self.root.join("normalize/extracted").join(load_id)
    }

    /// Folder of a normalize in progress.
    pub fn normalizing(&self, load_id: &str) -> PathBuf {
        self.root.join("load/normalizing").join(load_id)
    }

    /// Folder of a complete normalized package.
    pub fn normalized(&self, load_id: &str) -> PathBuf {
        self.root.join("load/normalized").join(load_id)
    }

    /// Folder of a loaded package.
    pub fn loaded(&self, load_id: &str) -> PathBuf {
        self.root.join("load/loaded").join(load_id)
    }

    /// Load ids under a sub folder, oldest first.
    pub fn list(&self, sub: &str) -> Result<Vec<String>> {
        let dir = self.root.join(sub);
        let mut ids = Vec::new();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if entry.path().is_dir() {
                ids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort_by(|a, b| {
            let fa = a.parse::<f64>().unwrap_or(0.0);
            let fb = b.parse::<f64>().unwrap_or(0.0);
            fa.partial_cmp(&fb)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(b))
        });
        Ok(ids)
    }

    /// Removes folders of interrupted extract and normalize runs.
    pub fn discard_in_progress(&self) -> Result<Vec<String>> {
        let mut discarded = Vec::new();
        for sub in ["normalize/extracting", "load/normalizing"] {
            for id in self.list(sub)? {
                let p = self.root.join(sub).join(&id);
                fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                discarded.push(id);
            }
        }
        Ok(discarded)
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename (the
/// fsync and the rename at the end of a [`deferred::defer`] section when in one).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        if deferred::active() {
            // The fsync, then the rename, at the end of the critical section.
            start_writeback(&f);
            deferred::queue_rename(&tmp, path);
            return Ok(());
        }
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// Serializes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads JSON from `path`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    deferred::settle(path)?;
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Syncs a folder, so renames into it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    d.sync_all().map_err(|e| Error::io(dir, e))
}

/// Renames a folder and syncs the parent so the rename is durable.
pub fn publish(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    deferred::moved(from, to);
    if let Some(parent) = to.parent()
        && !deferred::queue_sync_dir(parent)
        && let Ok(d) = fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new load id: seconds since the epoch with fractional part, as dlt makes them.
pub fn new_load_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// A 10-hex-char file id.
pub fn new_file_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{:010x}", n & 0xff_ffff_ffff)
}

/// Starts writing the file's dirty pages to disk without waiting (Linux), so the `fsync`
/// at close has little left to do and the disk works while the stage goes on.
pub fn start_writeback(f: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; the call only schedules I/O. Errors are harmless
        // (the fsync at close is what guarantees durability).
        unsafe {
            libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

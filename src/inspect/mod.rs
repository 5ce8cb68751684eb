//! Inspection of a project's pipelines: what `dango pipeline …` shows, as data.
//!
//! ```no_run
//! use dango::config::Project;
//! let project = Project::discover(std::path::Path::new("."))?;
//! let p = dango::inspect::open(&project, "orders")?;
//! for (table, rows) in p.row_counts()? {
//!     println!("{table}: {rows}");
//! }
//! # Ok::<(), dango::Error>(())
//! ```

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::config::Project;
use crate::error::{Error, Result};
use crate::load::destinations::duckdb::{DuckDbClient, duckdb_type, quote_ident};
use crate::pipeline::PipelineTrace;
use crate::schema::{Schema, dlt_dict};
use crate::state::PipelineState;
use crate::storage::{ExtractedManifest, NormalizedManifest, PipelineDir, read_json};

/// Sample rows: column names and rows of cells (NULL as `None`).
pub type Sample = (Vec<String>, Vec<Vec<Option<String>>>);

/// A pipeline of a project, opened for inspection.
#[derive(Debug, Clone)]
pub struct PipelineView {
    /// Pipeline name.
    pub name: String,
    /// Working dir.
    pub dir: PipelineDir,
    /// Dataset (from the state; `raw_<name>` when there is none).
    pub dataset: String,
    /// Warehouse file.
    pub warehouse: PathBuf,
}

/// One line of `dango pipeline list`.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineSummary {
    /// Pipeline name.
    pub name: String,
    /// Start of the last run (RFC 3339), if a trace exists.
    pub last_run: Option<String>,
    /// `ok` or `failed` for the last run.
    pub last_status: Option<String>,
}

/// A job of a load package.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Table (normalized packages) or resource (extracted packages).
    pub table: String,
    /// Job file path.
    pub file: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// Rows (normalized) or items (extracted).
    pub rows: u64,
}

/// A load package on disk.
#[derive(Debug, Clone, Serialize)]
pub struct PackageView {
    /// Load id.
    pub load_id: String,
    /// `EXTRACTED`, `NORMALIZED` (pending load) or `LOADED`.
    pub state: String,
    /// Schema name.
    pub schema_name: String,
    /// Package folder.
    pub path: PathBuf,
    /// Creation time.
    pub created_at: String,
    /// When the load committed (LOADED packages).
    pub completed_at: Option<String>,
    /// Jobs.
    pub jobs: Vec<JobView>,
    /// Tables emptied by the load (replace).
    pub truncated_tables: Vec<String>,
}

/// Lists the project's pipelines with their last run.
pub fn list(project: &Project) -> Vec<PipelineSummary> {
    project
        .pipeline_names()
        .into_iter()
        .map(|name| {
            let t = PipelineTrace::load(&project.pipeline_dir(&name).join("trace.json"))
                .ok()
                .flatten();
            PipelineSummary {
                last_run: t.as_ref().map(|t| t.started_at.clone()),
                last_status: t.map(|t| if t.is_completed() { "ok" } else { "failed" }.to_string()),
                name,
            }
        })
        .collect()
}

/// Opens pipeline `name`; [`Error::PipelineNotFound`] lists the known ones.
pub fn open(project: &Project, name: &str) -> Result<PipelineView> {
    let lower = name.to_ascii_lowercase();
    let dir = project.pipeline_dir(&lower);
    if !dir.join("state.json").is_file() && !dir.join("trace.json").is_file() {
        let sources = project
            .sources()
            .map(|f| f.sources.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        return Err(Error::PipelineNotFound {
            name: name.to_string(),
            dir: project.root().join(".dlt").join("pipelines"),
            known: project
                .pipeline_names()
                .into_iter()
                .filter(|n| {
                    let d = project.pipeline_dir(n);
                    d.join("state.json").is_file() || d.join("trace.json").is_file()
                })
                .collect(),
            sources,
        });
    }
    let dir = PipelineDir::new(dir);
    let dataset = PipelineState::load(&dir.state_path())
        .ok()
        .flatten()
        .and_then(|s| {
            s.doc()
                .get("dataset_name")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("raw_{lower}"));
    Ok(PipelineView {
        name: lower,
        dir,
        dataset,
        warehouse: project.warehouse(),
    })
}

impl PipelineView {
    /// The local state.
    pub fn state(&self) -> Result<Option<PipelineState>> {
        PipelineState::load(&self.dir.state_path())
    }

    /// The stored schema.
    pub fn schema(&self) -> Result<Option<Schema>> {
        let path = self.dir.schema_path(&self.name);
        if !path.is_file() {
            return Ok(None);
        }
        let v: serde_json::Value = read_json(&path)?;
        dlt_dict::from_json(&v)
            .map(Some)
            .map_err(|reason| Error::Corrupt { path, reason })
    }

    /// The last run's trace.
    pub fn trace(&self) -> Result<Option<PipelineTrace>> {
        PipelineTrace::load(&self.dir.root().join("trace.json"))
    }

    /// Every package on disk, oldest first: loaded, then pending ones.
    pub fn packages(&self) -> Result<Vec<PackageView>> {
        let mut out = Vec::new();
        for (sub, state) in [
            ("load/loaded", "LOADED"),
            ("load/normalized", "NORMALIZED"),
            ("normalize/extracted", "EXTRACTED"),
        ] {
            for id in self.dir.list(sub)? {
                let path = self.dir.root().join(sub).join(&id);
                out.push(package_view(&path, &id, state)?);
            }
        }
        Ok(out)
    }

    /// Package `load_id`, or the most recent one.
    pub fn package(&self, load_id: Option<&str>) -> Result<PackageView> {
        let all = self.packages()?;
        let found = match load_id {
            Some(id) => all.into_iter().find(|p| p.load_id == id),
            None => all.into_iter().max_by(|a, b| {
                let fa = a.load_id.parse::<f64>().unwrap_or(0.0);
                let fb = b.load_id.parse::<f64>().unwrap_or(0.0);
                fa.partial_cmp(&fb).unwrap_or(std::cmp::Ordering::Equal)
            }),
        };
        found.ok_or_else(|| {
            Error::Config(match load_id {
                Some(id) => format!(
                    "pipeline `{}` has no load package `{id}`. List them with `dango pipeline {} info`",
                    self.name, self.name
                ),
                None => format!("pipeline `{}` has no load packages yet. Run `dango sync {}`", self.name, self.name),
            })
        })
    }

    /// Rows per table of the dataset in the warehouse (data tables first, then `_dlt_*`).
    pub fn row_counts(&self) -> Result<IndexMap<String, u64>> {
        let mut out = IndexMap::new();
        if !self.warehouse.is_file() {
            return Ok(out);
        }
        let client = DuckDbClient::open_read_only(&self.warehouse)?;
        let mut names: Vec<String> = client.dataset_tables(&self.dataset)?.into_keys().collect();
        names.sort_by_key(|n| (n.starts_with("_dlt"), n.clone()));
        for t in names {
            let n = client.row_count(&self.dataset, &t)?;
            out.insert(t, n);
        }
        Ok(out)
    }

    /// Up to `n` rows of `table`, every value as text (NULL as `None`).
    pub fn sample(&self, table: &str, n: usize) -> Result<Sample> {
        let client = DuckDbClient::open_read_only(&self.warehouse)?;
        let sql = format!(
            "SELECT * FROM {}.{} LIMIT {n}",
            quote_ident(&self.dataset),
            quote_ident(table)
        );
        let conn = client.conn();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        let mut names = Vec::new();
        while let Some(row) = rows.next()? {
            let stmt_ref = row.as_ref();
            let cols = stmt_ref.column_count();
            if names.is_empty() {
                names = (0..cols)
                    .map(|i| {
                        stmt_ref
                            .column_name(i)
                            .map(|s| s.to_string())
                            .unwrap_or_default()
                    })
                    .collect();
            }
            let mut cells = Vec::with_capacity(cols);
            for i in 0..cols {
                let v: duckdb::types::Value = row.get(i)?;
                cells.push(render(v));
            }
            out.push(cells);
        }
        Ok((names, out))
    }
}

fn package_view(path: &Path, id: &str, state: &str) -> Result<PackageView> {
    let manifest = path.join("package.json");
    let size_of = |f: &Path| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    if state == "EXTRACTED" {
        let m: ExtractedManifest = read_json(&manifest)?;
        return Ok(PackageView {
            load_id: id.to_string(),
            state: state.into(),
            schema_name: m.schema_name,
            path: path.to_path_buf(),
            created_at: m.created_at,
            completed_at: None,
            jobs: m
                .jobs
                .iter()
                .map(|j| {
                    let f = path.join("new_jobs").join(&j.file);
                    JobView {
                        table: j.resource.clone(),
                        size: size_of(&f),
                        file: f,
                        rows: j.items,
                    }
                })
                .collect(),
            truncated_tables: Vec::new(),
        });
    }
    let m: NormalizedManifest = read_json(&manifest)?;
    let completed_at = if state == "LOADED" {
        std::fs::metadata(path.join("package_completed.json"))
            .and_then(|m| m.modified())
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
    } else {
        None
    };
    Ok(PackageView {
        load_id: id.to_string(),
        state: state.into(),
        schema_name: m.schema_name,
        path: path.to_path_buf(),
        created_at: m.created_at,
        completed_at,
        jobs: m
            .jobs
            .iter()
            .map(|j| JobView {
                table: j.table.clone(),
                file: path.join("new_jobs").join(&j.file),
                size: j.size,
                rows: j.rows,
            })
            .collect(),
        truncated_tables: m.truncate_tables,
    })
}

/// Renders a DuckDB value as text.
pub fn render(v: duckdb::types::Value) -> Option<String> {
    use duckdb::types::Value;
    Some(match v {
        Value::Null => return None,
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(i) => i.to_string(),
        Value::SmallInt(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::HugeInt(i) => i.to_string(),
        Value::UTinyInt(i) => i.to_string(),
        Value::USmallInt(i) => i.to_string(),
        Value::UInt(i) => i.to_string(),
        Value::UBigInt(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Text(s) => s,
        Value::Timestamp(unit, n) => {
            let micros = match unit {
                duckdb::types::TimeUnit::Second => n * 1_000_000,
                duckdb::types::TimeUnit::Millisecond => n * 1000,
                duckdb::types::TimeUnit::Microsecond => n,
                duckdb::types::TimeUnit::Nanosecond => n / 1000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| n.to_string())
        }
        other => format!("{other:?}"),
    })
}

/// Columns whose warehouse type differs from the type the package `load_id` would load:
/// "table.column: warehouse BIGINT, new data VARCHAR". Empty when nothing differs or the
/// package / warehouse cannot be read.
pub fn schema_mismatches(
    pipeline_dir: &Path,
    warehouse: &Path,
    dataset: &str,
    load_id: &str,
) -> Vec<String> {
    let dir = PipelineDir::new(pipeline_dir);
    let Ok(schema) = crate::load::package_schema(&dir, load_id) else {
        return Vec::new();
    };
    let Ok(client) = DuckDbClient::open_read_only(warehouse) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in schema.data_tables() {
        let Ok(Some(cols)) = client.table_columns(dataset, &t.name) else {
            continue;
        };
        for c in t.columns.values().filter(|c| c.is_complete()) {
            if let Some((_, have)) = cols.iter().find(|(n, _)| n == &c.name) {
                let want = duckdb_type(c);
                if !have.eq_ignore_ascii_case(&want) {
                    out.push(format!(
                        "{}.{}: the warehouse column is {have}, the new data is {want}",
                        t.name, c.name
                    ));
                }
            }
        }
    }
    out
}

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

mod dlt_package;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

mod destination;

pub use destination::{for_pipeline, pipeline_destination_type};

use crate::config::Project;
use crate::destinations::{DestinationFactory, OpenMode};
use crate::error::{Error, Result};
use crate::pipeline::PipelineTrace;
use crate::schema::{Schema, dlt_dict};
use crate::state::PipelineState;
use crate::storage::{ExtractedManifest, NormalizedManifest, PipelineDir, read_json};

pub use crate::destinations::Sample;

/// A pipeline of a project, opened for inspection.
#[derive(Debug, Clone)]
pub struct PipelineView {
    /// Pipeline name.
    pub name: String,
    /// Working dir.
    pub dir: PipelineDir,
    /// Dataset (from the state; `raw_<name>` when there is none).
    pub dataset: String,
    /// The destination its data is in.
    pub destination: Arc<dyn DestinationFactory>,
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
    /// The job folder it is in (`new_jobs`, `started_jobs`, `completed_jobs`, `failed_jobs`).
    pub state: String,
    /// The error of a failed job.
    pub exception: Option<String>,
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
        let sources = crate::sources::SourcesFile::load(project)
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
    let destination = for_pipeline(project, &lower)?;
    Ok(PipelineView {
        name: lower,
        dir,
        dataset,
        destination,
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

    /// Rows per table of the dataset in the destination (data tables first, then `_dlt_*`).
    pub fn row_counts(&self) -> Result<IndexMap<String, u64>> {
        let mut out = IndexMap::new();
        if !self.destination.exists() {
            return Ok(out);
        }
        let client = self.destination.open(OpenMode::ReadOnly)?;
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
        let client = self.destination.open(OpenMode::ReadOnly)?;
        client.sample(&self.dataset, table, n)
    }

    /// The destination's type name for a column (what it creates for it).
    pub fn column_type(&self, column: &crate::schema::Column) -> String {
        self.destination.column_type(column)
    }
}

fn package_view(path: &Path, id: &str, state: &str) -> Result<PackageView> {
    let manifest = path.join("package.json");
    if !manifest.is_file() {
        // a package dlt wrote into the working dir
        return Ok(dlt_package::package_view(path, id, state));
    }
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
                        state: crate::storage::jobs::NEW_JOBS.into(),
                        exception: None,
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
            .map(|j| {
                use crate::storage::jobs::{self, JobState};
                let (state, file) = jobs::locate(path, &j.file)
                    .unwrap_or((JobState::New, path.join(jobs::NEW_JOBS).join(&j.file)));
                JobView {
                    table: j.table.clone(),
                    file,
                    size: j.size,
                    rows: j.rows,
                    state: state.folder().into(),
                    exception: jobs::exception(path, &j.file),
                }
            })
            .collect(),
        truncated_tables: m.truncate_tables,
    })
}

/// Columns whose warehouse type differs from the type the package `load_id` would load:
/// "table.column: warehouse BIGINT, new data VARCHAR". Empty when nothing differs or the
/// package / warehouse cannot be read.
pub fn schema_mismatches(
    pipeline_dir: &Path,
    destination: &dyn DestinationFactory,
    dataset: &str,
    load_id: &str,
) -> Vec<String> {
    let dir = PipelineDir::new(pipeline_dir);
    let Ok(schema) = crate::load::package_schema(&dir, load_id) else {
        return Vec::new();
    };
    if !destination.exists() {
        return Vec::new();
    }
    let Ok(client) = destination.open(OpenMode::ReadOnly) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in schema.data_tables() {
        let Ok(Some(cols)) = client.table_columns(dataset, &t.name) else {
            continue;
        };
        for c in t.columns.values().filter(|c| c.is_complete()) {
            if let Some((_, have)) = cols.iter().find(|(n, _)| n == &c.name) {
                let want = destination.column_type(c);
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

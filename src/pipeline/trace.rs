//! The trace of a pipeline's last run: steps, timings, rows per table. The Rust counterpart of
//! dlt's `pipeline.last_trace`, saved as `trace.json` in the working dir (so `dango pipeline
//! <name> trace` can show it later).
//!
//! ```
//! use dango::pipeline::Pipeline;
//! use dango::sources::{IterResource, Source};
//!
//! let tmp = tempfile::tempdir()?;
//! let pages = vec![vec![serde_json::json!({"id": 1, "items": [{"sku": "a"}, {"sku": "b"}]})]];
//! let mut pipeline = Pipeline::builder("my_source")
//!     .dataset("raw_my_source")
//!     .duckdb(tmp.path().join("warehouse.duckdb"))
//!     .working_dir(tmp.path().join(".dlt/pipelines/my_source"))
//!     .build()?;
//! let load_info = pipeline.run(Source::new("my_source", vec![Box::new(IterResource::new("orders", pages.into_iter()))]))?;
//!
//! // dlt: pipeline.last_trace.last_normalize_info.row_counts
//! let trace = pipeline.last_trace()?.expect("a run leaves a trace");
//! let normalize = trace.last_normalize_info().expect("normalize ran");
//! assert_eq!(normalize.row_counts["orders"], 1);
//! assert_eq!(normalize.row_counts["orders__items"], 2);
//!
//! // dlt / Dango docs: for package in load_info.load_packages: for table in package.tables: …
//! for package in &load_info.load_packages {
//!     for table in package.tables() {
//!         println!("Table: {}  Rows: {}  File: {}", table.name, table.row_count, table.file_path.display());
//!     }
//! }
//! println!("{trace}"); // the same text as `dango pipeline my_source trace`
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;
use std::time::Instant;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::info::LoadInfo;

/// dlt's trace file in a working dir (a Python pickle, written by dlt's own runs).
pub const DLT_TRACE_FILE: &str = "trace.pickle";
use crate::config::redact::redact;
use crate::error::{Error, Result};

/// dlt's `NormalizeInfo`: rows per table produced by the normalize step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NormalizeInfo {
    /// Rows per table (nested tables included), over the packages normalized in the step.
    pub row_counts: IndexMap<String, u64>,
}

impl fmt::Display for NormalizeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.row_counts.is_empty() {
            return writeln!(f, "No data found to normalize");
        }
        writeln!(f, "Normalized data for the following tables:")?;
        for (t, n) in &self.row_counts {
            writeln!(f, "- {t}: {n} row(s)")?;
        }
        Ok(())
    }
}

/// dlt's `ExtractInfo` (the part dango tracks): items per resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExtractInfo {
    /// Items extracted per resource.
    pub resource_items: IndexMap<String, u64>,
    /// Load id of the extracted package.
    pub load_id: Option<String>,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepTrace {
    /// `extract`, `normalize`, `load` or `run`.
    pub step: String,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// Duration in seconds.
    pub elapsed_secs: f64,
    /// The error, when the step failed (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extract step details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract_info: Option<ExtractInfo>,
    /// Normalize step details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize_info: Option<NormalizeInfo>,
    /// Load step details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_info: Option<LoadInfo>,
}

/// The trace of one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineTrace {
    /// Pipeline name.
    pub pipeline_name: String,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// Duration in seconds.
    pub elapsed_secs: f64,
    /// Steps in order; the last is `run` when the run finished.
    pub steps: Vec<StepTrace>,
    /// Whether this run was a full refresh.
    #[serde(default)]
    pub full_refresh: bool,
}

/// A step being timed.
pub(crate) struct StepTimer {
    step: &'static str,
    started_at: String,
    started: Instant,
}

impl PipelineTrace {
    pub(crate) fn start(pipeline: &str, full_refresh: bool) -> (PipelineTrace, Instant) {
        (
            PipelineTrace {
                pipeline_name: pipeline.to_string(),
                started_at: chrono::Utc::now().to_rfc3339(),
                elapsed_secs: 0.0,
                steps: Vec::new(),
                full_refresh,
            },
            Instant::now(),
        )
    }

    pub(crate) fn begin(step: &'static str) -> StepTimer {
        StepTimer {
            step,
            started_at: chrono::Utc::now().to_rfc3339(),
            started: Instant::now(),
        }
    }

    pub(crate) fn end(&mut self, t: StepTimer, error: Option<&Error>) -> &mut StepTrace {
        self.steps.push(StepTrace {
            step: t.step.to_string(),
            started_at: t.started_at,
            elapsed_secs: t.started.elapsed().as_secs_f64(),
            error: error.map(|e| redact(&e.to_string())),
            extract_info: None,
            normalize_info: None,
            load_info: None,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    /// Whether every step completed.
    pub fn is_completed(&self) -> bool {
        self.steps.iter().all(|s| s.error.is_none())
    }

    /// The normalize step's info (dlt's `last_trace.last_normalize_info`).
    pub fn last_normalize_info(&self) -> Option<&NormalizeInfo> {
        self.steps
            .iter()
            .rev()
            .find_map(|s| s.normalize_info.as_ref())
    }

    /// The extract step's info.
    pub fn last_extract_info(&self) -> Option<&ExtractInfo> {
        self.steps
            .iter()
            .rev()
            .find_map(|s| s.extract_info.as_ref())
    }

    /// The load step's info (dlt's `last_trace.last_load_info`).
    pub fn last_load_info(&self) -> Option<&LoadInfo> {
        self.steps.iter().rev().find_map(|s| s.load_info.as_ref())
    }

    /// The first error of the run, if any.
    pub fn error(&self) -> Option<(&str, &str)> {
        self.steps
            .iter()
            .find_map(|s| s.error.as_deref().map(|e| (s.step.as_str(), e)))
    }

    /// Writes the trace to `path` (JSON, atomically). A `trace.pickle` beside it (dlt's trace
    /// of an earlier dlt run in the same working dir) is removed: it no longer describes the
    /// last run, and dlt's `info` / `last_trace` would show it as if it did.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::storage::write_json(path, self)?;
        if let Some(dir) = path.parent() {
            let pickle = dir.join(DLT_TRACE_FILE);
            if pickle.is_file()
                && let Err(e) = std::fs::remove_file(&pickle)
            {
                tracing::debug!("cannot remove dlt's stale {}: {e}", pickle.display());
            }
        }
        Ok(())
    }

    /// Reads the trace at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<PipelineTrace>> {
        if !path.is_file() {
            return Ok(None);
        }
        crate::storage::read_json(path).map(Some)
    }
}

impl fmt::Display for PipelineTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.is_completed() {
            "COMPLETED"
        } else {
            "FAILED"
        };
        writeln!(
            f,
            "Run started at {} and {status} in {:.2} seconds with {} steps.",
            self.started_at,
            self.elapsed_secs,
            self.steps.len()
        )?;
        for s in &self.steps {
            let st = if s.error.is_none() {
                "COMPLETED"
            } else {
                "FAILED"
            };
            writeln!(f, "Step {} {st} in {:.2} seconds.", s.step, s.elapsed_secs)?;
            if let Some(e) = &s.error {
                writeln!(f, "Failed due to: {e}")?;
            }
            if let Some(x) = &s.extract_info {
                for (r, n) in &x.resource_items {
                    writeln!(f, "- resource {r}: {n} item(s)")?;
                }
            }
            if let Some(n) = &s.normalize_info {
                write!(f, "{n}")?;
            }
            if s.step == "load"
                && let Some(l) = &s.load_info
            {
                write!(f, "{l}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

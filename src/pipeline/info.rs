//! `LoadInfo`: what a run loaded, in dlt's vocabulary.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::load::LoadedPackage;

/// One job of a loaded package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobInfo {
    /// Table the job loaded.
    pub table: String,
    /// Job file path.
    pub file: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// Rows in the job.
    pub rows: u64,
}

/// One load package of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadPackageInfo {
    /// Load id.
    pub load_id: String,
    /// `loaded`.
    pub state: String,
    /// Schema version hash of the package.
    pub schema_version_hash: String,
    /// Jobs.
    pub jobs: Vec<JobInfo>,
    /// Whether an earlier, interrupted run had already committed it (this run only finished
    /// the bookkeeping).
    pub resumed: bool,
}

/// One table of a load package, as the Dango docs iterate it:
/// `for table in package.tables: table.name, table.row_count, table.file_path`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Rows loaded into it by the package.
    pub row_count: u64,
    /// The job file that held them (relative to the pipeline's `load/loaded/`).
    pub file_path: PathBuf,
}

impl LoadPackageInfo {
    /// The package's tables, one entry per job file, in load order.
    pub fn tables(&self) -> Vec<TableInfo> {
        self.jobs
            .iter()
            .map(|j| TableInfo {
                name: j.table.clone(),
                row_count: j.rows,
                file_path: j.file.clone(),
            })
            .collect()
    }

    /// Rows per table in this package.
    pub fn row_counts(&self) -> IndexMap<String, u64> {
        let mut m = IndexMap::new();
        for j in &self.jobs {
            *m.entry(j.table.clone()).or_insert(0) += j.rows;
        }
        m
    }
}

/// The result of [`super::Pipeline::run`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// Destination type (`duckdb`).
    pub destination_name: String,
    /// Where the destination is (the warehouse file for DuckDB).
    pub destination_location: PathBuf,
    /// Dataset name.
    pub dataset_name: String,
    /// Packages loaded by this run (resumed ones first).
    pub load_packages: Vec<LoadPackageInfo>,
    /// Total rows per table in the warehouse after the run.
    #[serde(default)]
    pub total_rows: IndexMap<String, u64>,
    /// Wall time of the load step (kept in the trace as seconds).
    #[serde(default, rename = "elapsed_secs", with = "secs")]
    pub elapsed: Duration,
}

/// A `Duration` as fractional seconds in JSON.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(secs).unwrap_or_default())
    }
}

impl LoadInfo {
    pub(crate) fn new(
        pipeline: &str,
        dataset: &str,
        destination_type: &str,
        location: &str,
        packages: Vec<LoadedPackage>,
    ) -> LoadInfo {
        let load_packages = packages
            .into_iter()
            .map(|p| {
                let base = PathBuf::from(&p.manifest.load_id);
                LoadPackageInfo {
                    load_id: p.manifest.load_id.clone(),
                    state: "loaded".into(),
                    schema_version_hash: p.schema.version_hash.clone(),
                    jobs: p
                        .manifest
                        .jobs
                        .iter()
                        .map(|j| JobInfo {
                            table: j.table.clone(),
                            file: base.join(&j.file),
                            size: j.size,
                            rows: j.rows,
                        })
                        .collect(),
                    resumed: p.already_committed,
                }
            })
            .collect();
        LoadInfo {
            pipeline_name: pipeline.to_string(),
            destination_name: destination_type.to_string(),
            destination_location: PathBuf::from(location),
            dataset_name: dataset.to_string(),
            load_packages,
            total_rows: IndexMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Rows loaded by this run, per table, over all packages.
    pub fn row_counts(&self) -> IndexMap<String, u64> {
        let mut m = IndexMap::new();
        for p in &self.load_packages {
            for (t, n) in p.row_counts() {
                *m.entry(t).or_insert(0) += n;
            }
        }
        m
    }

    /// Data tables touched by this run (in schema order).
    pub fn tables(&self) -> Vec<String> {
        self.row_counts().keys().cloned().collect()
    }
}

impl fmt::Display for LoadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Pipeline {} load step completed in {:.2} seconds",
            self.pipeline_name,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "{} load package(s) were loaded to destination {} and into dataset {}",
            self.load_packages.len(),
            self.destination_name,
            self.dataset_name
        )?;
        // dlt's `duckdb:///<path>`; a URL (postgres, s3) as it is; a local bucket as file://.
        let location = self.destination_location.display().to_string();
        let location = if location.contains("://") {
            location
        } else if self.destination_name == "filesystem" {
            format!("file://{location}")
        } else {
            format!("{}:///{location}", self.destination_name)
        };
        writeln!(
            f,
            "The {} destination used {location} location to store data",
            self.destination_name,
        )?;
        for p in &self.load_packages {
            writeln!(
                f,
                "Load package {} is LOADED and contains no failed jobs",
                p.load_id
            )?;
        }
        Ok(())
    }
}

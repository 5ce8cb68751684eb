//! dlt's `filesystem` destination: Delta Lake tables (or plain Parquet files) in a local
//! folder or an S3 bucket, laid out as dlt lays them out: `<bucket_url>/<dataset>/<table>/`,
//! with dlt's `_dlt_loads`, `_dlt_pipeline_state` and `_dlt_version` documents, so dlt's own
//! `sync_destination()` reads the state back.
//!
//! The Delta transaction log is written here, on `parquet` and `object_store`, rather than
//! with the `deltalake` crate: that crate brings a second Arrow stack (59 beside the project's
//! 60), a second reqwest, `aws-lc-sys` built with cmake, about 126 more packages (183 more
//! with the `datafusion` feature its MERGE needs), which would break the build budget.
//! Protocol 1/2 (no deletion vectors, no column mapping) is a small, stable part of Delta,
//! and independent readers (Python `deltalake`, Polars) check every table in the tests.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | `[destination.filesystem]`: `bucket_url`, `table_format` / `file_format`, S3 credentials |
//! | `store.rs` | blocking object store access (local or S3), put-if-absent |
//! | `delta.rs` | the Delta log: replay, commits (`protocol`, `metaData`, `add`, `remove`, `commitInfo`) |
//! | `data.rs` | types, job files to Parquet with Delta stats, reading Parquet back |
//! | `tables.rs` | append / overwrite / upsert commits, plain Parquet files |
//! | `bookkeeping.rs` | dlt's `_dlt_*` documents and `init` |
//! | `history.rs` | the sync history table `_dango_sync_history` (Delta or Parquet) |
//! | `destination.rs` | `impl Destination` |

mod bookkeeping;
mod config;
mod data;
mod delta;
mod destination;
mod history;
mod store;
mod tables;

use std::sync::Arc;

pub use config::{Bucket, FilesystemConfig, S3Credentials, TableFormat, entry_format_error};
pub use destination::FsClient;

use super::{
    Capabilities, Destination, DestinationFactory, JobFileFormat, OpenMode, ReplaceStrategy,
};
use crate::error::Result;
use crate::schema::{MergeStrategy, WriteDisposition};

/// The filesystem destination's capabilities (dlt's `filesystem` with Delta tables).
pub fn capabilities() -> Capabilities {
    Capabilities {
        destination_type: "filesystem",
        max_identifier_length: 65536,
        decimal_precision: (38, 9),
        wei_precision: (38, 0),
        timestamp_precision: 6,
        transactional_loads: false,
        write_dispositions: &[
            WriteDisposition::Append,
            WriteDisposition::Replace,
            WriteDisposition::Merge,
        ],
        merge_strategies: &[MergeStrategy::Upsert],
        replace_strategies: &[
            ReplaceStrategy::TruncateAndInsert,
            ReplaceStrategy::InsertFromStaging,
        ],
        preferred_file_format: JobFileFormat::ArrowIpc,
    }
}

/// A configured filesystem destination.
#[derive(Debug, Clone)]
pub struct Filesystem {
    config: FilesystemConfig,
}

impl Filesystem {
    /// The destination for `config`.
    pub fn new(config: FilesystemConfig) -> Filesystem {
        Filesystem { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &FilesystemConfig {
        &self.config
    }
}

/// The filesystem destination of `[destination.filesystem]` (a relative local `bucket_url`
/// is taken from the project root).
pub fn from_project(
    project: &crate::config::Project,
    settings: &crate::config::Settings,
) -> Result<Arc<dyn DestinationFactory>> {
    Ok(Arc::new(Filesystem::new(FilesystemConfig::from_settings(
        project.root(),
        settings,
    )?)))
}

/// [`from_project`] with a source entry's `table_format` / `file_format` winning over
/// `[destination.filesystem]`.
pub fn from_project_for_entry(
    project: &crate::config::Project,
    settings: &crate::config::Settings,
    entry: &super::EntrySettings,
) -> Result<Arc<dyn DestinationFactory>> {
    let mut config = FilesystemConfig::from_settings(project.root(), settings)?;
    if let Some(format) = config::entry_format(entry)? {
        config.format = format;
    }
    Ok(Arc::new(Filesystem::new(config)))
}

impl DestinationFactory for Filesystem {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn location(&self) -> String {
        self.config.bucket.display()
    }

    fn exists(&self) -> bool {
        match &self.config.bucket {
            Bucket::Local(p) => p.is_dir(),
            Bucket::S3 { .. } => true,
        }
    }

    fn column_type(&self, column: &crate::schema::Column) -> String {
        data::delta_type(column)
    }

    fn open(&self, mode: OpenMode) -> Result<Box<dyn Destination>> {
        let writable = mode == OpenMode::ReadWrite;
        let store = store::Store::open(&self.config.bucket, writable)?;
        Ok(Box::new(FsClient::new(store, self.config.format, writable)))
    }
}

#[cfg(test)]
mod tests;

//! The DuckDB destination (the default: `data/warehouse.duckdb`): DDL in dlt's dialect, bulk
//! inserts from Arrow job files through DuckDB's native Arrow scan, dlt's merge SQL, and the
//! `_dlt_loads` / `_dlt_version` / `_dlt_pipeline_state` bookkeeping, all in one transaction
//! per load package.
//!
//! | file | what |
//! |---|---|
//! | `client.rs` | [`DuckDbClient`]: the connection, catalog queries, migration, job views |
//! | `destination.rs` | `impl Destination for DuckDbClient` |
//! | `sql.rs` | type names, quoting, `CREATE TABLE`, literals |
//! | `merge.rs` | merge and replace-from-staging SQL (dlt's `SqlMergeFollowupJob`) |
//! | `raw.rs` | the C API for the Arrow scan |

mod client;
mod config;
mod destination;
mod history;
pub mod merge;
pub mod raw;
pub mod sql;

use std::path::{Path, PathBuf};

pub use client::{DuckDbClient, DuckDbOptions, default_memory_limit, default_merge_memory_limit};
pub use destination::render;
pub use sql::{create_table_sql, duckdb_type, quote_ident, quote_str};

use super::{
    Capabilities, Destination, DestinationFactory, JobFileFormat, OpenMode, ReplaceStrategy,
};
use crate::error::Result;
use crate::schema::{MergeStrategy, WriteDisposition};

/// DuckDB's capabilities (dlt's `duckdb` destination).
pub fn capabilities() -> Capabilities {
    Capabilities {
        destination_type: "duckdb",
        // dlt's DuckDB naming convention has `max_length` 65536.
        max_identifier_length: 65536,
        decimal_precision: (38, 9),
        wei_precision: (38, 0),
        timestamp_precision: 6,
        transactional_loads: true,
        write_dispositions: &[
            WriteDisposition::Append,
            WriteDisposition::Replace,
            WriteDisposition::Merge,
        ],
        merge_strategies: &[
            MergeStrategy::DeleteInsert,
            MergeStrategy::Upsert,
            MergeStrategy::InsertOnly,
            MergeStrategy::Scd2,
        ],
        replace_strategies: &[
            ReplaceStrategy::TruncateAndInsert,
            ReplaceStrategy::InsertFromStaging,
        ],
        preferred_file_format: JobFileFormat::ArrowIpc,
    }
}

/// A DuckDB warehouse file and its connection options.
#[derive(Debug, Clone)]
pub struct DuckDb {
    path: PathBuf,
    options: DuckDbOptions,
}

impl DuckDb {
    /// The warehouse at `path` with `options`.
    pub fn new(path: impl Into<PathBuf>, options: DuckDbOptions) -> DuckDb {
        DuckDb {
            path: path.into(),
            options,
        }
    }

    /// The warehouse file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The project's warehouse (`data/warehouse.duckdb`, or the file `[destination.duckdb]
/// credentials` names) with the options of `[destination.duckdb.credentials]`.
pub fn from_project(
    project: &crate::config::Project,
    settings: &crate::config::Settings,
) -> Result<std::sync::Arc<dyn DestinationFactory>> {
    let path = settings
        .duckdb_database(project.root())?
        .unwrap_or_else(|| project.default_warehouse());
    Ok(std::sync::Arc::new(DuckDb::new(path, settings.duckdb()?)))
}

impl DestinationFactory for DuckDb {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn streams_jobs(&self) -> bool {
        true
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn exists(&self) -> bool {
        self.path.is_file()
    }

    fn column_type(&self, column: &crate::schema::Column) -> String {
        duckdb_type(column)
    }

    fn share_key(&self) -> Option<String> {
        Some(format!("duckdb:{}", self.path.display()))
    }

    fn fingerprint(&self) -> Option<(String, std::time::SystemTime)> {
        // The file and its WAL: any write changes a size, a modification or a change time
        // (the change time cannot be set back by a copy that keeps times).
        let mut wal = self.path.clone().into_os_string();
        wal.push(".wal");
        let (main, main_at) = file_fingerprint(&self.path)?;
        let (wal, wal_at) = file_fingerprint(Path::new(&wal))?;
        Some((format!("{main}|{wal}"), main_at.max(wal_at)))
    }

    fn open(&self, mode: OpenMode) -> Result<Box<dyn Destination>> {
        let client = match mode {
            OpenMode::ReadOnly => DuckDbClient::open_read_only(&self.path)?,
            OpenMode::ReadWrite => DuckDbClient::open_with(&self.path, &self.options)?,
        };
        Ok(Box::new(client))
    }
}

/// A file's device, inode, size, modification and change times (`-` when it does not exist),
/// and the later of its two times; `None` when it cannot be read.
fn file_fingerprint(path: &Path) -> Option<(String, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => {
            let at = |secs: i64, nanos: i64| {
                std::time::UNIX_EPOCH
                    + std::time::Duration::new(
                        secs.max(0) as u64,
                        nanos.clamp(0, 999_999_999) as u32,
                    )
            };
            let changed = at(m.mtime(), m.mtime_nsec()).max(at(m.ctime(), m.ctime_nsec()));
            Some((
                format!(
                    "{}:{}:{}:{}.{}:{}.{}",
                    m.dev(),
                    m.ino(),
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec()
                ),
                changed,
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(("-".into(), std::time::UNIX_EPOCH))
        }
        Err(_) => None,
    }
}

//! The Postgres destination: dlt's Postgres layout (types, 63-character identifiers,
//! `_dlt_loads` / `_dlt_version` / `_dlt_pipeline_state`, `<dataset>_staging`), bulk loads
//! with `COPY … FROM STDIN`, dlt's merge SQL, one transaction per load package.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | credentials (`[destination.postgres] credentials` or its parts) |
//! | `client.rs` | [`PgClient`]: the connection (own tokio runtime), catalog queries, migration |
//! | `tls.rs` | rustls configuration per `sslmode` |
//! | `destination.rs` | `impl Destination for PgClient` |
//! | `copy.rs` | Arrow job files → `COPY … FROM STDIN (FORMAT binary)` |
//! | `parallel.rs` | new tables filled on worker connections, moved in by the load transaction |
//! | `json.rs` | nested Arrow values → JSON text for `jsonb` |
//! | `history.rs` | the sync history table `_dango_sync_history` |
//! | `sql.rs` | type names, quoting, `CREATE TABLE`, literals |

mod client;
pub mod config;
mod copy;
mod destination;
mod history;
mod json;
mod parallel;
pub mod sql;
mod tls;

pub use client::PgClient;
pub use destination::POSTGRES;

use std::sync::Arc;

pub use config::{PgCredentials, SslMode};

use super::{
    Capabilities, Destination, DestinationFactory, JobFileFormat, OpenMode, ReplaceStrategy,
};
use crate::error::Result;
use crate::schema::{MergeStrategy, WriteDisposition};

/// Postgres's capabilities (dlt's `postgres` destination).
pub fn capabilities() -> Capabilities {
    Capabilities {
        destination_type: "postgres",
        // NAMEDATALEN - 1
        max_identifier_length: 63,
        decimal_precision: (38, 9),
        wei_precision: (156, 78),
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

/// A Postgres database as configured.
#[derive(Debug, Clone)]
pub struct Postgres {
    credentials: PgCredentials,
}

impl Postgres {
    /// The database reached with `credentials`.
    pub fn new(credentials: PgCredentials) -> Postgres {
        Postgres { credentials }
    }

    /// The connection settings.
    pub fn credentials(&self) -> &PgCredentials {
        &self.credentials
    }
}

/// The `postgres` destination configured from `[destination.postgres]` (credentials from
/// secrets.toml or the environment).
pub fn from_project(
    _project: &crate::config::Project,
    settings: &crate::config::Settings,
) -> Result<Arc<dyn DestinationFactory>> {
    let ds = super::config::DestinationSettings::new(settings, "postgres");
    Ok(Arc::new(Postgres::new(config::credentials(&ds)?)))
}

impl DestinationFactory for Postgres {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn location(&self) -> String {
        self.credentials.location()
    }

    fn exists(&self) -> bool {
        true
    }

    fn column_type(&self, column: &crate::schema::Column) -> String {
        sql::pg_type(column)
    }

    fn open(&self, mode: OpenMode) -> Result<Box<dyn Destination>> {
        Ok(Box::new(PgClient::connect(
            &self.credentials,
            mode == OpenMode::ReadOnly,
        )?))
    }
}

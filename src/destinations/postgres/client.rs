//! The Postgres connection: a tokio-postgres client driven by a runtime of its own (the
//! destination API is blocking), TLS per `sslmode`, statements with debug logging, catalog
//! queries and schema migration.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::config::{PgCredentials, SslMode};
use super::sql::{column_def, create_table_deferring_unique, create_table_sql, qualified};
use crate::destinations::JobFile;
use crate::error::{Error, Result};
use crate::schema::{Schema, Table};

/// A connection to the Postgres database.
pub struct PgClient {
    // Field order matters: the client closes before the runtime that drives its connection.
    client: tokio_postgres::Client,
    rt: tokio::runtime::Runtime,
    location: String,
    read_only: bool,
    /// Whether a load transaction is open.
    pub(super) in_transaction: bool,
    /// The jobs of the load in progress.
    pub(super) jobs: Vec<JobFile>,
    /// `ALTER TABLE … ADD UNIQUE` statements of new tables created in the load transaction,
    /// run when the load completes (after their rows are in).
    pub(super) deferred: Vec<String>,
    /// New data tables of the load in progress not created yet (see
    /// [`PgClient::migrate_for_load`]), in [`PgClient::fresh_dataset`].
    pub(super) fresh: Vec<Table>,
    /// The dataset of [`PgClient::fresh`].
    pub(super) fresh_dataset: String,
    /// The worker connections loading new tables, while they run.
    pub(super) pool: Option<Box<dyn TableWorkers>>,
    /// The credentials, for worker connections.
    pub(super) creds: PgCredentials,
}

/// Connections that fill new tables beside the load transaction (`parallel.rs`'s pool).
pub(super) trait TableWorkers: Send {
    /// The dataset the tables are for.
    fn dataset(&self) -> &str;
    /// Whether `table` was handed to the workers.
    fn has_table(&self, table: &str) -> bool;
    /// Hands `table` with its `jobs` to a worker.
    fn submit(&mut self, table: Table, jobs: Vec<JobFile>) -> Result<()>;
    /// Waits for every table, then moves them into the dataset in `main`'s transaction.
    fn finish(&mut self, main: &PgClient) -> Result<()>;
    /// Stops the workers and drops what they loaded.
    fn abandon(self: Box<Self>);
}

impl std::fmt::Debug for PgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgClient")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The database's message of a failed statement (message, detail, hint), without secrets.
pub(super) fn reason(e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (detail: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!(" (where: {w})"));
            }
            s
        }
        None if e.is_closed() => "the connection to the server was closed".to_string(),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    };
    crate::config::redact::redact(&text)
}

/// The SQLSTATE of a failed statement, if the server sent one.
pub(super) fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

impl PgClient {
    /// Connects with `creds`; read-only connections refuse every write
    /// (`default_transaction_read_only`).
    pub fn connect(creds: &PgCredentials, read_only: bool) -> Result<PgClient> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the Postgres runtime: {e}")))?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&creds.host)
            .port(creds.port)
            .dbname(&creds.database)
            .user(&creds.username)
            .application_name(&creds.application_name)
            .connect_timeout(Duration::from_secs(creds.connect_timeout.max(1)))
            .keepalives(true)
            .ssl_mode(match creds.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
        if let Some(p) = &creds.password {
            cfg.password(p.as_bytes());
        }
        let location = creds.location();
        let failed = |e: tokio_postgres::Error| {
            let mut why = reason(&e);
            if sqlstate(&e) == Some("28P01") || sqlstate(&e) == Some("28000") {
                why.push_str(". Check the user name and password");
            }
            Error::Destination {
                context: format!(
                    "connecting to the postgres destination {location} (credentials from {})",
                    creds.origin
                ),
                reason: why,
            }
        };
        let client = match super::tls::client_config(creds)? {
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                let (client, conn) = rt.block_on(cfg.connect(tls)).map_err(failed)?;
                rt.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("postgres connection ended: {}", reason(&e));
                    }
                });
                client
            }
            None => {
                let (client, conn) = rt
                    .block_on(cfg.connect(tokio_postgres::NoTls))
                    .map_err(failed)?;
                rt.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("postgres connection ended: {}", reason(&e));
                    }
                });
                client
            }
        };
        let me = PgClient {
            client,
            rt,
            location,
            read_only,
            in_transaction: false,
            jobs: Vec::new(),
            deferred: Vec::new(),
            fresh: Vec::new(),
            fresh_dataset: String::new(),
            pool: None,
            creds: creds.clone(),
        };
        me.execute("SET TIME ZONE 'UTC'; SET client_min_messages = warning")?;
        if read_only {
            me.execute("SET default_transaction_read_only = on")?;
        }
        Ok(me)
    }

    /// `postgresql://user@host:port/db`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the connection refuses writes.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The tokio-postgres client and the runtime that drives it.
    pub(super) fn parts(&self) -> (&tokio_postgres::Client, &tokio::runtime::Runtime) {
        (&self.client, &self.rt)
    }

    /// Runs statements (simple query protocol; several may be separated by `;`).
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.execute_in(sql, "running a statement")
    }

    /// [`PgClient::execute`] with the context for the error.
    pub fn execute_in(&self, sql: &str, context: &str) -> Result<()> {
        let started = std::time::Instant::now();
        let out = self
            .rt
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| Error::Destination {
                context: context.to_string(),
                reason: reason(&e),
            });
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SQL {}",
            head(sql)
        );
        out
    }

    /// Rows of a parameterized query.
    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.rt
            .block_on(self.client.query(sql, params))
            .map_err(|e| Error::Destination {
                context: format!("reading ({})", head(sql)),
                reason: reason(&e),
            })
    }

    /// The first column of the first row as text, if there is a row and it is not NULL.
    pub fn query_text(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<String>> {
        let rows = self.query(sql, params)?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)))
    }

    /// A `count(*)`-like first column.
    pub fn query_count(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<i64> {
        let rows = self.query(sql, params)?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Columns of `dataset.table` with their types as `format_type` prints them, in order;
    /// `None` if there is no such table.
    pub fn table_columns(
        &self,
        dataset: &str,
        table: &str,
    ) -> Result<Option<Vec<(String, String)>>> {
        let rows = self.query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
               AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&dataset, &table],
        )?;
        let cols: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(if cols.is_empty() { None } else { Some(cols) })
    }

    /// All tables of a dataset with their columns.
    pub fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>> {
        let rows = self.query(
            "SELECT c.relname::text, a.attname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY c.relname, a.attnum",
            &[&dataset],
        )?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for r in rows {
            out.entry(r.get(0)).or_default().push(r.get(1));
        }
        Ok(out)
    }

    /// Whether `dataset.table` exists.
    pub fn has_table(&self, dataset: &str, table: &str) -> Result<bool> {
        let n = self.query_count(
            "SELECT count(*) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&dataset, &table],
        )?;
        Ok(n > 0)
    }

    /// Brings the dataset's tables in line with `schema`: creates missing tables and adds
    /// missing columns (one `ALTER TABLE` per table, as dlt on Postgres). Never drops or
    /// retypes anything. Runs inside the load transaction.
    pub fn migrate(
        &self,
        dataset: &str,
        schema: &Schema,
        existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let (statements, fresh) = migration(dataset, schema, existing, false);
        debug_assert!(fresh.is_empty());
        self.run_migration(&statements)?;
        Ok(statements)
    }

    /// [`PgClient::migrate`] for a load. The data tables it would create are only noted
    /// ([`PgClient::fresh`]): the load creates each one when its jobs load (on a worker
    /// connection, see `parallel.rs`) or before the merge and completion steps, and adds its
    /// UNIQUE constraints after its rows are in. Returns every statement the load runs for the
    /// schema, those of the new tables last.
    pub(super) fn migrate_for_load(
        &mut self,
        dataset: &str,
        schema: &Schema,
        existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let (mut statements, fresh) = migration(dataset, schema, existing, true);
        self.run_migration(&statements)?;
        for t in &fresh {
            let (create, unique) = create_table_deferring_unique(dataset, t);
            statements.push(create);
            statements.extend(unique);
        }
        self.fresh = fresh;
        self.fresh_dataset = dataset.to_string();
        Ok(statements)
    }

    fn run_migration(&self, statements: &[String]) -> Result<()> {
        for s in statements {
            self.execute_in(s, &format!("migrating the schema ({})", head(s)))?;
        }
        Ok(())
    }

    /// Adds the UNIQUE constraints of the new tables created in the load transaction (in it;
    /// a duplicate `_dlt_id` fails the load as the constraint would have).
    pub(super) fn add_deferred_constraints(&mut self) -> Result<()> {
        for s in std::mem::take(&mut self.deferred) {
            self.execute_in(&s, &format!("adding the UNIQUE constraints ({})", head(&s)))?;
        }
        Ok(())
    }
}

/// The statements that bring `dataset` in line with `schema` (see [`PgClient::migrate`]) and,
/// with `defer_new`, the new data tables, left out of the statements (the load creates them).
/// System tables (created `IF NOT EXISTS`) are always in the statements.
fn migration(
    dataset: &str,
    schema: &Schema,
    existing: &HashMap<String, Vec<String>>,
    defer_new: bool,
) -> (Vec<String>, Vec<Table>) {
    let mut statements = Vec::new();
    let mut fresh = Vec::new();
    for t in schema.tables.values() {
        if !t.has_complete_columns() {
            continue;
        }
        match existing.get(&t.name) {
            None if defer_new && !t.is_system() => fresh.push(t.clone()),
            None => statements.push(create_table_sql(dataset, t, t.is_system())),
            Some(cols) => {
                let adds: Vec<String> = t
                    .columns
                    .values()
                    .filter(|c| c.is_complete() && !cols.iter().any(|e| e == &c.name))
                    .map(|c| {
                        // New columns are nullable: existing rows have no value.
                        let mut c = c.clone();
                        c.nullable = true;
                        format!("ADD COLUMN {}", column_def(&c))
                    })
                    .collect();
                if !adds.is_empty() {
                    statements.push(format!(
                        "ALTER TABLE {}\n{}",
                        qualified(dataset, &t.name),
                        adds.join(",\n")
                    ));
                }
            }
        }
    }
    (statements, fresh)
}

/// The start of a statement for logs and errors: at most 100 characters (literals further on
/// may hold state or schema text).
pub(super) fn head(sql: &str) -> String {
    let head: String = sql.trim_start().chars().take(100).collect();
    head.replace('\n', " ")
}

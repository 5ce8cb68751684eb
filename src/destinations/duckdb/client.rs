//! The DuckDB connection: opening the warehouse file (with dlt's `global_config`,
//! `local_config` and `pragmas`), catalog queries, statements with debug logging, schema
//! migration and bulk inserts from Arrow job files.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::ipc::reader::FileReader;

use super::raw::{RawConnection, RawDatabase};
use super::sql::{column_def, create_table_sql, quote_ident, quote_str, statement_head};
use crate::error::{Error, Result};
use crate::schema::Schema;

/// A connection to the warehouse file.
pub struct DuckDbClient {
    // Field order matters: connections close before the database.
    conn: duckdb::Connection,
    /// The Arrow scan connection (`None` when read-only).
    raw: Option<RawConnection>,
    _db: RawDatabase,
    path: PathBuf,
    merge_memory_limit: Option<String>,
    /// The jobs of the load in progress, with their registered views.
    pub(super) jobs: Vec<(crate::destinations::JobFile, String)>,
    /// Whether a load transaction is open.
    pub(super) in_transaction: bool,
    /// DuckDB's `threads` before a streamed load set it to 1 (restored when the load ends).
    pub(super) threads_before: Option<String>,
    /// The tables and columns of the datasets read since they last may have changed (see
    /// [`Self::catalog`]).
    catalog: RefCell<HashMap<String, Arc<DatasetCatalog>>>,
    /// Whether a transaction may be open on `conn` (see [`Self::read_unchecked`]).
    transaction: Cell<bool>,
}

/// Whether `e` says that a table or schema a statement names does not exist.
fn is_missing_table(e: &duckdb::Error) -> bool {
    let m = e.to_string();
    m.starts_with("Catalog Error") && m.contains("does not exist")
}

/// The tables of one dataset with their columns (name, type), in column order.
pub(super) type DatasetCatalog = HashMap<String, Vec<(String, String)>>;

/// DuckDB's buffer pool limit when loading, unless configured: 48 MB per core, at least
/// 96 MB. A load streams job files through DuckDB, which writes finished row groups to the file
/// as it goes, so a small pool keeps peak memory flat whatever the package size (on 2 cores:
/// about 150 MB of RSS for 1M and for 5M nested orders) without slowing the load.
/// Larger-than-memory merges spill to `<warehouse>.tmp/`.
pub fn default_memory_limit() -> String {
    format!("{}MB", (48 * cores()).max(96))
}

/// The buffer pool limit while a merge runs, when the limit is dango's default: twice
/// [`default_memory_limit`], since the merge SQL (dedup window, joins) spills less with more.
pub fn default_merge_memory_limit() -> String {
    format!("{}MB", (96 * cores()).max(192))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// DuckDB settings for the warehouse connection, as dlt's
/// `[destination.duckdb.credentials]` `global_config`, `local_config` and `pragmas` give them.
#[derive(Debug, Clone, PartialEq)]
pub struct DuckDbOptions {
    /// Database settings applied when the warehouse is opened (`memory_limit`, `threads`, …).
    pub global_config: Vec<(String, String)>,
    /// Settings applied with `SET` on the load connection.
    pub local_config: Vec<(String, String)>,
    /// Statements run as `PRAGMA <pragma>` on the load connection.
    pub pragmas: Vec<String>,
    /// `memory_limit` while a package with merge tables loads (`None`: leave it alone, as
    /// when the user set `memory_limit`).
    pub merge_memory_limit: Option<String>,
}

impl Default for DuckDbOptions {
    fn default() -> DuckDbOptions {
        DuckDbOptions {
            global_config: vec![("memory_limit".into(), default_memory_limit())],
            local_config: Vec::new(),
            pragmas: Vec::new(),
            merge_memory_limit: Some(default_merge_memory_limit()),
        }
    }
}

impl DuckDbClient {
    /// Opens (creating if needed) the warehouse at `path`, with default options.
    pub fn open(path: &Path) -> Result<DuckDbClient> {
        Self::open_with(path, &DuckDbOptions::default())
    }

    /// Opens (creating if needed) the warehouse at `path` with `options`.
    pub fn open_with(path: &Path, options: &DuckDbOptions) -> Result<DuckDbClient> {
        let mut client = Self::open_mode(path, false, &options.global_config)?;
        client.merge_memory_limit = options.merge_memory_limit.clone();
        for (k, v) in &options.local_config {
            client.execute(&format!("SET {} = {}", quote_ident(k), quote_str(v)))?;
        }
        for p in &options.pragmas {
            client.execute(&format!("PRAGMA {p}"))?;
        }
        Ok(client)
    }

    /// Opens the warehouse read-only (for inspection).
    pub fn open_read_only(path: &Path) -> Result<DuckDbClient> {
        Self::open_mode(path, true, &[])
    }

    fn open_mode(
        path: &Path,
        read_only: bool,
        global: &[(String, String)],
    ) -> Result<DuckDbClient> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !read_only
        {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let db = RawDatabase::open(path, read_only, global).map_err(|reason| {
            if reason.starts_with("invalid DuckDB setting") {
                Error::Config(format!(
                    "{reason}. Check `global_config` under [destination.duckdb.credentials] in .dlt/config.toml (or DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG)"
                ))
            } else if reason.contains("lock") {
                Error::WarehouseLocked {
                    path: path.to_path_buf(),
                    reason,
                }
            } else {
                Error::Destination {
                    context: format!("opening {}", path.display()),
                    reason,
                }
            }
        })?;
        let raw = if read_only {
            None
        } else {
            Some(db.connect().map_err(|reason| Error::Destination {
                context: "connecting".into(),
                reason,
            })?)
        };
        let conn = db.connection().map_err(|reason| Error::Destination {
            context: "connecting".into(),
            reason,
        })?;
        Ok(DuckDbClient {
            conn,
            raw,
            _db: db,
            path: path.to_path_buf(),
            merge_memory_limit: None,
            jobs: Vec::new(),
            in_transaction: false,
            threads_before: None,
            catalog: RefCell::new(HashMap::new()),
            transaction: Cell::new(false),
        })
    }

    /// The `memory_limit` to use while merging, if dango chooses it (see [`DuckDbOptions`]).
    pub fn merge_memory_limit(&self) -> Option<&str> {
        self.merge_memory_limit.as_deref()
    }

    /// The warehouse file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `duckdb::Connection` for any statement. What [`Self::catalog`] read is forgotten,
    /// as the statement may change the catalog.
    pub fn conn(&self) -> &duckdb::Connection {
        self.catalog_changed();
        self.transaction.set(true);
        &self.conn
    }

    /// The connection for statements that change rows only (queries, inserts, deletes): what
    /// [`Self::catalog`] read stays known.
    pub(super) fn data_conn(&self) -> &duckdb::Connection {
        &self.conn
    }

    /// Columns of `dataset.table` with their DuckDB types, in order; `None` if no such table.
    pub fn table_columns(
        &self,
        dataset: &str,
        table: &str,
    ) -> Result<Option<Vec<(String, String)>>> {
        Ok(self.catalog(dataset)?.get(table).cloned())
    }

    /// All tables of a dataset with their columns.
    pub fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>> {
        Ok(self
            .catalog(dataset)?
            .iter()
            .map(|(t, cols)| (t.clone(), cols.iter().map(|(c, _)| c.clone()).collect()))
            .collect())
    }

    /// The tables and columns of `dataset`, read with one catalog query and kept until a
    /// statement that may change it runs on this client ([`Self::execute`] of a statement
    /// [`super::sql::may_change_catalog`] names, or any use of [`Self::conn`]). Nothing else
    /// can change it meanwhile: a read-write client holds the warehouse file's lock, and a
    /// read-only one shares it with readers only.
    pub(super) fn catalog(&self, dataset: &str) -> Result<Arc<DatasetCatalog>> {
        if let Some(c) = self.catalog.borrow().get(dataset) {
            return Ok(Arc::clone(c));
        }
        let started = std::time::Instant::now();
        let mut stmt = self.conn.prepare(
            // duckdb_columns(), which information_schema.columns selects from: a fresh
            // database would first parse and bind the information_schema views.
            "SELECT table_name, column_name, data_type FROM duckdb_columns() \
             WHERE database_name = current_database() AND schema_name = ? \
             ORDER BY table_name, column_index",
        )?;
        let rows = stmt.query_map([dataset], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut tables = DatasetCatalog::new();
        for r in rows {
            let (t, c, ty) = r?;
            tables.entry(t).or_default().push((c, ty));
        }
        let tables = Arc::new(tables);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "read the catalog of {dataset}"
        );
        self.catalog
            .borrow_mut()
            .insert(dataset.to_string(), Arc::clone(&tables));
        Ok(tables)
    }

    /// Whether `dataset.table` exists, if the catalog of `dataset` is known without reading it.
    pub(super) fn known_table(&self, dataset: &str, table: &str) -> Option<bool> {
        let catalog = self.catalog.borrow();
        catalog.get(dataset).map(|c| c.contains_key(table))
    }

    /// Forgets all [`Self::catalog`] read.
    fn catalog_changed(&self) {
        self.catalog.borrow_mut().clear();
    }

    /// Whether `_dlt_loads` of the dataset records `load_id`.
    pub fn has_load(&self, dataset: &str, load_id: &str) -> Result<bool> {
        if !self
            .catalog(dataset)?
            .contains_key(crate::schema::LOADS_TABLE)
        {
            return Ok(false);
        }
        let sql = format!(
            "SELECT count(*) FROM {}.\"_dlt_loads\" WHERE load_id = ?",
            quote_ident(dataset)
        );
        let n: i64 = self.conn.query_row(&sql, [load_id], |r| r.get(0))?;
        Ok(n > 0)
    }

    /// Row count of a table (0 if it does not exist).
    pub fn row_count(&self, dataset: &str, table: &str) -> Result<u64> {
        let sql = format!(
            "SELECT count(*) FROM {}.{}",
            quote_ident(dataset),
            quote_ident(table)
        );
        let count = |c: &duckdb::Connection| c.query_row(&sql, [], |r| r.get::<_, i64>(0));
        let n = match self.read_unchecked(count) {
            Some(n) => n?.unwrap_or(0),
            None if self.table_columns(dataset, table)?.is_none() => 0,
            None => count(&self.conn)?,
        };
        Ok(n.max(0) as u64)
    }

    /// `read` run at once, without a catalog read to see whether its tables exist, when that
    /// is safe: no transaction is open (a statement that fails outside one changes nothing,
    /// inside one DuckDB aborts the transaction). `Ok(None)` when a table or schema `read`
    /// names does not exist. `None` when a transaction may be open: check the catalog first.
    pub(super) fn read_unchecked<T>(
        &self,
        read: impl FnOnce(&duckdb::Connection) -> duckdb::Result<T>,
    ) -> Option<Result<Option<T>>> {
        if self.transaction.get() {
            return None;
        }
        Some(match read(&self.conn) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_missing_table(&e) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    /// Runs statements on the load connection.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.catalog
            .borrow_mut()
            .retain(|dataset, _| !super::sql::may_change_catalog(sql, dataset));
        let started = std::time::Instant::now();
        let out = self
            .conn
            .execute_batch(sql)
            .map_err(|e| Error::Destination {
                context: "running a statement".into(),
                reason: e.to_string(),
            });
        match super::sql::transaction_effect(sql) {
            Some(open) if out.is_ok() => self.transaction.set(open),
            // A failed ROLLBACK, or a COMMIT with no transaction to end, leaves none open.
            Some(false)
                if sql
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("ROLLBACK")
                    || out
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("no transaction is active")) =>
            {
                self.transaction.set(false)
            }
            // A batch: whether it left a transaction open is unknown, so assume it did.
            None if sql.trim().trim_end_matches(';').contains(';') => self.transaction.set(true),
            _ => {}
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SQL {}",
            statement_head(sql)
        );
        out
    }

    /// Brings the dataset's tables in line with `schema`: creates missing tables and adds
    /// missing columns. Never drops or retypes anything. Run inside the load transaction.
    pub fn migrate(
        &self,
        dataset: &str,
        schema: &Schema,
        existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut statements = Vec::new();
        for t in schema.tables.values() {
            if !t.has_complete_columns() {
                continue;
            }
            match existing.get(&t.name) {
                None => statements.push(create_table_sql(dataset, t, t.is_system())),
                Some(cols) => {
                    for c in t.columns.values().filter(|c| c.is_complete()) {
                        if !cols.iter().any(|e| e == &c.name) {
                            // New columns are always nullable: existing rows have no value.
                            let mut c = c.clone();
                            c.nullable = true;
                            statements.push(format!(
                                "ALTER TABLE {}.{}\nADD COLUMN {}",
                                quote_ident(dataset),
                                quote_ident(&t.name),
                                column_def(&c)
                            ));
                        }
                    }
                }
            }
        }
        for s in &statements {
            self.execute(s).map_err(|e| match e {
                Error::Destination { reason, .. } => Error::Destination {
                    context: format!("migrating the schema ({s})"),
                    reason,
                },
                e => e,
            })?;
        }
        Ok(statements)
    }

    /// Exposes an Arrow IPC job file to SQL as a view (DuckDB's native Arrow scan) and returns
    /// the view's qualified name. Call before the load transaction starts.
    pub fn register_job(&mut self, file: &Path) -> Result<String> {
        self.register_job_file(file, false)
    }

    /// [`Self::register_job`] for a load transaction that is already open (a job that
    /// arrives while the package is still being normalized).
    pub fn register_job_late(&mut self, file: &Path) -> Result<String> {
        self.register_job_file(file, true)
    }

    fn register_job_file(&mut self, file: &Path, late: bool) -> Result<String> {
        let f = File::open(file).map_err(|e| Error::io(file, e))?;
        let reader = FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, f), None)
            .map_err(|e| Error::Corrupt {
                path: file.to_path_buf(),
                reason: e.to_string(),
            })?;
        let raw = self.raw.as_mut().ok_or_else(|| Error::Destination {
            context: format!("loading {}", file.display()),
            reason: "the warehouse was opened read-only".into(),
        })?;
        let registered = if late {
            raw.register_arrow_late(Box::new(reader))
        } else {
            raw.register_arrow(Box::new(reader))
        };
        registered.map_err(|reason| Error::Destination {
            context: format!("reading job file {}", file.display()),
            reason,
        })
    }

    /// Inserts the rows of a registered job view into `dataset.table` (columns in the given
    /// order), inside the open transaction.
    pub fn insert_view(
        &self,
        dataset: &str,
        table: &str,
        view: &str,
        columns: &[String],
    ) -> Result<()> {
        let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let cols = cols.join(", ");
        let sql = format!(
            "INSERT INTO {}.{} ({cols}) SELECT {cols} FROM {view}",
            quote_ident(dataset),
            quote_ident(table)
        );
        let started = std::time::Instant::now();
        let out = self
            .conn
            .execute_batch(&sql)
            .map_err(|e| Error::Destination {
                context: format!("loading into {dataset}.{table}"),
                reason: e.to_string(),
            });
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SQL INSERT INTO {dataset}.{table} from a job file"
        );
        out
    }

    /// Runs DuckDB on one thread while a streamed load inserts jobs as extract and normalize
    /// write them: those stages keep the other cores busy, and DuckDB's workers waiting for
    /// tasks on an oversubscribed machine cost more CPU than they save (1.7× the CPU of the
    /// steps run one after the other on 2 cores, measured). Restored by
    /// [`Self::restore_threads`].
    pub(super) fn single_thread(&mut self) -> Result<()> {
        if self.threads_before.is_some() {
            return Ok(());
        }
        let before: String =
            self.conn
                .query_row("SELECT current_setting('threads')::VARCHAR", [], |r| {
                    r.get(0)
                })?;
        self.execute("SET threads = 1")?;
        self.threads_before = Some(before);
        Ok(())
    }

    /// Gives DuckDB back the threads it had before [`Self::single_thread`].
    pub(super) fn restore_threads(&mut self) {
        if let Some(n) = self.threads_before.take() {
            let n: String = n.chars().filter(char::is_ascii_digit).collect();
            if !n.is_empty() {
                let _ = self.execute(&format!("SET threads = {n}"));
            }
        }
    }

    /// Drops the job views and releases their streams.
    pub fn unregister_jobs(&mut self) {
        if let Some(raw) = self.raw.as_mut() {
            raw.unregister_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DuckDbClient;

    fn columns(c: &DuckDbClient, dataset: &str, table: &str) -> Option<Vec<String>> {
        c.table_columns(dataset, table)
            .unwrap()
            .map(|cols| cols.into_iter().map(|(n, _)| n).collect())
    }

    #[test]
    fn the_catalog_cache_follows_ddl_rollbacks_and_other_datasets() {
        let dir = tempfile::tempdir().unwrap();
        let c = DuckDbClient::open(&dir.path().join("w.duckdb")).unwrap();
        c.execute("CREATE SCHEMA a; CREATE SCHEMA b").unwrap();
        c.execute("CREATE TABLE a.t (x BIGINT)").unwrap();
        // Cached, with the table of b still missing.
        assert_eq!(columns(&c, "a", "t"), Some(vec!["x".to_string()]));
        assert_eq!(columns(&c, "b", "u"), None);
        // DDL on b is seen in b; rows and DDL elsewhere keep a's catalog as it is (still right).
        c.execute("CREATE TABLE \"b\".\"u\" (y VARCHAR)").unwrap();
        assert_eq!(columns(&c, "b", "u"), Some(vec!["y".to_string()]));
        c.execute("INSERT INTO a.t VALUES (1)").unwrap();
        c.execute("ALTER TABLE A.T ADD COLUMN z DOUBLE").unwrap();
        assert_eq!(
            columns(&c, "a", "t"),
            Some(vec!["x".to_string(), "z".to_string()])
        );
        // A rolled-back CREATE: the table is gone again.
        c.execute("BEGIN TRANSACTION").unwrap();
        c.execute("CREATE TABLE a.v (w INT)").unwrap();
        assert!(columns(&c, "a", "v").is_some());
        c.execute("ROLLBACK").unwrap();
        assert_eq!(columns(&c, "a", "v"), None);
        // A committed one stays after the commit.
        c.execute("BEGIN TRANSACTION").unwrap();
        c.execute("CREATE TABLE a.v (w INT)").unwrap();
        assert!(columns(&c, "a", "v").is_some());
        c.execute("COMMIT").unwrap();
        assert_eq!(columns(&c, "a", "v"), Some(vec!["w".to_string()]));
        assert_eq!(c.dataset_tables("a").unwrap().len(), 2);
        // Any statement through conn() forgets the cache.
        c.conn().execute_batch("DROP TABLE a.v").unwrap();
        assert_eq!(columns(&c, "a", "v"), None);
    }

    #[test]
    fn a_missing_table_counts_zero_and_never_aborts_an_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let c = DuckDbClient::open(&dir.path().join("w.duckdb")).unwrap();
        c.execute("CREATE SCHEMA a; CREATE TABLE a.t (x BIGINT)")
            .unwrap();
        // After a batch whether a transaction is open is unknown; a COMMIT settles it.
        assert!(c.read_unchecked(|k| k.execute("SELECT 1", [])).is_none());
        assert!(c.execute("COMMIT").is_err());
        assert!(c.read_unchecked(|k| k.execute("SELECT 1", [])).is_some());
        assert_eq!(c.row_count("a", "nope").unwrap(), 0);
        assert_eq!(c.row_count("nope", "t").unwrap(), 0);
        c.execute("BEGIN TRANSACTION").unwrap();
        c.execute("INSERT INTO a.t VALUES (1), (2)").unwrap();
        // Inside the transaction a failed count would abort it: the catalog is asked first.
        assert!(c.read_unchecked(|k| k.execute("SELECT 1", [])).is_none());
        assert_eq!(c.row_count("a", "nope").unwrap(), 0);
        assert_eq!(c.row_count("a", "t").unwrap(), 2);
        c.execute("COMMIT").unwrap();
        assert_eq!(c.row_count("a", "t").unwrap(), 2);
        assert!(
            c.read_unchecked(|k| k.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .is_some()
        );
    }
}

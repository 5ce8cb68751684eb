//! Tables a load creates, loaded side by side on connections of their own, still committed
//! with the package.
//!
//! One connection runs one statement at a time, so in the load transaction the tables of a
//! package are copied one after the other, and the server's bulk load (parsing, heap inserts,
//! then the sort that builds each `_dlt_id` index) uses one core. A table that does not exist
//! yet does not need the load transaction to be filled: a worker connection creates it in a
//! loading schema of its own (`<dataset>_dango_load`, which no reader looks at), copies the
//! table's jobs into it, adds its UNIQUE constraints and commits. The load transaction then
//! moves each finished table into the dataset with `ALTER TABLE … SET SCHEMA` (a catalog
//! change) and drops the empty loading schema, so the tables appear in the dataset with the
//! package's `_dlt_loads` row, or not at all:
//!
//! - a crash or a failed load before the commit leaves at most tables in the loading schema,
//!   never in the dataset; the next load of the dataset drops the loading schema first (a
//!   failed load drops it at once);
//! - tables that exist already, and merge or staging tables, load in the load transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::client::{PgClient, TableWorkers};
use super::config::PgCredentials;
use super::sql::{create_table_deferring_unique, qualified, quote_ident};
use crate::destinations::JobFile;
use crate::error::{Error, Result};
use crate::schema::Table;

/// Worker connections (tables loaded at once) unless `DANGO_PG_LOAD_WORKERS` says otherwise.
const WORKERS: usize = 3;

/// The number of worker connections: `DANGO_PG_LOAD_WORKERS` (0: new tables load in the load
/// transaction like the others), else [`WORKERS`].
fn workers() -> usize {
    std::env::var("DANGO_PG_LOAD_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(WORKERS, |n| n.min(16))
}

/// One new table and its job files.
struct TableLoad {
    table: Table,
    jobs: Vec<JobFile>,
}

/// The loading schema of `dataset` (at most 63 characters, shortened as dlt shortens names).
pub(super) fn loading_schema(dataset: &str) -> String {
    let name = format!("{dataset}_dango_load");
    crate::normalize::naming::shorten_identifier(&name, &name, 63)
}

/// Worker connections filling new tables in the loading schema.
pub(super) struct Pool {
    dataset: String,
    schema: String,
    /// An autocommit connection for the loading schema itself.
    admin: PgClient,
    sender: Option<Sender<TableLoad>>,
    workers: Vec<JoinHandle<Result<()>>>,
    failed: Arc<AtomicBool>,
    /// Tables handed to the workers, in order.
    pub(super) tables: Vec<String>,
}

impl Pool {
    /// Creates the loading schema of `dataset` afresh (a crashed load's leftovers go) and
    /// starts the workers.
    pub(super) fn start(creds: &PgCredentials, dataset: &str, n: usize) -> Result<Pool> {
        let schema = loading_schema(dataset);
        // Every connection is opened here, so a server that refuses more fails the start
        // (and the load goes on in its own transaction) rather than a table.
        let admin = PgClient::connect(creds, false)?;
        let conns = (0..n)
            .map(|_| PgClient::connect(creds, false))
            .collect::<Result<Vec<_>>>()?;
        admin.execute_in(
            &format!(
                "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}",
                s = quote_ident(&schema)
            ),
            "creating the loading schema",
        )?;
        let (sender, receiver) = std::sync::mpsc::channel::<TableLoad>();
        let receiver = Arc::new(Mutex::new(receiver));
        let failed = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(n);
        for (n, conn) in conns.into_iter().enumerate() {
            let (receiver, failed) = (receiver.clone(), failed.clone());
            let (schema, dataset) = (schema.clone(), dataset.to_string());
            let worker = std::thread::Builder::new()
                .name(format!("dango-pg-load-{n}"))
                .spawn(move || {
                    let r = work(&conn, &receiver, &schema, &dataset, &failed);
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    r
                })
                .map_err(|e| Error::Internal(format!("cannot start a load worker: {e}")))?;
            workers.push(worker);
        }
        Ok(Pool {
            dataset: dataset.to_string(),
            schema,
            admin,
            sender: Some(sender),
            workers,
            failed,
            tables: Vec::new(),
        })
    }

    /// Waits for the workers; the first error if a table failed.
    fn join(&mut self) -> Result<()> {
        self.sender = None;
        let mut first = Ok(());
        for w in self.workers.drain(..) {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a load worker panicked".into())));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// A worker: its own connection, one transaction per table.
fn work(
    conn: &PgClient,
    receiver: &Mutex<Receiver<TableLoad>>,
    schema: &str,
    dataset: &str,
    failed: &AtomicBool,
) -> Result<()> {
    loop {
        let next = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(_) => return Err(Error::Internal("a load worker panicked".into())),
        };
        let Ok(load) = next else { return Ok(()) };
        if !failed.load(Ordering::SeqCst) {
            load_table(conn, schema, dataset, &load)?;
        }
    }
}

/// Creates the table in the loading schema, copies its jobs, adds its UNIQUE constraints
/// and commits.
fn load_table(c: &PgClient, schema: &str, dataset: &str, load: &TableLoad) -> Result<()> {
    let (create, unique) = create_table_deferring_unique(schema, &load.table);
    let name = &load.table.name;
    c.execute("BEGIN")?;
    let r = (|| {
        c.execute_in(&create, &format!("creating the new table {dataset}.{name}"))?;
        for job in &load.jobs {
            super::copy::copy_job(c, &job.path, schema, dataset, &job.table, &job.columns)?;
        }
        if let Some(sql) = unique {
            c.execute_in(
                &sql,
                &format!("adding the UNIQUE constraints of {dataset}.{name}"),
            )?;
        }
        c.execute_in("COMMIT", &format!("loading into {dataset}.{name}"))
    })();
    if r.is_err() {
        let _ = c.execute("ROLLBACK");
    }
    r
}

impl TableWorkers for Pool {
    /// The dataset the tables are for.
    fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Hands `table` with its `jobs` to a worker.
    fn submit(&mut self, table: Table, jobs: Vec<JobFile>) -> Result<()> {
        let name = table.name.clone();
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|s| s.send(TableLoad { table, jobs }).is_ok());
        if !sent {
            return Err(Error::Internal("the load workers have stopped".into()));
        }
        self.tables.push(name);
        Ok(())
    }

    /// Waits for every table, then, in the load transaction of `main`, moves them into the
    /// dataset and drops the loading schema. On error the caller rolls back and calls
    /// [`Pool::abandon`].
    fn finish(&mut self, main: &PgClient) -> Result<()> {
        self.join()?;
        for t in &self.tables {
            main.execute_in(
                &format!(
                    "ALTER TABLE {} SET SCHEMA {}",
                    qualified(&self.schema, t),
                    quote_ident(&self.dataset)
                ),
                &format!("moving the new table {}.{t} into place", self.dataset),
            )?;
        }
        main.execute_in(
            &format!("DROP SCHEMA {}", quote_ident(&self.schema)),
            "dropping the loading schema",
        )
    }

    /// Stops the workers (after their current table) and drops the loading schema with
    /// whatever they committed (best effort: the next load drops it too).
    fn abandon(mut self: Box<Self>) {
        self.failed.store(true, Ordering::SeqCst);
        let _ = self.join();
        let _ = self.admin.execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(&self.schema)
        ));
    }

    fn has_table(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t == table)
    }
}

impl PgClient {
    /// Whether `job` loads into a new table of the dataset (one a worker fills).
    pub(super) fn is_fresh_job(&self, job: &JobFile, target: &str) -> bool {
        target == self.fresh_dataset
            && (self.fresh.iter().any(|t| t.name == job.table)
                || self
                    .pool
                    .as_ref()
                    .is_some_and(|p| p.dataset() == target && p.has_table(&job.table)))
    }

    /// Hands the new table of `job` with all its jobs to a worker (its later jobs are then
    /// already handed over). Without workers (`DANGO_PG_LOAD_WORKERS=0`, or when no worker
    /// connection can be opened, e.g. at the server's `max_connections`) the table is
    /// created in the load transaction and the job loads there.
    pub(super) fn load_fresh(&mut self, job: &JobFile) -> Result<()> {
        let Some(at) = self.fresh.iter().position(|t| t.name == job.table) else {
            return Ok(());
        };
        if self.pool.is_none() {
            let n = workers();
            let started = if n == 0 {
                None
            } else {
                match Pool::start(&self.creds, &self.fresh_dataset, n) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(
                            "new tables load in the load transaction, one after the other: {e}"
                        );
                        None
                    }
                }
            };
            match started {
                Some(p) => self.pool = Some(Box::new(p)),
                None => {
                    let t = self.fresh.remove(at);
                    let (create, unique) = create_table_deferring_unique(&self.fresh_dataset, &t);
                    self.execute_in(&create, &format!("creating the table {}", t.name))?;
                    self.deferred.extend(unique);
                    let ds = self.fresh_dataset.clone();
                    return super::copy::copy_job(
                        self,
                        &job.path,
                        &ds,
                        &ds,
                        &job.table,
                        &job.columns,
                    )
                    .map(|_| ());
                }
            }
        }
        let table = self.fresh.remove(at);
        let jobs: Vec<JobFile> = self
            .jobs
            .iter()
            .filter(|j| j.table == table.name)
            .cloned()
            .collect();
        match self.pool.as_mut() {
            Some(pool) => pool.submit(table, jobs),
            None => Ok(()),
        }
    }

    /// Puts every new table in place in the load transaction: those the workers filled are
    /// moved in, the others (no rows in the dataset, or filled by a merge) created, with
    /// their UNIQUE constraints deferred to the completion of the load.
    pub(super) fn finish_fresh(&mut self) -> Result<()> {
        if let Some(mut pool) = self.pool.take() {
            let finished = pool.finish(self);
            if finished.is_err() {
                // [`Destination::rollback_load`] abandons it.
                self.pool = Some(pool);
            }
            finished?;
        }
        for t in std::mem::take(&mut self.fresh) {
            let (create, unique) = create_table_deferring_unique(&self.fresh_dataset, &t);
            self.execute_in(&create, &format!("creating the table {}", t.name))?;
            self.deferred.extend(unique);
        }
        Ok(())
    }

    /// Forgets the new tables of a load that is rolled back; stops the workers.
    pub(super) fn abandon_fresh(&mut self) {
        self.fresh.clear();
        if let Some(pool) = self.pool.take() {
            pool.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_loading_schema_is_a_postgres_name() {
        assert_eq!(super::loading_schema("raw_shop"), "raw_shop_dango_load");
        let long = super::loading_schema(&"x".repeat(80));
        assert!(long.len() <= 63, "{long}");
        assert_ne!(long, super::loading_schema(&"x".repeat(81)));
    }
}

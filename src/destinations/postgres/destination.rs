//! `impl Destination for PgClient`: one transaction per package, jobs bulk-loaded with `COPY`,
//! dlt's merge SQL in Postgres's dialect, and dlt's bookkeeping tables.

use std::collections::HashMap;

use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::ToSql;

use super::client::{PgClient, reason};
use super::sql::{create_table_sql, package_time_literal, qualified, quote_ident};
use crate::destinations::duckdb::merge::{self, MergeDialect};
use crate::destinations::sql_common::{self, POSTGRES as SQL};
use crate::destinations::{Capabilities, Destination, JobFile, LoadPlan, Sample, StateRow};
use crate::error::{Error, Result};
use crate::schema::{LOADS_TABLE, STATE_TABLE, Schema, Table, VERSION_TABLE, dlt_dict};

/// Postgres's merge dialect: temporary tables live in `pg_temp`; names are at most 63
/// characters.
pub const POSTGRES: MergeDialect = MergeDialect {
    temp_schema: "pg_temp.",
    max_identifier_length: 63,
};

impl PgClient {
    /// Runs one parameterized statement.
    pub(super) fn exec(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        context: &str,
    ) -> Result<u64> {
        let (pg, rt) = self.parts();
        rt.block_on(pg.execute(sql, params))
            .map_err(|e| Error::Destination {
                context: context.to_string(),
                reason: reason(&e),
            })
    }

    /// Rows of a query as Postgres renders them as text (simple query protocol): column
    /// names and cells (`None` for NULL).
    pub fn text_rows(&self, sql: &str) -> Result<Sample> {
        let (pg, rt) = self.parts();
        let messages = rt
            .block_on(pg.simple_query(sql))
            .map_err(|e| Error::Destination {
                context: "reading rows".into(),
                reason: reason(&e),
            })?;
        let mut names = Vec::new();
        let mut rows = Vec::new();
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    names = cols.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(r) => {
                    if names.is_empty() {
                        names = r.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
                }
                _ => {}
            }
        }
        Ok((names, rows))
    }

    fn has_tables(&self, dataset: &str, names: &[&str]) -> Result<bool> {
        for n in names {
            if !self.has_table(dataset, n)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks that the user may create a schema and a table in the database (inside a
    /// transaction that is rolled back: nothing stays).
    fn check_write(&self) -> Result<()> {
        let probe = format!("_dango_health_{}", std::process::id());
        let sql = format!(
            "BEGIN; CREATE SCHEMA {s}; CREATE TABLE {s}.\"t\" (x bigint); INSERT INTO {s}.\"t\" VALUES (1); ROLLBACK",
            s = quote_ident(&probe)
        );
        let out = self.execute_in(
            &sql,
            "checking write permission (create a schema and a table)",
        );
        if out.is_err() {
            let _ = self.execute("ROLLBACK");
        }
        out
    }
}

impl Destination for PgClient {
    fn capabilities(&self) -> Capabilities {
        super::capabilities()
    }

    fn health_check(&mut self) -> Result<()> {
        let one = self.query_count("SELECT 1::bigint", &[])?;
        if one != 1 {
            return Err(Error::Destination {
                context: "checking the connection".into(),
                reason: format!("SELECT 1 returned {one}"),
            });
        }
        if !self.is_read_only() {
            self.check_write()?;
        }
        Ok(())
    }

    fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>> {
        PgClient::dataset_tables(self, dataset)
    }

    fn table_columns(&self, dataset: &str, table: &str) -> Result<Option<Vec<(String, String)>>> {
        PgClient::table_columns(self, dataset, table)
    }

    fn row_count(&self, dataset: &str, table: &str) -> Result<u64> {
        if !self.has_table(dataset, table)? {
            return Ok(0);
        }
        let n = self.query_count(
            &format!("SELECT count(*) FROM {}", qualified(dataset, table)),
            &[],
        )?;
        Ok(n.max(0) as u64)
    }

    fn rows_of_load(&self, dataset: &str, table: &str, load_id: &str) -> Result<u64> {
        let Some(cols) = self.table_columns(dataset, table)? else {
            return Ok(0);
        };
        if !cols.iter().any(|(n, _)| n == "_dlt_load_id") {
            return Ok(0);
        }
        let n = self.query_count(&SQL.rows_of_load_sql(dataset, table), &[&load_id])?;
        Ok(n.max(0) as u64)
    }

    fn sample(&self, dataset: &str, table: &str, n: usize) -> Result<Sample> {
        self.text_rows(&format!(
            "SELECT * FROM {} LIMIT {n}",
            qualified(dataset, table)
        ))
    }

    fn has_load(&self, dataset: &str, load_id: &str) -> Result<bool> {
        if !self.has_table(dataset, LOADS_TABLE)? {
            return Ok(false);
        }
        let n = self.query_count(&SQL.load_count_sql(dataset), &[&load_id])?;
        Ok(n > 0)
    }

    fn last_load(&self, dataset: &str, schema_name: &str) -> Result<Option<(String, String)>> {
        if !self.has_table(dataset, LOADS_TABLE)? {
            return Ok(None);
        }
        let rows = self.query(
            &format!(
                "SELECT load_id::text, to_char(inserted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') \
                 FROM {} WHERE status = 0 AND schema_name = $1 ORDER BY load_id DESC LIMIT 1",
                qualified(dataset, LOADS_TABLE)
            ),
            &[&schema_name],
        )?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    fn stored_state(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        if !self.has_tables(dataset, &[STATE_TABLE, LOADS_TABLE])? {
            return Ok(None);
        }
        self.query_text(&SQL.stored_state_sql(dataset), &[&pipeline])
    }

    fn stored_state_hash(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        if !self.has_table(dataset, STATE_TABLE)? {
            return Ok(None);
        }
        self.query_text(&SQL.stored_state_hash_sql(dataset), &[&pipeline])
    }

    fn stored_schema(&self, dataset: &str, schema_name: &str) -> Result<Option<Schema>> {
        if !self.has_table(dataset, VERSION_TABLE)? {
            return Ok(None);
        }
        let Some(text) = self.query_text(&SQL.stored_schema_sql(dataset), &[&schema_name])? else {
            return Ok(None);
        };
        sql_common::parse_stored_schema(&text, schema_name).map(Some)
    }

    fn has_schema_version(&self, dataset: &str, version_hash: &str) -> Result<bool> {
        if !self.has_table(dataset, VERSION_TABLE)? {
            return Ok(false);
        }
        let n = self.query_count(&SQL.schema_version_count_sql(dataset), &[&version_hash])?;
        Ok(n > 0)
    }

    fn begin_load(&mut self, plan: &LoadPlan<'_>) -> Result<()> {
        self.abandon_fresh();
        self.jobs = plan.jobs.clone();
        self.deferred.clear();
        self.execute("BEGIN")?;
        self.in_transaction = true;
        Ok(())
    }

    fn initialize_storage(&mut self, dataset: &str, replace: bool) -> Result<()> {
        if replace {
            self.execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(dataset)
            ))?;
        }
        self.execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(dataset)
        ))
    }

    fn update_stored_schema(
        &mut self,
        dataset: &str,
        schema: &Schema,
        existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        self.migrate_for_load(dataset, schema, existing)
    }

    fn truncate_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        for t in tables {
            self.execute(&format!("DELETE FROM {} WHERE 1=1", qualified(dataset, t)))?;
        }
        Ok(())
    }

    fn prepare_staging(&mut self, staging: &str, schema: &Schema, roots: &[String]) -> Result<()> {
        self.execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(staging)
        ))?;
        for root in roots {
            let tables = schema
                .table(root)
                .into_iter()
                .chain(schema.nested_tables(root));
            for t in tables {
                if !t.has_complete_columns() {
                    continue;
                }
                let mut t = t.clone();
                // Staging rows are checked by the merge, not by constraints.
                for c in t.columns.values_mut() {
                    c.nullable = true;
                    c.unique = false;
                }
                self.execute(&format!(
                    "DROP TABLE IF EXISTS {}",
                    qualified(staging, &t.name)
                ))?;
                self.execute(&create_table_sql(staging, &t, false))?;
            }
        }
        Ok(())
    }

    fn load_job(&mut self, _index: usize, job: &JobFile, dataset: &str) -> Result<()> {
        if self.is_fresh_job(job, dataset) {
            return self.load_fresh(job);
        }
        super::copy::copy_job(self, &job.path, dataset, dataset, &job.table, &job.columns)
            .map(|_| ())
    }

    fn merge_table(
        &mut self,
        dataset: &str,
        staging: &str,
        schema: &Schema,
        root: &str,
        load_id: &str,
    ) -> Result<()> {
        self.finish_fresh()?;
        let boundary = package_time_literal(load_id);
        let context = format!("merging into {dataset}.{root}");
        for sql in merge::merge_statements_in(POSTGRES, dataset, staging, schema, root, &boundary)?
        {
            self.execute_in(&sql, &context)?;
        }
        Ok(())
    }

    fn replace_from_staging(&mut self, dataset: &str, staging: &str, table: &Table) -> Result<()> {
        self.finish_fresh()?;
        for sql in merge::copy_from_staging(dataset, staging, table) {
            self.execute(&sql)?;
        }
        Ok(())
    }

    fn store_schema(&mut self, dataset: &str, schema: &Schema) -> Result<()> {
        let version = schema.version;
        let engine = crate::schema::SCHEMA_ENGINE_VERSION;
        let doc = dlt_dict::to_json_string_compact(schema);
        self.exec(
            &format!(
                "INSERT INTO {} (version, engine_version, inserted_at, schema_name, version_hash, schema) \
                 VALUES ($1, $2, now(), $3, $4, $5)",
                qualified(dataset, VERSION_TABLE)
            ),
            &[&version, &engine, &schema.name, &schema.version_hash, &doc],
            "storing the schema",
        )
        .map(|_| ())
    }

    fn store_state(&mut self, dataset: &str, row: &StateRow, load_id: &str) -> Result<()> {
        let id = crate::destinations::random_dlt_id();
        self.exec(
            &format!(
                "INSERT INTO {} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
                 VALUES ($1, $2, $3, $4, now(), $5, $6, $7)",
                qualified(dataset, STATE_TABLE)
            ),
            &[
                &row.version,
                &row.engine_version,
                &row.pipeline_name,
                &row.state,
                &row.version_hash,
                &load_id,
                &id,
            ],
            "storing the pipeline state",
        )
        .map(|_| ())
    }

    fn complete_load(&mut self, dataset: &str, load_id: &str, schema: &Schema) -> Result<()> {
        self.finish_fresh()?;
        self.add_deferred_constraints()?;
        self.exec(
            &format!(
                "INSERT INTO {} (load_id, schema_name, status, inserted_at, schema_version_hash) \
                 VALUES ($1, $2, 0, now(), $3)",
                qualified(dataset, LOADS_TABLE)
            ),
            &[&load_id, &schema.name, &schema.version_hash],
            "recording the load in _dlt_loads",
        )
        .map(|_| ())
    }

    fn commit_load(&mut self) -> Result<()> {
        let committed = if self.in_transaction {
            // A transaction that never reached `complete_load` gets its tables whole too.
            let added = self
                .finish_fresh()
                .and_then(|()| self.add_deferred_constraints());
            if added.is_err() {
                let _ = self.execute("ROLLBACK");
                self.abandon_fresh();
            }
            added.and_then(|()| self.execute_in("COMMIT", "committing the load"))
        } else {
            Ok(())
        };
        self.in_transaction = false;
        self.jobs.clear();
        self.deferred.clear();
        committed
    }

    fn rollback_load(&mut self) {
        if self.in_transaction {
            let _ = self.execute("ROLLBACK");
        }
        self.in_transaction = false;
        self.jobs.clear();
        self.deferred.clear();
        self.abandon_fresh();
    }

    fn drop_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        for t in tables {
            self.execute(&format!("DROP TABLE IF EXISTS {}", qualified(dataset, t)))?;
        }
        Ok(())
    }

    fn append_sync_history(
        &mut self,
        dataset: &str,
        record: &crate::destinations::history::SyncRecord,
        keep: u64,
    ) -> Result<()> {
        super::history::append(self, dataset, record, keep)
    }

    fn sync_history(
        &self,
        dataset: &str,
        source: &str,
        limit: usize,
    ) -> Result<Vec<crate::destinations::history::SyncRecord>> {
        super::history::read(self, dataset, source, limit)
    }
}

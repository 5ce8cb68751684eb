//! `impl Destination for DuckDbClient`: one transaction per package; job files are scanned by
//! DuckDB's native Arrow reader through views registered before the transaction starts.

use std::collections::HashMap;

use duckdb::OptionalExt;

use super::client::{DuckDbClient, default_memory_limit};
use super::merge;
use super::sql::{create_table_sql, now_literal, package_time_literal};
use super::sql::{quote_ident, quote_str};
use crate::destinations::{Capabilities, Destination, JobFile, LoadPlan, Sample, StateRow};
use crate::error::{Error, Result};
use crate::schema::{Schema, Table, dlt_dict};

impl DuckDbClient {
    fn query_text(&self, sql: &str, param: &str) -> Result<Option<String>> {
        Ok(self
            .data_conn()
            .query_row(sql, [param], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Whether every table of `names` exists in `dataset` (the client's catalog of it).
    fn has_tables(&self, dataset: &str, names: &[&str]) -> Result<bool> {
        let catalog = self.catalog(dataset)?;
        Ok(names.iter().all(|n| catalog.contains_key(*n)))
    }
}

impl Destination for DuckDbClient {
    fn capabilities(&self) -> Capabilities {
        super::capabilities()
    }

    fn append_sync_history(
        &mut self,
        dataset: &str,
        record: &crate::ops::history::SyncRecord,
        keep: u64,
    ) -> Result<()> {
        super::history::append(self, dataset, record, keep)
    }

    fn sync_history(
        &self,
        dataset: &str,
        source: &str,
        limit: usize,
    ) -> Result<Vec<crate::ops::history::SyncRecord>> {
        super::history::read(self, dataset, source, limit)
    }

    fn health_check(&mut self) -> Result<()> {
        self.execute("SELECT 1")
    }

    fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>> {
        DuckDbClient::dataset_tables(self, dataset)
    }

    fn table_columns(&self, dataset: &str, table: &str) -> Result<Option<Vec<(String, String)>>> {
        DuckDbClient::table_columns(self, dataset, table)
    }

    fn row_count(&self, dataset: &str, table: &str) -> Result<u64> {
        DuckDbClient::row_count(self, dataset, table)
    }

    fn rows_of_load(&self, dataset: &str, table: &str, load_id: &str) -> Result<u64> {
        let Some(cols) = self.table_columns(dataset, table)? else {
            return Ok(0);
        };
        if !cols.iter().any(|(n, _)| n == "_dlt_load_id") {
            return Ok(0);
        }
        let sql = format!(
            "SELECT count(*) FROM {}.{} WHERE _dlt_load_id = ?",
            quote_ident(dataset),
            quote_ident(table)
        );
        let n: i64 = self.data_conn().query_row(&sql, [load_id], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn sample(&self, dataset: &str, table: &str, n: usize) -> Result<Sample> {
        let sql = format!(
            "SELECT * FROM {}.{} LIMIT {n}",
            quote_ident(dataset),
            quote_ident(table)
        );
        let mut stmt = self.data_conn().prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        let mut names = Vec::new();
        while let Some(row) = rows.next()? {
            let stmt_ref = row.as_ref();
            let cols = stmt_ref.column_count();
            if names.is_empty() {
                names = (0..cols)
                    .map(|i| {
                        stmt_ref
                            .column_name(i)
                            .map(|s| s.to_string())
                            .unwrap_or_default()
                    })
                    .collect();
            }
            let mut cells = Vec::with_capacity(cols);
            for i in 0..cols {
                let v: duckdb::types::Value = row.get(i)?;
                cells.push(render(v));
            }
            out.push(cells);
        }
        Ok((names, out))
    }

    fn has_load(&self, dataset: &str, load_id: &str) -> Result<bool> {
        DuckDbClient::has_load(self, dataset, load_id)
    }

    fn last_load(&self, dataset: &str, schema_name: &str) -> Result<Option<(String, String)>> {
        if !self.has_tables(dataset, &[crate::schema::LOADS_TABLE])? {
            return Ok(None);
        }
        let sql = format!(
            "SELECT load_id, strftime(inserted_at, '%Y-%m-%dT%H:%M:%S+00:00') FROM {}.\"_dlt_loads\" \
             WHERE status = 0 AND schema_name = ? ORDER BY load_id DESC LIMIT 1",
            quote_ident(dataset)
        );
        Ok(self
            .data_conn()
            .query_row(&sql, [schema_name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?)
    }

    fn stored_state(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        let tables = [crate::schema::STATE_TABLE, crate::schema::LOADS_TABLE];
        if !self.has_tables(dataset, &tables)? {
            return Ok(None);
        }
        let ds = quote_ident(dataset);
        let sql = format!(
            "SELECT s.state FROM {ds}.\"_dlt_pipeline_state\" s JOIN {ds}.\"_dlt_loads\" l \
             ON l.load_id = s._dlt_load_id WHERE l.status = 0 AND s.pipeline_name = ? \
             ORDER BY l.load_id DESC, s.version DESC LIMIT 1"
        );
        self.query_text(&sql, pipeline)
    }

    fn stored_state_hash(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        if !self.has_tables(dataset, &[crate::schema::STATE_TABLE])? {
            return Ok(None);
        }
        let sql = format!(
            "SELECT version_hash FROM {}.\"_dlt_pipeline_state\" WHERE pipeline_name = ? \
             ORDER BY _dlt_load_id DESC, version DESC LIMIT 1",
            quote_ident(dataset)
        );
        self.query_text(&sql, pipeline)
    }

    fn stored_schema(&self, dataset: &str, schema_name: &str) -> Result<Option<Schema>> {
        if !self.has_tables(dataset, &[crate::schema::VERSION_TABLE])? {
            return Ok(None);
        }
        let sql = format!(
            "SELECT schema FROM {}.\"_dlt_version\" WHERE schema_name = ? \
             ORDER BY inserted_at DESC, version DESC LIMIT 1",
            quote_ident(dataset)
        );
        let Some(text) = self.query_text(&sql, schema_name)? else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("stored schema is not JSON: {e}")))?;
        dlt_dict::from_json(&v)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored schema `{schema_name}`: {e}")))
    }

    fn has_schema_version(&self, dataset: &str, version_hash: &str) -> Result<bool> {
        if !self.has_tables(dataset, &[crate::schema::VERSION_TABLE])? {
            return Ok(false);
        }
        let sql = format!(
            "SELECT count(*) FROM {}.\"_dlt_version\" WHERE version_hash = ?",
            quote_ident(dataset)
        );
        let n: i64 = self
            .data_conn()
            .query_row(&sql, [version_hash], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn begin_load(&mut self, plan: &LoadPlan<'_>) -> Result<()> {
        self.jobs.clear();
        for job in &plan.jobs {
            match self.register_job(&job.path) {
                Ok(view) => self.jobs.push((job.clone(), view)),
                Err(e) => {
                    self.unregister_jobs();
                    self.jobs.clear();
                    return Err(e);
                }
            }
        }
        self.execute("BEGIN TRANSACTION")?;
        self.in_transaction = true;
        // Inserts need not keep the job files' row order (SQL tables have none); dropping it
        // lets DuckDB insert in parallel with far less memory. Merges too: dlt's dedup window
        // (`ORDER BY (SELECT NULL)` without `dedup_sort`) picks an arbitrary duplicate even
        // when the order is kept (in DuckDB 2.0 a third of 1M duplicated keys kept the second
        // row), so keeping it bought nothing but time.
        self.execute("SET preserve_insertion_order = false")?;
        // With dango's default buffer pool, merges get twice as much (and other loads of the
        // same connection go back to the default).
        match (plan.merge_roots.is_empty(), self.merge_memory_limit()) {
            (false, Some(limit)) => {
                self.execute(&format!("SET memory_limit = {}", quote_str(limit)))?
            }
            (true, Some(_)) => self.execute(&format!(
                "SET memory_limit = {}",
                quote_str(&default_memory_limit())
            ))?,
            (_, None) => {}
        }
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
        self.migrate(dataset, schema, existing)
    }

    fn truncate_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        for t in tables {
            self.execute(&format!(
                "DELETE FROM {}.{} WHERE 1=1",
                quote_ident(dataset),
                quote_ident(t)
            ))?;
        }
        Ok(())
    }

    fn prepare_staging(&mut self, staging: &str, schema: &Schema, roots: &[String]) -> Result<()> {
        self.execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(staging)
        ))?;
        // dlt keeps the schema in the staging dataset too (its `drop` deletes it there).
        if let Some(version) = schema.table(crate::schema::VERSION_TABLE) {
            self.execute(&create_table_sql(staging, version, true))?;
            if !self.has_schema_version(staging, &schema.version_hash)? {
                self.store_schema(staging, schema)?;
            }
        }
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
                }
                self.execute(&format!(
                    "DROP TABLE IF EXISTS {}.{}",
                    quote_ident(staging),
                    quote_ident(&t.name)
                ))?;
                self.execute(&create_table_sql(staging, &t, false))?;
            }
        }
        Ok(())
    }

    fn load_job(&mut self, index: usize, _job: &JobFile, dataset: &str) -> Result<()> {
        let (job, view) = self.jobs.get(index).ok_or_else(|| {
            Error::Internal(format!("load job {index} was not registered by begin_load"))
        })?;
        self.insert_view(dataset, &job.table, view, &job.columns)
    }

    fn load_streamed_job(&mut self, job: &JobFile, dataset: &str) -> Result<()> {
        self.single_thread()?;
        let view = self.register_job_late(&job.path)?;
        self.insert_view(dataset, &job.table, &view, &job.columns)
    }

    fn merge_table(
        &mut self,
        dataset: &str,
        staging: &str,
        schema: &Schema,
        root: &str,
        load_id: &str,
    ) -> Result<()> {
        let boundary = package_time_literal(load_id);
        for sql in merge::merge_statements(dataset, staging, schema, root, &boundary)? {
            self.execute(&sql).map_err(|e| match e {
                Error::Destination { reason, .. } => Error::Destination {
                    context: format!("merging into {dataset}.{root}"),
                    reason,
                },
                e => e,
            })?;
        }
        Ok(())
    }

    fn replace_from_staging(&mut self, dataset: &str, staging: &str, table: &Table) -> Result<()> {
        for sql in merge::copy_from_staging(dataset, staging, table) {
            self.execute(&sql)?;
        }
        Ok(())
    }

    fn store_schema(&mut self, dataset: &str, schema: &Schema) -> Result<()> {
        self.execute(&format!(
            "INSERT INTO {}.\"_dlt_version\" (version, engine_version, inserted_at, schema_name, version_hash, schema) \
             VALUES ({}, {}, {}, {}, {}, {})",
            quote_ident(dataset),
            schema.version,
            crate::schema::SCHEMA_ENGINE_VERSION,
            now_literal(),
            quote_str(&schema.name),
            quote_str(&schema.version_hash),
            quote_str(&dlt_dict::to_json_string_compact(schema)),
        ))
    }

    fn store_state(&mut self, dataset: &str, row: &StateRow, load_id: &str) -> Result<()> {
        self.execute(&format!(
            "INSERT INTO {}.\"_dlt_pipeline_state\" (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
             VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            quote_ident(dataset),
            row.version,
            row.engine_version,
            quote_str(&row.pipeline_name),
            quote_str(&row.state),
            now_literal(),
            quote_str(&row.version_hash),
            quote_str(load_id),
            quote_str(&crate::destinations::random_dlt_id()),
        ))
    }

    fn complete_load(&mut self, dataset: &str, load_id: &str, schema: &Schema) -> Result<()> {
        self.execute(&format!(
            "INSERT INTO {}.\"_dlt_loads\" (load_id, schema_name, status, inserted_at, schema_version_hash) \
             VALUES ({}, {}, 0, {}, {})",
            quote_ident(dataset),
            quote_str(load_id),
            quote_str(&schema.name),
            now_literal(),
            quote_str(&schema.version_hash),
        ))
    }

    fn commit_load(&mut self) -> Result<()> {
        let committed = if self.in_transaction {
            self.execute("COMMIT")
        } else {
            Ok(())
        };
        self.in_transaction = false;
        self.unregister_jobs();
        self.jobs.clear();
        self.restore_threads();
        committed
    }

    fn rollback_load(&mut self) {
        if self.in_transaction {
            let _ = self.execute("ROLLBACK");
        }
        self.in_transaction = false;
        self.unregister_jobs();
        self.jobs.clear();
        self.restore_threads();
    }

    fn drop_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        for t in tables {
            self.execute(&format!(
                "DROP TABLE IF EXISTS {}.{}",
                quote_ident(dataset),
                quote_ident(t)
            ))?;
        }
        Ok(())
    }
}

/// Renders a DuckDB value as text.
pub fn render(v: duckdb::types::Value) -> Option<String> {
    use duckdb::types::Value;
    Some(match v {
        Value::Null => return None,
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(i) => i.to_string(),
        Value::SmallInt(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::HugeInt(i) => i.to_string(),
        Value::UTinyInt(i) => i.to_string(),
        Value::USmallInt(i) => i.to_string(),
        Value::UInt(i) => i.to_string(),
        Value::UBigInt(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Text(s) => s,
        Value::Timestamp(unit, n) => {
            let micros = match unit {
                duckdb::types::TimeUnit::Second => n * 1_000_000,
                duckdb::types::TimeUnit::Millisecond => n * 1000,
                duckdb::types::TimeUnit::Microsecond => n,
                duckdb::types::TimeUnit::Nanosecond => n / 1000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| n.to_string())
        }
        other => format!("{other:?}"),
    })
}

//! `impl Destination for FsClient`: not transactional. Each job is one Delta commit (or one
//! Parquet file) made durable before the loader marks the job completed; a resumed load finds
//! its earlier commits by load id and job in the Delta log and skips them. Merge and
//! insert-from-staging jobs are read straight from the package by `merge_table` /
//! `replace_from_staging` (no staging dataset is written).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::bookkeeping as bk;
use super::config::TableFormat;
use super::store::Store;
use super::tables::{self, WriteMode};
use super::{data, delta};
use crate::destinations::{Capabilities, Destination, JobFile, LoadPlan, Sample, StateRow};
use crate::error::{Error, Result};
use crate::schema::{MergeStrategy, Schema, Table};

/// What one package load keeps between calls.
struct LoadCtx {
    load_id: String,
    dataset: String,
    schema: Schema,
    jobs: Vec<JobFile>,
    /// Tables whose rows this load replaces (truncate-and-insert).
    replaced: HashSet<String>,
    /// The state row, written with the `_dlt_loads` row (dlt writes both in `complete_load`).
    state: Option<(StateRow, String)>,
}

/// An open filesystem destination.
pub struct FsClient {
    pub(super) store: Store,
    pub(super) format: TableFormat,
    pub(super) writable: bool,
    load: Option<LoadCtx>,
}

impl FsClient {
    /// A client over `store`.
    pub fn new(store: Store, format: TableFormat, writable: bool) -> FsClient {
        FsClient {
            store,
            format,
            writable,
            load: None,
        }
    }

    fn ctx(&self) -> Result<&LoadCtx> {
        self.load
            .as_ref()
            .ok_or_else(|| Error::Internal("no load is open on the filesystem destination".into()))
    }

    fn is_delta(&self) -> bool {
        self.format == TableFormat::Delta
    }

    /// Where the job files of `table` are now (they move between job folders).
    fn job_paths(&self, table: &str) -> Result<Vec<PathBuf>> {
        let ctx = self.ctx()?;
        let mut out = Vec::new();
        for j in ctx.jobs.iter().filter(|j| j.table == table) {
            let file = j
                .path
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            let pkg = j.path.parent().and_then(|p| p.parent());
            let found = pkg.and_then(|pkg| crate::storage::jobs::locate(pkg, &file));
            out.push(found.map(|(_, p)| p).unwrap_or_else(|| j.path.clone()));
        }
        Ok(out)
    }

    /// Columns of a data table with their destination types.
    fn data_table_columns(
        &self,
        dataset: &str,
        table: &str,
    ) -> Result<Option<Vec<(String, String)>>> {
        let dir = tables::table_dir(dataset, table);
        if self.is_delta() {
            let snap = delta::read_snapshot(&self.store, &dir)?;
            if snap.version.is_none() {
                return Ok(None);
            }
            return Ok(Some(
                snap.columns().into_iter().map(|(n, t, _)| (n, t)).collect(),
            ));
        }
        let files = tables::data_files(&self.store, dataset, table, false)?;
        let Some(last) = files.last() else {
            return Ok(None);
        };
        let batches = self.store.read_parquet(last)?.unwrap_or_default();
        Ok(batches.first().map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), arrow_type_name(f.data_type())))
                .collect()
        }))
    }

    /// Reads a data table's batches (all files).
    fn read_table(
        &self,
        dataset: &str,
        table: &str,
        limit: Option<usize>,
    ) -> Result<Vec<arrow::array::RecordBatch>> {
        let mut out = Vec::new();
        let mut rows = 0;
        for f in tables::data_files(&self.store, dataset, table, self.is_delta())? {
            for b in self.store.read_parquet(&f)?.unwrap_or_default() {
                rows += b.num_rows();
                out.push(b);
            }
            if limit.is_some_and(|n| rows >= n) {
                break;
            }
        }
        Ok(out)
    }

    fn merge_keys(&self, schema: &Schema, table: &Table, root: &str) -> Result<Vec<String>> {
        if table.parent.is_some() {
            let key = table
                .columns
                .values()
                .find(|c| c.unique || c.row_key)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "_dlt_id".into());
            return Ok(vec![key]);
        }
        let keys: Vec<String> = table
            .columns
            .values()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone())
            .collect();
        if keys.is_empty() {
            return Err(Error::Config(format!(
                "table `{root}` of schema `{}` is merged with the `upsert` strategy on Delta, which needs a primary key: add `primary_key` to the resource in .dango/sources.yml, or use write_disposition append or replace",
                schema.name
            )));
        }
        Ok(keys)
    }
}

/// dlt's check of merge strategies on Delta: `upsert` (the default) only.
fn check_strategies(plan: &LoadPlan<'_>) -> Result<()> {
    for root in &plan.merge_roots {
        let Some(t) = plan.schema.table(root) else {
            continue;
        };
        match t.extra.get("x-merge-strategy").and_then(|v| v.as_str()) {
            None => tracing::warn!(
                "table `{root}` has write disposition merge without a strategy: the filesystem destination (Delta) merges with `upsert` on the primary key"
            ),
            Some(s) if MergeStrategy::parse(s) == Some(MergeStrategy::Upsert) => {}
            Some(s) => {
                return Err(Error::Config(format!(
                    "`{s}` merge strategy not supported for table `{root}`. Available strategies: ['upsert'] (the filesystem destination with Delta tables); set `merge_strategy: upsert` on the resource, or load it into DuckDB or Postgres"
                )));
            }
        }
    }
    Ok(())
}

fn arrow_type_name(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as A;
    match t {
        A::Utf8 | A::LargeUtf8 => "string".into(),
        A::Int64 => "long".into(),
        A::Int32 => "integer".into(),
        A::Float64 => "double".into(),
        A::Boolean => "boolean".into(),
        A::Timestamp(..) => "timestamp".into(),
        A::Date32 => "date".into(),
        A::Binary | A::LargeBinary => "binary".into(),
        A::Decimal128(p, s) => format!("decimal({p},{s})"),
        other => other.to_string(),
    }
}

impl Destination for FsClient {
    fn capabilities(&self) -> Capabilities {
        super::capabilities()
    }

    fn health_check(&mut self) -> Result<()> {
        self.store.folders("")?;
        if self.writable {
            let probe = format!(".dango-health-check-{}", delta::uuid4());
            self.store.put(&probe, b"ok".to_vec())?;
            self.store.delete(&probe)?;
        }
        Ok(())
    }

    fn dataset_tables(&self, dataset: &str) -> Result<HashMap<String, Vec<String>>> {
        let mut out = HashMap::new();
        for t in self.store.folders(dataset)? {
            let cols = match bk::dlt_table_columns(&t) {
                Some(cols) => {
                    if self.store.list(&tables::table_dir(dataset, &t))?.is_empty() {
                        continue;
                    }
                    Some(cols)
                }
                None => self.data_table_columns(dataset, &t)?,
            };
            if let Some(cols) = cols {
                out.insert(t, cols.into_iter().map(|(n, _)| n).collect());
            }
        }
        Ok(out)
    }

    fn table_columns(&self, dataset: &str, table: &str) -> Result<Option<Vec<(String, String)>>> {
        match bk::dlt_table_columns(table) {
            Some(cols) => Ok((!self
                .store
                .list(&tables::table_dir(dataset, table))?
                .is_empty())
            .then_some(cols)),
            None => self.data_table_columns(dataset, table),
        }
    }

    fn row_count(&self, dataset: &str, table: &str) -> Result<u64> {
        if bk::dlt_table_columns(table).is_some() {
            return Ok(bk::dlt_table_rows(&self.store, dataset, table)?.len() as u64);
        }
        if self.is_delta() {
            let snap = delta::read_snapshot(&self.store, &tables::table_dir(dataset, table))?;
            if let Some(n) = snap.row_count() {
                return Ok(n);
            }
        }
        let batches = self.read_table(dataset, table, None)?;
        Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
    }

    fn rows_of_load(&self, dataset: &str, table: &str, load_id: &str) -> Result<u64> {
        if bk::dlt_table_columns(table).is_some() {
            return Ok(0);
        }
        let mut n = 0u64;
        for b in self.read_table(dataset, table, None)? {
            let Some(col) = b.column_by_name("_dlt_load_id") else {
                return Ok(0);
            };
            let Some(s) = col.as_any().downcast_ref::<arrow::array::StringArray>() else {
                continue;
            };
            n += s.iter().filter(|v| *v == Some(load_id)).count() as u64;
        }
        Ok(n)
    }

    fn sample(&self, dataset: &str, table: &str, n: usize) -> Result<Sample> {
        if let Some(cols) = bk::dlt_table_columns(table) {
            let names: Vec<String> = cols.into_iter().map(|(c, _)| c).collect();
            let rows = bk::dlt_table_rows(&self.store, dataset, table)?
                .into_iter()
                .take(n)
                .map(|doc| {
                    names
                        .iter()
                        .map(|c| match doc.get(c) {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(s)) => Some(s.clone()),
                            Some(v) => Some(v.to_string()),
                        })
                        .collect()
                })
                .collect();
            return Ok((names, rows));
        }
        let batches = self.read_table(dataset, table, Some(n))?;
        let names = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(data::batch_text(b, n - rows.len()));
            if rows.len() >= n {
                break;
            }
        }
        Ok((names, rows))
    }

    fn has_load(&self, dataset: &str, load_id: &str) -> Result<bool> {
        bk::has_load(&self.store, dataset, load_id)
    }

    fn last_load(&self, dataset: &str, schema_name: &str) -> Result<Option<(String, String)>> {
        bk::last_load(&self.store, dataset, schema_name)
    }

    fn stored_state(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        Ok(bk::stored_state(&self.store, dataset, pipeline, true)?.map(|(s, _)| s))
    }

    fn stored_state_hash(&self, dataset: &str, pipeline: &str) -> Result<Option<String>> {
        Ok(bk::stored_state(&self.store, dataset, pipeline, false)?.map(|(_, h)| h))
    }

    fn stored_schema(&self, dataset: &str, schema_name: &str) -> Result<Option<Schema>> {
        bk::stored_schema(&self.store, dataset, schema_name)
    }

    fn has_schema_version(&self, dataset: &str, version_hash: &str) -> Result<bool> {
        bk::has_schema_version(&self.store, dataset, version_hash)
    }

    fn begin_load(&mut self, plan: &LoadPlan<'_>) -> Result<()> {
        if !self.writable {
            return Err(Error::Internal(
                "the filesystem destination was opened read-only".into(),
            ));
        }
        if self.is_delta() {
            check_strategies(plan)?;
        }
        self.load = Some(LoadCtx {
            load_id: plan.load_id.to_string(),
            dataset: plan.dataset.to_string(),
            schema: plan.schema.clone(),
            jobs: plan.jobs.clone(),
            replaced: HashSet::new(),
            state: None,
        });
        Ok(())
    }

    fn initialize_storage(&mut self, dataset: &str, replace: bool) -> Result<()> {
        if replace {
            self.store.delete_tree(dataset)?;
        }
        bk::write_init(&self.store, dataset)
    }

    fn update_stored_schema(
        &mut self,
        _dataset: &str,
        _schema: &Schema,
        _existing: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        // Delta tables are created (and their schemas evolved) by their first commit of a
        // load; plain Parquet files carry their own schema.
        Ok(Vec::new())
    }

    fn truncate_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        let load_id = self.ctx()?.load_id.clone();
        if self.is_delta() {
            // Overwritten by the table's first commit of this load (remove + add in one
            // commit); tables without new rows are emptied in `complete_load`.
            if let Some(ctx) = self.load.as_mut() {
                ctx.replaced.extend(tables.iter().cloned());
            }
            return Ok(());
        }
        for t in tables {
            tables::parquet_truncate(&self.store, dataset, t, &load_id)?;
        }
        Ok(())
    }

    fn prepare_staging(
        &mut self,
        _staging: &str,
        _schema: &Schema,
        _roots: &[String],
    ) -> Result<()> {
        Ok(())
    }

    fn load_job(&mut self, _index: usize, job: &JobFile, dataset: &str) -> Result<()> {
        let ctx = self.ctx()?;
        if dataset != ctx.dataset {
            // A merge (or insert-from-staging) job: read from the package by merge_table.
            return Ok(());
        }
        let table = tables::schema_table(&ctx.schema, &job.table)?;
        let name = job
            .path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        if !self.is_delta() {
            return tables::parquet_write(&self.store, dataset, table, &job.path, &ctx.load_id);
        }
        let dir = tables::table_dir(dataset, &job.table);
        let mode = if ctx.replaced.contains(&job.table)
            && !delta::read_snapshot(&self.store, &dir)?.has_commit(&ctx.load_id, None)
        {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        };
        let paths = [job.path.clone()];
        tables::delta_write(
            &self.store,
            dataset,
            table,
            &paths,
            mode,
            &ctx.load_id,
            &name,
        )
    }

    fn merge_table(
        &mut self,
        dataset: &str,
        _staging: &str,
        schema: &Schema,
        root: &str,
        load_id: &str,
    ) -> Result<()> {
        let mut chain: Vec<&Table> = vec![tables::schema_table(schema, root)?];
        chain.extend(schema.nested_tables(root));
        for table in chain {
            let paths = self.job_paths(&table.name)?;
            if paths.is_empty() {
                continue;
            }
            if !self.is_delta() {
                // dlt's filesystem destination appends when it cannot merge.
                tracing::warn!(
                    "table `{}`: plain Parquet files cannot be merged; the rows are appended (as dlt does)",
                    table.name
                );
                for p in &paths {
                    tables::parquet_write(&self.store, dataset, table, p, load_id)?;
                }
                continue;
            }
            let keys = self.merge_keys(schema, table, root)?;
            tables::delta_upsert(&self.store, dataset, table, &keys, &paths, load_id)?;
        }
        Ok(())
    }

    fn replace_from_staging(&mut self, dataset: &str, _staging: &str, table: &Table) -> Result<()> {
        let ctx = self.ctx()?;
        let load_id = ctx.load_id.clone();
        let paths = self.job_paths(&table.name)?;
        if !self.is_delta() {
            tables::parquet_truncate(&self.store, dataset, &table.name, &load_id)?;
            for p in &paths {
                tables::parquet_write(&self.store, dataset, table, p, &load_id)?;
            }
            return Ok(());
        }
        if paths.is_empty() {
            return tables::delta_truncate(&self.store, dataset, &table.name, &load_id);
        }
        tables::delta_write(
            &self.store,
            dataset,
            table,
            &paths,
            WriteMode::Overwrite,
            &load_id,
            "replace",
        )
    }

    fn store_schema(&mut self, dataset: &str, schema: &Schema) -> Result<()> {
        bk::store_schema(&self.store, dataset, schema)
    }

    fn store_state(&mut self, _dataset: &str, row: &StateRow, load_id: &str) -> Result<()> {
        match self.load.as_mut() {
            Some(ctx) => {
                ctx.state = Some((row.clone(), load_id.to_string()));
                Ok(())
            }
            None => Err(Error::Internal("store_state outside a load".into())),
        }
    }

    fn complete_load(&mut self, dataset: &str, load_id: &str, schema: &Schema) -> Result<()> {
        let ctx = self.ctx()?;
        if self.is_delta() {
            let mut replaced: Vec<&String> = ctx.replaced.iter().collect();
            replaced.sort();
            for t in replaced {
                tables::delta_truncate(&self.store, dataset, t, load_id)?;
            }
        }
        if let Some((row, state_load)) = &ctx.state {
            bk::store_state(&self.store, dataset, row, state_load, &schema.version_hash)?;
        }
        bk::store_load(&self.store, dataset, load_id, schema)
    }

    fn commit_load(&mut self) -> Result<()> {
        self.load = None;
        Ok(())
    }

    fn rollback_load(&mut self) {
        self.load = None;
    }

    fn drop_tables(&mut self, dataset: &str, tables: &[String]) -> Result<()> {
        for t in tables {
            self.store.delete_tree(&tables::table_dir(dataset, t))?;
        }
        Ok(())
    }

    fn append_sync_history(
        &mut self,
        dataset: &str,
        record: &crate::destinations::history::SyncRecord,
        keep: u64,
    ) -> Result<()> {
        if !self.writable {
            return Err(Error::Internal(
                "the filesystem destination was opened read-only".into(),
            ));
        }
        super::history::append(&self.store, dataset, self.format, record, keep)
    }

    fn sync_history(
        &self,
        dataset: &str,
        source: &str,
        limit: usize,
    ) -> Result<Vec<crate::destinations::history::SyncRecord>> {
        super::history::read(&self.store, dataset, self.format, source, limit)
    }
}

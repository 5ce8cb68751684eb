//! Load: commits a normalized package to the destination in one transaction.
//!
//! The transaction holds the schema migration, the truncation of replaced tables, every job's
//! rows, the `_dlt_version` row (if the schema is new), the `_dlt_pipeline_state` row (if the
//! state changed) and the `_dlt_loads` row. Only after `COMMIT` does the package move to
//! `load/loaded/`. If the process dies after the commit but before the move, the next run finds
//! the load id in `_dlt_loads` and only finishes the move, so nothing is loaded twice.

pub mod destinations;
pub mod merge;

use crate::error::{Error, Result};
use crate::schema::WriteDisposition;
use crate::schema::{Schema, dlt_dict};
use crate::state::{PipelineState, STATE_ENGINE_VERSION};
use crate::storage::{self, NormalizedManifest, PipelineDir, read_json};
use destinations::duckdb::{DuckDbClient, create_table_sql, quote_ident, quote_str};

/// What loading one package did.
#[derive(Debug, Clone)]
pub struct LoadedPackage {
    /// The package manifest (jobs with tables, files, sizes, rows).
    pub manifest: NormalizedManifest,
    /// Schema of the package.
    pub schema: Schema,
    /// DDL statements that ran.
    pub migrations: Vec<String>,
    /// True when the package had already been committed by an earlier, interrupted run.
    pub already_committed: bool,
}

fn now_literal() -> String {
    let now = chrono::Utc::now();
    format!(
        "'{}'::TIMESTAMP WITH TIME ZONE",
        now.format("%Y-%m-%d %H:%M:%S%.6f+00:00")
    )
}

/// Reads the schema stored in a normalized package.
pub fn package_schema(dir: &PipelineDir, load_id: &str) -> Result<Schema> {
    let path = dir.normalized(load_id).join("schema.json");
    let v: serde_json::Value = read_json(&path)?;
    dlt_dict::from_json(&v).map_err(|reason| Error::Corrupt { path, reason })
}

/// How tables with write disposition `replace` are loaded (dlt's
/// `[destination] replace_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplaceStrategy {
    /// Empty the table and its nested tables (`DELETE … WHERE 1=1`), then insert (dlt's
    /// default).
    #[default]
    TruncateAndInsert,
    /// Load into `<dataset>_staging`, then empty each table and copy the staging rows over.
    /// dlt's `staging-optimized` does the same on DuckDB.
    InsertFromStaging,
}

impl std::str::FromStr for ReplaceStrategy {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s {
            "truncate-and-insert" => Ok(ReplaceStrategy::TruncateAndInsert),
            "insert-from-staging" | "staging-optimized" => Ok(ReplaceStrategy::InsertFromStaging),
            _ => Err(()),
        }
    }
}

/// Options of [`load_package_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Full refresh: drop the whole dataset (tables and dlt system tables) inside the load
    /// transaction before creating it anew, so the old data stays until the new load commits.
    pub replace_dataset: bool,
    /// How `replace` tables are loaded.
    pub replace_strategy: ReplaceStrategy,
}

/// Loads the normalized package `load_id` into `dataset`, committing `state` with it.
pub fn load_package(
    dir: &PipelineDir,
    load_id: &str,
    client: &mut DuckDbClient,
    dataset: &str,
    state: &PipelineState,
) -> Result<LoadedPackage> {
    load_package_with(dir, load_id, client, dataset, state, LoadOptions::default())
}

/// [`load_package`] with options.
pub fn load_package_with(
    dir: &PipelineDir,
    load_id: &str,
    client: &mut DuckDbClient,
    dataset: &str,
    state: &PipelineState,
    opts: LoadOptions,
) -> Result<LoadedPackage> {
    let pkg = dir.normalized(load_id);
    let manifest: NormalizedManifest = read_json(&pkg.join("package.json"))?;
    let schema = package_schema(dir, load_id)?;

    if client.has_load(dataset, load_id)? {
        finish_package(dir, load_id)?;
        return Ok(LoadedPackage {
            manifest,
            schema,
            migrations: Vec::new(),
            already_committed: true,
        });
    }

    let existing = if opts.replace_dataset {
        std::collections::HashMap::new()
    } else {
        client.dataset_tables(dataset)?
    };
    let version_known = existing.contains_key(crate::schema::VERSION_TABLE) && {
        let sql = format!(
            "SELECT count(*) FROM {}.\"_dlt_version\" WHERE version_hash = ?",
            quote_ident(dataset)
        );
        let n: i64 = client
            .conn()
            .query_row(&sql, [&schema.version_hash], |r| r.get(0))?;
        n > 0
    };
    let last_state_hash: Option<String> = if existing.contains_key(crate::schema::STATE_TABLE) {
        let sql = format!(
            "SELECT version_hash FROM {}.\"_dlt_pipeline_state\" WHERE pipeline_name = ? \
             ORDER BY _dlt_load_id DESC, version DESC LIMIT 1",
            quote_ident(dataset)
        );
        let name = state
            .doc()
            .get("pipeline_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        match client
            .conn()
            .query_row(&sql, [&name], |r| r.get::<_, Option<String>>(0))
        {
            Ok(h) => h,
            Err(duckdb::Error::QueryReturnedNoRows) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };

    let mut views = Vec::with_capacity(manifest.jobs.len());
    for job in &manifest.jobs {
        let path = pkg.join("new_jobs").join(&job.file);
        match client.register_job(&path) {
            Ok(v) => views.push(v),
            Err(e) => {
                client.unregister_jobs();
                return Err(e);
            }
        }
    }
    client.execute("BEGIN TRANSACTION")?;
    let result = (|| -> Result<Vec<String>> {
        if opts.replace_dataset {
            client.execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(dataset)
            ))?;
        }
        client.execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(dataset)
        ))?;
        let migrations = client.migrate(dataset, &schema, &existing)?;
        let from_staging = opts.replace_strategy == ReplaceStrategy::InsertFromStaging;
        for t in manifest.truncate_tables.iter().filter(|_| !from_staging) {
            if existing.contains_key(t) {
                client.execute(&format!(
                    "DELETE FROM {}.{} WHERE 1=1",
                    quote_ident(dataset),
                    quote_ident(t)
                ))?;
            }
        }
        // Merge tables load into the staging dataset first, then merge from there.
        let staging = format!("{dataset}_staging");
        let merge_roots = merge_roots(&schema, &manifest);
        // Inserts need not keep the job files' row order (SQL tables have none); dropping it
        // lets DuckDB insert in parallel with far less memory. Merges too: dlt's dedup window
        // (`ORDER BY (SELECT NULL)` without `dedup_sort`) picks an arbitrary duplicate even
        // when the order is kept (in DuckDB 2.0 a third of 1M duplicated keys kept the second
        // row), so keeping it bought nothing but time.
        client.execute("SET preserve_insertion_order = false")?;
        // With dango's default buffer pool, merges get twice as much (and other loads of the
        // same connection go back to the default).
        match (merge_roots.is_empty(), client.merge_memory_limit()) {
            (false, Some(limit)) => {
                client.execute(&format!("SET memory_limit = {}", quote_str(limit)))?
            }
            (true, Some(_)) => client.execute(&format!(
                "SET memory_limit = {}",
                quote_str(&destinations::duckdb::default_memory_limit())
            ))?,
            (_, None) => {}
        }
        let replace_roots = if from_staging {
            replace_roots(&schema, &manifest)
        } else {
            Vec::new()
        };
        let staged: Vec<String> = merge_roots.iter().chain(&replace_roots).cloned().collect();
        if !staged.is_empty() {
            prepare_staging(client, &staging, &schema, &staged)?;
        }
        for (job, view) in manifest.jobs.iter().zip(&views) {
            let root = schema.root_table(&job.table);
            let target = if staged.iter().any(|r| r == root) {
                &staging
            } else {
                dataset
            };
            client.insert_view(target, &job.table, view, &job.columns)?;
        }
        let boundary = package_time_literal(load_id);
        for root in &merge_roots {
            for sql in merge::merge_statements(dataset, &staging, &schema, root, &boundary)? {
                client.execute(&sql).map_err(|e| match e {
                    Error::Destination { reason, .. } => Error::Destination {
                        context: format!("merging into {dataset}.{root}"),
                        reason,
                    },
                    e => e,
                })?;
            }
        }
        // insert-from-staging: each replaced table (nested ones too, even without new rows) is
        // emptied and refilled from staging.
        for t in manifest.truncate_tables.iter().filter(|_| from_staging) {
            let Some(table) = schema.table(t).filter(|t| t.has_complete_columns()) else {
                continue;
            };
            for sql in merge::copy_from_staging(dataset, &staging, table) {
                client.execute(&sql)?;
            }
        }
        let ds = quote_ident(dataset);
        if !version_known {
            client.execute(&format!(
                "INSERT INTO {ds}.\"_dlt_version\" (version, engine_version, inserted_at, schema_name, version_hash, schema) \
                 VALUES ({}, {}, {}, {}, {}, {})",
                schema.version,
                crate::schema::SCHEMA_ENGINE_VERSION,
                now_literal(),
                quote_str(&schema.name),
                quote_str(&schema.version_hash),
                quote_str(&dlt_dict::to_json_string_compact(&schema)),
            ))?;
        }
        let state_hash = state.stored_hash().to_string();
        if last_state_hash.as_deref() != Some(state_hash.as_str()) {
            let name = state
                .doc()
                .get("pipeline_name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            client.execute(&format!(
                "INSERT INTO {ds}.\"_dlt_pipeline_state\" (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
                 VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                state.state_version(),
                STATE_ENGINE_VERSION,
                quote_str(&name),
                quote_str(&state.compressed()),
                now_literal(),
                quote_str(&state_hash),
                quote_str(load_id),
                quote_str(&random_dlt_id()),
            ))?;
        }
        client.execute(&format!(
            "INSERT INTO {ds}.\"_dlt_loads\" (load_id, schema_name, status, inserted_at, schema_version_hash) \
             VALUES ({}, {}, 0, {}, {})",
            quote_str(load_id),
            quote_str(&schema.name),
            now_literal(),
            quote_str(&schema.version_hash),
        ))?;
        Ok(migrations)
    })();
    let migrations = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = client.execute("ROLLBACK");
            client.unregister_jobs();
            return Err(e);
        }
    };
    crate::fault::point("load_before_commit");
    let committed = client.execute("COMMIT");
    client.unregister_jobs();
    committed?;
    crate::fault::point("load_after_commit");
    finish_package(dir, load_id)?;
    Ok(LoadedPackage {
        manifest,
        schema,
        migrations,
        already_committed: false,
    })
}

/// Root tables with write disposition `merge` that have jobs in the package.
fn merge_roots(schema: &Schema, manifest: &NormalizedManifest) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for job in &manifest.jobs {
        let root = schema.root_table(&job.table).to_string();
        if schema.write_disposition(&root) == WriteDisposition::Merge && !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// Root tables with write disposition `replace` in the package (their tables are in
/// `truncate_tables`).
fn replace_roots(schema: &Schema, manifest: &NormalizedManifest) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for t in &manifest.truncate_tables {
        let root = schema.root_table(t).to_string();
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// (Re)creates the staging tables of the merge roots and their nested tables, empty, with the
/// package schema's columns. Runs inside the load transaction.
fn prepare_staging(
    client: &DuckDbClient,
    staging: &str,
    schema: &Schema,
    roots: &[String],
) -> Result<()> {
    client.execute(&format!(
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
            }
            client.execute(&format!(
                "DROP TABLE IF EXISTS {}.{}",
                quote_ident(staging),
                quote_ident(&t.name)
            ))?;
            client.execute(&create_table_sql(staging, &t, false))?;
        }
    }
    Ok(())
}

/// The package creation time (from the load id, unix seconds) as a `TIMESTAMP WITH TIME ZONE`
/// literal: dlt's scd2 validity boundary.
fn package_time_literal(load_id: &str) -> String {
    let secs: f64 = load_id.parse().unwrap_or(0.0);
    let micros = (secs * 1e6).round() as i64;
    let ts = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    format!(
        "'{}'::TIMESTAMP WITH TIME ZONE",
        ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00")
    )
}

/// Moves a committed package to `load/loaded/` and marks it completed.
fn finish_package(dir: &PipelineDir, load_id: &str) -> Result<()> {
    let from = dir.normalized(load_id);
    let to = dir.loaded(load_id);
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| Error::io(&to, e))?;
    }
    storage::publish(&from, &to)?;
    storage::write_atomic(&to.join("package_completed.json"), b"\"loaded\"")?;
    Ok(())
}

/// A random 14-character `_dlt_id`.
pub fn random_dlt_id() -> String {
    use base64::Engine;
    let bytes: [u8; 10] = rand::random();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

//! The `local_files` source: JSON lines, JSON arrays, CSV and Parquet files from a local
//! directory.
//!
//! Files are read by the readers of `type: filesystem` (CSV typed by DuckDB's `read_csv`,
//! Parquet as Arrow batches, `.gz` through gzip) with its options (`format`, `compression`,
//! `csv`, `track_files`, `on_deleted`); the table is replaced on each sync by default. A
//! block with `incremental` reads `.jsonl` / `.ndjson` / `.json` / `.csv` here instead, item by
//! item through the cursor (`read`).
//!
//! Modules: `config` (the `local_files:` block), `read` (the incremental resource).

mod config;
mod read;
#[cfg(test)]
mod tests;

pub use crate::sources::filesystem::config::Columns;
pub use config::LocalFilesConfig;
pub use read::FilesResource;

use std::path::Path;

use serde_norway::Value;

use crate::config::Env;
use crate::config::env::substitute;
use crate::error::{Error, Result};
use crate::incremental::IncrementalConfig;
use crate::schema::WriteDisposition;
use crate::sources::Source;
use crate::sources::filesystem::config::{Compression, CsvOptions, OnDeleted, settle};
use crate::sources::filesystem::store::Store;
use crate::sources::filesystem::{FilesystemResource, with_file_tracking};
use crate::sources::registry::missing_var_error;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, typed_block,
};
use crate::storage::ResourceHints;

/// The registry entry of `type: local_files`.
pub struct LocalFilesType;

impl SourceType for LocalFilesType {
    fn name(&self) -> &'static str {
        "local_files"
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<LocalFilesConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>> {
        let mut cfg: LocalFilesConfig = typed_block(block).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: local_files: {e}. Fix it in .dango/sources.yml"
            ))
        })?;
        // `${VAR}` in the paths and the table name.
        let mut missing = Vec::new();
        for s in [&mut cfg.directory, &mut cfg.file_pattern] {
            let (v, m) = substitute(s, env);
            *s = v;
            missing.extend(m);
        }
        if let Some(t) = cfg.table_name.as_mut() {
            let (v, m) = substitute(t, env);
            *t = v;
            missing.extend(m);
        }
        if let Some(var) = missing.first() {
            return Err(missing_var_error(source, var));
        }
        Ok(Box::new(cfg))
    }

    fn write_disposition(&self, block: Option<&Value>) -> String {
        block
            .and_then(|b| typed_block::<LocalFilesConfig>(b).ok())
            .and_then(|c| c.write_disposition)
            .map(|w| w.disposition.as_str().to_string())
            .unwrap_or_else(|| "replace".into())
    }
}

impl SourceConfig for LocalFilesConfig {
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan> {
        let files = self.matching_files(cx.project_root)?;
        let table = self
            .table_name
            .clone()
            .unwrap_or_else(|| source.to_string());
        let mut plan = Plan {
            summary: format!("{} file(s) match", files.len()),
            lines: vec![format!("{} file(s) into table {table}", files.len())],
            ..Plan::default()
        };
        plan.lines
            .extend(files.iter().map(|f| format!("  {}", f.display())));
        plan.details
            .insert("files".into(), serde_json::json!(files));
        plan.details
            .insert("table".into(), serde_json::json!(table));
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        build(source, self, cx.project_root)
    }
}

/// File formats understood by `local_files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON document per line.
    JsonLines,
    /// A JSON array of items (or one item).
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

impl FileFormat {
    /// The format for a file name, from its extension.
    pub fn from_path(p: &Path) -> Option<FileFormat> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(FileFormat::JsonLines),
            "json" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

/// Builds the source `name` from its config; `base` resolves a relative directory.
pub fn build(name: &str, cfg: &LocalFilesConfig, base: &Path) -> Result<Source> {
    if let Some(c) = &cfg.schema_contract {
        crate::schema::contract::SchemaContract::parse(c).map_err(|e| {
            Error::Config(format!(
                "source `{name}`: local_files.{e}. Fix it in .dango/sources.yml"
            ))
        })?;
    }
    let files = cfg.matching_files(base)?;
    let table = cfg.table_name.clone().unwrap_or_else(|| name.to_string());
    let hints = ResourceHints {
        name: table.clone(),
        table_name: table,
        write_disposition: cfg
            .write_disposition
            .as_ref()
            .map(|w| w.disposition)
            .unwrap_or(WriteDisposition::Replace),
        merge_strategy: cfg.write_disposition.as_ref().and_then(|w| w.strategy),
        validity_column_names: cfg
            .write_disposition
            .as_ref()
            .and_then(|w| w.validity_column_names.clone()),
        primary_key: cfg
            .primary_key
            .clone()
            .map(|k| k.into_vec())
            .unwrap_or_default(),
        merge_key: cfg
            .merge_key
            .clone()
            .map(|k| k.into_vec())
            .unwrap_or_default(),
        columns: cfg.columns.clone().unwrap_or_default(),
        schema_contract: cfg.schema_contract.clone(),
        ..ResourceHints::default()
    };
    let what = format!("source `{name}`: local_files");
    cfg.csv.check(&what)?;
    if let Some(inc) = &cfg.incremental {
        // Items pass through the cursor one by one: the JSON readers of this module.
        if cfg.track_files.is_some()
            || cfg.on_deleted != OnDeleted::Keep
            || cfg.format.is_some()
            || cfg.compression != Compression::Auto
            || cfg.csv != CsvOptions::default()
        {
            return Err(Error::Config(format!(
                "{what}: `incremental` cannot be combined with track_files, on_deleted, format, compression or csv. Remove one of them"
            )));
        }
        let resource = FilesResource {
            hints,
            files,
            incremental: Some(IncrementalConfig::parse(
                inc,
                &format!("source `{name}`: local_files.incremental"),
            )?),
        };
        return Ok(Source::new(name, vec![Box::new(resource)]));
    }
    // The readers and change tracking of `type: filesystem`.
    let settled = settle(
        cfg.write_disposition.as_ref(),
        WriteDisposition::Replace,
        // Opt-in here: an append source reloads every file on each sync, as it always did.
        Some(
            cfg.track_files
                .unwrap_or(cfg.on_deleted == OnDeleted::DeleteRows),
        ),
        cfg.on_deleted,
        &what,
    )?;
    let glob = glob::Pattern::new(&cfg.file_pattern)
        .map_err(|e| Error::Config(format!("invalid file_pattern `{}`: {e}", cfg.file_pattern)))?;
    let resource = FilesystemResource::new(
        with_file_tracking(hints, &settled),
        Store::Local {
            root: cfg.directory(base),
        },
        glob,
        &cfg.file_pattern,
        (cfg.format, cfg.compression, cfg.csv.clone()),
        settled,
    );
    Ok(Source::new(name, vec![Box::new(resource)]))
}

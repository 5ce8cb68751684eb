//! The `filesystem` source: CSV, JSON lines, JSON and Parquet files from a local directory or
//! an S3 bucket, with change tracking (dlt's `filesystem` source and its readers).
//!
//! Modules: `config` (the `filesystem:` block and the options `csv` / `local_files` share),
//! `store` (listing and fetching, local and S3), `s3` (the S3 client from secrets), `read`
//! (the readers), `resource` (the resource and its change tracking).

pub mod config;
pub mod dango_csv;
mod read;
mod resource;
mod s3;
pub mod store;
#[cfg(test)]
mod tests;

pub use config::FilesystemConfig;
pub use resource::{DELETED, FilesystemResource};

use serde_norway::Value;

use crate::config::Env;
use crate::config::env::substitute;
use crate::error::{Error, Result};
use crate::schema::WriteDisposition;
use crate::sources::Source;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, missing_var_error,
    typed_block,
};
use crate::storage::ResourceHints;

/// The registry entry of `type: filesystem`.
pub struct FilesystemType;

impl SourceType for FilesystemType {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<FilesystemConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>> {
        let mut cfg: FilesystemConfig = typed_block(block).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: filesystem: {e}. Fix it in .dango/sources.yml"
            ))
        })?;
        let mut missing = Vec::new();
        for s in [&mut cfg.bucket_url, &mut cfg.file_glob] {
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
        cfg.csv.check(&format!("source `{source}`: filesystem"))?;
        Ok(Box::new(cfg))
    }

    fn write_disposition(&self, block: Option<&Value>) -> String {
        block
            .and_then(|b| typed_block::<FilesystemConfig>(b).ok())
            .and_then(|c| c.write_disposition)
            .map(|w| w.disposition.as_str().to_string())
            .unwrap_or_else(|| "append".into())
    }
}

impl FilesystemConfig {
    fn glob(&self, source: &str) -> Result<glob::Pattern> {
        glob::Pattern::new(&self.file_glob).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: invalid file_glob `{}`: {e}. Fix it in .dango/sources.yml",
                self.file_glob
            ))
        })
    }

    fn settled(&self, source: &str) -> Result<config::Settled> {
        config::settle(
            self.write_disposition.as_ref(),
            WriteDisposition::Append,
            self.track_files,
            self.on_deleted,
            &format!("source `{source}`: filesystem"),
        )
    }
}

impl SourceConfig for FilesystemConfig {
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan> {
        let settled = self.settled(source)?;
        let glob = self.glob(source)?;
        let store = store::Store::open(&self.bucket_url, source, cx)?;
        let files = store.list(&glob)?;
        if files.is_empty() && !settled.track_files {
            return Err(resource::no_files(&store, &self.file_glob));
        }
        let table = self.table_name.clone().unwrap_or_else(|| source.into());
        let mut plan = Plan {
            summary: format!("{} file(s) match", files.len()),
            lines: vec![format!(
                "{} file(s) into table {table}{}",
                files.len(),
                if settled.track_files {
                    " (only new and changed files load)"
                } else {
                    ""
                }
            )],
            ..Plan::default()
        };
        plan.lines.extend(
            files
                .iter()
                .map(|f| format!("  {}", store.describe(&f.rel))),
        );
        let names: Vec<String> = files.iter().map(|f| store.describe(&f.rel)).collect();
        plan.details
            .insert("files".into(), serde_json::json!(names));
        plan.details
            .insert("table".into(), serde_json::json!(table));
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        let settled = self.settled(source)?;
        let glob = self.glob(source)?;
        let store = store::Store::open(&self.bucket_url, source, cx)?;
        let table = self.table_name.clone().unwrap_or_else(|| source.into());
        let primary_key = self
            .primary_key
            .clone()
            .map(|k| k.into_vec())
            .unwrap_or_default();
        let hints = file_hints(&table, &settled, primary_key);
        let r = FilesystemResource::new(
            hints,
            store,
            glob,
            &self.file_glob,
            (self.format, self.compression, self.csv.clone()),
            settled,
        );
        Ok(Source::new(source, vec![Box::new(r)]))
    }
}

/// The hints of a file resource loading into `table`: with `delete_rows`, a merge on the
/// `file_name` merge key with the hard-delete marker column.
pub fn file_hints(table: &str, s: &config::Settled, primary_key: Vec<String>) -> ResourceHints {
    let hints = ResourceHints {
        name: table.into(),
        table_name: table.into(),
        write_disposition: s.disposition,
        merge_strategy: s.strategy,
        primary_key,
        ..ResourceHints::default()
    };
    with_file_tracking(hints, s)
}

/// `hints` with what `on_deleted: delete_rows` needs: a merge on the `file_name` merge key,
/// key columns nullable for the marker rows, and the hard-delete marker column.
pub fn with_file_tracking(mut hints: ResourceHints, s: &config::Settled) -> ResourceHints {
    if s.delete_rows {
        // The marker rows of deleted files have no key: the key columns stay nullable.
        for k in &hints.primary_key {
            hints
                .columns
                .insert(k.clone(), serde_json::json!({"nullable": true}));
        }
        hints.write_disposition = WriteDisposition::Merge;
        hints.merge_key = vec![read::FILE_NAME.into()];
        hints.columns.insert(
            read::FILE_NAME.into(),
            serde_json::json!({"data_type": "text", "merge_key": true}),
        );
        hints.columns.insert(
            DELETED.into(),
            serde_json::json!({"data_type": "bool", "hard_delete": true}),
        );
    }
    hints
}

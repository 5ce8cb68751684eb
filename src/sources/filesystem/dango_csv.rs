//! Dango's `type: csv` (the `csv:` block of Dango 1.0): CSV files from a local directory,
//! read and tracked as `type: filesystem` does.
//!
//! Dango's `deduplication_strategy` becomes a write disposition: `latest_only` (Dango's
//! default) merges on `primary_key` (the newest row per key by `timestamp_column` wins), or
//! replaces the table when there is no key; `append_only` appends; `none` replaces;
//! `scd_type2` merges with dlt's `scd2` strategy on `primary_key`.

use serde::{Deserialize, Serialize};
use serde_norway::Value;

use super::config::{Compression, CsvOptions, Format, OnDeleted, Settled, settle};
use super::resource::FilesystemResource;
use super::store::Store;
use crate::config::Env;
use crate::config::env::substitute;
use crate::error::{Error, Result};
use crate::schema::{MergeStrategy, WriteDisposition};
use crate::sources::Source;
use crate::sources::WriteDispositionConfig;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, missing_var_error,
    typed_block,
};

/// The `csv` block (Dango's names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DangoCsvConfig {
    /// Directory holding the CSV files; relative paths are resolved from the project root.
    pub directory: String,
    /// Glob for the files in `directory` (`*.csv` by default; `**/` searches subfolders).
    #[serde(default = "default_pattern")]
    pub file_pattern: String,
    /// `latest_only` (default), `append_only`, `none` or `scd_type2`.
    #[serde(default)]
    pub deduplication_strategy: Dedup,
    /// Primary key column (for `latest_only` and `scd_type2`).
    #[serde(default)]
    pub primary_key: Option<String>,
    /// With `latest_only`: the column whose newest (`timestamp_sort: desc`) value wins among
    /// rows with the same key.
    #[serde(default)]
    pub timestamp_column: Option<String>,
    /// `desc` (default: the latest row wins) or `asc`.
    #[serde(default)]
    pub timestamp_sort: Option<String>,
    /// Free text for people (how to regenerate the files); not used.
    #[serde(default)]
    pub notes: Option<String>,
    /// Table to load into; defaults to the source name.
    #[serde(default)]
    pub table_name: Option<String>,
    /// `auto` (gzip when the name ends in `.gz`), `gzip` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// CSV options (`delimiter`, `quote`, `header`, `encoding`); detected when unset.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Load only new and changed files (default: on unless the table is replaced).
    #[serde(default)]
    pub track_files: Option<bool>,
    /// `keep` (default) or `delete_rows`.
    #[serde(default)]
    pub on_deleted: OnDeleted,
}

fn default_pattern() -> String {
    "*.csv".into()
}

/// Dango's deduplication strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedup {
    /// No deduplication: the table is replaced by the current files.
    None,
    /// One row per primary key, the latest winning.
    #[default]
    LatestOnly,
    /// Every row is appended.
    AppendOnly,
    /// History of every key (dlt's scd2).
    ScdType2,
}

impl DangoCsvConfig {
    fn disposition(&self, source: &str) -> Result<WriteDispositionConfig> {
        let (disposition, strategy) = match (self.deduplication_strategy, &self.primary_key) {
            (Dedup::None, _) | (Dedup::LatestOnly, None) => (WriteDisposition::Replace, None),
            (Dedup::AppendOnly, _) => (WriteDisposition::Append, None),
            (Dedup::LatestOnly, Some(_)) => (WriteDisposition::Merge, None),
            (Dedup::ScdType2, Some(_)) => (WriteDisposition::Merge, Some(MergeStrategy::Scd2)),
            (Dedup::ScdType2, None) => {
                return Err(Error::Config(format!(
                    "source `{source}`: csv.deduplication_strategy scd_type2 needs primary_key. Add it in .dango/sources.yml"
                )));
            }
        };
        Ok(WriteDispositionConfig {
            disposition,
            strategy,
            validity_column_names: None,
        })
    }

    fn settled(&self, source: &str) -> Result<Settled> {
        let wd = self.disposition(source)?;
        settle(
            Some(&wd),
            wd.disposition,
            self.track_files,
            self.on_deleted,
            &format!("source `{source}`: csv"),
        )
    }

    fn glob(&self, source: &str) -> Result<glob::Pattern> {
        glob::Pattern::new(&self.file_pattern).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: invalid csv.file_pattern `{}`: {e}",
                self.file_pattern
            ))
        })
    }
}

/// The registry entry of Dango's `type: csv`.
pub struct DangoCsvType;

impl SourceType for DangoCsvType {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<DangoCsvConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>> {
        let mut cfg: DangoCsvConfig = typed_block(block).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: csv: {e}. Fix it in .dango/sources.yml"
            ))
        })?;
        let mut missing = Vec::new();
        for s in [&mut cfg.directory, &mut cfg.file_pattern] {
            let (v, m) = substitute(s, env);
            *s = v;
            missing.extend(m);
        }
        if let Some(var) = missing.first() {
            return Err(missing_var_error(source, var));
        }
        if let Some(s) = &cfg.timestamp_sort
            && s != "asc"
            && s != "desc"
        {
            return Err(Error::Config(format!(
                "source `{source}`: csv.timestamp_sort must be asc or desc, got `{s}`"
            )));
        }
        cfg.csv.check(&format!("source `{source}`: csv"))?;
        Ok(Box::new(cfg))
    }

    fn write_disposition(&self, block: Option<&Value>) -> String {
        block
            .and_then(|b| typed_block::<DangoCsvConfig>(b).ok())
            .and_then(|c| c.disposition("").ok())
            .map(|w| w.disposition.as_str().to_string())
            .unwrap_or_else(|| "replace".into())
    }
}

impl SourceConfig for DangoCsvConfig {
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan> {
        let settled = self.settled(source)?;
        let store = Store::open(&self.directory, source, cx)?;
        let files = store.list(&self.glob(source)?)?;
        if files.is_empty() && !settled.track_files {
            return Err(super::resource::no_files(&store, &self.file_pattern));
        }
        let table = self.table_name.clone().unwrap_or_else(|| source.into());
        let mut plan = Plan {
            summary: format!("{} file(s) match", files.len()),
            lines: vec![format!("{} file(s) into table {table}", files.len())],
            ..Plan::default()
        };
        plan.lines.extend(
            files
                .iter()
                .map(|f| format!("  {}", store.describe(&f.rel))),
        );
        plan.details
            .insert("table".into(), serde_json::json!(table));
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        let settled = self.settled(source)?;
        let store = Store::open(&self.directory, source, cx)?;
        let table = self.table_name.clone().unwrap_or_else(|| source.into());
        let mut hints =
            super::file_hints(&table, &settled, self.primary_key.iter().cloned().collect());
        if settled.disposition == WriteDisposition::Merge
            && let Some(ts) = &self.timestamp_column
        {
            let dir = self.timestamp_sort.as_deref().unwrap_or("desc");
            let entry = hints
                .columns
                .entry(ts.clone())
                .or_insert_with(|| serde_json::json!({}));
            if let Some(m) = entry.as_object_mut() {
                m.insert("dedup_sort".into(), serde_json::json!(dir));
            }
        }
        let r = FilesystemResource::new(
            hints,
            store,
            self.glob(source)?,
            &self.file_pattern,
            (Some(Format::Csv), self.compression, self.csv.clone()),
            settled,
        );
        Ok(Source::new(source, vec![Box::new(r)]))
    }
}

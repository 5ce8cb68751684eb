//! Configuration of the `local_files` source (the `local_files:` block in sources.yml).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sources::WriteDispositionConfig;
use crate::sources::filesystem::config::{Columns, Compression, CsvOptions, Format, OnDeleted};

/// The `local_files` block.
///
/// ```yaml
/// local_files:
///   directory: data/orders      # relative to the project
///   file_pattern: "*.jsonl"     # glob, matched against file names in `directory`
///   table_name: orders          # default: the source name
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFilesConfig {
    /// Directory holding the files; relative paths are resolved from the project root.
    pub directory: String,
    /// Glob for file names in `directory` (`*` by default). `**/` patterns search subfolders.
    #[serde(default = "default_pattern")]
    pub file_pattern: String,
    /// Table to load into; defaults to the source name.
    #[serde(default)]
    pub table_name: Option<String>,
    /// Write disposition; `replace` by default (each sync reloads all files). dlt's dict form
    /// selects a merge strategy: `{disposition: merge, strategy: upsert}`.
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Primary key column(s).
    #[serde(default)]
    pub primary_key: Option<Columns>,
    /// Merge key column(s).
    #[serde(default)]
    pub merge_key: Option<Columns>,
    /// Column hints by column name, in dlt's form (`{data_type: bigint, hard_delete: true,
    /// dedup_sort: desc, …}`).
    #[serde(default)]
    pub columns: Option<serde_json::Map<String, serde_json::Value>>,
    /// dlt's incremental (`{cursor_path, initial_value, end_value, last_value_func,
    /// row_order, range_start, range_end, on_cursor_value_missing, lag, primary_key}`): only
    /// items past the stored cursor are loaded.
    #[serde(default)]
    pub incremental: Option<serde_json::Value>,
    /// dlt's `schema_contract`: a mode (`evolve`, `freeze`, `discard_row`, `discard_value`) or
    /// `{tables: …, columns: …, data_type: …}`.
    #[serde(default)]
    pub schema_contract: Option<serde_json::Value>,
    /// `csv`, `jsonl`, `json` or `parquet`; by default from each file's extension (as in
    /// `type: filesystem`).
    #[serde(default)]
    pub format: Option<Format>,
    /// `auto` (gzip when the name ends in `.gz`, the default), `gzip` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// CSV options (`delimiter`, `quote`, `header`, `encoding`); detected when unset.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Load only new and changed files (see `type: filesystem`). Default: off (each sync
    /// reads every file).
    #[serde(default)]
    pub track_files: Option<bool>,
    /// `keep` (default) or `delete_rows`: remove the rows of deleted files.
    #[serde(default)]
    pub on_deleted: OnDeleted,
}

fn default_pattern() -> String {
    "*".to_string()
}

impl LocalFilesConfig {
    /// Resolved directory.
    pub fn directory(&self, base: &Path) -> PathBuf {
        let d = Path::new(&self.directory);
        if d.is_absolute() {
            d.to_path_buf()
        } else {
            base.join(d)
        }
    }

    /// Files matching the pattern, sorted by path. Errors when the directory is missing or
    /// nothing matches.
    pub fn matching_files(&self, base: &Path) -> Result<Vec<PathBuf>> {
        let dir = self.directory(base);
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "local_files directory {} does not exist. Create it or fix `directory` in .dango/sources.yml",
                dir.display()
            )));
        }
        let pattern = dir.join(&self.file_pattern);
        let pattern_str = pattern.to_string_lossy().into_owned();
        let paths = glob::glob(&pattern_str).map_err(|e| {
            Error::Config(format!("invalid file_pattern `{}`: {e}", self.file_pattern))
        })?;
        let mut files: Vec<PathBuf> = paths
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Config(format!(
                "no files in {} match `{}`. Add files or fix `file_pattern` in .dango/sources.yml",
                dir.display(),
                self.file_pattern
            )));
        }
        Ok(files)
    }
}

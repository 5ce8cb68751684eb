//! The `filesystem:` block in sources.yml (dlt's `filesystem` source with its readers).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{MergeStrategy, WriteDisposition};
use crate::sources::WriteDispositionConfig;

/// One column name or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    /// A single column.
    One(String),
    /// Several columns.
    Many(Vec<String>),
}

impl Columns {
    /// The column names.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Columns::One(c) => vec![c],
            Columns::Many(v) => v,
        }
    }
}

/// The `filesystem` block.
///
/// ```yaml
/// filesystem:
///   bucket_url: s3://my-bucket/exports   # or data/exports, or file:///srv/exports
///   file_glob: "**/*.csv"
///   table_name: orders
///   write_disposition: merge
///   primary_key: id
///   on_deleted: delete_rows
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemConfig {
    /// Where the files are: a local directory (relative to the project), `file:///abs/dir`, or
    /// `s3://bucket/prefix` (keys and `endpoint_url` from `[sources.filesystem.credentials]`
    /// or `[sources.<name>.credentials]` in secrets.toml).
    pub bucket_url: String,
    /// Glob of the files to read, relative to `bucket_url`: `*` matches within one folder,
    /// `**` any number of folders (`**/*.csv`). Default `*`.
    #[serde(default = "default_glob")]
    pub file_glob: String,
    /// `csv`, `jsonl`, `json` or `parquet`; by default from each file's extension
    /// (`.csv`, `.jsonl`/`.ndjson`, `.json`, `.parquet`, each optionally followed by `.gz`).
    #[serde(default)]
    pub format: Option<Format>,
    /// `auto` (gzip when the name ends in `.gz`, the default), `gzip` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// CSV options.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Table to load into; defaults to the source name.
    #[serde(default)]
    pub table_name: Option<String>,
    /// `append` (the default), `replace` or `merge` (dlt's dict form selects a strategy).
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Primary key column(s): with `merge`, rows of changed files replace the rows with the
    /// same key.
    #[serde(default)]
    pub primary_key: Option<Columns>,
    /// Load only new and changed files (by size, modification time and ETag), remembering
    /// the loaded ones in the pipeline state. Default: on for `append` and `merge`, off for
    /// `replace` (on for `replace`, a sync reloads all files when any changed and skips the
    /// load when none did).
    #[serde(default)]
    pub track_files: Option<bool>,
    /// What happens to the rows of a file that disappeared: `keep` (the default; the
    /// deletion is reported) or `delete_rows` (rows carry a `file_name` column and are
    /// removed; the table is then merged file by file).
    #[serde(default)]
    pub on_deleted: OnDeleted,
}

fn default_glob() -> String {
    "*".into()
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values, typed as DuckDB's `read_csv_auto` infers.
    Csv,
    /// One JSON document per line.
    Jsonl,
    /// A JSON array of items (or one object).
    Json,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format of a file name (a trailing `.gz` is skipped).
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let base = lower.strip_suffix(".gz").unwrap_or(&lower);
        let ext = base.rsplit_once('.')?.1;
        match ext {
            "csv" | "tsv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// Compression of the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip when the name ends in `.gz`.
    #[default]
    Auto,
    /// Always gzip.
    Gzip,
    /// Never compressed.
    None,
}

impl Compression {
    /// Whether `name` is read through gzip.
    pub fn gzip(self, name: &str) -> bool {
        match self {
            Compression::Auto => name.to_ascii_lowercase().ends_with(".gz"),
            Compression::Gzip => true,
            Compression::None => false,
        }
    }
}

/// What to do with the rows of deleted files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeleted {
    /// Keep them (the deletion is reported).
    #[default]
    Keep,
    /// Delete them (through the `file_name` column).
    DeleteRows,
}

/// CSV options (DuckDB's `read_csv` options; unset ones are detected).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter (one character, `\t` for tabs); detected by default.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Quote character; detected by default.
    #[serde(default)]
    pub quote: Option<String>,
    /// Whether the first row holds the column names; detected by default.
    #[serde(default)]
    pub header: Option<bool>,
    /// `utf-8` (default), `utf-16` or `latin-1`.
    #[serde(default)]
    pub encoding: Option<String>,
}

impl CsvOptions {
    /// Checks the options; `what` names the block for messages.
    pub fn check(&self, what: &str) -> Result<()> {
        for (k, v) in [("delimiter", &self.delimiter), ("quote", &self.quote)] {
            if let Some(v) = v
                && unescape(v).chars().count() != 1
            {
                return Err(Error::Config(format!(
                    "{what}.csv.{k} must be one character (or `\\t`), got `{v}`. Fix it in .dango/sources.yml"
                )));
            }
        }
        if let Some(e) = &self.encoding {
            let norm = e.to_ascii_lowercase().replace('_', "-");
            if !matches!(
                norm.as_str(),
                "utf-8" | "utf8" | "utf-16" | "utf16" | "latin-1" | "latin1"
            ) {
                return Err(Error::Config(format!(
                    "{what}.csv.encoding `{e}` is not supported; use utf-8, utf-16 or latin-1. Fix it in .dango/sources.yml"
                )));
            }
        }
        Ok(())
    }
}

/// `\t` written in YAML as two characters means a tab.
pub fn unescape(v: &str) -> String {
    if v == "\\t" { "\t".into() } else { v.into() }
}

/// The settled options of a file resource (shared by `filesystem`, `csv` and `local_files`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// Write disposition.
    pub disposition: WriteDisposition,
    /// Merge strategy (merge only).
    pub strategy: Option<MergeStrategy>,
    /// Whether files are tracked.
    pub track_files: bool,
    /// Whether rows of deleted files are deleted.
    pub delete_rows: bool,
}

/// Settles disposition, tracking and deletion; `what` names the block for messages.
pub fn settle(
    wd: Option<&WriteDispositionConfig>,
    default: WriteDisposition,
    track_files: Option<bool>,
    on_deleted: OnDeleted,
    what: &str,
) -> Result<Settled> {
    let disposition = wd.map(|w| w.disposition).unwrap_or(default);
    let strategy = wd.and_then(|w| w.strategy);
    let track = track_files.unwrap_or(disposition != WriteDisposition::Replace);
    let delete_rows = on_deleted == OnDeleted::DeleteRows;
    if delete_rows {
        if !track {
            return Err(Error::Config(format!(
                "{what}: on_deleted: delete_rows needs track_files (deleted files are found through the tracked ones). Remove `track_files: false` or `on_deleted`"
            )));
        }
        if disposition == WriteDisposition::Replace {
            return Err(Error::Config(format!(
                "{what}: on_deleted: delete_rows has no effect with write_disposition: replace (a replace reloads the current files). Use append or merge"
            )));
        }
        if strategy.is_some_and(|s| s != MergeStrategy::DeleteInsert) {
            return Err(Error::Config(format!(
                "{what}: on_deleted: delete_rows needs the delete-insert merge strategy (rows are deleted by their file_name). Remove `strategy`"
            )));
        }
    }
    Ok(Settled {
        disposition,
        strategy,
        track_files: track,
        delete_rows,
    })
}

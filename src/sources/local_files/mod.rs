//! The `local_files` source: JSON lines, JSON arrays and CSV files from a local directory.
//!
//! The format comes from the extension: `.jsonl` / `.ndjson` (one item per line, copied into
//! the package as is), `.json` (a top-level array of items, or one object), `.csv` (a header
//! row, then one item per row). Files are read streaming and in name order; the table is
//! replaced on each sync.

mod config;

pub use config::LocalFilesConfig;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer as _, SeqAccess, Visitor};

use crate::error::{Error, Result};
use crate::extract::ItemWriter;
use crate::incremental::{Decision, Incremental, IncrementalConfig};
use crate::schema::WriteDisposition;
use crate::sources::{Resource, Source};
use crate::storage::ResourceHints;

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
            crate::error::Error::Config(format!(
                "source `{name}`: local_files.{e}. Fix it in .dango/sources.yml"
            ))
        })?;
    }
    let files = cfg.matching_files(base)?;
    let table = cfg.table_name.clone().unwrap_or_else(|| name.to_string());
    let resource = FilesResource {
        hints: ResourceHints {
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
        },
        files,
        incremental: cfg
            .incremental
            .as_ref()
            .map(|v| {
                IncrementalConfig::parse(v, &format!("source `{name}`: local_files.incremental"))
            })
            .transpose()?,
    };
    Ok(Source::new(name, vec![Box::new(resource)]))
}

/// One resource reading a list of files.
pub struct FilesResource {
    hints: ResourceHints,
    files: Vec<PathBuf>,
    incremental: Option<IncrementalConfig>,
}

/// Where items go: the writer, through the incremental filter if there is one.
struct Sink<'w, 'p> {
    out: &'w mut ItemWriter<'p>,
    inc: Option<&'w Incremental>,
}

impl Sink<'_, '_> {
    fn is_full(&self) -> bool {
        self.out.is_full() || self.inc.is_some_and(|i| i.should_stop())
    }

    fn write(&mut self, item: &serde_json::Value) -> Result<()> {
        if let Some(inc) = self.inc
            && inc.filter(item)? == Decision::Skip
        {
            return Ok(());
        }
        self.out.write_item(item)
    }
}

/// Reads a JSON-lines file item by item (when items must be filtered).
fn read_jsonl(path: &Path, sink: &mut Sink<'_, '_>) -> Result<()> {
    use std::io::BufRead;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = BufReader::with_capacity(1 << 20, f);
    for (i, line) in reader.lines().enumerate() {
        if sink.is_full() {
            break;
        }
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let item: serde_json::Value = serde_json::from_str(&line).map_err(|e| Error::BadInput {
            origin: path.display().to_string(),
            line: i as u64 + 1,
            reason: format!("invalid JSON: {e}"),
        })?;
        sink.write(&item)?;
    }
    Ok(())
}

impl Resource for FilesResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        let state = out.state().clone();
        let inc = self
            .incremental
            .as_ref()
            .map(|cfg| state.bind(&self.hints.name, cfg, &self.hints.primary_key))
            .transpose()?;
        let mut sink = Sink {
            out,
            inc: inc.as_ref(),
        };
        for path in &self.files {
            if sink.is_full() {
                break;
            }
            match FileFormat::from_path(path) {
                Some(FileFormat::JsonLines) if sink.inc.is_none() => {
                    sink.out.copy_jsonl_file(path)?
                }
                Some(FileFormat::JsonLines) => read_jsonl(path, &mut sink)?,
                Some(FileFormat::Json) => read_json_array(path, &mut sink)?,
                Some(FileFormat::Csv) => read_csv(path, &mut sink)?,
                None => {
                    return Err(Error::Config(format!(
                        "{}: unknown file format; local_files reads .jsonl, .ndjson, .json and .csv files. Narrow `file_pattern` to those",
                        path.display()
                    )));
                }
            }
            // Progress (a file is a page) and a check for Ctrl-C between files.
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            sink.out.page_read(bytes)?;
        }
        if let Some(inc) = &inc {
            state.save(&self.hints.name, inc);
        }
        Ok(())
    }
}

/// Streams the items of a top-level JSON array (or a single object) into `out`.
fn read_json_array(path: &Path, out: &mut Sink<'_, '_>) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = BufReader::with_capacity(1 << 20, f);
    let mut de = serde_json::Deserializer::from_reader(reader);

    struct Items<'w, 's, 'p> {
        out: &'w mut Sink<'s, 'p>,
        err: Option<Error>,
    }
    impl<'de> Visitor<'de> for &mut Items<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of items or a JSON object")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                if self.err.is_none()
                    && let Err(e) = self.out.write(&item)
                {
                    self.err = Some(e);
                }
            }
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<(), A::Error> {
            let item: serde_json::Value =
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            if let Err(e) = self.out.write(&item) {
                self.err = Some(e);
            }
            Ok(())
        }
    }
    let mut items = Items { out, err: None };
    let res = (&mut de).deserialize_any(&mut items).and_then(|_| de.end());
    if let Some(e) = items.err {
        return Err(e);
    }
    res.map_err(|e| Error::BadInput {
        origin: path.display().to_string(),
        line: e.line() as u64,
        reason: format!("invalid JSON: {e}"),
    })
}

/// Streams CSV rows as items: empty cells are NULL, integers, floats and `true`/`false` are
/// typed, everything else is text (as pandas' `read_csv` infers).
fn read_csv(path: &Path, out: &mut Sink<'_, '_>) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 20, f));
    let headers = rdr
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    let mut record = csv::StringRecord::new();
    while rdr
        .read_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        if out.is_full() {
            break;
        }
        let mut obj = serde_json::Map::with_capacity(headers.len());
        for (h, v) in headers.iter().zip(record.iter()) {
            obj.insert(h.clone(), csv_value(v));
        }
        out.write(&serde_json::Value::Object(obj))?;
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    Error::BadInput {
        origin: path.display().to_string(),
        line,
        reason: format!("invalid CSV: {e}"),
    }
}

fn csv_value(v: &str) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    if let Ok(i) = v.parse::<i64>() {
        return serde_json::Value::from(i);
    }
    if v.bytes().any(|b| b.is_ascii_digit())
        && let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        return serde_json::Value::from(f);
    }
    match v {
        "true" | "True" | "TRUE" => serde_json::Value::Bool(true),
        "false" | "False" | "FALSE" => serde_json::Value::Bool(false),
        _ => serde_json::Value::String(v.to_string()),
    }
}

//! The runtime of `local_files`: one resource reading its files in name order, streaming.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer as _, SeqAccess, Visitor};

use super::FileFormat;
use crate::error::{Error, Result};
use crate::extract::ItemWriter;
use crate::incremental::{IncrementalConfig, ResourceCursor};
use crate::sources::Resource;
use crate::storage::ResourceHints;

/// One resource reading a list of files.
pub struct FilesResource {
    pub(super) hints: ResourceHints,
    pub(super) files: Vec<PathBuf>,
    pub(super) incremental: Option<IncrementalConfig>,
}

impl Resource for FilesResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        for path in &self.files {
            if out.is_full() || out.should_stop() {
                break;
            }
            match FileFormat::from_path(path) {
                // As is, or line by line through the cursor when there is one.
                Some(FileFormat::JsonLines) => out.copy_jsonl_file(path)?,
                Some(FileFormat::Json) => read_json_array(path, out)?,
                Some(FileFormat::Csv) => read_csv(path, out)?,
                None => {
                    return Err(Error::Config(format!(
                        "{}: unknown file format; local_files reads .jsonl, .ndjson, .json and .csv files. Narrow `file_pattern` to those",
                        path.display()
                    )));
                }
            }
            // Progress (a file is a page) and a check for Ctrl-C between files.
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            out.page_read(bytes)?;
        }
        Ok(())
    }

    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        ResourceCursor::own(&self.hints, self.incremental.as_ref())
    }
}

/// Streams the items of a top-level JSON array (or a single object) into `out`.
fn read_json_array(path: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = BufReader::with_capacity(1 << 20, f);
    let mut de = serde_json::Deserializer::from_reader(reader);

    struct Items<'w, 'p> {
        out: &'w mut ItemWriter<'p>,
        err: Option<Error>,
    }
    impl<'de> Visitor<'de> for &mut Items<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of items or a JSON object")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                if self.err.is_none()
                    && let Err(e) = self.out.write_item(&item)
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
            if let Err(e) = self.out.write_item(&item) {
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
fn read_csv(path: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
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
        if out.is_full() || out.should_stop() {
            break;
        }
        let mut obj = serde_json::Map::with_capacity(headers.len());
        for (h, v) in headers.iter().zip(record.iter()) {
            obj.insert(h.clone(), csv_value(v));
        }
        out.write_item(&serde_json::Value::Object(obj))?;
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

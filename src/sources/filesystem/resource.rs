//! The resource of a `filesystem` source, with change tracking.
//!
//! With `track_files`, the files loaded are kept in the pipeline state at
//! `sources.<source>.resources.<resource>.files` as `{"<path>": {"size", "mtime", "etag"}}`.
//! A sync lists the files, compares them with that map and loads:
//!
//! - `append` / `merge`: the new files and those whose size, mtime or ETag changed;
//! - `replace`: every current file when any was added, changed or deleted, nothing otherwise
//!   (the table is then not part of the load at all: it is never emptied by a replace without
//!   rows).
//!
//! With `on_deleted: delete_rows`, every row carries its `file_name` (the merge key, merged
//! with delete-insert), and each deleted file sends one marker row whose hard-delete column
//! `_dango_file_deleted` removes the file's rows. The new map goes into the state document
//! of the run, which the pipeline commits with the data: a crash before the commit loads the
//! same files again, one after it loads none of them again.

use serde_json::{Map, Value, json};

use super::config::{Compression, CsvOptions, Format, Settled};
use super::read::{FILE_NAME, ReadFile, read_file};
use super::store::{FileEntry, Store};
use crate::error::{Error, Result};
use crate::extract::ItemWriter;
use crate::schema::WriteDisposition;
use crate::sources::Resource;
use crate::storage::ResourceHints;

/// The hard-delete column of the marker rows of deleted files.
pub const DELETED: &str = "_dango_file_deleted";

/// The files of one source.
pub struct FilesystemResource {
    hints: ResourceHints,
    store: Store,
    glob: glob::Pattern,
    file_glob: String,
    format: Option<Format>,
    compression: Compression,
    csv: CsvOptions,
    settled: Settled,
}

impl FilesystemResource {
    /// The resource reading the files of `store` matching `glob` (`file_glob` as written, for
    /// messages) with the reader options (format, compression, CSV options).
    pub fn new(
        hints: ResourceHints,
        store: Store,
        glob: glob::Pattern,
        file_glob: &str,
        (format, compression, csv): (Option<Format>, Compression, CsvOptions),
        settled: Settled,
    ) -> FilesystemResource {
        FilesystemResource {
            hints,
            store,
            glob,
            file_glob: file_glob.into(),
            format,
            compression,
            csv,
            settled,
        }
    }
}

/// What a sync does with the listed files.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Files to read, in path order.
    pub load: Vec<FileEntry>,
    /// Files in the state that are gone.
    pub deleted: Vec<String>,
    /// Files unchanged since they were loaded.
    pub unchanged: usize,
}

fn entry_json(f: &FileEntry) -> Value {
    let mut m = Map::new();
    m.insert("size".into(), json!(f.size));
    m.insert("mtime".into(), json!(f.mtime));
    if let Some(e) = &f.etag {
        m.insert("etag".into(), json!(e));
    }
    Value::Object(m)
}

/// Compares the listed `files` with the `stored` map; `replace` reloads all on any change.
pub fn changes(files: &[FileEntry], stored: &Map<String, Value>, replace: bool) -> Changes {
    let mut c = Changes::default();
    let mut changed = Vec::new();
    for f in files {
        if stored.get(&f.rel) == Some(&entry_json(f)) {
            c.unchanged += 1;
        } else {
            changed.push(f.clone());
        }
    }
    let listed: std::collections::HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    c.deleted = stored
        .keys()
        .filter(|k| !listed.contains(k.as_str()))
        .cloned()
        .collect();
    if replace {
        if !changed.is_empty() || !c.deleted.is_empty() {
            c.load = files.to_vec();
            c.unchanged = 0;
        }
    } else {
        c.load = changed;
    }
    c
}

impl FilesystemResource {
    fn format_of(&self, f: &FileEntry) -> Result<Format> {
        self.format
            .or_else(|| Format::from_name(&f.rel))
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: cannot tell the format from the name; set `format: csv | jsonl | json | parquet` or narrow `file_glob`",
                    self.store.describe(&f.rel)
                ))
            })
    }

    fn read_one(&self, f: &FileEntry, out: &mut ItemWriter<'_>) -> Result<()> {
        let format = self.format_of(f)?;
        let local = self.store.fetch(f, out.cancel_token())?;
        let origin = self.store.describe(&f.rel);
        let read = ReadFile {
            path: &local.path,
            origin: &origin,
            format,
            gzip: self.compression.gzip(&f.rel),
            file_name: self.settled.delete_rows.then_some(f.rel.as_str()),
            csv: &self.csv,
        };
        read_file(&read, out)?;
        out.page_read(f.size)
    }
}

impl Resource for FilesystemResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    /// CSV and Parquet files become Arrow jobs, which normalize and load take as they are
    /// written; JSON files are linked or copied whole, so they gain nothing from it.
    fn overlaps_load(&self) -> bool {
        matches!(
            self.format.or_else(|| Format::from_name(&self.file_glob)),
            Some(Format::Csv | Format::Parquet)
        )
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        let files = self.store.list(&self.glob)?;
        let name = self.hints.name.clone();
        let replace = self.hints.write_disposition == WriteDisposition::Replace;
        if !self.settled.track_files {
            if files.is_empty() {
                return Err(no_files(&self.store, &self.file_glob));
            }
            for f in &files {
                if out.is_full() || out.should_stop() {
                    break;
                }
                self.read_one(f, out)?;
            }
            return Ok(());
        }
        let stored = out
            .state()
            .resource(&name)
            .get("files")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let c = changes(&files, &stored, replace);
        tracing::info!(
            resource = %name,
            "{} file(s) to load, {} unchanged, {} deleted since the last sync",
            c.load.len(),
            c.unchanged,
            c.deleted.len()
        );
        let mut done = if replace { Map::new() } else { stored };
        for gone in &c.deleted {
            done.remove(gone);
        }
        if replace && c.load.is_empty() {
            if !c.deleted.is_empty() {
                tracing::warn!(
                    "{}: every file was deleted; the table keeps its rows (a replace never empties a table)",
                    name
                );
            }
            out.withdraw_if_empty();
            out.state().with_resource(&name, |slot| {
                slot.insert("files".into(), Value::Object(done));
            });
            return Ok(());
        }
        if !c.deleted.is_empty() && !self.settled.delete_rows && !replace {
            tracing::warn!(
                "{}: {} file(s) were deleted since the last sync, their rows are kept (set on_deleted: delete_rows to remove them): {}",
                name,
                c.deleted.len(),
                c.deleted.join(", ")
            );
        }
        let mut complete = true;
        for f in &c.load {
            if out.is_full() || out.should_stop() {
                complete = false;
                break;
            }
            self.read_one(f, out)?;
            // A file cut short by --limit is not marked as loaded.
            if out.has_limit() && out.is_full() {
                complete = false;
                break;
            }
            done.insert(f.rel.clone(), entry_json(f));
        }
        if self.settled.delete_rows && complete {
            for gone in &c.deleted {
                let mut row = Map::new();
                row.insert(FILE_NAME.into(), json!(gone));
                row.insert(DELETED.into(), json!(true));
                out.write_filtered(&Value::Object(row))?;
            }
        }
        if replace && !complete {
            // A cut-short replace loaded part of the files: load them all next time.
            done.clear();
        }
        out.state().with_resource(&name, |slot| {
            slot.insert("files".into(), Value::Object(done));
        });
        Ok(())
    }
}

/// The error for a listing that found nothing.
pub fn no_files(store: &Store, glob: &str) -> Error {
    Error::Config(format!(
        "no files in {} match `{glob}`. Add files or fix `file_glob` in .dango/sources.yml",
        store.describe("").trim_end_matches('/')
    ))
}

//! Extract: streams items from resources into an extracted load package on disk.
//!
//! Items are written as JSON lines under `normalize/extracting/<load_id>/new_jobs/`. When every
//! resource is done, the manifest is written and the folder is renamed to
//! `normalize/extracted/<load_id>/` in one step, so a package is either complete or absent.
//! Nothing is buffered whole: pages go to disk as they arrive.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::{
    self, ExtractedJob, ExtractedManifest, JobOrigin, PipelineDir, ResourceHints, new_file_id,
    new_load_id,
};

/// An extracted package being written.
pub struct PackageWriter {
    dir: PathBuf,
    final_dir: PathBuf,
    manifest: ExtractedManifest,
    limit: Option<u64>,
}

impl PackageWriter {
    /// Starts a new package for `schema_name` in `pipeline_dir`.
    pub fn new(pipeline_dir: &PipelineDir, schema_name: &str) -> Result<PackageWriter> {
        let load_id = new_load_id();
        let dir = pipeline_dir.extracting(&load_id);
        let jobs = dir.join("new_jobs");
        std::fs::create_dir_all(&jobs).map_err(|e| Error::io(&jobs, e))?;
        Ok(PackageWriter {
            final_dir: pipeline_dir.extracted(&load_id),
            dir,
            manifest: ExtractedManifest {
                load_id,
                created_at: chrono::Utc::now().to_rfc3339(),
                schema_name: schema_name.to_string(),
                resources: Vec::new(),
                jobs: Vec::new(),
            },
            limit: None,
        })
    }

    /// Caps the number of items taken from each resource.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
    }

    /// The load id of the package.
    pub fn load_id(&self) -> &str {
        &self.manifest.load_id
    }

    /// A writer for the items of one resource.
    pub fn resource(&mut self, hints: &ResourceHints) -> ItemWriter<'_> {
        if !self.manifest.resources.iter().any(|r| r.name == hints.name) {
            self.manifest.resources.push(hints.clone());
        }
        ItemWriter {
            resource: hints.name.clone(),
            limit: self.limit,
            pkg: self,
            current: None,
            items: 0,
            line: String::new(),
        }
    }

    /// Writes the manifest and publishes the package. Returns the load id.
    pub fn finish(self) -> Result<String> {
        storage::write_json(&self.dir.join("package.json"), &self.manifest)?;
        crate::fault::point("extract_before_publish");
        storage::publish(&self.dir, &self.final_dir)?;
        Ok(self.manifest.load_id)
    }

    /// Throws the unfinished package away.
    pub fn abort(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the items of one resource into the package.
pub struct ItemWriter<'p> {
    pkg: &'p mut PackageWriter,
    resource: String,
    current: Option<(BufWriter<File>, PathBuf, usize)>,
    items: u64,
    limit: Option<u64>,
    line: String,
}

impl ItemWriter<'_> {
    /// Items written so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Whether the item limit (`--limit`) is reached; resources should stop fetching.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|l| self.items >= l)
    }

    fn open(&mut self, origin: &str, same_lines: bool) -> Result<()> {
        if self.current.is_some() {
            return Ok(());
        }
        let file = format!(
            "{}.{}.jsonl",
            crate::normalize::naming::normalize_tables_path(&self.resource),
            new_file_id()
        );
        let path = self.pkg.dir.join("new_jobs").join(&file);
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        self.pkg.manifest.jobs.push(ExtractedJob {
            file,
            resource: self.resource.clone(),
            origin: JobOrigin {
                origin: origin.to_string(),
                same_lines,
            },
            items: 0,
        });
        let idx = self.pkg.manifest.jobs.len() - 1;
        self.current = Some((BufWriter::with_capacity(1 << 20, f), path, idx));
        Ok(())
    }

    /// Writes one item.
    pub fn write_item(&mut self, item: &serde_json::Value) -> Result<()> {
        if self.is_full() {
            return Ok(());
        }
        self.line.clear();
        // serde_json never fails on a Value.
        let text = serde_json::to_string(item).map_err(|e| Error::Internal(e.to_string()))?;
        self.line.push_str(&text);
        self.line.push('\n');
        let origin = format!("resource `{}`", self.resource);
        self.open(&origin, false)?;
        if let Some((w, path, idx)) = self.current.as_mut() {
            w.write_all(self.line.as_bytes())
                .map_err(|e| Error::io(path, e))?;
            self.pkg.manifest.jobs[*idx].items += 1;
        }
        self.items += 1;
        Ok(())
    }

    /// Writes a page of items.
    pub fn write_page(&mut self, items: &[serde_json::Value]) -> Result<()> {
        for item in items {
            self.write_item(item)?;
        }
        Ok(())
    }

    /// Adds a JSON-lines file as its own job, copied as is (the fast path for `.jsonl`
    /// files: the copy is done by the kernel, and lines keep their numbers for errors).
    pub fn copy_jsonl_file(&mut self, source: &Path) -> Result<()> {
        self.close()?;
        let file = format!(
            "{}.{}.jsonl",
            crate::normalize::naming::normalize_tables_path(&self.resource),
            new_file_id()
        );
        let dest = self.pkg.dir.join("new_jobs").join(&file);
        match self.limit {
            None => {
                std::fs::copy(source, &dest).map_err(|e| Error::io(source, e))?;
            }
            Some(limit) => {
                let left = limit.saturating_sub(self.items);
                let n = copy_first_lines(source, &dest, left)?;
                self.items += n;
            }
        }
        self.pkg.manifest.jobs.push(ExtractedJob {
            file,
            resource: self.resource.clone(),
            origin: JobOrigin {
                origin: source.display().to_string(),
                same_lines: true,
            },
            items: 0,
        });
        Ok(())
    }

    /// Flushes the current job file.
    pub fn close(&mut self) -> Result<()> {
        if let Some((mut w, path, _)) = self.current.take() {
            w.flush().map_err(|e| Error::io(&path, e))?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }
}

impl Drop for ItemWriter<'_> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Copies the first `n` non-blank lines of `src` into `dest`; returns how many it copied.
fn copy_first_lines(src: &Path, dest: &Path, n: u64) -> Result<u64> {
    use std::io::BufRead;
    let f = File::open(src).map_err(|e| Error::io(src, e))?;
    let mut r = std::io::BufReader::new(f);
    let out = File::create(dest).map_err(|e| Error::io(dest, e))?;
    let mut w = BufWriter::new(out);
    let mut copied = 0;
    let mut buf = Vec::new();
    while copied < n {
        buf.clear();
        let read = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(src, e))?;
        if read == 0 {
            break;
        }
        if !buf.iter().all(|b| b.is_ascii_whitespace()) {
            copied += 1;
        }
        w.write_all(&buf).map_err(|e| Error::io(dest, e))?;
    }
    w.flush().map_err(|e| Error::io(dest, e))?;
    Ok(copied)
}

//! Extract: streams items from resources into an extracted load package on disk.
//!
//! Items are written as JSON lines under `normalize/extracting/<load_id>/new_jobs/`. When every
//! resource is done, the manifest is written and the folder is renamed to
//! `normalize/extracted/<load_id>/` in one step, so a package is either complete or absent.
//! Nothing is buffered whole: pages go to disk as they arrive.
//!
//! Several resources can write into one package at once ([`extract_resources`] runs them on
//! `[extract] workers` threads); each resource has its own [`ItemWriter`] and job files, and
//! the manifest lists resources and jobs in a fixed order whatever the timing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod arrow_items;
pub mod cursors;
mod resource;
pub mod run;

pub use resource::{Resource, Source};
pub use run::{CancelToken, Progress, ProgressFn, RunContext};

use crate::error::{Error, Result};
use crate::incremental::{Decision, Incremental};
use crate::storage::{
    self, ExtractedJob, ExtractedManifest, JobOrigin, LinkedFile, PipelineDir, ResourceHints,
    new_file_id, new_load_id,
};
use cursors::BoundCursors;

/// An extracted package being written.
pub struct PackageWriter {
    dir: PathBuf,
    final_dir: PathBuf,
    load_id: String,
    manifest: Mutex<ExtractedManifest>,
    limit: Option<u64>,
    cancelled: AtomicBool,
    state: crate::state::SourceState,
    ctx: RunContext,
    /// Pages and bytes read per resource, from writers that were closed.
    read: Mutex<HashMap<String, (u64, u64)>>,
    /// Told of each Arrow job file as soon as it is complete ([`PackageWriter::set_listener`]).
    listener: Option<JobListener>,
    /// Job files handed to the listener whose fsync waits for [`PackageWriter::finish`].
    unsynced: Mutex<Vec<(PathBuf, File)>>,
}

/// Takes each extracted job file as soon as it is complete (closed and synced), with its
/// path in the package being extracted.
pub type JobListener = Box<dyn Fn(&ExtractedJob, &Path) + Send + Sync>;

/// What one resource extracted: items written, pages (HTTP responses, files) and bytes read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceStats {
    /// Resource name.
    pub resource: String,
    /// Items written (0 for `.jsonl` files copied as is: counted at normalize time).
    pub items: u64,
    /// Pages or files read.
    pub pages: u64,
    /// Bytes read from the source.
    pub bytes: u64,
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
            manifest: Mutex::new(ExtractedManifest {
                load_id: load_id.clone(),
                created_at: chrono::Utc::now().to_rfc3339(),
                schema_name: schema_name.to_string(),
                resources: Vec::new(),
                jobs: Vec::new(),
            }),
            load_id,
            limit: None,
            cancelled: AtomicBool::new(false),
            state: crate::state::SourceState::default(),
            ctx: RunContext::default(),
            read: Mutex::new(HashMap::new()),
            listener: None,
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// Tells `listener` of each Arrow job file as soon as it is complete, so the package can
    /// be normalized while it is extracted. Arrow job files then also end every
    /// 250,000 rows, so a long resource hands them over as it goes.
    pub fn set_listener(&mut self, listener: JobListener) {
        self.listener = Some(listener);
    }

    /// Sets the run context: writers report [`Progress::Extracting`] to its sink as pages
    /// arrive and stop with [`Error::Interrupted`] once its token is cancelled.
    pub fn set_context(&mut self, ctx: RunContext) {
        self.ctx = ctx;
    }

    /// The run context.
    pub fn context(&self) -> &RunContext {
        &self.ctx
    }

    /// Caps the number of items taken from each resource.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
    }

    /// Sets the source state resources read and write while they extract.
    pub fn set_state(&mut self, state: crate::state::SourceState) {
        self.state = state;
    }

    /// The source state of this extract (cursors and custom state slots).
    pub fn state(&self) -> &crate::state::SourceState {
        &self.state
    }

    /// Puts the pipeline state this package will commit into the package
    /// (`pipeline_state.json`, published with it).
    pub fn attach_pipeline_state(&self, state: &crate::state::PipelineState) -> Result<()> {
        state.save(&self.dir.join(crate::state::PACKAGE_STATE_FILE))
    }

    /// Job files written so far (0: the package has no data).
    pub fn job_count(&self) -> usize {
        self.manifest().jobs.len()
    }

    /// The load id of the package.
    pub fn load_id(&self) -> &str {
        &self.load_id
    }

    fn manifest(&self) -> std::sync::MutexGuard<'_, ExtractedManifest> {
        // A panic while holding the lock leaves the manifest usable: take it anyway.
        self.manifest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares a resource (its hints go into the manifest, in declaration order). Declaring
    /// a name again keeps the first hints.
    pub fn register(&self, hints: &ResourceHints) {
        let mut m = self.manifest();
        if !m.resources.iter().any(|r| r.name == hints.name) {
            m.resources.push(hints.clone());
        }
    }

    /// A writer for the items of one resource, which is declared if it is not yet.
    pub fn resource(&self, hints: &ResourceHints) -> ItemWriter<'_> {
        self.register(hints);
        self.writer(&hints.name)
    }

    /// A writer for resource `name` without declaring it (for resources that only feed
    /// others and write nothing themselves, or were declared with [`PackageWriter::register`]).
    pub fn writer(&self, name: &str) -> ItemWriter<'_> {
        ItemWriter {
            resource: name.to_string(),
            limit: self.limit,
            pkg: self,
            current: None,
            items: 0,
            line: String::new(),
            pages: 0,
            bytes: 0,
            flushed: (0, 0),
            unsynced: 0,
            arrow: Default::default(),
            cursors: Arc::default(),
            incremental: None,
        }
    }

    /// Items written so far per declared resource, in declaration order (closed jobs only).
    pub fn resource_items(&self) -> Vec<(String, u64)> {
        let m = self.manifest();
        m.resources
            .iter()
            .map(|r| {
                let n = m
                    .jobs
                    .iter()
                    .filter(|j| j.resource == r.name)
                    .map(|j| j.items)
                    .sum();
                (r.name.clone(), n)
            })
            .collect()
    }

    /// Items, pages and bytes per declared resource, in declaration order (closed writers).
    pub fn resource_stats(&self) -> Vec<ResourceStats> {
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.resource_items()
            .into_iter()
            .map(|(resource, items)| {
                let (pages, bytes) = read.get(&resource).copied().unwrap_or_default();
                ResourceStats {
                    resource,
                    items,
                    pages,
                    bytes,
                }
            })
            .collect()
    }

    /// Asks every writer to stop: from now on `is_full()` is true everywhere.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether [`PackageWriter::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Writes the manifest and publishes the package. Returns the load id.
    pub fn finish(self) -> Result<String> {
        // Every job file is on disk before the package is published.
        let unsynced =
            std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(|p| p.into_inner()));
        for (path, f) in unsynced {
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        let mut manifest = self
            .manifest
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        // Jobs in resource declaration order (stable: per resource, in creation order), so
        // the package does not depend on thread timing.
        let order: Vec<String> = manifest.resources.iter().map(|r| r.name.clone()).collect();
        manifest.jobs.sort_by_key(|j| {
            order
                .iter()
                .position(|n| *n == j.resource)
                .unwrap_or(usize::MAX)
        });
        storage::write_json(&self.dir.join("package.json"), &manifest)?;
        crate::fault::point("extract_before_publish");
        storage::publish(&self.dir, &self.final_dir)?;
        Ok(manifest.load_id)
    }

    /// Throws the unfinished package away.
    pub fn abort(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the items of one resource into the package.
pub struct ItemWriter<'p> {
    pkg: &'p PackageWriter,
    resource: String,
    /// Open job: writer, path, index in the manifest, items written to it.
    current: Option<(BufWriter<File>, PathBuf, usize, u64)>,
    items: u64,
    limit: Option<u64>,
    line: String,
    pages: u64,
    bytes: u64,
    /// Pages and bytes already added to the package's totals.
    flushed: (u64, u64),
    /// Bytes written to the open job since its writeback was last started.
    unsynced: u64,
    /// Arrow items: the row semantics and the open Arrow job ([`ItemWriter::write_arrow`]).
    arrow: arrow_items::ArrowOut,
    /// The cursors of this resource run ([`cursors`]), shared with sibling writers.
    cursors: Arc<BoundCursors>,
    /// This writer's resource's cursor: items are filtered through it.
    incremental: Option<Arc<Incremental>>,
}

/// Bytes of a job file between two starts of its writeback to disk.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// Items between two checks for Ctrl-C in [`ItemWriter::write_item`].
const INTERRUPT_EVERY: u64 = 1024;

impl ItemWriter<'_> {
    /// Items written so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Whether an item limit (`--limit`) is set.
    pub fn has_limit(&self) -> bool {
        self.limit.is_some()
    }

    /// The item limit (`--limit`), if any.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Declares another table of the package while extracting, for a source that learns its
    /// tables only as it runs (`dlt_native`: dlt decides them); write its items through
    /// [`ItemWriter::sibling`]. Declaring a name again keeps the first hints.
    pub fn declare(&self, hints: &ResourceHints) {
        self.pkg.register(hints);
    }

    /// How many more items the limit (`--limit`) lets through; `None` without a limit. A
    /// resource that judges items by a cursor before writing them stops judging there, so the
    /// cursor never moves past what was written.
    pub fn remaining_items(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.items))
    }

    /// Counts a page (an HTTP response, a file) of `bytes` bytes read from the source, and
    /// reports progress. Fails with [`Error::Interrupted`] after Ctrl-C, so a long resource
    /// stops within a page.
    pub fn page_read(&mut self, bytes: u64) -> Result<()> {
        self.pages += 1;
        self.bytes += bytes;
        self.report();
        self.pkg.ctx.cancel.check()
    }

    fn report(&self) {
        if self.pkg.ctx.progress.is_some() {
            self.pkg.ctx.report(Progress::Extracting {
                resource: self.resource.clone(),
                items: self.items,
                pages: self.pages,
                bytes: self.bytes,
            });
        }
    }

    /// The run's cancel token, for sources that wait on something else than the writer
    /// (an HTTP request, a subprocess).
    pub fn cancel_token(&self) -> &CancelToken {
        &self.pkg.ctx.cancel
    }

    /// Whether the item limit (`--limit`) is reached or the extraction was cancelled (another
    /// resource failed); resources should stop fetching. (A cancelled run token is not
    /// "full": writing fails with [`Error::Interrupted`] instead, so a cut-short resource is
    /// never mistaken for a complete one.)
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|l| self.items >= l) || self.pkg.is_cancelled()
    }

    /// The source state of this run: stored cursors and the JSON state slots of the source
    /// and its resources ([`crate::state::SourceState`]). Values written here are saved with
    /// the package's data.
    pub fn state(&self) -> &crate::state::SourceState {
        &self.pkg.state
    }

    /// The resource this writer writes.
    pub fn resource_name(&self) -> &str {
        &self.resource
    }

    /// A new job file of this resource with extension `ext`: its name (`<table>.<file_id>.<ext>`,
    /// dlt's job file naming) and path under `new_jobs/`.
    fn new_job_file(&self, ext: &str) -> (String, PathBuf) {
        let file = format!(
            "{}.{}.{ext}",
            crate::normalize::naming::normalize_tables_path(&self.resource),
            new_file_id()
        );
        let path = self.pkg.dir.join("new_jobs").join(&file);
        (file, path)
    }

    /// Lists a job of this resource in the package manifest; returns its index there.
    fn add_job(&self, file: String, origin: JobOrigin, format: storage::JobFormat) -> usize {
        let mut m = self.pkg.manifest();
        m.jobs.push(ExtractedJob {
            file,
            resource: self.resource.clone(),
            origin,
            items: 0,
            format,
        });
        m.jobs.len() - 1
    }

    fn open(&mut self, origin: &str, same_lines: bool) -> Result<()> {
        if self.current.is_some() {
            return Ok(());
        }
        let (file, path) = self.new_job_file("jsonl");
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let origin = JobOrigin {
            origin: origin.to_string(),
            same_lines,
            linked: None,
        };
        let idx = self.add_job(file, origin, Default::default());
        self.current = Some((BufWriter::with_capacity(1 << 20, f), path, idx, 0));
        Ok(())
    }

    /// Writes one item, unless the resource's cursor drops it ([`ItemWriter::filter`]).
    pub fn write_item(&mut self, item: &serde_json::Value) -> Result<()> {
        if self.filter(item)? == Decision::Skip {
            return Ok(());
        }
        self.write_filtered(item)
    }

    /// Writes one item that went through [`ItemWriter::filter`] already (not filtered twice).
    pub fn write_filtered(&mut self, item: &serde_json::Value) -> Result<()> {
        if self.is_full() {
            return Ok(());
        }
        // serde_json never fails on a Value.
        let text = serde_json::to_string(item).map_err(|e| Error::Internal(e.to_string()))?;
        self.write_line(&text)
    }

    /// Writes one item given as the JSON text of an object on one line (no newline), as an
    /// API sent it: no parsing and serializing again (parsed only when the resource has a
    /// cursor, to filter it).
    pub fn write_raw(&mut self, json_object: &str) -> Result<()> {
        if self.is_full() || self.filter_raw(json_object)? == Decision::Skip {
            return Ok(());
        }
        self.write_line(json_object)
    }

    fn write_line(&mut self, text: &str) -> Result<()> {
        if self.items % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 {
            self.pkg.ctx.cancel.check()?;
        }
        self.line.clear();
        self.line.push_str(text);
        self.line.push('\n');
        if self.current.is_none() {
            let origin = format!("resource `{}`", self.resource);
            self.open(&origin, false)?;
        }
        if let Some((w, path, _, n)) = self.current.as_mut() {
            w.write_all(self.line.as_bytes())
                .map_err(|e| Error::io(path, e))?;
            *n += 1;
            self.unsynced += self.line.len() as u64;
            if self.unsynced >= WRITEBACK_EVERY {
                self.unsynced = 0;
                w.flush().map_err(|e| Error::io(path, e))?;
                storage::start_writeback(w.get_ref());
            }
        }
        self.items += 1;
        Ok(())
    }

    /// Writes a page of items (each through the cursor, if there is one).
    pub fn write_page(&mut self, items: &[serde_json::Value]) -> Result<()> {
        for item in items {
            self.write_item(item)?;
        }
        Ok(())
    }

    /// Adds a JSON-lines file as its own job, as is (the fast path for `.jsonl` files: lines
    /// keep their numbers for errors). The job is a hard link to the file when it can be (no
    /// copy at all; normalize checks the file was not modified since), else a kernel copy. When the
    /// resource has a cursor, the lines are read and filtered one by one instead.
    pub fn copy_jsonl_file(&mut self, source: &Path) -> Result<()> {
        if self.incremental.is_some() {
            return self.write_jsonl_filtered(source);
        }
        self.close()?;
        let (file, dest) = self.new_job_file("jsonl");
        let mut linked = None;
        match self.limit {
            None => match link_unchanged(source, &dest) {
                Some(stamp) => linked = Some(stamp),
                None => {
                    std::fs::copy(source, &dest).map_err(|e| Error::io(source, e))?;
                }
            },
            Some(limit) => {
                let left = limit.saturating_sub(self.items);
                let n = copy_first_lines(source, &dest, left)?;
                self.items += n;
            }
        }
        self.pkg.manifest().jobs.push(ExtractedJob {
            file,
            resource: self.resource.clone(),
            origin: JobOrigin {
                origin: source.display().to_string(),
                same_lines: true,
                linked,
            },
            items: 0,
            format: Default::default(),
        });
        Ok(())
    }

    /// Takes this writer's resource out of the package when it has written nothing: its
    /// table is then not part of the load at all (a `replace` table is not emptied). For
    /// sources that find nothing new to load. Returns whether it was taken out.
    pub fn withdraw_if_empty(&mut self) -> bool {
        if self.current.is_some() || self.items > 0 {
            return false;
        }
        let mut m = self.pkg.manifest();
        if m.jobs.iter().any(|j| j.resource == self.resource) {
            return false;
        }
        m.resources.retain(|r| r.name != self.resource);
        true
    }

    /// Flushes the current job file.
    pub fn close(&mut self) -> Result<()> {
        self.close_arrow()?;
        if (self.pages, self.bytes) != self.flushed {
            let mut read = self.pkg.read.lock().unwrap_or_else(|p| p.into_inner());
            let e = read.entry(self.resource.clone()).or_default();
            e.0 += self.pages - self.flushed.0;
            e.1 += self.bytes - self.flushed.1;
            self.flushed = (self.pages, self.bytes);
        }
        if let Some((mut w, path, idx, n)) = self.current.take() {
            if let Some(job) = self.pkg.manifest().jobs.get_mut(idx) {
                job.items += n;
            }
            w.flush().map_err(|e| Error::io(&path, e))?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }
}

impl<'p> ItemWriter<'p> {
    /// A writer for another resource `name` of the same package, for resources that produce
    /// the items of dependent resources too. Declare it first ([`PackageWriter::register`];
    /// [`extract_resources`] declares everything `Resource::tables` lists).
    pub fn sibling(&self, name: &str) -> ItemWriter<'p> {
        self.pkg.writer(name).with_cursors(self.cursors.clone())
    }
}

impl Drop for ItemWriter<'_> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Parses `[extract] workers` (default 5, dlt's default).
pub fn parse_workers(value: Option<String>) -> Result<usize> {
    match value {
        None => Ok(5),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Error::Config(format!(
                "[extract] workers must be a whole number >= 1, got `{v}` (set it in .dlt/config.toml or EXTRACT__WORKERS)"
            ))),
        },
    }
}

/// Extracts `resources` into `writer` on up to `workers` threads (at least one).
///
/// Every resource's tables are declared first, in order, so the package does not depend on
/// timing. The first error cancels the other resources (their writers report `is_full()`) and
/// is returned; the caller then aborts the package, so nothing of a failed run is committed.
/// A run whose token was cancelled returns [`Error::Interrupted`], even if every resource
/// happened to finish.
pub fn extract_resources(
    writer: &PackageWriter,
    resources: &mut [Box<dyn Resource>],
    workers: usize,
) -> Result<()> {
    writer.ctx.cancel.check()?;
    extract_all(writer, resources, workers)?;
    writer.ctx.cancel.check()
}

fn extract_all(
    writer: &PackageWriter,
    resources: &mut [Box<dyn Resource>],
    workers: usize,
) -> Result<()> {
    for r in resources.iter() {
        for h in r.tables() {
            writer.register(&h);
        }
    }
    // The incremental lifecycle ([`cursors`]): bind before, filter in the writers, save after.
    let run_one = |r: &mut Box<dyn Resource>| -> Result<()> {
        let name = r.hints().name.clone();
        let cursors = Arc::new(BoundCursors::bind(writer.state(), &r.cursors())?);
        let mut out = writer.writer(&name).with_cursors(cursors.clone());
        r.extract(&mut out).and_then(|_| out.close())?;
        cursors.save(writer.state());
        Ok(())
    };
    let workers = workers.max(1).min(resources.len().max(1));
    if workers == 1 {
        for r in resources.iter_mut() {
            if let Err(e) = run_one(r) {
                writer.cancel();
                return Err(e);
            }
        }
        return Ok(());
    }
    let queue = Mutex::new(resources.iter_mut());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for i in 0..workers {
            let queue = &queue;
            let first_error = &first_error;
            let run_one = &run_one;
            let spawned = std::thread::Builder::new()
                .name(format!("dango-extract-{i}"))
                .spawn_scoped(s, move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some(r) = next else { break };
                        if writer.is_cancelled() {
                            break;
                        }
                        if let Err(e) = run_one(r) {
                            writer.cancel();
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                writer.cancel();
                first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(Error::Internal(format!(
                        "cannot start an extract thread: {e}"
                    )));
            }
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Copies the first `n` non-blank lines of `src` into `dest`; returns how many it copied.
/// Hard-links `source` to `dest` and returns its size and modification time, or `None` (and
/// no link) when linking is not possible (another file system, no permission) or the file
/// changed while being linked.
fn link_unchanged(source: &Path, dest: &Path) -> Option<LinkedFile> {
    let before = LinkedFile::of(source).ok()?;
    std::fs::hard_link(source, dest).ok()?;
    match LinkedFile::of(dest) {
        Ok(after) if after == before => Some(after),
        _ => {
            let _ = std::fs::remove_file(dest);
            None
        }
    }
}

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

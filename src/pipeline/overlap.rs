//! Extract, normalize and load at the same time, for sources that read a bounded source
//! quickly ([`crate::extract::Resource::overlaps_load`]: files, database tables).
//!
//! Extract hands each Arrow job file to normalize as soon as it is written (files end every
//! 250,000 rows), normalize hands each normalized job file to the load, and the load
//! inserts it inside the package's one transaction, which opens before extract starts. The
//! package's schema, state and `_dlt_loads` row commit with the rows once the normalized
//! package is published ([`crate::load::streamed`]).
//!
//! The crash guarantees are those of the steps run one after the other: nothing commits
//! before the extracted and then the normalized package are published, so a run that dies
//! (or fails) before the commit leaves the destination as it was, and the next run resumes
//! from the published package or reads the source again. The price: the destination (its
//! writer lock, its load transaction) is held for the whole extract, which is why only
//! bounded sources take this path.
//!
//! Opt-in (`DANGO_OVERLAP=1`), and then used when every resource allows it, the destination
//! can take jobs that way ([`crate::destinations::DestinationFactory::streams_jobs`]), and the
//! run has no `merge` table, no full refresh, no staging-based replace and no schema contract
//! on new tables. Off by default because on 2 cores it did not pay: DuckDB's load has to run
//! on one thread beside the other stages, and the extract slows down as much as the overlap
//! saves (CSV 1M rows 0.99× the sequential steps' wall time; Postgres 1M rows 2.67× against
//! 1.55× `psql \copy`, README "Stages that overlap").

use std::path::PathBuf;
use std::time::Instant;

use super::steps::record;
use super::trace::{PipelineTrace, StepTimer};
use super::{LoadInfo, Pipeline, Progress};
use crate::destinations::{Destination, OpenMode};
use crate::error::{Error, Result};
use crate::load::streamed::Begun;
use crate::load::{LoadOptions, LoadedPackage, ReplaceStrategy};
use crate::normalize::{self, ClosedJob, Early, contract::NewRootTable};
use crate::schema::{Schema, WriteDisposition};
use crate::sources::Source;
use crate::storage::{ExtractedJob, ResourceHints};

/// The switch that turns the overlap on (`DANGO_OVERLAP=1`).
const ENV_SWITCH: &str = "DANGO_OVERLAP";

/// What the overlapped steps left.
struct Overlapped {
    /// Extract's outcome: the load id of the published package, `None` when nothing was new.
    extracted: Result<Option<String>>,
    /// Normalize's outcome (with the evolved schema), when the package was extracted.
    normalized: Option<Result<Schema>>,
    /// The open load.
    begun: Result<Begun>,
}

/// What the stream of one run needs besides the pipeline.
struct Plan<'a> {
    hints: Vec<ResourceHints>,
    truncate: Vec<String>,
    opts: LoadOptions,
    new_roots: &'a [NewRootTable],
}

impl Pipeline {
    /// Whether extract, normalize and load of `source` may overlap (see the module docs).
    pub(super) fn can_stream(&self, source: &Source, new_roots: &[NewRootTable]) -> bool {
        if !std::env::var(ENV_SWITCH).is_ok_and(|v| v == "1") {
            return false;
        }
        !source.resources.is_empty()
            && source.resources.iter().all(|r| r.overlaps_load())
            && source
                .resources
                .iter()
                .flat_map(|r| r.tables())
                .all(|t| t.write_disposition != WriteDisposition::Merge)
            && new_roots.is_empty()
            && self.destination.streams_jobs()
            && !self.full_refresh
            && self.refresh_pending().is_none()
            && self.replace_strategy != ReplaceStrategy::InsertFromStaging
            && self.normalize.schema_contract.is_none()
    }

    /// Extracts, normalizes and loads `source` at once; the info covers `resumed` packages
    /// too. Records the three steps in `trace`.
    pub(super) fn stream_run(
        &mut self,
        source: &mut Source,
        schema: &mut Schema,
        new_roots: &[NewRootTable],
        resumed: Vec<LoadedPackage>,
        trace: &mut PipelineTrace,
    ) -> Result<LoadInfo> {
        let hints: Vec<ResourceHints> = source.resources.iter().flat_map(|r| r.tables()).collect();
        let plan = Plan {
            truncate: normalize::truncate_tables(schema, &hints, self.normalize.naming),
            hints,
            opts: LoadOptions {
                replace_dataset: false,
                replace_strategy: self.replace_strategy,
                refuse_empty_replace: self.refuse_empty_replace,
            },
            new_roots,
        };
        let name = self.name.clone();
        let run = |this: &mut Pipeline, dest: &mut dyn Destination| -> Result<LoadInfo> {
            let out = this.stream_in(dest, source, schema, &plan, resumed, trace);
            if out.is_err() {
                dest.rollback_load();
            }
            out
        };
        if let Some(shared) = self.shared.clone() {
            return shared.with(&name, "load", true, |dest| run(self, dest));
        }
        let _commit = self
            .commit_lock()
            .map_err(|e| e.in_step(&name, "load", None))?;
        let mut dest = self
            .destination
            .open(OpenMode::ReadWrite)
            .map_err(|e| e.in_step(&name, "load", None))?;
        run(self, dest.as_mut())
    }

    /// The stream with the destination open: extract here, normalize and load on threads of
    /// their own, then the end of the load.
    fn stream_in(
        &mut self,
        dest: &mut dyn Destination,
        source: &mut Source,
        schema: &mut Schema,
        plan: &Plan<'_>,
        resumed: Vec<LoadedPackage>,
        trace: &mut PipelineTrace,
    ) -> Result<LoadInfo> {
        let started = Instant::now();
        let timers = (
            PipelineTrace::begin("extract"),
            PipelineTrace::begin("normalize"),
        );
        // Normalize reads the package extract writes: extract's syncs and renames are not
        // deferred to the end of this use of a shared connection.
        let run = crate::storage::deferred::undeferred(|| {
            self.overlapped(dest, source, schema, plan, trace, timers.0)
        })??;
        let Some(load_id) = run.extracted.as_ref().ok().cloned().flatten() else {
            dest.rollback_load();
            run.extracted?;
            // Nothing new (dlt: "load step did not start"): nothing committed.
            return Ok(self.nothing_loaded(resumed));
        };
        crate::fault::point("after_extract");
        tracing::info!(load_id = %load_id, elapsed = ?started.elapsed(), "Extracted.");
        let begun = self.after_normalize(&load_id, run, schema, timers.1, trace)?;
        self.ctx.cancel.check()?;
        let timer = PipelineTrace::begin("load");
        self.report(Progress::Step("load"));
        let mut packages = resumed;
        let loaded = self
            .load_one_begun(dest, &load_id, Some(begun))
            .and_then(|p| {
                packages.push(p);
                self.loaded(dest, &load_id, packages, started)
            });
        record(trace, timer, loaded, |s, i| s.load_info = Some(i))
    }

    /// Runs extract on this thread while normalize and the load run on theirs.
    fn overlapped(
        &mut self,
        dest: &mut dyn Destination,
        source: &mut Source,
        schema: &mut Schema,
        plan: &Plan<'_>,
        trace: &mut PipelineTrace,
        timer: StepTimer,
    ) -> Result<Overlapped> {
        let mut prepared = self.prepare_extract(source)?;
        let load_id = prepared.writer.load_id().to_string();
        let (seg_tx, seg_rx) = crossbeam_channel::unbounded::<(ExtractedJob, PathBuf)>();
        prepared.writer.set_listener(Box::new(move |job, path| {
            let _ = seg_tx.send((job.clone(), path.to_path_buf()));
        }));
        let (done_tx, done_rx) = crossbeam_channel::bounded::<bool>(1);
        let (dir, cfg, dataset) = (
            self.dir.clone(),
            self.normalize.clone(),
            self.dataset.clone(),
        );
        let published = dir
            .normalized(&load_id)
            .join(crate::storage::jobs::NEW_JOBS);
        let start = schema.clone();
        Ok(std::thread::scope(|scope| {
            let (job_tx, job_rx) = crossbeam_channel::unbounded::<ClosedJob>();
            let normalizing = {
                let (load_id, hints, mut schema) = (load_id.clone(), &plan.hints, start.clone());
                scope.spawn(move || {
                    yield_to_extract();
                    let sink: normalize::JobSink<'_> = Box::new(move |job| {
                        let _ = job_tx.send(job);
                    });
                    let early = Early::start(&dir, &load_id, &mut schema, &cfg, hints, Some(sink));
                    early_normalize(early, &dir, &load_id, &mut schema, &cfg, seg_rx, done_rx)
                        .map(|r| r.map(|()| schema))
                })
            };
            let loading = {
                let (load_id, start) = (load_id.clone(), &start);
                scope.spawn(move || {
                    yield_to_extract();
                    let mut begun =
                        Begun::start(dest, &load_id, &dataset, start, &plan.truncate, plan.opts);
                    for job in job_rx.iter() {
                        let Ok(b) = begun.as_mut() else { continue };
                        if let Err(e) = b.job(dest, &dataset, &job, &published) {
                            dest.rollback_load();
                            begun = Err(e);
                        }
                    }
                    begun
                })
            };
            let extracted = self.extract_prepared(prepared, source, schema, plan.new_roots);
            let extracted = record(trace, timer, extracted, |s, i| s.extract_info = Some(i))
                .map(|info| info.load_id);
            let _ = done_tx.send(matches!(extracted, Ok(Some(_))));
            let normalized = normalizing.join().unwrap_or_else(|_| {
                Some(Err(Error::Internal("the normalize thread panicked".into())))
            });
            let begun = loading
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("the load thread panicked".into())));
            Overlapped {
                extracted,
                normalized,
                begun,
            }
        }))
    }

    /// Records normalize's outcome and returns the open load, or the error that stops the run
    /// (the caller rolls the load back then).
    fn after_normalize(
        &mut self,
        load_id: &str,
        run: Overlapped,
        schema: &mut Schema,
        timer: StepTimer,
        trace: &mut PipelineTrace,
    ) -> Result<Begun> {
        self.report(Progress::Step("normalize"));
        let normalized = match run.normalized {
            Some(Ok(evolved)) => {
                *schema = evolved;
                self.normalize_info(load_id)
            }
            Some(Err(e)) => Err(self.normalize_failed(load_id, e)),
            None => Err(Error::Internal(
                "normalize did not run on the extracted package".into(),
            )),
        };
        record(trace, timer, normalized, |s, i| s.normalize_info = Some(i))?;
        crate::fault::point("after_normalize");
        tracing::info!(load_id = %load_id, "Normalized.");
        run.begun.map_err(|e| {
            let e = e.in_step(&self.name, "load", Some(load_id));
            trace.end(PipelineTrace::begin("load"), Some(&e));
            e
        })
    }
}

/// Lowers the calling thread's scheduling priority (its nice value, per thread on Linux), so
/// that on a machine with few cores the extract, which the whole stream waits for, keeps a core
/// while normalize and load take what is left (they catch up once it ends).
fn yield_to_extract() {
    // SAFETY: gettid and setpriority have no preconditions; a failure only leaves the
    // priority as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Normalize's side of the stream: each Arrow job file extract completes goes through
/// `early` at once; when extract says the package is published (`done`), the rest is
/// normalized and the normalized package published. `None` when extract did not publish a
/// package (the partial output is thrown away).
fn early_normalize(
    early: Result<Early<'_>>,
    dir: &crate::storage::PipelineDir,
    load_id: &str,
    schema: &mut Schema,
    cfg: &normalize::NormalizeConfig,
    segments: crossbeam_channel::Receiver<(ExtractedJob, PathBuf)>,
    done: crossbeam_channel::Receiver<bool>,
) -> Option<Result<()>> {
    let mut early = early;
    for (job, path) in segments.iter() {
        let Ok(e) = early.as_mut() else { continue };
        let mut r = e.arrow_job(schema, cfg, &job, &path);
        if matches!(&r, Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound)
        {
            // Published (renamed with its folder) since it was handed over.
            let moved = dir.extracted(load_id).join("new_jobs").join(&job.file);
            r = e.arrow_job(schema, cfg, &job, &moved);
        }
        if let Err(err) = r
            && let Ok(e) = std::mem::replace(&mut early, Err(err))
        {
            e.abort();
        }
    }
    let extracted = done.recv().unwrap_or(false);
    match early {
        Ok(e) if extracted => Some(e.finish(dir, schema, cfg).map(|_| ())),
        Ok(e) => {
            e.abort();
            None
        }
        Err(_) if !extracted => None,
        Err(err) => Some(Err(err)),
    }
}

//! Arrow items: [`ItemWriter::write_arrow`] writes the record batches of a resource into Arrow
//! IPC job files (`<table>.<file_id>.arrow`) of the extracted package.
//!
//! A job holds batches of one Arrow schema and one [`ArrowMode`]; a batch with another schema
//! (or a change of mode) starts a new job. The job's format and mode are recorded in the
//! package manifest ([`crate::storage::JobFormat::Arrow`]), so normalize knows how to read it.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;

use super::{ItemWriter, WRITEBACK_EVERY};
use crate::error::{Error, Result};
use crate::storage::{self, ArrowMode, JobFormat, JobOrigin};

/// The Arrow side of an [`ItemWriter`]: the row semantics and the open job.
#[derive(Default)]
pub(super) struct ArrowOut {
    mode: ArrowMode,
    job: Option<ArrowJob>,
}

struct ArrowJob {
    writer: FileWriter<BufWriter<File>>,
    path: PathBuf,
    /// Index of the job in the manifest.
    idx: usize,
    schema: SchemaRef,
    mode: ArrowMode,
    rows: u64,
    unsynced: u64,
}

/// Rows after which a job file ends and the next starts, when the package has a listener
/// ([`super::PackageWriter::set_listener`]): about two of DuckDB's row groups.
pub const ROTATE_ROWS: u64 = 250_000;

impl ItemWriter<'_> {
    /// Sets the row semantics of the Arrow batches written from now on (default
    /// [`ArrowMode::Dicts`]): choose what the source's dlt counterpart yields.
    pub fn set_arrow_mode(&mut self, mode: ArrowMode) {
        self.arrow.mode = mode;
    }

    /// Writes a batch of items given as Arrow columns, one item per row, without turning them
    /// into JSON. Column types travel with the batch (decimals keep precision and scale,
    /// timestamps their unit and timezone). With an item limit (`--limit`), the batch is cut
    /// at the limit. Fails with [`Error::Interrupted`] once the run is cancelled.
    pub fn write_arrow(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.is_full() {
            return Ok(());
        }
        self.pkg.ctx.cancel.check()?;
        let rows = batch.num_rows() as u64;
        let take = match self.limit {
            Some(l) => rows.min(l.saturating_sub(self.items)),
            None => rows,
        };
        if take == 0 && rows > 0 {
            return Ok(());
        }
        let cut;
        let batch = if take < rows {
            cut = batch.slice(0, take as usize);
            &cut
        } else {
            batch
        };
        let rotate = self.pkg.listener.is_some();
        let reopen = match &self.arrow.job {
            Some(j) => {
                j.schema != batch.schema()
                    || j.mode != self.arrow.mode
                    || (rotate && j.rows >= ROTATE_ROWS)
            }
            None => true,
        };
        if reopen {
            self.close_arrow()?;
            self.open_arrow(batch.schema())?;
        }
        if let Some(job) = self.arrow.job.as_mut() {
            job.writer.write(batch).map_err(|e| {
                Error::Internal(format!("writing Arrow job {}: {e}", job.path.display()))
            })?;
            job.rows += take;
            job.unsynced += batch.get_array_memory_size() as u64;

            if job.unsynced >= WRITEBACK_EVERY {
                job.unsynced = 0;
                storage::start_writeback(job.writer.get_ref().get_ref());
            }
        }
        self.items += take;
        self.report();
        Ok(())
    }

    fn open_arrow(&mut self, schema: SchemaRef) -> Result<()> {
        let (file, path) = self.new_job_file("arrow");
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let writer = FileWriter::try_new(BufWriter::with_capacity(1 << 20, f), &schema)
            .map_err(|e| Error::Internal(format!("creating Arrow job {file}: {e}")))?;
        let mode = self.arrow.mode;
        let origin = JobOrigin {
            origin: format!("resource `{}`", self.resource),
            same_lines: false,
            linked: None,
        };
        let idx = self.add_job(file, origin, JobFormat::Arrow(mode));
        self.arrow.job = Some(ArrowJob {
            writer,
            path,
            idx,
            schema,
            mode,
            rows: 0,
            unsynced: 0,
        });
        Ok(())
    }

    /// Finishes the open Arrow job file (footer, flush, fsync) and records its item count.
    pub(super) fn close_arrow(&mut self) -> Result<()> {
        let Some(mut job) = self.arrow.job.take() else {
            return Ok(());
        };
        let closed = {
            let mut m = self.pkg.manifest();
            m.jobs.get_mut(job.idx).map(|j| {
                j.items += job.rows;
                j.clone()
            })
        };
        job.writer
            .finish()
            .map_err(|e| Error::Internal(format!("finishing {}: {e}", job.path.display())))?;
        let f = job
            .writer
            .into_inner()
            .map_err(|e| Error::Internal(format!("flushing {}: {e}", job.path.display())))?
            .into_inner()
            .map_err(|e| Error::io(&job.path, e.into_error()))?;
        let Some(listener) = self.pkg.listener.as_ref() else {
            return f.sync_all().map_err(|e| Error::io(&job.path, e));
        };
        // Handed over at once; the fsync waits for the package's publish, so the extract does
        // not wait for the disk while normalize and load write to it.
        storage::start_writeback(&f);
        if let Some(closed) = closed {
            listener(&closed, &job.path);
        }
        self.pkg
            .unsynced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job.path.clone(), f));
        Ok(())
    }
}

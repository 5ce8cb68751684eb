//! Writes normalized chunks into Arrow IPC job files, one open file per table.
//!
//! Each chunk's batch is projected onto the table's current column list (NULL arrays for
//! columns the chunk did not see), so consecutive chunks share one file schema and a table
//! usually ends up in a single job file. When the table gains a column, a new file starts.
//!
//! With a [`JobSink`] (a load that runs while the package is normalized), each closed file
//! goes to the sink at once; [`JobWriters::close_open`] closes the open ones early.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, new_null_array};
use arrow::datatypes::{Field, Schema as ArrowSchema, SchemaRef};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::chunk::ChunkOutput;
use super::columns::arrow_type;
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::storage::{NormalizedJob, new_file_id};

struct OpenJob {
    table: String,
    file: String,
    path: PathBuf,
    schema: SchemaRef,
    writer: FileWriter<BufWriter<File>>,
    rows: u64,
    /// Bytes written since the file's writeback to disk was last started.
    unsynced: usize,
}

/// A job file that was closed while its package is still being normalized, with the schema
/// it was written against (its table has every column of the file).
#[derive(Debug, Clone)]
pub struct ClosedJob {
    /// The job (table, file name, rows, columns).
    pub job: NormalizedJob,
    /// Where the file is now (in the package being normalized).
    pub path: PathBuf,
    /// The schema when the file was closed.
    pub schema: Arc<Schema>,
}

/// Takes each job file as soon as it is closed.
pub type JobSink<'a> = Box<dyn FnMut(ClosedJob) + Send + 'a>;

/// Bytes of a job file between two starts of its writeback to disk: the fsync at close then
/// has little left, and the disk works while normalize goes on.
const WRITEBACK_EVERY: usize = 32 << 20;

/// Closed job files whose fsync may wait for `finish`.
const MAX_UNSYNCED: usize = 32;

/// The open job files of a package being normalized.
pub struct JobWriters<'s> {
    dir: PathBuf,
    sink: Option<JobSink<'s>>,
    open: HashMap<String, OpenJob>,
    done: Vec<NormalizedJob>,
    /// Closed files whose fsync is still due (all of them run together in `finish`).
    unsynced: Vec<(PathBuf, File)>,
}

impl<'s> JobWriters<'s> {
    /// Writers into `dir` (`new_jobs/` of the package).
    pub fn new(dir: PathBuf) -> JobWriters<'s> {
        JobWriters {
            dir,
            sink: None,
            open: HashMap::new(),
            done: Vec::new(),
            unsynced: Vec::new(),
        }
    }

    /// Hands every job file to `sink` as soon as it is closed.
    pub fn set_sink(&mut self, sink: JobSink<'s>) {
        self.sink = Some(sink);
    }

    /// Hands a job file written elsewhere (the Arrow path's own files) to the sink, if any.
    pub fn hand_over(&mut self, job: &NormalizedJob, schema: &Schema) {
        if let Some(sink) = self.sink.as_mut() {
            sink(ClosedJob {
                job: job.clone(),
                path: self.dir.join(&job.file),
                schema: Arc::new(schema.clone()),
            });
        }
    }

    /// Writes every table of a chunk, projected onto `schema`'s columns.
    pub fn write(&mut self, schema: &Schema, output: ChunkOutput) -> Result<()> {
        for t in output.tables {
            let rows = t.batch.num_rows();
            if rows == 0 {
                continue;
            }
            let Some(table) = schema.table(&t.name) else {
                continue;
            };
            let mut fields = Vec::new();
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for c in table.columns.values() {
                let Some(dt) = c.data_type else { continue };
                let at = arrow_type(dt);
                fields.push(Field::new(&c.name, at.clone(), true));
                match t.batch.column_by_name(&c.name) {
                    Some(a) if a.data_type() == &at => arrays.push(a.clone()),
                    _ => arrays.push(new_null_array(&at, rows)),
                }
            }
            let arrow_schema = Arc::new(ArrowSchema::new(fields));
            let batch = RecordBatch::try_new_with_options(
                arrow_schema.clone(),
                arrays,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .map_err(|e| Error::Internal(format!("building batch for {}: {e}", t.name)))?;
            let reopen = match self.open.get(&t.name) {
                Some(job) => job.schema != arrow_schema,
                None => true,
            };
            if reopen {
                if let Some(job) = self.open.remove(&t.name) {
                    self.close(job, schema)?;
                }
                let file = format!("{}.{}.0.arrow", t.name, new_file_id());
                let path = self.dir.join(&file);
                let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
                let writer =
                    FileWriter::try_new(BufWriter::with_capacity(1 << 20, f), &arrow_schema)
                        .map_err(|e| Error::Internal(format!("creating {file}: {e}")))?;
                self.open.insert(
                    t.name.clone(),
                    OpenJob {
                        table: t.name.clone(),
                        file,
                        path,
                        schema: arrow_schema,
                        writer,
                        rows: 0,
                        unsynced: 0,
                    },
                );
            }
            if let Some(job) = self.open.get_mut(&t.name) {
                job.writer
                    .write(&batch)
                    .map_err(|e| Error::Internal(format!("writing {}: {e}", job.file)))?;
                job.rows += rows as u64;
                job.unsynced += batch.get_array_memory_size();
                if job.unsynced >= WRITEBACK_EVERY {
                    job.unsynced = 0;
                    crate::storage::start_writeback(job.writer.get_ref().get_ref());
                }
            }
        }
        Ok(())
    }

    fn close(&mut self, mut job: OpenJob, schema: &Schema) -> Result<()> {
        job.writer
            .finish()
            .map_err(|e| Error::Internal(format!("finishing {}: {e}", job.file)))?;
        let inner = job
            .writer
            .into_inner()
            .map_err(|e| Error::Internal(format!("flushing {}: {e}", job.file)))?;
        let f = inner
            .into_inner()
            .map_err(|e| Error::io(&job.path, e.into_error()))?;
        crate::storage::start_writeback(&f);
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        if self.unsynced.len() >= MAX_UNSYNCED {
            // Many schema changes rotate many files: do not hold their descriptors open.
            for (path, f) in self.unsynced.drain(..) {
                f.sync_all().map_err(|e| Error::io(&path, e))?;
            }
        }
        self.unsynced.push((job.path.clone(), f));
        let done = NormalizedJob {
            table: job.table,
            file: job.file,
            rows: job.rows,
            size,
            columns: job
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        };
        if let Some(sink) = self.sink.as_mut() {
            sink(ClosedJob {
                job: done.clone(),
                path: job.path,
                schema: Arc::new(schema.clone()),
            });
        }
        self.done.push(done);
        Ok(())
    }

    /// Closes the open files now (each goes to the sink), so the load gets them before the
    /// next ones start.
    pub fn close_open(&mut self, schema: &Schema) -> Result<()> {
        let open: Vec<OpenJob> = self.open.drain().map(|(_, j)| j).collect();
        for job in open {
            self.close(job, schema)?;
        }
        Ok(())
    }

    /// Closes all files; returns the jobs in schema table order (parents first).
    pub fn finish(mut self, schema: &Schema) -> Result<Vec<NormalizedJob>> {
        self.close_open(schema)?;
        // The fsyncs of all files run at once, so the disk flushes them together rather
        // than one after the other.
        std::thread::scope(|s| {
            let syncs: Vec<_> = self
                .unsynced
                .iter()
                .map(|(path, f)| s.spawn(move || f.sync_all().map_err(|e| Error::io(path, e))))
                .collect();
            syncs
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Internal("an fsync thread panicked".into())))
                })
                .collect::<Result<Vec<()>>>()
        })?;
        let order: HashMap<&str, usize> = schema
            .tables
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut jobs = self.done;
        jobs.sort_by_key(|j| order.get(j.table.as_str()).copied().unwrap_or(usize::MAX));
        Ok(jobs)
    }
}

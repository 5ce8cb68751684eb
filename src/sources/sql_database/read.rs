//! The resource of one table ([`TableResource`]): runs the table's driver, applies dlt's
//! incremental (boundary deduplication, new cursor) to each batch and writes it; and the
//! reflection of a database's tables through its driver.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::columns::json_at;
use super::table::{BatchSink, Filter, TableSpec, runtime};
use super::url::{DbUrl, Target};
use super::{mysql, postgres, sqlite};
use crate::error::{Error, Result};
use crate::extract::{ItemWriter, Resource};
use crate::incremental::{Decision, Incremental, IncrementalConfig, ResourceCursor};
use crate::storage::{ArrowMode, ResourceHints};

/// Reflects the tables of the database at `target`.
pub fn reflect(
    target: &Target,
    url: &DbUrl,
    schema: Option<&str>,
    names: Option<&[String]>,
    views: bool,
) -> Result<Vec<TableSpec>> {
    match target {
        Target::Postgres(t) => runtime()?.block_on(async {
            let client = postgres::connect(t, url).await?;
            postgres::reflect(&client, url, schema, names, views).await
        }),
        Target::Mysql(t) => runtime()?.block_on(async {
            let mut conn = mysql::connect(t, url).await?;
            let r = mysql::reflect(&mut conn, url, schema, names, views).await;
            let _ = conn.disconnect().await;
            r
        }),
        Target::Sqlite(path) => sqlite::reflect(path, url, names, views),
    }
}

/// One table of a `sql_database` source.
pub struct TableResource {
    /// Hints (name, disposition, keys, reflected columns).
    pub hints: ResourceHints,
    /// The table to read.
    pub spec: TableSpec,
    /// dlt's incremental, when configured.
    pub incremental: Option<IncrementalConfig>,
    /// Where the database is.
    pub target: Arc<Target>,
    /// The URL (for messages).
    pub url: DbUrl,
    /// Rows per batch.
    pub chunk_size: usize,
    /// Dicts (dlt's default backend) or Tables (pyarrow backend).
    pub mode: ArrowMode,
}

impl Resource for TableResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn overlaps_load(&self) -> bool {
        true
    }

    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        ResourceCursor::own(&self.hints, self.incremental.as_ref())
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        out.set_arrow_mode(self.mode);
        let inc = out.cursor(&self.hints.name);
        let filter = inc.as_deref().and_then(Filter::of);
        let mut sink = WriterSink::new(out, inc, &self.spec, &self.hints.primary_key)?;
        let chunk = self.chunk_size.max(1);
        match &*self.target {
            Target::Postgres(t) => runtime()?.block_on(postgres::read(
                t,
                &self.url,
                &self.spec,
                filter.as_ref(),
                chunk,
                &mut sink,
            )),
            Target::Mysql(t) => runtime()?.block_on(mysql::read(
                t,
                &self.url,
                &self.spec,
                filter.as_ref(),
                chunk,
                &mut sink,
            )),
            Target::Sqlite(p) => {
                sqlite::read(p, &self.url, &self.spec, filter.as_ref(), chunk, &mut sink)
            }
        }
    }
}

/// Writes batches, through the resource's cursor when it has one.
struct WriterSink<'a, 'w> {
    out: &'a mut ItemWriter<'w>,
    inc: Option<Arc<Incremental>>,
    /// Columns the cursor sees (the cursor and the dedup key, or the whole row).
    seen: Vec<usize>,
    /// The cursor column.
    cursor: usize,
}

impl<'a, 'w> WriterSink<'a, 'w> {
    fn new(
        out: &'a mut ItemWriter<'w>,
        inc: Option<Arc<Incremental>>,
        spec: &TableSpec,
        primary_key: &[String],
    ) -> Result<WriterSink<'a, 'w>> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        if let Some(i) = &inc {
            let idx = |name: &str| {
                spec.columns.iter().position(|c| c.name == name).ok_or_else(|| {
                    Error::Config(format!(
                        "table `{}`: the incremental column `{name}` is not a column of the table; it has: {}",
                        spec.name,
                        spec.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            };
            cursor = idx(&i.cfg.cursor_path)?;
            seen.push(cursor);
            let key = i
                .cfg
                .primary_key
                .clone()
                .unwrap_or_else(|| primary_key.to_vec());
            if key.is_empty() && i.cfg.primary_key.is_none() {
                seen = (0..spec.columns.len()).collect();
            } else {
                for k in &key {
                    seen.push(idx(k)?);
                }
            }
        }
        Ok(WriterSink {
            out,
            inc,
            seen,
            cursor,
        })
    }
}

impl BatchSink for WriterSink<'_, '_> {
    fn push(&mut self, batch: RecordBatch) -> Result<bool> {
        self.out.page_read(batch.get_array_memory_size() as u64)?;
        let batch = match &self.inc {
            None => batch,
            Some(inc) => {
                let schema = batch.schema();
                let item = |row: usize| {
                    let mut item = Map::new();
                    for &c in &self.seen {
                        item.insert(
                            schema.field(c).name().clone(),
                            json_at(batch.column(c), row),
                        );
                    }
                    Value::Object(item)
                };
                let keep: Vec<bool> = match self.out.remaining_items() {
                    // Without a limit, the batch is judged at once: only boundary rows
                    // and the newest ones build their item (see `filter_batch`).
                    None => {
                        let cursor = batch.column(self.cursor);
                        let values: Vec<Value> =
                            (0..batch.num_rows()).map(|r| json_at(cursor, r)).collect();
                        inc.filter_batch(&values, &mut |r| item(r))?
                            .into_iter()
                            .map(|d| d == Decision::Keep)
                            .collect()
                    }
                    // Rows past the limit are not judged: the cursor only sees what is
                    // written.
                    Some(room) => {
                        let mut keep = Vec::with_capacity(batch.num_rows());
                        let mut kept = 0u64;
                        for row in 0..batch.num_rows() {
                            if kept >= room {
                                break;
                            }
                            let k = inc.filter(&item(row))? == Decision::Keep;
                            kept += u64::from(k);
                            keep.push(k);
                        }
                        keep
                    }
                };
                let batch = if keep.len() < batch.num_rows() {
                    batch.slice(0, keep.len())
                } else {
                    batch
                };
                if keep.iter().all(|k| *k) {
                    batch
                } else {
                    arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))
                        .map_err(|e| Error::Internal(format!("filtering a batch: {e}")))?
                }
            }
        };
        if batch.num_rows() > 0 {
            self.out.write_arrow(&batch)?;
        }
        Ok(!(self.out.is_full() || self.out.should_stop()))
    }
}

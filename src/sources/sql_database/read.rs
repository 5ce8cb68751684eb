//! What every driver shares: the reflected table ([`TableSpec`]), the cursor's range in SQL
//! ([`Filter`]), and the resource ([`TableResource`]) that runs a driver, applies dlt's
//! incremental (boundary deduplication, new cursor) to each batch and writes it.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::columns::{SqlColumn, json_at};
use super::url::{DbUrl, Target};
use super::{mysql, postgres, sqlite};
use crate::error::{Error, Result};
use crate::extract::{ItemWriter, Resource};
use crate::incremental::{Decision, Incremental, IncrementalConfig, ResourceCursor};
use crate::storage::{ArrowMode, ResourceHints};

/// A reflected table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Schema (Postgres) or database (MySQL); `None` for SQLite.
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// Columns read, in table order.
    pub columns: Vec<SqlColumn>,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
}

/// The cursor's range, applied in the SQL of the read.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The cursor column.
    pub column: String,
    /// Rows from this value (the stored cursor or `initial_value`).
    pub start: Option<Value>,
    /// `range_start: open`: rows equal to `start` are excluded.
    pub start_open: bool,
    /// Rows before this value (`end_value`).
    pub end: Option<Value>,
    /// `range_end: closed`: rows equal to `end` are included.
    pub end_closed: bool,
    /// `last_value_func: min`: the cursor goes down.
    pub descending: bool,
}

impl Filter {
    /// The filter of a bound cursor; `None` for a custom `last_value_func`.
    pub fn of(inc: &Incremental) -> Option<Filter> {
        let descending = match inc.cfg.last_value_func.as_str() {
            "max" => false,
            "min" => true,
            _ => return None,
        };
        Some(Filter {
            column: inc.cfg.cursor_path.clone(),
            start: inc.start_value.clone().filter(|v| !v.is_null()),
            start_open: inc.cfg.range_start == "open",
            end: inc.end_value.clone().filter(|v| !v.is_null()),
            end_closed: inc.cfg.range_end == "closed",
            descending,
        })
    }

    /// The comparison with the start value.
    pub fn start_op(&self) -> &'static str {
        match (self.descending, self.start_open) {
            (false, false) => ">=",
            (false, true) => ">",
            (true, false) => "<=",
            (true, true) => "<",
        }
    }

    /// The comparison with the end value.
    pub fn end_op(&self) -> &'static str {
        match (self.descending, self.end_closed) {
            (false, false) => "<",
            (false, true) => "<=",
            (true, false) => ">",
            (true, true) => ">=",
        }
    }

    /// `ASC` or `DESC`.
    pub fn order(&self) -> &'static str {
        if self.descending { "DESC" } else { "ASC" }
    }
}

/// `'text'` with quotes doubled (standard SQL string literal).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where a driver puts its batches.
pub trait BatchSink {
    /// Takes one batch; `false` when the read should stop (limit reached, cursor range left).
    fn push(&mut self, batch: RecordBatch) -> Result<bool>;
}

/// The tables to read out of those `found` (`(id, name, is_table)`): the named ones in the
/// order given (views too), else every table (and view with `views`).
pub fn choose_tables<T: Clone>(
    found: &[(T, String, bool)],
    names: Option<&[String]>,
    views: bool,
    schema: &str,
    shown: &str,
) -> Result<Vec<(T, String)>> {
    let Some(names) = names else {
        let all: Vec<(T, String)> = found
            .iter()
            .filter(|(_, _, is_table)| *is_table || views)
            .map(|(id, n, _)| (id.clone(), n.clone()))
            .collect();
        if all.is_empty() {
            return Err(Error::Config(format!(
                "{shown}: schema `{schema}` has no tables. Fix `schema` in the sql_database block"
            )));
        }
        return Ok(all);
    };
    let mut out = Vec::with_capacity(names.len());
    for want in names {
        match found.iter().find(|(_, n, _)| n == want) {
            Some((id, n, _)) => out.push((id.clone(), n.clone())),
            None => {
                let have: Vec<&str> = found.iter().map(|(_, n, _)| n.as_str()).collect();
                return Err(Error::Config(format!(
                    "{shown}: table `{want}` does not exist in schema `{schema}`; it has: {}. Fix `table_names` in the sql_database block",
                    if have.is_empty() {
                        "no tables".to_string()
                    } else {
                        have.join(", ")
                    }
                )));
            }
        }
    }
    Ok(out)
}

/// A current-thread runtime for one driver call.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the database runtime: {e}")))
}

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
}

impl<'a, 'w> WriterSink<'a, 'w> {
    fn new(
        out: &'a mut ItemWriter<'w>,
        inc: Option<Arc<Incremental>>,
        spec: &TableSpec,
        primary_key: &[String],
    ) -> Result<WriterSink<'a, 'w>> {
        let mut seen = Vec::new();
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
            seen.push(idx(&i.cfg.cursor_path)?);
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
        Ok(WriterSink { out, inc, seen })
    }
}

impl BatchSink for WriterSink<'_, '_> {
    fn push(&mut self, batch: RecordBatch) -> Result<bool> {
        self.out.page_read(batch.get_array_memory_size() as u64)?;
        let batch = match &self.inc {
            None => batch,
            Some(inc) => {
                let schema = batch.schema();
                // Rows past the limit are not judged: the cursor only sees what is written.
                let room = self.out.remaining_items().unwrap_or(u64::MAX);
                let mut keep = Vec::with_capacity(batch.num_rows());
                let mut kept = 0u64;
                for row in 0..batch.num_rows() {
                    if kept >= room {
                        break;
                    }
                    let mut item = Map::new();
                    for &c in &self.seen {
                        item.insert(
                            schema.field(c).name().clone(),
                            json_at(batch.column(c), row),
                        );
                    }
                    let k = inc.filter(&Value::Object(item))? == Decision::Keep;
                    kept += u64::from(k);
                    keep.push(k);
                }
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

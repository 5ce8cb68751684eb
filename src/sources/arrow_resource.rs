//! [`ArrowResource`]: a resource over Arrow record batches, for library users, tests and
//! sources that read typed data (databases, Parquet files).

use arrow::record_batch::RecordBatch;

use super::Resource;
use crate::error::Result;
use crate::extract::ItemWriter;
use crate::schema::{MergeStrategy, WriteDisposition};
use crate::storage::{ArrowMode, ResourceHints};

/// A resource built from an iterator of Arrow record batches (one item per row).
///
/// The [`ArrowMode`] says what the rows become: [`ArrowMode::Dicts`] gives dlt's output for a
/// source that yields dicts (`sql_database`, `filesystem` readers), [`ArrowMode::Tables`] the
/// output of dlt's Arrow normalizer for Arrow tables or pandas frames.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::Int64Array;
/// use arrow::record_batch::RecordBatch;
/// use dango::sources::ArrowResource;
/// use dango::storage::ArrowMode;
/// let batch = RecordBatch::try_from_iter([(
///     "id",
///     Arc::new(Int64Array::from(vec![1, 2])) as arrow::array::ArrayRef,
/// )])
/// .unwrap();
/// let r = ArrowResource::new("users", vec![batch].into_iter(), ArrowMode::Dicts)
///     .primary_key(["id"]);
/// ```
pub struct ArrowResource<I> {
    hints: ResourceHints,
    batches: I,
    mode: ArrowMode,
}

impl<I> ArrowResource<I>
where
    I: Iterator<Item = RecordBatch> + Send,
{
    /// A resource named `name` (also its table name) over `batches`, normalized as `mode`.
    pub fn new(name: impl Into<String>, batches: I, mode: ArrowMode) -> ArrowResource<I> {
        let name = name.into();
        ArrowResource {
            hints: ResourceHints {
                table_name: name.clone(),
                name,
                ..ResourceHints::default()
            },
            batches,
            mode,
        }
    }

    /// Sets the table name.
    pub fn table_name(mut self, t: impl Into<String>) -> Self {
        self.hints.table_name = t.into();
        self
    }

    /// Sets the write disposition.
    pub fn write_disposition(mut self, wd: WriteDisposition) -> Self {
        self.hints.write_disposition = wd;
        self
    }

    /// Sets `write_disposition: merge` with a merge strategy.
    pub fn merge_strategy(mut self, strategy: MergeStrategy) -> Self {
        self.hints.write_disposition = WriteDisposition::Merge;
        self.hints.merge_strategy = Some(strategy);
        self
    }

    /// Sets the primary key.
    pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.hints.primary_key = cols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `max_table_nesting` (dict mode: how deep structs and lists are unpacked).
    pub fn max_table_nesting(mut self, n: i64) -> Self {
        self.hints.max_table_nesting = Some(n);
        self
    }

    /// Sets dlt's `schema_contract` (see [`crate::schema::contract`]).
    pub fn schema_contract(mut self, contract: serde_json::Value) -> Self {
        self.hints.schema_contract = Some(contract);
        self
    }

    /// Adds a column hint (`{"data_type": "text", "nullable": false, …}`); it wins over the
    /// type taken from the Arrow schema.
    pub fn column(mut self, name: impl Into<String>, hint: serde_json::Value) -> Self {
        self.hints.columns.insert(name.into(), hint);
        self
    }
}

impl<I> Resource for ArrowResource<I>
where
    I: Iterator<Item = RecordBatch> + Send,
{
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        out.set_arrow_mode(self.mode);
        for batch in self.batches.by_ref() {
            if out.is_full() {
                break;
            }
            out.write_arrow(&batch)?;
        }
        Ok(())
    }
}

//! [`ArrowResource`]: a resource over Arrow record batches, for library users, tests and
//! sources that read typed data (databases, Parquet files).

use arrow::record_batch::RecordBatch;

use super::Resource;
use crate::error::Result;
use crate::extract::ItemWriter;
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

    hint_builders!();
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

//! dlt's Arrow normalizer ([`crate::storage::ArrowMode::Tables`]): the columns of the batches
//! pass through to one Arrow IPC output job, renamed with dlt's naming; nested columns stay
//! whole (`json`; the destination turns them into JSON text); `_dlt_load_id` / `_dlt_id` are
//! added only when `[normalize.parquet_normalizer]` asks for them.
//!
//! As in dlt's `ArrowExtractor`, the schema contract filters whole columns: a new column under
//! `freeze` fails, under `discard_value` is dropped, under `discard_row` drops the rows that
//! have a value in it (and the column). A new table under `freeze` fails; under a discard mode
//! its rows are dropped.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow::compute::{cast, filter_record_batch, is_null};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::JobContext;
use super::types::dlt_type;
use crate::error::{Error, Result};
use crate::normalize::relational::{C_DLT_ID, C_DLT_LOAD_ID, DLT_ID_LENGTH_BYTES};
use crate::schema::contract::{ContractMode, DataValidationError, Entity};
use crate::schema::dlt_dict::KeyOrder;
use crate::schema::{Column, DataType, Schema, Table};
use crate::storage::{NormalizedJob, new_file_id};

/// DuckDB's default and maximum timestamp precision (its `timestamp_precision` and
/// `max_timestamp_precision` capabilities), which dlt's Arrow extractor adjusts columns to.
const TIMESTAMP_PRECISION: (u32, u32) = (6, 9);

/// What happens to one input column.
struct Plan {
    /// Input column index.
    input: usize,
    /// Output field (normalized name, type as written to the job).
    field: Field,
    /// Whether rows with a value here are dropped (`discard_row`).
    drops_rows: bool,
    /// Whether the column itself is written.
    kept: bool,
}

/// Normalizes one Arrow job. Returns the output job (`None` when no row is left) and the
/// number of items read.
pub(super) fn normalize_job(
    ctx: &JobContext<'_>,
    reader: FileReader<BufReader<File>>,
    schema: &mut Schema,
    out: &Path,
) -> Result<(Option<NormalizedJob>, u64)> {
    let table_name = ctx.settings.root_table.clone();
    let input = reader.schema();
    let is_new_table = schema
        .table(&table_name)
        .is_none_or(|t| !t.has_complete_columns());
    let mut items = 0u64;
    if is_new_table && ctx.contract.tables != ContractMode::Evolve {
        if ctx.contract.tables == ContractMode::Freeze {
            return Err(crate::normalize::contract::frozen_table_error(
                schema,
                &table_name,
            ));
        }
        for batch in reader {
            items += batch.map_err(|e| ctx.error(e))?.num_rows() as u64;
        }
        return Ok((None, items));
    }
    let plans = plan_columns(ctx, &input, schema, &table_name, is_new_table)?;
    let add_load_id = ctx.cfg.add_dlt_load_id
        && !plans
            .iter()
            .any(|p| p.kept && p.field.name() == C_DLT_LOAD_ID);
    let add_id = ctx.cfg.add_dlt_id && !plans.iter().any(|p| p.kept && p.field.name() == C_DLT_ID);
    let table = schema
        .tables
        .entry(table_name.clone())
        .or_insert_with(|| Table::new(table_name.clone()));
    if add_load_id && !table.columns.contains_key(C_DLT_LOAD_ID) {
        table.columns.insert(C_DLT_LOAD_ID.into(), load_id_column());
    }
    if add_id && !table.columns.contains_key(C_DLT_ID) {
        table.columns.insert(C_DLT_ID.into(), dlt_id_column());
    }
    let mut fields: Vec<Field> = plans
        .iter()
        .filter(|p| p.kept)
        .map(|p| p.field.clone())
        .collect();
    if add_load_id {
        fields.push(Field::new(C_DLT_LOAD_ID, ArrowType::Utf8, false));
    }
    if add_id {
        fields.push(Field::new(C_DLT_ID, ArrowType::Utf8, false));
    }
    let out_schema: SchemaRef = Arc::new(ArrowSchema::new(fields));
    let file = format!("{table_name}.{}.0.arrow", new_file_id());
    let path = out.join(&file);
    let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut writer = FileWriter::try_new(BufWriter::with_capacity(1 << 20, f), &out_schema)
        .map_err(|e| ctx.error(format!("creating {file}: {e}")))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| ctx.error(e))?;
        items += batch.num_rows() as u64;
        let batch = convert_batch(ctx, &batch, &plans, &out_schema, add_load_id, add_id)?;
        if batch.num_rows() == 0 {
            continue;
        }
        rows += batch.num_rows() as u64;
        writer
            .write(&batch)
            .map_err(|e| ctx.error(format!("writing {file}: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| ctx.error(format!("finishing {file}: {e}")))?;
    let f = writer
        .into_inner()
        .map_err(|e| ctx.error(format!("flushing {file}: {e}")))?
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(&path, e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    drop(f);
    if rows == 0 {
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        return Ok((None, items));
    }
    let job = NormalizedJob {
        table: table_name,
        file,
        rows,
        size,
        columns: out_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    };
    Ok((Some(job), items))
}

/// Names, types and contract decisions for the input columns; adds the new ones to the schema.
fn plan_columns(
    ctx: &JobContext<'_>,
    input: &ArrowSchema,
    schema: &mut Schema,
    table_name: &str,
    is_new_table: bool,
) -> Result<Vec<Plan>> {
    let names: Vec<String> = input
        .fields()
        .iter()
        .map(|f| ctx.settings.naming.normalize_path(f.name()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    if names
        .iter()
        .any(|n| n.is_empty() || !seen.insert(n.as_str()))
    {
        let original: Vec<&String> = input.fields().iter().map(|f| f.name()).collect();
        return Err(ctx.error(format!(
            "Arrow schema fields normalized from {original:?} to {names:?} collide or are empty; rename the columns so they stay distinct after dlt's naming"
        )));
    }
    let table = schema
        .tables
        .entry(table_name.to_string())
        .or_insert_with(|| Table::new(table_name));
    let mut plans = Vec::with_capacity(names.len());
    for (i, (field, name)) in input.fields().iter().zip(&names).enumerate() {
        let Some(t) = dlt_type(field.data_type())
            .map_err(|e| ctx.error(format!("column `{}`: {e}", field.name())))?
        else {
            // Arrow's `null` type: dlt keeps no (incomplete) column for it.
            plans.push(Plan {
                input: i,
                field: Field::new(name, ArrowType::Null, true),
                drops_rows: false,
                kept: false,
            });
            continue;
        };
        let t = t.for_destination(TIMESTAMP_PRECISION.0, TIMESTAMP_PRECISION.1);
        let existing = table.columns.get(name).filter(|c| c.is_complete()).cloned();
        let mut drops_rows = false;
        let mut kept = true;
        if existing.is_none() && !is_new_table && !name.starts_with("_dlt") {
            match ctx.contract.columns {
                ContractMode::Evolve => {}
                ContractMode::Freeze => {
                    return Err(Error::DataValidation(Box::new(DataValidationError {
                        schema_name: schema_name(ctx),
                        table_name: table_name.to_string(),
                        column_name: Some(name.clone()),
                        entity: Entity::Columns,
                        mode: ContractMode::Freeze,
                        row_id: None,
                        pending: true,
                    })));
                }
                ContractMode::DiscardValue => kept = false,
                ContractMode::DiscardRow => {
                    kept = false;
                    drops_rows = true;
                }
            }
        }
        if kept && existing.is_none() {
            let mut c = match table.columns.shift_remove(name) {
                // a hint-only (incomplete) column takes the type and moves to data order
                Some(hinted) => hinted,
                None => Column {
                    name: name.clone(),
                    nullable: field.is_nullable(),
                    key_order: KeyOrder::recorded([
                        "name",
                        "nullable",
                        "data_type",
                        "precision",
                        "scale",
                    ]),
                    ..Column::default()
                },
            };
            t.apply(&mut c);
            table.columns.insert(name.clone(), c);
        }
        let timezone = existing.as_ref().map_or(t.timezone, |c| c.timezone);
        let out_type = output_type(field.data_type(), timezone != Some(false));
        plans.push(Plan {
            input: i,
            field: Field::new(name, out_type, true),
            drops_rows,
            kept,
        });
    }
    Ok(plans)
}

fn schema_name(ctx: &JobContext<'_>) -> String {
    ctx.schema_name.clone()
}

/// The Arrow type a column is written with: naive timestamps of a timezone-aware column are
/// read as UTC (dlt loads them so), dictionaries are decoded, and types DuckDB's Arrow scan
/// does not take are widened.
fn output_type(t: &ArrowType, tz_aware: bool) -> ArrowType {
    match t {
        ArrowType::Timestamp(unit, None) if tz_aware => {
            ArrowType::Timestamp(*unit, Some("UTC".into()))
        }
        ArrowType::Dictionary(_, value) => output_type(value, tz_aware),
        ArrowType::Float16 => ArrowType::Float64,
        ArrowType::Utf8View => ArrowType::Utf8,
        ArrowType::BinaryView => ArrowType::Binary,
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) => ArrowType::Decimal128(*p, *s),
        other => other.clone(),
    }
}

/// Renames, filters and converts one input batch into the output schema.
fn convert_batch(
    ctx: &JobContext<'_>,
    batch: &RecordBatch,
    plans: &[Plan],
    out_schema: &SchemaRef,
    add_load_id: bool,
    add_id: bool,
) -> Result<RecordBatch> {
    let mut batch = batch.clone();
    // discard_row: keep the rows without a value in any such column
    let mut keep: Option<BooleanArray> = None;
    for p in plans.iter().filter(|p| p.drops_rows) {
        let nulls = is_null(batch.column(p.input)).map_err(|e| ctx.error(e))?;
        keep = Some(match keep {
            None => nulls,
            Some(k) => arrow::compute::and(&k, &nulls).map_err(|e| ctx.error(e))?,
        });
    }
    if let Some(mask) = keep {
        batch = filter_record_batch(&batch, &mask).map_err(|e| ctx.error(e))?;
    }
    let n = batch.num_rows();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(out_schema.fields().len());
    for p in plans.iter().filter(|p| p.kept) {
        let a = batch.column(p.input);
        let a = if a.data_type() == p.field.data_type() {
            a.clone()
        } else {
            reinterpret_or_cast(a, p.field.data_type())
                .map_err(|e| ctx.error(format!("column `{}`: {e}", p.field.name())))?
        };
        arrays.push(a);
    }
    if add_load_id {
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(ctx.load_id, n),
        )));
    }
    if add_id {
        arrays.push(Arc::new(StringArray::from_iter_values(
            (0..n).map(|_| random_id()),
        )));
    }
    RecordBatch::try_new_with_options(
        out_schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| ctx.error(e))
}

/// A naive timestamp array read as UTC keeps its values (only the timezone is set); other
/// conversions are Arrow casts.
fn reinterpret_or_cast(a: &ArrayRef, to: &ArrowType) -> std::result::Result<ArrayRef, String> {
    if let (ArrowType::Timestamp(from_unit, None), ArrowType::Timestamp(to_unit, Some(_))) =
        (a.data_type(), to)
        && from_unit == to_unit
    {
        let data = a.to_data().into_builder().data_type(to.clone());
        let data = data.build().map_err(|e| e.to_string())?;
        return Ok(arrow::array::make_array(data));
    }
    cast(a, to).map_err(|e| e.to_string())
}

/// A random `_dlt_id`: 10 random bytes, unpadded base64 (dlt's `uniq_id_base64`).
fn random_id() -> String {
    let bytes: [u8; DLT_ID_LENGTH_BYTES] = rand::random();
    STANDARD_NO_PAD.encode(bytes)
}

/// dlt's `dlt_load_id_column()`.
fn load_id_column() -> Column {
    Column {
        name: C_DLT_LOAD_ID.into(),
        data_type: Some(DataType::Text),
        nullable: false,
        precision: Some(64),
        description: Some("Load identifier linking this row to its load operation".into()),
        key_order: KeyOrder::recorded([
            "name",
            "data_type",
            "nullable",
            "precision",
            "description",
        ]),
        ..Column::default()
    }
}

/// dlt's `dlt_id_column()`.
fn dlt_id_column() -> Column {
    Column {
        name: C_DLT_ID.into(),
        data_type: Some(DataType::Text),
        nullable: false,
        unique: true,
        row_key: true,
        precision: Some(64),
        description: Some("Unique identifier for this row, generated by dlt".into()),
        key_order: KeyOrder::recorded([
            "name",
            "data_type",
            "nullable",
            "unique",
            "row_key",
            "precision",
            "description",
        ]),
        ..Column::default()
    }
}

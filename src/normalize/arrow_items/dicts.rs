//! dlt's dict path for Arrow items ([`crate::storage::ArrowMode::Dicts`]): what dlt makes of
//! `table.to_pylist()` rows, with the top-level column types taken from the Arrow schema.
//!
//! 1. The top-level non-nested columns are declared from the Arrow schema (dlt's
//!    `get_column_type_from_py_arrow`: decimals with precision and scale, timestamps with
//!    their precision and `timezone: false` when naive, small integers with their bits), as
//!    `sql_database` declares its reflected columns. Resource hints and columns already in the
//!    schema win.
//! 2. Each row becomes a [`Value`] read straight from the arrays (strings borrowed, decimals
//!    as their exact digits, timestamps as ISO text in UTC, binary as base64; no JSON text of
//!    the row is made) and goes through the relational normalizer and [`ChunkWriter`] as a JSON
//!    item does: structs flatten into `a__b` columns, lists become nested tables, rows get
//!    `_dlt_load_id` / `_dlt_id`, contracts and variants apply.
//! 3. Values nested in structs and lists get the type dlt infers from the Python value
//!    (`decimal`, `timestamp`, `date`, `time`, `binary`): a slice whose new columns the
//!    normalizer inferred otherwise is normalized again with those columns declared, in the
//!    order the data introduced them.
//!
//! As in dlt, `-0.0` becomes `0.0`. An empty binary value loads as an empty binary: dlt
//! writes the marker text `"\u{f02b}"` into a `<col>__v_text` variant instead (its typed-JSON
//! encoding of empty bytes is not decoded back), which dango does not copy.
//!
//! A slice that only fills existing columns of root rows (the usual case for a database table
//! after its first rows) skips the per-row conversion: [`fast`] converts it column by column
//! into the same output.
//!
//! Known gap: the shared column builders hold decimals as `DECIMAL(38,9)` whatever the column's
//! precision and scale, so on this path a decimal with more than 9 fraction digits is rounded
//! to 9 and one with more than 29 integer digits goes to a variant column (the Arrow path
//! passes every decimal through unchanged).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType as ArrowType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type,
    Decimal256Type, Field, Fields, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::ipc::reader::FileReader;
use arrow::record_batch::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::JobContext;
use super::types::{dlt_type, python_value_type};
use crate::error::{Error, Result};
use crate::normalize::chunk::{self, ChunkOutput, ChunkWriter, RowError};
use crate::normalize::naming::{self, Naming};
use crate::normalize::relational::Normalizer;
use crate::normalize::value::{Value, parse_json};
use crate::normalize::writer::JobWriters;
use crate::schema::dlt_dict::KeyOrder;
use crate::schema::{Column, DataType, Schema, Table};

mod fast;

/// Rows normalized at once (one chunk of the normalizer).
const SLICE_ROWS: usize = 64 * 1024;

/// Columns in nested positions whose values carry a type the converted [`Value`] cannot
/// show: (table, column) → the type dlt infers from the Python value.
type Leaves = HashMap<(String, String), DataType>;

/// Normalizes one Arrow job along dlt's dict path. Returns the number of items read.
pub(super) fn normalize_job(
    ctx: &JobContext<'_>,
    reader: FileReader<BufReader<File>>,
    schema: &mut Schema,
    writers: &mut JobWriters,
) -> Result<u64> {
    let input = reader.schema();
    let table = &ctx.settings.root_table;
    declare_columns(ctx, input.fields(), schema, table)?;
    let mut leaves = Leaves::new();
    let naming = ctx.settings.naming;
    collect_leaves(naming, table, "", input.fields(), true, &mut leaves);
    let mut items = 0u64;
    for batch in reader {
        let batch = decode_dictionaries(ctx, batch.map_err(|e| ctx.error(e))?)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = SLICE_ROWS.min(batch.num_rows() - offset);
            normalize_slice(ctx, &batch.slice(offset, len), schema, writers, &leaves)?;
            offset += len;
            items += len as u64;
        }
    }
    Ok(items)
}

/// Declares the top-level non-nested columns with their types from the Arrow schema.
fn declare_columns(
    ctx: &JobContext<'_>,
    fields: &Fields,
    schema: &mut Schema,
    table_name: &str,
) -> Result<()> {
    let table = schema
        .tables
        .entry(table_name.to_string())
        .or_insert_with(|| Table::new(table_name));
    for field in fields {
        if is_nested(field.data_type()) || is_json_text(field) {
            continue;
        }
        let t = dlt_type(field.data_type())
            .map_err(|e| ctx.error(format!("column `{}`: {e}", field.name())))?;
        let Some(t) = t else { continue };
        let name = row_key_name(ctx.settings.naming, field.name());
        match table.columns.get_mut(&name) {
            Some(c) if c.is_complete() => {}
            Some(hinted) => t.apply(hinted),
            None => {
                let mut c = Column {
                    name: name.clone(),
                    nullable: true,
                    key_order: KeyOrder::recorded([
                        "name",
                        "data_type",
                        "precision",
                        "scale",
                        "timezone",
                    ]),
                    ..Column::default()
                };
                t.apply(&mut c);
                table.columns.insert(name, c);
            }
        }
    }
    Ok(())
}

/// The extension name of a text column holding JSON documents (Arrow's canonical `arrow.json`).
pub const JSON_EXTENSION: &str = "arrow.json";

/// Whether `field` is text holding JSON documents (`ARROW:extension:name` = `arrow.json`): in a
/// dict-path row its values are the parsed documents (a database driver's dicts and lists),
/// unless the column is declared, which takes the text as it is.
fn is_json_text(field: &Field) -> bool {
    field.data_type() == &ArrowType::Utf8
        && field
            .metadata()
            .get("ARROW:extension:name")
            .is_some_and(|n| n == JSON_EXTENSION)
}

/// Whether values of `t` are dicts or lists in a dict-path row.
fn is_nested(t: &ArrowType) -> bool {
    match t {
        ArrowType::Dictionary(_, v) => is_nested(v),
        t => t.is_nested(),
    }
}

/// The column name of a row key, as the relational normalizer names it.
fn row_key_name(naming: Naming, key: &str) -> String {
    let n = naming.normalize_key(key);
    if n.is_empty() {
        naming::EMPTY_KEY.to_string()
    } else {
        n
    }
}

/// The name of the nested table for a list at `key` (under flattened `prefix`) of `table`.
fn list_table(naming: Naming, table: &str, prefix: &str, key: &str) -> String {
    let frag = if crate::pycompat::unicode::py_strip(key).is_empty() {
        naming::EMPTY_KEY.to_string()
    } else {
        naming.normalize_tables_path(key)
    };
    let frag = if frag.is_empty() {
        naming::EMPTY_KEY.to_string()
    } else {
        frag
    };
    naming.shorten_fragments(&[table, prefix, &frag])
}

/// Records the typed leaves below the top level (flattened struct fields, list elements).
fn collect_leaves(
    naming: Naming,
    table: &str,
    prefix: &str,
    fields: &Fields,
    top: bool,
    out: &mut Leaves,
) {
    for f in fields {
        let key = row_key_name(naming, f.name());
        let column = if prefix.is_empty() {
            key
        } else {
            naming.shorten_fragments(&[prefix, &key])
        };
        match f.data_type() {
            ArrowType::Struct(children) => {
                collect_leaves(naming, table, &column, children, false, out)
            }
            ArrowType::List(child)
            | ArrowType::LargeList(child)
            | ArrowType::FixedSizeList(child, _) => {
                let nested = list_table(naming, table, prefix, f.name());
                collect_element(naming, &nested, child.data_type(), out);
            }
            t if !top => {
                if let Some(py) = python_value_type(t) {
                    out.insert((table.to_string(), column), py);
                }
            }
            _ => {}
        }
    }
}

fn collect_element(naming: Naming, table: &str, t: &ArrowType, out: &mut Leaves) {
    match t {
        ArrowType::Struct(children) => collect_leaves(naming, table, "", children, false, out),
        ArrowType::List(child)
        | ArrowType::LargeList(child)
        | ArrowType::FixedSizeList(child, _) => collect_element(
            naming,
            &list_table(naming, table, "", "list"),
            child.data_type(),
            out,
        ),
        t => {
            if let Some(py) = python_value_type(t) {
                out.insert((table.to_string(), "value".to_string()), py);
            }
        }
    }
}

/// Decodes dictionary-encoded top-level columns into their value type.
fn decode_dictionaries(ctx: &JobContext<'_>, batch: RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), ArrowType::Dictionary(..)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        match f.data_type() {
            ArrowType::Dictionary(_, value) => {
                let decoded = arrow::compute::cast(a, value).map_err(|e| ctx.error(e))?;
                fields.push(f.as_ref().clone().with_data_type(value.as_ref().clone()));
                columns.push(decoded);
            }
            _ => {
                fields.push(f.as_ref().clone());
                columns.push(a.clone());
            }
        }
    }
    RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .map_err(|e| ctx.error(e))
}

/// Normalizes the rows of one slice into `schema` and `writers`.
fn normalize_slice(
    ctx: &JobContext<'_>,
    slice: &RecordBatch,
    schema: &mut Schema,
    writers: &mut JobWriters,
    leaves: &Leaves,
) -> Result<()> {
    let write = |schema: &mut Schema, writers: &mut JobWriters, output: ChunkOutput| {
        crate::normalize::merge_output(schema, &output);
        writers.write(schema, output)
    };
    if let Some(output) = fast::slice(ctx, slice, schema) {
        return write(schema, writers, output);
    }
    if slice.num_rows() < 2 {
        return per_row_slice(ctx, slice, schema, writers, leaves);
    }
    // The first row declares what the rest needs (`_dlt_load_id`, `_dlt_id`, types inferred
    // from data); the rest of the slice may then take the columnar path.
    per_row_slice(ctx, &slice.slice(0, 1), schema, writers, leaves)?;
    let rest = slice.slice(1, slice.num_rows() - 1);
    match fast::slice(ctx, &rest, schema) {
        Some(output) => write(schema, writers, output),
        None => per_row_slice(ctx, &rest, schema, writers, leaves),
    }
}

/// Normalizes the rows of one slice row by row (dlt's dict path proper).
fn per_row_slice(
    ctx: &JobContext<'_>,
    slice: &RecordBatch,
    schema: &mut Schema,
    writers: &mut JobWriters,
    leaves: &Leaves,
) -> Result<()> {
    let snapshot = schema.clone();
    let mut output = run_slice(ctx, slice, &snapshot)?;
    if needs_declared_leaves(&output, leaves) {
        declare_new_columns(schema, &output, leaves);
        let snapshot = schema.clone();
        output = run_slice(ctx, slice, &snapshot)?;
    }
    crate::normalize::merge_output(schema, &output);
    writers.write(schema, output)
}

fn run_slice(ctx: &JobContext<'_>, slice: &RecordBatch, snapshot: &Schema) -> Result<ChunkOutput> {
    let mut normalizer = Normalizer::new(ctx.settings.clone(), ctx.load_id, rand::random());
    let mut writer = ChunkWriter::new(snapshot).with_contract(*ctx.contract);
    let fields = slice.schema();
    // JSON text of columns not declared: the parsed documents, as the driver gives them.
    let parsed: Vec<bool> = fields
        .fields()
        .iter()
        .map(|f| {
            is_json_text(f)
                && !snapshot
                    .table(&ctx.settings.root_table)
                    .and_then(|t| t.columns.get(&row_key_name(ctx.settings.naming, f.name())))
                    .is_some_and(Column::is_complete)
        })
        .collect();
    for row in 0..slice.num_rows() {
        let mut item = Vec::with_capacity(slice.num_columns());
        for (i, (f, a)) in fields.fields().iter().zip(slice.columns()).enumerate() {
            let v = if parsed[i] && !a.is_null(row) {
                let text = a.as_string::<i32>().value(row);
                parse_json(text).unwrap_or(Value::Str(Cow::Borrowed(text)))
            } else {
                value_at(a.as_ref(), row)
                    .map_err(|e| ctx.error(format!("column `{}`: {e}", f.name())))?
            };
            item.push((Cow::Borrowed(f.name().as_str()), v));
        }
        normalizer
            .normalize_item(&Value::Object(item), snapshot, &mut writer)
            .map_err(|e| match e {
                RowError::Contract(e) => Error::DataValidation(e),
                e => ctx.error(e),
            })?;
    }
    Ok(writer.finish(slice.num_rows() as u64))
}

/// The declared type of a typed leaf, when the chunk inferred another one for it.
fn leaf_type(leaves: &Leaves, table: &str, c: &Column) -> Option<DataType> {
    if c.variant {
        return None;
    }
    let t = *leaves.get(&(table.to_string(), c.name.clone()))?;
    (c.data_type != Some(t)).then_some(t)
}

fn needs_declared_leaves(output: &ChunkOutput, leaves: &Leaves) -> bool {
    !leaves.is_empty()
        && output.tables.iter().any(|t| {
            t.new_columns
                .iter()
                .any(|c| leaf_type(leaves, &t.name, c).is_some())
        })
}

/// Adds the chunk's new tables and columns to the schema in data order, typed leaves with
/// the type dlt infers for their Python values.
fn declare_new_columns(schema: &mut Schema, output: &ChunkOutput, leaves: &Leaves) {
    for t in &output.tables {
        chunk::ensure_table(schema, &t.name, t.parent.as_deref());
        let Some(table) = schema.table_mut(&t.name) else {
            continue;
        };
        for c in &t.new_columns {
            if table.columns.get(&c.name).is_some_and(Column::is_complete) {
                continue;
            }
            let mut c = c.clone();
            if let Some(ty) = leaf_type(leaves, &t.name, &c) {
                c.data_type = Some(ty);
            }
            table.columns.shift_remove(&c.name);
            table.columns.insert(c.name.clone(), c);
        }
    }
}

/// The value a dict-path row holds for row `row` of `a`, as the normalizer's [`Value`].
fn value_at(a: &dyn Array, row: usize) -> std::result::Result<Value<'_>, String> {
    use ArrowType as A;
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        A::Null => Value::Null,
        A::Boolean => Value::Bool(a.as_boolean().value(row)),
        A::Int8 => Value::Int(a.as_primitive::<Int8Type>().value(row).into()),
        A::Int16 => Value::Int(a.as_primitive::<Int16Type>().value(row).into()),
        A::Int32 => Value::Int(a.as_primitive::<Int32Type>().value(row).into()),
        A::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(row)),
        A::UInt8 => Value::Int(a.as_primitive::<UInt8Type>().value(row).into()),
        A::UInt16 => Value::Int(a.as_primitive::<UInt16Type>().value(row).into()),
        A::UInt32 => Value::Int(a.as_primitive::<UInt32Type>().value(row).into()),
        A::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(row);
            match i64::try_from(v) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::BigInt(v.to_string().into()),
            }
        }
        A::Float16 => float(a.as_primitive::<Float16Type>().value(row).to_f64()),
        A::Float32 => float(a.as_primitive::<Float32Type>().value(row).into()),
        A::Float64 => float(a.as_primitive::<Float64Type>().value(row)),
        A::Utf8 => Value::Str(Cow::Borrowed(a.as_string::<i32>().value(row))),
        A::LargeUtf8 => Value::Str(Cow::Borrowed(a.as_string::<i64>().value(row))),
        A::Utf8View => Value::Str(Cow::Borrowed(a.as_string_view().value(row))),
        A::Binary => bytes(a.as_binary::<i32>().value(row)),
        A::LargeBinary => bytes(a.as_binary::<i64>().value(row)),
        A::BinaryView => bytes(a.as_binary_view().value(row)),
        A::FixedSizeBinary(_) => bytes(a.as_fixed_size_binary().value(row)),
        A::Decimal32(_, s) => decimal(a.as_primitive::<Decimal32Type>().value(row).to_string(), *s),
        A::Decimal64(_, s) => decimal(a.as_primitive::<Decimal64Type>().value(row).to_string(), *s),
        A::Decimal128(_, s) => decimal(
            a.as_primitive::<Decimal128Type>().value(row).to_string(),
            *s,
        ),
        A::Decimal256(_, s) => decimal(
            a.as_primitive::<Decimal256Type>().value(row).to_string(),
            *s,
        ),
        A::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
            };
            timestamp(v, unit, a.data_type())?
        }
        A::Date32 => date(i64::from(a.as_primitive::<Date32Type>().value(row)))?,
        A::Date64 => date(
            a.as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000),
        )?,
        A::Time32(TimeUnit::Second) => {
            time(i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1_000_000)
        }
        A::Time32(_) => {
            time(i64::from(a.as_primitive::<Time32MillisecondType>().value(row)) * 1_000)
        }
        A::Time64(TimeUnit::Nanosecond) => {
            time(a.as_primitive::<Time64NanosecondType>().value(row) / 1_000)
        }
        A::Time64(_) => time(a.as_primitive::<Time64MicrosecondType>().value(row)),
        A::Struct(fields) => {
            let s = a.as_struct();
            let mut out = Vec::with_capacity(fields.len());
            for (f, child) in fields.iter().zip(s.columns()) {
                out.push((
                    Cow::Borrowed(f.name().as_str()),
                    value_at(child.as_ref(), row)?,
                ));
            }
            Value::Object(out)
        }
        A::List(_) => {
            let l = a.as_list::<i32>();
            let o = l.value_offsets();
            elements(l.values().as_ref(), o[row] as usize, o[row + 1] as usize)?
        }
        A::LargeList(_) => {
            let l = a.as_list::<i64>();
            let o = l.value_offsets();
            elements(l.values().as_ref(), o[row] as usize, o[row + 1] as usize)?
        }
        A::FixedSizeList(_, n) => {
            let l = a.as_fixed_size_list();
            let start = l.value_offset_at(row);
            elements(l.values().as_ref(), start, start + *n as usize)?
        }
        other => {
            return Err(format!(
                "dlt's dict path has no value for the Arrow type {other}"
            ));
        }
    })
}

fn elements(child: &dyn Array, start: usize, end: usize) -> std::result::Result<Value<'_>, String> {
    (start..end)
        .map(|i| value_at(child, i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A Python float from a dict-path row; dlt loads `-0.0` as `0.0`.
fn float(f: f64) -> Value<'static> {
    Value::Float(if f == 0.0 { 0.0 } else { f })
}

/// Bytes as text the `binary` coercion decodes (base64; empty bytes are the empty text, which
/// decodes to an empty binary).
fn bytes(b: &[u8]) -> Value<'static> {
    Value::Str(Cow::Owned(STANDARD.encode(b)))
}

/// The exact decimal text of an unscaled integer (`digits`, with sign) at `scale`.
fn decimal(digits: String, scale: i8) -> Value<'static> {
    let (neg, mag) = match digits.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, digits.as_str()),
    };
    let mut out = String::with_capacity(mag.len() + 3);
    if neg {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(mag);
        out.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
    } else {
        let s = scale as usize;
        let padded = format!("{mag:0>width$}", width = s + 1);
        let (int, frac) = padded.split_at(padded.len() - s);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
    Value::Str(Cow::Owned(out))
}

/// ISO text of a timestamp, microsecond precision (a Python `datetime`); with a timezone as
/// the UTC instant, naive without offset.
fn timestamp(
    v: i64,
    unit: &TimeUnit,
    t: &ArrowType,
) -> std::result::Result<Value<'static>, String> {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (v, 0),
        TimeUnit::Millisecond => (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000),
        TimeUnit::Microsecond => (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000),
        TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000)),
    };
    let micros = nanos / 1_000 * 1_000;
    let dt = chrono::DateTime::from_timestamp(secs, micros as u32)
        .ok_or_else(|| format!("timestamp {v} ({t}) is out of range"))?
        .naive_utc();
    let text = dt.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let aware = matches!(t, ArrowType::Timestamp(_, Some(_)));
    Ok(Value::Str(Cow::Owned(if aware {
        text + "+00:00"
    } else {
        text
    })))
}

fn date(days: i64) -> std::result::Result<Value<'static>, String> {
    let d = chrono::DateTime::from_timestamp(days * 86_400, 0)
        .ok_or_else(|| format!("date {days} is out of range"))?
        .date_naive();
    Ok(Value::Str(Cow::Owned(d.format("%Y-%m-%d").to_string())))
}

fn time(micros: i64) -> Value<'static> {
    let (s, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    Value::Str(Cow::Owned(format!(
        "{:02}:{:02}:{:02}.{us:06}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits() {
        let s = |d: &str, scale| match decimal(d.to_string(), scale) {
            Value::Str(s) => s.into_owned(),
            _ => unreachable!(),
        };
        assert_eq!(s("1234567890", 2), "12345678.90");
        assert_eq!(s("-5", 2), "-0.05");
        assert_eq!(s("0", 3), "0.000");
        assert_eq!(s("12", 0), "12");
        assert_eq!(s("12", -2), "1200");
        assert_eq!(
            s("12345678901234567890123456789012345678", 20),
            "123456789012345678.90123456789012345678"
        );
    }

    #[test]
    fn temporal_values_become_iso_text() {
        let ts = |v, unit, tz: Option<&str>| {
            let t = ArrowType::Timestamp(unit, tz.map(Into::into));
            match timestamp(v, &unit, &t).unwrap() {
                Value::Str(s) => s.into_owned(),
                _ => unreachable!(),
            }
        };
        assert_eq!(
            ts(1_704_164_645_123, TimeUnit::Millisecond, None),
            "2024-01-02T03:04:05.123000"
        );
        assert_eq!(
            ts(-1, TimeUnit::Microsecond, Some("UTC")),
            "1969-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(
            time(3_600_000_000 + 61_000_001),
            Value::Str("01:01:01.000001".into())
        );
        assert_eq!(date(19_724).unwrap(), Value::Str("2024-01-02".into()));
    }

    #[test]
    fn nested_leaves_are_named_as_the_normalizer_names_them() {
        use arrow::datatypes::Field;
        use std::sync::Arc;
        let fields = Fields::from(vec![
            Field::new(
                "Address",
                ArrowType::Struct(Fields::from(vec![Field::new(
                    "Price",
                    ArrowType::Decimal128(10, 2),
                    true,
                )])),
                true,
            ),
            Field::new(
                "Days",
                ArrowType::List(Arc::new(Field::new("item", ArrowType::Date32, true))),
                true,
            ),
            Field::new("top", ArrowType::Decimal128(5, 1), true),
        ]);
        let mut out = Leaves::new();
        collect_leaves(Naming::default(), "t", "", &fields, true, &mut out);
        assert_eq!(
            out.get(&("t".into(), "address__price".into())),
            Some(&DataType::Decimal)
        );
        assert_eq!(
            out.get(&("t__days".into(), "value".into())),
            Some(&DataType::Date)
        );
        assert_eq!(out.len(), 2);
    }
}

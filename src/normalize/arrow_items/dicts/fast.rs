//! The columnar fast path of the dict path: a slice whose rows the relational normalizer would
//! only copy into existing columns is converted column by column, with no per-row [`Value`].
//!
//! It applies when every row of the slice would be one root row and nothing else: no nested
//! (struct, list) column, every column already in the schema with its type (declared from the
//! Arrow schema or by an earlier slice), `_dlt_load_id` / `_dlt_id` already there, random root
//! ids, an all-`evolve` contract, no NULL in a NOT NULL column, and every value fitting its
//! column without a variant. Then the output equals the per-row path's: each column holds
//! exactly what `coerce::to_scalar(value_at(..), type)` gives for each row (the identities
//! below are that function on the value ranges they are taken for; anything else goes through
//! that very function), rows get the load id and a random `_dlt_id`. When one condition fails
//! the caller normalizes the slice row by row, so errors and variants are the per-row path's.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray,
    StringBuilder,
};
use arrow::datatypes::{
    DataType as ArrowType, Date32Type, Decimal128Type, Field, Float64Type, Schema as ArrowSchema,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::super::JobContext;
use super::{is_nested, row_key_name, value_at};
use crate::normalize::chunk::{ChunkOutput, TableChunk};
use crate::normalize::coerce;
use crate::normalize::columns::{ColumnBuilder, DECIMAL_SCALE, arrow_type};
use crate::normalize::relational::{C_DLT_ID, C_DLT_LOAD_ID, DLT_ID_LENGTH_BYTES, RootIdKind};
use crate::schema::{DataType, Schema};

/// Days of 0001-01-01 and 9999-12-31 from 1970-01-01: dates Python's `date` and its ISO text
/// hold.
const DAYS: (i32, i32) = (-719_162, 2_932_896);
/// Microseconds of 0001-01-01T00:00 and 9999-12-31T23:59:59.999999 from the Unix epoch.
const MICROS: (i64, i64) = (-62_135_596_800_000_000, 253_402_300_799_999_999);
/// Microseconds in a day (`24:00:00` is not a Python `time`).
const DAY_MICROS: i64 = 86_400_000_000;

/// The slice as one chunk of root rows, or `None` when it needs the per-row path.
pub(super) fn slice(
    ctx: &JobContext<'_>,
    slice: &RecordBatch,
    schema: &Schema,
) -> Option<ChunkOutput> {
    if !ctx.contract.is_evolve() || ctx.settings.root_id != RootIdKind::Random {
        return None;
    }
    let table_name = &ctx.settings.root_table;
    let table = schema.table(table_name)?;
    let text = |n: &str| {
        table
            .columns
            .get(n)
            .is_some_and(|c| c.data_type == Some(DataType::Text))
    };
    if !text(C_DLT_LOAD_ID) || !text(C_DLT_ID) {
        return None;
    }
    let n = slice.num_rows();
    let mut names: Vec<String> = Vec::with_capacity(slice.num_columns() + 2);
    let mut fields = Vec::with_capacity(slice.num_columns() + 2);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(slice.num_columns() + 2);
    for (f, a) in slice.schema().fields().iter().zip(slice.columns()) {
        if is_nested(f.data_type()) {
            return None;
        }
        let name = row_key_name(ctx.settings.naming, f.name());
        if name.starts_with("_dlt") || names.contains(&name) {
            return None;
        }
        let col = table.columns.get(&name)?;
        let t = col.data_type?;
        if !col.nullable && a.null_count() > 0 {
            return None;
        }
        arrays.push(convert(a, t)?);
        fields.push(Field::new(&name, arrow_type(t), true));
        names.push(name);
    }
    // NOT NULL columns every row must fill (the per-row path names the one missing).
    if table
        .columns
        .values()
        .any(|c| !c.nullable && !c.name.starts_with("_dlt") && !names.contains(&c.name))
    {
        return None;
    }
    fields.push(Field::new(C_DLT_LOAD_ID, arrow_type(DataType::Text), true));
    arrays.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(ctx.load_id, n),
    )));
    fields.push(Field::new(C_DLT_ID, arrow_type(DataType::Text), true));
    arrays.push(random_ids(n, rand::random()));
    let batch = RecordBatch::try_new_with_options(
        Arc::new(ArrowSchema::new(fields)),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .ok()?;
    Some(ChunkOutput {
        tables: vec![TableChunk {
            name: table_name.clone(),
            parent: None,
            is_new: false,
            new_columns: Vec::new(),
            batch,
        }],
        items: n as u64,
    })
}

/// `n` random `_dlt_id`s (10 random bytes, unpadded base64, as the per-row path makes them).
fn random_ids(n: usize, seed: u64) -> ArrayRef {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // splitmix64: ids only need to be unique, not secret
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut b = StringBuilder::with_capacity(n, n * 14);
    let mut buf = [0u8; 16];
    for _ in 0..n {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&next().to_le_bytes());
        bytes[8..].copy_from_slice(&next().to_le_bytes());
        let len = STANDARD_NO_PAD
            .encode_slice(&bytes[..DLT_ID_LENGTH_BYTES], &mut buf)
            .unwrap_or(0);
        b.append_value(std::str::from_utf8(&buf[..len]).unwrap_or_default());
    }
    Arc::new(b.finish())
}

/// Column `a` as the job column of dlt type `t`; `None` when a value would need a variant
/// (or is an error the per-row path reports).
fn convert(a: &ArrayRef, t: DataType) -> Option<ArrayRef> {
    use ArrowType as A;
    let same = |a: &ArrayRef| Some(a.clone());
    match (a.data_type(), t) {
        (A::Int64, DataType::Bigint) | (A::Boolean, DataType::Bool) => same(a),
        (A::Int8 | A::Int16 | A::Int32 | A::UInt8 | A::UInt16 | A::UInt32, DataType::Bigint) => {
            arrow::compute::cast(a, &A::Int64).ok()
        }
        (A::Float64 | A::Float32, DataType::Double) => {
            let f = arrow::compute::cast(a, &A::Float64).ok()?;
            // A Python float from the row: `-0.0` loads as `0.0`.
            let f: PrimitiveArray<Float64Type> = f
                .as_primitive::<Float64Type>()
                .unary(|v| if v == 0.0 { 0.0 } else { v });
            Some(Arc::new(f))
        }
        (A::Utf8, DataType::Text) if !any_typed_prefix(a.as_string::<i32>()) => same(a),
        (A::Binary, DataType::Binary) => same(a),
        (A::Date32, DataType::Date) if in_range(a.as_primitive::<Date32Type>().values(), DAYS) => {
            same(a)
        }
        (A::Time64(TimeUnit::Microsecond), DataType::Time)
            if in_range(
                a.as_primitive::<Time64MicrosecondType>().values(),
                (0, DAY_MICROS - 1),
            ) =>
        {
            same(a)
        }
        (A::Timestamp(TimeUnit::Microsecond, _), DataType::Timestamp)
            if in_range(
                a.as_primitive::<TimestampMicrosecondType>().values(),
                MICROS,
            ) =>
        {
            let data = a
                .to_data()
                .into_builder()
                .data_type(arrow_type(DataType::Timestamp))
                .build()
                .ok()?;
            Some(arrow::array::make_array(data))
        }
        (A::Decimal128(p, s), DataType::Decimal)
            if (0..=DECIMAL_SCALE).contains(s)
                && i16::from(*p) - i16::from(*s) <= 38 - i16::from(DECIMAL_SCALE) =>
        {
            let f = 10i128.pow((DECIMAL_SCALE - *s) as u32);
            let d: PrimitiveArray<Decimal128Type> = a
                .as_primitive::<Decimal128Type>()
                .unary(|v| v.wrapping_mul(f));
            Some(Arc::new(
                d.with_precision_and_scale(38, DECIMAL_SCALE).ok()?,
            ))
        }
        _ => per_value(a.as_ref(), t),
    }
}

/// Whether every value (NULL slots included: their bytes only make the check stricter) lies
/// in `[lo, hi]`.
fn in_range<T: Copy + PartialOrd>(values: &[T], (lo, hi): (T, T)) -> bool {
    values.iter().all(|v| *v >= lo && *v <= hi)
}

/// Whether a value starts like one of dlt's typed-JSON strings (U+F026..U+F02D begin with the
/// byte 0xEF), which the per-row path decodes.
fn any_typed_prefix(a: &StringArray) -> bool {
    let bytes = a.value_data();
    let offsets = a.value_offsets();
    offsets.windows(2).any(|w| {
        let (s, e) = (w[0] as usize, w[1] as usize);
        e > s && bytes[s] == 0xEF
    })
}

/// The general conversion: each value as the per-row path fits it into an existing column.
fn per_value(a: &dyn Array, t: DataType) -> Option<ArrayRef> {
    let mut b = ColumnBuilder::new(t, a.len());
    for row in 0..a.len() {
        if a.is_null(row) {
            b.append_null();
            continue;
        }
        let v = value_at(a, row).ok()?;
        b.append(coerce::to_scalar(&v, t)?);
    }
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BinaryArray, Decimal128Array, Float64Array, Int32Array, Time64MicrosecondArray,
        TimestampMicrosecondArray,
    };

    /// What the per-row path makes of every value of `a` in a column of type `t`.
    fn per_row(a: &ArrayRef, t: DataType) -> ArrayRef {
        per_value(a.as_ref(), t).expect("the per-row path takes every value")
    }

    #[test]
    fn columnar_conversions_equal_the_per_row_path() {
        let cases: Vec<(ArrayRef, DataType)> = vec![
            (
                Arc::new(Int32Array::from(vec![Some(1), None, Some(-7)])),
                DataType::Bigint,
            ),
            (
                Arc::new(Float64Array::from(vec![
                    Some(-0.0),
                    Some(1.5),
                    None,
                    Some(f64::NAN),
                ])),
                DataType::Double,
            ),
            (
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ünï")])),
                DataType::Text,
            ),
            (
                Arc::new(BinaryArray::from(vec![
                    Some(&b"\x01\xff"[..]),
                    Some(&b""[..]),
                    None,
                ])),
                DataType::Binary,
            ),
            (
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), Some(-9_999_999_999), None])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                DataType::Decimal,
            ),
            (
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1_704_164_645_123_456),
                    Some(-1),
                    None,
                ])),
                DataType::Timestamp,
            ),
            (
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(0), Some(MICROS.1)])
                        .with_timezone("UTC"),
                ),
                DataType::Timestamp,
            ),
            (
                Arc::new(Time64MicrosecondArray::from(vec![
                    Some(0),
                    Some(DAY_MICROS - 1),
                ])),
                DataType::Time,
            ),
            (
                Arc::new(arrow::array::Date32Array::from(vec![
                    Some(DAYS.0),
                    Some(DAYS.1),
                    None,
                ])),
                DataType::Date,
            ),
        ];
        for (a, t) in cases {
            let fast = convert(&a, t).unwrap();
            let slow = per_row(&a, t);
            assert_eq!(fast.data_type(), &arrow_type(t), "{t:?}");
            assert_eq!(fast.to_data(), slow.to_data(), "{t:?}: {a:?}");
        }
    }

    #[test]
    fn values_outside_the_identities_take_the_per_row_path() {
        // `24:00:00` is no Python time: the per-row path decides (here: a variant).
        let t: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![Some(DAY_MICROS)]));
        assert!(convert(&t, DataType::Time).is_none());
        // A typed-JSON string is decoded by the per-row path.
        let s: ArrayRef = Arc::new(StringArray::from(vec!["\u{f026}1.5"]));
        assert_eq!(
            convert(&s, DataType::Text).unwrap().to_data(),
            per_row(&s, DataType::Text).to_data()
        );
        // Text into a json column: parsed and compacted as the per-row path does.
        let j: ArrayRef = Arc::new(StringArray::from(vec![r#"{"a": [1, 2]}"#]));
        let out = convert(&j, DataType::Json).unwrap();
        assert_eq!(out.as_string::<i32>().value(0), r#"{"a":[1,2]}"#);
    }

    #[test]
    fn ids_are_distinct_and_shaped_like_dlts() {
        let ids = random_ids(1000, 42);
        let ids = ids.as_string::<i32>();
        let set: std::collections::HashSet<&str> = ids.iter().flatten().collect();
        assert_eq!(set.len(), 1000);
        assert!(ids.iter().flatten().all(|s| s.len() == 14));
    }
}

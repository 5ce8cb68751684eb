//! Columnar builders: typed cell values into Arrow arrays, one builder per dlt type.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float64Builder, Int64Builder, StringArray, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::buffer::{Buffer, MutableBuffer};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};

use super::value::Scalar;
use crate::schema::DataType;

/// Scale of dlt's default `decimal` type.
pub const DECIMAL_SCALE: i8 = 9;

/// The Arrow type used in job files for a dlt type.
pub fn arrow_type(t: DataType) -> ArrowType {
    match t {
        DataType::Text | DataType::Json => ArrowType::Utf8,
        DataType::Double => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Bigint => ArrowType::Int64,
        DataType::Binary => ArrowType::Binary,
        DataType::Decimal => ArrowType::Decimal128(38, DECIMAL_SCALE),
        DataType::Wei => ArrowType::Decimal128(38, 0),
        DataType::Date => ArrowType::Date32,
        DataType::Time => ArrowType::Time64(TimeUnit::Microsecond),
    }
}

/// A growable typed column.
pub enum ColumnBuilder {
    /// text and json.
    Utf8(StringBuilder),
    /// bigint.
    Int64(Int64Builder),
    /// double.
    Float64(Float64Builder),
    /// bool.
    Bool(BooleanBuilder),
    /// timestamp (µs, UTC).
    Timestamp(TimestampMicrosecondBuilder),
    /// date.
    Date(Date32Builder),
    /// time (µs).
    Time(Time64MicrosecondBuilder),
    /// decimal and wei.
    Decimal(Decimal128Builder, u8, i8),
    /// binary.
    Binary(BinaryBuilder),
}

impl ColumnBuilder {
    /// An empty builder for a dlt type.
    pub fn new(t: DataType, capacity: usize) -> ColumnBuilder {
        match t {
            DataType::Text | DataType::Json => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            DataType::Double => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Timestamp => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            DataType::Bigint => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Binary => ColumnBuilder::Binary(BinaryBuilder::new()),
            DataType::Decimal => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity),
                38,
                DECIMAL_SCALE,
            ),
            DataType::Wei => {
                ColumnBuilder::Decimal(Decimal128Builder::with_capacity(capacity), 38, 0)
            }
            DataType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            DataType::Time => {
                ColumnBuilder::Time(Time64MicrosecondBuilder::with_capacity(capacity))
            }
        }
    }

    /// Appends a NULL.
    pub fn append_null(&mut self) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Decimal(b, _, _) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
        }
    }

    /// Appends `n` NULLs.
    pub fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnBuilder::Utf8(b) => (0..n).for_each(|_| b.append_null()),
            ColumnBuilder::Int64(b) => b.append_nulls(n),
            ColumnBuilder::Float64(b) => b.append_nulls(n),
            ColumnBuilder::Bool(b) => b.append_nulls(n),
            ColumnBuilder::Timestamp(b) => b.append_nulls(n),
            ColumnBuilder::Date(b) => b.append_nulls(n),
            ColumnBuilder::Time(b) => b.append_nulls(n),
            ColumnBuilder::Decimal(b, _, _) => b.append_nulls(n),
            ColumnBuilder::Binary(b) => (0..n).for_each(|_| b.append_null()),
        }
    }

    /// Appends a value already coerced to the builder's type. A value of another type is
    /// stored as NULL (callers coerce first, so this does not happen).
    pub fn append(&mut self, v: Scalar<'_>) {
        match (self, v) {
            (ColumnBuilder::Utf8(b), Scalar::Text(s)) => b.append_value(s),
            (ColumnBuilder::Utf8(b), Scalar::Json(s)) => b.append_value(s),
            (ColumnBuilder::Int64(b), Scalar::Bigint(i)) => b.append_value(i),
            (ColumnBuilder::Float64(b), Scalar::Double(f)) => b.append_value(f),
            (ColumnBuilder::Bool(b), Scalar::Bool(x)) => b.append_value(x),
            (ColumnBuilder::Timestamp(b), Scalar::Timestamp(t)) => b.append_value(t),
            (ColumnBuilder::Date(b), Scalar::Date(d)) => b.append_value(d),
            (ColumnBuilder::Time(b), Scalar::Time(t)) => b.append_value(t),
            (ColumnBuilder::Decimal(b, _, _), Scalar::Decimal(d)) => b.append_value(d),
            (ColumnBuilder::Decimal(b, _, _), Scalar::Wei(d)) => b.append_value(d),
            (ColumnBuilder::Binary(b), Scalar::Binary(x)) => b.append_value(x),
            (b, _) => b.append_null(),
        }
    }

    /// Appends a string (fast path for text columns).
    pub fn append_str(&mut self, s: &str) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_value(s),
            other => other.append_null(),
        }
    }

    /// Appends `len` placeholder bytes to a text column, to be overwritten at
    /// [`ColumnBuilder::finish_patched`]; returns their offset in the values buffer (`None`
    /// for other types, which get a NULL).
    pub fn append_placeholder(&mut self, len: usize) -> Option<usize> {
        const FILL: &str = "????????????????????????????????";
        match self {
            ColumnBuilder::Utf8(b) if len <= FILL.len() => {
                let at = b.values_slice().len();
                b.append_value(&FILL[..len]);
                Some(at)
            }
            other => {
                other.append_null();
                None
            }
        }
    }

    /// Finishes a text column after `patch` overwrote placeholders in its values buffer with
    /// ASCII (other columns finish as [`ColumnBuilder::finish`] does).
    pub fn finish_patched(&mut self, patch: &mut dyn FnMut(&mut [u8])) -> ArrayRef {
        let ColumnBuilder::Utf8(b) = self else {
            return self.finish();
        };
        let (offsets, values, nulls) = b.finish().into_parts();
        let mut values = values
            .into_mutable()
            .unwrap_or_else(|shared| MutableBuffer::from(shared.as_slice().to_vec()));
        patch(values.as_slice_mut());
        let values: Buffer = values.into();
        match StringArray::try_new(offsets.clone(), values.clone(), nulls.clone()) {
            Ok(a) => Arc::new(a),
            // Unreachable while `patch` writes ASCII over ASCII; keep every row anyway.
            Err(_) => {
                let bin = BinaryArray::new(offsets, values, nulls);
                Arc::new(
                    bin.iter()
                        .map(|v| v.map(|v| String::from_utf8_lossy(v).into_owned()))
                        .collect::<StringArray>(),
                )
            }
        }
    }

    /// Finishes into an Arrow array.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, p, s) => {
                let arr = b.finish();
                let (p, s) = (*p, *s);
                Arc::new(arr.with_precision_and_scale(p, s).unwrap_or_else(|_| {
                    arrow::array::Decimal128Array::from(Vec::<Option<i128>>::new())
                }))
            }
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

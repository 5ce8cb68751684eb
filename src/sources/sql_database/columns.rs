//! The reflected columns of a table, their dlt types at each reflection level, and the Arrow
//! batches the drivers fill ([`BatchBuilder`]).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder,
    Decimal128Builder, Float64Builder, Int64Builder, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType as ArrowType, Date32Type, Decimal128Type, DecimalType, Field, Float64Type, Int64Type,
    Schema, SchemaRef, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::config::ReflectionLevel;
use crate::error::{Error, Result};

/// A column's type as dango reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer of `bits` bits (dlt's `bigint`).
    Int {
        /// 16, 32 or 64.
        bits: u32,
    },
    /// A float (dlt's `double`).
    Float,
    /// A decimal with precision and scale (precision ≤ 38).
    Decimal {
        /// Total digits.
        precision: u8,
        /// Fraction digits.
        scale: i8,
    },
    /// Text, with its declared length.
    Text {
        /// `varchar(n)` / `char(n)`.
        length: Option<u32>,
    },
    /// Boolean.
    Bool,
    /// Date.
    Date,
    /// Time of day (microseconds).
    Time,
    /// Timestamp (microseconds); `tz` when it is an instant (`timestamptz`).
    Timestamp {
        /// Whether the column has a time zone.
        tz: bool,
    },
    /// JSON (dlt's `json`), carried as its text.
    Json,
    /// Bytes.
    Binary,
    /// A type dlt does not know: read as text, type left to the values.
    Other,
}

/// One reflected column.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlColumn {
    /// Column name.
    pub name: String,
    /// Type read.
    pub kind: Kind,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The database's type name (for SQL casts and messages).
    pub db_type: String,
}

impl SqlColumn {
    /// The Arrow type the drivers fill.
    pub fn arrow_type(&self) -> ArrowType {
        match self.kind {
            Kind::Int { .. } => ArrowType::Int64,
            Kind::Float => ArrowType::Float64,
            Kind::Decimal { precision, scale } => ArrowType::Decimal128(precision, scale),
            Kind::Text { .. } | Kind::Json | Kind::Other => ArrowType::Utf8,
            Kind::Bool => ArrowType::Boolean,
            Kind::Date => ArrowType::Date32,
            Kind::Time => ArrowType::Time64(TimeUnit::Microsecond),
            Kind::Timestamp { tz } => {
                ArrowType::Timestamp(TimeUnit::Microsecond, tz.then(|| Arc::from("UTC")))
            }
            Kind::Binary => ArrowType::Binary,
        }
    }

    /// The dlt column hint at `level` (dlt's `table_to_columns`): name, nullable, and the
    /// type at `full` / `full_with_precision`.
    pub fn hint(&self, level: ReflectionLevel, primary_key: bool) -> Value {
        let mut h = json!({"name": self.name, "nullable": self.nullable});
        if primary_key {
            h["primary_key"] = json!(true);
        }
        let precise = level == ReflectionLevel::FullWithPrecision;
        let (data_type, precision, scale, timezone): (
            &str,
            Option<u32>,
            Option<i64>,
            Option<bool>,
        ) = match (level, self.kind) {
            // At `minimal` dlt infers JSON values from what the driver gives: objects are
            // flattened into `<col>__<key>` columns, arrays become nested tables.
            (_, Kind::Other) | (ReflectionLevel::Minimal, Kind::Json) => return h,
            (ReflectionLevel::Minimal, k) => (minimal_type(k), None, None, None),
            (_, Kind::Int { bits }) => ("bigint", (precise && bits < 64).then_some(32), None, None),
            (_, Kind::Float) => ("double", None, None, None),
            (_, Kind::Decimal { precision, scale }) => (
                "decimal",
                Some(u32::from(precision)),
                Some(i64::from(scale)),
                None,
            ),
            (_, Kind::Text { length }) => ("text", length.filter(|_| precise), None, None),
            (_, Kind::Bool) => ("bool", None, None, None),
            (_, Kind::Date) => ("date", None, None, None),
            (_, Kind::Time) => ("time", None, None, None),
            (_, Kind::Timestamp { tz }) => ("timestamp", None, None, (!tz).then_some(false)),
            (_, Kind::Json) => ("json", None, None, None),
            (_, Kind::Binary) => ("binary", None, None, None),
        };
        h["data_type"] = json!(data_type);
        if let Some(p) = precision {
            h["precision"] = json!(p);
        }
        if let Some(s) = scale {
            h["scale"] = json!(s);
        }
        if let Some(tz) = timezone {
            h["timezone"] = json!(tz);
        }
        h
    }
}

/// The type dlt infers from the Python value of a column read at `minimal`.
fn minimal_type(k: Kind) -> &'static str {
    match k {
        Kind::Int { .. } => "bigint",
        Kind::Float => "double",
        Kind::Decimal { .. } => "decimal",
        Kind::Text { .. } | Kind::Other => "text",
        Kind::Bool => "bool",
        Kind::Date => "date",
        Kind::Time => "time",
        Kind::Timestamp { .. } => "timestamp",
        Kind::Json => "json",
        Kind::Binary => "binary",
    }
}

/// The Arrow schema of `columns`. JSON columns are text marked as Arrow's `arrow.json`
/// extension: where no type is declared for them (`minimal`), normalize reads the documents as
/// the values dlt gets from the driver.
pub fn arrow_schema(columns: &[SqlColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let f = Field::new(&c.name, c.arrow_type(), true);
                if c.kind == Kind::Json {
                    f.with_metadata(std::collections::HashMap::from([(
                        "ARROW:extension:name".to_string(),
                        "arrow.json".to_string(),
                    )]))
                } else {
                    f
                }
            })
            .collect::<Vec<_>>(),
    ))
}

/// One value read by a driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A decimal number as text (`-12.50`).
    Decimal(Cow<'a, str>),
    /// Text.
    Text(Cow<'a, str>),
    /// A boolean.
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01 00:00 (UTC for instants).
    Timestamp(i64),
    /// Bytes.
    Bytes(Cow<'a, [u8]>),
}

enum Col {
    Int(Int64Builder),
    Float(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Binary(BinaryBuilder),
}

/// Builds Arrow batches of a table's columns, value by value.
pub struct BatchBuilder {
    schema: SchemaRef,
    names: Vec<String>,
    cols: Vec<Col>,
    rows: usize,
}

impl BatchBuilder {
    /// A builder for `columns`.
    pub fn new(columns: &[SqlColumn]) -> BatchBuilder {
        let schema = arrow_schema(columns);
        let cols = columns
            .iter()
            .map(|c| match c.kind {
                Kind::Int { .. } => Col::Int(Int64Builder::new()),
                Kind::Float => Col::Float(Float64Builder::new()),
                Kind::Decimal { precision, scale } => Col::Decimal(
                    Decimal128Builder::new().with_data_type(c.arrow_type()),
                    precision,
                    scale,
                ),
                Kind::Text { .. } | Kind::Json | Kind::Other => Col::Text(StringBuilder::new()),
                Kind::Bool => Col::Bool(BooleanBuilder::new()),
                Kind::Date => Col::Date(Date32Builder::new()),
                Kind::Time => Col::Time(Time64MicrosecondBuilder::new()),
                Kind::Timestamp { tz } => Col::Timestamp(
                    TimestampMicrosecondBuilder::new().with_timezone_opt(tz.then_some("UTC")),
                ),
                Kind::Binary => Col::Binary(BinaryBuilder::new()),
            })
            .collect();
        BatchBuilder {
            schema,
            names: columns.iter().map(|c| c.name.clone()).collect(),
            cols,
            rows: 0,
        }
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Counts a finished row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Appends `cell` to column `i`; a value that does not fit the column's type is an error
    /// naming the column.
    pub fn push(&mut self, i: usize, cell: Cell<'_>) -> Result<()> {
        if cell == Cell::Null {
            match &mut self.cols[i] {
                Col::Int(b) => b.append_null(),
                Col::Float(b) => b.append_null(),
                Col::Decimal(b, ..) => b.append_null(),
                Col::Text(b) => b.append_null(),
                Col::Bool(b) => b.append_null(),
                Col::Date(b) => b.append_null(),
                Col::Time(b) => b.append_null(),
                Col::Timestamp(b) => b.append_null(),
                Col::Binary(b) => b.append_null(),
            }
            return Ok(());
        }
        self_push(&mut self.cols[i], cell).map_err(|why| self.bad(i, why))
    }

    fn bad(&self, i: usize, why: String) -> Error {
        Error::Config(format!("column `{}`: {why}", self.names[i]))
    }

    /// The rows appended so far as one batch (and a fresh start).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| match c {
                Col::Int(b) => Arc::new(b.finish()) as ArrayRef,
                Col::Float(b) => Arc::new(b.finish()),
                Col::Decimal(b, ..) => Arc::new(b.finish()),
                Col::Text(b) => Arc::new(b.finish()),
                Col::Bool(b) => Arc::new(b.finish()),
                Col::Date(b) => Arc::new(b.finish()),
                Col::Time(b) => Arc::new(b.finish()),
                Col::Timestamp(b) => Arc::new(b.finish()),
                Col::Binary(b) => ArrayBuilder::finish(b),
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::Internal(format!("building an Arrow batch: {e}")))
    }
}

fn self_push(col: &mut Col, cell: Cell<'_>) -> std::result::Result<(), String> {
    let mismatch = |what: &str, cell: &Cell<'_>| format!("cannot read {cell:?} as {what}");
    match col {
        Col::Int(b) => match cell {
            Cell::Int(v) => b.append_value(v),
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => b.append_value(f as i64),
            Cell::Bool(v) => b.append_value(i64::from(v)),
            Cell::Text(ref s) | Cell::Decimal(ref s) => b.append_value(
                s.trim()
                    .parse()
                    .map_err(|_| mismatch("an integer", &cell))?,
            ),
            c => return Err(mismatch("an integer", &c)),
        },
        Col::Float(b) => match cell {
            Cell::Float(v) => b.append_value(v),
            Cell::Int(v) => b.append_value(v as f64),
            Cell::Text(ref s) | Cell::Decimal(ref s) => {
                b.append_value(s.trim().parse().map_err(|_| mismatch("a float", &cell))?)
            }
            c => return Err(mismatch("a float", &c)),
        },
        Col::Decimal(b, p, s) => {
            let text = match &cell {
                Cell::Decimal(t) | Cell::Text(t) => t.to_string(),
                Cell::Int(v) => v.to_string(),
                Cell::Float(f) => crate::pycompat::num::py_float_repr(*f),
                c => return Err(mismatch("a decimal", c)),
            };
            let v = decimal_i128(&text, *p, *s)
                .ok_or_else(|| format!("the value {text} does not fit DECIMAL({p},{s})"))?;
            b.append_value(v)
        }
        Col::Text(b) => match cell {
            Cell::Text(s) | Cell::Decimal(s) => b.append_value(s),
            Cell::Int(v) => b.append_value(v.to_string()),
            Cell::Float(v) => b.append_value(crate::pycompat::num::py_float_repr(v)),
            Cell::Bool(v) => b.append_value(if v { "true" } else { "false" }),
            Cell::Bytes(v) => b.append_value(String::from_utf8_lossy(&v)),
            c => return Err(mismatch("text", &c)),
        },
        Col::Bool(b) => match cell {
            Cell::Bool(v) => b.append_value(v),
            Cell::Int(v) => b.append_value(v != 0),
            Cell::Text(ref s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "t" => b.append_value(true),
                "0" | "false" | "f" => b.append_value(false),
                _ => return Err(mismatch("a boolean", &cell)),
            },
            c => return Err(mismatch("a boolean", &c)),
        },
        Col::Date(b) => match cell {
            Cell::Date(v) => b.append_value(v),
            Cell::Text(ref s) => {
                b.append_value(parse_date(s).ok_or_else(|| mismatch("a date", &cell))?)
            }
            c => return Err(mismatch("a date", &c)),
        },
        Col::Time(b) => match cell {
            Cell::Time(v) => b.append_value(v),
            Cell::Text(ref s) => {
                b.append_value(parse_time(s).ok_or_else(|| mismatch("a time", &cell))?)
            }
            c => return Err(mismatch("a time", &c)),
        },
        Col::Timestamp(b) => match cell {
            Cell::Timestamp(v) => b.append_value(v),
            Cell::Date(d) => b.append_value(i64::from(d) * 86_400_000_000),
            Cell::Text(ref s) => b.append_value(
                crate::incremental::parse_instant(s)
                    .map(|t| t.timestamp_micros())
                    .ok_or_else(|| mismatch("a timestamp", &cell))?,
            ),
            c => return Err(mismatch("a timestamp", &c)),
        },
        Col::Binary(b) => match cell {
            Cell::Bytes(v) => b.append_value(v),
            Cell::Text(s) => b.append_value(s.as_bytes()),
            c => return Err(mismatch("bytes", &c)),
        },
    }
    Ok(())
}

/// `text` (a decimal number) as an `i128` with `scale` fraction digits, rounded half away from
/// zero; `None` when it is not a number or has more than `precision` digits.
pub fn decimal_i128(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    // Exponent forms (1e-05) from floats.
    let (mant, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut digits: Vec<u8> = Vec::with_capacity(int.len() + frac.len());
    for c in int.bytes().chain(frac.bytes()) {
        if !c.is_ascii_digit() {
            return None;
        }
        digits.push(c - b'0');
    }
    // value = digits * 10^(exp - frac.len()); want value * 10^scale.
    let shift = exp + i32::from(scale) - frac.len() as i32;
    let mut v: i128 = 0;
    let keep = if shift >= 0 {
        digits.len()
    } else {
        digits.len().saturating_sub((-shift) as usize)
    };
    for d in &digits[..keep] {
        v = v.checked_mul(10)?.checked_add(i128::from(*d))?;
    }
    if shift > 0 {
        v = v.checked_mul(10i128.checked_pow(shift as u32)?)?;
    } else if shift < 0 && keep < digits.len() && digits[keep] >= 5 {
        v = v.checked_add(1)?;
    }
    if v >= 10i128.checked_pow(u32::from(precision))? {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn parse_date(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
    (t - chrono::NaiveTime::MIN).num_microseconds()
}

/// The value at `row` of a column built by [`BatchBuilder`], as dlt's incremental sees it:
/// numbers, ISO text for dates and times (`+00:00` for instants), base64 for bytes.
pub fn json_at(a: &dyn Array, row: usize) -> Value {
    use base64::Engine;
    if a.is_null(row) {
        return Value::Null;
    }
    match a.data_type() {
        ArrowType::Int64 => json!(a.as_primitive::<Int64Type>().value(row)),
        ArrowType::Float64 => json!(a.as_primitive::<Float64Type>().value(row)),
        ArrowType::Decimal128(_, s) => {
            let v = a.as_primitive::<Decimal128Type>().value(row);
            let text = Decimal128Type::format_decimal(v, 38, *s);
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
        ArrowType::Utf8 => json!(a.as_string::<i32>().value(row)),
        ArrowType::Boolean => json!(a.as_boolean().value(row)),
        ArrowType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(row);
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(d))));
            date.map(|d| json!(d.format("%Y-%m-%d").to_string()))
                .unwrap_or(Value::Null)
        }
        ArrowType::Time64(_) => {
            let us = a.as_primitive::<Time64MicrosecondType>().value(row);
            let t = chrono::NaiveTime::MIN + chrono::Duration::microseconds(us);
            json!(iso_time(t.format("%H:%M:%S%.6f").to_string()))
        }
        ArrowType::Timestamp(_, tz) => {
            let us = a.as_primitive::<TimestampMicrosecondType>().value(row);
            let Some(t) = chrono::DateTime::from_timestamp_micros(us) else {
                return Value::Null;
            };
            let text = iso_time(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
            json!(if tz.is_some() { text + "+00:00" } else { text })
        }
        ArrowType::Binary => {
            json!(base64::engine::general_purpose::STANDARD.encode(a.as_binary::<i32>().value(row)))
        }
        _ => Value::Null,
    }
}

/// Python's `isoformat`: no fraction when the microseconds are zero.
fn iso_time(s: String) -> String {
    match s.strip_suffix(".000000") {
        Some(t) => t.to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_scale_and_round() {
        assert_eq!(decimal_i128("12.5", 10, 2), Some(1250));
        assert_eq!(decimal_i128("-0.125", 10, 2), Some(-13));
        assert_eq!(decimal_i128("1e-2", 10, 3), Some(10));
        assert_eq!(decimal_i128("123456", 5, 0), None);
        assert_eq!(decimal_i128("abc", 5, 0), None);
        assert_eq!(decimal_i128("7", 38, 9), Some(7_000_000_000));
    }

    #[test]
    fn hints_follow_the_reflection_level() {
        let c = SqlColumn {
            name: "n".into(),
            kind: Kind::Text { length: Some(20) },
            nullable: false,
            db_type: "varchar".into(),
        };
        assert_eq!(
            c.hint(ReflectionLevel::Full, true),
            json!({"name": "n", "nullable": false, "primary_key": true, "data_type": "text"})
        );
        assert_eq!(
            c.hint(ReflectionLevel::FullWithPrecision, false)["precision"],
            json!(20)
        );
        let ts = SqlColumn {
            kind: Kind::Timestamp { tz: false },
            ..c
        };
        assert_eq!(
            ts.hint(ReflectionLevel::Full, false)["timezone"],
            json!(false)
        );
        assert!(
            ts.hint(ReflectionLevel::Minimal, false)
                .get("timezone")
                .is_none()
        );
    }
}

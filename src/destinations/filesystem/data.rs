//! Table data: dlt column types as Delta and Arrow types, job files (Arrow IPC) cast to the
//! table's columns, Parquet files (SNAPPY) with Delta's per-file statistics, and reading them
//! back.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    new_null_array,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use arrow::ipc::reader::FileReader;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::schema::{Column, DataType, Table};

/// The Delta type name of a dlt column (`time` is stored as text, as dlt does on Delta).
pub fn delta_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text | DataType::Json | DataType::Time => "string".into(),
        DataType::Double => "double".into(),
        DataType::Bool => "boolean".into(),
        DataType::Timestamp => "timestamp".into(),
        DataType::Bigint => "long".into(),
        DataType::Binary => "binary".into(),
        DataType::Date => "date".into(),
        DataType::Decimal => {
            let (p, s) = decimal_ps(column);
            format!("decimal({p},{s})")
        }
        DataType::Wei => "decimal(38,0)".into(),
    }
}

fn decimal_ps(column: &Column) -> (u8, i8) {
    match (column.precision, column.scale) {
        (Some(p), s) if (1..=38).contains(&p) => (p as u8, s.unwrap_or(0).min(p) as i8),
        _ => (38, 9),
    }
}

/// The Arrow type of a dlt column in the files dango writes.
pub fn arrow_type(column: &Column) -> ArrowType {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text | DataType::Json | DataType::Time => ArrowType::Utf8,
        DataType::Double => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Bigint => ArrowType::Int64,
        DataType::Binary => ArrowType::Binary,
        DataType::Date => ArrowType::Date32,
        DataType::Decimal => {
            let (p, s) = decimal_ps(column);
            ArrowType::Decimal128(p, s)
        }
        DataType::Wei => ArrowType::Decimal128(38, 0),
    }
}

/// The columns of a table that have a type, in schema order.
pub fn complete_columns(table: &Table) -> Vec<&Column> {
    table
        .columns
        .values()
        .filter(|c| c.data_type.is_some())
        .collect()
}

/// The Arrow schema of the files of `table`: its typed columns; a column is NOT NULL only
/// when dlt says so and it is in `required_ok` (columns that existed when the table was
/// created: a column added later is nullable, older files have no values for it).
pub fn arrow_schema(table: &Table, required_ok: &dyn Fn(&str) -> bool) -> SchemaRef {
    let fields: Vec<Field> = complete_columns(table)
        .into_iter()
        .map(|c| Field::new(&c.name, arrow_type(c), c.nullable || !required_ok(&c.name)))
        .collect();
    Arc::new(ArrowSchema::new(fields))
}

/// Delta's `schemaString` for an Arrow schema made by [`arrow_schema`].
pub fn schema_string(table: &Table, schema: &ArrowSchema) -> String {
    let fields: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| {
            let ty = table
                .columns
                .get(f.name())
                .map(delta_type)
                .unwrap_or_else(|| "string".into());
            json!({"name": f.name(), "type": ty, "nullable": f.is_nullable(), "metadata": {}})
        })
        .collect();
    json!({"type": "struct", "fields": fields}).to_string()
}

/// `batch` with exactly the columns of `schema` (by name): missing ones are NULL, others are
/// cast to the schema's types.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => arrow::compute::cast(c, f.data_type()).map_err(|e| {
                Error::Internal(format!("column `{}` cannot be cast: {e}", f.name()))
            })?,
            None => new_null_array(f.data_type(), batch.num_rows()),
        };
        cols.push(col);
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), cols, &opts).map_err(|e| Error::Destination {
        context: "preparing rows for the filesystem destination".into(),
        reason: e.to_string(),
    })
}

/// Reads a job file (Arrow IPC) as batches of `schema`.
pub fn read_job(path: &std::path::Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, f), None).map_err(|e| {
            Error::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        out.push(conform(&b, schema)?);
    }
    Ok(out)
}

/// Decodes a Parquet file.
pub fn decode_parquet<T: ChunkReader + 'static>(data: T, what: &str) -> Result<Vec<RecordBatch>> {
    let err = |e: String| Error::Destination {
        context: format!("reading {what}"),
        reason: e,
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(|e| err(e.to_string()))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| err(e.to_string()))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))
}

/// A Parquet file (SNAPPY) of `batches` and Delta's stats for it.
pub fn encode_parquet(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(Vec<u8>, Value)> {
    write_parquet(Vec::new(), schema, batches.iter().cloned().map(Ok))
}

/// Streams `batches` (of `schema`) into a Parquet file (SNAPPY) written to `out`, computing
/// Delta's stats on the way: no batch is kept once written.
pub fn write_parquet<W: std::io::Write + Send>(
    out: W,
    schema: &SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
) -> Result<(W, Value)> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let err = |e: parquet::errors::ParquetError| Error::Destination {
        context: "writing a Parquet file".into(),
        reason: e.to_string(),
    };
    let mut w = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(err)?;
    let mut acc = Stats::new(schema);
    for b in batches {
        let b = b?;
        acc.add(&b);
        w.write(&b).map_err(err)?;
    }
    let out = w.into_inner().map_err(err)?;
    Ok((out, acc.finish()))
}

/// The batches of the job files `jobs`, read one at a time as batches of `schema`.
pub fn job_batches<'a>(
    jobs: &'a [std::path::PathBuf],
    schema: &'a SchemaRef,
) -> impl Iterator<Item = Result<RecordBatch>> + 'a {
    jobs.iter().flat_map(move |path| {
        let reader = std::fs::File::open(path)
            .map_err(|e| Error::io(path, e))
            .and_then(|f| {
                FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, f), None).map_err(
                    |e| Error::Corrupt {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    },
                )
            });
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> = match reader {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(r) => Box::new(r.map(move |b| {
                let b = b.map_err(|e| Error::Corrupt {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
                conform(&b, schema)
            })),
        };
        batches
    })
}

/// Delta's file statistics: `numRecords`, `minValues`, `maxValues`, `nullCount`, as delta-rs
/// writes them. Min and max are given for integers, doubles, dates, short strings, booleans,
/// timestamps (ISO 8601 truncated to milliseconds, `2024-01-01T10:00:00.123Z`) and decimals
/// (JSON numbers, when the number's text is the exact value; a decimal with more digits than
/// a double holds gets null counts only, so no reader skips a file on a rounded bound).
#[cfg(test)]
pub fn stats(schema: &SchemaRef, batches: &[RecordBatch]) -> Value {
    let mut acc = Stats::new(schema);
    for b in batches {
        acc.add(b);
    }
    acc.finish()
}

/// [`stats`] accumulated batch by batch.
struct Stats {
    names: Vec<String>,
    rows: usize,
    /// Per column: nulls, lowest, highest, whether bounds are given up.
    cols: Vec<(usize, Option<Value>, Option<Value>, bool)>,
}

impl Stats {
    fn new(schema: &SchemaRef) -> Stats {
        Stats {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            rows: 0,
            cols: vec![(0, None, None, false); schema.fields().len()],
        }
    }

    fn add(&mut self, b: &RecordBatch) {
        self.rows += b.num_rows();
        for (i, (nulls, lo, hi, skip)) in self.cols.iter_mut().enumerate() {
            *nulls += b.column(i).null_count();
            if *skip {
                continue;
            }
            match column_range(b.column(i)) {
                Range::Empty => {}
                Range::Skip => *skip = true,
                Range::Values(a, z) => {
                    *lo = Some(match lo.take() {
                        Some(cur) if !less(&a, &cur) => cur,
                        _ => a,
                    });
                    *hi = Some(match hi.take() {
                        Some(cur) if !less(&cur, &z) => cur,
                        _ => z,
                    });
                }
            }
        }
    }

    fn finish(self) -> Value {
        let (mut mins, mut maxs, mut nulls) = (Map::new(), Map::new(), Map::new());
        for (name, (nc, lo, hi, skip)) in self.names.into_iter().zip(self.cols) {
            nulls.insert(name.clone(), json!(nc));
            if let (false, Some(a), Some(z)) = (skip, lo, hi) {
                mins.insert(name.clone(), a);
                maxs.insert(name, z);
            }
        }
        json!({"numRecords": self.rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})
    }
}

enum Range {
    Empty,
    Skip,
    Values(Value, Value),
}

fn less(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x < y,
        (Value::Bool(x), Value::Bool(y)) => !x & y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x < y,
            _ => false,
        },
    }
}

fn column_range(col: &ArrayRef) -> Range {
    if col.null_count() == col.len() {
        return Range::Empty;
    }
    use arrow::compute::{max, max_string, min, min_string};
    match col.data_type() {
        ArrowType::Int64 => {
            let a = col.as_any().downcast_ref::<Int64Array>().expect("int64");
            match (min(a), max(a)) {
                (Some(x), Some(y)) => Range::Values(json!(x), json!(y)),
                _ => Range::Empty,
            }
        }
        ArrowType::Float64 => {
            let a = col
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("float64");
            match (min(a), max(a)) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                    Range::Values(json!(x), json!(y))
                }
                (Some(_), Some(_)) => Range::Skip,
                _ => Range::Empty,
            }
        }
        ArrowType::Date32 => {
            let a = col.as_any().downcast_ref::<Date32Array>().expect("date32");
            let day = |d: i32| {
                chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
                    .map(|d| json!(d.format("%Y-%m-%d").to_string()))
            };
            match (min(a).and_then(day), max(a).and_then(day)) {
                (Some(x), Some(y)) => Range::Values(x, y),
                _ => Range::Skip,
            }
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = col.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let text = |us: i64| {
                chrono::DateTime::from_timestamp_micros(us)
                    .map(|d| json!(d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
            };
            match (min(a).and_then(text), max(a).and_then(text)) {
                (Some(x), Some(y)) => Range::Values(x, y),
                _ => Range::Skip,
            }
        }
        ArrowType::Decimal128(_, scale) => {
            let a = col.as_primitive::<arrow::datatypes::Decimal128Type>();
            match (
                min(a).and_then(|v| exact_number(v, *scale)),
                max(a).and_then(|v| exact_number(v, *scale)),
            ) {
                (Some(x), Some(y)) => Range::Values(x, y),
                _ => Range::Skip,
            }
        }
        ArrowType::Boolean => {
            let a = col.as_boolean();
            let (t, f) = (a.true_count(), a.len() - a.null_count() - a.true_count());
            match (t, f) {
                (0, 0) => Range::Empty,
                _ => Range::Values(json!(f == 0), json!(t > 0)),
            }
        }
        ArrowType::Utf8 => {
            let a = col.as_string::<i32>();
            match (min_string(a), max_string(a)) {
                (Some(x), Some(y)) if x.chars().count() <= 32 && y.chars().count() <= 32 => {
                    Range::Values(json!(x), json!(y))
                }
                _ => Range::Skip,
            }
        }
        _ => Range::Skip,
    }
}

/// A decimal (unscaled `v`, `scale`) as a JSON number, if the number's shortest text is the
/// exact decimal value (at most about 15 significant digits).
fn exact_number(v: i128, scale: i8) -> Option<Value> {
    let exact = decimal_text(v, scale);
    let f: f64 = exact.parse().ok()?;
    (f.is_finite() && f.to_string() == exact).then(|| json!(f))
}

/// The decimal's text without trailing zeros (`-22.125`, `100`, `0`).
fn decimal_text(v: i128, scale: i8) -> String {
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let (int, frac) = if scale <= 0 {
        (
            format!("{digits}{}", "0".repeat(scale.unsigned_abs() as usize)),
            String::new(),
        )
    } else {
        let scale = scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (i, f) = padded.split_at(padded.len() - scale);
        (i.to_string(), f.trim_end_matches('0').to_string())
    };
    let int = match int.trim_start_matches('0') {
        "" => "0",
        i => i,
    };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// A text key of each row from the `keys` columns (NULL and values kept apart).
pub fn row_keys(batch: &RecordBatch, keys: &[String]) -> Result<Vec<String>> {
    let opts = arrow::util::display::FormatOptions::default().with_null("\u{0}NULL");
    let mut cols = Vec::new();
    for k in keys {
        let c = batch.column_by_name(k).ok_or_else(|| Error::Destination {
            context: "merging".into(),
            reason: format!("key column `{k}` is missing from the data"),
        })?;
        cols.push(c.clone());
    }
    let fmts = cols
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("cannot format merge keys: {e}")))?;
    Ok((0..batch.num_rows())
        .map(|r| {
            let parts: Vec<String> = fmts.iter().map(|f| f.value(r).to_string()).collect();
            parts.join("\u{1}")
        })
        .collect())
}

/// The rows of `batch` whose key is not in `drop` (and whether any row was dropped).
pub fn without_keys(
    batch: &RecordBatch,
    keys: &[String],
    drop: &HashSet<String>,
) -> Result<(RecordBatch, bool)> {
    let ks = row_keys(batch, keys)?;
    let keep: BooleanArray = ks.iter().map(|k| Some(!drop.contains(k))).collect();
    let dropped = keep.true_count() < batch.num_rows();
    let out = arrow::compute::filter_record_batch(batch, &keep)
        .map_err(|e| Error::Internal(format!("cannot filter rows: {e}")))?;
    Ok((out, dropped))
}

/// Every value of `batch` as text (NULL as `None`), for samples.
pub fn batch_text(batch: &RecordBatch, limit: usize) -> Vec<Vec<Option<String>>> {
    let opts = arrow::util::display::FormatOptions::default();
    let fmts: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts).ok())
        .collect();
    (0..batch.num_rows().min(limit))
        .map(|r| {
            batch
                .columns()
                .iter()
                .zip(&fmts)
                .map(|(c, f)| match f {
                    _ if c.is_null(r) => None,
                    Some(f) => Some(f.value(r).to_string()),
                    None => Some(String::new()),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_cover_ints_strings_and_nulls() {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("id", ArrowType::Int64, false),
            Field::new("name", ArrowType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![3, 1, 2])),
                Arc::new(arrow::array::StringArray::from(vec![
                    Some("b"),
                    None,
                    Some("a"),
                ])),
            ],
        )
        .unwrap();
        let s = stats(&schema, &[b]);
        assert_eq!(s["numRecords"], json!(3));
        assert_eq!(s["minValues"]["id"], json!(1));
        assert_eq!(s["maxValues"]["id"], json!(3));
        assert_eq!(s["minValues"]["name"], json!("a"));
        assert_eq!(s["nullCount"]["name"], json!(1));
    }

    #[test]
    fn stats_cover_timestamps_decimals_and_booleans() {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new(
                "ts",
                ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", ArrowType::Decimal128(38, 9), true),
            Field::new("wide", ArrowType::Decimal128(38, 9), true),
            Field::new("b", ArrowType::Boolean, true),
        ]));
        let ts = arrow::array::TimestampMicrosecondArray::from(vec![
            Some(1_704_103_200_123_456),
            None,
            Some(1_709_287_200_999_999),
        ])
        .with_timezone("UTC");
        let d = arrow::array::Decimal128Array::from(vec![
            Some(1_500_000_000),
            Some(-22_125_000_000),
            None,
        ])
        .with_precision_and_scale(38, 9)
        .unwrap();
        let wide = arrow::array::Decimal128Array::from(vec![
            Some(123_456_789_012_345_678_901_234_567i128),
            Some(1),
            None,
        ])
        .with_precision_and_scale(38, 9)
        .unwrap();
        let b = BooleanArray::from(vec![Some(true), None, Some(true)]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(ts), Arc::new(d), Arc::new(wide), Arc::new(b)],
        )
        .unwrap();
        let s = stats(&schema, &[batch]);
        // delta-rs's format: milliseconds (truncated), `Z`
        assert_eq!(s["minValues"]["ts"], json!("2024-01-01T10:00:00.123Z"));
        assert_eq!(s["maxValues"]["ts"], json!("2024-03-01T10:00:00.999Z"));
        assert_eq!(s["minValues"]["d"], json!(-22.125));
        assert_eq!(s["maxValues"]["d"], json!(1.5));
        // 27 significant digits: no double holds it, so no bounds at all
        assert!(s["minValues"].get("wide").is_none());
        assert!(s["maxValues"].get("wide").is_none());
        assert_eq!(s["minValues"]["b"], json!(true));
        assert_eq!(s["maxValues"]["b"], json!(true));
        assert_eq!(s["nullCount"]["ts"], json!(1));
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(12_000, 3), "12");
        assert_eq!(decimal_text(7, -2), "700");
        assert_eq!(decimal_text(0, 9), "0");
    }
}

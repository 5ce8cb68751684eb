//! Bulk loading: an Arrow IPC job file streamed into `COPY … FROM STDIN (FORMAT binary)`.
//!
//! Each column is first brought to one Arrow type per kind (integers to `Int64`, timestamps to
//! microseconds, dictionaries to their values, …) and then written in the binary format of
//! the column's type in the table (read from the server, so an existing table's type wins):
//! `int8`/`int4`/`int2`, `float8`/`float4`, `numeric`, `bool`, text types, `jsonb`/`json`,
//! `bytea`, `timestamptz`/`timestamp`, `date`, `time`. Nested Arrow values (lists, structs)
//! become JSON text. A pair that does not fit fails with the column's name and both types.
//!
//! The rows are encoded here (not through `BinaryCopyInWriter`, which sends 4 KB pieces) into
//! buffers of about 1 MiB, each one `CopyData` message, by a thread of its own while the
//! previous buffer is sent.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType as A, Date32Type, Decimal128Type, Decimal256Type, Float64Type, Int64Type,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use arrow::ipc::reader::FileReader;
use futures_util::SinkExt;
use tokio_postgres::types::Type;
use tokio_postgres::types::private::BytesMut;

use super::client::{PgClient, reason};
use super::sql::{qualified, quote_ident};
use crate::error::{Error, Result};

/// Microseconds between the Unix epoch and Postgres's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between the Unix epoch and Postgres's.
const PG_EPOCH_DAYS: i32 = 10_957;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Bytes of binary COPY data per `CopyData` message: rows are encoded into buffers of about
/// this size, each sent as one message.
const CHUNK: usize = 1 << 20;
/// Encoded buffers waiting to be sent (bounds the memory of one COPY to a few chunks).
const IN_FLIGHT: usize = 2;
/// The binary COPY header: signature, flags (0), header extension length (0).
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Loads the job file at `path` into `schema.table` (columns `columns`, in file order) with
/// one `COPY`; errors name the table as `dataset.table` (the schema may be a loading schema).
/// Returns the rows copied.
///
/// A thread of its own reads the job file and encodes the rows into buffers of [`CHUNK`]
/// bytes while the previous buffer is being sent; the server parses the stream meanwhile.
pub(super) fn copy_job(
    client: &PgClient,
    path: &Path,
    schema: &str,
    dataset: &str,
    table: &str,
    columns: &[String],
) -> Result<u64> {
    let target = qualified(schema, table);
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let cols = cols.join(", ");
    let context = format!("loading into {dataset}.{table}");
    let db_err = |e: tokio_postgres::Error| Error::Destination {
        context: context.clone(),
        reason: reason(&e),
    };
    let (pg, rt) = client.parts();
    let started = std::time::Instant::now();
    let (types, sink) = rt.block_on(async {
        let probe = pg
            .prepare(&format!("SELECT {cols} FROM {target}"))
            .await
            .map_err(db_err)?;
        let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
        let sink = pg
            .copy_in::<_, BytesMut>(&format!(
                "COPY {target} ({cols}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(db_err)?;
        Ok::<_, Error>((types, sink))
    })?;
    let rows = std::thread::scope(|scope| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<BytesMut>(IN_FLIGHT);
        let encoder = std::thread::Builder::new()
            .name("dango-pg-copy".into())
            .spawn_scoped(scope, || encode_job(path, columns, &types, tx))
            .map_err(|e| Error::Internal(format!("cannot start the COPY encoder: {e}")))?;
        let sent = rt.block_on(async {
            let mut sink = Box::pin(sink);
            while let Some(chunk) = rx.recv().await {
                sink.as_mut().send(chunk).await?;
            }
            Ok::<_, tokio_postgres::Error>(sink)
        });
        // Dropping the receiver stops an encoder whose chunks can no longer be sent.
        drop(rx);
        let encoded = encoder
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the COPY encoder panicked".into())));
        // Only a complete stream is finished: on any error the sink is dropped, which ends
        // the COPY with CopyFail, and the load transaction is rolled back.
        match (sent, encoded) {
            (Err(e), _) => Err(db_err(e)),
            (Ok(_), Err(e)) => Err(e),
            (Ok(mut sink), Ok(rows)) => {
                let copied = rt.block_on(sink.as_mut().finish()).map_err(db_err)?;
                if copied != rows {
                    return Err(Error::Destination {
                        context: context.clone(),
                        reason: format!("the server copied {copied} row(s) of {rows}"),
                    });
                }
                Ok(rows)
            }
        }
    })?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        rows,
        "COPY {dataset}.{table} from a job file"
    );
    Ok(rows)
}

/// Reads the job file and sends its rows in the binary COPY format (header, rows, trailer) in
/// chunks of about [`CHUNK`] bytes. Returns the rows encoded.
fn encode_job(
    path: &Path,
    columns: &[String],
    types: &[Type],
    tx: tokio::sync::mpsc::Sender<BytesMut>,
) -> Result<u64> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, f), None)
        .map_err(|e| corrupt(e.to_string()))?;
    let fields = i16::try_from(columns.len())
        .map_err(|_| corrupt(format!("{} columns are too many for COPY", columns.len())))?
        .to_be_bytes();
    let stopped = || Error::Internal("the COPY stream was closed".into());
    let mut out = BytesMut::with_capacity(CHUNK + (CHUNK >> 3));
    out.extend_from_slice(HEADER);
    let mut rows = 0u64;
    let mut json = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let mut canon = Vec::with_capacity(columns.len());
        for name in columns {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| corrupt(format!("the job file has no column `{name}`")))?;
            canon.push(canonical(array, name)?);
        }
        let encoders: Vec<Enc<'_>> = canon
            .iter()
            .zip(types)
            .zip(columns)
            .map(|((a, ty), name)| Enc::new(a, ty, name))
            .collect::<Result<_>>()?;
        for row in 0..batch.num_rows() {
            out.extend_from_slice(&fields);
            for (enc, name) in encoders.iter().zip(columns) {
                enc.write_field(row, &mut out, &mut json)
                    .map_err(|e| Error::Destination {
                        context: format!("loading column `{name}`"),
                        reason: e.to_string(),
                    })?;
            }
            if out.len() >= CHUNK {
                let full =
                    std::mem::replace(&mut out, BytesMut::with_capacity(CHUNK + (CHUNK >> 3)));
                tx.blocking_send(full).map_err(|_| stopped())?;
            }
        }
        rows += batch.num_rows() as u64;
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    tx.blocking_send(out).map_err(|_| stopped())?;
    Ok(rows)
}

/// The array with one Arrow type per kind (see the module docs).
fn canonical(a: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let to = match a.data_type() {
        A::Int8 | A::Int16 | A::Int32 | A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64 => {
            Some(A::Int64)
        }
        A::Float16 | A::Float32 => Some(A::Float64),
        A::LargeUtf8 | A::Utf8View => Some(A::Utf8),
        A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => Some(A::Binary),
        A::Timestamp(TimeUnit::Microsecond, _) => None,
        A::Timestamp(_, tz) => Some(A::Timestamp(TimeUnit::Microsecond, tz.clone())),
        A::Date64 => Some(A::Date32),
        A::Time32(_) | A::Time64(TimeUnit::Nanosecond) => Some(A::Time64(TimeUnit::Microsecond)),
        A::Decimal32(p, s) | A::Decimal64(p, s) => Some(A::Decimal128(*p, *s)),
        A::Dictionary(_, v) => Some(v.as_ref().clone()),
        _ => None,
    };
    let Some(to) = to else {
        return Ok(a.clone());
    };
    let out = arrow::compute::cast(a, &to).map_err(|e| Error::Destination {
        context: format!("converting column `{name}`"),
        reason: e.to_string(),
    })?;
    // a dictionary of a kind that needs converting too
    if out.data_type() != a.data_type() && matches!(a.data_type(), A::Dictionary(..)) {
        return canonical(&out, name);
    }
    Ok(out)
}

/// Target encodings of integers.
#[derive(Debug, Clone, Copy)]
enum IntTo {
    I8,
    I4,
    I2,
    F8,
    F4,
    Numeric,
}

/// How one column's values are written.
#[derive(Debug)]
enum Enc<'a> {
    Null,
    Int(&'a arrow::array::Int64Array, IntTo),
    Float(&'a arrow::array::Float64Array, IntTo),
    Bool(&'a arrow::array::BooleanArray),
    Text(&'a arrow::array::StringArray, bool),
    Bytes(&'a arrow::array::BinaryArray),
    Micros(&'a arrow::array::TimestampMicrosecondArray),
    Date(&'a arrow::array::Date32Array),
    Time(&'a arrow::array::Time64MicrosecondArray),
    Dec128(&'a arrow::array::Decimal128Array, i8),
    Dec256(&'a arrow::array::Decimal256Array, i8),
    Json(&'a dyn Array, bool),
}

impl<'a> Enc<'a> {
    fn new(a: &'a ArrayRef, ty: &Type, name: &str) -> Result<Enc<'a>> {
        let mismatch = || Error::Destination {
            context: format!("loading column `{name}`"),
            reason: format!(
                "values of Arrow type {} cannot be loaded into the Postgres column of type {}",
                a.data_type(),
                ty.name()
            ),
        };
        let text_target = [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME];
        let number_to = |ty: &Type| -> Option<IntTo> {
            Some(match *ty {
                Type::INT8 => IntTo::I8,
                Type::INT4 => IntTo::I4,
                Type::INT2 => IntTo::I2,
                Type::FLOAT8 => IntTo::F8,
                Type::FLOAT4 => IntTo::F4,
                Type::NUMERIC => IntTo::Numeric,
                _ => return None,
            })
        };
        Ok(match a.data_type() {
            A::Null => Enc::Null,
            A::Int64 => Enc::Int(
                a.as_primitive::<Int64Type>(),
                number_to(ty).ok_or_else(mismatch)?,
            ),
            A::Float64 => match number_to(ty) {
                Some(to @ (IntTo::F8 | IntTo::F4 | IntTo::Numeric)) => {
                    Enc::Float(a.as_primitive::<Float64Type>(), to)
                }
                _ => return Err(mismatch()),
            },
            A::Boolean if *ty == Type::BOOL => Enc::Bool(a.as_boolean()),
            A::Utf8 if text_target.contains(ty) || *ty == Type::JSON => {
                Enc::Text(a.as_string::<i32>(), false)
            }
            A::Utf8 if *ty == Type::JSONB => Enc::Text(a.as_string::<i32>(), true),
            A::Binary if *ty == Type::BYTEA => Enc::Bytes(a.as_binary::<i32>()),
            A::Timestamp(TimeUnit::Microsecond, _)
                if *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP =>
            {
                Enc::Micros(a.as_primitive::<TimestampMicrosecondType>())
            }
            A::Date32 if *ty == Type::DATE => Enc::Date(a.as_primitive::<Date32Type>()),
            A::Time64(TimeUnit::Microsecond) if *ty == Type::TIME => {
                Enc::Time(a.as_primitive::<Time64MicrosecondType>())
            }
            A::Decimal128(_, s) if *ty == Type::NUMERIC => {
                Enc::Dec128(a.as_primitive::<Decimal128Type>(), *s)
            }
            A::Decimal256(_, s) if *ty == Type::NUMERIC => {
                Enc::Dec256(a.as_primitive::<Decimal256Type>(), *s)
            }
            A::List(_) | A::LargeList(_) | A::FixedSizeList(..) | A::Struct(_) | A::Map(..)
                if *ty == Type::JSONB || *ty == Type::JSON || text_target.contains(ty) =>
            {
                Enc::Json(a.as_ref(), *ty == Type::JSONB)
            }
            _ => return Err(mismatch()),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Enc::Null => true,
            Enc::Int(a, _) => a.is_null(row),
            Enc::Float(a, _) => a.is_null(row),
            Enc::Bool(a) => a.is_null(row),
            Enc::Text(a, _) => a.is_null(row),
            Enc::Bytes(a) => a.is_null(row),
            Enc::Micros(a) => a.is_null(row),
            Enc::Date(a) => a.is_null(row),
            Enc::Time(a) => a.is_null(row),
            Enc::Dec128(a, _) => a.is_null(row),
            Enc::Dec256(a, _) => a.is_null(row),
            Enc::Json(a, _) => a.is_null(row),
        }
    }

    /// Writes the field at `row`: its length (-1 for NULL) and its value in the binary
    /// format. `scratch` is a reusable buffer.
    fn write_field(
        &self,
        row: usize,
        out: &mut BytesMut,
        scratch: &mut Vec<u8>,
    ) -> std::result::Result<(), BoxError> {
        if self.is_null(row) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            return Ok(());
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        self.write(row, out, scratch)?;
        let len = i32::try_from(out.len() - at - 4).map_err(|_| {
            format!(
                "a value of {} bytes is too large for Postgres",
                out.len() - at - 4
            )
        })?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Writes the value at `row` (not null) in the binary format.
    fn write(
        &self,
        row: usize,
        out: &mut BytesMut,
        scratch: &mut Vec<u8>,
    ) -> std::result::Result<(), BoxError> {
        match self {
            Enc::Null => {}
            Enc::Int(a, to) => {
                let v = a.value(row);
                match to {
                    IntTo::I8 => out.extend_from_slice(&v.to_be_bytes()),
                    IntTo::I4 => out.extend_from_slice(&i32::try_from(v)?.to_be_bytes()),
                    IntTo::I2 => out.extend_from_slice(&i16::try_from(v)?.to_be_bytes()),
                    IntTo::F8 => out.extend_from_slice(&(v as f64).to_be_bytes()),
                    IntTo::F4 => out.extend_from_slice(&(v as f32).to_be_bytes()),
                    IntTo::Numeric => numeric(&v.to_string(), 0, out)?,
                }
            }
            Enc::Float(a, to) => {
                let v = a.value(row);
                match to {
                    IntTo::F4 => out.extend_from_slice(&(v as f32).to_be_bytes()),
                    IntTo::Numeric => float_numeric(v, out)?,
                    _ => out.extend_from_slice(&v.to_be_bytes()),
                }
            }
            Enc::Bool(a) => out.extend_from_slice(&[a.value(row) as u8]),
            Enc::Text(a, jsonb) => {
                if *jsonb {
                    out.extend_from_slice(&[1]);
                }
                out.extend_from_slice(a.value(row).as_bytes());
            }
            Enc::Bytes(a) => out.extend_from_slice(a.value(row)),
            Enc::Micros(a) => {
                let v = a.value(row).saturating_sub(PG_EPOCH_MICROS);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Enc::Date(a) => {
                out.extend_from_slice(&a.value(row).saturating_sub(PG_EPOCH_DAYS).to_be_bytes())
            }
            Enc::Time(a) => out.extend_from_slice(&a.value(row).to_be_bytes()),
            Enc::Dec128(a, s) => numeric(&a.value(row).to_string(), *s, out)?,
            Enc::Dec256(a, s) => numeric(&a.value(row).to_string(), *s, out)?,
            Enc::Json(a, jsonb) => {
                if *jsonb {
                    out.extend_from_slice(&[1]);
                }
                scratch.clear();
                super::json::write_value(*a, row, scratch)?;
                out.extend_from_slice(scratch);
            }
        }
        Ok(())
    }
}

/// A float as `numeric` (NaN as NaN; infinities are refused, as numeric(p,s) cannot hold them).
fn float_numeric(v: f64, out: &mut BytesMut) -> std::result::Result<(), BoxError> {
    if v.is_nan() {
        out.extend_from_slice(&[0, 0, 0, 0, 0xC0, 0, 0, 0]);
        return Ok(());
    }
    if v.is_infinite() {
        return Err(format!("{v} does not fit a numeric column").into());
    }
    // Display never uses an exponent.
    let text = v.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let digits = format!("{int}{frac}");
    numeric(&digits, frac.len() as i8, out)
}

/// Writes a `numeric` in Postgres's binary format from the decimal digits of the unscaled
/// value (optionally with a leading `-`) and its scale.
fn numeric(unscaled: &str, scale: i8, out: &mut BytesMut) -> std::result::Result<(), BoxError> {
    let (neg, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    let digits = digits.trim_start_matches('0');
    // A negative scale multiplies by a power of ten.
    let (digits, scale) = if scale < 0 {
        (format!("{digits}{}", "0".repeat((-scale) as usize)), 0usize)
    } else {
        (digits.to_string(), scale as usize)
    };
    let (int, frac) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("", digits.as_str())
    };
    let frac = format!("{}{frac}", "0".repeat(scale.saturating_sub(frac.len())));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
            .collect()
    };
    let int_pad = (4 - int.len() % 4) % 4;
    let int_groups = group(&format!("{}{int}", "0".repeat(int_pad)));
    let frac_pad = (4 - frac.len() % 4) % 4;
    let frac_groups = group(&format!("{frac}{}", "0".repeat(frac_pad)));
    let mut weight = int_groups.len() as i32 - 1;
    let mut groups: Vec<i16> = int_groups.into_iter().chain(frac_groups).collect();
    let lead = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..lead);
    weight -= lead as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if neg && !groups.is_empty() { 0x4000 } else { 0 };
    let ndigits = i16::try_from(groups.len())?;
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&i16::try_from(weight)?.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&u16::try_from(scale)?.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// The canonical form of a column, for tests.
#[cfg(test)]
fn canonical_type(a: &ArrayRef) -> A {
    canonical(a, "c").unwrap().data_type().clone()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn num(unscaled: &str, scale: i8) -> Vec<i16> {
        let mut b = BytesMut::new();
        numeric(unscaled, scale, &mut b).unwrap();
        b.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_binary_format() {
        // 12345.678 = 1 2345 . 6780 ; weight 1, dscale 3
        assert_eq!(num("12345678", 3), vec![3, 1, 0, 3, 1, 2345, 6780]);
        // -0.0001 → one group at weight -1
        assert_eq!(num("-1", 4), vec![1, -1, 0x4000, 4, 1]);
        // 0 with scale 9
        assert_eq!(num("0", 9), vec![0, 0, 0, 9]);
        // 10000 → one group 1 at weight 1 (trailing zero group dropped)
        assert_eq!(num("10000", 0), vec![1, 1, 0, 0, 1]);
        // 1.5 from a float
        let mut b = BytesMut::new();
        float_numeric(1.5, &mut b).unwrap();
        let groups: Vec<i16> = b
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(groups, vec![2, 0, 0, 1, 1, 5000]);
    }

    #[test]
    fn columns_are_canonical() {
        let a: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1, 2]));
        assert_eq!(canonical_type(&a), A::Int64);
        let a: ArrayRef = Arc::new(arrow::array::TimestampNanosecondArray::from(vec![1_000]));
        assert_eq!(
            canonical_type(&a),
            A::Timestamp(TimeUnit::Microsecond, None)
        );
        let a: ArrayRef = Arc::new(
            vec!["a", "b", "a"]
                .into_iter()
                .collect::<arrow::array::DictionaryArray<arrow::datatypes::Int32Type>>(),
        );
        assert_eq!(canonical_type(&a), A::Utf8);
    }
}

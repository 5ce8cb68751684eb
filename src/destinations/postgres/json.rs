//! Nested Arrow values (lists, structs, maps) as JSON text, for `jsonb` columns: what dlt's
//! Arrow path stores for nested columns.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType as A, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Writes the value at `row` of `a` as JSON (`null` for NULL).
pub fn write_value(a: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<(), BoxError> {
    if a.is_null(row) {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    macro_rules! num {
        ($t:ty) => {{
            let mut s = String::new();
            write!(s, "{}", a.as_primitive::<$t>().value(row))?;
            out.extend_from_slice(s.as_bytes());
        }};
    }
    match a.data_type() {
        A::Null => out.extend_from_slice(b"null"),
        A::Boolean => {
            let v = a.as_boolean().value(row);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        A::Int8 => num!(Int8Type),
        A::Int16 => num!(Int16Type),
        A::Int32 => num!(Int32Type),
        A::Int64 => num!(Int64Type),
        A::UInt8 => num!(UInt8Type),
        A::UInt16 => num!(UInt16Type),
        A::UInt32 => num!(UInt32Type),
        A::UInt64 => num!(UInt64Type),
        A::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(row)), out),
        A::Float64 => float(a.as_primitive::<Float64Type>().value(row), out),
        A::Utf8 => string(a.as_string::<i32>().value(row), out),
        A::LargeUtf8 => string(a.as_string::<i64>().value(row), out),
        A::Utf8View => string(a.as_string_view().value(row), out),
        A::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(row);
            let d = chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .ok_or("date out of range")?;
            string(&d.format("%Y-%m-%d").to_string(), out);
        }
        A::Timestamp(unit, _) => {
            let n = a
                .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                .map(|p| p.value(row));
            let micros = match (unit, n) {
                (TimeUnit::Microsecond, Some(v)) => v,
                _ => {
                    let c = arrow::compute::cast(
                        &a.slice(row, 1),
                        &A::Timestamp(TimeUnit::Microsecond, None),
                    )?;
                    c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .value(0)
                }
            };
            let t =
                chrono::DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?;
            string(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true), out);
        }
        A::List(_) => list(a.as_list::<i32>().value(row).as_ref(), out)?,
        A::LargeList(_) => list(a.as_list::<i64>().value(row).as_ref(), out)?,
        A::FixedSizeList(..) => list(a.as_fixed_size_list().value(row).as_ref(), out)?,
        A::Struct(fields) => {
            let s = a.as_struct();
            out.push(b'{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(f.name(), out);
                out.push(b':');
                write_value(s.column(i).as_ref(), row, out)?;
            }
            out.push(b'}');
        }
        A::Map(..) => {
            let m = a.as_map();
            let entries = m.value(row);
            out.push(b'{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push(b',');
                }
                let mut key = Vec::new();
                write_value(entries.column(0).as_ref(), i, &mut key)?;
                if key.first() == Some(&b'"') {
                    out.extend_from_slice(&key);
                } else {
                    string(&String::from_utf8_lossy(&key), out);
                }
                out.push(b':');
                write_value(entries.column(1).as_ref(), i, out)?;
            }
            out.push(b'}');
        }
        _ => {
            // Anything else as its display text.
            let fmt = arrow::util::display::ArrayFormatter::try_new(
                a,
                &arrow::util::display::FormatOptions::default(),
            )?;
            string(&fmt.value(row).to_string(), out);
        }
    }
    Ok(())
}

fn list(values: &dyn Array, out: &mut Vec<u8>) -> Result<(), BoxError> {
    out.push(b'[');
    for i in 0..values.len() {
        if i > 0 {
            out.push(b',');
        }
        write_value(values, i, out)?;
    }
    out.push(b']');
    Ok(())
}

fn float(v: f64, out: &mut Vec<u8>) {
    if v.is_finite() {
        let mut b = ryu::Buffer::new();
        out.extend_from_slice(b.format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A JSON string literal.
fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn nested_values_as_json() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ]);
        let mut out = Vec::new();
        write_value(&list, 0, &mut out).unwrap();
        assert_eq!(out, b"[1,null]");
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("a", A::Utf8, true)),
                Arc::new(StringArray::from(vec!["x\"y"])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", A::Int64, true)),
                Arc::new(Int64Array::from(vec![2])) as ArrayRef,
            ),
        ]);
        let mut out = Vec::new();
        write_value(&s, 0, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":"x\"y","b":2}"#);
    }
}

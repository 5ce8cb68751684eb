//! dlt's type inference and value coercion for JSON items.
//!
//! Ports `_infer_column_type` / `_coerce_non_null_value` of
//! `dlt/normalize/items_normalizers/jsonl.py` and `coerce_value` / `_COERCE_DISPATCH` /
//! `py_type_to_sc_type` of `dlt/common/data_types/type_helpers.py`. A JSON value has one of
//! Python's base types: `str`→`text`, `int`→`bigint`, `float`→`double`, `bool`→`bool`,
//! `dict`/`list`→`json`; [`to_scalar`] converts it into a column of any type the way
//! `coerce_value(column_type, base_type, value)` does, and `None` where dlt raises (the caller
//! then writes a variant column).
//!
//! Where dlt would produce a value the DuckDB load then rejects (an integer beyond `i64` in a
//! `bigint` column, a decimal beyond `DECIMAL(38,9)`, a non-finite decimal) or would crash, this
//! returns `None` instead, so the value lands in a variant column.

use std::borrow::Cow;

use crate::normalize::detect::{detect_iso_timestamp, parse_date, parse_time, parse_timestamp_any};
use crate::normalize::value::{Scalar, Value, parse_json};
use crate::pycompat::datetime::{from_unix_seconds_f64, from_unix_seconds_i64};
use crate::pycompat::json;
use crate::pycompat::num::{
    PyInt, parse_py_float, parse_py_int, py_float_repr, py_numeric_to_ascii,
};
use crate::pycompat::typed::parse::{a2b_base64, bytes_fromhex};
use crate::pycompat::unicode::py_strip;
use crate::schema::DataType;

/// Scale of dlt's default `DECIMAL(38,9)`.
const DECIMAL_SCALE: u32 = 9;
/// Precision of DuckDB decimals dlt creates (`DECIMAL(38,9)`, `DECIMAL(38,0)` for `wei`).
const DECIMAL_PRECISION: u32 = 38;
/// `i64::MIN` as a float (exactly -2^63); `i64` holds the integral floats in `[-2^63, 2^63)`.
const I64_MIN_F64: f64 = i64::MIN as f64;
/// Microseconds per day.
const US_PER_DAY: i64 = 86_400_000_000;

/// The dlt type of a value's Python type (`py_type_to_sc_type`), without detections.
///
/// This is the type in a variant column's name (`<col>__v_<type>`). `BigInt` is a Python `int`,
/// so `bigint`; `Null` has no type.
pub fn base_type(v: &Value<'_>) -> Option<DataType> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => DataType::Bool,
        Value::Int(_) | Value::BigInt(_) => DataType::Bigint,
        Value::Float(_) => DataType::Double,
        Value::Str(s) => typed_value(s).map_or(DataType::Text, |t| typed_type(&t)),
        Value::Array(_) | Value::Object(_) => DataType::Json,
    })
}

/// A dlt typed value (a string with one of dlt's private-use prefixes, as in the
/// `typed-jsonl` items of a package dlt's extract wrote; see [`crate::pycompat::typed`]).
/// Cheap for other strings: only a string starting with byte 0xEF is decoded.
pub fn typed_value(s: &str) -> Option<crate::pycompat::typed::TypedValue> {
    if s.as_bytes().first() != Some(&0xEF) {
        return None;
    }
    crate::pycompat::typed::decode_str(s)
}

/// The dlt type of a typed value's Python type (`py_type_to_sc_type`: `Decimal` → `decimal`,
/// `datetime` → `timestamp`, `date`, `time`, `bytes` → `binary`, `Wei` → `wei`, `UUID` →
/// `text`).
fn typed_type(t: &crate::pycompat::typed::TypedValue) -> DataType {
    use crate::pycompat::typed::TypedValue as T;
    match t {
        T::Decimal(_) => DataType::Decimal,
        T::DateTime(_) => DataType::Timestamp,
        T::Date(_) => DataType::Date,
        T::Time(_) => DataType::Time,
        T::HexBytes(_) | T::Bytes(_) => DataType::Binary,
        T::Wei(_) => DataType::Wei,
        T::Uuid(_) => DataType::Text,
    }
}

/// A typed value into a column of type `t`: its own type directly, other types from its text
/// as dlt's `coerce_value` would read `str(value)` (a datetime's `str()` has a space).
fn typed_to_scalar<'a>(v: crate::pycompat::typed::TypedValue, t: DataType) -> Option<Scalar<'a>> {
    use crate::pycompat::typed::TypedValue as T;
    match (&v, t) {
        (T::DateTime(dt), DataType::Timestamp) => {
            Some(Scalar::Timestamp(dt.to_utc().timestamp_micros()))
        }
        (T::Bytes(b) | T::HexBytes(b), DataType::Binary) => Some(Scalar::Binary(b.clone())),
        (T::DateTime(dt), DataType::Text) => Some(Scalar::Text(Cow::Owned(
            dt.isoformat().replacen('T', " ", 1),
        ))),
        _ => str_to_scalar(&Cow::Owned(v.text()), t),
    }
}

/// The type dlt infers for a new column from its first value (`_infer_column_type` with the
/// default `iso_timestamp` detection).
///
/// Text that [`detect_iso_timestamp`] accepts is `timestamp`. Objects and arrays (values kept
/// as JSON rather than flattened) are `json`. `Null` is `None`.
///
/// Integers beyond `i64` (`BigInt`): dlt fails at extract for more than 64 bits and at load for
/// 2^63..2^64. Here they are typed like dlt's opt-in `large_integer` detection, applied to
/// both signs and capped at DuckDB's `DECIMAL(38,0)`: up to 38 digits → `wei`, longer → `text`.
pub fn infer_type(v: &Value<'_>) -> Option<DataType> {
    match v {
        Value::Str(s) if detect_iso_timestamp(s).is_some() => Some(DataType::Timestamp),
        Value::BigInt(digits) => match parse_int_digits(digits) {
            Some((_, mag)) if mag.len() <= DECIMAL_PRECISION as usize => Some(DataType::Wei),
            _ => Some(DataType::Text),
        },
        _ => base_type(v),
    }
}

/// Converts a value into a column of type `t` (dlt's `coerce_value(t, base_type(v), v)`).
///
/// `None` when dlt raises (the caller writes a variant column) and where dlt would yield a
/// value the load rejects. Notable rules, all as in dlt:
/// - `text`: JSON as compact JSON; other values as Python's `str()` (`True`, `1e+20`, `1.0`).
/// - `bigint`: from text via `int(s.strip())` (`0x` hex too); from a double only if integral;
///   never from bool.
/// - `double`: from bigint and text (`float()`); never from bool.
/// - `bool`: from text via `str2bool` (`yes`/`no`, `true`/`false`, `t`/`f`, `y`/`n`, `1`/`0`),
///   from numbers as non-zero.
/// - `timestamp`: from text (ISO-like, dates, unix seconds), from numbers as unix seconds.
/// - `date`: from text and numbers; `time`: from text only.
/// - `json`: from text via `json.loads`, as compact JSON.
/// - `decimal` (scaled by 10^9) / `wei`: from text and numbers, rounded half away from zero
///   as DuckDB does, `None` beyond 38 digits.
/// - `binary`: from text as `0x` hex or strict base64; from a non-negative integer as its
///   minimal little-endian bytes.
pub fn to_scalar<'a>(v: &Value<'a>, t: DataType) -> Option<Scalar<'a>> {
    match v {
        Value::Null => None,
        Value::Str(s) => match typed_value(s) {
            Some(typed) => typed_to_scalar(typed, t),
            None => str_to_scalar(s, t),
        },
        Value::Int(i) => int_to_scalar(*i, t),
        Value::BigInt(digits) => bigint_to_scalar(digits, t),
        Value::Float(f) => float_to_scalar(*f, t),
        Value::Bool(b) => match t {
            DataType::Bool => Some(Scalar::Bool(*b)),
            DataType::Text => Some(Scalar::Text(Cow::Borrowed(if *b {
                "True"
            } else {
                "False"
            }))),
            _ => None,
        },
        Value::Array(_) | Value::Object(_) => match t {
            DataType::Json => json_compact(v).map(Scalar::Json),
            DataType::Text => json_compact(v).map(|s| Scalar::Text(Cow::Owned(s))),
            _ => None,
        },
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the usual form of API timestamps, as microseconds since the Unix
/// epoch, without the general parser. `None` for any other text, and for out-of-range fields
/// ([`parse_timestamp_any`] decides those); where it answers, it answers as that parser does.
fn utc_timestamp_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1 || day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000)
}

/// Text into a column of type `t`.
fn str_to_scalar<'a>(s: &Cow<'a, str>, t: DataType) -> Option<Scalar<'a>> {
    Some(match t {
        DataType::Text => Scalar::Text(s.clone()),
        DataType::Timestamp => Scalar::Timestamp(match utc_timestamp_fast(s) {
            Some(us) => us,
            None => parse_timestamp_any(s)?,
        }),
        DataType::Date => Scalar::Date(parse_date(s)?),
        DataType::Time => Scalar::Time(parse_time(s)?),
        DataType::Bigint => Scalar::Bigint(text_to_int(s)?.to_i64()?),
        DataType::Double => Scalar::Double(text_to_double(s)?),
        DataType::Decimal => Scalar::Decimal(text_to_decimal(s, DECIMAL_SCALE)?),
        DataType::Wei => Scalar::Wei(text_to_decimal(s, 0)?),
        DataType::Bool => Scalar::Bool(str2bool(s)?),
        DataType::Json => Scalar::Json(json_compact(&orjson_ints(parse_json(s).ok()?))?),
        DataType::Binary => Scalar::Binary(text_to_binary(s)?),
    })
}

/// An `i64` into a column of type `t`.
fn int_to_scalar<'a>(i: i64, t: DataType) -> Option<Scalar<'a>> {
    Some(match t {
        DataType::Bigint => Scalar::Bigint(i),
        DataType::Text => Scalar::Text(Cow::Owned(i.to_string())),
        DataType::Double => Scalar::Double(i as f64),
        DataType::Bool => Scalar::Bool(i != 0),
        DataType::Decimal => Scalar::Decimal(i128::from(i) * 10i128.pow(DECIMAL_SCALE)),
        DataType::Wei => Scalar::Wei(i128::from(i)),
        DataType::Timestamp => Scalar::Timestamp(from_unix_seconds_i64(i)?),
        DataType::Date => Scalar::Date(micros_to_days(from_unix_seconds_i64(i)?)?),
        DataType::Binary => Scalar::Binary(
            u64::try_from(i)
                .ok()?
                .to_le_bytes()
                .into_iter()
                .take(((64 - i.leading_zeros()) as usize).div_ceil(8))
                .collect(),
        ),
        DataType::Json | DataType::Time => return None,
    })
}

/// An integer outside `i64` (decimal digits with sign) into a column of type `t`.
fn bigint_to_scalar<'a>(digits: &str, t: DataType) -> Option<Scalar<'a>> {
    let (neg, mag) = parse_int_digits(digits)?;
    Some(match t {
        DataType::Text => {
            let mut s = String::with_capacity(mag.len() + 1);
            if neg && mag != "0" {
                s.push('-');
            }
            s.push_str(mag);
            Scalar::Text(Cow::Owned(s))
        }
        DataType::Double => {
            let f = mag.parse::<f64>().ok().filter(|f| f.is_finite())?;
            Scalar::Double(if neg { -f } else { f })
        }
        DataType::Bool => Scalar::Bool(mag != "0"),
        DataType::Decimal => Scalar::Decimal(scale_decimal(neg, mag, 0, DECIMAL_SCALE)?),
        DataType::Wei => Scalar::Wei(scale_decimal(neg, mag, 0, 0)?),
        DataType::Binary => {
            if neg && mag != "0" {
                return None;
            }
            let big = PyInt::from_digits(mag.as_bytes(), 10, false)?;
            Scalar::Binary(big.to_le_bytes())
        }
        DataType::Bigint => {
            let v = mag.parse::<i128>().ok()?;
            Scalar::Bigint(i64::try_from(if neg { -v } else { v }).ok()?)
        }
        DataType::Timestamp | DataType::Date | DataType::Time | DataType::Json => return None,
    })
}

/// An `f64` into a column of type `t`.
fn float_to_scalar<'a>(f: f64, t: DataType) -> Option<Scalar<'a>> {
    Some(match t {
        DataType::Double => Scalar::Double(f),
        DataType::Text => Scalar::Text(Cow::Owned(py_float_repr(f))),
        DataType::Bigint => {
            // `_numeric_to_bigint`: only integral values; beyond i64 the load would fail
            if f.fract() != 0.0 || !(I64_MIN_F64..-I64_MIN_F64).contains(&f) {
                return None;
            }
            Scalar::Bigint(f as i64)
        }
        DataType::Bool => Scalar::Bool(f != 0.0 || f.is_nan()),
        DataType::Decimal => Scalar::Decimal(text_to_decimal(&py_float_repr(f), DECIMAL_SCALE)?),
        DataType::Wei => Scalar::Wei(text_to_decimal(&py_float_repr(f), 0)?),
        DataType::Timestamp => Scalar::Timestamp(from_unix_seconds_f64(f)?),
        DataType::Date => Scalar::Date(micros_to_days(from_unix_seconds_f64(f)?)?),
        DataType::Binary | DataType::Json | DataType::Time => return None,
    })
}

/// UTC microseconds to the day they fall on.
fn micros_to_days(us: i64) -> Option<i32> {
    i32::try_from(us.div_euclid(US_PER_DAY)).ok()
}

/// Integers as orjson's `loads` returns them: those outside `i64..=u64` become floats.
fn orjson_ints(v: Value<'_>) -> Value<'_> {
    match v {
        Value::BigInt(digits) => match parse_int_digits(&digits) {
            Some((neg, mag)) if neg || mag.len() > 20 || mag.parse::<u64>().is_err() => {
                let f = mag.parse::<f64>().unwrap_or(f64::INFINITY);
                Value::Float(if neg { -f } else { f })
            }
            _ => Value::BigInt(digits),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(orjson_ints).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, orjson_ints(v)))
                .collect(),
        ),
        v => v,
    }
}

/// dlt's `str2bool`.
pub fn str2bool(s: &str) -> Option<bool> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "yes" | "true" | "t" | "y" | "1" => Some(true),
        "no" | "false" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Splits `[-]digits` into sign and digits without leading zeros (`"0"` for zero).
fn parse_int_digits(s: &str) -> Option<(bool, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = body.trim_start_matches('0');
    Some((neg, if trimmed.is_empty() { "0" } else { trimmed }))
}

/// dlt's `_text_to_bigint`: `int(s.strip())`, or `int(rest, 16)` after a `0x` prefix.
fn text_to_int(s: &str) -> Option<PyInt> {
    let trimmed = py_strip(s);
    match trimmed.strip_prefix("0x") {
        Some(rest) => parse_py_int(rest, 16),
        None => parse_py_int(trimmed, 10),
    }
}

/// dlt's `_text_to_double`.
fn text_to_double(s: &str) -> Option<f64> {
    let trimmed = py_strip(s);
    match trimmed.strip_prefix("0x") {
        Some(rest) => parse_py_int(rest, 16)?.to_f64(),
        None => parse_py_float(trimmed),
    }
}

/// dlt's `_text_to_decimal` / `_text_to_wei`, scaled by `10^scale` and rounded half away from
/// zero as DuckDB does when storing into `DECIMAL(38, scale)`; `None` for non-finite values and
/// values beyond 38 digits.
fn text_to_decimal(s: &str, scale: u32) -> Option<i128> {
    let trimmed = py_strip(s);
    if let Some(rest) = trimmed.strip_prefix("0x") {
        let v = parse_py_int(rest, 16)?.to_i128()?;
        let scaled = v.checked_mul(10i128.pow(scale))?;
        return (scaled.unsigned_abs() < 10u128.pow(DECIMAL_PRECISION)).then_some(scaled);
    }
    // `Decimal(str)`: Unicode digits, surrounding whitespace, and underscores anywhere ignored
    let ascii: String = py_numeric_to_ascii(trimmed)?
        .chars()
        .filter(|&c| c != '_')
        .collect();
    let b = ascii.as_bytes();
    let mut i = 0;
    let neg = take_sign(b, &mut i);
    let mut digits = String::new();
    let mut frac_len: i64 = 0;
    let mut seen_digit = false;
    while i < b.len() && b[i].is_ascii_digit() {
        digits.push(char::from(b[i]));
        seen_digit = true;
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            digits.push(char::from(b[i]));
            frac_len += 1;
            seen_digit = true;
            i += 1;
        }
    }
    if !seen_digit {
        // also `inf`, `nan`, `snan`: not storable in a DECIMAL column
        return None;
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let exp_neg = take_sign(b, &mut i);
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let exp_digits = &ascii[start..i];
        if exp_digits.is_empty() || exp_digits.len() > 18 {
            return None;
        }
        exp = exp_digits.parse::<i64>().ok()?;
        if exp_neg {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    let mag = digits.trim_start_matches('0');
    let mag = if mag.is_empty() { "0" } else { mag };
    scale_decimal(neg, mag, exp - frac_len, scale)
}

/// Whether `b[*i]` is a minus sign; steps over a `-` or `+` there.
fn take_sign(b: &[u8], i: &mut usize) -> bool {
    match b.get(*i) {
        Some(b'-') => {
            *i += 1;
            true
        }
        Some(b'+') => {
            *i += 1;
            false
        }
        _ => false,
    }
}

/// `±mag × 10^exp` scaled by `10^scale`, rounded half away from zero; `None` beyond 38 digits.
fn scale_decimal(neg: bool, mag: &str, exp: i64, scale: u32) -> Option<i128> {
    if mag == "0" {
        return Some(0);
    }
    let shift = exp.checked_add(i64::from(scale))?;
    let limit = 10u128.pow(DECIMAL_PRECISION);
    let magnitude: u128 = if shift >= 0 {
        // at most 38 digits in total
        if mag.len() as i64 + shift > i64::from(DECIMAL_PRECISION) {
            return None;
        }
        let base = mag.parse::<u128>().ok()?;
        base.checked_mul(10u128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let drop = usize::try_from(shift.unsigned_abs()).ok()?;
        if drop > mag.len() {
            0
        } else {
            let keep = &mag[..mag.len() - drop];
            if keep.len() > DECIMAL_PRECISION as usize {
                return None;
            }
            let base = if keep.is_empty() {
                0
            } else {
                keep.parse::<u128>().ok()?
            };
            let round_up = mag.as_bytes()[mag.len() - drop] >= b'5';
            base + u128::from(round_up)
        }
    };
    if magnitude >= limit {
        return None;
    }
    let v = i128::try_from(magnitude).ok()?;
    Some(if neg { -v } else { v })
}

/// dlt's `_text_to_binary`: `bytes.fromhex` after a `0x` prefix, else strict base64
/// (`base64.b64decode(s, validate=True)`).
fn text_to_binary(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("0x") {
        return bytes_fromhex(hex);
    }
    a2b_base64(s, true)
}

/// Compact JSON as dlt writes it (orjson `dumps` of the parsed Python value, see
/// [`crate::pycompat::json`]): no spaces, duplicate object keys collapsed (the last value wins,
/// at the first key's position), floats in orjson's format, non-ASCII unescaped. `None` if the
/// value holds a non-finite float.
///
/// Integers beyond `i64` are written with all their digits (orjson would have turned those
/// beyond `u64` into floats).
pub fn json_compact(v: &Value<'_>) -> Option<String> {
    let mut out = String::new();
    json::write(v, json::Keys::AsGiven, &mut out).then_some(out)
}

#[cfg(test)]
mod tests;

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
use std::collections::HashMap;
use std::fmt::Write as _;

use crate::normalize::detect::{
    detect_iso_timestamp, from_unix_seconds_f64, from_unix_seconds_i64, parse_date, parse_py_float,
    parse_time, parse_timestamp_any, py_numeric_to_ascii,
};
use crate::normalize::naming::py_strip;
use crate::normalize::value::{Scalar, Value, parse_json};
use crate::schema::DataType;

/// Scale of dlt's default `DECIMAL(38,9)`.
const DECIMAL_SCALE: u32 = 9;
/// Precision of DuckDB decimals dlt creates (`DECIMAL(38,9)`, `DECIMAL(38,0)` for `wei`).
const DECIMAL_PRECISION: u32 = 38;
/// Python's `sys.int_info.default_max_str_digits`: longer decimal text is rejected by `int()`.
const MAX_INT_STR_DIGITS: usize = 4300;
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
        Value::Str(_) => DataType::Text,
        Value::Array(_) | Value::Object(_) => DataType::Json,
    })
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
        Value::Str(s) => str_to_scalar(s, t),
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

/// Text into a column of type `t`.
fn str_to_scalar<'a>(s: &Cow<'a, str>, t: DataType) -> Option<Scalar<'a>> {
    Some(match t {
        DataType::Text => Scalar::Text(s.clone()),
        DataType::Timestamp => Scalar::Timestamp(parse_timestamp_any(s)?),
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
    let neg = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
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
        let exp_neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
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
        return from_hex(hex);
    }
    b64decode_strict(s)
}

/// Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            i += 1;
            continue;
        }
        let hi = char::from(b[i]).to_digit(16)?;
        let lo = char::from(*b.get(i + 1)?).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// CPython 3.11's `binascii.a2b_base64(s, strict_mode=True)` on an ASCII string.
fn b64decode_strict(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.first() == Some(&b'=') {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let (mut quad_pos, mut left, mut pads) = (0u8, 0u8, 0u8);
    let mut padding_started = false;
    for (i, &c) in b.iter().enumerate() {
        if c == b'=' {
            padding_started = true;
            // Python 3.11 tolerates `=` after a complete quad (3.13 rejects it)
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return (i + 1 == b.len()).then_some(out);
                }
            }
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        if padding_started {
            return None;
        }
        pads = 0;
        match quad_pos {
            0 => {
                quad_pos = 1;
                left = v;
            }
            1 => {
                quad_pos = 2;
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
            }
            2 => {
                quad_pos = 3;
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
            }
            _ => {
                quad_pos = 0;
                out.push((left << 6) | v);
                left = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

/// A Python `int` parsed from text: sign and magnitude as little-endian 32-bit limbs.
#[derive(Debug, Clone, PartialEq)]
struct PyInt {
    neg: bool,
    limbs: Vec<u32>,
}

impl PyInt {
    /// Builds a magnitude from ASCII digits of `radix` (10 or 16), `_` already removed.
    fn from_digits(digits: &[u8], radix: u32, neg: bool) -> Option<PyInt> {
        let mut limbs: Vec<u32> = Vec::new();
        if radix == 16 {
            // four bits per digit, packed from the least significant end
            for chunk in digits.rchunks(8) {
                let mut limb = 0u32;
                for &d in chunk {
                    limb = (limb << 4) | char::from(d).to_digit(16)?;
                }
                limbs.push(limb);
            }
        } else {
            for chunk in digits.chunks(9) {
                let mut chunk_val = 0u32;
                for &d in chunk {
                    chunk_val = chunk_val * 10 + char::from(d).to_digit(10)?;
                }
                let mul = 10u64.pow(chunk.len() as u32);
                let mut carry = u64::from(chunk_val);
                for limb in limbs.iter_mut() {
                    let x = u64::from(*limb) * mul + carry;
                    *limb = x as u32;
                    carry = x >> 32;
                }
                if carry > 0 {
                    limbs.push(carry as u32);
                }
            }
        }
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Some(PyInt { neg, limbs })
    }

    /// The value as `i128`, if it fits.
    fn to_i128(&self) -> Option<i128> {
        if self.limbs.len() > 4 {
            return None;
        }
        let mag = self
            .limbs
            .iter()
            .rev()
            .fold(0u128, |acc, &l| (acc << 32) | u128::from(l));
        if self.neg {
            0i128.checked_sub_unsigned(mag)
        } else {
            i128::try_from(mag).ok()
        }
    }

    /// The value as `i64`, if it fits.
    fn to_i64(&self) -> Option<i64> {
        i64::try_from(self.to_i128()?).ok()
    }

    /// Python's `float(int)`: correctly rounded, `None` on overflow.
    fn to_f64(&self) -> Option<f64> {
        if self.limbs.is_empty() {
            return Some(0.0);
        }
        let bits =
            self.limbs.len() * 32 - self.limbs.last().map_or(32, |l| l.leading_zeros() as usize);
        let f = if bits <= 64 {
            self.limbs
                .iter()
                .rev()
                .fold(0u64, |acc, &l| (acc << 32) | u64::from(l)) as f64
        } else {
            // top 64 bits plus a sticky bit for everything below: rounds like the full value
            let shift = bits - 64;
            let mut top = 0u64;
            for k in 0..64 {
                let bit = shift + 63 - k;
                let set = (self.limbs[bit / 32] >> (bit % 32)) & 1;
                top = (top << 1) | u64::from(set);
            }
            let sticky = (0..shift).any(|bit| (self.limbs[bit / 32] >> (bit % 32)) & 1 == 1);
            let mantissa = (top | u64::from(sticky)) as f64;
            let exp = i32::try_from(shift).ok()?;
            if exp > 1100 {
                return None;
            }
            mantissa * 2f64.powi(exp)
        };
        let f = if self.neg { -f } else { f };
        f.is_finite().then_some(f)
    }

    /// Minimal little-endian bytes of the magnitude (`int.to_bytes(..., "little")`).
    fn to_le_bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }
}

/// Python's `int(s, base)` for base 10 or 16: whitespace, sign, Unicode digits, `_` between
/// digits, an optional `0x` prefix for base 16, at most 4300 decimal digits.
fn parse_py_int(s: &str, radix: u32) -> Option<PyInt> {
    let ascii = py_numeric_to_ascii(s)?;
    let mut body = ascii.as_str();
    let neg = body.starts_with('-');
    body = body.strip_prefix(['+', '-']).unwrap_or(body);
    if radix == 16
        && let Some(rest) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))
    {
        body = rest.strip_prefix('_').unwrap_or(rest);
    }
    let b = body.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' {
        return None;
    }
    let mut digits = Vec::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            if b.get(i + 1) == Some(&b'_') {
                return None;
            }
            continue;
        }
        char::from(c).to_digit(radix)?;
        digits.push(c);
    }
    if radix == 10 && digits.len() > MAX_INT_STR_DIGITS {
        return None;
    }
    PyInt::from_digits(&digits, radix, neg)
}

/// Splits Rust's `{:e}` output into its significant digits and decimal exponent.
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// The shortest round-trip digits of a finite, non-zero `|f|` and its decimal exponent `k`
/// (`f = d.ddd × 10^k`), as Python's `repr` and orjson produce them.
///
/// Rust's shortest formatting rounds a tie between two equally short candidates up, where
/// Python (David Gay's dtoa) and orjson (Ryu) pick the even last digit, e.g. for
/// `933977814697490.25`: `...490.2`, not `...490.3`.
fn shortest_digits(f: f64) -> (String, i32) {
    let a = f.abs();
    let (digits, k) = split_sci(&format!("{a:e}"));
    let n = digits.len();
    // A tie needs the exact value to have n + 1 significant digits, the last a 5. With
    // `a = m × 2^e`, `m` odd, the exact expansion ends at decimal place `min(e, 0)` (a 5 is
    // impossible for e > 0, an even integer), so only `e == k - n` can tie: cheap to rule out.
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    let e = e + m.trailing_zeros() as i32;
    if e > 0 || e != k - n as i32 {
        return (digits, k);
    }
    // here the expansion has exactly n + 1 digits, so this formatting is exact
    let (exact, ek) = split_sci(&format!("{a:.n$e}"));
    let is_tie = ek == k && exact.len() == n + 1 && exact.as_bytes()[n] == b'5';
    if !is_tie {
        return (digits, k);
    }
    let lo = exact[..n].to_string();
    let hi = increment_digits(&lo, k);
    let lo = (lo.trim_end_matches('0').to_string(), k);
    let lo_even =
        lo.0.as_bytes()
            .last()
            .is_some_and(|d| (d - b'0').is_multiple_of(2))
            || lo.0.is_empty();
    let (first, second) = if lo_even { (lo, hi) } else { (hi, lo) };
    let round_trips = |(d, k): &(String, i32)| -> bool {
        !d.is_empty() && format!("{d}e{}", k - (d.len() as i32 - 1)).parse::<f64>() == Ok(a)
    };
    if round_trips(&first) {
        first
    } else if round_trips(&second) {
        second
    } else {
        (digits, k)
    }
}

/// Adds one unit in the last place to decimal digits with exponent `k`, trailing zeros
/// stripped (`"99"`, 0 → `"1"`, 1).
fn increment_digits(digits: &str, k: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    let mut i = bytes.len();
    loop {
        if i == 0 {
            bytes.insert(0, b'1');
            bytes.pop();
            let s = String::from_utf8(bytes).unwrap_or_default();
            return (s.trim_end_matches('0').to_string(), k + 1);
        }
        i -= 1;
        if bytes[i] == b'9' {
            bytes[i] = b'0';
        } else {
            bytes[i] += 1;
            break;
        }
    }
    let s = String::from_utf8(bytes).unwrap_or_default();
    (s.trim_end_matches('0').to_string(), k)
}

/// Formats `digits × 10^(k - len + 1)` in positional notation, with `.0` when integral.
fn positional(out: &mut String, digits: &str, k: i32) {
    if k < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-k - 1) as usize));
        out.push_str(digits);
        return;
    }
    let int_len = k as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Formats `f` in scientific notation: `d[.ddd]e±x`, the exponent padded to `exp_width` digits.
fn scientific(out: &mut String, digits: &str, k: i32, exp_width: usize) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if k < 0 { '-' } else { '+' });
    let _ = write!(out, "{:0width$}", k.unsigned_abs(), width = exp_width);
}

/// Python's `str(float)` / `repr(float)`: `1.0`, `1e+16`, `1e-05`, `0.0001`, `-0.0`, `inf`, `nan`.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f.is_infinite() {
        out.push_str("inf");
    } else if f == 0.0 {
        out.push_str("0.0");
    } else {
        let (digits, k) = shortest_digits(f);
        if (-4..16).contains(&k) {
            positional(&mut out, &digits, k);
        } else {
            scientific(&mut out, &digits, k, 2);
        }
    }
    out
}

/// orjson's float format, used by dlt for JSON text: `1.0`, `1e+16`, `1e-6`, `0.00001`, `-0.0`;
/// `None` for non-finite values (which orjson writes as `null` and dlt's `json.loads` rejects).
pub fn orjson_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
    } else {
        let (digits, k) = shortest_digits(f);
        if (-5..16).contains(&k) {
            positional(&mut out, &digits, k);
        } else {
            scientific(&mut out, &digits, k, 1);
        }
    }
    Some(out)
}

/// Compact JSON as dlt writes it (orjson `dumps` of the parsed Python value): no spaces,
/// duplicate object keys collapsed (the last value wins, at the first key's position), floats
/// in orjson's format, non-ASCII unescaped. `None` if the value holds a non-finite float.
///
/// Integers beyond `i64` are written with all their digits (orjson would have turned those
/// beyond `u64` into floats).
pub fn json_compact(v: &Value<'_>) -> Option<String> {
    let mut out = String::new();
    write_compact(v, &mut out)?;
    Some(out)
}

/// Appends the compact JSON of `v` to `out`.
fn write_compact(v: &Value<'_>, out: &mut String) -> Option<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(s) => {
            let (neg, mag) = parse_int_digits(s)?;
            if neg && mag != "0" {
                out.push('-');
            }
            out.push_str(mag);
        }
        Value::Float(f) => out.push_str(&orjson_float(*f)?),
        Value::Str(s) => write_json_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(item, out)?;
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            // index of each key's last occurrence; a key is written once, at its first
            let mut last: HashMap<&str, usize> = HashMap::with_capacity(fields.len());
            for (i, (key, _)) in fields.iter().enumerate() {
                last.insert(key.as_ref(), i);
            }
            let mut first = true;
            for (key, _) in fields {
                let Some(last_i) = last.remove(key.as_ref()) else {
                    continue;
                };
                let value = &fields[last_i].1;
                if !first {
                    out.push(',');
                }
                first = false;
                write_json_str(key, out);
                out.push(':');
                write_compact(value, out)?;
            }
            out.push('}');
        }
    }
    Some(())
}

/// A JSON string literal as orjson writes it.
fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a scalar as `type:value` (doubles by bits, binary as hex) for comparison.
    fn render(s: &Scalar<'_>) -> String {
        match s {
            Scalar::Text(s) => format!("text:{s}"),
            Scalar::Bigint(i) => format!("bigint:{i}"),
            Scalar::Double(f) => format!("double:{}", f.to_bits()),
            Scalar::Bool(b) => format!("bool:{b}"),
            Scalar::Timestamp(x) => format!("timestamp:{x}"),
            Scalar::Date(x) => format!("date:{x}"),
            Scalar::Time(x) => format!("time:{x}"),
            Scalar::Decimal(x) => format!("decimal:{x}"),
            Scalar::Wei(x) => format!("wei:{x}"),
            Scalar::Json(s) => format!("json:{s}"),
            Scalar::Binary(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("binary:{hex}")
            }
        }
    }

    /// (value as JSON, column type, expected `type:value` or `None` for a variant), generated with
    /// dlt 1.31's `coerce_value(column_type, py_type_to_sc_type(type(v)), v)`; decimals/wei as
    /// DuckDB stores them (scaled, rounded half away from zero); doubles as Python `repr`.
    /// Deviations from dlt, where it produces values the load rejects, are `None` here:
    /// `9223372036854775808`/`-9.3e18` → bigint, `1e29` → decimal, 10^38 → wei.
    const CASES: &[(&str, DataType, Option<&str>)] = &[
        ("5", DataType::Text, Some("text:5")),
        (
            "-9223372036854775808",
            DataType::Text,
            Some("text:-9223372036854775808"),
        ),
        ("true", DataType::Text, Some("text:True")),
        ("false", DataType::Text, Some("text:False")),
        ("1.0", DataType::Text, Some("text:1.0")),
        ("1e20", DataType::Text, Some("text:1e+20")),
        ("1e16", DataType::Text, Some("text:1e+16")),
        ("1e15", DataType::Text, Some("text:1000000000000000.0")),
        ("-0.0", DataType::Text, Some("text:-0.0")),
        ("0.1", DataType::Text, Some("text:0.1")),
        ("1.5e-7", DataType::Text, Some("text:1.5e-07")),
        ("0.0001", DataType::Text, Some("text:0.0001")),
        ("0.00001", DataType::Text, Some("text:1e-05")),
        ("123456789.125", DataType::Text, Some("text:123456789.125")),
        (
            "18446744073709551616",
            DataType::Text,
            Some("text:18446744073709551616"),
        ),
        (
            "{\"a\":1,\"b\":[1.0,1e20,1e-6,\"\\u00e9\"],\"a\":3}",
            DataType::Text,
            Some("text:{\"a\":3,\"b\":[1.0,1e+20,1e-6,\"é\"]}"),
        ),
        ("[]", DataType::Text, Some("text:[]")),
        (
            "\"2024-01-01T10:00:00Z\"",
            DataType::Text,
            Some("text:2024-01-01T10:00:00Z"),
        ),
        ("\" 42 \"", DataType::Bigint, Some("bigint:42")),
        ("\"0x1F\"", DataType::Bigint, Some("bigint:31")),
        ("\"0x0x1f\"", DataType::Bigint, Some("bigint:31")),
        ("\"0X1F\"", DataType::Bigint, None),
        ("\"-0x5\"", DataType::Bigint, None),
        ("\"1_000\"", DataType::Bigint, Some("bigint:1000")),
        ("\"1__000\"", DataType::Bigint, None),
        ("\"٣٣\"", DataType::Bigint, Some("bigint:33")),
        ("\"1.0\"", DataType::Bigint, None),
        ("\"9223372036854775808\"", DataType::Bigint, None),
        (
            "\"0x7fffffffffffffff\"",
            DataType::Bigint,
            Some("bigint:9223372036854775807"),
        ),
        ("2.0", DataType::Bigint, Some("bigint:2")),
        ("2.5", DataType::Bigint, None),
        ("-9.3e18", DataType::Bigint, None),
        ("true", DataType::Bigint, None),
        ("9223372036854775808", DataType::Bigint, None),
        ("5", DataType::Double, Some("double:5.0")),
        (
            "9223372036854775807",
            DataType::Double,
            Some("double:9.223372036854776e+18"),
        ),
        ("\" 1.5 \"", DataType::Double, Some("double:1.5")),
        ("\"1e400\"", DataType::Double, Some("double:inf")),
        ("\"nan\"", DataType::Double, Some("double:nan")),
        ("\"0x10\"", DataType::Double, Some("double:16.0")),
        ("\"abc\"", DataType::Double, None),
        ("true", DataType::Double, None),
        (
            "18446744073709551616",
            DataType::Double,
            Some("double:1.8446744073709552e+19"),
        ),
        ("\"yes\"", DataType::Bool, Some("bool:true")),
        ("\"No\"", DataType::Bool, Some("bool:false")),
        ("\"T\"", DataType::Bool, Some("bool:true")),
        ("\"0\"", DataType::Bool, Some("bool:false")),
        ("\"maybe\"", DataType::Bool, None),
        ("\" true\"", DataType::Bool, None),
        ("0", DataType::Bool, Some("bool:false")),
        ("-3", DataType::Bool, Some("bool:true")),
        ("0.0", DataType::Bool, Some("bool:false")),
        ("0.5", DataType::Bool, Some("bool:true")),
        ("18446744073709551616", DataType::Bool, Some("bool:true")),
        (
            "\"2024-01-01T10:00:00+02:00\"",
            DataType::Timestamp,
            Some("timestamp:1704096000000000"),
        ),
        (
            "\"2024-01-01\"",
            DataType::Timestamp,
            Some("timestamp:1704067200000000"),
        ),
        (
            "\"1704103200\"",
            DataType::Timestamp,
            Some("timestamp:1704103200000000"),
        ),
        ("\"10:00:00\"", DataType::Timestamp, None),
        (
            "1704103200",
            DataType::Timestamp,
            Some("timestamp:1704103200000000"),
        ),
        (
            "1704103200.5",
            DataType::Timestamp,
            Some("timestamp:1704103200500000"),
        ),
        ("253402300800", DataType::Timestamp, None),
        ("true", DataType::Timestamp, None),
        ("\"2024-01-01\"", DataType::Date, Some("date:19723")),
        (
            "\"2024-01-01T01:00:00+02:00\"",
            DataType::Date,
            Some("date:19722"),
        ),
        ("\"20240101 1\"", DataType::Date, Some("date:19723")),
        ("1704103200", DataType::Date, Some("date:19723")),
        ("-1.5", DataType::Date, Some("date:-1")),
        ("\"nope\"", DataType::Date, None),
        ("\"10:00:00\"", DataType::Time, Some("time:36000000000")),
        (
            "\"10:00:00.5+02:00\"",
            DataType::Time,
            Some("time:28800500000"),
        ),
        ("\"T10:00\"", DataType::Time, Some("time:36000000000")),
        ("\"2024-01-01T10:00:00\"", DataType::Time, None),
        ("36000", DataType::Time, None),
        (
            "\"{\\\"a\\\":1,\\\"b\\\":2,\\\"a\\\":3}\"",
            DataType::Json,
            Some("json:{\"a\":3,\"b\":2}"),
        ),
        (
            "\" [1, 2.0, 1e20] \"",
            DataType::Json,
            Some("json:[1,2.0,1e+20]"),
        ),
        ("\"5\"", DataType::Json, Some("json:5")),
        ("\"\\\"s\\\"\"", DataType::Json, Some("json:\"s\"")),
        (
            "\"123456789012345678901234567890\"",
            DataType::Json,
            Some("json:1.2345678901234568e+29"),
        ),
        ("\"NaN\"", DataType::Json, None),
        ("\"{bad\"", DataType::Json, None),
        ("5", DataType::Json, None),
        (
            "{\"a\":[1,{\"b\":null}]}",
            DataType::Json,
            Some("json:{\"a\":[1,{\"b\":null}]}"),
        ),
        (
            "\"1.0000000005\"",
            DataType::Decimal,
            Some("decimal:1000000001"),
        ),
        (
            "\"-1.0000000005\"",
            DataType::Decimal,
            Some("decimal:-1000000001"),
        ),
        ("\"1e-10\"", DataType::Decimal, Some("decimal:0")),
        (
            "\"1_000.5\"",
            DataType::Decimal,
            Some("decimal:1000500000000"),
        ),
        ("\"0x10\"", DataType::Decimal, Some("decimal:16000000000")),
        ("\"Infinity\"", DataType::Decimal, None),
        (
            "\"99999999999999999999999999999.999999999\"",
            DataType::Decimal,
            Some("decimal:99999999999999999999999999999999999999"),
        ),
        ("\"1e29\"", DataType::Decimal, None),
        ("5", DataType::Decimal, Some("decimal:5000000000")),
        ("0.1", DataType::Decimal, Some("decimal:100000000")),
        (
            "1e20",
            DataType::Decimal,
            Some("decimal:100000000000000000000000000000"),
        ),
        ("true", DataType::Decimal, None),
        ("\"2.5\"", DataType::Wei, Some("wei:3")),
        ("\"-2.5\"", DataType::Wei, Some("wei:-3")),
        ("\"1e20\"", DataType::Wei, Some("wei:100000000000000000000")),
        (
            "18446744073709551616",
            DataType::Wei,
            Some("wei:18446744073709551616"),
        ),
        (
            "99999999999999999999999999999999999999",
            DataType::Wei,
            Some("wei:99999999999999999999999999999999999999"),
        ),
        (
            "100000000000000000000000000000000000000",
            DataType::Wei,
            None,
        ),
        ("1.5", DataType::Wei, Some("wei:2")),
        ("\"QUJD\"", DataType::Binary, Some("binary:414243")),
        ("\"QR==\"", DataType::Binary, Some("binary:41")),
        ("\"QQ\"", DataType::Binary, None),
        ("\"QUJD=\"", DataType::Binary, Some("binary:414243")),
        ("\"QU JD\"", DataType::Binary, None),
        ("\"0x0102 ff\"", DataType::Binary, Some("binary:0102ff")),
        ("\"0x0 1\"", DataType::Binary, None),
        ("\"\"", DataType::Binary, Some("binary:")),
        ("256", DataType::Binary, Some("binary:0001")),
        ("0", DataType::Binary, Some("binary:")),
        ("-1", DataType::Binary, None),
        (
            "18446744073709551616",
            DataType::Binary,
            Some("binary:000000000000000001"),
        ),
    ];

    #[test]
    fn coerces_like_dlt() {
        for &(json, t, expected) in CASES {
            let v = parse_json(json).expect("valid test JSON");
            let expected = expected.map(|e| match e.strip_prefix("double:") {
                Some(repr) => format!("double:{}", repr.parse::<f64>().expect("repr").to_bits()),
                None => e.to_string(),
            });
            assert_eq!(
                to_scalar(&v, t).as_ref().map(render),
                expected,
                "{json} -> {t}"
            );
        }
    }

    #[test]
    fn identity_and_borrowing() {
        let text = r#"["x", 5, 1.5, true, null]"#;
        let Value::Array(items) = parse_json(text).expect("json") else {
            panic!("array expected")
        };
        assert!(matches!(
            to_scalar(&items[0], DataType::Text),
            Some(Scalar::Text(Cow::Borrowed("x")))
        ));
        assert_eq!(
            to_scalar(&items[1], DataType::Bigint),
            Some(Scalar::Bigint(5))
        );
        assert_eq!(
            to_scalar(&items[2], DataType::Double),
            Some(Scalar::Double(1.5))
        );
        assert_eq!(
            to_scalar(&items[3], DataType::Bool),
            Some(Scalar::Bool(true))
        );
        assert_eq!(to_scalar(&items[4], DataType::Text), None);
        assert_eq!(
            to_scalar(&Value::Int(7), DataType::Wei),
            Some(Scalar::Wei(7))
        );
        assert_eq!(
            to_scalar(&Value::Int(-7), DataType::Decimal),
            Some(Scalar::Decimal(-7_000_000_000))
        );
        assert_eq!(
            to_scalar(&Value::Float(f64::INFINITY), DataType::Decimal),
            None
        );
        assert_eq!(
            to_scalar(&Value::BigInt("junk".into()), DataType::Text),
            None
        );
    }

    #[test]
    fn infers_types() {
        let cases = [
            ("\"x\"", Some(DataType::Text)),
            ("\"2024-01-01T10:00:00Z\"", Some(DataType::Timestamp)),
            ("\"2024-01-01\"", Some(DataType::Text)),
            ("\"1704103200\"", Some(DataType::Text)),
            ("5", Some(DataType::Bigint)),
            ("1.0", Some(DataType::Double)),
            ("true", Some(DataType::Bool)),
            ("null", None),
            ("{\"a\":1}", Some(DataType::Json)),
            ("[1]", Some(DataType::Json)),
            ("9223372036854775808", Some(DataType::Wei)),
            ("-9223372036854775809", Some(DataType::Wei)),
            (
                "99999999999999999999999999999999999999",
                Some(DataType::Wei),
            ),
            (
                "100000000000000000000000000000000000000",
                Some(DataType::Text),
            ),
        ];
        for (json, expected) in cases {
            let v = parse_json(json).expect("json");
            assert_eq!(infer_type(&v), expected, "{json}");
        }
        let big = parse_json("9223372036854775808").expect("json");
        assert_eq!(base_type(&big), Some(DataType::Bigint));
        assert_eq!(base_type(&Value::Null), None);
    }

    #[test]
    fn formats_floats_like_python_and_orjson() {
        // (value, repr(value), orjson.dumps(value))
        let cases = [
            (1.0, "1.0", "1.0"),
            (-0.0, "-0.0", "-0.0"),
            (0.1, "0.1", "0.1"),
            (1e16, "1e+16", "1e+16"),
            (1e15, "1000000000000000.0", "1000000000000000.0"),
            (1e-4, "0.0001", "0.0001"),
            (1e-5, "1e-05", "0.00001"),
            (1e-6, "1e-06", "1e-6"),
            (1.5e-7, "1.5e-07", "1.5e-7"),
            (1e22, "1e+22", "1e+22"),
            (5e-324, "5e-324", "5e-324"),
            (
                1.797_693_134_862_315_7e308,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (
                123_456_789_012_345_680.0,
                "1.2345678901234568e+17",
                "1.2345678901234568e+17",
            ),
            (
                1_234_567_890_123_456.8,
                "1234567890123456.8",
                "1234567890123456.8",
            ),
            // ties between two shortest candidates go to the even digit
            (
                933_977_814_697_490.2,
                "933977814697490.2",
                "933977814697490.2",
            ),
            (
                982_318_492_793_036.2,
                "982318492793036.2",
                "982318492793036.2",
            ),
        ];
        for (f, repr, orjson) in cases {
            assert_eq!(py_float_repr(f), repr);
            assert_eq!(orjson_float(f).as_deref(), Some(orjson));
        }
        assert_eq!(py_float_repr(f64::INFINITY), "inf");
        assert_eq!(py_float_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(py_float_repr(f64::NAN), "nan");
        assert_eq!(orjson_float(f64::NAN), None);
    }

    #[test]
    fn compact_json() {
        let v = parse_json(r#"{"b": [1, 2.50, "\u00e9\n\u0001"], "a": {"x": null}, "b": 1e20}"#)
            .expect("json");
        assert_eq!(
            json_compact(&v).as_deref(),
            Some(r#"{"b":1e+20,"a":{"x":null}}"#)
        );
        let v = parse_json(r#"["\u00e9\n\u0001\"\\", 18446744073709551616]"#).expect("json");
        assert_eq!(
            json_compact(&v).as_deref(),
            Some("[\"\u{e9}\\n\\u0001\\\"\\\\\",18446744073709551616]")
        );
        assert_eq!(json_compact(&Value::Float(f64::NAN)), None);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let huge_hex = format!("0x{}", "f".repeat(100_000));
        let huge_dec = "9".repeat(5_000);
        let values = [
            Value::Str(Cow::Owned(huge_hex)),
            Value::Str(Cow::Owned(huge_dec.clone())),
            Value::BigInt(huge_dec.into()),
            Value::BigInt("-0".into()),
            Value::Str(Cow::Borrowed("0x")),
            Value::Str(Cow::Borrowed("0x-0")),
            Value::Str(Cow::Borrowed("1e999999999999999999")),
            Value::Str(Cow::Borrowed("\u{663}\u{e9}")),
            Value::Float(f64::MAX),
            Value::Float(f64::MIN_POSITIVE),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
        ];
        let types = [
            DataType::Text,
            DataType::Double,
            DataType::Bool,
            DataType::Timestamp,
            DataType::Bigint,
            DataType::Binary,
            DataType::Json,
            DataType::Decimal,
            DataType::Wei,
            DataType::Date,
            DataType::Time,
        ];
        for v in &values {
            let _ = infer_type(v);
            for t in types {
                let _ = to_scalar(v, t);
            }
        }
        assert_eq!(
            to_scalar(&values[0], DataType::Double),
            None,
            "hex beyond f64 overflows like float(int)"
        );
        assert_eq!(
            to_scalar(&values[5], DataType::Double),
            Some(Scalar::Double(0.0))
        );
    }
}

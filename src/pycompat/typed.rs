//! dlt's typed JSON values: strings with a private-use prefix (`dlt/common/json/__init__.py`).
//!
//! dlt writes values JSON has no type for as strings whose first character is a code point of
//! the Unicode private-use area, starting at U+F026 (`PUA_START`). It does so in `state.json`,
//! in the warehouse state (`_dlt_pipeline_state.state`), in extracted `*.typed-jsonl` files and
//! in `load_package_state.json`:
//!
//! | prefix | Python value | text after the prefix |
//! |---|---|---|
//! | U+F026 | `Decimal` | `str(d)`: `1.50`, `1E+2`, `-0`, `NaN`, `-Infinity` |
//! | U+F027 | `datetime` | `isoformat()`: `2024-01-02T10:00:00+00:00`, naive without offset |
//! | U+F028 | `date` | `2024-01-02` |
//! | U+F029 | `UUID` | read only: dlt writes UUIDs as plain strings (orjson serializes them) |
//! | U+F02A | `HexBytes` | `0x0102ff` |
//! | U+F02B | `bytes` | standard base64 with padding |
//! | U+F02C | `Wei` (a `Decimal`) | `str(d)` |
//! | U+F02D | `time` | `isoformat()`: `10:00:00.000005`, `01:02:03+00:00` |
//!
//! Reading is Python's: `Decimal(s)`, `datetime.fromisoformat` (3.11, so `Z`, `+0530`, week
//! dates, a space separator are read), `date.fromisoformat`, `UUID(s)`, `HexBytes(s)`,
//! `base64.b64decode(s)` (non-strict: stray characters skipped, stops at padding),
//! `time.fromisoformat`. A string dlt cannot decode (a bad date, a prefix alone, U+F02E and
//! beyond) stays a string, as in dlt's `custom_pua_decode`. Writing gives exactly what dlt's
//! `typed_dumps` writes for the decoded Python value, so a string dlt wrote comes back unchanged
//! and any other one in dlt's canonical form (`…Z` → `…+00:00`).
//!
//! Differences, all on input dlt itself never writes: decimal exponents beyond `i64` are left
//! as strings; `DLT_JSON_TYPED_PUA_START` (moving the prefix range) is not honoured.
//!
//! API: [`decode_str`] / [`decode`] one string, [`TypedValue::encode`] back, [`TypedValue::text`]
//! for the untyped form (dlt's `custom_pua_remove` / plain `json.dumps`), and tree walkers
//! [`map_typed`], [`canonicalize`], [`strip_markers`], [`contains_typed`].

use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde_json::Value;

pub(crate) mod parse;
#[cfg(test)]
mod tests;

/// The first prefix code point (dlt's default `PUA_START`).
pub const PUA_START: u32 = 0xF026;

/// The kind of a typed value, one per prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypedKind {
    /// U+F026, `Decimal`.
    Decimal,
    /// U+F027, `datetime`.
    DateTime,
    /// U+F028, `date`.
    Date,
    /// U+F029, `UUID`.
    Uuid,
    /// U+F02A, `HexBytes`.
    HexBytes,
    /// U+F02B, base64 `bytes`.
    Bytes,
    /// U+F02C, `Wei`.
    Wei,
    /// U+F02D, `time`.
    Time,
}

const KINDS: [TypedKind; 8] = [
    TypedKind::Decimal,
    TypedKind::DateTime,
    TypedKind::Date,
    TypedKind::Uuid,
    TypedKind::HexBytes,
    TypedKind::Bytes,
    TypedKind::Wei,
    TypedKind::Time,
];

impl TypedKind {
    /// The prefix character dlt writes for this kind.
    pub fn marker(self) -> char {
        let idx = KINDS.iter().position(|k| *k == self).unwrap_or(0) as u32;
        char::from_u32(PUA_START + idx).unwrap_or('\u{f026}')
    }

    /// The kind a prefix character stands for, `None` outside dlt's eight codes.
    pub fn from_marker(c: char) -> Option<Self> {
        let idx = (c as u32).checked_sub(PUA_START)?;
        KINDS.get(idx as usize).copied()
    }

    /// dlt's name of the matching column data type where there is one (`decimal`,
    /// `timestamp`, `date`, `text` for UUIDs, `binary`, `wei`, `time`).
    pub fn data_type(self) -> &'static str {
        match self {
            TypedKind::Decimal => "decimal",
            TypedKind::DateTime => "timestamp",
            TypedKind::Date => "date",
            TypedKind::Uuid => "text",
            TypedKind::HexBytes | TypedKind::Bytes => "binary",
            TypedKind::Wei => "wei",
            TypedKind::Time => "time",
        }
    }
}

/// A Python `Decimal` as `Decimal(s)` reads it: sign, coefficient digits and exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyDecimal {
    /// A finite number `(-1)^negative * digits * 10^exponent`; `digits` has no leading zeros
    /// (`"0"` for zero).
    Finite {
        /// Sign (`-0` keeps it).
        negative: bool,
        /// Coefficient, ASCII digits.
        digits: String,
        /// Power of ten.
        exponent: i64,
    },
    /// `Infinity` / `-Infinity`.
    Infinity {
        /// Sign.
        negative: bool,
    },
    /// `NaN` / `sNaN` with an optional payload.
    NaN {
        /// Sign.
        negative: bool,
        /// `sNaN`.
        signaling: bool,
        /// Diagnostic digits, no leading zeros (empty for none).
        payload: String,
    },
}

/// A Python `datetime`: wall-clock date and time, and the UTC offset in microseconds when it
/// is aware (`None`: naive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyDateTime {
    /// Wall-clock date and time (microsecond precision).
    pub local: NaiveDateTime,
    /// UTC offset in microseconds, `None` for a naive datetime.
    pub offset_us: Option<i64>,
}

/// A Python `time`, with an optional UTC offset in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyTime {
    /// Wall-clock time (microsecond precision).
    pub time: NaiveTime,
    /// UTC offset in microseconds, `None` for a naive time.
    pub offset_us: Option<i64>,
}

/// One decoded typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedValue {
    /// U+F026.
    Decimal(PyDecimal),
    /// U+F027.
    DateTime(PyDateTime),
    /// U+F028.
    Date(NaiveDate),
    /// U+F029, the 128-bit value.
    Uuid(u128),
    /// U+F02A.
    HexBytes(Vec<u8>),
    /// U+F02B.
    Bytes(Vec<u8>),
    /// U+F02C.
    Wei(PyDecimal),
    /// U+F02D.
    Time(PyTime),
}

impl TypedValue {
    /// The kind (prefix) of this value.
    pub fn kind(&self) -> TypedKind {
        match self {
            TypedValue::Decimal(_) => TypedKind::Decimal,
            TypedValue::DateTime(_) => TypedKind::DateTime,
            TypedValue::Date(_) => TypedKind::Date,
            TypedValue::Uuid(_) => TypedKind::Uuid,
            TypedValue::HexBytes(_) => TypedKind::HexBytes,
            TypedValue::Bytes(_) => TypedKind::Bytes,
            TypedValue::Wei(_) => TypedKind::Wei,
            TypedValue::Time(_) => TypedKind::Time,
        }
    }

    /// The value's text without a prefix, as dlt's untyped `json.dumps` writes it: `str()` of
    /// decimals and UUIDs, `isoformat()` of dates and times, `0x…` hex, base64.
    pub fn text(&self) -> String {
        match self {
            TypedValue::Decimal(d) | TypedValue::Wei(d) => d.to_string(),
            TypedValue::DateTime(dt) => dt.isoformat(),
            TypedValue::Date(d) => format_date(*d),
            TypedValue::Uuid(u) => format_uuid(*u),
            TypedValue::HexBytes(b) => {
                let mut s = String::with_capacity(2 + 2 * b.len());
                s.push_str("0x");
                for byte in b {
                    let _ = write!(s, "{byte:02x}");
                }
                s
            }
            TypedValue::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
            TypedValue::Time(t) => t.isoformat(),
        }
    }

    /// The string dlt's `typed_dumps` writes for this value: the prefix and [`Self::text`]
    /// (UUIDs without a prefix: orjson writes them itself).
    pub fn encode(&self) -> String {
        let text = self.text();
        if let TypedValue::Uuid(_) = self {
            return text;
        }
        let mut s = String::with_capacity(text.len() + 3);
        s.push(self.kind().marker());
        s.push_str(&text);
        s
    }

    /// [`Self::encode`] as a JSON string value.
    pub fn to_json(&self) -> Value {
        Value::String(self.encode())
    }

    /// The value as plain JSON for comparing and templating: finite decimals and weis as
    /// numbers, everything else as [`Self::text`] (`2024-01-02T10:00:00+00:00`, `0x…`, …).
    pub fn to_plain_json(&self) -> Value {
        if let TypedValue::Decimal(d @ PyDecimal::Finite { .. })
        | TypedValue::Wei(d @ PyDecimal::Finite { .. }) = self
            && let Ok(n) = d.to_string().parse::<serde_json::Number>()
        {
            return Value::Number(n);
        }
        Value::String(self.text())
    }

    /// Reads `v` (a string, or a number for decimals) as a value of `kind`, as dlt's typed
    /// state would hold it: `"2024-01-05T00:00:00Z"` as a datetime gives
    /// `\u{f027}2024-01-05T00:00:00+00:00`. `None` when it does not parse as that kind.
    pub fn coerce(v: &Value, kind: TypedKind) -> Option<TypedValue> {
        if let Some(t) = decode(v) {
            return (t.kind() == kind).then_some(t);
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        decode_str(&format!("{}{text}", kind.marker()))
    }

    /// The instant of a datetime (naive ones taken as UTC) or of a date's midnight UTC, for
    /// comparing cursors; `None` for other kinds.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        match self {
            TypedValue::DateTime(dt) => Some(dt.to_utc()),
            TypedValue::Date(d) => Some(d.and_time(NaiveTime::MIN).and_utc()),
            _ => None,
        }
    }
}

impl PyDateTime {
    /// Python's `isoformat()`.
    pub fn isoformat(&self) -> String {
        let mut s = format_date(self.local.date());
        s.push('T');
        write_time(&mut s, self.local.time(), self.offset_us);
        s
    }

    /// The instant (a naive datetime is taken as UTC).
    pub fn to_utc(&self) -> DateTime<Utc> {
        let utc = self.local - Duration::microseconds(self.offset_us.unwrap_or(0));
        utc.and_utc()
    }

    /// An aware UTC datetime for `t` (what dlt writes for a `pendulum` / UTC datetime).
    pub fn from_utc(t: DateTime<Utc>) -> Self {
        let local = t.naive_utc();
        let local = local
            .with_nanosecond(local.nanosecond() / 1000 * 1000)
            .unwrap_or(local);
        PyDateTime {
            local,
            offset_us: Some(0),
        }
    }
}

impl PyTime {
    /// Python's `isoformat()`.
    pub fn isoformat(&self) -> String {
        let mut s = String::with_capacity(15);
        write_time(&mut s, self.time, self.offset_us);
        s
    }
}

impl std::fmt::Display for PyDecimal {
    /// Python's `str(Decimal)` (the to-scientific-string rule).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (negative, body) = match self {
            PyDecimal::Infinity { negative } => (*negative, "Infinity".to_string()),
            PyDecimal::NaN {
                negative,
                signaling,
                payload,
            } => {
                let s = if *signaling { "sNaN" } else { "NaN" };
                (*negative, format!("{s}{payload}"))
            }
            PyDecimal::Finite {
                negative,
                digits,
                exponent,
            } => (*negative, sci_string(digits, *exponent)),
        };
        if negative {
            f.write_str("-")?;
        }
        f.write_str(&body)
    }
}

/// `Decimal.__str__` of a finite coefficient and exponent.
fn sci_string(digits: &str, exp: i64) -> String {
    let n = digits.len() as i64;
    let leftdigits = exp + n;
    let dotplace = if exp <= 0 && leftdigits > -6 {
        leftdigits
    } else {
        1
    };
    let mut s = String::with_capacity(digits.len() + 8);
    if dotplace <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-dotplace) as usize));
        s.push_str(digits);
    } else if dotplace >= n {
        s.push_str(digits);
        s.extend(std::iter::repeat_n('0', (dotplace - n) as usize));
    } else {
        s.push_str(&digits[..dotplace as usize]);
        s.push('.');
        s.push_str(&digits[dotplace as usize..]);
    }
    if leftdigits != dotplace {
        let _ = write!(s, "E{:+}", leftdigits - dotplace);
    }
    s
}

fn format_date(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

fn format_uuid(u: u128) -> String {
    let h = format!("{u:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `HH:MM:SS[.ffffff]` and Python's `utcoffset` format (`+HH:MM[:SS[.ffffff]]`).
fn write_time(s: &mut String, t: NaiveTime, offset_us: Option<i64>) {
    let _ = write!(s, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let us = t.nanosecond() / 1000;
    if us != 0 {
        let _ = write!(s, ".{us:06}");
    }
    if let Some(off) = offset_us {
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        let (secs, micros) = (off / 1_000_000, off % 1_000_000);
        let _ = write!(s, "{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60);
        if micros != 0 {
            let _ = write!(s, ":{:02}.{micros:06}", secs % 60);
        } else if secs % 60 != 0 {
            let _ = write!(s, ":{:02}", secs % 60);
        }
    }
}

/// Decodes one string as dlt's `custom_pua_decode` does: `Some` when it starts with one of
/// dlt's eight prefixes, has text after it and that text parses; `None` means "not typed, keep
/// the string as it is".
pub fn decode_str(s: &str) -> Option<TypedValue> {
    let mut chars = s.chars();
    let kind = TypedKind::from_marker(chars.next()?)?;
    let rest = chars.as_str();
    if rest.is_empty() {
        return None;
    }
    Some(match kind {
        TypedKind::Decimal => TypedValue::Decimal(parse::decimal(rest)?),
        TypedKind::Wei => TypedValue::Wei(parse::decimal(rest)?),
        TypedKind::DateTime => TypedValue::DateTime(parse::datetime(rest)?),
        TypedKind::Date => TypedValue::Date(parse::date(rest)?),
        TypedKind::Time => TypedValue::Time(parse::time(rest)?),
        TypedKind::Uuid => TypedValue::Uuid(parse::uuid(rest)?),
        TypedKind::HexBytes => TypedValue::HexBytes(parse::hex_bytes(rest)?),
        TypedKind::Bytes => TypedValue::Bytes(parse::b64decode(rest)?),
    })
}

/// [`decode_str`] of a JSON string; `None` for other JSON values and untyped strings.
pub fn decode(v: &Value) -> Option<TypedValue> {
    match v {
        Value::String(s) => decode_str(s),
        _ => None,
    }
}

/// dlt's `custom_pua_remove`: the text after a prefix in dlt's range (any text, even one
/// that does not parse), else `s` unchanged.
pub fn remove_marker(s: &str) -> &str {
    let mut chars = s.chars();
    match chars.next().and_then(TypedKind::from_marker) {
        Some(_) if !chars.as_str().is_empty() => chars.as_str(),
        _ => s,
    }
}

/// dlt's `may_have_pua`: whether a UTF-8 line may hold a typed value (a fast pre-check).
pub fn may_have_pua(line: &[u8]) -> bool {
    // U+F026..U+F02D are EF 80 A6 .. EF 80 AD in UTF-8.
    line.windows(2).any(|w| w == [0xEF, 0x80])
}

/// Walks a JSON tree (object values and array items, not keys) and replaces every string that
/// decodes as a typed value with what `f` returns for it. Other values stay as they are.
pub fn map_typed(v: &mut Value, f: &mut dyn FnMut(TypedValue) -> Value) {
    match v {
        Value::String(s) => {
            if let Some(t) = decode_str(s) {
                *v = f(t);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_typed(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| map_typed(i, f)),
        _ => {}
    }
}

/// Rewrites every typed string in the tree in dlt's canonical form (what dlt's `typed_loads`
/// then `typed_dumps` writes): `"\u{f027}2024-01-02T10:00:00Z"` becomes
/// `"\u{f027}2024-01-02T10:00:00+00:00"`. Strings dlt wrote are left unchanged.
pub fn canonicalize(v: &mut Value) {
    map_typed(v, &mut |t| t.to_json());
}

/// Replaces every typed string by its untyped text ([`TypedValue::text`]), as dlt's plain
/// `json.dumps` of the decoded document writes it.
pub fn strip_markers(v: &mut Value) {
    map_typed(v, &mut |t| Value::String(t.text()));
}

/// Whether the tree holds at least one string that decodes as a typed value.
pub fn contains_typed(v: &Value) -> bool {
    match v {
        Value::String(s) => decode_str(s).is_some(),
        Value::Array(items) => items.iter().any(contains_typed),
        Value::Object(map) => map.values().any(contains_typed),
        _ => false,
    }
}

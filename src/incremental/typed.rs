//! Typed cursor values: numbers compare as numbers, timestamps and dates as instants (any
//! offset, `Z` or none = UTC), other strings as text.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Parses an ISO 8601 / RFC 3339 timestamp or date into an instant (naive values are UTC; a
/// date is its midnight).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc());
        }
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

fn is_date_only(s: &str) -> bool {
    s.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// `v` without dlt's typed prefix (`"\u{f027}2024-…"` → `"2024-…"`, decimals as numbers).
pub fn untyped(v: &Value) -> std::borrow::Cow<'_, Value> {
    match crate::pycompat::typed::decode(v) {
        Some(t) => std::borrow::Cow::Owned(t.to_plain_json()),
        None => std::borrow::Cow::Borrowed(v),
    }
}

/// Orders two cursor values by type; `None` when they cannot be compared (a number and a
/// string, objects, …). dlt's typed values (`"\u{f027}2024-…"` in its state) compare as what
/// they hold.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    let (a, b) = (untyped(a), untyped(b));
    match (a.as_ref(), b.as_ref()) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                Some(i.cmp(&j))
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                Some(i.cmp(&j))
            } else {
                x.as_f64()?.partial_cmp(&y.as_f64()?)
            }
        }
        (Value::String(x), Value::String(y)) => match (parse_instant(x), parse_instant(y)) {
            (Some(dx), Some(dy)) => Some(dx.cmp(&dy)),
            (None, None) => Some(x.cmp(y)),
            _ => None,
        },
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `v` moved by `amount`: seconds for timestamps, days for dates, units for numbers (dlt's
/// `lag`). `None` for other values.
pub fn shift(v: &Value, amount: f64) -> Option<Value> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64()
                && amount.fract() == 0.0
            {
                return Some(Value::from(i + amount as i64));
            }
            serde_json::Number::from_f64(n.as_f64()? + amount).map(Value::Number)
        }
        Value::String(s) if is_date_only(s) => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            let d = d.checked_add_signed(chrono::Duration::days(amount as i64))?;
            Some(Value::String(d.format("%Y-%m-%d").to_string()))
        }
        Value::String(s) => {
            let t = parse_instant(s)?;
            let t = t + chrono::Duration::microseconds((amount * 1e6) as i64);
            Some(Value::String(
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        _ => None,
    }
}

/// A window date (`--since`/`--until`) as a cursor value shaped like `sample` (the configured
/// `initial_value`): unix seconds for numbers, a date for dates, else an RFC 3339 timestamp.
pub fn window_value(d: NaiveDate, sample: Option<&Value>) -> Value {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    match sample {
        Some(Value::Number(n)) if n.as_i64().is_some() => Value::from(midnight.timestamp()),
        Some(Value::Number(_)) => Value::from(midnight.timestamp() as f64),
        Some(Value::String(s)) if is_date_only(s) => {
            Value::String(d.format("%Y-%m-%d").to_string())
        }
        _ => Value::String(midnight.to_rfc3339_opts(SecondsFormat::Secs, true)),
    }
}

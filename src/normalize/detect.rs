//! Timestamp detection and date/time parsing, as dlt does with pendulum.
//!
//! dlt's default `iso_timestamp` detection (`dlt/common/schema/detections.py`) calls
//! `parse_iso_like_datetime` (`dlt/common/time.py`): pendulum's Rust `parse_iso8601`, falling back
//! to pendulum's `_parse_common` regex on a `ValueError`; a string is a timestamp when that yields
//! a `datetime` (date *and* time). Both parsers and the Python `datetime` validation behind
//! them are in [`crate::pycompat::pendulum`] and [`crate::pycompat::datetime`]; this module
//! applies them as dlt does, for the detection and for the wider coercions dlt applies to text
//! written into an existing `timestamp`, `date` or `time` column (`ensure_datetime`,
//! `_text_to_date_fast`, `ensure_pendulum_time`), which also accept bare dates and unix seconds.
//!
//! All results are in UTC: naive values are taken as UTC, offsets are subtracted. Values whose
//! UTC instant leaves Python's `datetime` range (years 1–9999) and offsets of 24 hours or more
//! yield `None`; dlt itself raises an unhandled error for those.

use crate::pycompat::datetime::{
    SECS_PER_DAY, US_PER_DAY, US_PER_SEC, date_fromisoformat, from_unix_seconds_f64,
};
use crate::pycompat::num::parse_py_float;
use crate::pycompat::pendulum::{Parsed, parse_iso_like};
use crate::pycompat::unicode::decimal_digit;

/// Detects a timestamp the way dlt's default `iso_timestamp` detection does, returning it as UTC
/// microseconds since the Unix epoch.
///
/// `Some` for e.g. `2024-01-01T10:00:00Z`, `2024-01-01 10:00:00`, `2024-01-01T10`,
/// `20240101T100000`, `2024-W01-1T10`, `2024-001T10`, `2024/01/15 10:00`, `2024 10:00`;
/// `None` for dates (`2024-01-01`), times (`10:00:00`), numbers, `24:00`, leap seconds,
/// lowercase `t`/`z`, and anything not starting with a digit (a fast reject).
pub fn detect_iso_timestamp(s: &str) -> Option<i64> {
    let first = s.chars().next()?;
    if !first.is_ascii_digit() && decimal_digit(first).is_none() {
        return None;
    }
    match parse_iso_like(s)? {
        Parsed::DateTime(dt) => dt.to_utc_micros(),
        _ => None,
    }
}

/// Parses text written into an existing `timestamp` column (dlt's `ensure_datetime` +
/// `normalize_timezone`), returning UTC microseconds since the Unix epoch.
///
/// Accepts everything [`detect_iso_timestamp`] does, plus dates (midnight UTC) and numbers taken
/// as unix seconds (`"1704103200"`, `" 1.5e9 "`), parsed as Python's `float()` would.
pub fn parse_timestamp_any(s: &str) -> Option<i64> {
    match parse_iso_like(s) {
        Some(Parsed::DateTime(dt)) => dt.to_utc_micros(),
        Some(Parsed::Date(d)) => Some(d.days_since_epoch() * US_PER_DAY),
        Some(Parsed::Time(_)) => None,
        None => from_unix_seconds_f64(parse_py_float(s)?),
    }
}

/// Parses text written into an existing `date` column (dlt's `_text_to_date_fast`), returning
/// days since the Unix epoch.
///
/// Dates give themselves; timestamps give their UTC calendar day; numbers are unix seconds.
pub fn parse_date(s: &str) -> Option<i32> {
    if let Some(d) = date_fromisoformat(s) {
        return i32::try_from(d.days_since_epoch()).ok();
    }
    let us = parse_timestamp_any(s)?;
    i32::try_from(us.div_euclid(US_PER_DAY)).ok()
}

/// Parses text written into an existing `time` column (dlt's `ensure_pendulum_time`), returning
/// microseconds since midnight.
///
/// Only times are accepted (`10:00`, `10:00:00.5`, `T10:00`, `10:00:00+02:00`); a time with an
/// offset is converted to its UTC time of day.
pub fn parse_time(s: &str) -> Option<i64> {
    match parse_iso_like(s)? {
        Parsed::Time(t) => {
            let secs = i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
            let offset = match t.offset {
                Some(off) if off.abs() >= SECS_PER_DAY => return None,
                Some(off) => off,
                None => 0,
            };
            let local = (secs - offset).rem_euclid(SECS_PER_DAY);
            Some(local * US_PER_SEC + i64::from(t.microsecond))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

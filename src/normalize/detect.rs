//! Timestamp detection and date/time parsing, as dlt does with pendulum.
//!
//! dlt's default `iso_timestamp` detection (`dlt/common/schema/detections.py`) calls
//! `parse_iso_like_datetime` (`dlt/common/time.py`): pendulum's Rust `parse_iso8601`, falling back
//! to pendulum's `_parse_common` regex on a `ValueError`; a string is a timestamp when that yields
//! a `datetime` (date *and* time). This module ports both parsers and the Python `datetime`
//! validation behind them, plus the wider coercions dlt applies to text written into an existing
//! `timestamp`, `date` or `time` column (`ensure_datetime`, `_text_to_date_fast`,
//! `ensure_pendulum_time`), which also accept bare dates and unix seconds.
//!
//! All results are in UTC: naive values are taken as UTC, offsets are subtracted. Values whose
//! UTC instant leaves Python's `datetime` range (years 1–9999) and offsets of 24 hours or more
//! yield `None`; dlt itself raises an unhandled error for those.

mod iso8601;

use iso8601::{parse_common, parse_iso8601};

use crate::normalize::naming::{decimal_digit, is_py_space, py_strip};

/// Microseconds per second.
const US_PER_SEC: i64 = 1_000_000;
/// Seconds per day.
const SECS_PER_DAY: i64 = 86_400;
/// Microseconds per day.
const US_PER_DAY: i64 = SECS_PER_DAY * US_PER_SEC;
/// Unix seconds of 0001-01-01T00:00:00Z, the smallest Python `datetime`.
const MIN_UNIX_SECS: i64 = -62_135_596_800;
/// Unix seconds of 9999-12-31T23:59:59Z, the largest whole second of a Python `datetime`.
const MAX_UNIX_SECS: i64 = 253_402_300_799;

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

/// CPython 3.11's `date.fromisoformat`, dlt's fast path for dates: 7, 8 or 10 bytes holding
/// `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www[-D]` or `YYYYWww[D]`. Like CPython it ignores whatever
/// follows a complete compact date (`"20240101 1"` is 2024-01-01).
fn date_fromisoformat(s: &str) -> Option<Ymd> {
    let b = s.as_bytes();
    if !matches!(b.len(), 7 | 8 | 10) {
        return None;
    }
    // C string semantics: reading past the end sees NUL
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let digits = |from: usize, n: usize| -> Option<u32> {
        (from..from + n).try_fold(0u32, |acc, i| {
            let c = at(i);
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i64::from(digits(0, 4)?);
    let sep = at(4) == b'-';
    let mut p = if sep { 5 } else { 4 };
    if at(p) == b'W' {
        let week = digits(p + 1, 2)?;
        p += 3;
        let mut wday = 1;
        if p < b.len() {
            if sep {
                if at(p) != b'-' {
                    return None;
                }
                p += 1;
            }
            wday = digits(p, 1)?;
        }
        if !(1..=9999).contains(&year) || !(1..=7).contains(&wday) {
            return None;
        }
        if week == 0 || week > 53 || (week == 53 && !is_long_year(year)) {
            return None;
        }
        let jan4 = days_from_civil(year, 1, 4);
        let week1_monday = jan4 - (iso_weekday(year, 1, 4) - 1);
        let days = week1_monday + i64::from(week - 1) * 7 + i64::from(wday - 1);
        let (y, m, d) = civil_from_days(days);
        return make_date(y, m, d).ok();
    }
    let month = digits(p, 2)?;
    p += 2;
    if sep {
        if at(p) != b'-' {
            return None;
        }
        p += 1;
    }
    let day = digits(p, 2)?;
    make_date(year, month, day).ok()
}

/// The proleptic Gregorian date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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

/// Converts unix seconds to UTC microseconds like Python's `datetime.fromtimestamp(ts, UTC)`
/// (pendulum's `from_timestamp`): microseconds rounded half to even, `None` for NaN, infinities
/// and instants outside years 1–9999.
pub fn from_unix_seconds_f64(ts: f64) -> Option<i64> {
    if !ts.is_finite() {
        return None;
    }
    let mut int_part = ts.trunc();
    let mut frac = round_half_even((ts - int_part) * 1e6);
    if frac >= 1e6 {
        frac -= 1e6;
        int_part += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        int_part -= 1.0;
    }
    if !(MIN_UNIX_SECS as f64..=MAX_UNIX_SECS as f64).contains(&int_part) {
        return None;
    }
    // both parts are exact integers in range here
    Some(int_part as i64 * US_PER_SEC + frac as i64)
}

/// Converts integer unix seconds to UTC microseconds (`pendulum.from_timestamp(int)`), `None`
/// outside years 1–9999.
pub fn from_unix_seconds_i64(ts: i64) -> Option<i64> {
    (MIN_UNIX_SECS..=MAX_UNIX_SECS)
        .contains(&ts)
        .then(|| ts * US_PER_SEC)
}

/// CPython's `_PyTime_RoundHalfEven`.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        rounded
    }
}

/// Parses text as Python's `float()`: surrounding whitespace, Unicode digits, `_` between
/// digits, `inf`/`infinity`/`nan` in any case. Returns `None` where `float()` raises.
pub fn parse_py_float(s: &str) -> Option<f64> {
    let ascii = py_numeric_to_ascii(s)?;
    let body = ascii.strip_prefix(['+', '-']).unwrap_or(&ascii);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let neg = ascii.starts_with('-');
        let v = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if neg { -v } else { v });
    }
    // grammar: digitpart ["." [digitpart]] [exp] | "." digitpart [exp]
    let bytes = body.as_bytes();
    let mut i = 0;
    let int_digits = scan_digitpart(bytes, &mut i)?;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = scan_digitpart(bytes, &mut i)?;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if scan_digitpart(bytes, &mut i)? == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    let cleaned: String = ascii.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}

/// Scans `digit (["_"] digit)*` (possibly empty) at `*i`; `None` for a misplaced `_`.
fn scan_digitpart(bytes: &[u8], i: &mut usize) -> Option<usize> {
    let mut n = 0;
    while let Some(&b) = bytes.get(*i) {
        if b.is_ascii_digit() {
            n += 1;
            *i += 1;
        } else if b == b'_' {
            if n == 0 || !bytes.get(*i + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            *i += 1;
        } else {
            break;
        }
    }
    Some(n)
}

/// CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII` followed by a strip: Unicode digits
/// become ASCII digits; any other non-ASCII character makes the text invalid (`None`).
pub(crate) fn py_numeric_to_ascii(s: &str) -> Option<String> {
    let s = py_strip(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if is_py_space(c) {
            out.push(' ');
        } else {
            let d = decimal_digit(c)?;
            out.push(char::from(b'0' + d as u8));
        }
    }
    Some(out)
}

/// A parsed calendar date (already validated).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ymd {
    year: i64,
    month: u32,
    day: u32,
}

impl Ymd {
    /// Days since 1970-01-01 (proleptic Gregorian).
    fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }
}

/// A parsed time of day with an optional UTC offset in seconds (already validated, except the
/// offset, which Python only checks when it is used).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hms {
    hour: u32,
    minute: u32,
    second: u32,
    microsecond: u32,
    offset: Option<i64>,
}

/// A parsed date and time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DateTime {
    date: Ymd,
    time: Hms,
}

impl DateTime {
    /// UTC microseconds since the epoch; `None` for an offset of a day or more or an instant
    /// outside years 1–9999 after conversion to UTC.
    fn to_utc_micros(self) -> Option<i64> {
        let offset = self.time.offset.unwrap_or(0);
        if offset.abs() >= SECS_PER_DAY {
            return None;
        }
        let secs = self.date.days_since_epoch() * SECS_PER_DAY
            + i64::from(self.time.hour) * 3600
            + i64::from(self.time.minute) * 60
            + i64::from(self.time.second)
            - offset;
        if !(MIN_UNIX_SECS..=MAX_UNIX_SECS).contains(&secs) {
            return None;
        }
        Some(secs * US_PER_SEC + i64::from(self.time.microsecond))
    }
}

/// What `parse_iso_like_datetime` returns.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Parsed {
    /// A `datetime`.
    DateTime(DateTime),
    /// A `date`.
    Date(Ymd),
    /// A `time`.
    Time(Hms),
}

/// dlt's `parse_iso_like_datetime`: pendulum's `parse_iso8601`, then `_parse_common`.
/// `None` when both raise `ValueError`.
fn parse_iso_like(s: &str) -> Option<Parsed> {
    match parse_iso8601(s) {
        Ok(p) => Some(p),
        Err(()) => parse_common(s),
    }
}

/// Whether `y` is a leap year.
fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` of year `y`.
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Python's `date(y, m, d)` validation.
fn make_date(year: i64, month: u32, day: u32) -> Result<Ymd, ()> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(());
    }
    Ok(Ymd { year, month, day })
}

/// Python's `time(h, m, s, us)` validation.
fn make_time(hour: u32, minute: u32, second: u32, us: u32, offset: Option<i64>) -> Result<Hms, ()> {
    if hour > 23 || minute > 59 || second > 59 || us > 999_999 {
        return Err(());
    }
    Ok(Hms {
        hour,
        minute,
        second,
        microsecond: us,
        offset,
    })
}

/// Day of week of a date, Monday = 1 … Sunday = 7.
fn iso_weekday(y: i64, m: u32, d: u32) -> i64 {
    // 1970-01-01 was a Thursday (4)
    (days_from_civil(y, m, d) + 3).rem_euclid(7) + 1
}

/// Whether the ISO year has 53 weeks.
fn is_long_year(y: i64) -> bool {
    let p = |y: i64| (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)).rem_euclid(7);
    p(y) == 4 || p(y - 1) == 3
}

/// Days in year `y`.
fn days_in_year(y: i64) -> i64 {
    if is_leap(y) { 366 } else { 365 }
}

#[cfg(test)]
mod tests;

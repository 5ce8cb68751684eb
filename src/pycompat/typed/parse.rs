//! Python's readers of dlt's typed texts: `Decimal(s)`, CPython 3.11's C `fromisoformat`
//! (ported step by step from `Modules/_datetimemodule.c`), `UUID(s)`, `bytes.fromhex` and
//! `binascii.a2b_base64`. Each returns `None` where Python raises. Normalize's coercions read
//! dates, hex and base64 text through the same functions ([`date`], [`bytes_fromhex`],
//! [`a2b_base64`]).

use chrono::{Datelike as _, NaiveDate, NaiveTime, Weekday};

use super::{PyDateTime, PyDecimal, PyTime};
use crate::pycompat::unicode::{decimal_digit, is_py_space, py_strip};

/// `Decimal(s)`: whitespace stripped, underscores ignored, Unicode digits read.
pub(super) fn decimal(s: &str) -> Option<PyDecimal> {
    let mut t = String::with_capacity(s.len());
    for c in py_strip(s).chars() {
        if c == '_' {
            continue;
        }
        match decimal_digit(c) {
            Some(d) => t.push(char::from_digit(d, 10)?),
            None if c.is_ascii() && !is_py_space(c) => t.push(c),
            None => return None,
        }
    }
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(PyDecimal::Infinity { negative });
    }
    let (signaling, nan_rest) = if let Some(r) = lower.strip_prefix("snan") {
        (true, Some(r))
    } else {
        (false, lower.strip_prefix("nan"))
    };
    if let Some(diag) = nan_rest {
        if !diag.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let payload = diag.trim_start_matches('0').to_string();
        return Some(PyDecimal::NaN {
            negative,
            signaling,
            payload,
        });
    }
    finite(negative, &lower)
}

/// `int[.frac][e[+-]exp]` with at least one digit in `int` or `frac`.
fn finite(negative: bool, s: &str) -> Option<PyDecimal> {
    let (mantissa, exp) = match s.find('e') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let exp: i64 = match exp {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            e.parse().ok()?
        }
    };
    let mut digits = format!("{int}{frac}").trim_start_matches('0').to_string();
    if digits.is_empty() {
        digits.push('0');
    }
    let exponent = exp.checked_sub(frac.len() as i64)?;
    Some(PyDecimal::Finite {
        negative,
        digits,
        exponent,
    })
}

/// Byte `i` of `b`, or NUL past the end (the C code reads a NUL-terminated buffer).
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// C `parse_digits`: exactly `n` ASCII digits at `p`.
fn parse_digits(b: &[u8], p: usize, n: usize) -> Option<(usize, u32)> {
    let mut v = 0u32;
    for i in 0..n {
        let c = at(b, p + i);
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some((p + n, v))
}

/// C `parse_hh_mm_ss_ff` over `b[start..end]`: `(more, [h, m, s, us])`, `more` when the text
/// does not end at `end`.
fn hh_mm_ss_ff(b: &[u8], start: usize, end: usize) -> Option<(bool, [u32; 4])> {
    let mut vals = [0u32; 4];
    let mut p = start;
    let mut has_sep = true;
    for (i, val) in vals.iter_mut().take(3).enumerate() {
        let (np, v) = parse_digits(b, p, 2)?;
        *val = v;
        let c = at(b, np);
        p = np + 1;
        if i == 0 {
            has_sep = c == b':';
        }
        if p >= end {
            return Some((c != 0, vals));
        } else if has_sep && c == b':' {
            continue;
        } else if c == b'.' || c == b',' {
            break;
        } else if !has_sep {
            p -= 1;
        } else {
            return None;
        }
    }
    let to_parse = end.saturating_sub(p).min(6);
    if to_parse == 0 {
        return None;
    }
    let (mut np, us) = parse_digits(b, p, to_parse)?;
    vals[3] = us * 10u32.pow(6 - to_parse as u32);
    while at(b, np).is_ascii_digit() {
        np += 1;
    }
    Some((at(b, np) != 0, vals))
}

/// C `parse_isoformat_time` of `b[p..p+len]`: the time and, when present, the UTC offset in
/// microseconds.
fn isoformat_time(b: &[u8], p: usize, len: usize) -> Option<(NaiveTime, Option<i64>)> {
    let end = p + len;
    let mut tz = p;
    loop {
        if matches!(at(b, tz), b'Z' | b'+' | b'-') {
            break;
        }
        tz += 1;
        if tz >= end {
            break;
        }
    }
    let (more, [h, m, s, us]) = hh_mm_ss_ff(b, p, tz)?;
    let time = NaiveTime::from_hms_micro_opt(h, m, s, us)?;
    if tz == end {
        return (!more).then_some((time, None));
    }
    if at(b, tz) == b'Z' {
        return (at(b, tz + 1) == 0).then_some((time, Some(0)));
    }
    let sign = if at(b, tz) == b'-' { -1 } else { 1 };
    let (more, [th, tm, ts, tus]) = hh_mm_ss_ff(b, tz + 1, end)?;
    if more {
        return None;
    }
    let off = sign
        * ((i64::from(th) * 3600 + i64::from(tm) * 60 + i64::from(ts)) * 1_000_000
            + i64::from(tus));
    // `timezone` takes offsets strictly inside ±24 hours.
    (off.abs() < 86_400_000_000).then_some((time, Some(off)))
}

/// C `parse_isoformat_date` of `b[..len]`.
fn isoformat_date(b: &[u8], len: usize) -> Option<NaiveDate> {
    let (mut p, year) = parse_digits(b, 0, 4)?;
    let uses_sep = at(b, p) == b'-';
    if uses_sep {
        p += 1;
    }
    if at(b, p) == b'W' {
        let (np, week) = parse_digits(b, p + 1, 2)?;
        p = np;
        let day = if p < len {
            if uses_sep {
                if at(b, p) != b'-' {
                    return None;
                }
                p += 1;
            }
            parse_digits(b, p, 1)?.1
        } else {
            1
        };
        if !(1..=7).contains(&day) {
            return None;
        }
        let wd = Weekday::try_from(day as u8 - 1).ok()?;
        let d = NaiveDate::from_isoywd_opt(year as i32, week, wd)?;
        return (1..=9999).contains(&d.year()).then_some(d);
    }
    let (np, month) = parse_digits(b, p, 2)?;
    p = np;
    if uses_sep {
        if at(b, p) != b'-' {
            return None;
        }
        p += 1;
    }
    let (_, day) = parse_digits(b, p, 2)?;
    if year == 0 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// C `_find_isoformat_datetime_separator`.
fn datetime_separator(b: &[u8]) -> Option<usize> {
    let len = b.len();
    if len == 7 {
        return Some(7);
    }
    if at(b, 4) == b'-' {
        if at(b, 5) != b'W' {
            return Some(10);
        }
        if len < 8 {
            return None;
        }
        if len > 8 && at(b, 8) == b'-' {
            if len == 9 {
                return None;
            }
            if len > 10 && at(b, 10).is_ascii_digit() {
                return Some(8);
            }
            return Some(10);
        }
        return Some(8);
    }
    if at(b, 4) == b'W' {
        let mut idx = 7;
        while idx < len && at(b, idx).is_ascii_digit() {
            idx += 1;
        }
        if idx < 9 {
            return Some(idx);
        }
        return Some(if idx % 2 == 0 { 7 } else { 8 });
    }
    Some(8)
}

/// `datetime.fromisoformat(s)` (Python 3.11).
pub(super) fn datetime(s: &str) -> Option<PyDateTime> {
    if s.chars().count() < 7 {
        return None;
    }
    let b = s.as_bytes();
    let sep = datetime_separator(b)?;
    let date = isoformat_date(b, sep)?;
    let (time, offset_us) = if b.len() > sep {
        isoformat_time(b, sep + 1, b.len() - sep - 1)?
    } else {
        (NaiveTime::MIN, None)
    };
    Some(PyDateTime {
        local: date.and_time(time),
        offset_us,
    })
}

/// `date.fromisoformat(s)` (Python 3.11): 7, 8 or 10 bytes holding `YYYY-MM-DD`, `YYYYMMDD`,
/// `YYYY-Www[-D]` or `YYYYWww[D]`. Like CPython it ignores whatever follows a complete compact
/// date (`"20240101 1"` is 2024-01-01).
pub(crate) fn date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if !matches!(b.len(), 7 | 8 | 10) {
        return None;
    }
    isoformat_date(b, b.len())
}

/// `time.fromisoformat(s)` (Python 3.11).
pub(super) fn time(s: &str) -> Option<PyTime> {
    let b = s.as_bytes();
    let (start, len) = if at(b, 0) == b'T' {
        (1, b.len() - 1)
    } else {
        (0, b.len())
    };
    let (time, offset_us) = isoformat_time(b, start, len)?;
    Some(PyTime { time, offset_us })
}

/// `UUID(s)`: `urn:` / `uuid:` removed, braces stripped, hyphens removed, 32 hex digits.
pub(super) fn uuid(s: &str) -> Option<u128> {
    let h = s.replace("urn:", "").replace("uuid:", "");
    let h = h.trim_matches(['{', '}']).replace('-', "");
    if h.chars().count() != 32 {
        return None;
    }
    // `int(h, 16)`: whitespace, a `+`, a `0x` prefix and single underscores are allowed.
    let t = py_strip(&h);
    let t = t.strip_prefix('+').unwrap_or(t);
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|c| *c != '_').collect();
    if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&digits, 16).ok()
}

/// `HexBytes(s)`: `0x` then `0X` prefix removed, then [`bytes_fromhex`].
pub(super) fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let s = s.strip_prefix("0X").unwrap_or(s);
    bytes_fromhex(s)
}

/// `bytes.fromhex(s)`: pairs of hex digits, ASCII whitespace allowed between pairs.
pub(crate) fn bytes_fromhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() || b[i] == 0x0b {
            i += 1;
            continue;
        }
        let hi = (at(b, i) as char).to_digit(16)?;
        let lo = (at(b, i + 1) as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// Non-strict `base64.b64decode(s)`.
pub(super) fn b64decode(s: &str) -> Option<Vec<u8>> {
    a2b_base64(s, false)
}

/// CPython 3.11's `binascii.a2b_base64(s, strict_mode)` on a `str` (non-ASCII text is an
/// error). Non-strict: characters outside the alphabet are skipped and a complete padding
/// ends the input. Strict (`b64decode(s, validate=True)`): no leading `=`, no character
/// outside the alphabet, no data after padding, nothing after a complete padding. Both
/// refuse a partial quad.
pub(crate) fn a2b_base64(s: &str, strict: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !s.is_ascii() || (strict && b.first() == Some(&b'=')) {
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
                    return (!strict || i + 1 == b.len()).then_some(out);
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
            _ if strict => return None,
            _ => continue,
        };
        if strict && padding_started {
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

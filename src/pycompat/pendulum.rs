//! pendulum's ISO 8601 parsing as dlt calls it (`parse_iso_like_datetime` in
//! `dlt/common/time.py`): pendulum 3.3's Rust `parse_iso8601`, falling back to its
//! `_parse_common` regex on a `ValueError`, each followed by the Python `date`/`time`/`datetime`
//! construction that validates the fields.

use super::datetime::{
    DateTime, Hms, Ymd, days_in_month, days_in_year, is_long_year, iso_weekday, make_date,
    make_time,
};
use super::unicode::decimal_digit;

/// What `parse_iso_like_datetime` returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Parsed {
    /// A `datetime`.
    DateTime(DateTime),
    /// A `date`.
    Date(Ymd),
    /// A `time`.
    Time(Hms),
}

/// dlt's `parse_iso_like_datetime`: pendulum's `parse_iso8601`, then `_parse_common`.
/// `None` when both raise `ValueError`.
pub(crate) fn parse_iso_like(s: &str) -> Option<Parsed> {
    match parse_iso8601(s) {
        Ok(p) => Some(p),
        Err(()) => parse_common(s),
    }
}

/// Fields of pendulum's parse before Python validation.
#[derive(Debug, Default)]
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    microsecond: u32,
    offset: Option<i64>,
    has_date: bool,
    has_time: bool,
    extended_date_format: bool,
}

/// A byte cursor over the input (every token pendulum accepts is ASCII).
struct Cursor<'s> {
    b: &'s [u8],
    i: usize,
}

impl Cursor<'_> {
    /// The current byte, `0` at the end (as pendulum's `'\0'`).
    fn cur(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }
    fn end(&self) -> bool {
        self.i >= self.b.len()
    }
    fn inc(&mut self) {
        if self.i < self.b.len() {
            self.i += 1;
        }
    }
    /// Exactly `n` ASCII digits.
    fn int(&mut self, n: usize) -> Result<u32, ()> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = self.cur();
            if self.end() || !c.is_ascii_digit() {
                return Err(());
            }
            v = v * 10 + u32::from(c - b'0');
            self.inc();
        }
        Ok(v)
    }
}

/// pendulum 3.3's Rust `parse_iso8601` including the Python object construction. `Err` where it
/// raises `ValueError`.
fn parse_iso8601(s: &str) -> Result<Parsed, ()> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    match c.cur() {
        // a duration is neither a date nor a time, and `COMMON` cannot match it either
        b'P' => return Err(()),
        b'T' => {
            let mut f = Fields::default();
            parse_iso_time(&mut c, &mut f, false)?;
            if !c.end() {
                return Err(());
            }
            return build(&f);
        }
        _ => {}
    }
    let mut f = Fields {
        month: 1,
        day: 1,
        ..Fields::default()
    };
    let century = c.int(2)?;
    if c.cur() == b':' {
        f.hour = century;
        f.extended_date_format = true;
        parse_iso_time(&mut c, &mut f, true)?;
        if !c.end() {
            return Err(());
        }
        return build(&f);
    }
    f.has_date = true;
    f.year = i64::from(century * 100 + c.int(2)?);
    if c.cur() == b'-' {
        c.inc();
        f.extended_date_format = true;
        if c.cur() == b'W' {
            c.inc();
            let week = c.int(2)?;
            let mut wday = 1;
            if !c.end() && c.cur() != b' ' && c.cur() != b'T' {
                if c.cur() != b'-' {
                    return Err(());
                }
                c.inc();
                wday = c.int(1)?;
            }
            let ymd = iso_to_ymd(f.year, week, wday)?;
            set_ymd(&mut f, ymd);
        } else {
            f.month = c.int(2)?;
            if !c.end() && c.cur() != b' ' && c.cur() != b'T' {
                if c.cur() == b'-' {
                    c.inc();
                    f.day = c.int(2)?;
                } else {
                    let ordinal = f.month * 10 + c.int(1)?;
                    let ymd = ordinal_to_ymd(f.year, i64::from(ordinal))?;
                    set_ymd(&mut f, ymd);
                }
            } else {
                f.day = 1;
            }
        }
    } else if c.cur() == b'W' {
        c.inc();
        let week = c.int(2)?;
        let mut wday = 1;
        if !c.end() && c.cur() != b' ' && c.cur() != b'T' {
            wday = c.int(1)?;
        }
        let ymd = iso_to_ymd(f.year, week, wday)?;
        set_ymd(&mut f, ymd);
    } else {
        f.month = c.int(2)?;
        let d1 = c.int(1)?;
        if c.end() || c.cur() == b' ' || c.cur() == b'T' {
            let ordinal = f.month * 10 + d1;
            let ymd = ordinal_to_ymd(f.year, i64::from(ordinal))?;
            set_ymd(&mut f, ymd);
        } else {
            f.day = d1 * 10 + c.int(1)?;
        }
    }
    if !c.end() {
        parse_iso_time(&mut c, &mut f, false)?;
    }
    if !c.end() {
        // `/` starts an interval, which pendulum's Python binding rejects; anything else is
        // unconverted data
        return Err(());
    }
    build(&f)
}

/// Sets the date fields.
fn set_ymd(f: &mut Fields, (y, m, d): (i64, u32, u32)) {
    f.year = y;
    f.month = m;
    f.day = d;
}

/// The time part of pendulum's parser (`parse_time`).
fn parse_iso_time(c: &mut Cursor<'_>, f: &mut Fields, skip_hour: bool) -> Result<(), ()> {
    if !skip_hour && c.cur() != b'T' && c.cur() != b' ' {
        return Err(());
    }
    f.has_time = true;
    if !skip_hour {
        c.inc();
        f.hour = c.int(2)?;
    }
    let is_tz = |b: u8| matches!(b, b'Z' | b'+' | b'-');
    if !c.end() && !is_tz(c.cur()) {
        if c.cur() == b':' {
            c.inc();
            f.minute = c.int(2)?;
            if !c.end() && !is_tz(c.cur()) {
                if c.cur() != b':' {
                    return Err(());
                }
                c.inc();
                f.second = c.int(2)?;
                parse_fraction(c, f)?;
                if !f.extended_date_format {
                    return Err(());
                }
            }
        } else {
            f.minute = c.int(2)?;
            if !c.end() && !is_tz(c.cur()) {
                f.second = c.int(2)?;
                parse_fraction(c, f)?;
            }
            if f.extended_date_format {
                return Err(());
            }
        }
    }
    if c.cur() == b'Z' {
        f.offset = Some(0);
        c.inc();
    } else if c.cur() == b'+' || c.cur() == b'-' {
        let sign: i64 = if c.cur() == b'+' { 1 } else { -1 };
        c.inc();
        let tzhour = i64::from(c.int(2)?);
        if c.cur() == b':' {
            c.inc();
        }
        let tzminute = if c.end() { 0 } else { i64::from(c.int(2)?) };
        let total = (tzminute + tzhour * 60) * sign;
        if total > 24 * 60 {
            return Err(());
        }
        f.offset = Some(total * 60);
    }
    Ok(())
}

/// Optional `.`/`,` fraction: at least one digit, six kept, extra digits dropped.
fn parse_fraction(c: &mut Cursor<'_>, f: &mut Fields) -> Result<(), ()> {
    if c.cur() != b'.' && c.cur() != b',' {
        return Ok(());
    }
    c.inc();
    let mut us = 0u32;
    let mut n = 0;
    while n < 6 && c.cur().is_ascii_digit() {
        us = us * 10 + u32::from(c.cur() - b'0');
        c.inc();
        n += 1;
    }
    if n == 0 {
        return Err(());
    }
    while c.cur().is_ascii_digit() {
        c.inc();
    }
    for _ in n..6 {
        us *= 10;
    }
    f.microsecond = us;
    Ok(())
}

/// ISO week date to calendar date; weeks 0–53 (53 only in long years), days 0–7, spilling into
/// the neighbouring years as pendulum does.
fn iso_to_ymd(year: i64, week: u32, wday: u32) -> Result<(i64, u32, u32), ()> {
    if week > 53 || (week > 52 && !is_long_year(year)) || wday > 7 {
        return Err(());
    }
    let ordinal = i64::from(week) * 7 + i64::from(wday) - (iso_weekday(year, 1, 4) + 3);
    let (mut y, mut ord) = (year, ordinal);
    if ord < 1 {
        ord += days_in_year(y - 1);
        y -= 1;
    } else if ord > days_in_year(y) {
        ord -= days_in_year(y);
        y += 1;
    }
    ordinal_in_year(y, ord)
}

/// Ordinal date (1 ≤ day ≤ days in year) to calendar date.
fn ordinal_to_ymd(year: i64, ordinal: i64) -> Result<(i64, u32, u32), ()> {
    if ordinal < 1 || ordinal > days_in_year(year) {
        return Err(());
    }
    ordinal_in_year(year, ordinal)
}

/// Month and day of a valid ordinal.
fn ordinal_in_year(year: i64, ordinal: i64) -> Result<(i64, u32, u32), ()> {
    let mut rest = ordinal;
    for m in 1..=12u32 {
        let dim = i64::from(days_in_month(year, m));
        if rest <= dim {
            return u32::try_from(rest).map(|d| (year, m, d)).map_err(|_| ());
        }
        rest -= dim;
    }
    Err(())
}

/// The Python objects `parse_iso8601` builds from the fields.
fn build(f: &Fields) -> Result<Parsed, ()> {
    match (f.has_date, f.has_time) {
        (true, true) => Ok(Parsed::DateTime(DateTime {
            date: make_date(f.year, f.month, f.day)?,
            time: make_time(f.hour, f.minute, f.second, f.microsecond, f.offset)?,
        })),
        (true, false) => Ok(Parsed::Date(make_date(f.year, f.month, f.day)?)),
        (false, true) => Ok(Parsed::Time(make_time(
            f.hour,
            f.minute,
            f.second,
            f.microsecond,
            f.offset,
        )?)),
        (false, false) => Err(()),
    }
}

/// pendulum's `_parse_common`: the `COMMON` regex (`\d` is Unicode), then `date`/`datetime`/
/// `time` construction. `None` where it raises `ValueError` (`ParserError` included) and for a
/// missing minute (`"10:"`), which raises an unhandled `TypeError` in dlt.
fn parse_common(s: &str) -> Option<Parsed> {
    // quick reject: the regex only matches digits and `/: .|,`
    if !s
        .chars()
        .all(|c| matches!(c, '/' | ':' | ' ' | '.' | '|' | ',') || decimal_digit(c).is_some())
    {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let digit = |i: usize| chars.get(i).copied().and_then(decimal_digit);
    let num = |from: usize, to: usize| -> i64 {
        (from..to).fold(0i64, |acc, i| acc * 10 + i64::from(digit(i).unwrap_or(0)))
    };
    let is_sep = |i: usize| matches!(chars.get(i), Some('/' | ':'));
    let year_ok = (0..4).all(|i| digit(i).is_some());

    // date alternatives in the regex's backtracking order: (end, month/day positions)
    let mut date_alts: Vec<(usize, Option<(usize, usize)>)> = Vec::with_capacity(6);
    if year_ok {
        for month_sep in [true, false] {
            for day_sep in [true, false] {
                let mut p = 4;
                if month_sep {
                    if !is_sep(p) {
                        continue;
                    }
                    p += 1;
                }
                if digit(p).is_none() || digit(p + 1).is_none() {
                    continue;
                }
                let month_at = p;
                p += 2;
                if day_sep {
                    if !is_sep(p) {
                        continue;
                    }
                    p += 1;
                }
                if digit(p).is_none() || digit(p + 1).is_none() {
                    continue;
                }
                date_alts.push((p + 2, Some((month_at, p))));
            }
        }
        date_alts.push((4, None));
    }
    date_alts.push((0, None));

    for (date_end, monthday) in date_alts {
        let has_date = date_end > 0;
        let time = if date_end == chars.len() {
            None
        } else {
            match match_time(&chars, date_end) {
                Some(t) => Some(t),
                None => continue,
            }
        };
        if !has_date && time.is_none() {
            return None;
        }
        let (year, month, day) = match monthday {
            Some((m, d)) => (num(0, 4), num(m, m + 2) as u32, num(d, d + 2) as u32),
            None => (num(0, 4), 1, 1),
        };
        let Some(t) = time else {
            return make_date(year, month, day).ok().map(Parsed::Date);
        };
        let (m0, m1) = t.minute?;
        let hour = num(t.hour.0, t.hour.1);
        let minute = num(m0, m1);
        let second = t.second.map_or(0, |(a, b)| num(a, b));
        let mut us = 0;
        if let Some((a, b)) = t.subsecond {
            let end = b.min(a + 6);
            us = num(a, end);
            for _ in (end - a)..6 {
                us *= 10;
            }
        }
        let time = make_time(hour as u32, minute as u32, second as u32, us as u32, None).ok()?;
        if !has_date {
            return Some(Parsed::Time(time));
        }
        let date = make_date(year, month, day).ok()?;
        return Some(Parsed::DateTime(DateTime { date, time }));
    }
    None
}

/// Positions of the groups of `COMMON`'s time part.
struct TimeMatch {
    hour: (usize, usize),
    minute: Option<(usize, usize)>,
    second: Option<(usize, usize)>,
    subsecond: Option<(usize, usize)>,
}

/// Matches `\ ?\d{1,2}:(\d{1,2})?(:\d{1,2})?([.|,]\d{1,9})?$` at `p` (always deterministic).
fn match_time(chars: &[char], mut p: usize) -> Option<TimeMatch> {
    let is_d = |i: usize| chars.get(i).copied().and_then(decimal_digit).is_some();
    let run = |from: usize| (from..).take_while(|&i| is_d(i)).count();
    if chars.get(p) == Some(&' ') {
        p += 1;
    }
    let n = run(p);
    if n == 0 || n > 2 || chars.get(p + n) != Some(&':') {
        return None;
    }
    let hour = (p, p + n);
    p += n + 1;
    let n = run(p);
    if n > 2 {
        return None;
    }
    let minute = (n > 0).then_some((p, p + n));
    p += n;
    let mut second = None;
    if chars.get(p) == Some(&':') {
        let n = run(p + 1);
        if n == 0 || n > 2 {
            return None;
        }
        second = Some((p + 1, p + 1 + n));
        p += 1 + n;
    }
    let mut subsecond = None;
    if matches!(chars.get(p), Some('.' | '|' | ',')) {
        let n = run(p + 1);
        if n == 0 || n > 9 {
            return None;
        }
        subsecond = Some((p + 1, p + 1 + n));
        p += 1 + n;
    }
    (p == chars.len()).then_some(TimeMatch {
        hour,
        minute,
        second,
        subsecond,
    })
}

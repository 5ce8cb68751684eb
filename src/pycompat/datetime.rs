//! Python's `datetime` as dlt's time handling uses it: `date`/`time`/`datetime` construction
//! and its validation (years 1–9999), `date.fromisoformat` (CPython 3.11), and
//! `datetime.fromtimestamp(ts, timezone.utc)` (pendulum's `from_timestamp`), all in UTC
//! microseconds or days since the Unix epoch.

/// Microseconds per second.
pub(crate) const US_PER_SEC: i64 = 1_000_000;
/// Seconds per day.
pub(crate) const SECS_PER_DAY: i64 = 86_400;
/// Microseconds per day.
pub(crate) const US_PER_DAY: i64 = SECS_PER_DAY * US_PER_SEC;
/// Unix seconds of 0001-01-01T00:00:00Z, the smallest Python `datetime`.
pub(crate) const MIN_UNIX_SECS: i64 = -62_135_596_800;
/// Unix seconds of 9999-12-31T23:59:59Z, the largest whole second of a Python `datetime`.
pub(crate) const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// CPython 3.11's `date.fromisoformat`, dlt's fast path for dates (one implementation with
/// the typed values' reader: [`crate::pycompat::typed::parse::date`]).
pub(crate) fn date_fromisoformat(s: &str) -> Option<Ymd> {
    use chrono::Datelike as _;
    let d = super::typed::parse::date(s)?;
    Some(Ymd {
        year: i64::from(d.year()),
        month: d.month(),
        day: d.day(),
    })
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

/// A parsed calendar date (already validated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ymd {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
}

impl Ymd {
    /// Days since 1970-01-01 (proleptic Gregorian).
    pub(crate) fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }
}

/// A parsed time of day with an optional UTC offset in seconds (already validated, except the
/// offset, which Python only checks when it is used).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hms {
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) microsecond: u32,
    pub(crate) offset: Option<i64>,
}

/// A parsed date and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DateTime {
    pub(crate) date: Ymd,
    pub(crate) time: Hms,
}

impl DateTime {
    /// UTC microseconds since the epoch; `None` for an offset of a day or more or an instant
    /// outside years 1–9999 after conversion to UTC.
    pub(crate) fn to_utc_micros(self) -> Option<i64> {
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

/// Whether `y` is a leap year.
pub(crate) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` of year `y`.
pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Python's `date(y, m, d)` validation.
pub(crate) fn make_date(year: i64, month: u32, day: u32) -> Result<Ymd, ()> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(());
    }
    Ok(Ymd { year, month, day })
}

/// Python's `time(h, m, s, us)` validation.
pub(crate) fn make_time(
    hour: u32,
    minute: u32,
    second: u32,
    us: u32,
    offset: Option<i64>,
) -> Result<Hms, ()> {
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
pub(crate) fn iso_weekday(y: i64, m: u32, d: u32) -> i64 {
    // 1970-01-01 was a Thursday (4)
    (days_from_civil(y, m, d) + 3).rem_euclid(7) + 1
}

/// Whether the ISO year has 53 weeks.
pub(crate) fn is_long_year(y: i64) -> bool {
    let p = |y: i64| (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)).rem_euclid(7);
    p(y) == 4 || p(y - 1) == 3
}

/// Days in year `y`.
pub(crate) fn days_in_year(y: i64) -> i64 {
    if is_leap(y) { 366 } else { 365 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_like_python() {
        // datetime.fromtimestamp(t, timezone.utc), microseconds rounded half to even
        let cases = [
            (1_704_103_200.5, Some(1_704_103_200_500_000)),
            (0.000_000_5, Some(0)),
            (0.000_001_5, Some(2)),
            (-0.000_000_5, Some(0)),
            (1_704_103_200.000_000_5, Some(1_704_103_200_000_000)),
            (-1.5, Some(-1_500_000)),
            (253_402_300_800.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for (ts, expected) in cases {
            assert_eq!(from_unix_seconds_f64(ts), expected, "{ts}");
        }
        assert_eq!(
            from_unix_seconds_i64(MAX_UNIX_SECS),
            Some(MAX_UNIX_SECS * US_PER_SEC)
        );
        assert_eq!(from_unix_seconds_i64(MIN_UNIX_SECS - 1), None);
        assert_eq!(from_unix_seconds_i64(i64::MAX), None);
    }
}

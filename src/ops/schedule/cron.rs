//! Five-field cron expressions (`minute hour day-of-month month day-of-week`) with ranges,
//! lists, steps, month and weekday names and the `@daily`-style macros, and their next run
//! in a time zone.
//!
//! Day of month and day of week follow Vixie cron: when both are restricted (neither starts
//! with `*`), a day matches if either matches; otherwise both must.
//!
//! Daylight saving time, in the schedule's time zone:
//! - a local time that does not exist (the hour skipped in spring) runs at the first local
//!   time after the gap, so a daily 02:30 still runs that day, at 03:00;
//! - a local time that occurs twice (the hour repeated in autumn) runs once, at its first
//!   occurrence, unless the hour field starts with `*` (`*/15 * * * *`, `30 * * * *`): such
//!   interval-like schedules run in both copies of the hour.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    day_star: bool,
    weekday_star: bool,
    hour_star: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// How far a local wall-clock time can be from "now" across a UTC offset change (the largest
/// offset changes in the tz database are about a day).
const SLACK_HOURS: i64 = 26;

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
    },
];

impl Field {
    fn allowed(&self) -> String {
        let mut s = format!("{}-{}", self.min, self.max);
        if self.name == "day of week" {
            s.push_str(" (0 and 7 are Sunday) or SUN-SAT");
        } else if !self.names.is_empty() {
            s.push_str(" or JAN-DEC");
        }
        s.push_str(", `*`, lists `a,b`, ranges `a-b` and steps `*/n`, `a-b/n`");
        s
    }

    fn value(&self, text: &str) -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(i as u32 + if self.name == "month" { 1 } else { 0 });
        }
        let v: u32 = text.parse().map_err(|_| {
            format!(
                "`{text}` is not a valid {}; allowed: {}",
                self.name,
                self.allowed()
            )
        })?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{} {v} is out of range; allowed: {}",
                self.name,
                self.allowed()
            ));
        }
        Ok(v)
    }

    /// The set of values of one field as a bit set.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(format!("empty item in {} `{text}`", self.name));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!(
                            "step `{s}` in {} `{text}` must be a positive number",
                            self.name
                        )
                    })?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!(
                        "range `{range}` in {} runs backwards; write it as `{b}-{a}` or as a list",
                        self.name
                    ));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `5/10`: from 5 to the end, every 10.
                (a, if item.contains('/') { self.max } else { a })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok(bits)
    }
}

/// The cron expression of a `@macro`.
fn macro_expr(m: &str) -> Result<&'static str, String> {
    Ok(match m.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            return Err(format!(
                "unknown macro `{m}`; allowed: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
            ));
        }
    })
}

impl Cron {
    /// Parses a five-field expression or a macro; the error says which field is wrong and what
    /// it allows.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let expr = expr.trim();
        let expr = if expr.starts_with('@') {
            macro_expr(expr)?
        } else {
            expr
        };
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "`{expr}` has {} field(s); a cron expression has 5: minute hour day-of-month month day-of-week (e.g. `0 6 * * MON-FRI`), or a macro such as @daily",
                parts.len()
            ));
        }
        let mut bits = [0u64; 5];
        for (i, f) in FIELDS.iter().enumerate() {
            bits[i] = f.parse(parts[i])?;
        }
        // 7 is Sunday too.
        let weekdays = ((bits[4] | (bits[4] >> 7)) & 0x7f) as u8;
        let cron = Cron {
            minutes: bits[0],
            hours: bits[1] as u32,
            days: bits[2] as u32,
            months: bits[3] as u16,
            weekdays,
            day_star: parts[2].starts_with('*'),
            weekday_star: parts[4].starts_with('*'),
            hour_star: parts[1].starts_with('*'),
        };
        if cron.weekday_star || cron.day_star {
            let possible = (1..=12).any(|m| {
                cron.months & (1 << m) != 0
                    && (1..=DAYS_IN_MONTH[m as usize - 1]).any(|d| cron.days & (1 << d) != 0)
            });
            if !possible {
                return Err(format!(
                    "`{expr}` never runs: no month it names has the days it names"
                ));
            }
        }
        Ok(cron)
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0;
        if self.day_star || self.weekday_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching wall-clock minute at or after `from` (rounded up to a minute).
    fn next_local(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let from = if from.second() > 0 || from.nanosecond() > 0 {
            from.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1)
        } else {
            from
        };
        let mut date = from.date();
        let mut first = true;
        // Long enough for a Feb 29 schedule across a century year without a leap day.
        for _ in 0..(366 * 9) {
            if self.day_matches(date) {
                let (h0, m0) = if first {
                    (from.hour(), from.minute())
                } else {
                    (0, 0)
                };
                for h in h0..24 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    let start = if h == h0 { m0 } else { 0 };
                    if let Some(m) = (start..60).find(|m| self.minutes & (1 << m) != 0) {
                        return date.and_hms_opt(h, m, 0);
                    }
                }
            }
            date = date.succ_opt()?;
            first = false;
        }
        None
    }

    /// The instants a matching wall-clock time stands for in `tz` (see the module docs).
    fn instants(&self, local: NaiveDateTime, tz: &Tz) -> Vec<DateTime<Utc>> {
        use chrono::LocalResult;
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                if self.hour_star {
                    vec![a.min(b), a.max(b)]
                } else {
                    vec![a.min(b)]
                }
            }
            LocalResult::None => {
                // In a gap: the first local minute after it.
                let mut l = local;
                for _ in 0..(SLACK_HOURS * 60) {
                    l += Duration::minutes(1);
                    if let Some(t) = tz.from_local_datetime(&l).earliest() {
                        return vec![t.with_timezone(&Utc)];
                    }
                }
                Vec::new()
            }
        }
    }

    /// The first run strictly after `after`, in time zone `tz`; `None` if there is none within
    /// about nine years.
    pub fn next_after(&self, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
        let local_after = after.with_timezone(tz).naive_local();
        let mut from = local_after - Duration::hours(SLACK_HOURS);
        let mut best: Option<DateTime<Utc>> = None;
        let mut stop: Option<NaiveDateTime> = None;
        loop {
            let cand = self.next_local(from)?;
            if stop.is_some_and(|s| cand > s) {
                return best;
            }
            for t in self.instants(cand, tz) {
                if t > after && best.is_none_or(|b| t < b) {
                    best = Some(t);
                    stop.get_or_insert(cand + Duration::hours(SLACK_HOURS));
                }
            }
            from = cand + Duration::minutes(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        let tz: Tz = tz.parse().unwrap();
        Cron::parse(expr)
            .unwrap()
            .next_after(utc(after), &tz)
            .unwrap()
            .to_rfc3339()
    }

    fn runs(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let tz: Tz = tz.parse().unwrap();
        let c = Cron::parse(expr).unwrap();
        let mut t = utc(after);
        (0..n)
            .map(|_| {
                t = c.next_after(t, &tz).unwrap();
                t.format("%m-%d %H:%M").to_string()
            })
            .collect()
    }

    #[test]
    fn fields_ranges_lists_steps_names() {
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-01-01T10:07:00Z"),
            "2026-01-01T10:15:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-01-01T10:15:00Z"),
            "2026-01-01T10:30:00+00:00"
        );
        assert_eq!(
            next("0 */6 * * *", "UTC", "2026-01-01T10:00:00Z"),
            "2026-01-01T12:00:00+00:00"
        );
        assert_eq!(
            next("5,35 9-10 * * *", "UTC", "2026-01-01T09:40:00Z"),
            "2026-01-01T10:05:00+00:00"
        );
        assert_eq!(
            next("10-50/20 * * * *", "UTC", "2026-01-01T09:31:00Z"),
            "2026-01-01T09:50:00+00:00"
        );
        assert_eq!(
            next("7/30 * * * *", "UTC", "2026-01-01T09:08:00Z"),
            "2026-01-01T09:37:00+00:00"
        );
        // 2026-01-01 is a Thursday.
        assert_eq!(
            next("0 6 * * MON-FRI", "UTC", "2026-01-02T07:00:00Z"),
            "2026-01-05T06:00:00+00:00"
        );
        assert_eq!(
            next("0 6 * * sun", "UTC", "2026-01-01T00:00:00Z"),
            "2026-01-04T06:00:00+00:00"
        );
        assert_eq!(
            next("0 6 * * 7", "UTC", "2026-01-01T00:00:00Z"),
            "2026-01-04T06:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 JAN,jul *", "UTC", "2026-01-01T00:00:00Z"),
            "2026-07-01T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        // Both day fields restricted: either matches (the 13th, or a Friday).
        assert_eq!(
            next("0 0 13 * FRI", "UTC", "2026-01-03T00:00:00Z"),
            "2026-01-09T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 13 * FRI", "UTC", "2026-01-10T00:00:00Z"),
            "2026-01-13T00:00:00+00:00"
        );
        // A day-of-month step keeps AND semantics with a `*` weekday.
        assert_eq!(
            next("0 0 */10 * *", "UTC", "2026-01-02T00:00:00Z"),
            "2026-01-11T00:00:00+00:00"
        );
        assert_eq!(
            next("@daily", "UTC", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(
            next("@weekly", "UTC", "2026-01-01T00:00:00Z"),
            "2026-01-04T00:00:00+00:00"
        );
        assert_eq!(
            next("@hourly", "UTC", "2026-01-01T00:30:00Z"),
            "2026-01-01T01:00:00+00:00"
        );
        assert_eq!(
            next("@monthly", "UTC", "2026-01-01T00:30:00Z"),
            "2026-02-01T00:00:00+00:00"
        );
        assert_eq!(
            next("@yearly", "UTC", "2026-01-01T00:30:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        // Seconds are rounded up to the next minute.
        assert_eq!(
            next("* * * * *", "UTC", "2026-01-01T00:00:01Z"),
            "2026-01-01T00:01:00+00:00"
        );
    }

    #[test]
    fn errors_say_which_field_and_what_is_allowed() {
        let e = |s: &str| Cron::parse(s).unwrap_err();
        assert!(e("* * *").contains("has 3 field(s)"));
        assert!(e("60 * * * *").contains("minute 60 is out of range; allowed: 0-59"));
        assert!(e("* 24 * * *").contains("hour 24 is out of range"));
        assert!(e("* * 0 * *").contains("day of month 0"));
        assert!(e("* * * 13 *").contains("month 13"));
        assert!(e("* * * FOO *").contains("`FOO` is not a valid month; allowed: 1-12 or JAN-DEC"));
        assert!(e("* * * * MONDAY").contains("not a valid day of week"));
        assert!(e("*/0 * * * *").contains("step `0` in minute"));
        assert!(e("5-1 * * * *").contains("runs backwards"));
        assert!(e("1,,2 * * * *").contains("empty item"));
        assert!(e("0 0 30 2 *").contains("never runs"));
        assert!(e("@reboot").contains("unknown macro"));
    }

    #[test]
    fn spring_forward_runs_skipped_times_after_the_gap() {
        // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:00:00+00:00" // 03:00 CEST
        );
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z"),
            "2026-03-30T00:30:00+00:00" // 02:30 CEST the next day
        );
        assert_eq!(
            runs("*/30 * * * *", "Europe/Berlin", "2026-03-28T23:45:00Z", 4),
            ["03-29 00:00", "03-29 00:30", "03-29 01:00", "03-29 01:30"]
        );
        // Daily at midnight local keeps local midnight across the change.
        assert_eq!(
            runs("@daily", "Europe/Berlin", "2026-03-27T12:00:00Z", 3),
            ["03-27 23:00", "03-28 23:00", "03-29 22:00"]
        );
    }

    #[test]
    fn fall_back_runs_fixed_times_once_and_intervals_in_both_hours() {
        // Europe/Berlin repeats 02:00-03:00 on 2026-10-25 (00:00-02:00 UTC).
        assert_eq!(
            runs("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["10-25 00:30", "10-26 01:30"]
        );
        assert_eq!(
            runs("30 * * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", 4),
            ["10-24 23:30", "10-25 00:30", "10-25 01:30", "10-25 02:30"]
        );
    }

    #[test]
    fn other_zones() {
        assert_eq!(
            next("0 9 * * *", "America/New_York", "2026-01-01T00:00:00Z"),
            "2026-01-01T14:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z"),
            "2026-01-01T03:30:00+00:00"
        );
    }
}

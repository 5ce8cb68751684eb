//! `dango sync --since/--until/--backfill`: an ad-hoc window for the incrementals of one run.
//! It replaces their `initial_value`/`end_value` and never moves the saved cursors.

use anyhow::bail;
use chrono::{Months, NaiveDate};

use crate::incremental::Window;
use crate::sources::SourceEntry;

fn parse_date(flag: &str, s: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("{flag} `{s}` is not a date; use YYYY-MM-DD, e.g. {flag} 2024-01-31")
    })
}

/// `Nd`, `Nw` or `Nm` back from `today`.
fn parse_backfill(s: &str, today: NaiveDate) -> anyhow::Result<NaiveDate> {
    let bad = || {
        anyhow::anyhow!(
            "--backfill `{s}` is not a period; use a number of days, weeks or months: 7d, 2w, 3m"
        )
    };
    let s = s.trim();
    if s.len() < 2 {
        return Err(bad());
    }
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u32 = n.parse().map_err(|_| bad())?;
    if n == 0 {
        bail!("--backfill `{s}` must be at least 1 day, week or month");
    }
    let since = match unit {
        "d" => today.checked_sub_signed(chrono::Duration::days(n as i64)),
        "w" => today.checked_sub_signed(chrono::Duration::weeks(n as i64)),
        "m" => today.checked_sub_months(Months::new(n)),
        _ => return Err(bad()),
    };
    since.ok_or_else(bad)
}

/// The window of `--since/--until/--backfill` (none without those flags). Errors as Dango's:
/// `--backfill` conflicts with `--since`/`--until`, and `--since` must be before `--until`.
pub fn parse_window(
    since: Option<&str>,
    until: Option<&str>,
    backfill: Option<&str>,
    today: NaiveDate,
) -> anyhow::Result<Option<Window>> {
    if backfill.is_some() && (since.is_some() || until.is_some()) {
        bail!(
            "--backfill cannot be combined with --since/--until; use either --backfill 7d or --since YYYY-MM-DD [--until YYYY-MM-DD]"
        );
    }
    if let Some(b) = backfill {
        return Ok(Some(Window {
            since: Some(parse_backfill(b, today)?),
            until: None,
        }));
    }
    let since = since.map(|s| parse_date("--since", s)).transpose()?;
    let until = until.map(|s| parse_date("--until", s)).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        bail!("--since {s} must be before --until {u}");
    }
    if since.is_none() && until.is_none() {
        return Ok(None);
    }
    Ok(Some(Window { since, until }))
}

/// Why a window cannot apply to `entry`: file sources load new and changed files (tracked by
/// path, size, modification time), not rows past a date cursor.
fn no_cursor_reason(entry: &SourceEntry) -> Option<&'static str> {
    match entry.source_type.as_str() {
        "filesystem" | "csv" => Some(
            "it loads new and changed files, tracked by their path, size and modification time, not rows past a date cursor",
        ),
        "local_files"
            if entry
                .blocks
                .get("local_files")
                .is_none_or(|b| b.get("incremental").is_none()) =>
        {
            Some("it has no `incremental` cursor: it reloads its files")
        }
        _ => None,
    }
}

/// Checks a window against the sources of the run: a file source named on the command line is
/// an error (the window would be silently ignored); among all sources it is a warning.
pub fn check_sources(
    window: Option<&Window>,
    sources: &[&SourceEntry],
    named: bool,
) -> anyhow::Result<()> {
    if window.is_none() {
        return Ok(());
    }
    for s in sources {
        let Some(why) = no_cursor_reason(s) else {
            continue;
        };
        let msg = format!(
            "--since/--until/--backfill do not apply to source `{}` (type {}): {why}",
            s.name, s.source_type
        );
        if named {
            bail!(
                "{msg}. Run `dango sync {}` without them (`--full-refresh` loads every file again)",
                s.name
            );
        }
        eprintln!("warning: {msg}; it loads as without them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn windows_and_conflicts() {
        let today = d("2024-03-31");
        assert_eq!(parse_window(None, None, None, today).unwrap(), None);
        let w = parse_window(None, None, Some("7d"), today)
            .unwrap()
            .unwrap();
        assert_eq!(w.since, Some(d("2024-03-24")));
        let w = parse_window(None, None, Some("1m"), today)
            .unwrap()
            .unwrap();
        assert_eq!(w.since, Some(d("2024-02-29")));
        let w = parse_window(None, None, Some("2w"), today)
            .unwrap()
            .unwrap();
        assert_eq!(w.since, Some(d("2024-03-17")));
        let w = parse_window(Some("2024-01-01"), Some("2024-02-01"), None, today)
            .unwrap()
            .unwrap();
        assert_eq!(
            (w.since, w.until),
            (Some(d("2024-01-01")), Some(d("2024-02-01")))
        );
        assert!(parse_window(Some("2024-01-01"), None, Some("7d"), today).is_err());
        assert!(parse_window(Some("2024-02-01"), Some("2024-01-01"), None, today).is_err());
        assert!(parse_window(Some("01/02/2024"), None, None, today).is_err());
        assert!(parse_window(None, None, Some("7y"), today).is_err());
        assert!(parse_window(None, None, Some("0d"), today).is_err());
    }
}

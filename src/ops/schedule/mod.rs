//! Schedules: `.dango/schedules.yml` ([`file`]), its comment-keeping edits ([`edit`]), cron
//! expressions in a time zone ([`cron`]), and what `dango run-scheduler` decides: when each
//! schedule runs next, the one catch-up run after downtime (from the small record in
//! `.dango/state/scheduler.json`), and which sources a run may take (never two runs of one
//! source at once).

pub mod cron;
pub mod edit;
pub mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use file::{PRESETS, Schedule, ScheduleEntry, SchedulesFile};

use crate::{Error, Result};

/// Test-only: an RFC 3339 instant the scheduler's clock starts at (`dango schedule list` uses
/// it as "now"; `dango run-scheduler` runs from it at real speed). Tests set it to reach a
/// schedule's time within a second; it is not a user setting and is not documented.
pub const NOW_ENV: &str = "DANGO_SCHEDULER_NOW";

/// The scheduler's clock: real time, shifted when [`NOW_ENV`] is set.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset: chrono::Duration,
}

impl Clock {
    /// Real time, or the test clock of [`NOW_ENV`].
    pub fn from_env() -> Result<Clock> {
        let offset = match std::env::var(NOW_ENV) {
            Ok(v) => {
                let t = DateTime::parse_from_rfc3339(&v).map_err(|e| {
                    Error::Config(format!("{NOW_ENV}=`{v}` is not an RFC 3339 time: {e}"))
                })?;
                t.with_timezone(&Utc) - Utc::now()
            }
            Err(_) => chrono::Duration::zero(),
        };
        Ok(Clock { offset })
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// What the scheduler remembers of one schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// The cron expression the record is about (a changed schedule is not caught up).
    pub expr: String,
    /// Its time zone.
    pub timezone: String,
    /// Every run due at or before this instant was run, skipped, or deliberately not caught up.
    pub handled_until: DateTime<Utc>,
    /// When its last run started.
    #[serde(default)]
    pub last_started: Option<DateTime<Utc>>,
    /// When its last run finished.
    #[serde(default)]
    pub last_finished: Option<DateTime<Utc>>,
    /// How its last run ended (`success`, `failed`, `interrupted`, `skipped`).
    #[serde(default)]
    pub last_status: Option<String>,
}

/// `.dango/state/scheduler.json`: one [`RunRecord`] per enabled schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SchedulerState {
    /// Records by schedule name.
    pub schedules: BTreeMap<String, RunRecord>,
}

/// `.dango/state/scheduler.json`.
pub fn state_path(root: &Path) -> PathBuf {
    root.join(".dango").join("state").join("scheduler.json")
}

/// `.dango/state/scheduler.lock`: held by the running scheduler.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join(".dango").join("state").join("scheduler.lock")
}

impl SchedulerState {
    /// Reads the record; missing or unreadable is empty (an unreadable one is logged: the
    /// only loss is one catch-up run).
    pub fn load(root: &Path) -> SchedulerState {
        let p = state_path(root);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!("ignoring unreadable {}: {e}", p.display());
                SchedulerState::default()
            }),
            Err(_) => SchedulerState::default(),
        }
    }

    /// Writes the record atomically.
    pub fn save(&self, root: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        crate::storage::write_atomic(&state_path(root), &bytes)
    }

    /// The record of `s`, when it is about the same expression and time zone.
    pub fn current(&self, s: &Schedule) -> Option<&RunRecord> {
        self.schedules
            .get(&s.name)
            .filter(|r| r.expr == s.expr && r.timezone == s.timezone)
    }

    /// Marks every run of `s` due at or before `until` as handled.
    pub fn handled(&mut self, s: &Schedule, until: DateTime<Utc>) -> &mut RunRecord {
        let keep = self.current(s).cloned();
        let r = self
            .schedules
            .entry(s.name.clone())
            .or_insert_with(|| RunRecord {
                expr: s.expr.clone(),
                timezone: s.timezone.clone(),
                handled_until: until,
                last_started: None,
                last_finished: None,
                last_status: None,
            });
        if keep.is_none() {
            r.expr = s.expr.clone();
            r.timezone = s.timezone.clone();
            r.last_status = None;
        }
        r.handled_until = until;
        r
    }
}

/// The one missed run of `s` to catch up at `now`: the first run due after the record's
/// `handled_until`, if it is due by now. No record (first start, or the schedule changed): none.
pub fn missed_run(
    s: &Schedule,
    state: &SchedulerState,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let r = state.current(s)?;
    s.next_after(r.handled_until).filter(|d| *d <= now)
}

/// Sources being synced by the scheduler, with the schedule that runs each.
#[derive(Debug, Default)]
pub struct Busy {
    by_source: BTreeMap<String, String>,
}

impl Busy {
    /// Splits `sources` into the free ones and the busy ones (with the schedule running each).
    pub fn split(&self, sources: &[String]) -> (Vec<String>, Vec<(String, String)>) {
        let mut free = Vec::new();
        let mut busy = Vec::new();
        for s in sources {
            match self.by_source.get(s) {
                Some(by) => busy.push((s.clone(), by.clone())),
                None => free.push(s.clone()),
            }
        }
        (free, busy)
    }

    /// Marks `sources` as being synced by `schedule`.
    pub fn take(&mut self, sources: &[String], schedule: &str) {
        for s in sources {
            self.by_source.insert(s.clone(), schedule.to_string());
        }
    }

    /// Frees `sources`.
    pub fn release(&mut self, sources: &[String]) {
        for s in sources {
            self.by_source.remove(s);
        }
    }
}

/// The sources a run of `s` syncs, from the project's sources.yml: its named sources that are
/// declared and enabled, or every enabled source. The others come back with the reason.
pub fn sources_of(
    s: &Schedule,
    file: &crate::sources::SourcesFile,
) -> (Vec<String>, Vec<(String, String)>) {
    if s.sources.is_empty() {
        let all = file
            .sources
            .iter()
            .filter(|e| e.enabled)
            .map(|e| e.pipeline_name())
            .collect();
        return (all, Vec::new());
    }
    let mut run = Vec::new();
    let mut not = Vec::new();
    for name in &s.sources {
        match file.get(name) {
            Some(e) if e.enabled => run.push(e.pipeline_name()),
            Some(_) => not.push((name.clone(), "disabled in sources.yml".to_string())),
            None => not.push((name.clone(), "not declared in sources.yml".to_string())),
        }
    }
    (run, not)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(expr: &str) -> Schedule {
        ScheduleEntry {
            name: "s".into(),
            kind: "sync".into(),
            cron: Some(expr.into()),
            preset: None,
            sources: None,
            enabled: true,
            timezone: None,
            description: None,
        }
        .resolve()
        .unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn one_catch_up_after_downtime_and_none_on_first_start_or_change() {
        let s = sched("0 * * * *");
        let mut st = SchedulerState::default();
        let now = t("2026-01-01T10:30:00Z");
        assert_eq!(missed_run(&s, &st, now), None);
        st.handled(&s, t("2026-01-01T07:10:00Z"));
        // Three runs were missed (08:00, 09:00, 10:00): only the first is reported, once.
        assert_eq!(missed_run(&s, &st, now), Some(t("2026-01-01T08:00:00Z")));
        st.handled(&s, now);
        assert_eq!(missed_run(&s, &st, now), None);
        st.handled(&s, t("2026-01-01T10:00:00Z"));
        assert_eq!(missed_run(&s, &st, now), None);
        // A changed expression starts afresh.
        let s2 = sched("0 */2 * * *");
        st.handled(&s, t("2026-01-01T01:00:00Z"));
        assert_eq!(missed_run(&s2, &st, now), None);
    }

    #[test]
    fn busy_sources_are_not_run_twice() {
        let mut b = Busy::default();
        b.take(&["a".into()], "nightly");
        let (free, busy) = b.split(&["a".into(), "b".into()]);
        assert_eq!(free, ["b"]);
        assert_eq!(busy, [("a".to_string(), "nightly".to_string())]);
        b.release(&["a".into()]);
        assert_eq!(b.split(&["a".into()]).0, ["a"]);
    }
}

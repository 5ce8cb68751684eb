//! `.dango/schedules.yml` in Dango's format: reading, checking (which schedule, which field,
//! what is allowed) and resolving each schedule into a [`Schedule`].

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::cron::Cron;
use crate::sources::file::{Seg, locate};
use crate::{Error, Result};

/// Dango's presets and the cron expressions they stand for (in the schedule's time zone).
pub const PRESETS: [(&str, &str); 5] = [
    ("every_15m", "*/15 * * * *"),
    ("every_hour", "0 * * * *"),
    ("every_6h", "0 */6 * * *"),
    ("daily", "0 0 * * *"),
    ("weekly", "0 0 * * 0"),
];

/// The only schedule type: a sync of sources.
pub const TYPE_SYNC: &str = "sync";

/// The whole file, as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesFile {
    /// Optional file version (Dango writes none; `"1.0"` is accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<serde_norway::Value>,
    /// The schedules, in file order.
    #[serde(default)]
    pub schedules: Vec<ScheduleEntry>,
}

/// One schedule as written in the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Unique name (`[A-Za-z0-9_-]`).
    pub name: String,
    /// What the schedule runs: `sync` (the default).
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// A cron expression (five fields, or a macro such as `@daily`); or use `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// One of Dango's presets: every_15m, every_hour, every_6h, daily, weekly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Sources to sync; empty or absent: every enabled source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    /// Whether the scheduler runs it (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// IANA time zone the cron fields are read in (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn default_type() -> String {
    TYPE_SYNC.into()
}

const fn default_true() -> bool {
    true
}

/// A checked schedule, ready to compute its runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its name.
    pub name: String,
    /// `preset daily` or the cron text, for display.
    pub when: String,
    /// The cron expression it runs on.
    pub cron: Cron,
    /// The cron text (the preset's expression for a preset); changes of it reset catch-up.
    pub expr: String,
    /// Time zone name.
    pub timezone: String,
    /// Time zone.
    pub tz: Tz,
    /// Named sources (empty: every enabled source).
    pub sources: Vec<String>,
    /// Enabled.
    pub enabled: bool,
}

impl Schedule {
    /// The first run strictly after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron.next_after(after, &self.tz)
    }
}

/// `.dango/schedules.yml` of the project at `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(".dango").join("schedules.yml")
}

/// The cron expression of a preset name, or an error listing the presets.
pub fn preset_expr(name: &str) -> std::result::Result<&'static str, String> {
    PRESETS
        .iter()
        .find(|(p, _)| *p == name)
        .map(|(_, e)| *e)
        .ok_or_else(|| format!("preset `{name}` is not one of {}", preset_names()))
}

/// The preset names, comma-separated.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(p, _)| *p)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a time zone name, or says what is allowed.
pub fn parse_tz(name: &str) -> std::result::Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown time zone `{name}`; use an IANA name such as UTC, Europe/Berlin or America/New_York")
    })
}

/// Checks a schedule name.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "schedule name `{name}` is not allowed; use letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

impl ScheduleEntry {
    /// Resolves and checks this entry; the error names the field and what it allows.
    pub fn resolve(&self) -> std::result::Result<Schedule, (&'static str, String)> {
        check_name(&self.name).map_err(|e| ("name", e))?;
        if self.kind != TYPE_SYNC {
            return Err((
                "type",
                format!("type `{}` is not supported; allowed: sync", self.kind),
            ));
        }
        let (when, expr) = match (&self.cron, &self.preset) {
            (Some(_), Some(_)) => {
                return Err((
                    "cron",
                    "has both `cron` and `preset`; keep one of them".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "name",
                    format!(
                        "has neither `cron` nor `preset`; add `cron: \"0 6 * * *\"` or `preset:` one of {}",
                        preset_names()
                    ),
                ));
            }
            (Some(c), None) => (format!("cron {c}"), c.clone()),
            (None, Some(p)) => (
                format!("preset {p}"),
                preset_expr(p).map_err(|e| ("preset", e))?.to_string(),
            ),
        };
        let cron = Cron::parse(&expr).map_err(|e| ("cron", format!("cron `{expr}`: {e}")))?;
        let timezone = self.timezone.clone().unwrap_or_else(|| "UTC".into());
        let tz = parse_tz(&timezone).map_err(|e| ("timezone", e))?;
        let mut sources: Vec<String> = Vec::new();
        for s in self.sources.iter().flatten() {
            let s = s.trim().to_ascii_lowercase();
            if s.is_empty() {
                return Err(("sources", "has an empty source name".into()));
            }
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
        Ok(Schedule {
            name: self.name.clone(),
            when,
            cron,
            expr,
            timezone,
            tz,
            sources,
            enabled: self.enabled,
        })
    }
}

/// `dango validate` and `dango doctor`: the project's schedules file read and checked against
/// the declared `sources`. `Ok(None)` when there is no file, `Ok(Some(n))` with its number of
/// schedules, or every problem (a schedule naming a source that is not declared is one).
pub fn check_file(
    root: &Path,
    sources: &[&str],
) -> std::result::Result<Option<usize>, Vec<String>> {
    let (file, text) = SchedulesFile::load(root).map_err(|e| vec![e.to_string()])?;
    if text.is_none() {
        return Ok(None);
    }
    let resolved = file.resolved().map_err(|e| vec![e.to_string()])?;
    let problems: Vec<String> = resolved
        .iter()
        .flat_map(|s| {
            s.sources
                .iter()
                .filter(|n| !sources.contains(&n.as_str()))
                .map(move |n| {
                    format!(
                        "{}: schedule `{}` names source `{n}`, which .dango/sources.yml does not declare; declare it or remove it from the schedule (`dango schedule remove {}` and add it again)",
                        path(root).display(),
                        s.name,
                        s.name
                    )
                })
        })
        .collect();
    if problems.is_empty() {
        Ok(Some(resolved.len()))
    } else {
        Err(problems)
    }
}

impl SchedulesFile {
    /// Reads the project's file; a missing file is an empty one.
    pub fn load(root: &Path) -> Result<(SchedulesFile, Option<String>)> {
        let p = path(root);
        match std::fs::read_to_string(&p) {
            Ok(text) => Ok((SchedulesFile::parse(&text, &p)?, Some(text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((SchedulesFile::default(), None))
            }
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Parses and checks the text (`path` is for messages): every problem is listed.
    pub fn parse(text: &str, path: &Path) -> Result<SchedulesFile> {
        let file: SchedulesFile = if text.trim().is_empty() {
            SchedulesFile::default()
        } else {
            serde_norway::from_str(text).map_err(|e| {
                Error::Config(format!(
                    "{}: {e}. Fix it (see `dango schedule --help`); allowed keys of a schedule: name, type, cron, preset, sources, enabled, timezone, description",
                    path.display()
                ))
            })?
        };
        let mut problems: Vec<String> = Vec::new();
        if let Some(v) = &file.version {
            let ok = match v {
                serde_norway::Value::String(s) => s == "1.0",
                serde_norway::Value::Number(n) => n.as_f64() == Some(1.0),
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "{}: unsupported version; allowed: \"1.0\"",
                    path.display()
                ));
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, s) in file.schedules.iter().enumerate() {
            let at = |field: &str| {
                locate(
                    text,
                    &[Seg::Key("schedules"), Seg::Index(i), Seg::Key(field)],
                )
                .or_else(|| locate(text, &[Seg::Key("schedules"), Seg::Index(i)]))
                .map(|(l, c)| format!(" (line {l}, column {c})"))
                .unwrap_or_default()
            };
            if seen.contains(&s.name.as_str()) {
                problems.push(format!(
                    "{}{}: schedule `{}` is declared twice; names must be unique",
                    path.display(),
                    at("name"),
                    s.name
                ));
            }
            seen.push(&s.name);
            if let Err((field, msg)) = s.resolve() {
                problems.push(format!(
                    "{}{}: schedule `{}`, field `{field}`: {msg}",
                    path.display(),
                    at(field),
                    s.name
                ));
            }
        }
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(Error::Config(problems.join("\n  ")))
        }
    }

    /// Every schedule, resolved (the file was checked when read).
    pub fn resolved(&self) -> Result<Vec<Schedule>> {
        self.schedules
            .iter()
            .map(|s| {
                s.resolve().map_err(|(f, m)| {
                    Error::Config(format!("schedule `{}`, field `{f}`: {m}", s.name))
                })
            })
            .collect()
    }

    /// The schedule named `name`.
    pub fn get(&self, name: &str) -> Option<(usize, &ScheduleEntry)> {
        self.schedules
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// Names of the schedules, comma-separated, or `(none)`.
    pub fn names_or_none(&self) -> String {
        if self.schedules.is_empty() {
            return "(none)".into();
        }
        self.schedules
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

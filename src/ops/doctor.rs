//! `dango doctor`: per source, whether a sync can work right now, as data. Each check is
//! `ok`, `warn` (worth a look), `fail` (a sync would fail or something is stuck) or `skip`.

use serde::Serialize;

use crate::config::{Project, Provider, Settings};
use crate::destinations::{DestinationFactory, OpenMode};
use crate::sources::{BuildContext, SourceEntry};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth a look; not an error.
    Warn,
    /// Wrong: a sync would fail, or something is stuck.
    Fail,
    /// Not checked (and why is in the detail).
    Skip,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found (never a secret value).
    pub detail: String,
}

fn check(check: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: crate::config::redact::redact(&detail.into()),
    }
}

/// Project-wide checks: the lock holder and the destination.
pub fn project_checks(project: &Project, dest: &dyn DestinationFactory) -> Vec<Check> {
    let mut out = Vec::new();
    let lock = super::lock::ProjectLock::for_project(project.root(), std::time::Duration::ZERO);
    let holder = lock.current_holder();
    match &holder {
        Ok(None) => out.push(check("lock", Status::Ok, "free")),
        Ok(Some(h)) => out.push(check("lock", Status::Warn, format!("held by {h}"))),
        Err(e) => out.push(check("lock", Status::Fail, e.to_string())),
    }
    if !dest.exists() {
        out.push(check(
            "destination",
            Status::Ok,
            format!(
                "{} does not exist yet; the first sync creates it",
                dest.location()
            ),
        ));
    } else if matches!(holder, Ok(Some(_))) {
        out.push(check(
            "destination",
            Status::Skip,
            "in use by the lock holder",
        ));
    } else {
        let health = dest
            .open(OpenMode::ReadOnly)
            .and_then(|mut c| c.health_check());
        out.push(match health {
            Ok(()) => check(
                "destination",
                Status::Ok,
                format!("{} answers", dest.location()),
            ),
            Err(e) => check("destination", Status::Fail, e.to_string()),
        });
    }
    out
}

/// The project's schedules file (`.dango/schedules.yml`) read and checked against the declared
/// `sources`; `None` when the project has no schedules file.
pub fn schedules_check(root: &std::path::Path, sources: &[&str]) -> Option<Check> {
    match super::schedule::file::check_file(root, sources) {
        Ok(None) => None,
        Ok(Some(n)) => Some(check("schedules", Status::Ok, format!("{n} schedule(s)"))),
        Err(problems) => Some(check("schedules", Status::Fail, problems.join("; "))),
    }
}

/// The checks of one source.
pub fn source_checks(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    dest: &dyn DestinationFactory,
) -> Vec<Check> {
    let name = entry.pipeline_name();
    let mut out = Vec::new();
    let config_ok = config_check(project, settings, entry, &mut out);
    secrets_checks(settings, entry, &mut out);
    if config_ok {
        out.push(reachability(project, settings, entry));
    } else {
        out.push(check("reachable", Status::Skip, "the config has problems"));
    }
    let dir = crate::storage::PipelineDir::new(project.pipeline_dir(&name));
    let pending = super::packages::pending(&dir).unwrap_or_default();
    let pending_size: u64 = pending.iter().map(|p| p.size).sum();
    out.push(if pending.is_empty() {
        check("pending packages", Status::Ok, "none")
    } else {
        check(
            "pending packages",
            Status::Warn,
            format!(
                "{} ({}, {}); the next sync finishes them, or `dango pipeline {name} abort-packages` discards them",
                pending.iter().map(|p| format!("{} {}", p.load_id, p.state)).collect::<Vec<_>>().join(", "),
                super::disk::human(pending_size),
                pending.iter().map(|p| format!("{} row(s)", p.rows)).collect::<Vec<_>>().join(", ")
            ),
        )
    });
    out.push(disk_check(project, &dir, pending_size));
    out.push(drift_check(project.root(), &name));
    out.push(last_sync(entry, dest));
    out
}

fn config_check(
    project: &Project,
    settings: &Settings,
    entry: &SourceEntry,
    out: &mut Vec<Check>,
) -> bool {
    let mut problems: Vec<String> = entry
        .config_problems(settings)
        .iter()
        .map(|e| e.to_string())
        .collect();
    let mut summary = String::new();
    if problems.is_empty() {
        let planned = settings.runtime().and_then(|runtime| {
            let cx = BuildContext {
                settings,
                project_root: project.root(),
                runtime: &runtime,
            };
            entry
                .config(settings.env())?
                .plan(&entry.pipeline_name(), &cx)
        });
        match planned {
            Ok(plan) => summary = plan.summary,
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        out.push(check(
            "config",
            Status::Ok,
            format!("type {}: {summary}", entry.source_type),
        ));
        true
    } else {
        out.push(check("config", Status::Fail, problems.join("; ")));
        false
    }
}

/// Where each secret of the source is found: `*_env` variables, and keys of the source's
/// sections in secrets.toml and the environment (names only).
fn secrets_checks(settings: &Settings, entry: &SourceEntry, out: &mut Vec<Check>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    if let Some(block) = entry.block() {
        let mut vars = Vec::new();
        env_keys(&block, &mut vars);
        for (key, var) in vars {
            match settings.env().lookup(&var) {
                Some((_, origin)) => found.push(format!("`{key}` → {var} ({origin})")),
                None => missing.push(format!("`{key}` → {var} is not set")),
            }
        }
    }
    let sections = Settings::source_sections(&entry.source_type, &entry.pipeline_name());
    for file in settings.files(Provider::SecretsToml) {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        for s in sections.iter().filter(|s| s.len() >= 2) {
            let mut cur = Some(&doc);
            for part in s {
                cur = cur.and_then(|t| t.get(part)).and_then(|v| v.as_table());
            }
            for (k, v) in cur.into_iter().flatten() {
                if !v.is_table() {
                    found.push(format!("{}.{k} ({})", s.join("."), file.display()));
                }
            }
        }
    }
    let prefixes: Vec<String> = sections
        .iter()
        .filter(|s| s.len() >= 2)
        .map(|s| format!("{}__", s.join("__").to_ascii_uppercase()))
        .collect();
    for (var, _) in std::env::vars() {
        if prefixes.iter().any(|p| var.starts_with(p)) {
            found.push(format!("{var} (environment)"));
        }
    }
    let detail = |v: &[String]| v.join(", ");
    out.push(match (found.is_empty(), missing.is_empty()) {
        (_, false) => check(
            "secrets",
            Status::Fail,
            format!(
                "missing: {}; found: {}",
                detail(&missing),
                if found.is_empty() {
                    "none".into()
                } else {
                    detail(&found)
                }
            ),
        ),
        (true, true) => check("secrets", Status::Ok, "none configured for this source"),
        (false, true) => check("secrets", Status::Ok, format!("found: {}", detail(&found))),
    });
}

fn env_keys(v: &serde_norway::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_norway::Value::Mapping(m) => {
            for (k, v) in m {
                let key = k.as_str().unwrap_or_default();
                match v {
                    serde_norway::Value::String(var) if key.ends_with("_env") => {
                        out.push((key.to_string(), var.clone()))
                    }
                    v => env_keys(v, out),
                }
            }
        }
        serde_norway::Value::Sequence(a) => a.iter().for_each(|v| env_keys(v, out)),
        _ => {}
    }
}

/// Reachable with the configured credentials: the source is built and one item of each
/// resource is extracted and loaded into a throwaway warehouse in a temporary dir (so a
/// server answering 401 fails here), with a single attempt per request.
fn reachability(project: &Project, settings: &Settings, entry: &SourceEntry) -> Check {
    let name = entry.pipeline_name();
    let run = || -> crate::Result<String> {
        let mut runtime = settings.runtime()?;
        runtime.request_max_attempts = 1;
        runtime.request_timeout = runtime.request_timeout.min(15.0);
        let cx = BuildContext {
            settings,
            project_root: project.root(),
            runtime: &runtime,
        };
        let source = entry.config(settings.env())?.build(&name, &cx)?;
        let tmp = TempDir::new()?;
        let mut p = crate::pipeline::Pipeline::builder(&name)
            .dataset(entry.dataset_name())
            .duckdb(tmp.0.join("doctor.duckdb"))
            .working_dir(tmp.0.join("pipeline"))
            .limit(Some(1))
            .build()?;
        let info = p.run(source)?;
        Ok(format!(
            "read {} row(s) with the configured credentials (1 item per resource, into a throwaway warehouse)",
            info.row_counts().values().sum::<u64>()
        ))
    };
    match run() {
        Ok(d) => check("reachable", Status::Ok, d),
        Err(e) => check("reachable", Status::Fail, e.to_string()),
    }
}

/// A temporary dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> crate::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("dango-doctor-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|e| crate::Error::io(&p, e))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn disk_check(project: &Project, dir: &crate::storage::PipelineDir, pending: u64) -> Check {
    let last = dir
        .list("load/loaded")
        .ok()
        .and_then(|ids| ids.last().cloned())
        .map(|id| super::disk::dir_size(&dir.loaded(&id)))
        .unwrap_or(0);
    let need = last.max(pending).saturating_mul(2);
    let mut worst = Status::Ok;
    let mut parts = Vec::new();
    for (what, path) in [
        ("working dir", dir.root().to_path_buf()),
        ("warehouse", project.warehouse()),
    ] {
        match super::disk::free_space(&path) {
            Some(free) => {
                if free < need {
                    worst = Status::Fail;
                }
                parts.push(format!(
                    "{what} {}: {} free",
                    path.display(),
                    super::disk::human(free)
                ));
            }
            None => parts.push(format!("{what} {}: free space unknown", path.display())),
        }
    }
    let detail = format!(
        "{}; the last package took {}, a sync needs about {}",
        parts.join(", "),
        super::disk::human(last),
        super::disk::human(need)
    );
    check("disk", worst, detail)
}

fn last_sync(entry: &SourceEntry, dest: &dyn DestinationFactory) -> Check {
    if !dest.exists() {
        return check("last sync", Status::Skip, "never synced");
    }
    let rec = dest
        .open(OpenMode::ReadOnly)
        .and_then(|c| c.sync_history(&entry.dataset_name(), &entry.pipeline_name(), 1));
    match rec {
        Ok(v) => match v.first() {
            None => check("last sync", Status::Skip, "no history yet"),
            Some(r) => {
                let status = if r.status == "success" && r.anomaly.is_none() {
                    Status::Ok
                } else {
                    Status::Warn
                };
                let note = r
                    .anomaly
                    .clone()
                    .or_else(|| r.error.clone())
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default();
                check(
                    "last sync",
                    status,
                    format!(
                        "{} at {}, {} row(s) loaded{note}",
                        r.status, r.started_at, r.rows_loaded
                    ),
                )
            }
        },
        Err(e) => check(
            "last sync",
            Status::Skip,
            format!("cannot read the history: {e}"),
        ),
    }
}

/// `dango doctor`'s drift check of `source`.
fn drift_check(project_root: &std::path::Path, source: &str) -> Check {
    let (status, detail) = match super::drift::load(project_root, source) {
        Err(e) => (Status::Fail, e.to_string()),
        Ok(r) if r.baseline_load_id.is_none() => (
            Status::Ok,
            "no baseline yet; the next sync records one".to_string(),
        ),
        Ok(r) if r.needs_attention() => {
            let pending = r.pending();
            (
                Status::Fail,
                format!(
                    "needs attention: {} breaking change(s): {}. Review them with `dango governance drift-report {source}`, then run `dango governance accept {source}`",
                    pending.len(),
                    pending
                        .iter()
                        .map(|e| format!("{} (load {})", e.describe(), e.load_id))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )
        }
        Ok(r) => (
            Status::Ok,
            format!(
                "no breaking changes; baseline of {} table(s)",
                r.baseline.len()
            ),
        ),
    };
    Check {
        check: "schema drift",
        status,
        detail,
    }
}

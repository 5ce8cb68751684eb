//! Schema drift: after each load, the tables, columns and types a source delivered are
//! compared with its baseline.
//!
//! - `table_added`, `column_added`: recorded and accepted (the baseline takes them).
//! - `column_removed` (a baseline column that got no value in a load that had rows for its
//!   table) and `type_changed` (a variant column such as `price__v_text` appeared, or a
//!   column's type changed): recorded, and the source "needs attention" until
//!   [`accept`] makes them part of the baseline.
//!
//! Drift only observes: what loads is decided by the schema contract, if any. The baseline
//! and the events of a source are kept in `.dango/state/drift/<source>.json`, outside the
//! pipeline's working dir (a lost `.dlt/pipelines/<source>/` keeps them) and inside what
//! `dango backup` copies. The first load of a source (or the first after that file was lost)
//! sets the baseline without events.

pub mod observe;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use observe::{Observed, ObservedTable, observe_loaded};

use crate::config::Settings;
use crate::error::Result;
use crate::storage::{read_json, write_json};

/// Events kept per source; pending (not yet accepted) ones are never dropped.
const KEEP_EVENTS: usize = 500;

/// `[runtime]` settings of drift detection.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSettings {
    /// `schema_drift`: detect drift after each load (true).
    pub enabled: bool,
    /// `drift_removed_min_rows`: a column counts as removed only when the load had at least
    /// this many rows for its table (1).
    pub removed_min_rows: u64,
}

impl DriftSettings {
    /// Reads them from `[runtime]` (or `RUNTIME__SCHEMA_DRIFT`,
    /// `RUNTIME__DRIFT_REMOVED_MIN_ROWS`).
    pub fn load(settings: &Settings) -> Result<DriftSettings> {
        let r = &["runtime"];
        Ok(DriftSettings {
            enabled: settings
                .parse(r, "schema_drift", "true or false")?
                .unwrap_or(true),
            removed_min_rows: settings
                .parse::<u64>(r, "drift_removed_min_rows", "a whole number of rows")?
                .unwrap_or(1)
                .max(1),
        })
    }
}

/// One drift event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftEvent {
    /// `table_added`, `column_added`, `column_removed` or `type_changed`.
    pub kind: String,
    /// The load that showed it.
    pub load_id: String,
    /// When it was detected (RFC 3339, UTC).
    pub detected_at: String,
    /// Table.
    pub table: String,
    /// Column (none for `table_added`); for a variant, the column whose type changed.
    pub column: Option<String>,
    /// Type in the baseline.
    pub old_type: Option<String>,
    /// Type now.
    pub new_type: Option<String>,
    /// The variant column that appeared (`price__v_text`), for a `type_changed` by variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_column: Option<String>,
    /// Whether it needs attention (`column_removed`, `type_changed`).
    pub breaking: bool,
    /// Whether it is part of the baseline (additive events at once, breaking ones after
    /// `dango governance accept`).
    pub accepted: bool,
    /// When a breaking event was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
}

impl DriftEvent {
    /// "column_removed orders.price (bigint)", for messages.
    pub fn describe(&self) -> String {
        let what = match &self.column {
            Some(c) => format!("{}.{c}", self.table),
            None => self.table.clone(),
        };
        let types = match (&self.old_type, &self.new_type) {
            (Some(o), Some(n)) => format!(" ({o} -> {n})"),
            (Some(o), None) => format!(" (was {o})"),
            (None, Some(n)) => format!(" ({n})"),
            (None, None) => String::new(),
        };
        let variant = match &self.variant_column {
            Some(v) => format!(", variant column {v}"),
            None => String::new(),
        };
        format!("{} {what}{types}{variant}", self.kind)
    }

    fn same_as(&self, other: &DriftEvent) -> bool {
        self.kind == other.kind
            && self.table == other.table
            && self.column == other.column
            && self.new_type == other.new_type
            && self.variant_column == other.variant_column
    }
}

/// Receives one finding: kind, column, old type, new type, variant column.
type Emit<'a> =
    &'a mut dyn FnMut(&'static str, Option<String>, Option<String>, Option<String>, Option<String>);

/// The baseline: table → column → dlt data type.
pub type Baseline = BTreeMap<String, BTreeMap<String, String>>;

/// The drift record of one source (`.dango/state/drift/<source>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// Source (pipeline) name.
    pub source: String,
    /// The accepted shape.
    pub baseline: Baseline,
    /// The load that set the baseline first.
    pub baseline_load_id: Option<String>,
    /// When the baseline was last changed by `dango governance accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    /// Events, oldest first.
    pub events: Vec<DriftEvent>,
}

impl DriftRecord {
    /// Breaking events not accepted yet.
    pub fn pending(&self) -> Vec<&DriftEvent> {
        self.events
            .iter()
            .filter(|e| e.breaking && !e.accepted)
            .collect()
    }

    /// Whether the source needs attention.
    pub fn needs_attention(&self) -> bool {
        !self.pending().is_empty()
    }

    /// `needs_attention`, `ok`, or `no_baseline` (never loaded).
    pub fn status(&self) -> &'static str {
        if self.baseline_load_id.is_none() {
            "no_baseline"
        } else if self.needs_attention() {
            "needs_attention"
        } else {
            "ok"
        }
    }

    /// Compares one load with the baseline: records its events, puts additive ones into the
    /// baseline, and returns the new events.
    pub fn observe(&mut self, obs: &Observed, now: &str, s: &DriftSettings) -> Vec<DriftEvent> {
        if self.baseline_load_id.is_none() {
            self.baseline = obs
                .tables
                .iter()
                .map(|(t, o)| (t.clone(), shape_of(o)))
                .collect();
            self.baseline_load_id = Some(obs.load_id.clone());
            return Vec::new();
        }
        let mut found = Vec::new();
        for (t, o) in &obs.tables {
            self.compare_table(t, o, s, &mut |kind, column, old, new, variant| {
                found.push(DriftEvent {
                    kind: kind.into(),
                    load_id: obs.load_id.clone(),
                    detected_at: now.into(),
                    table: t.clone(),
                    column,
                    old_type: old,
                    new_type: new,
                    variant_column: variant,
                    breaking: matches!(kind, "column_removed" | "type_changed"),
                    accepted: !matches!(kind, "column_removed" | "type_changed"),
                    accepted_at: None,
                })
            });
        }
        let mut new = Vec::new();
        for e in found {
            if e.breaking && self.pending().iter().any(|p| p.same_as(&e)) {
                continue; // still pending from an earlier load
            }
            if !e.breaking {
                let cols = self.baseline.entry(e.table.clone()).or_default();
                if let (Some(c), Some(ty)) = (&e.column, &e.new_type) {
                    cols.insert(c.clone(), ty.clone());
                }
            }
            new.push(e.clone());
            self.events.push(e);
        }
        self.trim();
        new
    }

    fn compare_table(&self, t: &str, o: &ObservedTable, s: &DriftSettings, emit: Emit<'_>) {
        // A column the schema still has but this load did not deliver is not new (dlt never
        // drops columns: one accepted as removed stays in the schema).
        let delivered = |c: &str| o.delivered.as_ref().is_none_or(|d| d.contains(c));
        let Some(base) = self.baseline.get(t) else {
            emit("table_added", None, None, None, None);
            for (c, shape) in o.columns.iter().filter(|(c, _)| delivered(c)) {
                emit(
                    "column_added",
                    Some(c.clone()),
                    None,
                    Some(shape.data_type.clone()),
                    None,
                );
            }
            return;
        };
        for (c, shape) in &o.columns {
            match base.get(c) {
                Some(old) if *old != shape.data_type => emit(
                    "type_changed",
                    Some(c.clone()),
                    Some(old.clone()),
                    Some(shape.data_type.clone()),
                    None,
                ),
                Some(_) => {}
                None if !delivered(c) => {}
                None => match variant_base(c, shape, base) {
                    Some(b) => emit(
                        "type_changed",
                        Some(b.to_string()),
                        base.get(b).cloned(),
                        Some(shape.data_type.clone()),
                        Some(c.clone()),
                    ),
                    None => emit(
                        "column_added",
                        Some(c.clone()),
                        None,
                        Some(shape.data_type.clone()),
                        None,
                    ),
                },
            }
        }
        let Some(delivered) = &o.delivered else {
            return;
        };
        if o.rows < s.removed_min_rows {
            return;
        }
        for (c, old) in base {
            if observe::is_dlt_column(c) || is_variant_name(c, base) || delivered.contains(c) {
                continue;
            }
            emit(
                "column_removed",
                Some(c.clone()),
                Some(old.clone()),
                None,
                None,
            );
        }
    }

    /// Makes the pending breaking events part of the baseline; returns them.
    pub fn accept(&mut self, now: &str) -> Vec<DriftEvent> {
        let mut accepted = Vec::new();
        for e in self.events.iter_mut().filter(|e| e.breaking && !e.accepted) {
            let cols = self.baseline.entry(e.table.clone()).or_default();
            match (e.kind.as_str(), &e.column, &e.variant_column, &e.new_type) {
                ("column_removed", Some(c), _, _) => {
                    cols.remove(c);
                }
                ("type_changed", _, Some(v), Some(ty)) => {
                    cols.insert(v.clone(), ty.clone());
                }
                ("type_changed", Some(c), None, Some(ty)) => {
                    cols.insert(c.clone(), ty.clone());
                }
                _ => {}
            }
            e.accepted = true;
            e.accepted_at = Some(now.to_string());
            accepted.push(e.clone());
        }
        if !accepted.is_empty() {
            self.accepted_at = Some(now.to_string());
        }
        accepted
    }

    fn trim(&mut self) {
        while self.events.len() > KEEP_EVENTS {
            match self.events.iter().position(|e| !e.breaking || e.accepted) {
                Some(i) => {
                    self.events.remove(i);
                }
                None => break,
            }
        }
    }
}

/// The first baseline of a table: the columns the load delivered (all of the schema's when
/// it had no rows for the table or its job files could not be read).
fn shape_of(o: &ObservedTable) -> BTreeMap<String, String> {
    let known = o.delivered.as_ref().filter(|_| o.rows > 0);
    o.columns
        .iter()
        .filter(|(c, _)| known.is_none_or(|d| d.contains(*c)))
        .map(|(c, s)| (c.clone(), s.data_type.clone()))
        .collect()
}

/// The column a variant column belongs to: `price` for `price__v_text` when `price` is in
/// the baseline.
fn variant_base<'a>(
    name: &'a str,
    shape: &observe::ColumnShape,
    base: &BTreeMap<String, String>,
) -> Option<&'a str> {
    let (b, ty) = name.rsplit_once("__v_")?;
    (base.contains_key(b) && (shape.variant || ty == shape.data_type)).then_some(b)
}

fn is_variant_name(name: &str, base: &BTreeMap<String, String>) -> bool {
    name.rsplit_once("__v_")
        .is_some_and(|(b, _)| base.contains_key(b))
}

/// Where the drift record of `source` is kept.
pub fn record_path(project_root: &Path, source: &str) -> PathBuf {
    project_root
        .join(".dango")
        .join("state")
        .join("drift")
        .join(format!("{source}.json"))
}

/// The drift record of `source` (empty when there is none yet).
pub fn load(project_root: &Path, source: &str) -> Result<DriftRecord> {
    let path = record_path(project_root, source);
    if !path.is_file() {
        return Ok(DriftRecord {
            source: source.to_string(),
            ..Default::default()
        });
    }
    read_json(&path)
}

/// Saves the drift record of its source.
pub fn save(project_root: &Path, record: &DriftRecord) -> Result<()> {
    let path = record_path(project_root, &record.source);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    }
    write_json(&path, record)
}

/// Records the drift of the loaded packages `load_ids` (in load order) of `source`, whose
/// working dir is `dir`; returns the new events.
pub fn record_loads(
    project_root: &Path,
    source: &str,
    dir: &crate::storage::PipelineDir,
    load_ids: &[String],
    s: &DriftSettings,
) -> Result<Vec<DriftEvent>> {
    let mut rec = load(project_root, source)?;
    let now = chrono::Utc::now().to_rfc3339();
    let mut new = Vec::new();
    let mut seen = false;
    for id in load_ids {
        if let Some(obs) = observe_loaded(dir, id)? {
            new.extend(rec.observe(&obs, &now, s));
            seen = true;
        }
    }
    if seen {
        save(project_root, &rec)?;
    }
    Ok(new)
}

/// Accepts the pending events of `source`: its current schema becomes the baseline.
pub fn accept(project_root: &Path, source: &str) -> Result<Vec<DriftEvent>> {
    let mut rec = load(project_root, source)?;
    let accepted = rec.accept(&chrono::Utc::now().to_rfc3339());
    if !accepted.is_empty() {
        save(project_root, &rec)?;
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests;

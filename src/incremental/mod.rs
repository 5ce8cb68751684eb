//! Incremental loading with dlt's cursor semantics, for any resource (REST API, local files,
//! library resources).
//!
//! An [`IncrementalConfig`] is the `incremental:` block (dlt's `dlt.sources.incremental`
//! arguments). At extract time it is bound to the resource's stored cursor
//! (`state.sources.<source>.resources.<resource>.incremental.<cursor_path>`) by
//! [`Incremental::bind`]; [`Incremental::filter`] then decides item by item, as dlt's
//! `JsonIncremental` does:
//!
//! - rows before the start value (the stored `last_value`, else `initial_value`) are dropped;
//!   rows equal to it are dropped when `range_start: open`, or when their hash is in the stored
//!   `unique_hashes` (boundary dedup, by primary key or whole row);
//! - rows at or after `end_value` are dropped (`range_end: closed` keeps equal ones); an
//!   `end_value` makes the run stateless: the saved cursor never moves;
//! - `row_order` asc/desc asks the resource to stop paging once rows leave the range;
//! - cursor values compare by type ([`compare`]): numbers as numbers, timestamps as instants
//!   whatever their offset, never as text when both sides are typed.
//!
//! [`Incremental::state`] is the new state entry; the pipeline puts it in the load package, so
//! it becomes the saved state only when the package's data is committed.
//!
//! A resource declares its cursor as a [`ResourceCursor`]
//! ([`Resource::cursors`](crate::sources::Resource::cursors)); extract binds, filters and saves
//! it ([`crate::extract::cursors`]), so no source does that itself.

mod typed;

pub use typed::{compare, parse_instant, shift, untyped, window_value};

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::sources::rest_api::selector::Path;

/// The keys an `incremental:` block may have.
pub const INCREMENTAL_KEYS: &[&str] = &[
    "cursor_path",
    "initial_value",
    "end_value",
    "last_value_func",
    "start_param",
    "end_param",
    "on_cursor_value_missing",
    "range_start",
    "range_end",
    "row_order",
    "lag",
    "primary_key",
];

/// An `incremental:` block (dlt's `dlt.sources.incremental(...)` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct IncrementalConfig {
    /// JSONPath (or field name) of the cursor in each item.
    pub cursor_path: String,
    /// Start when there is no stored cursor.
    pub initial_value: Option<Value>,
    /// End of a stateless window (exclusive unless `range_end: closed`).
    pub end_value: Option<Value>,
    /// `max` (default) or `min`.
    pub last_value_func: String,
    /// rest_api's deprecated form: query parameter receiving the start value.
    pub start_param: Option<String>,
    /// rest_api's deprecated form: query parameter receiving the end value.
    pub end_param: Option<String>,
    /// `raise` (default), `include` or `exclude`.
    pub on_cursor_value_missing: String,
    /// `closed` (default) or `open`.
    pub range_start: String,
    /// `open` (default) or `closed`.
    pub range_end: String,
    /// `asc` or `desc`: stop paging once rows leave the range; `None`: read everything.
    pub row_order: Option<String>,
    /// Moves the start back: seconds for timestamps, days for dates, units for numbers.
    pub lag: Option<f64>,
    /// Dedup key; `None` = the resource's primary key (whole row if it has none); an empty
    /// list turns boundary dedup off.
    pub primary_key: Option<Vec<String>>,
}

impl IncrementalConfig {
    /// A config with dlt's defaults for `cursor_path`.
    pub fn new(cursor_path: impl Into<String>) -> IncrementalConfig {
        IncrementalConfig {
            cursor_path: cursor_path.into(),
            initial_value: None,
            end_value: None,
            last_value_func: "max".into(),
            start_param: None,
            end_param: None,
            on_cursor_value_missing: "raise".into(),
            range_start: "closed".into(),
            range_end: "open".into(),
            row_order: None,
            lag: None,
            primary_key: None,
        }
    }

    /// Sets `initial_value`.
    pub fn initial_value(mut self, v: Value) -> Self {
        self.initial_value = Some(v);
        self
    }

    /// Sets `end_value`.
    pub fn end_value(mut self, v: Value) -> Self {
        self.end_value = Some(v);
        self
    }

    /// Parses an `incremental:` block; `ctx` names it in errors (`sources.yml` path).
    pub fn parse(v: &Value, ctx: &str) -> Result<IncrementalConfig> {
        let err = |at: &str, msg: String| Error::Config(format!("{at}: {msg}"));
        let m = v.as_object().ok_or_else(|| {
            err(
                ctx,
                "must be a mapping with at least `cursor_path`".to_string(),
            )
        })?;
        for k in m.keys() {
            if !INCREMENTAL_KEYS.contains(&k.as_str()) {
                return Err(err(
                    ctx,
                    format!(
                        "unknown key `{k}`; allowed: {}",
                        INCREMENTAL_KEYS.join(", ")
                    ),
                ));
            }
        }
        let text = |k: &str| -> Result<Option<String>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(err(
                    &format!("{ctx}.{k}"),
                    format!("must be a string, got `{other}`"),
                )),
            }
        };
        let choice = |k: &str, default: &str, allowed: &[&str]| -> Result<String> {
            let s = text(k)?.unwrap_or_else(|| default.to_string());
            if allowed.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(err(
                    &format!("{ctx}.{k}"),
                    format!("`{s}` is not one of {}", allowed.join(", ")),
                ))
            }
        };
        let cursor_path =
            text("cursor_path")?.ok_or_else(|| err(ctx, "`cursor_path` is missing".into()))?;
        Path::parse(&cursor_path).map_err(|e| err(&format!("{ctx}.cursor_path"), e.to_string()))?;
        let initial_value = m.get("initial_value").filter(|v| !v.is_null()).cloned();
        let end_value = m.get("end_value").filter(|v| !v.is_null()).cloned();
        if end_value.is_some() && initial_value.is_none() {
            return Err(err(
                ctx,
                "`initial_value` is required when using `end_value`".into(),
            ));
        }
        let row_order = match text("row_order")? {
            None => None,
            Some(s) if s == "asc" || s == "desc" => Some(s),
            Some(s) => {
                return Err(err(
                    &format!("{ctx}.row_order"),
                    format!("`{s}` is not one of asc, desc"),
                ));
            }
        };
        let lag = match m.get("lag") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                return Err(err(
                    &format!("{ctx}.lag"),
                    format!("must be a number (seconds, days for dates), got `{other}`"),
                ));
            }
        };
        let primary_key = match m.get("primary_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| {
                        x.as_str().map(str::to_string).ok_or_else(|| {
                            err(
                                &format!("{ctx}.primary_key"),
                                "must be a column name or a list of names".into(),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => {
                return Err(err(
                    &format!("{ctx}.primary_key"),
                    "must be a column name or a list of names".into(),
                ));
            }
        };
        let cfg = IncrementalConfig {
            cursor_path,
            initial_value,
            end_value,
            last_value_func: choice("last_value_func", "max", &["max", "min"])?,
            start_param: text("start_param")?,
            end_param: text("end_param")?,
            on_cursor_value_missing: choice(
                "on_cursor_value_missing",
                "raise",
                &["raise", "include", "exclude"],
            )?,
            range_start: choice("range_start", "closed", &["closed", "open"])?,
            range_end: choice("range_end", "open", &["closed", "open"])?,
            row_order,
            lag,
            primary_key,
        };
        if let (Some(i), Some(e)) = (&cfg.initial_value, &cfg.end_value) {
            let o = compare(e, i).ok_or_else(|| {
                err(
                    ctx,
                    format!("cannot compare `initial_value` {i} with `end_value` {e}"),
                )
            })?;
            let wrong = if cfg.last_value_func == "min" {
                o == std::cmp::Ordering::Greater
            } else {
                o == std::cmp::Ordering::Less
            };
            if wrong {
                return Err(err(
                    ctx,
                    format!(
                        "`end_value` {e} must be {} than `initial_value` {i} for last_value_func `{}`",
                        if cfg.last_value_func == "min" {
                            "lower"
                        } else {
                            "higher"
                        },
                        cfg.last_value_func
                    ),
                ));
            }
        }
        Ok(cfg)
    }
}

/// A cursor a resource declares: extract binds it before the resource runs, filters the items
/// written for `resource`, and saves it when the resource finishes.
#[derive(Debug, Clone, Copy)]
pub struct ResourceCursor<'a> {
    /// The resource whose items it filters: the declaring resource itself, or a dependent
    /// resource it writes through [`ItemWriter::sibling`](crate::extract::ItemWriter::sibling).
    pub resource: &'a str,
    /// The `incremental:` config.
    pub config: &'a IncrementalConfig,
    /// That resource's primary key (the default key of boundary deduplication).
    pub primary_key: &'a [String],
}

impl<'a> ResourceCursor<'a> {
    /// The cursor a resource declares for its own items, if it has an `incremental:` config.
    pub fn own(
        hints: &'a crate::storage::ResourceHints,
        config: Option<&'a IncrementalConfig>,
    ) -> Vec<ResourceCursor<'a>> {
        config
            .map(|config| ResourceCursor {
                resource: &hints.name,
                config,
                primary_key: &hints.primary_key,
            })
            .into_iter()
            .collect()
    }
}

/// An ad-hoc window for one run (`dango sync --since/--until/--backfill`): replaces
/// `initial_value` / `end_value` of every incremental and never moves the saved cursors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    /// Start date (inclusive).
    pub since: Option<chrono::NaiveDate>,
    /// End date (exclusive).
    pub until: Option<chrono::NaiveDate>,
}

/// What to do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Load it.
    Keep,
    /// Drop it.
    Skip,
}

#[derive(Debug, Default)]
struct Progress {
    last_value: Option<Value>,
    hashes: Vec<String>,
    rows: u64,
}

/// An incremental bound to its stored cursor for one run.
#[derive(Debug)]
pub struct Incremental {
    /// The config.
    pub cfg: IncrementalConfig,
    cursor: Path,
    resource: String,
    /// Where this run starts (stored `last_value` with lag, else `initial_value`).
    pub start_value: Option<Value>,
    /// The initial value in effect (a window's start replaces the configured one).
    pub initial_value: Option<Value>,
    /// The end value in effect.
    pub end_value: Option<Value>,
    stateless: bool,
    dedup: bool,
    dedup_key: Option<Vec<String>>,
    start_hashes: BTreeSet<String>,
    progress: Mutex<Progress>,
    stop: AtomicBool,
    /// The kind of dlt's typed value the stored cursor had, kept when writing it back.
    typed_kind: Option<crate::pycompat::typed::TypedKind>,
    /// The `start_value` the stored entry holds, written back as it is when no row passes
    /// (dlt moves it only when rows pass, so a run that finds nothing leaves the state as
    /// it was).
    stored_start: Option<Value>,
    /// The stored `last_value` (else `initial_value`) at bind: dlt's next `start_value`.
    bound_last: Option<Value>,
}

impl Incremental {
    /// Binds `cfg` for `resource`: `stored` is the stored entry
    /// (`{initial_value, last_value, unique_hashes, start_value}`), `resource_pk` the
    /// resource's primary key hint, `window` an ad-hoc window of this run.
    pub fn bind(
        resource: &str,
        cfg: &IncrementalConfig,
        resource_pk: &[String],
        stored: Option<&Value>,
        window: Option<&Window>,
    ) -> Result<Incremental> {
        let cursor = Path::parse(&cfg.cursor_path)?;
        let mut initial_value = cfg.initial_value.clone();
        let mut end_value = cfg.end_value.clone();
        let mut stateless = end_value.is_some();
        if let Some(w) = window {
            let sample = cfg.initial_value.as_ref();
            if let Some(d) = w.since {
                initial_value = Some(window_value(d, sample));
            }
            if let Some(d) = w.until {
                end_value = Some(window_value(d, sample));
            }
            stateless = true;
        }
        let stored_last = if stateless {
            None
        } else {
            stored
                .and_then(|s| s.get("last_value"))
                .filter(|v| !v.is_null())
                .cloned()
        };
        // A cursor dlt stored typed (`"\u{f027}2024-…"`) is used as its plain value and
        // written back typed (see `state`).
        let typed_kind = stored_last
            .as_ref()
            .and_then(crate::pycompat::typed::decode)
            .map(|t| t.kind());
        let stored_last = stored_last.map(|v| untyped(&v).into_owned());
        let mut start_hashes = BTreeSet::new();
        if stored_last.is_some()
            && let Some(Value::Array(h)) = stored.and_then(|s| s.get("unique_hashes"))
        {
            start_hashes = h
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
        }
        let min = cfg.last_value_func == "min";
        let mut start_value = stored_last.clone().or_else(|| initial_value.clone());
        // The newest value seen so far; with lag it stays the stored (unlagged) value, so
        // re-reading the lag window never moves the cursor back.
        let seen_value = start_value.clone();
        let bound_last = seen_value.clone();
        let stored_start = stored
            .and_then(|s| s.get("start_value"))
            .filter(|v| !v.is_null())
            .map(|v| untyped(v).into_owned());
        let lag = cfg.lag.filter(|_| !stateless);
        if let (Some(lag), Some(sv)) = (lag, &start_value)
            && stored_last.is_some()
        {
            let mut lagged = shift(sv, if min { lag } else { -lag }).ok_or_else(|| {
                Error::Config(format!(
                    "resource `{resource}`: `lag` works with numbers, dates and timestamps; the cursor value {sv} is none of them"
                ))
            })?;
            // Never past initial_value.
            if let Some(init) = &initial_value {
                let before = match compare(&lagged, init) {
                    Some(o) if min => o == std::cmp::Ordering::Greater,
                    Some(o) => o == std::cmp::Ordering::Less,
                    None => false,
                };
                if before {
                    lagged = init.clone();
                }
            }
            start_value = Some(lagged);
        }
        let dedup_key = match &cfg.primary_key {
            Some(k) => Some(k.clone()),
            None if !resource_pk.is_empty() => Some(resource_pk.to_vec()),
            None => None,
        };
        let dedup = !stateless
            && cfg.range_start != "open"
            && lag.is_none()
            && dedup_key.as_ref().is_none_or(|k| !k.is_empty());
        let inc = Incremental {
            cfg: cfg.clone(),
            cursor,
            resource: resource.to_string(),
            progress: Mutex::new(Progress {
                last_value: seen_value,
                hashes: start_hashes.iter().cloned().collect(),
                rows: 0,
            }),
            start_value,
            initial_value,
            end_value,
            stateless,
            dedup,
            dedup_key,
            start_hashes,
            stop: AtomicBool::new(false),
            typed_kind,
            stored_start,
            bound_last,
        };
        Ok(inc)
    }

    /// Whether this run leaves the saved cursor alone (`end_value` or an ad-hoc window).
    pub fn is_stateless(&self) -> bool {
        self.stateless
    }

    /// The value of `{incremental.<name>}`.
    pub fn placeholder(&self, name: &str) -> Value {
        match name {
            "start_value" | "last_value" => self.start_value.clone().unwrap_or(Value::Null),
            "initial_value" => self.initial_value.clone().unwrap_or(Value::Null),
            "end_value" => self.end_value.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Whether rows can stop the paging (`row_order` is set): the next page is requested
    /// only after this one's rows were seen.
    pub fn stops_paging(&self) -> bool {
        self.cfg.row_order.is_some()
    }

    /// Whether the resource should stop paging (`row_order` and a row left the range).
    pub fn should_stop(&self) -> bool {
        self.stop.load(AtomicOrdering::SeqCst)
    }

    /// Orders `a` against `b` so that "later" (per `last_value_func`) is `Greater`.
    fn ord(&self, a: &Value, b: &Value) -> Result<std::cmp::Ordering> {
        let o = compare(a, b).ok_or_else(|| {
            Error::Config(format!(
                "resource `{}`: cannot compare cursor values `{a}` and `{b}` at `{}`: they must be all numbers, all timestamps/dates or all strings. Check `initial_value` and the data",
                self.resource, self.cfg.cursor_path
            ))
        })?;
        Ok(if self.cfg.last_value_func == "min" {
            o.reverse()
        } else {
            o
        })
    }

    fn unique_hash(&self, row: &Value) -> Result<String> {
        let value = match &self.dedup_key {
            None => row.clone(),
            Some(cols) => {
                let mut vals = Vec::with_capacity(cols.len());
                for c in cols {
                    vals.push(row.get(c).cloned().ok_or_else(|| {
                        Error::Config(format!(
                            "resource `{}`: primary key column `{c}` used for incremental deduplication is missing in an item. Set `primary_key` in `incremental` (an empty list turns deduplication off)",
                            self.resource
                        ))
                    })?);
                }
                if vals.len() == 1 {
                    vals.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(vals)
                }
            }
        };
        Ok(digest_dedup_value(&value))
    }

    /// Decides whether `item` is loaded, and tracks the new cursor value.
    pub fn filter(&self, item: &Value) -> Result<Decision> {
        use std::cmp::Ordering::*;
        let v = match self.cursor.first(item) {
            Some(v) if !v.is_null() => v,
            found => {
                return match self.cfg.on_cursor_value_missing.as_str() {
                    "include" => Ok(Decision::Keep),
                    "exclude" => Ok(Decision::Skip),
                    _ => Err(Error::Config(format!(
                        "resource `{}`: Cursor element with JSON path `{}` {} in extracted data item. Set `on_cursor_value_missing: include` (or `exclude`) in `incremental` to load (or skip) such items",
                        self.resource,
                        self.cfg.cursor_path,
                        if found.is_some() {
                            "has value `None`"
                        } else {
                            "was not found"
                        }
                    ))),
                };
            }
        };
        if let Some(end) = &self.end_value {
            let o = self.ord(v, end)?;
            if o == Greater || (o == Equal && self.cfg.range_end == "open") {
                if self.cfg.row_order.as_deref() == Some("asc") {
                    self.stop.store(true, AtomicOrdering::SeqCst);
                }
                return Ok(Decision::Skip);
            }
        }
        let out_of_start = || {
            if self.cfg.row_order.as_deref() == Some("desc") {
                self.stop.store(true, AtomicOrdering::SeqCst);
            }
            Ok(Decision::Skip)
        };
        let mut p = self
            .progress
            .lock()
            .map_err(|_| Error::Internal("incremental lock poisoned".into()))?;
        let newer = match &p.last_value {
            None => true,
            Some(last) => self.ord(v, last)? == Greater,
        };
        if newer {
            p.last_value = Some(v.clone());
            p.hashes.clear();
            if self.dedup {
                p.hashes.push(self.unique_hash(item)?);
            }
            p.rows += 1;
            return Ok(Decision::Keep);
        }
        if let Some(start) = &self.start_value {
            match self.ord(v, start)? {
                Less => return out_of_start(),
                Equal if self.cfg.range_start == "open" => return out_of_start(),
                Equal if self.dedup => {
                    let h = self.unique_hash(item)?;
                    if self.start_hashes.contains(&h) {
                        return out_of_start();
                    }
                }
                _ => {}
            }
        }
        if self.dedup
            && let Some(last) = p.last_value.clone()
            && self.ord(v, &last)? == Equal
        {
            let h = self.unique_hash(item)?;
            if !p.hashes.contains(&h) {
                p.hashes.push(h);
            }
        }
        p.rows += 1;
        Ok(Decision::Keep)
    }

    /// Decides a batch of rows, in order, as [`Incremental::filter`] would one by one.
    /// `cursor[i]` is row `i`'s cursor value (`Null` when it has none) and `item(i)` builds
    /// its whole item. Only rows that can change a decision or the tracked state go through
    /// `filter` with their item: rows without a cursor value, at or past the start or end
    /// value, or at the batch's newest value. Every other row is kept, which is what
    /// `filter` decides for it, and it leaves no trace in the state (a newer row of the
    /// same batch replaces whatever it would have tracked), so the item and its hash are
    /// never built.
    pub fn filter_batch(
        &self,
        cursor: &[Value],
        item: &mut dyn FnMut(usize) -> Value,
    ) -> Result<Vec<Decision>> {
        use std::cmp::Ordering::*;
        // The newest value among the rows `filter` does not drop for the end value.
        let mut newest: Option<&Value> = None;
        for v in cursor.iter().filter(|v| !v.is_null()) {
            let before_end = match &self.end_value {
                Some(e) => match self.ord(v, e)? {
                    Less => true,
                    Equal => self.cfg.range_end != "open",
                    Greater => false,
                },
                None => true,
            };
            if before_end && newest.is_none_or(|n| self.ord(v, n).is_ok_and(|o| o == Greater)) {
                newest = Some(v);
            }
        }
        let mut out = Vec::with_capacity(cursor.len());
        let mut plain_rows = 0u64;
        for (i, v) in cursor.iter().enumerate() {
            let plain = match newest {
                Some(n) if !v.is_null() => {
                    self.ord(v, n)? == Less
                        && match &self.start_value {
                            Some(s) => self.ord(v, s)? == Greater,
                            None => true,
                        }
                        && match &self.end_value {
                            Some(e) => self.ord(v, e)? == Less,
                            None => true,
                        }
                }
                _ => false,
            };
            if plain {
                plain_rows += 1;
                out.push(Decision::Keep);
            } else {
                out.push(self.filter(&item(i))?);
            }
        }
        self.progress
            .lock()
            .map_err(|_| Error::Internal("incremental lock poisoned".into()))?
            .rows += plain_rows;
        Ok(out)
    }

    /// The newest cursor value of this run (the start value if nothing newer was seen).
    pub fn last_value(&self) -> Option<Value> {
        self.progress.lock().ok().and_then(|p| p.last_value.clone())
    }

    /// The state entry after this run (dlt's `{initial_value, last_value, unique_hashes,
    /// start_value}`), or `None` for a stateless run.
    pub fn state(&self) -> Option<Value> {
        if self.stateless {
            return None;
        }
        let p = self.progress.lock().ok()?;
        let keep_typed = |v: Option<Value>| -> Value {
            let v = v.unwrap_or(Value::Null);
            match self.typed_kind {
                Some(kind) => crate::pycompat::typed::TypedValue::coerce(&v, kind)
                    .map(|t| t.to_json())
                    .unwrap_or(v),
                None => v,
            }
        };
        Some(json!({
            "initial_value": keep_typed(self.cfg.initial_value.clone()),
            "last_value": keep_typed(p.last_value.clone()),
            "unique_hashes": p.hashes,
            "start_value": keep_typed(if p.rows > 0 || self.stored_start.is_none() {
                self.bound_last.clone()
            } else {
                self.stored_start.clone()
            }),
        }))
    }

    /// Reads the stored entry of `cursor_path` from a resource state slot.
    pub fn stored_entry<'a>(
        resource_state: &'a Map<String, Value>,
        cursor_path: &str,
    ) -> Option<&'a Value> {
        resource_state.get("incremental")?.get(cursor_path)
    }
}

/// dlt's `digest_dedup_value`: base64 of the 9-byte shake-128 digest of the sorted compact
/// JSON of `value` (12 characters).
pub fn digest_dedup_value(value: &Value) -> String {
    use base64::Engine;
    let text = crate::pycompat::json::dumps_sorted(value);
    let mut out = [0u8; 9];
    crate::pycompat::hash::shake128(text.as_bytes(), &mut out);
    base64::engine::general_purpose::STANDARD.encode(out)
}

#[cfg(test)]
mod tests;

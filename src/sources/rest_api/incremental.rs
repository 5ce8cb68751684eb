//! Incremental parameters: the start value (a stored cursor or `initial_value`), the
//! `{incremental.*}` placeholder values, the range filter on items and the new cursor value.
//!
//! Storing cursors in the pipeline state is not done here (it belongs to the state issue):
//! [`CursorStore`] is the hook that reads them, and [`Incremental::last_value`] is the value a
//! successful load would store.

use std::cmp::Ordering;
use std::sync::Mutex;

use serde_json::Value;

use super::config::IncrementalConfig;
use super::selector::Path;
use crate::error::{Error, Result};

/// Reads stored cursor values (`state.sources.<source>.resources.<res>.incremental.<path>`).
pub trait CursorStore: Send + Sync {
    /// The stored `last_value` of `resource`'s cursor at `cursor_path`, if any.
    fn last_value(&self, resource: &str, cursor_path: &str) -> Option<Value>;
}

/// Reads cursors from the pipeline's local `state.json` (dlt's state layout).
pub struct StateFileCursors {
    source: String,
    doc: Option<Value>,
}

impl StateFileCursors {
    /// Cursors of `source` in `<pipeline_dir>/state.json` (none if the file is missing or unreadable).
    pub fn new(pipeline_dir: &std::path::Path, source: &str) -> StateFileCursors {
        let doc = std::fs::read(pipeline_dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        StateFileCursors {
            source: source.to_string(),
            doc,
        }
    }
}

impl CursorStore for StateFileCursors {
    fn last_value(&self, resource: &str, cursor_path: &str) -> Option<Value> {
        self.doc
            .as_ref()?
            .get("sources")?
            .get(&self.source)?
            .get("resources")?
            .get(resource)?
            .get("incremental")?
            .get(cursor_path)?
            .get("last_value")
            .filter(|v| !v.is_null())
            .cloned()
    }
}

/// The incremental of one endpoint during a run.
#[derive(Debug)]
pub struct Incremental {
    /// Config.
    pub cfg: IncrementalConfig,
    cursor: Path,
    /// Where this run starts.
    pub start_value: Option<Value>,
    last: Mutex<Option<Value>>,
    resource: String,
}

/// Orders two cursor values: numbers numerically, RFC 3339 timestamps by instant, other
/// strings as text.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            match (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                (Ok(dx), Ok(dy)) => Some(dx.cmp(&dy)),
                _ => Some(x.cmp(y)),
            }
        }
        _ => None,
    }
}

impl Incremental {
    /// The incremental of `resource`; a stored cursor wins over `initial_value` unless
    /// `end_value` makes the run stateless.
    pub fn new(
        resource: &str,
        cfg: &IncrementalConfig,
        store: &dyn CursorStore,
    ) -> Result<Incremental> {
        let cursor = Path::parse(&cfg.cursor_path)?;
        let stored = if cfg.end_value.is_some() {
            None
        } else {
            store.last_value(resource, &cfg.cursor_path)
        };
        let start_value = stored.or_else(|| cfg.initial_value.clone());
        Ok(Incremental {
            cfg: cfg.clone(),
            cursor,
            start_value,
            last: Mutex::new(None),
            resource: resource.to_string(),
        })
    }

    /// The value of `{incremental.<name>}`.
    pub fn placeholder(&self, name: &str) -> Value {
        match name {
            "start_value" | "last_value" => self.start_value.clone().unwrap_or(Value::Null),
            "initial_value" => self.cfg.initial_value.clone().unwrap_or(Value::Null),
            "end_value" => self.cfg.end_value.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn ord(&self, a: &Value, b: &Value) -> Result<Ordering> {
        let o = compare(a, b).ok_or_else(|| {
            Error::Config(format!(
                "resource `{}`: cannot compare cursor values `{a}` and `{b}` at `{}`; cursor values must all be numbers or all strings",
                self.resource, self.cfg.cursor_path
            ))
        })?;
        // For `min` the order is reversed: "later" means smaller.
        Ok(if self.cfg.last_value_func == "min" {
            o.reverse()
        } else {
            o
        })
    }

    /// Whether `item` is in range; remembers the newest cursor value of kept items.
    pub fn keep(&self, item: &Value) -> Result<bool> {
        let v = match self.cursor.first(item) {
            Some(v) if !v.is_null() => v,
            found => {
                return match self.cfg.on_cursor_value_missing.as_str() {
                    "include" => Ok(true),
                    "exclude" => Ok(false),
                    _ => Err(Error::Config(format!(
                        "resource `{}`: Cursor element with JSON path `{}` was not found in extracted data item{}. Set `on_cursor_value_missing: include` (or exclude) in `incremental` to load such items anyway",
                        self.resource,
                        self.cfg.cursor_path,
                        if found.is_some() { " (it is null)" } else { "" }
                    ))),
                };
            }
        };
        if let Some(start) = &self.start_value {
            match self.ord(v, start)? {
                Ordering::Less => return Ok(false),
                Ordering::Equal if self.cfg.range_start == "open" => return Ok(false),
                _ => {}
            }
        }
        if let Some(end) = &self.cfg.end_value {
            match self.ord(v, end)? {
                Ordering::Greater => return Ok(false),
                Ordering::Equal if self.cfg.range_end == "open" => return Ok(false),
                _ => {}
            }
        }
        let mut last = self
            .last
            .lock()
            .map_err(|_| Error::Internal("cursor lock poisoned".into()))?;
        let newer = match last.as_ref() {
            None => true,
            Some(l) => self.ord(v, l)? == Ordering::Greater,
        };
        if newer {
            *last = Some(v.clone());
        }
        Ok(true)
    }

    /// The cursor value after this run: the newest value seen, else the start value.
    pub fn last_value(&self) -> Option<Value> {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .or_else(|| self.start_value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoState;
    impl CursorStore for NoState {
        fn last_value(&self, _: &str, _: &str) -> Option<Value> {
            None
        }
    }

    fn cfg(v: Value) -> IncrementalConfig {
        IncrementalConfig {
            cursor_path: "updated_at".into(),
            initial_value: Some(json!("2024-01-02T00:00:00Z")),
            end_value: v.get("end").cloned(),
            last_value_func: "max".into(),
            start_param: None,
            end_param: None,
            on_cursor_value_missing: "raise".into(),
            range_start: "closed".into(),
            range_end: "open".into(),
        }
    }

    #[test]
    fn filters_range_and_tracks_max() {
        let inc =
            Incremental::new("r", &cfg(json!({"end": "2024-01-05T00:00:00Z"})), &NoState).unwrap();
        let keep = |t: &str| inc.keep(&json!({"updated_at": t})).unwrap();
        assert!(!keep("2024-01-01T00:00:00Z"));
        assert!(keep("2024-01-02T00:00:00Z"));
        assert!(keep("2024-01-04T00:00:00+00:00"));
        assert!(!keep("2024-01-05T00:00:00Z"));
        assert_eq!(inc.last_value(), Some(json!("2024-01-04T00:00:00+00:00")));
        assert!(inc.keep(&json!({"x": 1})).is_err());
        assert_eq!(
            inc.placeholder("start_value"),
            json!("2024-01-02T00:00:00Z")
        );
    }
}

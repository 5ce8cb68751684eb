//! The state of one source during a run: dlt's `sources.<source>` document, shared by the
//! source's resources while they extract (`source_state()` / `resource_state()` in dlt).
//!
//! The pipeline hands a [`SourceState`] to the extract through the package writer; resources
//! read their stored cursors and custom values from it and write their new ones into it. Only
//! when every resource succeeded does the pipeline put it into the load package, so the state
//! is saved with the package's data or not at all.
//!
//! Custom code keeps its own values next to the cursors:
//!
//! ```
//! use dango::state::SourceState;
//! let state = SourceState::default();
//! // per resource: sources.<source>.resources.<resource>.<key>
//! state.with_resource("users", |slot| {
//!     let pages = slot.get("pages_read").and_then(|v| v.as_i64()).unwrap_or(0);
//!     slot.insert("pages_read".into(), (pages + 3).into());
//! });
//! // per source: sources.<source>.<key>
//! state.with_source(|slot| {
//!     slot.insert("etag".into(), "abc".into());
//! });
//! assert_eq!(state.resource("users")["pages_read"], 3);
//! assert_eq!(state.doc()["etag"], "abc");
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::incremental::Window;

/// The shared `sources.<source>` state document of one run.
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    doc: Arc<Mutex<Map<String, Value>>>,
    window: Option<Window>,
    /// Whether an incremental of this run took the window.
    window_used: Arc<AtomicBool>,
}

impl SourceState {
    /// A state over `doc` (`sources.<source>` of the pipeline state), with an optional ad-hoc
    /// window for the incrementals of this run.
    pub fn new(doc: Map<String, Value>, window: Option<Window>) -> SourceState {
        SourceState {
            doc: Arc::new(Mutex::new(doc)),
            window,
            window_used: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the window was given to at least one incremental of this run.
    pub fn window_used(&self) -> bool {
        self.window_used.load(Ordering::Relaxed)
    }

    /// Records that an incremental of this run took the window (for sources whose cursors
    /// are bound outside dango, such as `dlt_native`'s, where dlt binds them).
    pub fn mark_window_used(&self) {
        self.window_used.store(true, Ordering::Relaxed);
    }

    /// The ad-hoc window of this run (`--since/--until/--backfill`), if any.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
        self.doc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the whole source document.
    pub fn doc(&self) -> Map<String, Value> {
        self.lock().clone()
    }

    /// A copy of the state slot of `resource` (`resources.<resource>`); empty if none.
    pub fn resource(&self, resource: &str) -> Map<String, Value> {
        self.lock()
            .get("resources")
            .and_then(|r| r.get(resource))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `f` on the source slot (`sources.<source>`).
    pub fn with_source<R>(&self, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        f(&mut self.lock())
    }

    /// Runs `f` on the slot of `resource` (`sources.<source>.resources.<resource>`), creating
    /// it if needed.
    pub fn with_resource<R>(
        &self,
        resource: &str,
        f: impl FnOnce(&mut Map<String, Value>) -> R,
    ) -> R {
        let mut doc = self.lock();
        let resources = doc
            .entry("resources")
            .or_insert_with(|| Value::Object(Map::new()));
        if !resources.is_object() {
            *resources = Value::Object(Map::new());
        }
        let Value::Object(resources) = resources else {
            unreachable!("made an object above")
        };
        let slot = resources
            .entry(resource)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(slot) = slot else {
            unreachable!("made an object above")
        };
        f(slot)
    }

    /// The stored entry of `resource`'s cursor at `cursor_path`.
    pub fn cursor(&self, resource: &str, cursor_path: &str) -> Option<Value> {
        self.resource(resource)
            .get("incremental")
            .and_then(|i| i.get(cursor_path))
            .cloned()
    }

    /// Stores the entry of `resource`'s cursor at `cursor_path`.
    pub fn set_cursor(&self, resource: &str, cursor_path: &str, entry: Value) {
        self.with_resource(resource, |slot| {
            let inc = slot
                .entry("incremental")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = inc {
                m.insert(cursor_path.to_string(), entry);
            }
        });
    }

    /// Binds `cfg` for `resource` against this state (stored cursor and window).
    pub fn bind(
        &self,
        resource: &str,
        cfg: &crate::incremental::IncrementalConfig,
        resource_pk: &[String],
    ) -> crate::Result<crate::incremental::Incremental> {
        let stored = self.cursor(resource, &cfg.cursor_path);
        if self.window.is_some() {
            self.window_used.store(true, Ordering::Relaxed);
        }
        crate::incremental::Incremental::bind(
            resource,
            cfg,
            resource_pk,
            stored.as_ref(),
            self.window(),
        )
    }

    /// Saves the new state of a bound incremental (nothing for a stateless run).
    pub fn save(&self, resource: &str, inc: &crate::incremental::Incremental) {
        if let Some(entry) = inc.state() {
            self.set_cursor(resource, &inc.cfg.cursor_path, entry);
        }
    }
}

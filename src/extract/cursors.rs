//! The incremental lifecycle, done once for every resource: extract binds the cursors a
//! resource declares ([`Resource::cursors`](crate::sources::Resource::cursors)) to the stored
//! state before the resource runs, the [`ItemWriter`](super::ItemWriter) filters the items
//! written for each of them, and the new cursors are saved into the run's state when the
//! resource finishes without error (the pipeline then commits them with the package's data).
//!
//! Sources get dlt's cursor semantics ([`crate::incremental`]) by declaring a cursor; they
//! never bind, filter or save themselves. A resource that needs the bound values (REST's
//! `{incremental.start_value}` placeholders) reads them from its writer
//! ([`ItemWriter::cursor`](super::ItemWriter::cursor)).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::ItemWriter;
use crate::error::{Error, Result};
use crate::incremental::{Decision, Incremental, ResourceCursor};
use crate::state::SourceState;

/// The cursors of one resource run, bound to the stored state.
#[derive(Debug, Default)]
pub struct BoundCursors {
    /// By resource name, in declaration order (the order they are saved in).
    bound: Vec<(String, Arc<Incremental>)>,
}

impl BoundCursors {
    /// Binds every declared cursor to its stored entry (and the run's ad-hoc window).
    pub fn bind(state: &SourceState, declared: &[ResourceCursor<'_>]) -> Result<BoundCursors> {
        let mut bound = Vec::with_capacity(declared.len());
        for d in declared {
            let inc = state.bind(d.resource, d.config, d.primary_key)?;
            bound.push((d.resource.to_string(), Arc::new(inc)));
        }
        Ok(BoundCursors { bound })
    }

    /// The bound cursor of `resource`, if it declared one.
    pub fn get(&self, resource: &str) -> Option<&Arc<Incremental>> {
        self.bound
            .iter()
            .find(|(name, _)| name == resource)
            .map(|(_, inc)| inc)
    }

    /// Whether no cursor was declared.
    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }

    /// Saves the new cursors into the run's state (nothing for a stateless run: an
    /// `end_value` or an ad-hoc window).
    pub fn save(&self, state: &SourceState) {
        for (resource, inc) in &self.bound {
            state.save(resource, inc);
            if let Some(v) = inc.last_value() {
                tracing::info!(
                    "resource `{resource}`: incremental cursor `{}` reached {v}",
                    inc.cfg.cursor_path
                );
            }
        }
    }
}

impl ItemWriter<'_> {
    /// This writer with the cursors of its resource run (and its siblings' from it).
    pub(super) fn with_cursors(mut self, cursors: Arc<BoundCursors>) -> Self {
        self.incremental = cursors.get(&self.resource).cloned();
        self.cursors = cursors;
        self
    }

    /// The cursor bound for `resource` in this run: this writer's resource or a dependent
    /// one. Its values render placeholders such as REST's `{incremental.start_value}`.
    pub fn cursor(&self, resource: &str) -> Option<Arc<Incremental>> {
        self.cursors.get(resource).cloned()
    }

    /// The cursor of this writer's resource, if it declared one.
    pub fn incremental(&self) -> Option<&Incremental> {
        self.incremental.as_deref()
    }

    /// Whether the resource should stop reading: its cursor has `row_order` and a row left
    /// the range. Checked between pages (or lines) by the resource.
    pub fn should_stop(&self) -> bool {
        self.incremental.as_ref().is_some_and(|i| i.should_stop())
    }

    /// Whether `item` is to be written: [`Decision::Skip`] when the writer is full (the
    /// cursor only sees what is written) or the item is outside the cursor's range, else
    /// [`Decision::Keep`]; tracks the cursor's new value. [`ItemWriter::write_item`] does
    /// this itself; call it when an item must be judged before it is written
    /// ([`ItemWriter::write_filtered`]), for example because it decides what else is fetched.
    pub fn filter(&self, item: &Value) -> Result<Decision> {
        if self.is_full() {
            return Ok(Decision::Skip);
        }
        match &self.incremental {
            None => Ok(Decision::Keep),
            Some(inc) => inc.filter(item),
        }
    }

    /// Whether a raw item (the JSON text of an object) passes the cursor.
    pub(super) fn filter_raw(&self, json_object: &str) -> Result<Decision> {
        match &self.incremental {
            None => Ok(Decision::Keep),
            Some(inc) => {
                let item: Value = serde_json::from_str(json_object)
                    .map_err(|e| Error::Internal(format!("a raw item is not valid JSON: {e}")))?;
                inc.filter(&item)
            }
        }
    }

    /// A JSON-lines file, item by item through the cursor (instead of copied as is).
    pub(super) fn write_jsonl_filtered(&mut self, path: &Path) -> Result<()> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = BufReader::with_capacity(1 << 20, f);
        for (i, line) in reader.lines().enumerate() {
            if self.is_full() || self.should_stop() {
                break;
            }
            let line = line.map_err(|e| Error::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let item: Value = serde_json::from_str(&line).map_err(|e| Error::BadInput {
                origin: path.display().to_string(),
                line: i as u64 + 1,
                reason: format!("invalid JSON: {e}"),
            })?;
            self.write_item(&item)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incremental::IncrementalConfig;
    use serde_json::json;

    #[test]
    fn binds_filters_and_saves_declared_cursors() {
        let state = SourceState::new(
            serde_json::from_value(json!({"resources": {"users": {"incremental": {"id": {
                "last_value": 2, "unique_hashes": [], "initial_value": 0, "start_value": 0}}}}}))
            .unwrap(),
            None,
        );
        let cfg = IncrementalConfig::new("id").initial_value(json!(0));
        let declared = [ResourceCursor {
            resource: "users",
            config: &cfg,
            primary_key: &[],
        }];
        let cursors = BoundCursors::bind(&state, &declared).unwrap();
        assert!(!cursors.is_empty());
        assert!(cursors.get("orders").is_none());
        let users = cursors.get("users").unwrap();
        assert_eq!(users.start_value, Some(json!(2)));
        assert_eq!(
            users.filter(&json!({"id": 1})).unwrap(),
            crate::incremental::Decision::Skip
        );
        assert_eq!(
            users.filter(&json!({"id": 5})).unwrap(),
            crate::incremental::Decision::Keep
        );
        cursors.save(&state);
        assert_eq!(state.cursor("users", "id").unwrap()["last_value"], 5);
    }

    /// A parent resource writing raw items, and a dependent one through a sibling writer,
    /// both with a cursor: extract filters both and saves both, and a failed run saves none.
    struct Tree {
        hints: crate::storage::ResourceHints,
        child: crate::storage::ResourceHints,
        parent_cursor: IncrementalConfig,
        child_cursor: IncrementalConfig,
        fail: bool,
    }

    impl crate::sources::Resource for Tree {
        fn hints(&self) -> &crate::storage::ResourceHints {
            &self.hints
        }

        fn tables(&self) -> Vec<crate::storage::ResourceHints> {
            vec![self.hints.clone(), self.child.clone()]
        }

        fn cursors(&self) -> Vec<ResourceCursor<'_>> {
            vec![
                ResourceCursor {
                    resource: &self.hints.name,
                    config: &self.parent_cursor,
                    primary_key: &self.hints.primary_key,
                },
                ResourceCursor {
                    resource: &self.child.name,
                    config: &self.child_cursor,
                    primary_key: &[],
                },
            ]
        }

        fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
            // The bound values are there before the first request.
            assert_eq!(
                out.cursor("children").map(|c| c.placeholder("start_value")),
                Some(json!(10))
            );
            for id in 1..=4 {
                out.write_raw(&format!("{{\"id\":{id}}}"))?;
            }
            let mut child = out.sibling("children");
            child.write_page(&[json!({"n": 5}), json!({"n": 11}), json!({"n": 12})])?;
            child.close()?;
            if self.fail {
                return Err(Error::Internal("boom".into()));
            }
            Ok(())
        }
    }

    #[test]
    fn extract_filters_every_writer_of_a_resource_and_saves_on_success() {
        let dir = tempfile::tempdir().unwrap();
        let pdir = crate::storage::PipelineDir::new(dir.path());
        pdir.create().unwrap();
        let hints = |name: &str| crate::storage::ResourceHints {
            name: name.into(),
            table_name: name.into(),
            ..Default::default()
        };
        let run = |fail: bool| {
            let state = SourceState::new(
                serde_json::from_value(json!({"resources": {
                    "parents": {"incremental": {"id": {"last_value": 2, "unique_hashes": []}}},
                    "children": {"incremental": {"n": {"last_value": 10, "unique_hashes": []}}}
                }}))
                .unwrap(),
                None,
            );
            let mut pkg = super::super::PackageWriter::new(&pdir, "src").unwrap();
            pkg.set_state(state.clone());
            let mut resources: Vec<Box<dyn crate::sources::Resource>> = vec![Box::new(Tree {
                hints: hints("parents"),
                child: hints("children"),
                parent_cursor: IncrementalConfig::new("id").initial_value(json!(0)),
                child_cursor: IncrementalConfig::new("n").initial_value(json!(0)),
                fail,
            })];
            let r = super::super::extract_resources(&pkg, &mut resources, 1);
            let items = pkg.resource_items();
            pkg.abort();
            (r, items, state)
        };
        let (r, items, state) = run(false);
        r.unwrap();
        // id 1 is before the stored cursor; id 2 equals it but its hash is not among the
        // stored ones, so it stays; n 5 is before 10.
        assert_eq!(
            items,
            vec![("parents".to_string(), 3), ("children".to_string(), 2)]
        );
        assert_eq!(state.cursor("parents", "id").unwrap()["last_value"], 4);
        assert_eq!(state.cursor("children", "n").unwrap()["last_value"], 12);
        let (r, _, state) = run(true);
        assert!(r.is_err());
        assert_eq!(state.cursor("parents", "id").unwrap()["last_value"], 2);
        assert_eq!(state.cursor("children", "n").unwrap()["last_value"], 10);
    }
}

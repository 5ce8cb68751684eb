//! What extract runs: a [`Source`] is a named group of [`Resource`]s, each a producer of
//! items for one root table, the Rust counterpart of dlt's `@dlt.source` / `@dlt.resource`.
//! Source types (`crate::sources`) implement [`Resource`]; extract drives it.

use super::ItemWriter;
use crate::error::Result;
use crate::incremental::ResourceCursor;
use crate::storage::ResourceHints;

/// A producer of items for one root table.
pub trait Resource: Send {
    /// Hints of the resource (its name is `hints().name`).
    fn hints(&self) -> &ResourceHints;

    /// Writes all items of the resource into `out`, page by page.
    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()>;

    /// Every table this resource writes, in order: its own (unless it only feeds others,
    /// like dlt's `selected: false`) and those of dependent resources it produces through
    /// [`ItemWriter::sibling`]. They are declared in the package before extraction starts.
    fn tables(&self) -> Vec<ResourceHints> {
        vec![self.hints().clone()]
    }

    /// The incremental cursors this resource declares (dlt's `dlt.sources.incremental`): its
    /// own, and those of dependent resources it writes through [`ItemWriter::sibling`].
    /// Extract binds each to its stored cursor before [`Resource::extract`] runs, the
    /// [`ItemWriter`] of that resource drops the items outside the cursor's range (and says
    /// when to stop paging, [`ItemWriter::should_stop`]), and the new cursor is saved when the
    /// resource finishes. None by default.
    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        Vec::new()
    }

    /// Whether the load may start while this resource extracts: its Arrow job files are then
    /// normalized and loaded as soon as each is written, and the destination is held (its
    /// writer lock, its load transaction) for the whole extract. Right for resources that read
    /// a bounded source quickly (files, a database table); not for APIs that may page for
    /// hours. `false` by default.
    fn overlaps_load(&self) -> bool {
        false
    }
}

/// A named group of resources; its name is the schema name.
pub struct Source {
    /// Source name.
    pub name: String,
    /// Resources, in extraction order.
    pub resources: Vec<Box<dyn Resource>>,
}

impl Source {
    /// A source with the given resources.
    pub fn new(name: impl Into<String>, resources: Vec<Box<dyn Resource>>) -> Source {
        Source {
            name: name.into(),
            resources,
        }
    }
}

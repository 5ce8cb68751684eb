//! Incremental params of REST resources: dlt's cursor semantics live in
//! [`crate::incremental`]; this module re-exports them for rest_api users.
//!
//! An endpoint's `incremental` block is bound at extract time to the cursor stored in the
//! pipeline state (`state.sources.<source>.resources.<resource>.incremental.<cursor_path>`);
//! its `{incremental.start_value}` (also `last_value`, `initial_value`, `end_value`)
//! placeholders render the bound values, and the deprecated `start_param`/`end_param` put them
//! in the query.

pub use crate::incremental::{Decision, Incremental, IncrementalConfig, compare};

//! dango: a fast, crash-safe data loader that writes exactly what dlt writes.
//!
//! A project declares sources in `.dango/sources.yml`; `dango sync` runs one pipeline per source:
//! extract → normalize → load into the DuckDB warehouse `data/warehouse.duckdb`, dataset
//! `raw_<source>`. The warehouse layout (tables, columns, nested tables, `_dlt_*` columns and
//! system tables, variant columns) is dlt's, so dbt models written against dlt keep working.
//!
//! The stages hand off through load packages on disk ([`storage`]), so a run that dies at any
//! point resumes on the next one without losing or duplicating rows. The library API mirrors
//! dlt's: see [`pipeline::Pipeline`].
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod destinations;
pub mod error;
pub mod extract;
pub mod fault;
pub mod incremental;
pub mod inspect;
pub mod json;
pub mod load;
pub mod net;
pub mod normalize;
pub mod ops;
pub mod pipeline;
pub mod pycompat;
pub mod sample;
pub mod schema;
pub mod sources;
pub mod state;
pub mod storage;

pub use error::{Error, Result};

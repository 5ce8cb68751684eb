//! Destinations. DuckDB is the one built in.

pub mod duckdb;

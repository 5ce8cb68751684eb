//! What the drivers share, below both them and the resource: the reflected table
//! ([`TableSpec`]), the cursor's range in SQL ([`Filter`]), where batches go ([`BatchSink`]),
//! the choice of tables and the runtime of one driver call.

use arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::columns::SqlColumn;
use crate::error::{Error, Result};
use crate::incremental::Incremental;

/// A reflected table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Schema (Postgres) or database (MySQL); `None` for SQLite.
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// Columns read, in table order.
    pub columns: Vec<SqlColumn>,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
}

/// The cursor's range, applied in the SQL of the read.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The cursor column.
    pub column: String,
    /// Rows from this value (the stored cursor or `initial_value`).
    pub start: Option<Value>,
    /// `range_start: open`: rows equal to `start` are excluded.
    pub start_open: bool,
    /// Rows before this value (`end_value`).
    pub end: Option<Value>,
    /// `range_end: closed`: rows equal to `end` are included.
    pub end_closed: bool,
    /// `last_value_func: min`: the cursor goes down.
    pub descending: bool,
}

impl Filter {
    /// The filter of a bound cursor; `None` for a custom `last_value_func`.
    pub fn of(inc: &Incremental) -> Option<Filter> {
        let descending = match inc.cfg.last_value_func.as_str() {
            "max" => false,
            "min" => true,
            _ => return None,
        };
        Some(Filter {
            column: inc.cfg.cursor_path.clone(),
            start: inc.start_value.clone().filter(|v| !v.is_null()),
            start_open: inc.cfg.range_start == "open",
            end: inc.end_value.clone().filter(|v| !v.is_null()),
            end_closed: inc.cfg.range_end == "closed",
            descending,
        })
    }

    /// The comparison with the start value.
    pub fn start_op(&self) -> &'static str {
        match (self.descending, self.start_open) {
            (false, false) => ">=",
            (false, true) => ">",
            (true, false) => "<=",
            (true, true) => "<",
        }
    }

    /// The comparison with the end value.
    pub fn end_op(&self) -> &'static str {
        match (self.descending, self.end_closed) {
            (false, false) => "<",
            (false, true) => "<=",
            (true, false) => ">",
            (true, true) => ">=",
        }
    }

    /// `ASC` or `DESC`.
    pub fn order(&self) -> &'static str {
        if self.descending { "DESC" } else { "ASC" }
    }
}

/// `'text'` with quotes doubled (standard SQL string literal).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where a driver puts its batches.
pub trait BatchSink {
    /// Takes one batch; `false` when the read should stop (limit reached, cursor range left).
    fn push(&mut self, batch: RecordBatch) -> Result<bool>;
}

/// The tables to read out of those `found` (`(id, name, is_table)`): the named ones in the
/// order given (views too), else every table (and view with `views`).
pub fn choose_tables<T: Clone>(
    found: &[(T, String, bool)],
    names: Option<&[String]>,
    views: bool,
    schema: &str,
    shown: &str,
) -> Result<Vec<(T, String)>> {
    let Some(names) = names else {
        let all: Vec<(T, String)> = found
            .iter()
            .filter(|(_, _, is_table)| *is_table || views)
            .map(|(id, n, _)| (id.clone(), n.clone()))
            .collect();
        if all.is_empty() {
            return Err(Error::Config(format!(
                "{shown}: schema `{schema}` has no tables. Fix `schema` in the sql_database block"
            )));
        }
        return Ok(all);
    };
    let mut out = Vec::with_capacity(names.len());
    for want in names {
        match found.iter().find(|(_, n, _)| n == want) {
            Some((id, n, _)) => out.push((id.clone(), n.clone())),
            None => {
                let have: Vec<&str> = found.iter().map(|(_, n, _)| n.as_str()).collect();
                return Err(Error::Config(format!(
                    "{shown}: table `{want}` does not exist in schema `{schema}`; it has: {}. Fix `table_names` in the sql_database block",
                    if have.is_empty() {
                        "no tables".to_string()
                    } else {
                        have.join(", ")
                    }
                )));
            }
        }
    }
    Ok(out)
}

/// A current-thread runtime for one driver call.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the database runtime: {e}")))
}

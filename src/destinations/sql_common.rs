//! What SQL destinations share: identifier and literal quoting, and dlt's queries of its
//! bookkeeping tables (`_dlt_loads`, `_dlt_pipeline_state`, `_dlt_version`), written once for
//! every dialect ([`Dialect`]: how parameters are written and how a column is read as text).
//!
//! The queries are dlt's `job_client_impl` ones: the stored state is the newest
//! `_dlt_pipeline_state` row whose load is in `_dlt_loads` with status 0; the stored schema the
//! newest `_dlt_version` row of the schema name.

use crate::error::{Error, Result};
use crate::schema::{LOADS_TABLE, STATE_TABLE, Schema, VERSION_TABLE, dlt_dict};

/// How a SQL dialect writes what the shared queries need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The first query parameter (`?` or `$1`).
    pub param: &'static str,
    /// Appended to a column read as text (`::text` on Postgres, nothing on DuckDB).
    pub text_cast: &'static str,
}

/// DuckDB's: `?` parameters, text columns as they are.
pub const DUCKDB: Dialect = Dialect {
    param: "?",
    text_cast: "",
};

/// Postgres's: `$1` parameters, columns cast to `text` (tokio-postgres reads `String` from
/// text types only).
pub const POSTGRES: Dialect = Dialect {
    param: "$1",
    text_cast: "::text",
};

/// Quotes an identifier (`"a""b"`).
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal (`'it''s'`; standard-conforming strings).
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"dataset"."table"`.
pub fn qualified(dataset: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(dataset), quote_ident(table))
}

impl Dialect {
    /// The state (zlib + base64) of the newest committed `_dlt_pipeline_state` row of the
    /// pipeline given as the parameter.
    pub fn stored_state_sql(&self, dataset: &str) -> String {
        format!(
            "SELECT s.state{} FROM {} s JOIN {} l ON l.load_id = s._dlt_load_id \
             WHERE l.status = 0 AND s.pipeline_name = {} \
             ORDER BY l.load_id DESC, s.version DESC LIMIT 1",
            self.text_cast,
            qualified(dataset, STATE_TABLE),
            qualified(dataset, LOADS_TABLE),
            self.param
        )
    }

    /// The `version_hash` of the newest state row of the pipeline given as the parameter.
    pub fn stored_state_hash_sql(&self, dataset: &str) -> String {
        format!(
            "SELECT version_hash{} FROM {} WHERE pipeline_name = {} \
             ORDER BY _dlt_load_id DESC, version DESC LIMIT 1",
            self.text_cast,
            qualified(dataset, STATE_TABLE),
            self.param
        )
    }

    /// The newest stored schema document of the schema name given as the parameter.
    pub fn stored_schema_sql(&self, dataset: &str) -> String {
        format!(
            "SELECT schema{} FROM {} WHERE schema_name = {} \
             ORDER BY inserted_at DESC, version DESC LIMIT 1",
            self.text_cast,
            qualified(dataset, VERSION_TABLE),
            self.param
        )
    }

    /// Rows of `_dlt_version` with the version hash given as the parameter.
    pub fn schema_version_count_sql(&self, dataset: &str) -> String {
        format!(
            "SELECT count(*) FROM {} WHERE version_hash = {}",
            qualified(dataset, VERSION_TABLE),
            self.param
        )
    }

    /// Rows of `_dlt_loads` with the load id given as the parameter.
    pub fn load_count_sql(&self, dataset: &str) -> String {
        format!(
            "SELECT count(*) FROM {} WHERE load_id = {}",
            qualified(dataset, LOADS_TABLE),
            self.param
        )
    }

    /// Rows of `dataset.table` with the `_dlt_load_id` given as the parameter.
    pub fn rows_of_load_sql(&self, dataset: &str, table: &str) -> String {
        format!(
            "SELECT count(*) FROM {} WHERE _dlt_load_id = {}",
            qualified(dataset, table),
            self.param
        )
    }
}

/// A stored schema document (`_dlt_version.schema`) read back as a [`Schema`].
pub fn parse_stored_schema(text: &str, schema_name: &str) -> Result<Schema> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored schema is not JSON: {e}")))?;
    dlt_dict::from_json(&v)
        .map_err(|e| Error::Internal(format!("stored schema `{schema_name}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queries_postgres_and_duckdb_ran_before() {
        assert_eq!(
            POSTGRES.stored_state_sql("ds"),
            "SELECT s.state::text FROM \"ds\".\"_dlt_pipeline_state\" s JOIN \"ds\".\"_dlt_loads\" l \
             ON l.load_id = s._dlt_load_id WHERE l.status = 0 AND s.pipeline_name = $1 \
             ORDER BY l.load_id DESC, s.version DESC LIMIT 1"
        );
        assert_eq!(
            DUCKDB.stored_state_sql("ds"),
            "SELECT s.state FROM \"ds\".\"_dlt_pipeline_state\" s JOIN \"ds\".\"_dlt_loads\" l \
             ON l.load_id = s._dlt_load_id WHERE l.status = 0 AND s.pipeline_name = ? \
             ORDER BY l.load_id DESC, s.version DESC LIMIT 1"
        );
        assert_eq!(
            DUCKDB.stored_schema_sql("d\"s"),
            "SELECT schema FROM \"d\"\"s\".\"_dlt_version\" WHERE schema_name = ? \
             ORDER BY inserted_at DESC, version DESC LIMIT 1"
        );
        assert_eq!(
            POSTGRES.rows_of_load_sql("ds", "t"),
            "SELECT count(*) FROM \"ds\".\"t\" WHERE _dlt_load_id = $1"
        );
        assert_eq!(quote_str("it's"), "'it''s'");
    }
}

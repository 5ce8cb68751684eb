//! The `sql_database:` block (also Dango's `generic_config:` block of `type: postgres` and
//! `type: sql_database`): dlt's `sql_database(...)` arguments and per-table `sql_table(...)`
//! options.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::sources::WriteDispositionConfig;

/// One column name or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyColumns {
    /// A single column.
    One(String),
    /// Several columns.
    Many(Vec<String>),
}

impl KeyColumns {
    /// The column names.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            KeyColumns::One(c) => vec![c.clone()],
            KeyColumns::Many(v) => v.clone(),
        }
    }
}

/// How much of each column's type is reflected from the database (dlt's `reflection_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReflectionLevel {
    /// Column names and nullability only; types come from the values.
    Minimal,
    /// Names, nullability and data types, with decimal precision and scale (dlt's default).
    #[default]
    Full,
    /// As `full`, plus text lengths and integer sizes.
    FullWithPrecision,
}

/// Which of dlt's `sql_database` backends the rows follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// dlt's default: rows as dicts; tables get `_dlt_load_id` and `_dlt_id`.
    #[default]
    Sqlalchemy,
    /// Arrow tables: columns pass through as read, without `_dlt_load_id` / `_dlt_id`.
    Pyarrow,
}

/// The `sql_database` block.
///
/// ```yaml
/// sql_database:
///   credentials_env: SHOP_DB_URL
///   schema: public
///   table_names: [customers, orders]
///   tables:
///     orders: {write_disposition: merge, primary_key: id,
///              incremental: {cursor_path: updated_at, initial_value: "2024-01-01T00:00:00Z"}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlDatabaseConfig {
    /// The database URL (`postgresql://user:password@host:5432/db?sslmode=verify-full`,
    /// `mysql://user:password@host:3306/db?ssl-mode=REQUIRED`, `sqlite:///path/to/file.db`).
    /// Better kept out of sources.yml: use `credentials_env`, or `credentials` under
    /// `[sources.sql_database.<name>]` / `[sources.<name>]` / `[sources.sql_database]` in
    /// `.dlt/secrets.toml`.
    #[serde(default)]
    pub credentials: Option<String>,
    /// The environment variable (or `.env` entry) holding the database URL.
    #[serde(default)]
    pub credentials_env: Option<String>,
    /// The schema (Postgres) or database (MySQL) to read; the connection's default when unset.
    #[serde(default)]
    pub schema: Option<String>,
    /// The tables (or views) to load; every table of the schema when unset.
    #[serde(default)]
    pub table_names: Option<Vec<String>>,
    /// Rows per chunk read from the database and written as one Arrow batch (50000).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// `minimal`, `full` (default) or `full_with_precision`, as dlt.
    #[serde(default)]
    pub reflection_level: ReflectionLevel,
    /// `sqlalchemy` (default: dlt's dict rows) or `pyarrow` (Arrow tables, no `_dlt_id`).
    #[serde(default)]
    pub backend: Backend,
    /// Whether views are loaded too when `table_names` is unset (false).
    #[serde(default)]
    pub include_views: bool,
    /// The write disposition of every table without its own (`append`, as dlt).
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Per-table options (dlt's `sql_table(...)`), by table name.
    #[serde(default)]
    pub tables: IndexMap<String, TableConfig>,
}

/// Options of one table (dlt's `sql_table(...)` arguments).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// `append` (default), `replace`, `merge`, or dlt's dict form
    /// (`{disposition: merge, strategy: upsert}`).
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Primary key column(s); reflected from the table when unset.
    #[serde(default)]
    pub primary_key: Option<KeyColumns>,
    /// Merge key column(s).
    #[serde(default)]
    pub merge_key: Option<KeyColumns>,
    /// dlt's incremental (`{cursor_path, initial_value, end_value, range_start, range_end,
    /// …}`): the read is filtered in SQL on the stored cursor.
    #[serde(default)]
    pub incremental: Option<serde_json::Value>,
    /// Only these columns are read (dlt's `included_columns`).
    #[serde(default)]
    pub included_columns: Option<Vec<String>>,
    /// Column hints by column name, in dlt's form; they win over the reflected types.
    #[serde(default)]
    pub columns: Option<serde_json::Map<String, serde_json::Value>>,
}

/// dlt's default `chunk_size`.
const fn default_chunk_size() -> usize {
    50_000
}

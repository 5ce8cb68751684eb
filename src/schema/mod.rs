//! The stored, versioned schema of a pipeline, in dlt's shape.
//!
//! A [`Schema`] holds tables, their columns with types and hints, and the parent links of
//! nested tables. It evolves only by adding tables and columns. Its JSON form and version hash
//! are byte-compatible with dlt 1.31 (see [`dlt_dict`]), so a schema written by dango can be read
//! back by dlt and the other way round.

pub mod contract;
pub mod dlt_dict;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Prefix of dlt's system tables and columns.
pub const DLT_PREFIX: &str = "_dlt";
/// Name of the loads system table.
pub const LOADS_TABLE: &str = "_dlt_loads";
/// Name of the schema version system table.
pub const VERSION_TABLE: &str = "_dlt_version";
/// Name of the pipeline state system table.
pub const STATE_TABLE: &str = "_dlt_pipeline_state";
/// dlt's schema engine version.
pub const SCHEMA_ENGINE_VERSION: i64 = 11;

/// A dlt data type, named as in dlt (`text`, `bigint`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// UTF-8 text; `VARCHAR`.
    Text,
    /// 64-bit float; `DOUBLE`.
    Double,
    /// Boolean; `BOOLEAN`.
    Bool,
    /// Instant, stored in UTC; `TIMESTAMP WITH TIME ZONE`.
    Timestamp,
    /// Signed 64-bit integer; `BIGINT`.
    Bigint,
    /// Bytes; `BLOB`.
    Binary,
    /// Nested data kept as JSON; `JSON`.
    Json,
    /// Fixed-point decimal; `DECIMAL(38,9)` by default.
    Decimal,
    /// Large integer; `DECIMAL(38,0)`.
    Wei,
    /// Calendar date; `DATE`.
    Date,
    /// Time of day; `TIME`.
    Time,
}

impl DataType {
    /// The dlt name of the type, as used in variant column names (`v_text`).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Bigint => "bigint",
            DataType::Binary => "binary",
            DataType::Json => "json",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
            DataType::Date => "date",
            DataType::Time => "time",
        }
    }

    /// Parses a dlt type name; accepts the legacy `complex` for `json`.
    pub fn parse(s: &str) -> Option<DataType> {
        Some(match s {
            "text" => DataType::Text,
            "double" => DataType::Double,
            "bool" => DataType::Bool,
            "timestamp" => DataType::Timestamp,
            "bigint" => DataType::Bigint,
            "binary" => DataType::Binary,
            "json" | "complex" => DataType::Json,
            "decimal" => DataType::Decimal,
            "wei" => DataType::Wei,
            "date" => DataType::Date,
            "time" => DataType::Time,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How rows of a resource are written to their table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteDisposition {
    /// Insert rows, keep what is there.
    #[default]
    Append,
    /// Replace the table (and its nested tables) with the new rows.
    Replace,
    /// Merge rows by key.
    Merge,
}

impl WriteDisposition {
    /// dlt's name of the disposition.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
            WriteDisposition::Merge => "merge",
        }
    }
}

/// How a `merge` table merges (`x-merge-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStrategy {
    /// Delete destination rows that match staging rows by key, then insert the staging rows.
    DeleteInsert,
    /// Update matching rows, insert the others (`MERGE INTO`).
    Upsert,
    /// Insert rows whose key is not there yet.
    InsertOnly,
    /// Slowly changing dimension type 2: validity ranges, retire absent rows.
    Scd2,
}

impl MergeStrategy {
    /// Every strategy name dlt accepts on DuckDB that dango implements.
    pub const NAMES: &'static [&'static str] = &["delete-insert", "upsert", "insert-only", "scd2"];

    /// Parses dlt's strategy name.
    pub fn parse(s: &str) -> Option<MergeStrategy> {
        Some(match s {
            "delete-insert" => MergeStrategy::DeleteInsert,
            "upsert" => MergeStrategy::Upsert,
            "insert-only" => MergeStrategy::InsertOnly,
            "scd2" => MergeStrategy::Scd2,
            _ => return None,
        })
    }

    /// dlt's name of the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::DeleteInsert => "delete-insert",
            MergeStrategy::Upsert => "upsert",
            MergeStrategy::InsertOnly => "insert-only",
            MergeStrategy::Scd2 => "scd2",
        }
    }
}

/// A column of a table, with dlt's hints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Column {
    /// Normalized column name.
    pub name: String,
    /// Data type; `None` for an incomplete column that has only hints.
    pub data_type: Option<DataType>,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Part of the merge key.
    pub merge_key: bool,
    /// Unique hint.
    pub unique: bool,
    /// Row key (`_dlt_id`).
    pub row_key: bool,
    /// Parent key (`_dlt_parent_id`).
    pub parent_key: bool,
    /// Root key (`_dlt_root_id`).
    pub root_key: bool,
    /// A variant column created when coercion failed.
    pub variant: bool,
    /// Hard-delete marker column.
    pub hard_delete: bool,
    /// Sort order for deduplication (`asc` / `desc`).
    pub dedup_sort: Option<String>,
    /// Precision (bits for integers, digits for decimals, fractional digits for times).
    pub precision: Option<u32>,
    /// Scale for decimals.
    pub scale: Option<u32>,
    /// Timezone flag for timestamps (`None` means dlt's default, `true`).
    pub timezone: Option<bool>,
    /// Free text description.
    pub description: Option<String>,
    /// Any other hints (`x-…`), kept verbatim in key order.
    pub extra: IndexMap<String, serde_json::Value>,
    /// Key order of the dlt dict this column was read from, so it is written back verbatim;
    /// ignored by `==`.
    pub key_order: dlt_dict::KeyOrder,
}

impl Column {
    /// A nullable column of the given type.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Column {
        Column {
            name: name.into(),
            data_type: Some(data_type),
            nullable: true,
            ..Column::default()
        }
    }

    /// Whether the column has a data type (dlt's "complete" column).
    pub fn is_complete(&self) -> bool {
        self.data_type.is_some()
    }
}

/// A table of the schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Normalized table name.
    pub name: String,
    /// Columns in table order.
    pub columns: IndexMap<String, Column>,
    /// Write disposition; nested tables inherit from their root.
    pub write_disposition: Option<WriteDisposition>,
    /// Parent table of a nested table.
    pub parent: Option<String>,
    /// Resource that produced the table (root tables).
    pub resource: Option<String>,
    /// Free text description.
    pub description: Option<String>,
    /// Any other table hints (`x-normalizer`, `x-merge-strategy`, `schema_contract`, …), verbatim.
    pub extra: IndexMap<String, serde_json::Value>,
    /// Key order of the dlt dict this table was read from, so it is written back verbatim;
    /// ignored by `==`.
    pub key_order: dlt_dict::KeyOrder,
}

impl Table {
    /// An empty table.
    pub fn new(name: impl Into<String>) -> Table {
        Table {
            name: name.into(),
            ..Table::default()
        }
    }

    /// Whether this is a dlt system table (`_dlt_*`).
    pub fn is_system(&self) -> bool {
        self.name.starts_with(DLT_PREFIX)
    }

    /// Whether the table has at least one complete (typed) column.
    pub fn has_complete_columns(&self) -> bool {
        self.columns.values().any(Column::is_complete)
    }
}

/// A versioned schema: dlt's `Schema` for one pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Schema name (the pipeline name by default).
    pub name: String,
    /// Version, bumped on every content change.
    pub version: i64,
    /// Hash of the content (dlt's `version_hash`).
    pub version_hash: String,
    /// Up to 10 earlier hashes, newest first.
    pub previous_hashes: Vec<String>,
    /// Tables in order, system tables first.
    pub tables: IndexMap<String, Table>,
    /// dlt's `settings` block, kept verbatim.
    pub settings: serde_json::Value,
    /// dlt's `normalizers` block, kept verbatim.
    pub normalizers: serde_json::Value,
    /// Other top-level keys of dlt's dict (`imported_version_hash`, `description`), verbatim.
    pub extra: IndexMap<String, serde_json::Value>,
}

impl Schema {
    /// Looks a table up by name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// Looks a table up by name, mutably.
    pub fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.get_mut(name)
    }

    /// Tables that hold data: not `_dlt_*`, with at least one complete column.
    pub fn data_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables
            .values()
            .filter(|t| !t.is_system() && t.has_complete_columns())
    }

    /// The root table of `table` (following `parent` links).
    pub fn root_table<'a>(&'a self, table: &'a str) -> &'a str {
        let mut name = table;
        let mut guard = 0;
        while let Some(parent) = self.tables.get(name).and_then(|t| t.parent.as_deref()) {
            name = parent;
            guard += 1;
            if guard > 10_000 {
                break;
            }
        }
        name
    }

    /// Nested tables of `table`, recursively, in schema order.
    pub fn nested_tables(&self, table: &str) -> Vec<&Table> {
        let mut out: Vec<&Table> = Vec::new();
        let mut frontier = vec![table.to_string()];
        while let Some(parent) = frontier.pop() {
            for t in self.tables.values() {
                if t.parent.as_deref() == Some(parent.as_str()) {
                    out.push(t);
                    frontier.push(t.name.clone());
                }
            }
        }
        out
    }

    /// Write disposition of a table, inherited from its root.
    pub fn write_disposition(&self, table: &str) -> WriteDisposition {
        let root = self.root_table(table);
        self.tables
            .get(root)
            .and_then(|t| t.write_disposition)
            .unwrap_or_default()
    }

    /// Recomputes the version hash; if the content changed, bumps the version and records the
    /// previous hash. Returns whether it changed.
    pub fn bump_version(&mut self) -> bool {
        let hash = dlt_dict::version_hash(self);
        if hash == self.version_hash {
            return false;
        }
        if !self.version_hash.is_empty() {
            self.previous_hashes.insert(0, self.version_hash.clone());
            self.previous_hashes.truncate(10);
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }
}

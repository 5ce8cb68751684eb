//! dlt 1.31's dict form of a [`Schema`]: JSON conversion both ways, the version hash and the
//! fresh schema dlt creates.
//!
//! The JSON shape is `Schema.to_dict()`: top-level keys `version`, `version_hash`,
//! `engine_version`, `name`, `tables`, `settings`, `normalizers`, `previous_hashes`, then any
//! extra keys (`imported_version_hash`, `description`). dlt stores this very dict, names
//! included and nothing removed, both in `schemas/<name>.schema.json` (orjson, 2-space indent, no
//! trailing newline) and in `_dlt_version.schema` (compact orjson).
//!
//! dlt's key order inside tables and columns depends on how they were built (a column that
//! started as a `primary_key` hint is `name, nullable, primary_key, data_type`; an inferred one
//! is `name, data_type, nullable`). [`from_json`] records the order it read in each table and
//! column ([`KeyOrder`]), together with explicit `false`/`null` values, so [`to_json`] writes a
//! dlt-written schema back byte for byte. Tables and columns made in Rust (no recorded order) are
//! written in a canonical order: `name, data_type, nullable`, then set hints, then extras, for
//! columns; `name, columns, write_disposition, parent, resource, description`, then extras, for
//! tables. Values that do not fit a typed field (`"write_disposition": "skip"`, explicit `null`s)
//! are kept in the `extra` maps under their own key.
//!
//! [`version_hash`] is dlt's `generate_version_hash`: base64 of sha3-256 over the sorted-keys
//! compact JSON of the dict without `version`, `version_hash`, `imported_version_hash` and
//! `previous_hashes`, then over every table name (sorted) followed by its column names (in
//! order). It hashes the dict as dlt holds it after `apply_defaults`, so table and column names
//! are always included and root tables get `write_disposition: append` / `resource: <table>`
//! when missing.

use crate::pycompat::hash::Sha3_256;
use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{
    Column, DataType, LOADS_TABLE, SCHEMA_ENGINE_VERSION, STATE_TABLE, Schema, Table,
    VERSION_TABLE, WriteDisposition,
};

/// The JSON item normalizer dlt records in `normalizers.json.module`.
pub const JSON_NORMALIZER_MODULE: &str = "dlt.common.normalizers.json.relational";
/// The naming convention dlt records in `normalizers.names`.
pub const NAMING_CONVENTION: &str = "snake_case";
/// dlt's write disposition of the `_dlt_version` and `_dlt_loads` tables (kept in `Table::extra`).
pub const SKIP_WRITE_DISPOSITION: &str = "skip";

/// The order of the keys of a dlt dict (table or column) as it was read, so it can be written back
/// the same way.
///
/// `None` means "made in Rust": the canonical order is used. `Some(keys)` lists the keys in the
/// order they were read; keys listed here are written even when their value is the default
/// (`"primary_key": false`), keys not listed are written only when set. Two `KeyOrder`s always
/// compare equal: the order is presentation, not content (dlt's version hash ignores it too).
#[derive(Debug, Clone, Default)]
pub struct KeyOrder(pub Option<Vec<String>>);

impl PartialEq for KeyOrder {
    fn eq(&self, _other: &KeyOrder) -> bool {
        true
    }
}

impl KeyOrder {
    /// A recorded order from a list of keys.
    pub fn recorded<I, S>(keys: I) -> KeyOrder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        KeyOrder(Some(keys.into_iter().map(Into::into).collect()))
    }

    /// The recorded keys, if any.
    pub fn keys(&self) -> Option<&[String]> {
        self.0.as_deref()
    }
}

/// Column keys with a typed field in [`Column`], in canonical output order.
const COLUMN_KEYS: [&str; 16] = [
    "name",
    "data_type",
    "nullable",
    "primary_key",
    "merge_key",
    "unique",
    "row_key",
    "parent_key",
    "root_key",
    "variant",
    "hard_delete",
    "dedup_sort",
    "precision",
    "scale",
    "timezone",
    "description",
];

/// Table keys with a typed field in [`Table`], in canonical output order.
const TABLE_KEYS: [&str; 6] = [
    "name",
    "columns",
    "write_disposition",
    "parent",
    "resource",
    "description",
];

/// State of a typed field when writing it out.
enum Slot {
    /// Not a typed key: look in `extra`.
    Untyped,
    /// A non-default value: always written.
    Set(Value),
    /// The default; written (as the given value, if any) only if the key was in the input.
    Default(Option<Value>),
}

/// How a dict is produced.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As stored: lossless.
    Stored,
    /// As hashed: dlt's `apply_defaults` applied (names, root table defaults).
    Hash,
}

// ---------------------------------------------------------------------------------------------
// Fresh schema
// ---------------------------------------------------------------------------------------------

/// A fresh schema exactly as `dlt.Schema(name)` creates it for a DuckDB pipeline: settings,
/// normalizers, the `_dlt_version` and `_dlt_loads` tables, version 1 and its hash.
///
/// `_dlt_pipeline_state` is not part of a fresh schema; dlt adds it with the first state write
/// (see [`pipeline_state_table`]).
pub fn new_schema(name: &str) -> Schema {
    let mut tables = IndexMap::new();
    tables.insert(VERSION_TABLE.to_string(), version_table());
    tables.insert(LOADS_TABLE.to_string(), loads_table());
    let mut schema = Schema {
        name: name.to_string(),
        version: 1,
        version_hash: String::new(),
        previous_hashes: Vec::new(),
        tables,
        settings: default_settings(),
        normalizers: default_normalizers(),
        extra: IndexMap::new(),
    };
    schema.version_hash = version_hash(&schema);
    schema
}

/// dlt's default schema `settings`: the `iso_timestamp` detection and the default hints of the
/// relational normalizer.
pub fn default_settings() -> Value {
    serde_json::json!({
        "detections": ["iso_timestamp"],
        "default_hints": {
            "not_null": ["_dlt_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_load_id"],
            "parent_key": ["_dlt_parent_id"],
            "root_key": ["_dlt_root_id"],
            "unique": ["_dlt_id"],
            "row_key": ["_dlt_id"]
        }
    })
}

/// dlt's default `normalizers` block: `snake_case` naming and the relational JSON normalizer.
pub fn default_normalizers() -> Value {
    serde_json::json!({
        "names": NAMING_CONVENTION,
        "json": {"module": JSON_NORMALIZER_MODULE}
    })
}

/// A complete column with a description, as dlt's system table definitions have them.
fn system_column(name: &str, data_type: DataType, nullable: bool, description: &str) -> Column {
    Column {
        nullable,
        description: Some(description.to_string()),
        ..Column::new(name, data_type)
    }
}

/// Builds a table from columns.
fn table_with(name: &str, columns: Vec<Column>) -> Table {
    let mut table = Table::new(name);
    for c in columns {
        table.columns.insert(c.name.clone(), c);
    }
    table
}

/// The `_dlt_version` table as dlt defines it (`write_disposition: skip`, kept in `extra`).
pub fn version_table() -> Table {
    let mut t = table_with(
        VERSION_TABLE,
        vec![
            system_column(
                "version",
                DataType::Bigint,
                false,
                "Numeric version of the schema, incremented on each schema change",
            ),
            system_column(
                "engine_version",
                DataType::Bigint,
                false,
                "Version of the dlt schema engine that created this schema",
            ),
            system_column(
                "inserted_at",
                DataType::Timestamp,
                false,
                "Timestamp when this schema version was stored",
            ),
            system_column("schema_name", DataType::Text, false, "Name of the schema"),
            system_column(
                "version_hash",
                DataType::Text,
                false,
                "Unique hash of the schema content, used to detect changes",
            ),
            system_column(
                "schema",
                DataType::Text,
                false,
                "JSON representation of the complete schema definition",
            ),
        ],
    );
    skip_system_table(&mut t, "Created by DLT. Tracks schema updates");
    t
}

/// The `_dlt_loads` table as dlt defines it (`write_disposition: skip`, kept in `extra`).
pub fn loads_table() -> Table {
    let mut load_id = system_column(
        "load_id",
        DataType::Text,
        false,
        "Unique identifier of the load operation",
    );
    load_id.precision = Some(64);
    let mut t = table_with(
        LOADS_TABLE,
        vec![
            load_id,
            system_column(
                "schema_name",
                DataType::Text,
                true,
                "Name of the schema associated with this load",
            ),
            system_column(
                "status",
                DataType::Bigint,
                false,
                "Status of the load operation (0 = success)",
            ),
            system_column(
                "inserted_at",
                DataType::Timestamp,
                false,
                "Timestamp when the load was completed",
            ),
            system_column(
                "schema_version_hash",
                DataType::Text,
                true,
                "Hash of the schema version used during this load",
            ),
        ],
    );
    skip_system_table(&mut t, "Created by DLT. Tracks completed loads");
    t
}

/// Sets the `skip` disposition, resource and description of `_dlt_version` / `_dlt_loads`.
fn skip_system_table(t: &mut Table, description: &str) {
    t.extra.insert(
        "write_disposition".to_string(),
        Value::String(SKIP_WRITE_DISPOSITION.to_string()),
    );
    t.resource = Some(t.name.clone());
    t.description = Some(description.to_string());
    t.key_order = KeyOrder::recorded([
        "name",
        "columns",
        "write_disposition",
        "resource",
        "description",
    ]);
}

/// The `_dlt_pipeline_state` table as dlt stores it in the schema after a load that wrote state:
/// the state columns, `_dlt_load_id` (precision 64, described) and the normalizer's `_dlt_id`,
/// `write_disposition: append`, `file_format: preferred`, `x-normalizer: {seen-data: true}`, in
/// dlt's key order.
pub fn pipeline_state_table() -> Table {
    let mut load_id = system_column(
        "_dlt_load_id",
        DataType::Text,
        false,
        "Load identifier linking this row to its load operation",
    );
    load_id.precision = Some(64);
    let dlt_id = Column {
        nullable: false,
        unique: true,
        row_key: true,
        ..Column::new("_dlt_id", DataType::Text)
    };
    let mut t = table_with(
        STATE_TABLE,
        vec![
            system_column(
                "version",
                DataType::Bigint,
                false,
                "Numeric version of the pipeline state",
            ),
            system_column(
                "engine_version",
                DataType::Bigint,
                false,
                "Version of the dlt state engine",
            ),
            system_column(
                "pipeline_name",
                DataType::Text,
                false,
                "Name of the pipeline this state belongs to",
            ),
            system_column(
                "state",
                DataType::Text,
                false,
                "Compressed JSON representation of the pipeline state",
            ),
            system_column(
                "created_at",
                DataType::Timestamp,
                false,
                "Timestamp when this state was created",
            ),
            system_column(
                "version_hash",
                DataType::Text,
                true,
                "Hash of the state content, used to detect changes",
            ),
            load_id,
            dlt_id,
        ],
    );
    t.write_disposition = Some(WriteDisposition::Append);
    t.resource = Some(STATE_TABLE.to_string());
    t.extra.insert(
        "file_format".to_string(),
        Value::String("preferred".to_string()),
    );
    t.extra.insert(
        "x-normalizer".to_string(),
        serde_json::json!({"seen-data": true}),
    );
    t.key_order = KeyOrder::recorded([
        "columns",
        "write_disposition",
        "file_format",
        "name",
        "resource",
        "x-normalizer",
    ]);
    t
}

// ---------------------------------------------------------------------------------------------
// To JSON
// ---------------------------------------------------------------------------------------------

/// The schema as dlt's `Schema.to_dict()`: the stored version and hash as they are (call
/// [`Schema::bump_version`] first if the content may have changed), keys in dlt's order.
pub fn to_json(schema: &Schema) -> Value {
    Value::Object(schema_map(schema, Mode::Stored))
}

/// Compact JSON as dlt writes `_dlt_version.schema` (orjson, no spaces, UTF-8 unescaped).
pub fn to_json_string_compact(schema: &Schema) -> String {
    serde_json::to_string(&to_json(schema)).unwrap_or_default()
}

/// Pretty JSON as dlt writes `schemas/<name>.schema.json` (orjson `OPT_INDENT_2`, no trailing
/// newline).
pub fn to_json_string_pretty(schema: &Schema) -> String {
    serde_json::to_string_pretty(&to_json(schema)).unwrap_or_default()
}

/// Builds the top-level dict. In hash mode, the keys dlt's hash ignores are left out.
fn schema_map(schema: &Schema, mode: Mode) -> Map<String, Value> {
    let mut m = Map::new();
    if mode == Mode::Stored {
        m.insert("version".into(), Value::from(schema.version));
        m.insert(
            "version_hash".into(),
            Value::String(schema.version_hash.clone()),
        );
    }
    m.insert("engine_version".into(), Value::from(SCHEMA_ENGINE_VERSION));
    m.insert("name".into(), Value::String(schema.name.clone()));
    let mut tables = Map::new();
    for (name, table) in &schema.tables {
        tables.insert(name.clone(), Value::Object(table_map(name, table, mode)));
    }
    m.insert("tables".into(), Value::Object(tables));
    m.insert(
        "settings".into(),
        if schema.settings.is_null() {
            Value::Object(Map::new())
        } else {
            schema.settings.clone()
        },
    );
    m.insert(
        "normalizers".into(),
        if schema.normalizers.is_null() {
            default_normalizers()
        } else {
            schema.normalizers.clone()
        },
    );
    if mode == Mode::Stored {
        m.insert(
            "previous_hashes".into(),
            Value::Array(
                schema
                    .previous_hashes
                    .iter()
                    .map(|h| Value::String(h.clone()))
                    .collect(),
            ),
        );
    }
    for (k, v) in &schema.extra {
        if m.contains_key(k) || (mode == Mode::Hash && is_hash_excluded(k)) {
            continue;
        }
        m.insert(k.clone(), v.clone());
    }
    m
}

/// Top-level keys that dlt's version hash leaves out.
fn is_hash_excluded(key: &str) -> bool {
    matches!(
        key,
        "version" | "version_hash" | "imported_version_hash" | "previous_hashes"
    )
}

/// One table as dlt's dict, keyed `name` in the schema.
pub fn table_to_json(name: &str, table: &Table) -> Value {
    Value::Object(table_map(name, table, Mode::Stored))
}

/// One column as dlt's dict, keyed `name` in its table.
pub fn column_to_json(name: &str, column: &Column) -> Value {
    Value::Object(column_map(name, column, Mode::Stored))
}

fn opt_str(v: &Option<String>) -> Slot {
    match v {
        Some(s) => Slot::Set(Value::String(s.clone())),
        None => Slot::Default(None),
    }
}

fn flag(v: bool) -> Slot {
    if v {
        Slot::Set(Value::Bool(true))
    } else {
        Slot::Default(Some(Value::Bool(false)))
    }
}

fn column_slot(name: &str, c: &Column, key: &str) -> Slot {
    match key {
        "name" => Slot::Default(Some(Value::String(name.to_string()))),
        "data_type" => match c.data_type {
            Some(t) => Slot::Set(Value::String(t.as_str().to_string())),
            None => Slot::Default(None),
        },
        "nullable" => {
            if c.nullable {
                Slot::Default(Some(Value::Bool(true)))
            } else {
                Slot::Set(Value::Bool(false))
            }
        }
        "primary_key" => flag(c.primary_key),
        "merge_key" => flag(c.merge_key),
        "unique" => flag(c.unique),
        "row_key" => flag(c.row_key),
        "parent_key" => flag(c.parent_key),
        "root_key" => flag(c.root_key),
        "variant" => flag(c.variant),
        "hard_delete" => flag(c.hard_delete),
        "dedup_sort" => opt_str(&c.dedup_sort),
        "precision" => match c.precision {
            Some(p) => Slot::Set(Value::from(p)),
            None => Slot::Default(None),
        },
        "scale" => match c.scale {
            Some(p) => Slot::Set(Value::from(p)),
            None => Slot::Default(None),
        },
        "timezone" => match c.timezone {
            Some(b) => Slot::Set(Value::Bool(b)),
            None => Slot::Default(None),
        },
        "description" => opt_str(&c.description),
        _ => Slot::Untyped,
    }
}

fn table_slot(name: &str, t: &Table, key: &str, mode: Mode) -> Slot {
    match key {
        "name" => Slot::Default(Some(Value::String(name.to_string()))),
        "columns" => {
            let mut cols = Map::new();
            for (cn, c) in &t.columns {
                cols.insert(cn.clone(), Value::Object(column_map(cn, c, mode)));
            }
            Slot::Set(Value::Object(cols))
        }
        "write_disposition" => match t.write_disposition {
            Some(wd) => Slot::Set(Value::String(wd.as_str().to_string())),
            None => Slot::Default(None),
        },
        "parent" => opt_str(&t.parent),
        "resource" => opt_str(&t.resource),
        "description" => opt_str(&t.description),
        _ => Slot::Untyped,
    }
}

/// Writes a dict from typed slots, extras and the recorded (or canonical) key order.
///
/// `always` names the typed keys written even at their default in canonical order.
fn emit(
    order: Option<&[String]>,
    typed_keys: &[&str],
    always: &[&str],
    extra: &IndexMap<String, Value>,
    slot: &dyn Fn(&str) -> Slot,
) -> Map<String, Value> {
    let mut m = Map::new();
    match order {
        Some(keys) => {
            for k in keys {
                if m.contains_key(k.as_str()) {
                    continue;
                }
                let v = match slot(k) {
                    Slot::Set(v) => Some(v),
                    Slot::Default(d) => extra.get(k.as_str()).cloned().or(d),
                    Slot::Untyped => extra.get(k.as_str()).cloned(),
                };
                if let Some(v) = v {
                    m.insert(k.clone(), v);
                }
            }
            for k in typed_keys {
                if m.contains_key(*k) {
                    continue;
                }
                if let Slot::Set(v) = slot(k) {
                    m.insert((*k).to_string(), v);
                }
            }
        }
        None => {
            for k in typed_keys {
                let v = match slot(k) {
                    Slot::Set(v) => Some(v),
                    Slot::Default(d) if always.contains(k) => d,
                    Slot::Default(_) | Slot::Untyped => extra.get(*k).cloned(),
                };
                if let Some(v) = v {
                    m.insert((*k).to_string(), v);
                }
            }
        }
    }
    for (k, v) in extra {
        if !m.contains_key(k.as_str()) {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

fn column_map(name: &str, c: &Column, mode: Mode) -> Map<String, Value> {
    let mut m = emit(
        c.key_order.keys(),
        &COLUMN_KEYS,
        &["name", "nullable"],
        &c.extra,
        &|k| column_slot(name, c, k),
    );
    if mode == Mode::Hash {
        m.insert("name".into(), Value::String(name.to_string()));
    }
    m
}

fn table_map(name: &str, t: &Table, mode: Mode) -> Map<String, Value> {
    let mut m = emit(t.key_order.keys(), &TABLE_KEYS, &["name"], &t.extra, &|k| {
        table_slot(name, t, k, mode)
    });
    if mode == Mode::Hash {
        // dlt's `apply_defaults`, run on every schema it loads
        m.insert("name".into(), Value::String(name.to_string()));
        let is_nested = m.get("parent").is_some_and(|p| !p.is_null());
        if !is_nested {
            if m.get("write_disposition").is_none_or(Value::is_null) {
                m.insert("write_disposition".into(), Value::String("append".into()));
            }
            if m.get("resource").is_none_or(Value::is_null) {
                m.insert("resource".into(), Value::String(name.to_string()));
            }
        }
    }
    m
}

// ---------------------------------------------------------------------------------------------
// Version hash
// ---------------------------------------------------------------------------------------------

/// dlt's `generate_version_hash` of the schema content, byte for byte (standard base64 with
/// padding, 44 characters).
pub fn version_hash(schema: &Schema) -> String {
    let content = Value::Object(schema_map(schema, Mode::Hash));
    let mut h = Sha3_256::default();
    h.update(crate::pycompat::json::dumps_sorted(&content).as_bytes());
    let mut names: Vec<&String> = schema.tables.keys().collect();
    names.sort();
    for tn in names {
        h.update(tn.as_bytes());
        if let Some(t) = schema.tables.get(tn.as_str()) {
            for cn in t.columns.keys() {
                h.update(cn.as_bytes());
            }
        }
    }
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

// ---------------------------------------------------------------------------------------------
// From JSON
// ---------------------------------------------------------------------------------------------

mod parse;
pub use parse::{column_from_json, from_json, table_from_json};

#[cfg(test)]
mod tests;

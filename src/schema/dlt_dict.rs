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

use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use sha3::{Digest, Sha3_256};

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
    let content = sorted_keys(&Value::Object(schema_map(schema, Mode::Hash)));
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    let mut h = Sha3_256::new();
    h.update(&bytes);
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

/// A copy of `v` with every object's keys sorted (orjson `OPT_SORT_KEYS`).
fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// From JSON
// ---------------------------------------------------------------------------------------------

/// The JSON kind of a value, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a schema from dlt's dict (`to_dict()`, with or without defaults removed). Keys are
/// checked for type; unknown keys are kept verbatim. Only engine version 11 is accepted.
pub fn from_json(v: &Value) -> Result<Schema, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("schema: expected an object, got {}", kind(v)))?;
    let mut version = None;
    let mut version_hash = None;
    let mut engine_version = None;
    let mut name = None;
    let mut tables = None;
    let mut settings = Value::Object(Map::new());
    let mut normalizers = default_normalizers();
    let mut previous_hashes = Vec::new();
    let mut extra = IndexMap::new();
    for (k, val) in obj {
        match k.as_str() {
            "version" => {
                version = Some(val.as_i64().ok_or_else(|| {
                    format!("schema: `version` must be an integer, got {}", kind(val))
                })?)
            }
            "version_hash" => {
                version_hash = Some(
                    val.as_str()
                        .ok_or_else(|| {
                            format!("schema: `version_hash` must be a string, got {}", kind(val))
                        })?
                        .to_string(),
                )
            }
            "engine_version" => engine_version = Some(val),
            "name" => {
                name = Some(
                    val.as_str()
                        .ok_or_else(|| {
                            format!("schema: `name` must be a string, got {}", kind(val))
                        })?
                        .to_string(),
                )
            }
            "tables" => {
                let tobj = val.as_object().ok_or_else(|| {
                    format!("schema: `tables` must be an object, got {}", kind(val))
                })?;
                let mut ts = IndexMap::new();
                for (tn, tv) in tobj {
                    ts.insert(tn.clone(), table_from_json(tn, tv)?);
                }
                tables = Some(ts);
            }
            "settings" => match val {
                Value::Object(_) => settings = val.clone(),
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `settings` must be an object, got {}",
                        kind(val)
                    ));
                }
            },
            "normalizers" => match val {
                Value::Object(_) => normalizers = val.clone(),
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `normalizers` must be an object, got {}",
                        kind(val)
                    ));
                }
            },
            "previous_hashes" => match val {
                Value::Array(a) => {
                    for h in a {
                        previous_hashes.push(
                            h.as_str()
                                .ok_or_else(|| {
                                    format!(
                                        "schema: `previous_hashes` must hold strings, got {}",
                                        kind(h)
                                    )
                                })?
                                .to_string(),
                        );
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `previous_hashes` must be an array, got {}",
                        kind(val)
                    ));
                }
            },
            _ => {
                extra.insert(k.clone(), val.clone());
            }
        }
    }
    match engine_version {
        None => return Err("schema: missing `engine_version`".into()),
        Some(ev) if ev.as_i64() != Some(SCHEMA_ENGINE_VERSION) => {
            return Err(format!(
                "schema: unsupported `engine_version` {ev} (only {SCHEMA_ENGINE_VERSION} is read; \
                 let dlt 1.31 migrate the schema first)"
            ));
        }
        Some(_) => {}
    }
    Ok(Schema {
        name: name.ok_or("schema: missing `name`")?,
        version: version.ok_or("schema: missing `version`")?,
        version_hash: version_hash.ok_or("schema: missing `version_hash`")?,
        previous_hashes,
        tables: tables.ok_or("schema: missing `tables`")?,
        settings,
        normalizers,
        extra,
    })
}

/// Reads a string-or-null key: `Ok(Some)` for a string, `Ok(None)` for null (kept in extra by the
/// caller), an error otherwise.
fn opt_string(ctx: &str, key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        _ => Err(format!("{ctx}: `{key}` must be a string, got {}", kind(v))),
    }
}

/// Reads a bool-or-null key, like [`opt_string`].
fn opt_bool(ctx: &str, key: &str, v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        _ => Err(format!("{ctx}: `{key}` must be a boolean, got {}", kind(v))),
    }
}

/// Reads one table of dlt's dict, keyed `name` in `tables`.
pub fn table_from_json(name: &str, v: &Value) -> Result<Table, String> {
    let ctx = format!("table `{name}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{ctx}: expected an object, got {}", kind(v)))?;
    let mut t = Table::new(name);
    let mut order = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        order.push(k.clone());
        let keep = match k.as_str() {
            "name" => {
                opt_string(&ctx, k, val)?;
                false
            }
            "columns" => {
                let cobj = val.as_object().ok_or_else(|| {
                    format!("{ctx}: `columns` must be an object, got {}", kind(val))
                })?;
                for (cn, cv) in cobj {
                    t.columns
                        .insert(cn.clone(), column_from_json(name, cn, cv)?);
                }
                false
            }
            "write_disposition" => match val.as_str().map(|s| (s, parse_write_disposition(s))) {
                Some((_, Some(wd))) => {
                    t.write_disposition = Some(wd);
                    false
                }
                Some((_, None)) => true,
                None => opt_string(&ctx, k, val)?.is_none(),
            },
            "parent" => set_opt(&mut t.parent, opt_string(&ctx, k, val)?),
            "resource" => set_opt(&mut t.resource, opt_string(&ctx, k, val)?),
            "description" => set_opt(&mut t.description, opt_string(&ctx, k, val)?),
            _ => true,
        };
        if keep {
            t.extra.insert(k.clone(), val.clone());
        }
    }
    t.key_order = KeyOrder(Some(order));
    Ok(t)
}

/// Stores `Some` in a typed field; returns whether the raw value (a `null`) belongs in `extra`.
fn set_opt<T>(field: &mut Option<T>, v: Option<T>) -> bool {
    match v {
        Some(v) => {
            *field = Some(v);
            false
        }
        None => true,
    }
}

/// Stores a read bool in a flag; returns whether the raw value (a `null`) belongs in `extra`.
fn set_flag(field: &mut bool, v: Option<bool>) -> bool {
    match v {
        Some(b) => {
            *field = b;
            false
        }
        None => true,
    }
}

/// `append` / `replace` / `merge`; other dispositions (`skip`) have no typed form.
fn parse_write_disposition(s: &str) -> Option<WriteDisposition> {
    match s {
        "append" => Some(WriteDisposition::Append),
        "replace" => Some(WriteDisposition::Replace),
        "merge" => Some(WriteDisposition::Merge),
        _ => None,
    }
}

/// Reads one column of dlt's dict, keyed `name` in table `table`. A missing `nullable` means
/// nullable, as in dlt; the legacy type `complex` is read as `json`.
pub fn column_from_json(table: &str, name: &str, v: &Value) -> Result<Column, String> {
    let ctx = format!("table `{table}` column `{name}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{ctx}: expected an object, got {}", kind(v)))?;
    let mut c = Column {
        name: name.to_string(),
        nullable: true,
        ..Column::default()
    };
    let mut order = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        order.push(k.clone());
        let keep = match k.as_str() {
            "name" => {
                opt_string(&ctx, k, val)?;
                false
            }
            "data_type" => match opt_string(&ctx, k, val)? {
                Some(s) => {
                    c.data_type = Some(
                        DataType::parse(&s)
                            .ok_or_else(|| format!("{ctx}: unknown `data_type` `{s}`"))?,
                    );
                    false
                }
                None => true,
            },
            "nullable" => set_flag(&mut c.nullable, opt_bool(&ctx, k, val)?),
            "primary_key" => set_flag(&mut c.primary_key, opt_bool(&ctx, k, val)?),
            "merge_key" => set_flag(&mut c.merge_key, opt_bool(&ctx, k, val)?),
            "unique" => set_flag(&mut c.unique, opt_bool(&ctx, k, val)?),
            "row_key" => set_flag(&mut c.row_key, opt_bool(&ctx, k, val)?),
            "parent_key" => set_flag(&mut c.parent_key, opt_bool(&ctx, k, val)?),
            "root_key" => set_flag(&mut c.root_key, opt_bool(&ctx, k, val)?),
            "variant" => set_flag(&mut c.variant, opt_bool(&ctx, k, val)?),
            "hard_delete" => set_flag(&mut c.hard_delete, opt_bool(&ctx, k, val)?),
            "timezone" => set_opt(&mut c.timezone, opt_bool(&ctx, k, val)?),
            "description" => set_opt(&mut c.description, opt_string(&ctx, k, val)?),
            // dlt allows `false` here (no dedup sort): keep non-strings verbatim
            "dedup_sort" => match val {
                Value::String(s) => set_opt(&mut c.dedup_sort, Some(s.clone())),
                _ => true,
            },
            "precision" | "scale" => {
                let n = match val {
                    Value::Null => None,
                    _ => Some(
                        val.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                format!(
                                    "{ctx}: `{k}` must be a small non-negative integer, got {val}"
                                )
                            })?,
                    ),
                };
                if k == "precision" {
                    set_opt(&mut c.precision, n)
                } else {
                    set_opt(&mut c.scale, n)
                }
            }
            _ => true,
        };
        if keep {
            c.extra.insert(k.clone(), val.clone());
        }
    }
    c.key_order = KeyOrder(Some(order));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: &str = include_str!("../../tests/fixtures/schema/stored_schema.json");
    const STORED_PRETTY: &str =
        include_str!("../../tests/fixtures/schema/stored_schema.pretty.json");
    const NO_DEFAULTS: &str =
        include_str!("../../tests/fixtures/schema/pipeline_schema_no_defaults.json");
    const VERSION_ROW: &str = include_str!("../../tests/fixtures/schema/dlt_version_row.json");
    const VERSION_SCHEMA: &str =
        include_str!("../../tests/fixtures/schema/dlt_version_schema.compact.json");
    const FRESH: &str = include_str!("../../tests/fixtures/schema/fresh_schema.json");
    const FRESH_PRETTY: &str = include_str!("../../tests/fixtures/schema/fresh_schema.pretty.json");
    const FRESH_COMPACT: &str =
        include_str!("../../tests/fixtures/schema/fresh_schema.compact.json");

    const EDGE_COMPACT: &str = include_str!("../../tests/fixtures/schema/edge_schema.compact.json");

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("fixture is JSON")
    }

    /// Compares as text so key order counts.
    fn assert_same(a: &Value, b: &Value) {
        assert_eq!(
            serde_json::to_string_pretty(a).unwrap(),
            serde_json::to_string_pretty(b).unwrap()
        );
    }

    #[test]
    fn stored_schema_round_trips_with_key_order() {
        let dlt = parse(STORED);
        let schema = from_json(&dlt).unwrap();
        assert_same(&to_json(&schema), &dlt);
        assert_eq!(to_json_string_pretty(&schema), STORED_PRETTY);
    }

    #[test]
    fn version_hash_matches_dlt() {
        let schema = from_json(&parse(STORED)).unwrap();
        let row = parse(VERSION_ROW);
        assert_eq!(version_hash(&schema), schema.version_hash);
        assert_eq!(
            Some(schema.version_hash.as_str()),
            row["version_hash"].as_str()
        );
        assert_eq!(Some(schema.version), row["version"].as_i64());
        let mut again = schema.clone();
        assert!(!again.bump_version());
    }

    #[test]
    fn compact_string_is_dlt_version_schema() {
        let schema = from_json(&parse(VERSION_SCHEMA)).unwrap();
        assert_eq!(to_json_string_compact(&schema), VERSION_SCHEMA);
        let stored = from_json(&parse(STORED)).unwrap();
        assert_eq!(to_json_string_compact(&stored), VERSION_SCHEMA);
    }

    #[test]
    fn export_form_without_names_round_trips_and_hashes_the_same() {
        let dlt = parse(NO_DEFAULTS);
        let schema = from_json(&dlt).unwrap();
        assert_same(&to_json(&schema), &dlt);
        assert_eq!(version_hash(&schema), schema.version_hash);
        assert_eq!(schema, from_json(&parse(STORED)).unwrap());
    }

    #[test]
    fn new_schema_is_dlt_fresh_schema() {
        let fresh = new_schema("x");
        assert_same(&to_json(&fresh), &parse(FRESH));
        assert_eq!(to_json_string_pretty(&fresh), FRESH_PRETTY);
        assert_eq!(to_json_string_compact(&fresh), FRESH_COMPACT);
        assert_eq!(fresh.version, 1);
        assert_eq!(
            fresh.version_hash,
            "EXjV++XaDVaW3hBQfQlYfYzPzek5EXlsSaX1iwv6l+I="
        );
    }

    #[test]
    fn edge_cases_round_trip_and_hash_like_dlt() {
        let schema = from_json(&parse(EDGE_COMPACT)).unwrap();
        assert_eq!(to_json_string_compact(&schema), EDGE_COMPACT);
        assert_eq!(version_hash(&schema), schema.version_hash);
        assert_eq!(schema.version, 2);
        let events = schema.table("events").unwrap();
        assert_eq!(events.write_disposition, Some(WriteDisposition::Merge));
        assert_eq!(events.columns["amount"].scale, Some(9));
        assert_eq!(events.columns["ts"].timezone, Some(false));
        assert!(
            events.columns["hint_only"].merge_key && !events.columns["hint_only"].is_complete()
        );
        assert_eq!(
            schema.table("events__items").unwrap().parent.as_deref(),
            Some("events")
        );
        assert_eq!(schema.extra["description"], "Schéma ☕");
    }

    #[test]
    fn pipeline_state_table_is_as_dlt_stores_it() {
        let dlt = parse(STORED);
        assert_same(
            &table_to_json(STATE_TABLE, &pipeline_state_table()),
            &dlt["tables"][STATE_TABLE],
        );
    }

    #[test]
    fn rust_made_tables_use_canonical_order() {
        let mut t = Table::new("t");
        t.write_disposition = Some(WriteDisposition::Append);
        t.resource = Some("t".into());
        let mut id = Column::new("id", DataType::Bigint);
        id.primary_key = true;
        id.nullable = false;
        t.columns.insert("id".into(), id);
        let mut v = Column::new("a__v_text", DataType::Text);
        v.variant = true;
        v.description = Some("Variant of column a__v_text generated by dlt".into());
        t.columns.insert("a__v_text".into(), v);
        assert_eq!(
            serde_json::to_string(&table_to_json("t", &t)).unwrap(),
            r#"{"name":"t","columns":{"id":{"name":"id","data_type":"bigint","nullable":false,"primary_key":true},"a__v_text":{"name":"a__v_text","data_type":"text","nullable":true,"variant":true,"description":"Variant of column a__v_text generated by dlt"}},"write_disposition":"append","resource":"t"}"#
        );
    }

    #[test]
    fn explicit_defaults_nulls_and_unknown_keys_survive() {
        let col = serde_json::json!({
            "name": "c", "nullable": null, "primary_key": false, "x-foo": {"a": 1.50},
            "data_type": "decimal", "precision": 38, "scale": null, "dedup_sort": false
        });
        let c = column_from_json("t", "c", &col).unwrap();
        assert!(c.nullable && !c.primary_key && c.precision == Some(38) && c.scale.is_none());
        assert_same(&column_to_json("c", &c), &col);
        // a hint set later is appended
        let mut c2 = c.clone();
        c2.unique = true;
        let out = column_to_json("c", &c2);
        assert_eq!(
            out.as_object().unwrap().keys().next_back().unwrap(),
            "unique"
        );
        // incomplete column without nullable stays so
        let inc = serde_json::json!({"name": "k", "primary_key": true});
        assert_same(
            &column_to_json("k", &column_from_json("t", "k", &inc).unwrap()),
            &inc,
        );
    }

    #[test]
    fn hash_changes_with_column_order_and_content() {
        let base = new_schema("x");
        let mut reordered = base.clone();
        if let Some(t) = reordered.table_mut(VERSION_TABLE) {
            t.columns.swap_indices(0, 1);
        }
        assert_ne!(version_hash(&base), version_hash(&reordered));
        let mut bumped = base.clone();
        bumped.tables.insert("t".into(), Table::new("t"));
        assert!(bumped.bump_version());
        assert_eq!(bumped.version, 2);
        assert_eq!(bumped.previous_hashes, vec![base.version_hash.clone()]);
    }

    #[test]
    fn bad_input_gives_errors_not_panics() {
        let bad = [
            serde_json::json!(null),
            serde_json::json!([]),
            serde_json::json!({"name": "x"}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 9, "name": "x", "tables": {}}),
            serde_json::json!({"version": "1", "version_hash": "h", "engine_version": 11, "name": "x", "tables": {}}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11, "name": "x", "tables": {"t": 1}}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11, "name": "x", "tables": {"t": {"columns": {"c": {"data_type": "blob"}}}}}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11, "name": "x", "tables": {"t": {"columns": {"c": {"precision": -1}}}}}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11, "name": "x", "tables": {"t": {"columns": {"c": {"nullable": "no"}}}}}),
            serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11, "name": "x", "tables": {"t": {"columns": []}}}),
        ];
        for b in &bad {
            let err = from_json(b).unwrap_err();
            assert!(!err.is_empty());
        }
        let msg = from_json(&bad[6]).unwrap_err();
        assert!(
            msg.contains("table `t` column `c`") && msg.contains("blob"),
            "{msg}"
        );
    }

    #[test]
    fn minimal_schema_gets_defaults_and_dlt_hash_rules() {
        let v = serde_json::json!({"version": 1, "version_hash": "h", "engine_version": 11,
            "name": "x", "tables": {"t": {"columns": {}}}});
        let s = from_json(&v).unwrap();
        assert_eq!(s.settings, serde_json::json!({}));
        assert_eq!(s.normalizers, default_normalizers());
        let mut with_defaults = s.clone();
        if let Some(t) = with_defaults.table_mut("t") {
            t.write_disposition = Some(WriteDisposition::Append);
            t.resource = Some("t".into());
        }
        assert_eq!(version_hash(&s), version_hash(&with_defaults));
    }
}

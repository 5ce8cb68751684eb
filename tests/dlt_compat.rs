//! dlt compatibility test: `dango sync` must build the same warehouse as dlt 1.31.0.
//!
//! Fixture: `tests/fixtures/dlt_compat/` (see its README.md). `expected.json` was produced by
//! `generate.py`, which ran dlt on `input.jsonl` and dumped DuckDB schema `raw_compat` in a
//! canonical form. This test syncs the same file with dango, dumps `data/warehouse.duckdb`
//! with the *same* algorithm and compares table by table.
//!
//! Canonical dump (mirrors `generate.py`; keep the two in sync):
//! 1. Tables of `information_schema.tables` with `table_schema = 'raw_compat'` and
//!    `table_type = 'BASE TABLE'`, sorted by name. `_dlt_*` tables: columns only.
//! 2. Columns from `information_schema.columns` by `ordinal_position`:
//!    `{name, type: data_type verbatim, nullable: is_nullable = 'YES'}`.
//! 3. Rows: `SELECT CAST(to_json(struct_pack("c" := e, ...)) AS VARCHAR),
//!    CAST(to_json(struct_pack(<non-_dlt_ columns only>)) AS VARCHAR) FROM "raw_compat"."t"`,
//!    `e = epoch_us("c")` for `TIMESTAMP*` types, else `"c"`; `'{}'` if there are no
//!    non-`_dlt_` columns. The first text is the row, the second its content key.
//! 4. Labels: a table without `_dlt_parent_id` is a root table; its rows sorted by content key
//!    (byte order) get labels `r0`, `r1`, ...; a nested row gets
//!    `"{parent label}.{_dlt_list_idx}"`. Tables are labelled in name order.
//! 5. `_dlt_id`/`_dlt_parent_id`/`_dlt_root_id` are replaced with labels, `_dlt_load_id` with
//!    `"<load_id>"`; rows are ordered by label as an integer tuple.
//!
//! Numbers are compared numerically (DuckDB prints `1e-7`, Python `1e-07`).
//!
//! `dlt_schema.json` holds dlt's stored schema, the `_dlt_version`, `_dlt_pipeline_state` and
//! `_dlt_loads` rows: dango's must be the same (schema and its version hash, state and its
//! hash).
//!
//! With a Python with dlt (`DANGO_TEST_PYTHON`, see `tests/it/services.rs`; always in CI), the
//! live test runs `generate.py` and checks that dlt still writes the stored fixtures, that the
//! Rust dump of dlt's own warehouse equals `expected.json`, and dango's output against it.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use duckdb::{AccessMode, Config, Connection};
use serde_json::{Map, Value};

#[path = "it/hermetic.rs"]
mod hermetic;
#[path = "it/services.rs"]
mod services;

const DATASET: &str = "raw_compat";
const MAX_REPORTED: usize = 200;

const SOURCES_YML: &str = r#"version: "1.0"
sources:
  - name: compat
    type: local_files
    local_files:
      directory: input
      file_pattern: "*.jsonl"
      table_name: items
"#;

#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    ty: String,
    nullable: bool,
}

#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// `None` for `_dlt_*` system tables (only their columns are compared).
    rows: Option<Vec<Map<String, Value>>>,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dlt_compat")
}

// ------------------------------------------------------------------ canonical dump ---

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn value_expr(col: &Column) -> String {
    if col.ty.to_ascii_uppercase().starts_with("TIMESTAMP") {
        format!("epoch_us({})", quote_ident(&col.name))
    } else {
        quote_ident(&col.name)
    }
}

fn struct_json(cols: &[&Column]) -> String {
    if cols.is_empty() {
        return "'{}'".to_string();
    }
    let fields: Vec<String> = cols
        .iter()
        .map(|c| format!("{} := {}", quote_ident(&c.name), value_expr(c)))
        .collect();
    format!(
        "CAST(to_json(struct_pack({})) AS VARCHAR)",
        fields.join(", ")
    )
}

/// dlt's tables of `schema` (dango's own `_dango_*` tables, like the sync history, are not part
/// of dlt's layout).
fn list_tables(con: &Connection, schema: &str) -> Vec<String> {
    let mut stmt = con
        .prepare(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' \
             AND NOT starts_with(table_name, '_dango_')",
        )
        .unwrap();
    let mut names: Vec<String> = stmt
        .query_map([schema], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names.sort();
    names
}

fn list_columns(con: &Connection, schema: &str, table: &str) -> Vec<Column> {
    let mut stmt = con
        .prepare(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .unwrap();
    stmt.query_map([schema, table], |r| {
        Ok(Column {
            name: r.get(0)?,
            ty: r.get(1)?,
            nullable: r.get::<_, String>(2)? == "YES",
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// "r3.0.12" -> (false, [3, 0, 12]); anything unparsable sorts last.
fn label_key(label: &str) -> (bool, Vec<u64>, String) {
    let parsed: Option<Vec<u64>> = label
        .strip_prefix('r')
        .and_then(|rest| rest.split('.').map(|p| p.parse().ok()).collect());
    match parsed {
        Some(v) => (false, v, String::new()),
        None => (true, Vec::new(), label.to_string()),
    }
}

fn str_field<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

fn canonical_dump(con: &Connection, schema: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut labels: HashMap<String, String> = HashMap::new(); // _dlt_id -> label
    for name in list_tables(con, schema) {
        let columns = list_columns(con, schema, &name);
        if name.starts_with("_dlt_") {
            tables.push(Table {
                name,
                columns,
                rows: None,
            });
            continue;
        }
        let all: Vec<&Column> = columns.iter().collect();
        let data: Vec<&Column> = columns
            .iter()
            .filter(|c| !c.name.starts_with("_dlt_"))
            .collect();
        let sql = format!(
            "SELECT {}, {} FROM {}.{}",
            struct_json(&all),
            struct_json(&data),
            quote_ident(schema),
            quote_ident(&name)
        );
        let mut stmt = con
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("dump query failed for {name}: {e}\n{sql}"));
        let mut raw: Vec<(Map<String, Value>, String)> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|res| {
                let (row, key) = res.unwrap();
                let row: Map<String, Value> = serde_json::from_str(&row)
                    .unwrap_or_else(|e| panic!("row of {name} is not a JSON object ({e}): {row}"));
                (row, key)
            })
            .collect();

        let nested = columns.iter().any(|c| c.name == "_dlt_parent_id");
        if !nested {
            raw.sort_by(|a, b| a.1.cmp(&b.1));
            for (i, (row, _)) in raw.iter().enumerate() {
                if let Some(id) = str_field(row, "_dlt_id") {
                    labels.insert(id.to_string(), format!("r{i}"));
                }
            }
        } else {
            for (row, _) in &raw {
                let parent = match str_field(row, "_dlt_parent_id") {
                    Some(pid) => labels
                        .get(pid)
                        .cloned()
                        .unwrap_or_else(|| format!("?orphan({pid})")),
                    None => "?no_parent".to_string(),
                };
                let idx = row
                    .get("_dlt_list_idx")
                    .map(Value::to_string)
                    .unwrap_or_default();
                if let Some(id) = str_field(row, "_dlt_id") {
                    labels.insert(id.to_string(), format!("{parent}.{idx}"));
                }
            }
        }

        let mut rows: Vec<Map<String, Value>> = raw
            .into_iter()
            .map(|(mut row, _)| {
                for key in ["_dlt_id", "_dlt_parent_id", "_dlt_root_id"] {
                    if let Some(Value::String(id)) = row.get(key) {
                        let label = labels
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("?unknown({id})"));
                        row.insert(key.to_string(), Value::String(label));
                    }
                }
                if row.contains_key("_dlt_load_id") {
                    row.insert("_dlt_load_id".into(), Value::String("<load_id>".into()));
                }
                row
            })
            .collect();
        rows.sort_by_key(|r| label_key(str_field(r, "_dlt_id").unwrap_or("")));
        tables.push(Table {
            name,
            columns,
            rows: Some(rows),
        });
    }
    tables
}

fn open_read_only(path: &Path) -> Connection {
    let config = Config::default().access_mode(AccessMode::ReadOnly).unwrap();
    Connection::open_with_flags(path, config)
        .unwrap_or_else(|e| panic!("cannot open {} read-only: {e}", path.display()))
}

// ------------------------------------------------------------------ expected.json ---

/// A JSON file.
fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The stored `expected.json`.
fn load_expected() -> Vec<Table> {
    expected_tables(&read_json(&fixture_dir().join("expected.json")))
}

/// The tables of an `expected.json` document.
fn expected_tables(doc: &Value) -> Vec<Table> {
    assert_eq!(
        doc["dataset"], DATASET,
        "expected.json is for another dataset"
    );
    doc["tables"]
        .as_array()
        .expect("tables array")
        .iter()
        .map(|t| Table {
            name: t["name"].as_str().unwrap().to_string(),
            columns: t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| Column {
                    name: c["name"].as_str().unwrap().to_string(),
                    ty: c["type"].as_str().unwrap().to_string(),
                    nullable: c["nullable"].as_bool().unwrap(),
                })
                .collect(),
            rows: t.get("rows").map(|rows| {
                rows.as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_object().unwrap().clone())
                    .collect()
            }),
        })
        .collect()
}

// ------------------------------------------------------------------ comparison ---

/// JSON equality with numbers compared by value (serde_json keeps the literal text here).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn fmt_cols(cols: &[Column]) -> String {
    cols.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns one human-readable line per difference.
fn compare(expected: &[Table], actual: &[Table]) -> Vec<String> {
    let mut diffs = Vec::new();
    let exp_names: Vec<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    let act_names: Vec<&str> = actual.iter().map(|t| t.name.as_str()).collect();
    if exp_names != act_names {
        diffs.push(format!(
            "tables differ:\n    expected: {exp_names:?}\n    actual:   {act_names:?}"
        ));
    }
    for exp in expected {
        let Some(act) = actual.iter().find(|t| t.name == exp.name) else {
            diffs.push(format!("table `{}`: missing", exp.name));
            continue;
        };
        let t = &exp.name;

        // columns: order, then type / nullability per name
        let en: Vec<&str> = exp.columns.iter().map(|c| c.name.as_str()).collect();
        let an: Vec<&str> = act.columns.iter().map(|c| c.name.as_str()).collect();
        if en != an {
            diffs.push(format!(
                "table `{t}`: column names/order differ\n    expected: [{}]\n    actual:   [{}]",
                fmt_cols(&exp.columns),
                fmt_cols(&act.columns)
            ));
            let es: BTreeSet<&str> = en.iter().copied().collect();
            let as_: BTreeSet<&str> = an.iter().copied().collect();
            let missing: Vec<_> = es.difference(&as_).collect();
            let extra: Vec<_> = as_.difference(&es).collect();
            if !missing.is_empty() {
                diffs.push(format!("table `{t}`: missing columns {missing:?}"));
            }
            if !extra.is_empty() {
                diffs.push(format!("table `{t}`: unexpected columns {extra:?}"));
            }
        }
        for ec in &exp.columns {
            if let Some(ac) = act.columns.iter().find(|c| c.name == ec.name) {
                if ec.ty != ac.ty {
                    diffs.push(format!(
                        "table `{t}` column `{}`: type expected {} actual {}",
                        ec.name, ec.ty, ac.ty
                    ));
                }
                if ec.nullable != ac.nullable {
                    diffs.push(format!(
                        "table `{t}` column `{}`: nullable expected {} actual {}",
                        ec.name, ec.nullable, ac.nullable
                    ));
                }
            }
        }

        // rows, matched by canonical label
        let (Some(erows), Some(arows)) = (&exp.rows, &act.rows) else {
            continue;
        };
        if erows.len() != arows.len() {
            diffs.push(format!(
                "table `{t}`: row count expected {} actual {}",
                erows.len(),
                arows.len()
            ));
        }
        let label = |r: &Map<String, Value>| str_field(r, "_dlt_id").unwrap_or("?").to_string();
        let amap: HashMap<String, &Map<String, Value>> =
            arows.iter().map(|r| (label(r), r)).collect();
        let elabels: BTreeSet<String> = erows.iter().map(label).collect();
        for er in erows {
            let l = label(er);
            let Some(ar) = amap.get(&l) else {
                diffs.push(format!(
                    "table `{t}` row {l}: missing; expected {}",
                    Value::Object(er.clone())
                ));
                continue;
            };
            for (col, ev) in er {
                match ar.get(col) {
                    None => {} // reported as a missing column above
                    Some(av) if json_eq(ev, av) => {}
                    Some(av) => diffs.push(format!(
                        "table `{t}` row {l} column `{col}`: expected {ev} actual {av}"
                    )),
                }
            }
            for (col, av) in ar.iter() {
                if !er.contains_key(col) && !av.is_null() {
                    diffs.push(format!(
                        "table `{t}` row {l} column `{col}` (unexpected column): actual {av}"
                    ));
                }
            }
        }
        for ar in arows {
            let l = label(ar);
            if !elabels.contains(&l) {
                diffs.push(format!(
                    "table `{t}` row {l}: unexpected row {}",
                    Value::Object(ar.clone())
                ));
            }
        }
    }
    diffs
}

fn assert_matches(expected: &[Table], source: &str, actual: &[Table], what: &str) {
    report(&compare(expected, actual), source, what);
}

// ------------------------------------------------------------------ schema and state ---

/// One line per JSON path where `act` differs from `exp` (numbers compared by value).
fn json_diffs(path: &str, exp: &Value, act: &Value, out: &mut Vec<String>) {
    match (exp, act) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => json_diffs(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing; expected {ev}")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_diffs(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if json_eq(exp, act) => {}
        _ => out.push(format!("{path}: expected {exp} actual {act}")),
    }
}

/// The [`SCHEMA_DOC_KEYS`] of `dlt_schema.json` as `generate.py` records them, read from a
/// warehouse written by dango and its pipeline working dir.
fn schema_doc(con: &Connection, working_dir: &Path) -> Value {
    let q = |sql: &str| -> Vec<Vec<Value>> {
        let mut stmt = con.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get::<_, duckdb::types::Value>(i)? {
                        duckdb::types::Value::Text(t) => Value::from(t),
                        duckdb::types::Value::BigInt(v) => Value::from(v),
                        duckdb::types::Value::Int(v) => Value::from(v),
                        duckdb::types::Value::Null => Value::Null,
                        other => panic!("{sql}: unexpected value {other:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let ds = quote_ident(DATASET);
    let ver = q(&format!(
        "SELECT version, engine_version, schema_name, version_hash, schema FROM {ds}._dlt_version"
    ));
    let st = q(&format!(
        "SELECT version, engine_version, pipeline_name, version_hash, state FROM {ds}._dlt_pipeline_state"
    ));
    let loads = q(&format!(
        "SELECT schema_name, status, schema_version_hash FROM {ds}._dlt_loads"
    ));
    assert!(
        ver.len() == 1 && st.len() == 1 && loads.len() == 1,
        "one row each expected: {ver:?} {st:?} {loads:?}"
    );
    let (ver, st, loads) = (&ver[0], &st[0], &loads[0]);
    let stored: Value = serde_json::from_str(ver[4].as_str().unwrap()).unwrap();
    let file = working_dir.join("schemas/compat.schema.json");
    // dlt records that `_dlt_version.schema` equals the pipeline's schema; dango's counterpart
    // of the pipeline's schema is the working dir's schema file.
    let file_equals_row = read_json(&file) == stored;
    let state = dango::state::PipelineState::decompress(st[4].as_str().unwrap())
        .expect("the state column decodes");
    serde_json::json!({
        "default_schema_version_hash": stored["version_hash"],
        "dlt_version_row": {
            "version": ver[0], "engine_version": ver[1], "schema_name": ver[2],
            "version_hash": ver[3], "schema_column_equals_to_dict": file_equals_row,
        },
        "dlt_pipeline_state_row": {
            "version": st[0], "engine_version": st[1], "pipeline_name": st[2],
            "version_hash": st[3], "state_decoded_sorted": Value::Object(state.doc().clone()),
        },
        "dlt_loads_row": {
            "schema_name": loads[0], "status": loads[1], "schema_version_hash": loads[2],
        },
        "schema": stored,
    })
}

/// The keys of a `dlt_schema.json` document that describe the warehouse (the others name the
/// generator's versions and inputs).
const SCHEMA_DOC_KEYS: [&str; 5] = [
    "default_schema_version_hash",
    "dlt_version_row",
    "dlt_pipeline_state_row",
    "dlt_loads_row",
    "schema",
];

/// Where dango's schema and state still differ from dlt's (paths of [`json_diffs`]). Each is a
/// bug to fix in dango; the test fails when one of them no longer occurs, so that its line gets
/// deleted here, and on any difference not listed.
/// - dlt creates the (empty) state section of the source it extracts (`sources.compat = {}`),
///   dango does not; so the state's version hash differs too.
/// - dlt's stored schema has two previous hashes at version 2, dango's one (another one).
const KNOWN_DIFFERENCES: [&str; 4] = [
    "dlt_pipeline_state_row.version_hash",
    "dlt_pipeline_state_row.state_decoded_sorted._version_hash",
    "dlt_pipeline_state_row.state_decoded_sorted.sources.compat",
    "schema.previous_hashes",
];

/// Asserts that dango's schema document `actual` differs from dlt's `expected` exactly at the
/// [`KNOWN_DIFFERENCES`].
fn assert_dlt_schema_and_state(expected: &Value, source: &str, actual: &Value) {
    let mut diffs = Vec::new();
    for key in SCHEMA_DOC_KEYS {
        json_diffs(key, &expected[key], &actual[key], &mut diffs);
    }
    let is_known = |diff: &str, known: &str| {
        diff.strip_prefix(known)
            .is_some_and(|rest| rest.starts_with([':', '.', '[']))
    };
    let unknown: Vec<String> = diffs
        .iter()
        .filter(|d| !KNOWN_DIFFERENCES.iter().any(|k| is_known(d, k)))
        .cloned()
        .collect();
    report(&unknown, source, "dango's schema and state");
    let fixed: Vec<&str> = KNOWN_DIFFERENCES
        .into_iter()
        .filter(|k| !diffs.iter().any(|d| is_known(d, k)))
        .collect();
    assert!(
        fixed.is_empty(),
        "dango now matches dlt at {fixed:?}: delete them from KNOWN_DIFFERENCES"
    );
}

/// Panics listing `diffs` unless there are none.
fn report(diffs: &[String], source: &str, what: &str) {
    if diffs.is_empty() {
        return;
    }
    let mut msg = format!(
        "{what} differs from {source} ({} differences):\n",
        diffs.len()
    );
    for d in diffs.iter().take(MAX_REPORTED) {
        let _ = writeln!(msg, "  - {d}");
    }
    if diffs.len() > MAX_REPORTED {
        let _ = writeln!(msg, "  ... {} more", diffs.len() - MAX_REPORTED);
    }
    panic!("{msg}");
}

// ------------------------------------------------------------------ tests ---

/// A project syncing `input.jsonl` as a `local_files` source `compat`.
fn write_project(dir: &Path) {
    fs::create_dir_all(dir.join(".dango")).unwrap();
    fs::write(dir.join(".dango/sources.yml"), SOURCES_YML).unwrap();
    fs::create_dir_all(dir.join("input")).unwrap();
    fs::copy(
        fixture_dir().join("input.jsonl"),
        dir.join("input/input.jsonl"),
    )
    .unwrap();
    fs::create_dir_all(dir.join(".dlt")).unwrap();
    fs::write(dir.join(".dlt/config.toml"), "").unwrap();
    fs::write(dir.join(".dlt/secrets.toml"), "").unwrap();
    fs::create_dir_all(dir.join("data")).unwrap();
}

/// What `dango sync` builds from the sample: the canonical dump and the schema document.
struct DangoRun {
    tables: Vec<Table>,
    schema_doc: Value,
}

fn dango_run() -> DangoRun {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    hermetic::Isolated::new()
        .dango()
        .args(["sync", "-p"])
        .arg(dir)
        .timeout(std::time::Duration::from_secs(300))
        .assert()
        .success();
    let db = dir.join("data/warehouse.duckdb");
    assert!(db.exists(), "sync did not create {}", db.display());
    let con = open_read_only(&db);
    DangoRun {
        tables: canonical_dump(&con, DATASET),
        schema_doc: schema_doc(&con, &dir.join(".dlt/pipelines/compat")),
    }
}

const EXPECTED: &str = "tests/fixtures/dlt_compat/expected.json";
const DLT_SCHEMA: &str = "tests/fixtures/dlt_compat/dlt_schema.json";

#[test]
fn dango_sync_matches_dlt_warehouse() {
    let run = dango_run();
    assert_matches(&load_expected(), EXPECTED, &run.tables, "dango warehouse");
}

#[test]
fn dango_schema_and_state_match_dlt() {
    let run = dango_run();
    let stored = read_json(&fixture_dir().join("dlt_schema.json"));
    assert_dlt_schema_and_state(&stored, DLT_SCHEMA, &run.schema_doc);
}

/// dlt itself (`generate.py` with `DANGO_TEST_PYTHON`): it still writes the stored fixtures,
/// the Rust dump of its warehouse equals its own dump, and dango matches the live output.
#[test]
fn live_dlt_writes_the_fixtures_and_dango_matches_it() {
    let Some(python) =
        services::python("dlt_compat::live_dlt_writes_the_fixtures_and_dango_matches_it")
    else {
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let db = out_dir.path().join("dlt.duckdb");
    let iso = hermetic::Isolated::new();
    let out = iso
        .command(&python)
        .arg(fixture_dir().join("generate.py"))
        .arg("--out-dir")
        .arg(out_dir.path())
        .arg("--keep-db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = read_json(&out_dir.path().join("expected.json"));
    let stored = read_json(&fixture_dir().join("expected.json"));
    for key in ["dlt_version", "duckdb_version", "dataset"] {
        assert_eq!(
            live[key], stored[key],
            "{key} of the live run and {EXPECTED}"
        );
    }
    let live_tables = expected_tables(&live);
    assert_matches(&load_expected(), EXPECTED, &live_tables, "live dlt dump");
    let live_schema = read_json(&out_dir.path().join("dlt_schema.json"));
    let stored_schema = read_json(&fixture_dir().join("dlt_schema.json"));
    let mut diffs = Vec::new();
    json_diffs("", &stored_schema, &live_schema, &mut diffs);
    report(&diffs, DLT_SCHEMA, "live dlt_schema.json");

    let con = open_read_only(&db);
    let rust_dump = canonical_dump(&con, DATASET);
    drop(con);
    assert_matches(
        &live_tables,
        "the live dlt dump",
        &rust_dump,
        "Rust dump of dlt's warehouse",
    );

    let run = dango_run();
    assert_matches(
        &live_tables,
        "the live dlt dump",
        &run.tables,
        "dango warehouse",
    );
    assert_dlt_schema_and_state(&live_schema, "the live dlt schema", &run.schema_doc);
}

#[test]
fn compare_reports_readable_differences() {
    let mut actual = load_expected();
    let items = actual.iter_mut().find(|t| t.name == "items").unwrap();
    items.columns[1].ty = "BIGINT".into();
    let row = &mut items.rows.as_mut().unwrap()[0];
    row.insert("id".into(), Value::from(999));
    let diffs = compare(&load_expected(), &actual);
    assert!(
        diffs
            .iter()
            .any(|d| d.contains("column `user_name`: type expected VARCHAR")),
        "{diffs:?}"
    );
    assert!(
        diffs
            .iter()
            .any(|d| d.contains("row r0 column `id`: expected 1 actual 999")),
        "{diffs:?}"
    );
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    assert!(compare(&load_expected(), &load_expected()).is_empty());
}

#[test]
fn json_diffs_name_the_path() {
    let exp = serde_json::json!({"a": {"b": [1, 2.0], "c": "x"}, "d": 1});
    let act = serde_json::json!({"a": {"b": [1, 3], "e": true}, "d": 1.0});
    let mut diffs = Vec::new();
    json_diffs("", &exp, &act, &mut diffs);
    assert_eq!(
        diffs,
        [
            ".a.b[1]: expected 2.0 actual 3",
            ".a.c: missing; expected \"x\"",
            ".a.e: unexpected true",
        ]
    );
}

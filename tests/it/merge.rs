//! Merge write dispositions against dlt 1.31's own results (`tests/fixtures/dlt_merge/`).
//!
//! Each scenario replays dlt's load sequence through `dango sync` of a `local_files` source with
//! the same hints, and after every load compares each data table with dlt's: column names,
//! DuckDB types and nullability in order, and the rows' non-`_dlt_` values as a multiset.
//! (`_dlt_*` ids are random or hashed; the parent/child structure is checked through the row
//! counts of the nested tables and the values their rows carry.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::util::TestProject;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dlt_merge")
}

/// Renders a hint value as YAML flow (JSON is valid YAML).
fn yaml_hints(hints: &Value) -> String {
    let mut out = String::new();
    for key in ["write_disposition", "primary_key", "merge_key", "columns"] {
        if let Some(v) = hints.get(key) {
            out.push_str(&format!("      {key}: {v}\n"));
        }
    }
    out
}

/// Numbers compare as f64 (DuckDB and Python print them differently).
fn canon(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(canon).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), canon(v))).collect()),
        v => v.clone(),
    }
}

fn data_rows(rows: impl Iterator<Item = serde_json::Map<String, Value>>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .map(|r| {
            let m: BTreeMap<String, Value> = r
                .into_iter()
                .filter(|(k, _)| !k.starts_with("_dlt"))
                .map(|(k, v)| (k, canon(&v)))
                .collect();
            serde_json::to_string(&m).unwrap()
        })
        .collect();
    out.sort();
    out
}

fn run_scenario(name: &str) {
    let dir = fixtures().join(name);
    let resource: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("resource.json")).unwrap()).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("expected").join(format!("{name}.json"))).unwrap(),
    )
    .unwrap();
    let table = resource["table"].as_str().unwrap();
    let dataset = expected["dataset"].as_str().unwrap();
    let p = TestProject::new();
    for (i, load) in expected["loads"].as_array().unwrap().iter().enumerate() {
        let hints = resource["loads"][i]
            .get("hints")
            .unwrap_or(&resource["hints"]);
        let file = load["file"].as_str().unwrap();
        let _ = std::fs::remove_dir_all(p.path().join("input"));
        p.write(
            "input/data.jsonl",
            &std::fs::read_to_string(dir.join(file)).unwrap(),
        );
        p.local_source(
            name,
            "input",
            "*.jsonl",
            &format!("      table_name: {table}\n{}", yaml_hints(hints)),
        );
        p.dango().arg("sync").assert().success();

        for t in load["tables"].as_array().unwrap() {
            let tname = t["name"].as_str().unwrap();
            if tname.starts_with("_dlt") {
                continue;
            }
            let want_cols: Vec<(String, String, String)> = t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_string(),
                        c["type"].as_str().unwrap().to_string(),
                        if c["nullable"].as_bool().unwrap() {
                            "YES".to_string()
                        } else {
                            "NO".to_string()
                        },
                    )
                })
                .collect();
            let got_cols = p.columns(dataset, tname);
            let mut want_sorted = want_cols.clone();
            let mut got_sorted = got_cols.clone();
            want_sorted.sort();
            got_sorted.sort();
            assert_eq!(
                got_sorted,
                want_sorted,
                "{name} load {}: columns of {tname}",
                i + 1
            );
            let want = data_rows(
                t["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_object().unwrap().clone()),
            );
            let cols: Vec<String> = got_cols
                .iter()
                .filter(|c| !c.0.starts_with("_dlt"))
                .map(|c| format!("\"{0}\" := \"{0}\"", c.0))
                .collect();
            let sql = format!(
                "SELECT CAST(to_json(struct_pack({})) AS VARCHAR) FROM \"{dataset}\".\"{tname}\"",
                cols.join(", ")
            );
            let got = data_rows(p.query(&sql).into_iter().map(|r| {
                serde_json::from_str::<Value>(r[0].as_deref().unwrap())
                    .unwrap()
                    .as_object()
                    .unwrap()
                    .clone()
            }));
            assert_eq!(got, want, "{name} load {}: rows of {tname}", i + 1);
        }
    }
}

#[test]
fn delete_insert_with_nested_lists_matches_dlt() {
    run_scenario("delete_insert_nested");
}

#[test]
fn delete_insert_merge_keys_match_dlt() {
    run_scenario("delete_insert_merge_key");
    run_scenario("delete_insert_pk_merge_key");
}

#[test]
fn delete_insert_dedup_sort_matches_dlt() {
    run_scenario("delete_insert_dups_sort_desc");
    run_scenario("delete_insert_dups_sort_asc");
}

#[test]
fn hard_delete_matches_dlt() {
    run_scenario("hard_delete_bool");
    run_scenario("hard_delete_timestamp");
}

#[test]
fn upsert_matches_dlt() {
    run_scenario("upsert");
}

#[test]
fn insert_only_matches_dlt() {
    run_scenario("insert_only");
}

#[test]
fn merge_without_keys_appends_like_dlt() {
    run_scenario("no_key_merge");
}

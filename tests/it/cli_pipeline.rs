//! `dango pipeline list | <name> info | show | trace | schema | load-package | failed-jobs`.

use crate::cli_common::{local, sources, stderr, stdout};
use crate::util::{TestProject, orders_jsonl};

fn synced() -> TestProject {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(30, 1));
    sources(
        &p,
        &[
            local("shop", "input", "      table_name: orders\n"),
            local("later", "input", ""),
        ],
    );
    p.dango().args(["sync", "shop"]).assert().success();
    p
}

fn run_json(p: &TestProject, args: &[&str]) -> serde_json::Value {
    let out = p.dango().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn list_and_not_found() {
    let p = synced();
    let o = stdout(&p.dango().args(["pipeline", "list"]).output().unwrap());
    assert!(
        o.contains("1 pipelines found in") && o.contains("shop (last run:") && o.contains(", ok)"),
        "{o}"
    );
    let v = run_json(&p, &["pipeline", "list", "--json"]);
    assert_eq!(v[0]["name"], "shop");
    let out = p
        .dango()
        .args(["pipeline", "later", "info"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("pipeline `later` not found") && e.contains("Known pipelines: shop"),
        "{e}"
    );
    assert!(e.contains("run `dango sync later`"), "{e}");
}

#[test]
fn info_shows_state_resources_and_row_counts() {
    let p = synced();
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "info"])
            .output()
            .unwrap(),
    );
    assert!(o.contains("Found pipeline shop in"), "{o}");
    assert!(
        o.contains("Synchronized state:") && o.contains("dataset_name: raw_shop"),
        "{o}"
    );
    assert!(o.contains("Add -v option to see sources state"), "{o}");
    assert!(
        o.contains("Resources in schema: shop") && o.contains("orders with 3 table(s)"),
        "{o}"
    );
    let items = p.count("raw_shop.orders__line_items");
    assert!(
        o.contains(&format!("orders__line_items: {items} row(s)")),
        "{o}"
    );
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "info", "-v"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains("received data") && !o.contains("Add -v option"),
        "{o}"
    );
    let v = run_json(&p, &["pipeline", "shop", "info", "--json"]);
    assert_eq!(v["dataset"], "raw_shop");
    assert_eq!(v["row_counts"]["orders"], 30);
    assert_eq!(v["resources"][0]["resource"], "orders");
    assert_eq!(v["state"]["pipeline_name"], "shop");
}

#[test]
fn show_lists_columns_types_and_samples() {
    let p = synced();
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "show"])
            .output()
            .unwrap(),
    );
    assert!(o.contains("raw_shop.orders: 30 row(s)"), "{o}");
    assert!(
        o.contains("customer__first_name") && o.contains("TIMESTAMP WITH TIME ZONE"),
        "{o}"
    );
    let v = run_json(&p, &["pipeline", "shop", "show", "--json", "--rows", "2"]);
    let orders = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "raw_shop.orders")
        .unwrap();
    assert_eq!(orders["rows"], 30);
    assert_eq!(orders["sample"].as_array().unwrap().len(), 2);
    let first_id = orders["sample"][0]["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        p.scalar(&format!(
            "SELECT count(*) FROM raw_shop.orders WHERE order_id = {first_id}"
        )),
        "1"
    );
}

#[test]
fn trace_shows_steps_and_rows_per_table() {
    let p = synced();
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "trace"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains("Run started at") && o.contains("COMPLETED in") && o.contains("with 4 steps."),
        "{o}"
    );
    for s in [
        "Step extract COMPLETED",
        "Step normalize COMPLETED",
        "Step load COMPLETED",
        "Step run COMPLETED",
    ] {
        assert!(o.contains(s), "{s}: {o}");
    }
    assert!(
        o.contains("Normalized data for the following tables:\n- orders: 30 row(s)"),
        "{o}"
    );
    let v = run_json(&p, &["pipeline", "shop", "trace", "--json"]);
    let normalize = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "normalize")
        .unwrap();
    for (t, n) in normalize["normalize_info"]["row_counts"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            n.as_i64().unwrap(),
            p.count(&format!("raw_shop.{t}")),
            "{t}"
        );
    }
    // the load step's duration survives the trace file (dlt's "load step completed in")
    let load = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "load")
        .unwrap();
    let secs = load["load_info"]["elapsed_secs"].as_f64().unwrap();
    assert!(secs > 0.0, "{load}");
}

#[test]
fn schema_as_yaml_and_json() {
    let p = synced();
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "schema"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains("name: shop") && o.contains("tables:") && o.contains("orders__line_items:"),
        "{o}"
    );
    let v = run_json(&p, &["pipeline", "shop", "schema", "--format", "json"]);
    assert_eq!(v["name"], "shop");
    assert_eq!(
        v["tables"]["orders"]["columns"]["order_id"]["data_type"],
        "bigint"
    );
    let hash = p.scalar("SELECT version_hash FROM raw_shop._dlt_version");
    assert_eq!(v["version_hash"], hash.as_str());
}

#[test]
fn load_package_and_failed_jobs() {
    let p = synced();
    let load_id = p.scalar("SELECT load_id FROM raw_shop._dlt_loads");
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "load-package"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains(&format!(
            "The package with load id {load_id} for schema shop is in LOADED state"
        )),
        "{o}"
    );
    assert!(
        o.contains("Jobs details:")
            && o.contains("table: orders in completed_jobs")
            && o.contains("rows: 30."),
        "{o}"
    );
    let v = run_json(
        &p,
        &["pipeline", "shop", "load-package", &load_id, "--json"],
    );
    assert_eq!(v["state"], "LOADED");
    let rows: i64 = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["table"] == "orders")
        .map(|j| j["rows"].as_i64().unwrap())
        .sum();
    assert_eq!(rows, p.count("raw_shop.orders"));
    let out = p
        .dango()
        .args(["pipeline", "shop", "load-package", "123.4"])
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("no load package `123.4`"));
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "failed-jobs"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains(&format!("Checking failed jobs in load id '{load_id}'"))
            && o.contains("No failed jobs found"),
        "{o}"
    );
}

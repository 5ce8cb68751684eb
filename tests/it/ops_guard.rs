//! Empty-replace protection: a `replace` or `--full-refresh` load that would leave a
//! previously non-empty table with 0 rows is refused before the commit, and nothing changes
//! (data, state, cursors, pending packages), unless `--allow-empty-replace`.

use crate::util::{TestProject, orders_jsonl};

/// Rows of the data, the state table, the local state and the pending packages.
type Snapshot = (
    Vec<Vec<Option<String>>>,
    Vec<Vec<Option<String>>>,
    String,
    Vec<String>,
);

/// Everything a refused load must leave as it was.
fn snapshot(p: &TestProject, ds: &str) -> Snapshot {
    let data = p.query(&format!(
        "SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM {ds}.orders ORDER BY order_id"
    ));
    let state = p.query(&format!(
        "SELECT version, version_hash, state FROM {ds}._dlt_pipeline_state ORDER BY version"
    ));
    let dir = p
        .path()
        .join(format!(".dlt/pipelines/{}", ds.trim_start_matches("raw_")));
    let local = std::fs::read_to_string(dir.join("state.json")).unwrap();
    let mut pending = Vec::new();
    for sub in ["normalize/extracted", "load/normalized"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            pending.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    (data, state, local, pending)
}

#[test]
fn an_empty_replace_is_refused_and_changes_nothing() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(12, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango().arg("sync").assert().success();
    let before = snapshot(&p, "raw_shop");
    let loads = p.count("raw_shop._dlt_loads");

    p.write("input/orders.jsonl", "");
    let out = p.dango().args(["sync", "shop"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("table orders (12 rows before)")
            && stdout.contains("--allow-empty-replace"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(snapshot(&p, "raw_shop"), before);
    assert_eq!(p.count("raw_shop._dlt_loads"), loads);
    assert_eq!(
        p.count("raw_shop.orders__line_items"),
        (1..13).map(|i| (i % 3) + 1).sum::<i64>()
    );

    // Refused again on the next sync (nothing was left pending that would sneak it in).
    p.dango().args(["sync", "shop"]).assert().code(1);
    assert_eq!(p.count("raw_shop.orders"), 12);

    // Explicitly allowed: the table is emptied.
    p.dango()
        .args(["sync", "shop", "--allow-empty-replace"])
        .assert()
        .success();
    assert_eq!(p.count("raw_shop.orders"), 0);
    assert_eq!(p.count("raw_shop._dlt_loads"), loads + 1);
}

#[test]
fn an_empty_full_refresh_is_refused_and_keeps_the_cursor() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(9, 1));
    p.local_source(
        "shop",
        "input",
        "*.jsonl",
        "      table_name: orders\n      write_disposition: append\n      incremental:\n        cursor_path: orderId\n",
    );
    p.dango().arg("sync").assert().success();
    let before = snapshot(&p, "raw_shop");

    p.write("input/orders.jsonl", "");
    let out = p
        .dango()
        .args(["sync", "shop", "--full-refresh", "-y"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("table orders (9 rows before)"), "{stdout}");
    assert_eq!(snapshot(&p, "raw_shop"), before);
    assert!(
        !p.path()
            .join(".dlt/pipelines/shop/full_refresh.json")
            .exists()
    );

    // The cursor was kept: new rows above it load incrementally as before.
    p.write("input/orders.jsonl", &orders_jsonl(12, 1));
    p.dango().args(["sync", "shop"]).assert().success();
    assert_eq!(p.count("raw_shop.orders"), 12);
    let new_load = p.scalar(
        "SELECT count(*) FROM raw_shop.orders WHERE _dlt_load_id = (SELECT max(load_id) FROM raw_shop._dlt_loads)",
    );
    assert_eq!(new_load, "3");
}

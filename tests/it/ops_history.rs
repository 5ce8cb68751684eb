//! Sync history (`_dango_sync_history` in the source's dataset), `dango history`, retention
//! and the row-count anomaly warnings.

use crate::util::{TestProject, orders_jsonl};

fn project(n: usize) -> TestProject {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(n, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p
}

/// `dango history shop --json --limit 50`, the records.
pub(crate) fn history(p: &TestProject) -> Vec<serde_json::Value> {
    let out = p
        .dango()
        .args(["history", "shop", "--json", "--limit", "50"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_sync_is_recorded_in_the_dataset_with_rows_per_table() {
    let p = project(5);
    p.dango().arg("sync").assert().success();
    p.write("input/orders.jsonl", &orders_jsonl(7, 1));
    p.dango()
        .args(["sync", "--full-refresh", "-y"])
        .assert()
        .success();
    p.write("input/orders.jsonl", "{\"orderId\": 1}\nnot json\n");
    p.dango().arg("sync").assert().code(1);

    let h = history(&p);
    // A full refresh replaces the whole dataset, history included: its own record stays.
    assert_eq!(h.len(), 2, "{h:#?}");
    assert_eq!(h[0]["status"], "failed");
    assert!(
        h[0]["error"].as_str().unwrap().contains("invalid JSON"),
        "{}",
        h[0]["error"]
    );
    assert_eq!(h[1]["status"], "success");
    assert_eq!(h[1]["full_refresh"], true);
    assert_eq!(h[1]["trigger"], "cli");
    let per_table: u64 = h[1]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_loaded"].as_u64().unwrap())
        .sum();
    assert_eq!(h[1]["rows_loaded"].as_u64().unwrap(), per_table);
    assert!(per_table > 7);
    let orders = h[1]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders")
        .unwrap();
    assert_eq!(orders["rows_loaded"], 7);
    assert_eq!(orders["total_rows"], 7);
    assert_eq!(h[1]["load_ids"].as_array().unwrap().len(), 1);
    // Queryable in the warehouse.
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop._dango_sync_history WHERE source = 'shop'"),
        "2"
    );
    // The text view.
    let out = p.dango().arg("history").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("shop") && text.contains("success") && text.contains("failed"),
        "{text}"
    );
}

#[test]
fn retention_keeps_the_newest_records() {
    let p = project(3);
    for _ in 0..4 {
        p.dango()
            .arg("sync")
            .env("RUNTIME__SYNC_HISTORY_RETENTION", "2")
            .assert()
            .success();
    }
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop._dango_sync_history"),
        "2"
    );
    assert_eq!(history(&p).len(), 2);
}

/// Replaces the history with ten successful syncs of `rows` rows each.
fn script_history(p: &TestProject, rows: u64) {
    let conn = duckdb::Connection::open(p.warehouse()).unwrap();
    conn.execute_batch("DELETE FROM raw_shop._dango_sync_history")
        .unwrap();
    for i in 0..10 {
        conn.execute(
            "INSERT INTO raw_shop._dango_sync_history (sync_id, source, trigger, started_at, finished_at, status, full_refresh, rows_loaded, total_rows) \
             VALUES (?, 'shop', 'cli', CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), 'success', false, ?, ?)",
            duckdb::params![format!("s{i}"), format!("2026-01-01T{i:02}:00:00+00:00"), format!("2026-01-01T{i:02}:00:05+00:00"), rows as i64, rows as i64],
        )
        .unwrap();
    }
}

#[test]
fn anomalies_are_warned_and_recorded_with_configurable_thresholds() {
    let p = project(10);
    p.dango().arg("sync").assert().success();
    let rows: u64 = history(&p)[0]["rows_loaded"].as_u64().unwrap();

    // Far below the median of the last ten successful syncs.
    script_history(&p, rows * 10);
    let out = p.dango().arg("sync").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("row-count anomaly") && stderr.contains("90% below the median"),
        "{stderr}"
    );
    assert!(
        history(&p)[0]["anomaly"]
            .as_str()
            .unwrap()
            .contains("below the median")
    );

    // A looser threshold: no warning.
    script_history(&p, rows * 10);
    let out = p
        .dango()
        .arg("sync")
        .env("RUNTIME__ANOMALY_DROP_PCT", "95")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("anomaly"));
    assert!(history(&p)[0]["anomaly"].is_null());

    // Far above it.
    script_history(&p, rows / 5);
    let out = p.dango().arg("sync").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("above the median"));

    // Zero rows after a non-zero sync.
    script_history(&p, rows);
    p.write("input/orders.jsonl", "");
    let out = p
        .dango()
        .args(["sync", "--allow-empty-replace"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 rows loaded, after"), "{stderr}");
}

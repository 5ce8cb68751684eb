//! The sync history (`_dango_sync_history`) and `dango history` on the Postgres and filesystem
//! destinations, retention and the row-count anomaly check there; a source entry's own
//! `table_format` / `file_format`; the trace's destination location.

use std::path::Path;

use serde_json::{Value, json};

use crate::postgres_replay::{PgDb, pg_source};
use crate::util::{TestProject, orders_jsonl};

fn history(p: &TestProject, source: &str, env: &[(&str, &str)]) -> Vec<Value> {
    let mut c = p.dango_std();
    c.args(["history", source, "--json", "--limit", "50"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("does not keep a sync history"), "{err}");
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn run(p: &TestProject, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut c = p.dango_std();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Checks the records of three successful syncs of `orders` orders then a failed one, kept
/// with retention 3: the failed one and the two newest successes.
fn check_records(h: &[Value], orders: u64) {
    assert_eq!(h.len(), 3, "{h:#?}");
    assert_eq!(h[0]["status"], "failed");
    assert!(
        h[0]["error"].as_str().unwrap().contains("invalid JSON"),
        "{}",
        h[0]["error"]
    );
    for r in &h[1..] {
        assert_eq!(r["status"], "success");
        assert_eq!(r["trigger"], "cli");
        assert_eq!(r["full_refresh"], false);
        assert_eq!(r["load_ids"].as_array().unwrap().len(), 1);
        let t = r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "orders")
            .unwrap();
        assert_eq!(t["rows_loaded"], json!(orders));
        let sum: u64 = r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["rows_loaded"].as_u64().unwrap())
            .sum();
        assert_eq!(r["rows_loaded"].as_u64().unwrap(), sum);
        // newest first, RFC 3339 in UTC
        assert!(r["started_at"].as_str().unwrap().ends_with("+00:00"), "{r}");
    }
    assert!(h[1]["started_at"].as_str() > h[2]["started_at"].as_str());
    // append: the total grows
    assert!(h[1]["total_rows"].as_u64() > h[2]["total_rows"].as_u64());
}

/// Three syncs of 50 orders (retention 3), a failed one, then a sync of 5 orders, far below
/// the median of the earlier ones: the anomaly is warned and recorded.
fn syncs_and_anomaly(p: &TestProject, env: &[(&str, &str)]) {
    p.write("input/orders.jsonl", &orders_jsonl(50, 1));
    let retention = [env, &[("RUNTIME__SYNC_HISTORY_RETENTION", "3")]].concat();
    for _ in 0..3 {
        let (ok, out) = run(p, &["sync"], &retention);
        assert!(ok, "{out}");
        assert!(!out.contains("cannot write the sync history"), "{out}");
        assert!(!out.contains("anomaly"), "{out}");
    }
    p.write("input/bad.jsonl", "{\"orderId\": 1}\nnot json\n");
    let (ok, out) = run(p, &["sync"], &retention);
    assert!(!ok, "{out}");
    assert!(!out.contains("cannot write the sync history"), "{out}");
    std::fs::remove_file(p.path().join("input/bad.jsonl")).unwrap();
    check_records(&history(p, "shop", env), 50);

    p.write("input/orders.jsonl", &orders_jsonl(5, 1));
    let (ok, out) = run(p, &["sync"], env);
    assert!(ok, "{out}");
    assert!(
        out.contains("row-count anomaly") && out.contains("below the median"),
        "{out}"
    );
    let h = history(p, "shop", env);
    assert_eq!(h.len(), 4);
    assert!(
        h[0]["anomaly"]
            .as_str()
            .unwrap_or_default()
            .contains("below the median"),
        "{:#}",
        h[0]
    );
    // the text view
    let (ok, out) = run(p, &["history"], env);
    assert!(
        ok && out.contains("shop") && out.contains("success"),
        "{out}"
    );
}

#[test]
fn postgres_keeps_the_sync_history() {
    let Some(url) = crate::services::postgres_url("destination_history::postgres") else {
        return;
    };
    let db = PgDb::create(&url, "history");
    let p = TestProject::new();
    pg_source(
        &p,
        "shop",
        "      table_name: orders\n      write_disposition: append\n",
    );
    let env = [("DESTINATION__POSTGRES__CREDENTIALS", db.url.as_str())];
    syncs_and_anomaly(&p, &env);
    // a table of the dataset, queryable with SQL
    let cols = db.columns("raw_shop", "_dango_sync_history");
    let ty = |c: &str| cols.iter().find(|(n, _, _)| n == c).unwrap().1.clone();
    assert_eq!(ty("started_at"), "timestamp with time zone");
    assert_eq!(ty("tables"), "jsonb");
    assert_eq!(ty("rows_loaded"), "bigint");
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM raw_shop._dango_sync_history WHERE source = 'shop' AND anomaly IS NOT NULL"
        ),
        "1"
    );
    assert_eq!(
        db.scalar(
            "SELECT (tables -> 0 ->> 'rows_loaded') IS NOT NULL FROM raw_shop._dango_sync_history ORDER BY started_at DESC LIMIT 1"
        ),
        "t"
    );
}

fn fs_project(config: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\ndestination: filesystem\nsources:\n  - name: shop\n    type: local_files\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n      write_disposition: append\n",
    );
    p.write(".dlt/config.toml", config);
    p
}

/// Reads the history table with `deltalake` (Delta) or DuckDB (Parquet files): rows of
/// source `shop` and the Arrow type of `started_at`.
const READ_HISTORY: &str = r#"
import sys, json, glob
table, delta = sys.argv[1], sys.argv[2] == "1"
if delta:
    from deltalake import DeltaTable
    t = DeltaTable(table).to_pyarrow_table()
    ops = [h.get("operation") for h in DeltaTable(table).history()]
else:
    import duckdb
    t = duckdb.sql(f"select * from read_parquet('{table}/*.parquet')").arrow()
    if hasattr(t, "read_all"):
        t = t.read_all()
    ops = []
rows = [r for r in t.to_pylist() if r["source"] == "shop"]
print(json.dumps({"rows": len(rows), "started_at": str(t.schema.field("started_at").type),
                  "statuses": sorted(r["status"] for r in rows), "ops": ops}))
"#;

fn fs_history(format_line: &str, delta: bool) {
    let Some(py) = crate::services::python("destination_history::filesystem") else {
        return;
    };
    let p = fs_project(&format!(
        "[destination.filesystem]\nbucket_url = \"lake\"\n{format_line}"
    ));
    let table = p.path().join("lake/raw_shop/_dango_sync_history");
    syncs_and_anomaly(&p, &[]);
    // independent readers see the same four records
    let out = std::process::Command::new(&py)
        .args([
            "-c",
            READ_HISTORY,
            table.to_str().unwrap(),
            if delta { "1" } else { "0" },
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    // DuckDB names UTC `Etc/UTC`
    assert!(
        ["timestamp[us, tz=UTC]", "timestamp[us, tz=Etc/UTC]"]
            .contains(&got["started_at"].as_str().unwrap()),
        "{got}"
    );
    assert_eq!(got["rows"], 4, "{got}");
    assert_eq!(
        got["statuses"],
        json!(["failed", "success", "success", "success"])
    );
    if delta {
        assert!(table.join("_delta_log").is_dir());
    } else {
        assert!(!table.join("_delta_log").exists());
    }
}

#[test]
fn delta_keeps_the_sync_history_as_a_delta_table() {
    fs_history("table_format = \"delta\"\n", true);
}

#[test]
fn parquet_keeps_the_sync_history_as_parquet_files() {
    fs_history("file_format = \"parquet\"\n", false);
}

#[test]
fn a_source_entry_chooses_its_own_file_format() {
    let Some(py) = crate::services::python("destination_history::entry_format") else {
        return;
    };
    // the config says Delta; source `plain` says plain Parquet files, `lake` says Delta
    let p = TestProject::new();
    p.write(
        ".dlt/config.toml",
        "[destination.filesystem]\nbucket_url = \"lake\"\ntable_format = \"delta\"\n",
    );
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\ndestination: filesystem\nsources:\n  - name: plain\n    type: local_files\n    file_format: parquet\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n  - name: lake\n    type: local_files\n    table_format: delta\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n",
    );
    p.write("input/orders.jsonl", &orders_jsonl(4, 1));
    let (ok, out) = run(&p, &["validate"], &[]);
    assert!(ok, "{out}");
    let (ok, out) = run(&p, &["sync"], &[]);
    assert!(ok, "{out}");
    let plain = p.path().join("lake/raw_plain/orders");
    let delta = p.path().join("lake/raw_lake/orders");
    assert!(!plain.join("_delta_log").exists());
    let parquet: Vec<_> = std::fs::read_dir(&plain)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(parquet.len(), 1, "{parquet:?}");
    assert!(delta.join("_delta_log").is_dir());
    // both read back by independent readers, and by every verb of dango. Each reader runs in
    // a Python of its own and leaves with `os._exit` once its answer is out: the interpreter's
    // teardown of these native libraries sometimes aborts ("terminate called without an
    // active exception") after the answer was printed.
    let read = |code: &str, path: &Path| -> Value {
        let out = std::process::Command::new(&py)
            .args(["-c", code, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let a = read(
        "import sys, duckdb; print(duckdb.sql(f\"select count(*) from read_parquet('{sys.argv[1]}/*.parquet')\").fetchall()[0][0], flush=True); import os; os._exit(0)",
        &plain,
    );
    let b = read(
        "import sys; from deltalake import DeltaTable; print(DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows, flush=True); import os; os._exit(0)",
        &delta,
    );
    assert_eq!(json!([a, b]), json!([4, 4]));
    for name in ["plain", "lake"] {
        let (ok, out) = run(&p, &["pipeline", name, "show"], &[]);
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("raw_{name}.orders: 4 row(s)")),
            "{out}"
        );
        // the trace names the bucket as a URL (not `filesystem:////…`)
        let (ok, out) = run(&p, &["pipeline", name, "trace"], &[]);
        assert!(ok, "{out}");
        let lake = p.path().join("lake");
        assert!(
            out.contains(&format!("used file://{} location", lake.display())),
            "{out}"
        );
        assert!(!out.contains("filesystem:///"), "{out}");
        assert_eq!(history(&p, name, &[]).len(), 1);
    }
    // a second sync (local_files replaces by default): the plain source's old file is
    // deleted, the Delta table gets an overwrite commit
    let (ok, out) = run(&p, &["sync"], &[]);
    assert!(ok, "{out}");
    let (ok, out) = run(&p, &["pipeline", "plain", "show"], &[]);
    assert!(ok && out.contains("raw_plain.orders: 4 row(s)"), "{out}");
    let files: Vec<_> = std::fs::read_dir(&plain)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_ne!(files, parquet);
    let commits = std::fs::read_dir(delta.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(commits, 2);
}

#[test]
fn entry_formats_on_other_destinations_are_refused_offline() {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: local_files\n    file_format: parquet\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n",
    );
    let (ok, out) = run(&p, &["validate"], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("sources.yml:5:18: `file_format` applies to the filesystem destination only, and source `shop` loads into `duckdb`"),
        "{out}"
    );
}

//! The filesystem destination (Delta Lake tables and plain Parquet files), checked by
//! independent readers: the Python `deltalake` package, Polars and DuckDB (reading the Parquet
//! files), and dlt's own `sync_destination()` for the state.

use std::path::Path;
use std::sync::Arc;

use dango::destinations::filesystem::{Bucket, Filesystem, FilesystemConfig, TableFormat};
use dango::pipeline::Pipeline;
use dango::schema::{MergeStrategy, WriteDisposition};
use dango::sources::{IterResource, Source};
use serde_json::{Value, json};

use crate::util::{TestProject, orders_jsonl};

/// Reads Delta tables with `deltalake` and Polars, and their live Parquet files with DuckDB.
const READ_DELTA: &str = r#"
import json, sys
from deltalake import DeltaTable
import polars as pl
import duckdb

def text_rows(rows):
    out = [{k: (None if v is None else str(v)) for k, v in r.items()} for r in rows]
    def key(r):
        first = r.get("order_id") or r.get("id")
        rest = json.dumps({k: v for k, v in r.items() if not k.startswith("_dlt")}, sort_keys=True)
        return (int(first) if first is not None else 0, rest)
    return sorted(out, key=key)

args = json.loads(sys.argv[1])
opts = args.get("storage_options")
out = {}
for name, uri in args["tables"].items():
    dt = DeltaTable(uri, storage_options=opts)
    t = dt.to_pyarrow_table()
    pdf = pl.read_delta(uri, storage_options=opts)
    entry = {
        "version": dt.version(),
        "protocol": [dt.protocol().min_reader_version, dt.protocol().min_writer_version],
        "schema": {f.name: str(f.type) for f in t.schema},
        "nullable": {f.name: f.nullable for f in t.schema},
        "rows": text_rows(t.to_pylist()),
        "polars": text_rows(pdf.to_dicts()),
        "operations": [h.get("operation") for h in dt.history()],
    }
    if opts is None:
        files = [u.replace("file://", "") for u in dt.file_uris()]
        con = duckdb.connect()
        rel = con.sql("select * from read_parquet(?, union_by_name=true)", params=[files])
        entry["duckdb"] = text_rows([dict(zip(rel.columns, r)) for r in rel.fetchall()])
    out[name] = entry
print(json.dumps(out))
"#;

/// Runs `script` with `arg` on the test Python; its stdout as JSON.
fn python_json(py: &Path, script: &str, arg: &Value) -> Value {
    let out = std::process::Command::new(py)
        .args(["-c", script, &arg.to_string()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(
            arg.get("env")
                .and_then(|e| e.as_object())
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
        )
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

fn delta_pipeline(name: &str, tmp: &Path, bucket: &Path, format: TableFormat) -> Pipeline {
    let dest = Filesystem::new(FilesystemConfig {
        bucket: Bucket::Local(bucket.to_path_buf()),
        format,
    });
    Pipeline::builder(name)
        .dataset("lake")
        .destination(Arc::new(dest))
        .working_dir(tmp.join(format!("pipe_{name}")))
        .build()
        .unwrap()
}

fn column(rows: &Value, col: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[col].as_str().unwrap_or("NULL").to_string())
        .collect()
}

/// How a test run loads its resource.
#[derive(Clone, Copy)]
enum Mode {
    Append,
    Replace,
    Upsert,
}

fn run_lib(p: &mut Pipeline, source: &str, table: &str, mode: Mode, rows: Vec<Value>) {
    let r = IterResource::new(table, vec![rows].into_iter()).primary_key(["id"]);
    let r = match mode {
        Mode::Append => r.write_disposition(WriteDisposition::Append),
        Mode::Replace => r.write_disposition(WriteDisposition::Replace),
        Mode::Upsert => r.merge_strategy(MergeStrategy::Upsert),
    };
    p.run(Source::new(source, vec![Box::new(r)])).unwrap();
}

fn table_uris(bucket: &Path, names: &[&str]) -> Value {
    let m: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| {
            let p = bucket.join("lake").join(n);
            (n.to_string(), json!(p.to_str().unwrap()))
        })
        .collect();
    json!({ "tables": m })
}

#[test]
fn library_delta_append_replace_merge_read_by_deltalake() {
    let Some(py) = crate::services::python(
        "delta_destination::library_delta_append_replace_merge_read_by_deltalake",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let mut p = delta_pipeline("lib_delta", tmp.path(), &bucket, TableFormat::Delta);
    let order = |id: i64, name: &str, skus: &[&str]| {
        let items: Vec<Value> = skus.iter().map(|s| json!({"sku": s})).collect();
        json!({"id": id, "name": name, "amount": id as f64 + 0.5, "at": format!("2024-01-0{id}T10:00:00Z"), "items": items})
    };
    // append, twice (the second adds a column)
    run_lib(
        &mut p,
        "lib_delta",
        "orders",
        Mode::Append,
        vec![order(1, "a", &["x", "y"]), order(2, "b", &["z"])],
    );
    let mut third = order(3, "c", &[]);
    third["extra"] = json!(true);
    run_lib(&mut p, "lib_delta", "orders", Mode::Append, vec![third]);
    // replace: only the new rows stay, nested table too
    run_lib(
        &mut p,
        "lib_delta",
        "snap",
        Mode::Replace,
        vec![order(1, "a", &["x"]), order(2, "b", &["y"])],
    );
    run_lib(
        &mut p,
        "lib_delta",
        "snap",
        Mode::Replace,
        vec![order(5, "e", &["q"])],
    );
    // upsert: 2 is updated (its nested rows replaced by position), 4 is new
    run_lib(
        &mut p,
        "lib_delta",
        "dim",
        Mode::Upsert,
        vec![order(1, "a", &["x", "y"]), order(2, "b", &["z"])],
    );
    run_lib(
        &mut p,
        "lib_delta",
        "dim",
        Mode::Upsert,
        vec![order(2, "B", &["w"]), order(4, "d", &[])],
    );

    let got = python_json(
        &py,
        READ_DELTA,
        &table_uris(
            &bucket,
            &[
                "orders",
                "orders__items",
                "snap",
                "snap__items",
                "dim",
                "dim__items",
            ],
        ),
    );
    let orders = &got["orders"];
    assert_eq!(orders["protocol"], json!([1, 2]));
    assert_eq!(column(&orders["rows"], "id"), ["1", "2", "3"]);
    assert_eq!(column(&orders["rows"], "extra"), ["NULL", "NULL", "True"]);
    assert_eq!(orders["schema"]["id"], json!("int64"));
    assert_eq!(orders["schema"]["name"], json!("string"));
    assert_eq!(orders["schema"]["amount"], json!("double"));
    assert_eq!(orders["schema"]["at"], json!("timestamp[us, tz=UTC]"));
    assert_eq!(orders["nullable"]["_dlt_id"], json!(false));
    assert_eq!(orders["version"], json!(1));
    assert_eq!(orders["operations"], json!(["WRITE", "WRITE"]));
    assert_eq!(
        column(&got["orders__items"]["rows"], "sku"),
        ["x", "y", "z"]
    );

    assert_eq!(column(&got["snap"]["rows"], "id"), ["5"]);
    assert_eq!(column(&got["snap__items"]["rows"], "sku"), ["q"]);

    let dim = &got["dim"];
    assert_eq!(column(&dim["rows"], "id"), ["1", "2", "4"]);
    assert_eq!(column(&dim["rows"], "name"), ["a", "B", "d"]);
    assert_eq!(dim["operations"], json!(["MERGE", "WRITE"]));
    // nested rows are upserted on `_dlt_id` (dlt's Delta merge): 2's first item is replaced
    assert_eq!(column(&got["dim__items"]["rows"], "sku"), ["w", "x", "y"]);
    for (name, t) in got.as_object().unwrap() {
        assert_eq!(
            t["rows"], t["polars"],
            "{name}: deltalake and Polars disagree"
        );
        assert_eq!(
            t["rows"], t["duckdb"],
            "{name}: deltalake and DuckDB disagree"
        );
    }
}

// --- Through the real binary ---

/// A project whose source `shop` loads `input/*.jsonl` into table `orders` of the
/// filesystem destination, with `local_files` options `extra` (indented six spaces).
fn fs_project(config_toml: &str, extra: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\ndestination: filesystem\nsources:\n  - name: shop\n    type: local_files\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n{extra}"
        ),
    );
    p.write(".dlt/config.toml", config_toml);
    p
}

const LOCAL_DELTA: &str =
    "[destination.filesystem]\nbucket_url = \"lake\"\ntable_format = \"delta\"\n";

fn sync_ok(p: &TestProject) -> String {
    let out = p.dango().arg("sync").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dango sync failed:\n{text}");
    text
}

fn local_tables(p: &TestProject, names: &[&str]) -> Value {
    let m: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| {
            let path = p.path().join("lake/raw_shop").join(n);
            (n.to_string(), json!(path.to_str().unwrap()))
        })
        .collect();
    json!({ "tables": m })
}

fn assert_readers_agree(got: &Value) {
    for (name, t) in got.as_object().unwrap() {
        assert_eq!(t["protocol"], json!([1, 2]), "{name}");
        assert_eq!(
            t["rows"], t["polars"],
            "{name}: deltalake and Polars disagree"
        );
        if t.get("duckdb").is_some() {
            assert_eq!(
                t["rows"], t["duckdb"],
                "{name}: deltalake and DuckDB disagree"
            );
        }
    }
}

const ORDER_TABLES: [&str; 3] = ["orders", "orders__line_items", "orders__line_items__tags"];

#[test]
fn delta_append_and_replace_through_the_binary() {
    let Some(py) =
        crate::services::python("delta_destination::delta_append_and_replace_through_the_binary")
    else {
        return;
    };
    // append: the second sync loads both files again (local_files reloads every file)
    let p = fs_project(LOCAL_DELTA, "      write_disposition: append\n");
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    p.write("input/b.jsonl", &orders_jsonl(2, 4));
    sync_ok(&p);
    let got = python_json(&py, READ_DELTA, &local_tables(&p, &ORDER_TABLES));
    assert_readers_agree(&got);
    let orders = &got["orders"];
    assert_eq!(
        column(&orders["rows"], "order_id"),
        ["1", "1", "2", "2", "3", "3", "4", "5"]
    );
    assert_eq!(orders["schema"]["order_id"], json!("int64"));
    assert_eq!(
        orders["schema"]["created_at"],
        json!("timestamp[us, tz=UTC]")
    );
    assert_eq!(orders["schema"]["paid"], json!("bool"));
    assert_eq!(
        orders["schema"]["customer__address__zip_code"],
        json!("string")
    );
    assert_eq!(orders["operations"], json!(["WRITE", "WRITE"]));
    // orders_jsonl: order i has (i % 3) + 1 items, each with two tags
    let items = 2 * (2 + 3 + 1) + 2 + 3;
    assert_eq!(
        got["orders__line_items"]["rows"].as_array().unwrap().len(),
        items
    );
    assert_eq!(
        got["orders__line_items__tags"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        2 * items
    );
    // dlt's bookkeeping documents
    let ds = p.path().join("lake/raw_shop");
    assert_eq!(std::fs::read_dir(ds.join("_dlt_loads")).unwrap().count(), 2);
    assert!(std::fs::read_dir(ds.join("_dlt_version")).unwrap().count() >= 1);
    assert!(
        std::fs::read_dir(ds.join("_dlt_pipeline_state"))
            .unwrap()
            .count()
            >= 1
    );
    assert!(ds.join("init").is_file());
    // the pipeline verbs read the destination
    let info = p
        .dango()
        .args(["pipeline", "shop", "info"])
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );

    // replace: the second sync's rows only, nested tables too, one overwrite commit each
    let p = fs_project(LOCAL_DELTA, "      write_disposition: replace\n");
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    p.write("input/a.jsonl", &orders_jsonl(1, 7));
    sync_ok(&p);
    let got = python_json(&py, READ_DELTA, &local_tables(&p, &ORDER_TABLES));
    assert_readers_agree(&got);
    assert_eq!(column(&got["orders"]["rows"], "order_id"), ["7"]);
    assert_eq!(
        got["orders__line_items"]["rows"].as_array().unwrap().len(),
        2
    );
    assert_eq!(got["orders"]["operations"], json!(["WRITE", "WRITE"]));
    assert_eq!(got["orders"]["version"], json!(1));
}

#[test]
fn delta_merge_upserts_on_the_primary_key() {
    let Some(py) =
        crate::services::python("delta_destination::delta_merge_upserts_on_the_primary_key")
    else {
        return;
    };
    let p = fs_project(
        LOCAL_DELTA,
        "      write_disposition:\n        disposition: merge\n        strategy: upsert\n      primary_key: orderId\n",
    );
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    // order 2 changes (total and one item less), order 9 is new
    p.write(
        "input/a.jsonl",
        "{\"orderId\":2,\"createdAt\":\"2024-02-01T10:00:00Z\",\"total\":99.5,\"paid\":true,\"lineItems\":[{\"sku\":\"NEW\",\"qty\":1,\"tags\":[\"z\"]}]}\n{\"orderId\":9,\"createdAt\":\"2024-02-01T10:00:00Z\",\"total\":9.5,\"paid\":false,\"lineItems\":[]}\n",
    );
    sync_ok(&p);
    let got = python_json(&py, READ_DELTA, &local_tables(&p, &ORDER_TABLES));
    assert_readers_agree(&got);
    let orders = &got["orders"];
    assert_eq!(column(&orders["rows"], "order_id"), ["1", "2", "3", "9"]);
    assert_eq!(
        column(&orders["rows"], "total"),
        ["1.5", "99.5", "3.5", "9.5"]
    );
    assert_eq!(orders["operations"], json!(["MERGE", "WRITE"]));
    // nested rows are upserted on `_dlt_id` as dlt does on Delta: order 2's first item is
    // replaced, its others (absent from the new data) stay
    let mut skus = column(&got["orders__line_items"]["rows"], "sku");
    skus.sort();
    assert_eq!(skus, ["NEW", "S1-0", "S1-1", "S2-1", "S2-2", "S3-0"]);
}

#[test]
fn delta_merge_without_strategy_uses_upsert_and_others_are_refused() {
    let p = fs_project(
        LOCAL_DELTA,
        "      write_disposition: merge\n      primary_key: orderId\n",
    );
    p.write("input/a.jsonl", &orders_jsonl(2, 1));
    let out = sync_ok(&p);
    assert!(out.contains("merges with `upsert`"), "{out}");
    assert!(
        p.path()
            .join("lake/raw_shop/orders/_delta_log/00000000000000000000.json")
            .is_file()
    );

    let p = fs_project(
        LOCAL_DELTA,
        "      write_disposition:\n        disposition: merge\n        strategy: delete-insert\n      primary_key: orderId\n",
    );
    p.write("input/a.jsonl", &orders_jsonl(2, 1));
    let out = p.dango().arg("sync").output().unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("`delete-insert` merge strategy not supported for table `orders`. Available strategies: ['upsert']"),
        "{err}"
    );
    assert!(!p.path().join("lake/raw_shop/orders").exists());
}

#[test]
fn delta_crash_after_a_commit_resumes_without_duplicating_it() {
    let Some(py) = crate::services::python(
        "delta_destination::delta_crash_after_a_commit_resumes_without_duplicating_it",
    ) else {
        return;
    };
    let p = fs_project(LOCAL_DELTA, "      write_disposition: append\n");
    p.write("input/a.jsonl", &orders_jsonl(4, 1));
    // dies right after the first table's commit, before the job is marked completed
    p.sync_killed_at("filesystem_after_delta_commit", &[]);
    let orders_log = p.path().join("lake/raw_shop/orders/_delta_log");
    assert_eq!(std::fs::read_dir(&orders_log).unwrap().count(), 1);
    assert!(!p.path().join("lake/raw_shop/_dlt_loads").exists());
    // the next run finishes that package without committing its job again, then loads its
    // own package (two copies, as after any crash of an append load; see crash.rs)
    sync_ok(&p);
    let commits = delta_commits(&orders_log);
    assert_eq!(commits.len(), 2, "{commits:?}");
    assert_ne!(commits[0]["dangoLoadId"], commits[1]["dangoLoadId"]);
    // it dies after everything is in the destination, before the package is moved: the
    // next run only moves it (its load id is in _dlt_loads)
    p.sync_killed_at("load_before_commit", &[]);
    sync_ok(&p);
    assert_eq!(delta_commits(&orders_log).len(), 4);
    let got = python_json(&py, READ_DELTA, &local_tables(&p, &ORDER_TABLES));
    assert_readers_agree(&got);
    let ids = column(&got["orders"]["rows"], "order_id");
    assert_eq!(ids.len(), 16, "{ids:?}");
    for id in ["1", "2", "3", "4"] {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 4, "{ids:?}");
    }
    // every row belongs to a completed load, each load once
    let loads = std::fs::read_dir(p.path().join("lake/raw_shop/_dlt_loads"))
        .unwrap()
        .count();
    assert_eq!(loads, 4);
    let mut per_load: std::collections::BTreeMap<String, usize> = Default::default();
    for r in got["orders"]["rows"].as_array().unwrap() {
        *per_load
            .entry(r["_dlt_load_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_load.len(), 4);
    assert!(per_load.values().all(|n| *n == 4), "{per_load:?}");
}

/// The `commitInfo` of each commit in a Delta log folder, in version order.
fn delta_commits(log: &Path) -> Vec<Value> {
    let mut names: Vec<_> = std::fs::read_dir(log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(log.join(n)).unwrap();
            let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            first["commitInfo"].clone()
        })
        .collect()
}

/// dlt's own `sync_destination()` restores the state and schema dango wrote.
const DLT_SYNC: &str = r#"
import json, sys
import dlt
args = json.loads(sys.argv[1])
p = dlt.pipeline(
    pipeline_name=args["pipeline"],
    destination=dlt.destinations.filesystem(bucket_url=args["bucket"]),
    dataset_name=args["dataset"],
    pipelines_dir=args["dir"],
)
p.sync_destination()
print(json.dumps({
    "state_version": p.state.get("_state_version"),
    "version_hash": p.state.get("_version_hash"),
    "schemas": p.schema_names,
    "tables": sorted(p.default_schema.data_table_names()) if p.default_schema_name else [],
}))
"#;

#[test]
fn dlt_sync_destination_reads_dangos_state_back() {
    let Some(py) =
        crate::services::python("delta_destination::dlt_sync_destination_reads_dangos_state_back")
    else {
        return;
    };
    let p = fs_project(LOCAL_DELTA, "      write_disposition: append\n");
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    sync_ok(&p);
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/state.json")).unwrap(),
    )
    .unwrap();
    let dlt_dir = tempfile::tempdir().unwrap();
    let got = python_json(
        &py,
        DLT_SYNC,
        &json!({
            "pipeline": "shop",
            "bucket": p.path().join("lake").to_str().unwrap(),
            "dataset": "raw_shop",
            "dir": dlt_dir.path().to_str().unwrap(),
        }),
    );
    assert_eq!(got["state_version"], state["_state_version"], "{got}");
    assert_eq!(got["version_hash"], state["_version_hash"], "{got}");
    assert_eq!(got["schemas"], json!(["shop"]));
    assert_eq!(got["tables"], json!(ORDER_TABLES));
}

/// Reads plain Parquet files with DuckDB: rows and column types per glob.
const READ_PARQUET: &str = r#"
import json, sys
import duckdb
args = json.loads(sys.argv[1])
con = duckdb.connect()
out = {}
for name, glob in args["globs"].items():
    rel = con.sql(f"select * from read_parquet('{glob}', union_by_name=true) order by all")
    out[name] = {
        "types": dict(zip(rel.columns, [str(t) for t in rel.types])),
        "rows": [[None if v is None else str(v) for v in r] for r in rel.fetchall()],
        "columns": rel.columns,
        "files": con.sql(f"select count(*) from glob('{glob}')").fetchall()[0][0],
    }
print(json.dumps(out))
"#;

#[test]
fn plain_parquet_append_and_replace_read_by_duckdb() {
    let Some(py) = crate::services::python(
        "delta_destination::plain_parquet_append_and_replace_read_by_duckdb",
    ) else {
        return;
    };
    let config = "[destination.filesystem]\nbucket_url = \"lake\"\nfile_format = \"parquet\"\n";
    let glob = |p: &TestProject| json!({"globs": {"orders": p.path().join("lake/raw_shop/orders/*.parquet").to_str().unwrap()}});
    let p = fs_project(config, "      write_disposition: append\n");
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    sync_ok(&p);
    let got = python_json(&py, READ_PARQUET, &glob(&p));
    let orders = &got["orders"];
    assert_eq!(orders["rows"].as_array().unwrap().len(), 6);
    assert_eq!(orders["files"], json!(2));
    assert_eq!(orders["types"]["order_id"], json!("BIGINT"));
    assert_eq!(orders["types"]["total"], json!("DOUBLE"));
    assert_eq!(orders["types"]["paid"], json!("BOOLEAN"));
    assert_eq!(
        orders["types"]["created_at"],
        json!("TIMESTAMP WITH TIME ZONE")
    );
    assert!(!p.path().join("lake/raw_shop/orders/_delta_log").exists());
    // dango reads them back for its verbs
    let show = p
        .dango()
        .args(["pipeline", "shop", "info"])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );

    let p = fs_project(config, "      write_disposition: replace\n");
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    p.write("input/a.jsonl", &orders_jsonl(2, 10));
    sync_ok(&p);
    let got = python_json(&py, READ_PARQUET, &glob(&p));
    let ids: Vec<String> = got["orders"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let cols = got["orders"]["columns"].as_array().unwrap();
            let i = cols.iter().position(|c| c == "order_id").unwrap();
            r[i].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, ["10", "11"]);
    assert_eq!(got["orders"]["files"], json!(1));
}

/// Creates a bucket on the S3 test server.
const MAKE_BUCKET: &str = r#"
import json, sys
import boto3
a = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=a["endpoint"], aws_access_key_id=a["key"],
                  aws_secret_access_key=a["secret"], region_name="us-east-1")
s3.create_bucket(Bucket=a["bucket"])
print(json.dumps({"ok": True}))
"#;

#[test]
fn delta_on_s3_merge_and_append_read_by_deltalake() {
    let test = "delta_destination::delta_on_s3_merge_and_append_read_by_deltalake";
    let Some(endpoint) = crate::services::s3_endpoint(test) else {
        return;
    };
    let Some(py) = crate::services::python(test) else {
        return;
    };
    let bucket = format!("dango-delta-{}", std::process::id());
    let (key, secret) = ("dango-test-key", "Sekrit-S3-Value-42");
    python_json(
        &py,
        MAKE_BUCKET,
        &json!({"endpoint": endpoint, "key": key, "secret": secret, "bucket": bucket}),
    );
    let p = fs_project(
        &format!(
            "[destination.filesystem]\nbucket_url = \"s3://{bucket}/lake\"\ntable_format = \"delta\"\n"
        ),
        "      write_disposition:\n        disposition: merge\n        strategy: upsert\n      primary_key: orderId\n",
    );
    p.write(
        ".dlt/secrets.toml",
        &format!(
            "[destination.filesystem.credentials]\naws_access_key_id = \"{key}\"\naws_secret_access_key = \"{secret}\"\nendpoint_url = \"{endpoint}\"\nregion_name = \"us-east-1\"\n"
        ),
    );
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    let out1 = sync_ok(&p);
    p.write("input/a.jsonl", &orders_jsonl(3, 2));
    let out2 = sync_ok(&p);
    let info = p
        .dango()
        .args(["pipeline", "shop", "info"])
        .output()
        .unwrap();
    let info_text =
        String::from_utf8_lossy(&info.stdout).to_string() + &String::from_utf8_lossy(&info.stderr);
    assert!(info.status.success(), "{info_text}");
    for text in [&out1, &out2, &info_text] {
        assert!(!text.contains(secret), "the secret key leaked:\n{text}");
    }
    let opts = json!({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
    });
    let tables: serde_json::Map<String, Value> = ORDER_TABLES
        .iter()
        .map(|t| {
            (
                t.to_string(),
                json!(format!("s3://{bucket}/lake/raw_shop/{t}")),
            )
        })
        .collect();
    let got = python_json(
        &py,
        READ_DELTA,
        &json!({"tables": tables, "storage_options": opts}),
    );
    assert_readers_agree(&got);
    assert_eq!(
        column(&got["orders"]["rows"], "order_id"),
        ["1", "2", "3", "4"]
    );
    assert_eq!(got["orders"]["operations"], json!(["MERGE", "WRITE"]));
    // the second sync's rows won for 2 and 3
    let load_ids = column(&got["orders"]["rows"], "_dlt_load_id");
    assert_ne!(load_ids[0], load_ids[1]);
    assert_eq!(load_ids[1], load_ids[3]);
}

/// Reads each file's statistics from the Delta log with `deltalake` (typed: it parses the
/// `stats` JSON against the table schema), and the rows a filter on them returns.
const READ_STATS: &str = r#"
import json, sys
import pyarrow as pa
from deltalake import DeltaTable
dt = DeltaTable(sys.argv[1])
acts = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
def text(v):
    return None if v is None else str(v)
out = [{k: text(v) for k, v in a.items() if k.startswith(("min.", "max.", "null_count.", "num_records"))} for a in acts]
out.sort(key=lambda a: a["min.created_at"] or "")
print(json.dumps(out))
"#;

#[test]
fn delta_file_stats_cover_timestamps_and_decimals() {
    let Some(py) = crate::services::python(
        "delta_destination::delta_file_stats_cover_timestamps_and_decimals",
    ) else {
        return;
    };
    let p = fs_project(
        LOCAL_DELTA,
        "      write_disposition: append\n      columns:\n        total:\n          data_type: decimal\n          precision: 12\n          scale: 2\n",
    );
    // orders 1-3 (created 2024-01-02..04), then 7-8 (2024-01-08..09): two files
    p.write("input/a.jsonl", &orders_jsonl(3, 1));
    sync_ok(&p);
    p.write("input/a.jsonl", &orders_jsonl(2, 7));
    sync_ok(&p);
    let table = p.path().join("lake/raw_shop/orders");
    let out = std::process::Command::new(&py)
        .args(["-c", READ_STATS, table.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = got.as_array().unwrap();
    assert_eq!(files.len(), 2, "{got:#}");
    let f = |i: usize, k: &str| files[i][k].as_str().unwrap_or("NULL").to_string();
    assert_eq!(f(0, "min.created_at"), "2024-01-02 10:00:00+00:00");
    assert_eq!(f(0, "max.created_at"), "2024-01-04 10:00:00+00:00");
    assert_eq!(f(1, "min.created_at"), "2024-01-08 10:00:00+00:00");
    assert_eq!(f(1, "max.created_at"), "2024-01-09 10:00:00+00:00");
    // decimal(12,2) bounds, typed by deltalake as decimals
    assert_eq!(f(0, "min.total"), "1.50");
    assert_eq!(f(0, "max.total"), "3.50");
    assert_eq!(f(1, "min.total"), "7.50");
    assert_eq!(f(1, "max.total"), "8.50");
    assert_eq!(f(0, "min.paid"), "False");
    assert_eq!(f(0, "max.paid"), "True");
    assert_eq!(f(0, "num_records"), "3");
    assert_eq!(f(0, "null_count.created_at"), "0");
}

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

/// Reads Delta tables with `deltalake` and Polars, and their live Parquet files with DuckDB.
const READ_DELTA: &str = r#"
import json, sys
from deltalake import DeltaTable
import polars as pl
import duckdb

def text_rows(rows):
    out = [{k: (None if v is None else str(v)) for k, v in r.items()} for r in rows]
    key = lambda r: json.dumps({k: v for k, v in r.items() if not k.startswith("_dlt")}, sort_keys=True)
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

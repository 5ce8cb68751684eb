//! `type: filesystem` through the real binary: local and S3 (moto) files, types compared with
//! dlt 1.31's readers (`tests/fixtures/filesystem/generate.py`), change tracking across syncs,
//! deletes, replace, bad rows, crashes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use predicates::str::contains;
use serde_json::Value;

use crate::services;
use crate::util::TestProject;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filesystem")
}

/// sources.yml with filesystem sources: (name, block lines indented by 6).
fn sources(p: &TestProject, entries: &[(&str, &str)]) {
    let mut text = String::from("version: \"1.0\"\nsources:\n");
    for (name, block) in entries {
        text.push_str(&format!(
            "  - name: {name}\n    type: filesystem\n    filesystem:\n"
        ));
        for line in block.lines() {
            text.push_str(&format!("      {line}\n"));
        }
    }
    p.write(".dango/sources.yml", &text);
}

fn sync(p: &TestProject, extra: &[&str]) -> String {
    let out = p
        .dango()
        .arg("sync")
        .args(extra)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sync {extra:?} failed: {stderr}");
    format!("{}{stderr}", String::from_utf8_lossy(&out.stdout))
}

/// Sets a file's modification time `secs` seconds after a fixed instant (mtime is tracked).
fn touch(path: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn local_state(p: &TestProject, pipeline: &str) -> Value {
    let text = std::fs::read_to_string(
        p.path()
            .join(format!(".dlt/pipelines/{pipeline}/state.json")),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tracked(p: &TestProject, pipeline: &str, table: &str) -> Vec<String> {
    let s = local_state(p, pipeline);
    let files = &s["sources"][pipeline]["resources"][table]["files"];
    files
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The user columns (name, type) of a table and its rows rendered as `generate.py` does.
fn table_as_dlt(p: &TestProject, schema: &str, table: &str) -> (Vec<(String, String)>, Value) {
    let cols: Vec<(String, String)> = p
        .columns(schema, table)
        .into_iter()
        .filter(|(n, _, _)| !n.starts_with("_dlt"))
        .map(|(n, t, _)| (n, t))
        .collect();
    let select = cols
        .iter()
        .map(|(n, t)| {
            if t.starts_with("TIMESTAMP") {
                format!("CAST(epoch_us(\"{n}\") AS VARCHAR)")
            } else {
                format!("CAST(\"{n}\" AS VARCHAR)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = p.query(&format!(
        "SELECT {select} FROM {schema}.\"{table}\" ORDER BY 1"
    ));
    (cols, serde_json::to_value(rows).unwrap())
}

fn expected(table: &str) -> (Vec<(String, String)>, Value) {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let t = &all[table];
    let cols = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (cols, t["rows"].clone())
}

fn copy_fixture(p: &TestProject, name: &str, to: &str) -> PathBuf {
    let dest = p.path().join(to);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("data").join(name), &dest).unwrap();
    dest
}

#[test]
fn csv_jsonl_and_parquet_load_with_dlts_types() {
    let p = TestProject::new();
    copy_fixture(&p, "orders.csv", "in/orders.csv");
    copy_fixture(&p, "events.jsonl", "in/events.jsonl");
    copy_fixture(&p, "metrics.parquet", "in/pq/metrics.parquet");
    sources(
        &p,
        &[
            ("orders", "bucket_url: in\nfile_glob: \"*.csv\""),
            ("events", "bucket_url: in\nfile_glob: \"*.jsonl\""),
            (
                "metrics",
                "bucket_url: in\nfile_glob: \"**/*.parquet\"\nwrite_disposition: replace",
            ),
        ],
    );
    sync(&p, &[]);
    for (source, table) in [
        ("orders", "orders"),
        ("events", "events"),
        ("metrics", "metrics"),
    ] {
        assert_eq!(
            table_as_dlt(&p, &format!("raw_{source}"), source),
            expected(table),
            "{table} differs from dlt's"
        );
    }
    // The CSV agrees with dlt's Arrow reader as well.
    assert_eq!(expected("orders"), expected("orders_arrow"));
    // Dict rows carry dlt's row columns.
    let cols = p.columns("raw_orders", "orders");
    assert_eq!(cols[cols.len() - 2].0, "_dlt_load_id");
    assert_eq!(cols[cols.len() - 1].0, "_dlt_id");
}

#[test]
fn gzip_tsv_options_and_explicit_format() {
    use std::io::Write;
    let p = TestProject::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"a;b\n1;x\n2;y\n").unwrap();
    std::fs::create_dir_all(p.path().join("in")).unwrap();
    std::fs::write(p.path().join("in/part.csv.gz"), gz.finish().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"a\": 3, \"b\": \"z\"}\n").unwrap();
    std::fs::write(p.path().join("in/more.data"), gz.finish().unwrap()).unwrap();
    p.write("in/noheader.txt", "5|w\n6|v\n");
    sources(
        &p,
        &[
            (
                "gz",
                "bucket_url: in\nfile_glob: \"*.csv.gz\"\ncsv: {delimiter: \";\", header: true}\ntable_name: t",
            ),
            (
                "forced",
                "bucket_url: in\nfile_glob: \"*.data\"\nformat: jsonl\ncompression: gzip\ntable_name: t",
            ),
            (
                "nohead",
                "bucket_url: in\nfile_glob: \"*.txt\"\nformat: csv\ncsv: {delimiter: \"|\", header: false}\ntable_name: t",
            ),
        ],
    );
    sync(&p, &[]);
    assert_eq!(
        p.query("SELECT a, b FROM raw_gz.t ORDER BY a"),
        [
            [Some("1".into()), Some("x".into())],
            [Some("2".into()), Some("y".into())]
        ]
    );
    assert_eq!(p.scalar("SELECT a || b FROM raw_forced.t"), "3z");
    // Without a header DuckDB names the columns column0, column1.
    assert_eq!(
        p.scalar("SELECT string_agg(column0 || column1, ',' ORDER BY column0) FROM raw_nohead.t"),
        "5w,6v"
    );
}

#[test]
fn change_tracking_loads_new_and_changed_files_and_deletes_rows() {
    let p = TestProject::new();
    let a = p.write("in/a.csv", "id,name\n1,one\n2,two\n");
    let b = p.write("in/sub/b.csv", "id,name\n3,three\n");
    touch(&a, 1);
    touch(&b, 1);
    sources(
        &p,
        &[(
            "shop",
            "bucket_url: in\nfile_glob: \"**/*\"\ntable_name: items\nwrite_disposition: merge\nprimary_key: id\non_deleted: delete_rows",
        )],
    );
    sync(&p, &[]);
    let rows = |p: &TestProject| {
        p.query("SELECT id, name, file_name FROM raw_shop.items ORDER BY id")
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(Option::unwrap)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(&p),
        ["1|one|a.csv", "2|two|a.csv", "3|three|sub/b.csv"]
    );
    assert_eq!(tracked(&p, "shop", "items"), ["a.csv", "sub/b.csv"]);
    let loads = p.count("raw_shop._dlt_loads");

    // Nothing changed: nothing is read, no row is written.
    let out = sync(&p, &[]);
    assert!(out.contains("0 row(s) loaded"), "{out}");
    assert_eq!(p.count("raw_shop.items"), 3);
    assert_eq!(
        p.scalar("SELECT count(DISTINCT _dlt_load_id) FROM raw_shop.items"),
        "1"
    );

    // a.csv changes (row 2 removed, row 1 renamed), b.csv is deleted, c.jsonl is new.
    std::fs::write(&a, "id,name\n1,uno\n").unwrap();
    touch(&a, 2);
    std::fs::remove_file(&b).unwrap();
    let c = p.write("in/c.jsonl", "{\"id\": 4, \"name\": \"four\"}\n");
    touch(&c, 2);
    sync(&p, &[]);
    assert_eq!(rows(&p), ["1|uno|a.csv", "4|four|c.jsonl"]);
    assert_eq!(tracked(&p, "shop", "items"), ["a.csv", "c.jsonl"]);
    assert!(p.count("raw_shop._dlt_loads") > loads);
    // The marker column of deleted files never holds a row.
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop.items WHERE _dango_file_deleted IS NOT NULL"),
        "0"
    );
    // The state with the files is committed to the warehouse with the data.
    let versions = p.scalar("SELECT max(version) FROM raw_shop._dlt_pipeline_state");
    assert_eq!(
        versions,
        local_state(&p, "shop")["_state_version"].to_string()
    );

    // Only the mtime changes: the file is read again, the merge keeps one row per key.
    touch(&c, 3);
    sync(&p, &[]);
    assert_eq!(rows(&p), ["1|uno|a.csv", "4|four|c.jsonl"]);
}

#[test]
fn append_loads_each_file_once_and_reports_deleted_files() {
    let p = TestProject::new();
    let a = p.write("in/a.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    sources(
        &p,
        &[(
            "log",
            "bucket_url: in\nfile_glob: \"*.jsonl\"\ntable_name: events",
        )],
    );
    sync(&p, &[]);
    sync(&p, &[]);
    assert_eq!(p.count("raw_log.events"), 2);
    p.write("in/b.jsonl", "{\"id\": 3}\n");
    sync(&p, &[]);
    assert_eq!(
        p.scalar("SELECT string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) FROM raw_log.events"),
        "1,2,3"
    );
    std::fs::remove_file(&a).unwrap();
    let out = sync(&p, &[]);
    assert!(
        out.contains("1 file(s) were deleted since the last sync, their rows are kept"),
        "{out}"
    );
    assert_eq!(p.count("raw_log.events"), 3);
    assert_eq!(tracked(&p, "log", "events"), ["b.jsonl"]);
    // --full-refresh forgets the tracked files and loads what is there.
    sync(&p, &["--full-refresh", "-y"]);
    assert_eq!(
        p.scalar("SELECT string_agg(CAST(id AS VARCHAR), ',') FROM raw_log.events"),
        "3"
    );
    // `pipeline drop` drops the table with its tracked files.
    p.dango()
        .args(["pipeline", "log", "drop", "events", "-y"])
        .assert()
        .success();
    assert!(tracked(&p, "log", "events").is_empty());
    sync(&p, &[]);
    assert_eq!(p.count("raw_log.events"), 1);
}

#[test]
fn local_files_and_dango_csv_blocks_gain_the_options() {
    let p = TestProject::new();
    let a = p.write(
        "in/a.csv",
        "id,name,updated\n1,old,2024-01-01\n2,b,2024-01-01\n",
    );
    let b = p.write("in/b.csv", "id,name,updated\n1,new,2024-02-01\n");
    touch(&a, 1);
    touch(&b, 1);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: lf\n    type: local_files\n    local_files:\n      directory: in\n      file_pattern: \"*.csv\"\n      table_name: t\n      write_disposition: append\n      on_deleted: delete_rows\n  - name: dcsv\n    type: csv\n    csv:\n      directory: in\n      primary_key: id\n      timestamp_column: updated\n      notes: exported nightly\n",
    );
    sync(&p, &[]);
    // local_files: typed by DuckDB, tracked, rows of deleted files removed.
    let cols: Vec<String> = p
        .columns("raw_lf", "t")
        .into_iter()
        .map(|c| format!("{}:{}", c.0, c.1))
        .collect();
    assert!(cols.contains(&"updated:DATE".to_string()), "{cols:?}");
    assert_eq!(tracked(&p, "lf", "t"), ["a.csv", "b.csv"]);
    // Dango's csv, latest_only on id: the newest row per key wins.
    assert_eq!(
        p.query("SELECT id, name FROM raw_dcsv.dcsv ORDER BY id"),
        [
            [Some("1".into()), Some("new".into())],
            [Some("2".into()), Some("b".into())]
        ]
    );
    p.dango()
        .args(["source", "list"])
        .assert()
        .success()
        .stdout(contains("merge"));
    std::fs::remove_file(&a).unwrap();
    sync(&p, &[]);
    assert_eq!(
        p.scalar("SELECT string_agg(name, ',' ORDER BY id) FROM raw_lf.t"),
        "new"
    );
}

#[test]
fn replace_reloads_everything_on_a_change_and_skips_otherwise() {
    let p = TestProject::new();
    let a = p.write("in/a.csv", "id\n1\n2\n");
    let b = p.write("in/b.csv", "id\n3\n");
    touch(&a, 1);
    touch(&b, 1);
    sources(
        &p,
        &[(
            "snap",
            "bucket_url: in\nfile_glob: \"*.csv\"\ntable_name: t\nwrite_disposition: replace\ntrack_files: true",
        )],
    );
    sync(&p, &[]);
    let first = p.scalar("SELECT min(_dlt_load_id) FROM raw_snap.t");
    // Unchanged: the table is not part of the load (not emptied, not reloaded).
    sync(&p, &[]);
    assert_eq!(p.count("raw_snap.t"), 3);
    assert_eq!(p.scalar("SELECT max(_dlt_load_id) FROM raw_snap.t"), first);
    // One file changes: all current files are loaded again.
    std::fs::write(&b, "id\n3\n4\n").unwrap();
    touch(&b, 2);
    sync(&p, &[]);
    assert_eq!(
        p.scalar("SELECT string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) FROM raw_snap.t"),
        "1,2,3,4"
    );
    assert_eq!(
        p.scalar("SELECT count(DISTINCT _dlt_load_id) FROM raw_snap.t"),
        "1"
    );
    assert!(p.scalar("SELECT min(_dlt_load_id) FROM raw_snap.t") > first);
    // Every file deleted: never an empty replace.
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    sync(&p, &[]);
    assert_eq!(p.count("raw_snap.t"), 4);
}

#[test]
fn a_bad_csv_row_is_named_by_file_and_line_and_nothing_loads() {
    let p = TestProject::new();
    p.write("in/good.csv", "id,name\n1,a\n");
    // DuckDB types `id` from its sample (20480 rows): the bad value comes after it.
    let rows: String = (0..30_000).map(|i| format!("{i},n{i}\n")).collect();
    p.write("in/zbad.csv", &format!("id,name\n{rows}x1,bad\n5,ok\n"));
    sources(
        &p,
        &[("bad", "bucket_url: in\nfile_glob: \"*.csv\"\ntable_name: t")],
    );
    p.dango()
        .arg("sync")
        .assert()
        .failure()
        .stderr(contains("zbad.csv:30002: invalid CSV"))
        .stderr(contains("Could not convert string \"x1\" to 'BIGINT'"));
    assert!(!p.warehouse().exists() || !p.tables("raw_bad").contains(&"t".to_string()));
    assert!(tracked_or_none(&p, "bad").is_empty());
    // Fixed, the next sync loads both files.
    p.write("in/zbad.csv", &format!("id,name\n{rows}5,ok\n"));
    sync(&p, &[]);
    assert_eq!(p.count("raw_bad.t"), 30_002);
}

/// The tracked files of `pipeline` (table `t`), empty when there is no state yet.
fn tracked_or_none(p: &TestProject, pipeline: &str) -> Vec<String> {
    if p.path()
        .join(format!(".dlt/pipelines/{pipeline}/state.json"))
        .exists()
    {
        tracked(p, pipeline, "t")
    } else {
        Vec::new()
    }
}

#[test]
fn dry_run_validate_and_source_list() {
    let p = TestProject::new();
    p.write("in/x/a.csv", "id\n1\n");
    sources(
        &p,
        &[(
            "fs",
            "bucket_url: in\nfile_glob: \"**/*.csv\"\nwrite_disposition: merge\nprimary_key: id",
        )],
    );
    p.dango()
        .args(["sync", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("1 file(s) into table fs"))
        .stdout(contains("a.csv"));
    p.dango()
        .arg("validate")
        .assert()
        .success()
        .stdout(contains("1 file(s) match"));
    p.dango()
        .args(["source", "list"])
        .assert()
        .success()
        .stdout(contains("merge"));
    assert!(!p.warehouse().exists() || !p.tables("raw_fs").contains(&"fs".to_string()));
    // A typo is reported with its position.
    sources(&p, &[("fs", "bucket_url: in\nfile_glb: \"*\"")]);
    p.dango()
        .arg("validate")
        .assert()
        .failure()
        .stdout(contains("sources[0].filesystem: unknown field `file_glb`"));
}

#[test]
fn limit_marks_only_whole_files_as_loaded() {
    let p = TestProject::new();
    p.write("in/a.jsonl", "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n");
    p.write("in/b.jsonl", "{\"id\": 4}\n");
    sources(
        &p,
        &[(
            "lim",
            "bucket_url: in\nfile_glob: \"*.jsonl\"\ntable_name: t\nwrite_disposition: merge\nprimary_key: id",
        )],
    );
    sync(&p, &["--limit", "2"]);
    assert_eq!(p.count("raw_lim.t"), 2);
    assert!(tracked(&p, "lim", "t").is_empty());
    sync(&p, &[]);
    assert_eq!(p.count("raw_lim.t"), 4);
    assert_eq!(tracked(&p, "lim", "t"), ["a.jsonl", "b.jsonl"]);
}

fn crash_then_sync(point: &str) {
    let p = TestProject::new();
    p.write("in/a.csv", "id\n1\n2\n");
    sources(
        &p,
        &[("cr", "bucket_url: in\nfile_glob: \"*.csv\"\ntable_name: t")],
    );
    sync(&p, &[]);
    p.write("in/b.csv", "id\n3\n");
    p.sync_killed_at(point, &[]);
    p.write("in/c.csv", "id\n4\n");
    sync(&p, &[]);
    sync(&p, &[]);
    assert_eq!(
        p.scalar("SELECT string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) FROM raw_cr.t"),
        "1,2,3,4",
        "killed at {point}"
    );
    assert_eq!(tracked(&p, "cr", "t"), ["a.csv", "b.csv", "c.csv"]);
}

#[test]
fn a_sync_killed_mid_run_loads_each_file_exactly_once() {
    for point in [
        "extract_before_publish",
        "after_extract",
        "load_before_commit",
        "load_after_commit",
        "load_before_state_save",
    ] {
        crash_then_sync(point);
    }
}

/// Creates bucket `name` on the S3 server (moto accepts an unsigned `PUT /<bucket>`).
fn create_bucket(endpoint: &str, name: &str) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
}

struct Bucket {
    store: object_store::aws::AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(endpoint: &str, name: &str) -> Bucket {
        create_bucket(endpoint, name);
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(name)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Bucket { store, rt }
    }

    fn put(&self, key: &str, body: &[u8]) {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(key);
        self.rt
            .block_on(self.store.put(&path, body.to_vec().into()))
            .unwrap();
    }

    fn delete(&self, key: &str) {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(key);
        self.rt.block_on(self.store.delete(&path)).unwrap();
    }
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", std::process::id())
}

#[test]
fn s3_files_load_with_etags_tracked_and_secrets_hidden() {
    let Some(endpoint) = services::s3_endpoint("filesystem::s3") else {
        return;
    };
    let bucket = unique("dango-fs");
    let b = Bucket::new(&endpoint, &bucket);
    b.put(
        "exports/2024/orders.csv",
        &std::fs::read(fixtures().join("data/orders.csv")).unwrap(),
    );
    b.put(
        "exports/2024/metrics.parquet",
        &std::fs::read(fixtures().join("data/metrics.parquet")).unwrap(),
    );
    b.put("exports/other.txt", b"not matched");
    let p = TestProject::new();
    let secret = "s3cr3t-Value-9f2c";
    p.write(
        ".dlt/secrets.toml",
        &format!(
            "[sources.filesystem.credentials]\naws_access_key_id = \"AKIA-DANGO-TEST\"\naws_secret_access_key = \"{secret}\"\nendpoint_url = \"{endpoint}\"\n"
        ),
    );
    sources(
        &p,
        &[
            (
                "s3orders",
                &format!(
                    "bucket_url: s3://{bucket}/exports\nfile_glob: \"**/*.csv\"\ntable_name: orders"
                ),
            ),
            (
                "s3metrics",
                &format!(
                    "bucket_url: s3://{bucket}/exports\nfile_glob: \"**/*.parquet\"\ntable_name: metrics"
                ),
            ),
        ],
    );
    let out = sync(&p, &["-v"]);
    assert!(!out.contains(secret), "{out}");
    assert_eq!(
        table_as_dlt(&p, "raw_s3orders", "orders"),
        expected("orders")
    );
    assert_eq!(
        table_as_dlt(&p, "raw_s3metrics", "metrics"),
        expected("metrics")
    );
    let state = local_state(&p, "s3orders");
    let entry = &state["sources"]["s3orders"]["resources"]["orders"]["files"]["2024/orders.csv"];
    assert!(
        entry["etag"].as_str().is_some_and(|e| !e.is_empty()),
        "{state}"
    );
    assert_eq!(entry["size"], 275);

    // Unchanged objects are not read again; a rewritten one is.
    sync(&p, &[]);
    assert_eq!(p.count("raw_s3orders.orders"), 4);
    b.put("exports/2024/more.csv", b"order_id,customer\n5,Eve\n");
    b.delete("exports/2024/orders.csv");
    sync(&p, &[]);
    assert_eq!(p.count("raw_s3orders.orders"), 5);
    assert_eq!(tracked(&p, "s3orders", "orders"), ["2024/more.csv"]);
    // Nothing of the secret in what dango keeps.
    for f in walk(&p.path().join(".dlt/pipelines")) {
        let text = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(secret),
            "{}",
            f.display()
        );
    }

    // Wrong keys: a clear error without the value.
    p.write(
        ".dlt/secrets.toml",
        &format!(
            "[sources.s3orders.credentials]\naws_access_key_id = \"x\"\naws_secret_access_key = \"{secret}\"\nendpoint_url = \"http://127.0.0.1:1\"\n"
        ),
    );
    let out = p.dango().args(["sync", "s3orders"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains(secret), "{err}");
    assert!(
        err.contains("bucket_url and [sources.filesystem.credentials]"),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn since_until_do_not_apply_to_file_sources() {
    let p = TestProject::new();
    p.write("data/a.csv", "id,v\n1,x\n");
    sources(
        &p,
        &[(
            "files",
            "bucket_url: data\nfile_glob: \"*.csv\"\ntable_name: t",
        )],
    );
    // Named on the command line: an error before anything is loaded.
    let out = p
        .dango()
        .args(["sync", "files", "--since", "2024-01-01"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "--since/--until/--backfill do not apply to source `files` (type filesystem)"
        ) && stderr.contains("Run `dango sync files` without them"),
        "{stderr}"
    );
    assert!(!p.warehouse().exists() || p.tables("raw_files").is_empty());
    // Among all sources: a warning, and the files load as without the window.
    let out = sync(&p, &["--backfill", "7d"]);
    assert!(
        out.contains("warning: --since/--until/--backfill do not apply to source `files`"),
        "{out}"
    );
    assert_eq!(p.count("raw_files.t"), 1);
}

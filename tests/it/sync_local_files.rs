//! `dango sync` of `local_files` sources: layout, types, replace, formats, system tables.

use predicates::str::contains;

use crate::util::{TestProject, orders_jsonl};

fn s(v: &str) -> (String, String, String) {
    let mut parts = v.split('|');
    (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
    )
}

#[test]
fn nested_jsonl_lands_in_dlt_layout() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(30, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango()
        .arg("sync")
        .assert()
        .success()
        .stdout(contains("orders"));

    assert_eq!(
        p.tables("raw_shop"),
        [
            "_dlt_loads",
            "_dlt_pipeline_state",
            "_dlt_version",
            "orders",
            "orders__line_items",
            "orders__line_items__tags"
        ]
    );
    let cols = p.columns("raw_shop", "orders");
    let expected: Vec<_> = [
        "order_id|BIGINT|YES",
        "created_at|TIMESTAMP WITH TIME ZONE|YES",
        "total|DOUBLE|YES",
        "paid|BOOLEAN|YES",
        "customer__first_name|VARCHAR|YES",
        "customer__address__zip_code|VARCHAR|YES",
        "_dlt_load_id|VARCHAR|NO",
        "_dlt_id|VARCHAR|NO",
    ]
    .into_iter()
    .map(s)
    .collect();
    assert_eq!(cols, expected);
    let cols = p.columns("raw_shop", "orders__line_items");
    let expected: Vec<_> = [
        "sku|VARCHAR|YES",
        "qty|BIGINT|YES",
        "_dlt_parent_id|VARCHAR|NO",
        "_dlt_list_idx|BIGINT|NO",
        "_dlt_id|VARCHAR|NO",
    ]
    .into_iter()
    .map(s)
    .collect();
    assert_eq!(cols, expected);
    assert_eq!(p.count("raw_shop.orders"), 30);
    // order i has (i % 3) + 1 items, each with 2 tags
    let items: i64 = (1..=30).map(|i| (i % 3) + 1).sum();
    assert_eq!(p.count("raw_shop.orders__line_items"), items);
    assert_eq!(p.count("raw_shop.orders__line_items__tags"), items * 2);

    // values and links
    let row = p.query(
        "SELECT order_id, epoch_us(created_at), total, paid, customer__address__zip_code \
         FROM raw_shop.orders WHERE order_id = 4",
    );
    assert_eq!(
        row[0],
        [
            Some("4".into()),
            Some("1704448800000000".into()),
            Some("4.5".into()),
            Some("true".into()),
            Some("04".into())
        ]
    );
    let orphans = p.scalar(
        "SELECT count(*) FROM raw_shop.orders__line_items__tags t \
         LEFT JOIN raw_shop.orders__line_items i ON t._dlt_parent_id = i._dlt_id WHERE i._dlt_id IS NULL",
    );
    assert_eq!(orphans, "0");
    let idx = p.query(
        "SELECT i._dlt_list_idx, i.sku FROM raw_shop.orders__line_items i \
         JOIN raw_shop.orders o ON i._dlt_parent_id = o._dlt_id WHERE o.order_id = 5 ORDER BY 1",
    );
    assert_eq!(idx.len(), 3);
    assert_eq!(idx[2], [Some("2".into()), Some("S5-2".into())]);
    // ids look like dlt's: 14 chars of base64
    let id = p.scalar("SELECT _dlt_id FROM raw_shop.orders LIMIT 1");
    assert_eq!(id.len(), 14);

    // system tables
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop._dlt_loads WHERE status = 0"),
        "1"
    );
    let load_id = p.scalar("SELECT load_id FROM raw_shop._dlt_loads");
    assert_eq!(
        p.scalar(&format!(
            "SELECT count(*) FROM raw_shop.orders WHERE _dlt_load_id = '{load_id}'"
        )),
        "30"
    );
    assert_eq!(
        p.scalar("SELECT schema_name || ':' || engine_version FROM raw_shop._dlt_version"),
        "shop:11"
    );
    let state = p.scalar("SELECT state FROM raw_shop._dlt_pipeline_state");
    assert!(state.starts_with("eNp"), "{state}");
    assert_eq!(
        p.scalar("SELECT pipeline_name FROM raw_shop._dlt_pipeline_state"),
        "shop"
    );
    // the version hash in _dlt_loads is the schema's
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop._dlt_loads l JOIN raw_shop._dlt_version v ON l.schema_version_hash = v.version_hash"),
        "1"
    );

    // random row ids are stored with zstd (dictionary/FSST analysis is wasted on them);
    // other text columns keep DuckDB's automatic choice
    assert_eq!(
        p.scalar(
            "SELECT string_agg(DISTINCT compression, ',') FROM \
             pragma_storage_info('raw_shop.orders__line_items') \
             WHERE column_name IN ('_dlt_id', '_dlt_parent_id') AND segment_type = 'VARCHAR'"
        ),
        "ZSTD"
    );
    assert_eq!(
        p.scalar(
            "SELECT count(*) FROM raw_shop.orders__line_items c \
             JOIN raw_shop.orders o ON c._dlt_parent_id = o._dlt_id"
        ),
        p.count("raw_shop.orders__line_items").to_string()
    );

    // project-local working dir
    let wd = p.path().join(".dlt/pipelines/shop");
    assert!(wd.join("state.json").is_file());
    assert!(wd.join("schemas/shop.schema.json").is_file());
    assert!(
        wd.join("load/loaded")
            .join(&load_id)
            .join("package_completed.json")
            .is_file()
    );
}

#[test]
fn replace_twice_replaces_children_too() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(10, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango().arg("sync").assert().success();
    let first_items = p.count("raw_shop.orders__line_items");
    // second run: fewer orders, no tags at all
    p.write(
        "input/orders.jsonl",
        "{\"orderId\":1,\"lineItems\":[{\"sku\":\"x\"}]}\n{\"orderId\":2}\n",
    );
    p.dango().arg("sync").assert().success();
    assert!(first_items > 1);
    assert_eq!(p.count("raw_shop.orders"), 2);
    assert_eq!(p.count("raw_shop.orders__line_items"), 1);
    assert_eq!(p.count("raw_shop.orders__line_items__tags"), 0);
    assert_eq!(p.scalar("SELECT count(*) FROM raw_shop._dlt_loads"), "2");
    // schema did not change: one version row
    assert_eq!(p.scalar("SELECT count(*) FROM raw_shop._dlt_version"), "1");
}

#[test]
fn json_array_and_csv_files() {
    let p = TestProject::new();
    p.write(
        "in/a.json",
        "[{\"id\": 1, \"name\": \"a\"},\n {\"id\": 2, \"name\": \"b\", \"extra\": {\"k\": true}}]",
    );
    p.write("in/b.csv", "id,name,score\n3,c,1.5\n4,,2\n");
    p.local_source("mixed", "in", "*", "      table_name: people\n");
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_mixed.people"), 4);
    let cols: Vec<String> = p
        .columns("raw_mixed", "people")
        .into_iter()
        .map(|c| format!("{}:{}", c.0, c.1))
        .collect();
    assert_eq!(
        cols,
        [
            "id:BIGINT",
            "name:VARCHAR",
            "_dlt_load_id:VARCHAR",
            "_dlt_id:VARCHAR",
            "extra__k:BOOLEAN",
            "score:DOUBLE"
        ]
    );
    assert_eq!(
        p.query("SELECT name FROM raw_mixed.people WHERE id = 4")[0][0],
        None
    );
}

#[test]
fn variants_and_coercion() {
    let p = TestProject::new();
    p.write(
        "in/x.jsonl",
        "{\"n\": 1, \"t\": \"2024-01-01T10:00:00+02:00\"}\n{\"n\": \"42\", \"t\": \"not a date\"}\n{\"n\": \"abc\"}\n",
    );
    p.local_source("v", "in", "*.jsonl", "");
    p.dango().arg("sync").assert().success();
    let cols: Vec<String> = p
        .columns("raw_v", "v")
        .into_iter()
        .map(|c| format!("{}:{}", c.0, c.1))
        .collect();
    assert_eq!(
        cols,
        [
            "n:BIGINT",
            "t:TIMESTAMP WITH TIME ZONE",
            "_dlt_load_id:VARCHAR",
            "_dlt_id:VARCHAR",
            "t__v_text:VARCHAR",
            "n__v_text:VARCHAR"
        ]
    );
    let rows =
        p.query("SELECT n, epoch_us(t), t__v_text, n__v_text FROM raw_v.v ORDER BY n NULLS LAST");
    assert_eq!(
        rows[0],
        [
            Some("1".into()),
            Some("1704096000000000".into()),
            None,
            None
        ]
    );
    assert_eq!(
        rows[1],
        [Some("42".into()), None, Some("not a date".into()), None]
    );
    assert_eq!(rows[2], [None, None, None, Some("abc".into())]);
}

#[test]
fn dataset_and_pipeline_follow_the_source_name() {
    let p = TestProject::new();
    p.write("in/x.jsonl", "{\"a\":1}\n");
    p.local_source("MySource", "in", "*.jsonl", "");
    p.dango().args(["sync", "mysource"]).assert().success();
    assert_eq!(p.count("raw_mysource.mysource"), 1);
    assert!(
        p.path()
            .join(".dlt/pipelines/mysource/state.json")
            .is_file()
    );
}

#[test]
fn unknown_source_lists_known_ones() {
    let p = TestProject::new();
    p.write("in/x.jsonl", "{\"a\":1}\n");
    p.local_source("one", "in", "*.jsonl", "");
    p.dango()
        .args(["sync", "two"])
        .assert()
        .failure()
        .stderr(contains("no source `two`").and(contains("one")));
}

use predicates::prelude::PredicateBooleanExt;

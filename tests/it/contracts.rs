//! Schema contracts against dlt 1.31's own results (`tests/fixtures/dlt_merge/contract_*`),
//! replayed through `dango sync` (see `merge_replay`).

use crate::merge_replay::Replay;

#[test]
fn contract_tables_modes_match_dlt() {
    Replay::run("contract_tables_evolve");
    Replay::run("contract_tables_freeze");
    Replay::run("contract_tables_discard_row");
    Replay::run("contract_tables_discard_value");
}

#[test]
fn contract_tables_on_a_fresh_pipeline_match_dlt() {
    Replay::run("contract_tables_freeze_fresh");
    Replay::run("contract_tables_discard_row_fresh");
}

#[test]
fn contract_columns_modes_match_dlt() {
    Replay::run("contract_columns_evolve");
    Replay::run("contract_columns_freeze");
    Replay::run("contract_columns_discard_row");
    Replay::run("contract_columns_discard_value");
}

#[test]
fn contract_data_type_modes_match_dlt() {
    Replay::run("contract_data_type_evolve");
    Replay::run("contract_data_type_freeze");
    Replay::run("contract_data_type_discard_row");
    Replay::run("contract_data_type_discard_value");
}

#[test]
fn contract_freeze_shorthand_matches_dlt() {
    Replay::run("contract_freeze_string");
}

use crate::util::TestProject;

fn items_source(p: &TestProject, rows: &str, contract: &str) {
    // A new file, not a rewrite in place: a pending package links to the old one.
    let _ = std::fs::remove_file(p.path().join("input/data.jsonl"));
    p.write("input/data.jsonl", rows);
    p.local_source(
        "shop",
        "input",
        "*.jsonl",
        &format!("      table_name: items\n      write_disposition: append\n{contract}"),
    );
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_frozen_package_stays_pending_until_the_contract_allows_it() {
    let p = TestProject::new();
    let freeze = "      schema_contract: {columns: freeze}\n";
    items_source(&p, "{\"id\": 1}\n", freeze);
    p.dango().arg("sync").assert().success();

    items_source(&p, "{\"id\": 2, \"extra\": \"x\"}\n", freeze);
    for _ in 0..2 {
        let out = p.dango().arg("sync").output().unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("In schema `shop`: In Table: `items` Column: `extra` . Contract on `columns` with `contract_mode=freeze` is violated.")
                && err.contains("stays pending")
                && err.contains("dango sync shop --full-refresh"),
            "{err}"
        );
        let pending = p.path().join(".dlt/pipelines/shop/normalize/extracted");
        assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 1);
        assert_eq!(p.count("raw_shop.items"), 1);
    }

    // Allowing the change loads the pending package (and the new extract).
    items_source(
        &p,
        "{\"id\": 3}\n",
        "      schema_contract: {columns: evolve}\n",
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(
        p.query("SELECT id, extra FROM raw_shop.items ORDER BY id"),
        vec![
            vec![Some("1".into()), None],
            vec![Some("2".into()), Some("x".into())],
            vec![Some("3".into()), None],
        ]
    );
}

#[test]
fn full_refresh_drops_a_frozen_package_and_reloads() {
    let p = TestProject::new();
    let freeze = "      schema_contract: {columns: freeze}\n";
    items_source(&p, "{\"id\": 1}\n", freeze);
    p.dango().arg("sync").assert().success();
    items_source(&p, "{\"id\": 2, \"extra\": \"x\"}\n", freeze);
    assert!(!p.dango().arg("sync").output().unwrap().status.success());
    p.dango()
        .args(["sync", "shop", "--full-refresh", "-y"])
        .assert()
        .success();
    assert_eq!(
        p.query("SELECT id, extra FROM raw_shop.items"),
        vec![vec![Some("2".into()), Some("x".into())]]
    );
}

#[test]
fn seed_schema_settings_map_onto_contracts() {
    let p = TestProject::new();
    p.write(
        ".dlt/config.toml",
        "[schema]\nallow_new_columns = false\nallow_column_removal = false\n",
    );
    items_source(&p, "{\"id\": 1}\n", "");
    p.dango().arg("sync").assert().success();
    items_source(&p, "{\"id\": 2, \"extra\": \"x\"}\n", "");
    let out = p.dango().arg("sync").output().unwrap();
    assert!(
        stderr(&out).contains("Contract on `columns` with `contract_mode=freeze` is violated"),
        "{}",
        stderr(&out)
    );

    // A resource's own contract wins over the config's.
    items_source(
        &p,
        "{\"id\": 2, \"extra\": \"x\"}\n",
        "      schema_contract: {columns: discard_value}\n",
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.items"), 3);
    assert!(
        p.columns("raw_shop", "items")
            .iter()
            .all(|c| c.0 != "extra")
    );

    p.write(
        ".dlt/config.toml",
        "[schema]\nallow_new_columns = true\nallow_column_removal = true\n",
    );
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("allow_column_removal = true is not supported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schema_contract_in_config_toml_applies_to_the_source() {
    let p = TestProject::new();
    p.write(
        ".dlt/config.toml",
        "[sources.shop]\nschema_contract = {data_type = \"discard_value\"}\n",
    );
    items_source(&p, "{\"id\": 1, \"score\": 5}\n", "");
    p.dango().arg("sync").assert().success();
    items_source(&p, "{\"id\": 2, \"score\": \"high\"}\n", "");
    p.dango().arg("sync").assert().success();
    assert_eq!(
        p.query("SELECT id, score FROM raw_shop.items ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("5".into())],
            vec![Some("2".into()), None]
        ]
    );

    p.write(
        ".dlt/config.toml",
        "[schema]\nschema_contract = \"frozen\"\n",
    );
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schema_contract `\"frozen\"` is not a contract mode"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn columns_missing_from_later_loads_stay_nullable() {
    let p = TestProject::new();
    items_source(&p, "{\"id\": 1, \"a\": \"x\", \"b\": 2}\n", "");
    p.dango().arg("sync").assert().success();
    items_source(&p, "{\"id\": 2, \"a\": \"y\"}\n", "");
    p.dango().arg("sync").assert().success();
    let b = p
        .columns("raw_shop", "items")
        .into_iter()
        .find(|c| c.0 == "b")
        .expect("column b is kept");
    assert_eq!(b.2, "YES");
    assert_eq!(
        p.query("SELECT id, b FROM raw_shop.items ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("2".into())],
            vec![Some("2".into()), None]
        ]
    );
}

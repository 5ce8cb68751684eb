//! Merge and replace write dispositions against dlt 1.31's own results
//! (`tests/fixtures/dlt_merge/`), replayed through `dango sync` (see `merge_replay`).

use crate::merge_replay::Replay;

#[test]
fn delete_insert_with_nested_lists_matches_dlt() {
    Replay::run("delete_insert_nested");
}

#[test]
fn delete_insert_merge_keys_match_dlt() {
    Replay::run("delete_insert_merge_key");
    Replay::run("delete_insert_pk_merge_key");
}

#[test]
fn delete_insert_dedup_sort_matches_dlt() {
    Replay::run("delete_insert_dups_sort_desc");
    Replay::run("delete_insert_dups_sort_asc");
}

#[test]
fn hard_delete_matches_dlt() {
    Replay::run("hard_delete_bool");
    Replay::run("hard_delete_timestamp");
}

#[test]
fn upsert_matches_dlt() {
    Replay::run("upsert");
}

#[test]
fn insert_only_matches_dlt() {
    Replay::run("insert_only");
}

#[test]
fn merge_without_keys_appends_like_dlt() {
    Replay::run("no_key_merge");
}

#[test]
fn scd2_matches_dlt() {
    Replay::run("scd2");
}

#[test]
fn scd2_merge_key_scopes_retirement_like_dlt() {
    Replay::run("scd2_merge_key");
}

#[test]
fn scd2_validity_column_names_match_dlt() {
    Replay::run("scd2_validity_names");
}

#[test]
fn replace_truncate_and_insert_matches_dlt() {
    Replay::run("replace_truncate");
}

#[test]
fn replace_insert_from_staging_matches_dlt() {
    Replay::run("replace_staging");
}

#[test]
fn replace_strategy_comes_from_config_toml() {
    let p = crate::util::TestProject::new();
    p.write("input/a.jsonl", "{\"id\": 1, \"tags\": [\"x\"]}\n");
    p.local_source("things", "input", "*.jsonl", "");
    p.write(
        ".dlt/config.toml",
        "[destination]\nreplace_strategy = \"insert-from-staging\"\n",
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_things_staging.things__tags"), 1);
    assert_eq!(p.count("raw_things.things__tags"), 1);

    p.write(
        ".dlt/config.toml",
        "[destination]\nreplace_strategy = \"bogus\"\n",
    );
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("replace_strategy")
            && err.contains("truncate-and-insert, insert-from-staging"),
        "{err}"
    );
}

/// Merges get twice dango's default buffer pool (their SQL spills less); a `memory_limit` the
/// user set holds for merges too.
#[test]
fn merges_raise_the_default_memory_limit_only() {
    let p = crate::util::TestProject::new();
    p.write("in/a.jsonl", "{\"id\": 1, \"v\": \"a\"}\n");
    p.local_source(
        "m",
        "in",
        "*.jsonl",
        "      write_disposition: merge\n      primary_key: id\n",
    );
    let out = p
        .dango()
        .env("RUNTIME__LOG_LEVEL", "debug")
        .arg("sync")
        .output()
        .unwrap();
    assert!(out.status.success());
    // setting values are not logged (they may be credentials)
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SQL SET memory_limit = ***"), "{err}");
    assert_eq!(p.count("raw_m.m"), 1);

    let out = p
        .dango()
        .env("RUNTIME__LOG_LEVEL", "debug")
        .env(
            "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG",
            "{\"memory_limit\": \"300MB\"}",
        )
        .arg("sync")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("SQL SET memory_limit"));
}

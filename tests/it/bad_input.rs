//! Bad input: clear errors, nothing committed, previous data kept, no panics.

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::util::TestProject;

fn project_with(content: &str) -> TestProject {
    let p = TestProject::new();
    p.write("in/data.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    p.local_source("src", "in", "*.jsonl", "");
    p.dango().arg("sync").assert().success();
    p.write("in/data.jsonl", content);
    p
}

#[test]
fn malformed_line_names_file_and_line_and_keeps_old_data() {
    let p = project_with("{\"id\": 10}\n{\"id\": 11}\n{\"id\": \n{\"id\": 13}\n");
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("data.jsonl:3").and(contains("invalid JSON")));
    // the previous load is intact, nothing from the failed package was committed
    assert_eq!(p.count("raw_src.src"), 2);
    assert_eq!(p.scalar("SELECT count(*) FROM raw_src._dlt_loads"), "1");
    // fixing the file makes the next sync succeed
    p.write("in/data.jsonl", "{\"id\": 10}\n");
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_src.src"), 1);
}

#[test]
fn hostile_json_does_not_crash() {
    let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let p = project_with(&deep);
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("data.jsonl:1"));

    let big = "x".repeat(3 << 20);
    let p = project_with(&format!(
        "{{\"s\": \"{big}\", \"i\": 123456789012345678901234567890, \"u\": 18446744073709551615}}\n{{\"userName\": 1, \"user_name\": 2}}\n"
    ));
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_src.src"), 2);
    assert_eq!(
        p.scalar("SELECT length(s) FROM raw_src.src WHERE s IS NOT NULL"),
        (3 << 20).to_string()
    );
    assert_eq!(
        p.scalar("SELECT CAST(i AS VARCHAR) FROM raw_src.src WHERE i IS NOT NULL"),
        "123456789012345678901234567890"
    );
    assert_eq!(
        p.scalar("SELECT CAST(u AS VARCHAR) FROM raw_src.src WHERE u IS NOT NULL"),
        "18446744073709551615"
    );
    assert_eq!(
        p.scalar("SELECT user_name FROM raw_src.src WHERE user_name IS NOT NULL"),
        "2"
    );

    let p = project_with("{\"x\": NaN}\n");
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("data.jsonl:1"));
}

#[test]
fn missing_directory_and_empty_match() {
    let p = TestProject::new();
    p.local_source("src", "nope", "*.jsonl", "");
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("does not exist").and(contains("sources.yml")));
    p.write("in/readme.txt", "hi");
    p.local_source("src", "in", "*.jsonl", "");
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("no files").and(contains("*.jsonl")));
}

#[test]
fn locked_warehouse_is_a_clear_error() {
    let p = TestProject::new();
    p.write("in/data.jsonl", "{\"id\": 1}\n");
    p.local_source("src", "in", "*.jsonl", "");
    p.dango().arg("sync").assert().success();
    // another process holds the warehouse open for writing
    let holder = duckdb::Connection::open(p.warehouse()).unwrap();
    // DuckDB's lock is per process; run the binary while this process holds it.
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("in use by another process"));
    drop(holder);
    p.dango().arg("sync").assert().success();
}

#[test]
fn unwritable_pipeline_dir_is_a_clear_error() {
    let p = TestProject::new();
    p.write("in/data.jsonl", "{\"id\": 1}\n");
    p.local_source("src", "in", "*.jsonl", "");
    // a file where the pipelines folder should be: not writable as a folder, even for root
    p.write(".dlt/pipelines", "not a directory");
    p.dango()
        .arg("sync")
        .assert()
        .code(1)
        .stderr(contains("pipeline working dir"));
}

//! `dango sync` UX: selection, --limit, --dry-run, --full-refresh, summary and --json, one
//! failing source, Ctrl-C, schema mismatch.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::cli_common::{local, sources, stderr, stdout};
use crate::util::{TestProject, orders_jsonl};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn one_failing_source_does_not_stop_the_others() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(12, 1));
    sources(
        &p,
        &[
            local("broken", "missing_dir", ""),
            local("shop", "input", ""),
        ],
    );
    let out = p.dango().arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(o.contains("broken") && o.contains("failed"), "{o}");
    assert!(
        o.contains("1 of 2 source(s) failed") && o.contains("missing_dir"),
        "{o}"
    );
    assert!(
        o.contains("rows loaded (this run)") && o.contains("total rows"),
        "{o}"
    );
    assert_eq!(p.count("raw_shop.shop"), 12);
    assert!(p.tables("raw_broken").is_empty());

    let out = p.dango().args(["sync", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["sources"][0]["source"], "broken");
    assert_eq!(v["sources"][0]["status"], "failed");
    assert!(
        v["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(v["sources"][1]["status"], "ok");
    let t = &v["sources"][1]["tables"];
    let shop = t
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "shop")
        .unwrap();
    assert_eq!(shop["rows_loaded"], 12);
    assert_eq!(shop["total_rows"], 12);
}

#[test]
fn summary_reports_rows_of_this_run_and_totals() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(20, 1));
    sources(
        &p,
        &[local("shop", "input", "      write_disposition: append\n")],
    );
    p.dango().arg("sync").assert().success();
    let out = p.dango().args(["sync", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v = json(&out);
    let tables = v["sources"][0]["tables"].as_array().unwrap().clone();
    let shop = tables.iter().find(|t| t["table"] == "shop").unwrap();
    assert_eq!(shop["rows_loaded"], 20);
    assert_eq!(shop["total_rows"], 40);
    assert_eq!(p.count("raw_shop.shop"), 40);
    let items = tables
        .iter()
        .find(|t| t["table"] == "shop__line_items")
        .unwrap();
    assert_eq!(
        items["total_rows"].as_i64().unwrap(),
        p.count("raw_shop.shop__line_items")
    );
    // plain progress lines when stderr is not a terminal
    let out = p
        .dango()
        .args(["sync", "--source", "shop"])
        .output()
        .unwrap();
    let e = stderr(&out);
    assert!(
        e.contains("shop: extract") && e.contains("shop: normalized") && e.contains("shop: load"),
        "{e}"
    );
    assert!(e.contains("resource shop: extracted"), "{e}");
}

#[test]
fn source_selection_and_limit() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(50, 1));
    sources(&p, &[local("one", "input", ""), local("two", "input", "")]);
    p.dango()
        .args(["sync", "--source", "two", "--limit", "7"])
        .assert()
        .success();
    assert_eq!(p.count("raw_two.two"), 7);
    assert!(p.tables("raw_one").is_empty());
    let out = p.dango().args(["sync", "three"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no source `three`")
            && stderr(&out).contains("Known sources: one, two")
    );
    let out = p.dango().args(["sync", "--limit", "0"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn dry_run_touches_nothing() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(5, 1));
    sources(&p, &[local("shop", "input", "")]);
    let out = p
        .dango()
        .args(["sync", "--dry-run", "--full-refresh"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(
        o.contains("Dry run") && o.contains("raw_shop") && o.contains("a.jsonl"),
        "{o}"
    );
    assert!(o.contains("full refresh: would drop"), "{o}");
    assert!(!p.warehouse().exists());
    assert!(!p.path().join(".dlt/pipelines/shop").exists());
    let out = p
        .dango()
        .args(["sync", "--dry-run", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["sources"][0]["dataset"], "raw_shop");
    assert_eq!(v["sources"][0]["files"].as_array().unwrap().len(), 1);
    // a problem is reported, still without touching anything
    sources(&p, &[local("shop", "nowhere", "")]);
    let out = p.dango().args(["sync", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("problem:"), "{}", stdout(&out));
    assert!(!p.warehouse().exists());
}

#[test]
fn full_refresh_asks_then_replaces_data_and_state() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(20, 1));
    sources(
        &p,
        &[local("shop", "input", "      write_disposition: append\n")],
    );
    p.dango().arg("sync").assert().success();
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.shop"), 40);
    let old_loads = p.count("raw_shop._dlt_loads");
    assert_eq!(old_loads, 2);
    // no terminal, no -y: refused, nothing changed
    let out = p.dango().args(["sync", "--full-refresh"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--full-refresh -y"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.count("raw_shop.shop"), 40);
    // with -y: the dataset is replaced in one load
    p.dango()
        .args(["sync", "--full-refresh", "-y"])
        .assert()
        .success();
    assert_eq!(p.count("raw_shop.shop"), 20);
    assert_eq!(p.count("raw_shop._dlt_loads"), 1);
    assert_eq!(p.count("raw_shop._dlt_pipeline_state"), 1);
    assert_eq!(
        p.scalar("SELECT count(*) FROM raw_shop.shop WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_shop._dlt_loads)"),
        "0"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/state.json")).unwrap(),
    )
    .unwrap();
    // The state starts over (no sources state); its version continues the old numbering (1)
    // so that no older state can ever be restored over it.
    assert_eq!(state["sources"], serde_json::json!({}), "{state}");
    assert_eq!(
        state["_state_version"], 2,
        "local state starts over: {state}"
    );
    assert!(
        !p.path()
            .join(".dlt/pipelines/shop/full_refresh.json")
            .exists()
    );
    let trace: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/trace.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(trace["full_refresh"], true);
}

#[test]
fn full_refresh_keeps_old_data_until_the_new_load_commits() {
    use std::os::unix::process::ExitStatusExt;
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(20, 1));
    sources(
        &p,
        &[local("shop", "input", "      write_disposition: append\n")],
    );
    p.dango().arg("sync").assert().success();
    p.dango().arg("sync").assert().success();
    let out = p
        .dango()
        .args(["sync", "--full-refresh", "-y"])
        .env("DANGO_FAULT", "load_before_commit")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    // killed before the commit: the old data is all there
    assert_eq!(p.count("raw_shop.shop"), 40);
    assert_eq!(p.count("raw_shop._dlt_loads"), 2);
    let old_ids = p.query("SELECT load_id FROM raw_shop._dlt_loads");
    // the next plain sync finishes the refresh first, then appends its own load
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.shop"), 40);
    assert_eq!(p.count("raw_shop._dlt_loads"), 2);
    for id in old_ids {
        let id = id[0].clone().unwrap();
        assert_eq!(
            p.scalar(&format!(
                "SELECT count(*) FROM raw_shop.shop WHERE _dlt_load_id = '{id}'"
            )),
            "0"
        );
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_run_resumes() {
    let p = TestProject::new();
    p.write("big/a.jsonl", &orders_jsonl(60_000, 1));
    p.write("small/a.jsonl", &orders_jsonl(5, 1));
    sources(&p, &[local("big", "big", ""), local("small", "small", "")]);
    let mut cmd = p.dango_std();
    cmd.arg("sync")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("big: extract") {
            // SAFETY: plain kill(2) on our child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            break;
        }
    }
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("Interrupted"), "{seen}");
    // the second source never started (and the first committed nothing, or all of it)
    if p.warehouse().exists() {
        assert!(p.tables("raw_small").is_empty());
        let big = p.tables("raw_big");
        if !big.is_empty() {
            assert_eq!(p.count("raw_big.big"), 60_000);
        }
    }
    // the next run finishes everything, without duplicates
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_big.big"), 60_000);
    assert_eq!(p.count("raw_small.small"), 5);
}

#[test]
fn schema_mismatch_names_the_change_and_the_fix() {
    let p = TestProject::new();
    p.write(
        "input/a.jsonl",
        "{\"id\": 1, \"v\": 10}\n{\"id\": 2, \"v\": 20}\n",
    );
    sources(
        &p,
        &[local("shop", "input", "      write_disposition: append\n")],
    );
    p.dango().arg("sync").assert().success();
    // the local schema is lost, the warehouse has no state to restore it from (as if loaded by
    // another tool), and the data changed shape
    std::fs::remove_dir_all(p.path().join(".dlt/pipelines/shop")).unwrap();
    duckdb::Connection::open(p.warehouse())
        .unwrap()
        .execute_batch("DELETE FROM raw_shop._dlt_pipeline_state")
        .unwrap();
    p.write("input/a.jsonl", "{\"id\": 3, \"v\": \"ten\"}\n");
    let out = p.dango().arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out) + &stderr(&out);
    assert!(o.contains("schema mismatch"), "{o}");
    assert!(
        o.contains("shop.v: the warehouse column is BIGINT, the new data is VARCHAR"),
        "{o}"
    );
    assert!(o.contains("dango sync shop --full-refresh"), "{o}");
    assert_eq!(p.count("raw_shop.shop"), 2);
    // The job the warehouse refused is marked failed in its package (dlt's `failed_jobs/`),
    // with the error, and `pipeline failed-jobs` shows it.
    let o = stdout(
        &p.dango()
            .args(["pipeline", "shop", "failed-jobs"])
            .output()
            .unwrap(),
    );
    assert!(
        o.contains("(shop) FAILED:") && !o.contains("No failed jobs found"),
        "{o}"
    );
    let out = p
        .dango()
        .args(["pipeline", "shop", "failed-jobs", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = v["failed_jobs"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["table"], "shop");
    assert!(
        failed[0]["file"]
            .as_str()
            .unwrap()
            .contains("/failed_jobs/"),
        "{v}"
    );
    assert!(!failed[0]["error"].as_str().unwrap().is_empty(), "{v}");
    // the fix works
    p.dango()
        .args(["sync", "shop", "--full-refresh", "-y"])
        .assert()
        .success();
    assert_eq!(p.scalar("SELECT v FROM raw_shop.shop"), "ten");
    assert_eq!(p.count("raw_shop.shop"), 1);
}

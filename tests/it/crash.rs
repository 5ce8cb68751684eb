//! Crash safety: the real binary is SIGKILLed at each stage (via `DANGO_FAULT`, which makes the
//! process kill itself with SIGKILL at a named point), then `dango sync` runs again. The
//! warehouse must end exactly as after uninterrupted runs: no lost rows, no duplicates.

use crate::util::{TestProject, orders_jsonl};

fn append_project() -> TestProject {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(20, 1));
    p.local_source(
        "shop",
        "input",
        "*.jsonl",
        "      table_name: orders\n      write_disposition: append\n",
    );
    p
}

fn items_for(n: i64) -> i64 {
    (1..=n).map(|i| (i % 3) + 1).sum()
}

/// (fault point, copies of the data after crash + one clean run). A package that was fully
/// extracted before the crash is finished by the next run, then the next run loads its own.
const CASES: &[(&str, i64)] = &[
    ("extract_before_publish", 1),
    ("after_extract", 2),
    ("after_normalize", 2),
    ("load_before_commit", 2),
    ("load_after_commit", 2),
];

#[test]
fn sigkill_at_every_stage_then_resume_append() {
    for (point, copies) in CASES {
        let p = append_project();
        p.sync_killed_at(point, &[]);
        p.dango().arg("sync").assert().success();
        let orders = p.count("raw_shop.orders");
        assert_eq!(orders, 20 * copies, "orders after crash at {point}");
        assert_eq!(
            p.count("raw_shop.orders__line_items"),
            items_for(20) * copies,
            "line items after crash at {point}"
        );
        // every row belongs to a completed load, and each load id appears once
        assert_eq!(
            p.scalar(
                "SELECT count(*) FROM raw_shop.orders WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_shop._dlt_loads)"
            ),
            "0",
            "{point}"
        );
        assert_eq!(
            p.scalar("SELECT count(*) - count(DISTINCT load_id) FROM raw_shop._dlt_loads"),
            "0"
        );
        assert_eq!(
            p.scalar("SELECT count(*) FROM raw_shop._dlt_loads"),
            copies.to_string(),
            "{point}"
        );
        // nothing pending is left behind
        let wd = p.path().join(".dlt/pipelines/shop");
        for sub in [
            "normalize/extracting",
            "normalize/extracted",
            "load/normalizing",
            "load/normalized",
        ] {
            let n = std::fs::read_dir(wd.join(sub))
                .map(|d| d.count())
                .unwrap_or(0);
            assert_eq!(n, 0, "{sub} not empty after crash at {point}");
        }
    }
}

#[test]
fn sigkill_during_replace_keeps_old_data_until_commit() {
    for (point, _) in CASES {
        let p = TestProject::new();
        p.write("input/orders.jsonl", &orders_jsonl(10, 1));
        p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
        p.dango().arg("sync").assert().success();
        p.write("input/orders.jsonl", &orders_jsonl(7, 100));
        p.sync_killed_at(point, &[]);
        // whatever the crash point, the warehouse holds a complete load: old or new
        let n = p.count("raw_shop.orders");
        assert!(n == 10 || n == 7, "{point}: {n}");
        p.dango().arg("sync").assert().success();
        assert_eq!(p.count("raw_shop.orders"), 7, "{point}");
        assert_eq!(
            p.count("raw_shop.orders__line_items"),
            (100..107).map(|i| (i % 3) + 1).sum::<i64>()
        );
    }
}

/// A `.jsonl` file is hard-linked into the extracted package, not copied. If the user rewrites
/// it in place before the package is normalized, the package no longer holds what was
/// extracted: the next run says so, discards it, loads nothing from it, and the run after that
/// loads the file as it is now.
#[test]
fn file_modified_in_place_after_extract_is_detected_not_loaded() {
    let p = append_project();
    p.sync_killed_at("after_extract", &[]);
    // Rewrite the same inode (`fs::write` truncates), as an editor or `>` redirect would.
    p.write("input/orders.jsonl", &orders_jsonl(5, 500));
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("orders.jsonl was modified while dango was loading it")
            && stderr.contains("run `dango sync` again"),
        "{stderr}"
    );
    // Nothing was loaded (the run failed before the warehouse was created).
    assert!(!p.warehouse().exists());
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.orders"), 5);
    assert_eq!(p.scalar("SELECT min(order_id) FROM raw_shop.orders"), "500");
}

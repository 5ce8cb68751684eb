//! Extract, normalize and load at once (`src/pipeline/overlap.rs`) for a file source: a CSV
//! big enough for several job files, with `DANGO_OVERLAP=1` (the overlap is opt-in). The rows,
//! types and package must equal those of the steps run one after the other (the default), and
//! a failure or a SIGKILL after some
//! job files were inserted (not committed) must leave the warehouse as it was, with every row
//! loaded exactly once by the next sync.

use std::time::Duration;

use predicates::str::contains;

use crate::util::TestProject;

/// Rows of the CSV: three job files of 250,000 rows and a short fourth.
const ROWS: usize = 760_000;

fn csv(rows: usize, bad_at: Option<usize>) -> String {
    let mut s = String::from("id,name,amount,day\n");
    for i in 0..rows {
        if Some(i) == bad_at {
            s.push_str("x,bad,1.5,2024-01-01\n");
            continue;
        }
        s.push_str(&format!(
            "{i},n{},{}.25,2024-01-{:02}\n",
            i % 97,
            i % 1000,
            i % 28 + 1
        ));
    }
    s
}

/// A filesystem source over `in/big.csv`; `track_files: false` reads it again every sync.
fn project(disposition: &str, track_files: bool) -> TestProject {
    let p = TestProject::new();
    p.write("in/big.csv", &csv(ROWS, None));
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\nsources:\n  - name: big\n    type: filesystem\n    filesystem:\n      \
             bucket_url: in\n      file_glob: \"*.csv\"\n      table_name: t\n      \
             write_disposition: {disposition}\n      track_files: {track_files}\n"
        ),
    );
    p
}

fn sync(p: &TestProject, overlap: bool) {
    let out = p
        .dango()
        .arg("sync")
        .env("DANGO_OVERLAP", if overlap { "1" } else { "0" })
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Jobs of the last loaded package: (table, rows) per job file.
fn loaded_jobs(p: &TestProject) -> Vec<(String, u64)> {
    let loaded = p.path().join(".dlt/pipelines/big/load/loaded");
    let mut ids: Vec<_> = std::fs::read_dir(&loaded)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    ids.sort();
    let text = std::fs::read_to_string(ids.last().unwrap().join("package.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["table"].as_str().unwrap().to_string(),
                j["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn summary(p: &TestProject) -> Vec<Vec<Option<String>>> {
    p.query(
        "SELECT count(*), count(DISTINCT id), sum(id), sum(amount), min(day), max(day), \
         count(DISTINCT _dlt_load_id) FROM raw_big.t",
    )
}

#[test]
fn overlapped_sync_equals_the_sequential_one() {
    let a = project("append", true);
    sync(&a, true);
    let b = project("append", true);
    sync(&b, false);
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(a.count("raw_big.t"), ROWS as i64);
    let columns = |p: &TestProject| {
        p.query(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'raw_big' AND table_name = 't' ORDER BY ordinal_position",
        )
    };
    assert_eq!(columns(&a), columns(&b));
    // The overlapped package lists a job per (about) 250,000 extracted rows, all of table t.
    let jobs = loaded_jobs(&a);
    assert!(jobs.len() >= 3, "{jobs:?}");
    assert!(jobs.iter().all(|(t, _)| t == "t"));
    assert_eq!(jobs.iter().map(|(_, n)| n).sum::<u64>(), ROWS as u64);
    assert_eq!(a.scalar("SELECT count(*) FROM raw_big._dlt_loads"), "1");
    // dlt's own view of the pipeline works on it.
    a.dango()
        .args(["pipeline", "big", "load-package"])
        .assert()
        .success()
        .stdout(contains("t."));
    // A second sync of a replace table replaces (no rows twice).
    let r = project("replace", false);
    sync(&r, true);
    sync(&r, true);
    assert_eq!(r.count("raw_big.t"), ROWS as i64);
    assert_eq!(r.scalar("SELECT count(*) FROM raw_big._dlt_loads"), "2");
}

#[test]
fn a_bad_row_after_loaded_jobs_commits_nothing() {
    let p = project("append", true);
    // The bad value is in the fourth job file: three were inserted before extract fails.
    p.write("in/big.csv", &csv(ROWS, Some(ROWS - 5)));
    p.dango()
        .arg("sync")
        .env("DANGO_OVERLAP", "1")
        .timeout(Duration::from_secs(300))
        .assert()
        .failure()
        .stderr(contains("invalid CSV"));
    assert!(!p.tables("raw_big").contains(&"t".to_string()));
    p.write("in/big.csv", &csv(ROWS, None));
    sync(&p, true);
    assert_eq!(p.count("raw_big.t"), ROWS as i64);
    assert_eq!(
        p.scalar("SELECT count(DISTINCT id) FROM raw_big.t"),
        ROWS.to_string()
    );
}

#[test]
fn sigkill_after_an_inserted_job_then_sync_loads_each_row_once() {
    for point in [
        "after_streamed_job",
        "after_extract",
        "after_normalize",
        "load_before_commit",
    ] {
        let p = project("append", true);
        p.sync_killed_at_with(point, &[], &[("DANGO_OVERLAP", "1")]);
        sync(&p, true);
        assert_eq!(p.count("raw_big.t"), ROWS as i64, "killed at {point}");
        assert_eq!(
            p.scalar("SELECT count(DISTINCT id) FROM raw_big.t"),
            ROWS.to_string(),
            "killed at {point}"
        );
        assert_eq!(
            p.scalar(
                "SELECT count(*) FROM raw_big.t WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_big._dlt_loads)"
            ),
            "0",
            "killed at {point}"
        );
    }
}

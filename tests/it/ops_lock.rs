//! The project's writer lock (`.dango/state/warehouse.lock`): a second writer waits with a
//! message naming the holder, fails after `[runtime] lock_timeout`, two syncs racing both
//! finish with the right data, and a SIGKILLed holder frees it.

use std::io::Write;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use crate::util::{TestProject, orders_jsonl};

/// Two `local_files` sources, `a` (n orders) and `b` (m orders).
fn two_sources(n: usize, m: usize) -> TestProject {
    let p = TestProject::new();
    p.write("in_a/orders.jsonl", &orders_jsonl(n, 1));
    p.write("in_b/orders.jsonl", &orders_jsonl(m, 1000));
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: a\n    type: local_files\n    local_files:\n      directory: in_a\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n  - name: b\n    type: local_files\n    local_files:\n      directory: in_b\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n",
    );
    p
}

/// Holds the project lock from the test process, as a running `dango` would, with holder info.
fn hold_lock(p: &TestProject) -> std::fs::File {
    let path = p.path().join(".dango/state/warehouse.lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert!(f.try_lock_exclusive().unwrap());
    write!(
        f,
        r#"{{"pid":{},"host":"testhost","command":"dango sync other","source":"other","operation":"load","started_at":"2026-01-01T00:00:00Z"}}"#,
        std::process::id()
    )
    .unwrap();
    f
}

#[test]
fn a_writer_waits_for_the_holder_then_times_out_naming_it() {
    let p = two_sources(5, 5);
    let held = hold_lock(&p);
    let started = Instant::now();
    let out = p
        .dango()
        .args(["sync", "a"])
        .env("RUNTIME__LOCK_TIMEOUT", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        stderr.contains(&format!("pid {} on testhost", std::process::id()))
            && stderr.contains("dango sync other")
            && stderr.contains("lock_timeout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("waiting for the warehouse lock held by pid"),
        "{stderr}"
    );
    // The extract and normalize ran; nothing was committed, the package waits.
    assert!(!p.warehouse().exists() || p.tables("raw_a").is_empty());
    drop(held);
    // Once the holder is gone the next sync loads the pending package.
    p.dango().args(["sync", "a"]).assert().success();
    assert_eq!(p.count("raw_a.orders"), 5);
}

#[test]
fn a_waiting_writer_goes_on_when_the_holder_finishes() {
    let p = two_sources(5, 5);
    let held = hold_lock(&p);
    let child = p
        .dango_std()
        .args(["sync", "a"])
        .env("RUNTIME__LOCK_TIMEOUT", "60")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    drop(held);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for the warehouse lock held by pid"),
        "{stderr}"
    );
    assert_eq!(p.count("raw_a.orders"), 5);
}

#[test]
fn two_syncs_of_two_sources_racing_both_finish_with_their_data() {
    for round in 0..2 {
        let p = two_sources(20_000, 15_000);
        let spawn = |s: &str| {
            p.dango_std()
                .args(["sync", s])
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (ca, cb) = (spawn("a"), spawn("b"));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        for (s, o) in [("a", &oa), ("b", &ob)] {
            assert!(
                o.status.success(),
                "round {round}: sync {s}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(p.count("raw_a.orders"), 20_000);
        assert_eq!(p.count("raw_b.orders"), 15_000);
        let items = |r: std::ops::Range<i64>| r.map(|i| (i % 3) + 1).sum::<i64>();
        assert_eq!(p.count("raw_a.orders__line_items"), items(1..20_001));
        assert_eq!(p.count("raw_b.orders__line_items"), items(1000..16_000));
        assert_eq!(p.count("raw_a._dlt_loads"), 1);
        assert_eq!(p.count("raw_b._dlt_loads"), 1);
    }
}

#[test]
fn a_sigkilled_holder_frees_the_lock() {
    let p = two_sources(10, 10);
    // Killed with SIGKILL while it holds the lock, just before its commit.
    p.sync_killed_at("load_before_commit", &["a"]);
    let started = Instant::now();
    p.dango()
        .args(["sync", "a", "b"])
        .env("RUNTIME__LOCK_TIMEOUT", "5")
        .assert()
        .success();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(p.count("raw_a.orders"), 10);
    assert_eq!(p.count("raw_b.orders"), 10);
    // The killed run's package was resumed, then the new run loaded its own.
    assert_eq!(p.count("raw_a._dlt_loads"), 2);
    // Nobody holds it now; the holder info of the killed process is not shown as a holder.
    let lock = dango::ops::lock::ProjectLock::for_project(p.path(), Duration::from_secs(1));
    assert_eq!(lock.current_holder().unwrap(), None);
}

//! Small syncs: one warehouse connection shared by the sources of a `dango sync`, and the
//! state comparison a repeat sync skips while neither the warehouse nor the local state
//! changed.

use std::time::Duration;

use crate::util::TestProject;

/// The line `-vv` logs when the state comparison is skipped.
const SKIPPED: &str = "unchanged since they were last compared";

/// Sources `files` (track_files, `in/files`) and `other` (`in/other`).
fn two_sources() -> TestProject {
    let p = TestProject::new();
    p.write("in/files/a.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    p.write("in/other/rows.jsonl", "{\"id\": 1}\n");
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: files\n    type: local_files\n    local_files:\n      directory: in/files\n      file_pattern: \"*.jsonl\"\n      table_name: items\n      write_disposition: append\n      track_files: true\n  - name: other\n    type: local_files\n    local_files:\n      directory: in/other\n      file_pattern: \"*.jsonl\"\n",
    );
    p
}

/// `dango sync <source> -vv`: its stderr (the sync must succeed).
fn sync_logged(p: &TestProject, source: &str) -> String {
    let out = p.dango().args(["sync", source, "-vv"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// Past the time a warehouse change must be old for its fingerprint to be recorded.
fn settle() {
    std::thread::sleep(Duration::from_millis(2300));
}

#[test]
fn a_repeat_noop_sync_skips_the_state_read_only_while_nothing_changed() {
    let p = two_sources();
    sync_logged(&p, "files");
    settle();
    let first = sync_logged(&p, "files");
    assert!(!first.contains(SKIPPED), "{first}");
    let marker = p
        .path()
        .join(".dlt/pipelines/files/destination_checked.json");
    assert!(marker.is_file());
    let second = sync_logged(&p, "files");
    assert!(second.contains(SKIPPED), "{second}");
    assert!(!second.contains("opened the shared warehouse"), "{second}");
    // Another source commits into the same warehouse: the next sync compares again.
    sync_logged(&p, "other");
    let third = sync_logged(&p, "files");
    assert!(!third.contains(SKIPPED), "{third}");
    assert_eq!(p.count("raw_files._dlt_loads"), 1);
    assert_eq!(p.count("raw_files.items"), 2);
    // A new file is still found and loaded.
    p.write("in/files/b.jsonl", "{\"id\": 3}\n");
    sync_logged(&p, "files");
    assert_eq!(p.count("raw_files.items"), 3);
    assert_eq!(p.count("raw_files._dlt_loads"), 2);
}

#[test]
fn an_older_local_state_is_compared_again_though_the_warehouse_is_unchanged() {
    let p = two_sources();
    sync_logged(&p, "files");
    let state = p.path().join(".dlt/pipelines/files/state.json");
    let old_state = std::fs::read(&state).unwrap();
    p.write("in/files/b.jsonl", "{\"id\": 3}\n");
    sync_logged(&p, "files");
    settle();
    let noop = sync_logged(&p, "files");
    assert!(!noop.contains(SKIPPED), "{noop}");
    // The local state goes back to before b.jsonl (a restored backup, say).
    std::fs::write(&state, old_state).unwrap();
    let again = sync_logged(&p, "files");
    assert!(!again.contains(SKIPPED), "{again}");
    assert!(
        again.contains("restored state and schema from the destination"),
        "{again}"
    );
    // b.jsonl is known from the warehouse's state: not loaded twice (the restored state
    // itself may be committed again, as before this comparison could be skipped).
    assert_eq!(p.count("raw_files.items"), 3);
    assert_eq!(
        p.scalar("SELECT count(DISTINCT _dlt_load_id) FROM raw_files.items"),
        "2"
    );
}

#[test]
fn sources_of_one_sync_share_one_connection_and_leave_the_warehouse_checkpointed() {
    let p = TestProject::new();
    let mut yml = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..6 {
        p.write(
            &format!("in/s{i}/rows.jsonl"),
            &format!("{{\"id\": {i}}}\n"),
        );
        yml.push_str(&format!(
            "  - name: s{i}\n    type: local_files\n    local_files:\n      directory: in/s{i}\n      file_pattern: \"*.jsonl\"\n"
        ));
    }
    p.write(".dango/sources.yml", &yml);
    for workers in ["1", "3"] {
        let out = p
            .dango()
            .args(["sync", "-vv"])
            .env("RUNTIME__SYNC_WORKERS", workers)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        let opened = err.matches("opened the shared warehouse").count();
        // One source at a time: each source's state check, then its commit and history
        // record on one connection (2 opens per source, not 3).
        assert!(opened <= 12, "{workers} workers: {opened} opens\n{err}");
        assert_eq!(
            opened,
            err.matches("closed the shared warehouse").count(),
            "{err}"
        );
        // Closed at the end: DuckDB checkpointed the WAL into the file.
        let mut wal = p.warehouse().into_os_string();
        wal.push(".wal");
        assert!(!std::path::Path::new(&wal).exists());
    }
    for i in 0..6 {
        assert_eq!(p.count(&format!("raw_s{i}._dlt_loads")), 2);
        assert_eq!(p.count(&format!("raw_s{i}._dango_sync_history")), 2);
        assert_eq!(
            p.scalar(&format!(
                "SELECT string_agg(status, ',') FROM raw_s{i}._dango_sync_history"
            )),
            "success,success"
        );
        assert_eq!(p.count(&format!("raw_s{i}.s{i}")), 1);
    }
}

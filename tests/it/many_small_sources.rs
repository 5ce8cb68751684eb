//! Many small sources in one `dango sync`: per-source lines in the order of sources.yml
//! whatever finishes first, and a sync killed after one source's commit (while the local
//! files of that load were still waiting for their fsyncs, which run once the shared
//! connection is handed on) loses nothing and duplicates nothing.

use std::time::Duration;

use crate::util::TestProject;

/// Sources `s0..s{n-1}` (`local_files`, append, `track_files`); source `i` has `rows(i)` rows.
fn project(n: usize, rows: impl Fn(usize) -> usize) -> TestProject {
    let p = TestProject::new();
    let mut yml = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..n {
        let text: String = (0..rows(i))
            .map(|k| format!("{{\"id\": {k}, \"src\": {i}, \"tags\": [\"a\", \"b{k}\"]}}\n"))
            .collect();
        p.write(&format!("in/s{i}/rows.jsonl"), &text);
        yml.push_str(&format!(
            "  - name: s{i}\n    type: local_files\n    local_files:\n      directory: in/s{i}\n      file_pattern: \"*.jsonl\"\n      table_name: items\n      write_disposition: append\n      track_files: true\n"
        ));
    }
    p.write(".dango/sources.yml", &yml);
    p
}

#[test]
fn per_source_lines_follow_sources_yml_whatever_finishes_first() {
    // s0 is far larger than the others: with 4 workers it finishes last.
    let n = 4;
    let p = project(n, |i| if i == 0 { 60_000 } else { 2 });
    let out = p
        .dango()
        .args(["sync"])
        .env("RUNTIME__SYNC_WORKERS", "4")
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let at: Vec<usize> = (0..n)
        .map(|i| {
            err.find(&format!("s{i}: done in"))
                .unwrap_or_else(|| panic!("no line of s{i}: {err}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}\n{err}");
    assert_eq!(p.count("raw_s0.items"), 60_000);
    for i in 1..n {
        assert_eq!(p.count(&format!("raw_s{i}.items")), 2);
    }
}

#[test]
fn a_sync_killed_after_a_commit_loses_and_duplicates_nothing() {
    let n = 5;
    let rows = |i: usize| i + 3;
    let p = project(n, rows);
    // The first source to commit dies before its state.json is written (its post-commit
    // files are queued behind the connection then).
    let killed = || {
        p.dango()
            .args(["sync"])
            .env("RUNTIME__SYNC_WORKERS", "4")
            .env("DANGO_FAULT", "load_before_state_save")
            .timeout(Duration::from_secs(300))
            .output()
            .unwrap()
    };
    use std::os::unix::process::ExitStatusExt;
    let out = killed();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed: Vec<usize> = (0..n)
        .filter(|i| {
            p.scalar(&format!(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw_s{i}' AND table_name = 'items'"
            )) == "1"
        })
        .collect();
    assert_eq!(
        committed.len(),
        1,
        "exactly one source committed before the kill"
    );
    let sync = || {
        let out = p
            .dango()
            .args(["sync"])
            .env("RUNTIME__SYNC_WORKERS", "4")
            .timeout(Duration::from_secs(300))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sync();
    // A repeat finds nothing new: no file is loaded twice.
    sync();
    for i in 0..n {
        let ds = format!("raw_s{i}");
        assert_eq!(p.count(&format!("{ds}.items")), rows(i) as i64, "{ds}");
        assert_eq!(
            p.scalar(&format!("SELECT count(DISTINCT id) FROM {ds}.items")),
            rows(i).to_string()
        );
        assert_eq!(p.count(&format!("{ds}.items__tags")), 2 * rows(i) as i64);
        // The killed source's restored state may be committed again (a load without rows).
        let loads = if committed.contains(&i) { 1..=2 } else { 1..=1 };
        let n_loads = p.count(&format!("{ds}._dlt_loads"));
        assert!(loads.contains(&n_loads), "{ds}: {n_loads} loads");
        // The local state caught up with the warehouse: its version is the committed one.
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(p.path().join(format!(".dlt/pipelines/s{i}/state.json"))).unwrap(),
        )
        .unwrap();
        let version = p.scalar(&format!(
            "SELECT max(version) FROM {ds}._dlt_pipeline_state"
        ));
        assert_eq!(state["_state_version"].to_string(), version, "{ds}");
        let loaded = p.path().join(format!(".dlt/pipelines/s{i}/load/loaded"));
        let packages = std::fs::read_dir(&loaded).unwrap().count();
        assert_eq!(packages as i64, n_loads, "{ds}: {}", loaded.display());
        for dir in ["normalize/extracted", "load/normalized"] {
            let d = p.path().join(format!(".dlt/pipelines/s{i}/{dir}"));
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "{}", d.display());
        }
    }
}

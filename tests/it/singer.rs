//! `type: singer` through the real binary: a tiny Singer tap (`tests/fixtures/singer/
//! tap_test.py`) loads its streams as tables (merge on key_properties, append without), its
//! STATE is committed with the data and passed back with `--state`, a failing tap commits
//! nothing.

use std::path::Path;

use crate::services;
use crate::util::TestProject;

const TAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/singer/tap_test.py"
);

fn project(python: &Path, select: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\nsources:\n  - name: crm\n    type: singer\n    singer:\n      command: [\"{}\", \"{TAP}\"]\n      config: {{data_file: data.json}}\n{select}",
            python.display()
        ),
    );
    p
}

fn sync(p: &TestProject) -> (bool, String) {
    let out = p.dango().arg("sync").output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn state(p: &TestProject) -> serde_json::Value {
    let s = p.scalar("SELECT state FROM raw_crm._dlt_pipeline_state ORDER BY version DESC LIMIT 1");
    dango::state::PipelineState::decompress(&s).unwrap().doc()["sources"]["crm"]["singer_state"]
        .clone()
}

#[test]
fn a_singer_tap_loads_streams_keeps_its_state_and_resumes_from_it() {
    let Some(python) = services::python("singer::tap") else {
        return;
    };
    let p = project(&python, "");
    p.write(
        "data.json",
        r#"{"users": [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}], "events": [{"kind": "login"}]}"#,
    );
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT id, name FROM raw_crm.users ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("ann".into())],
            vec![Some("2".into()), Some("bob".into())]
        ]
    );
    assert_eq!(p.count("raw_crm.events"), 1);
    assert_eq!(state(&p), serde_json::json!({"bookmarks": {"users": 2}}));
    // Second run: the tap gets --state and emits only new users; bob's update is past the
    // bookmark too (id 3 new); events append.
    p.write(
        "data.json",
        r#"{"users": [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}], "events": [{"kind": "logout"}]}"#,
    );
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(p.count("raw_crm.users"), 3);
    assert_eq!(p.count("raw_crm.events"), 2);
    assert_eq!(state(&p), serde_json::json!({"bookmarks": {"users": 3}}));
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/crm/runtime.log")).unwrap();
    assert!(
        log.contains("tap_test args:") && log.contains("--state"),
        "{log}"
    );
    // A failing tap: non-zero exit, its stderr in the error, nothing committed.
    p.write(
        "data.json",
        r#"{"fail": true, "users": [{"id": 9, "name": "zed"}]}"#,
    );
    let (ok, t) = sync(&p);
    assert!(!ok, "{t}");
    assert!(t.contains("the API is down"), "{t}");
    assert_eq!(p.count("raw_crm.users"), 3);
    assert_eq!(state(&p), serde_json::json!({"bookmarks": {"users": 3}}));
}

#[test]
fn select_runs_discover_and_syncs_only_the_selected_streams() {
    let Some(python) = services::python("singer::select") else {
        return;
    };
    let p = project(&python, "      select: [users]\n");
    p.write(
        "data.json",
        r#"{"users": [{"id": 1, "name": "ann"}], "events": [{"kind": "login"}]}"#,
    );
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(p.count("raw_crm.users"), 1);
    assert!(!p.tables("raw_crm").contains(&"events".to_string()));
    let p = project(&python, "      select: [nope]\n");
    p.write("data.json", "{}");
    let (ok, t) = sync(&p);
    assert!(!ok, "{t}");
    assert!(
        t.contains("no stream `nope`") && t.contains("users, events"),
        "{t}"
    );
}

/// The singer_state the published tap ended with: its bookmark of `people` (the stream's,
/// or with `partition`, the file's, which singer-sdk moves).
fn bookmark(p: &TestProject, partition: bool) -> String {
    let s = &state(p)["bookmarks"]["people"];
    let s = if partition { &s["partitions"][0] } else { s };
    s["replication_key_value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_published_tap_from_pypi_loads_local_files_and_resumes_from_its_state() {
    // tap-jsonl (singer-sdk) from PyPI, installed by .ci/services.sh into its own venv.
    let Some(tap) = services::singer_tap("singer::published_tap") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\nsources:\n  - name: crm\n    type: singer\n    singer:\n      command: [\"{}\"]\n      config: {{path: data/people.jsonl, stream_name: people, primary_keys: [id]}}\n",
            tap.display()
        ),
    );
    p.write(
        "data/people.jsonl",
        "{\"id\": 1, \"name\": \"ann\", \"address\": {\"city\": \"Oslo\"}}\n{\"id\": 2, \"name\": \"bob\", \"address\": {\"city\": \"Rome\"}}\n",
    );
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT id, name, address__city, _sdc_filename FROM raw_crm.people ORDER BY id"),
        vec![
            vec![
                Some("1".into()),
                Some("ann".into()),
                Some("Oslo".into()),
                Some("data/people.jsonl".into())
            ],
            vec![
                Some("2".into()),
                Some("bob".into()),
                Some("Rome".into()),
                Some("data/people.jsonl".into())
            ],
        ]
    );
    let first = bookmark(&p, false);
    let first_file = bookmark(&p, true);
    assert!(first.starts_with("20"), "{}", state(&p));
    // The key_properties make it a merge table: the tap re-emits the unchanged file
    // (its bookmark is inclusive) and nothing is duplicated.
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(p.count("raw_crm.people"), 2);
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/crm/runtime.log")).unwrap();
    // The tap got its state back (`--state`): it starts from the stored bookmark.
    assert!(
        log.contains(&format!("incremental sync with bookmark value: {first}")),
        "{log}"
    );
    // A changed file (newer mtime): bob updated, cy added; the bookmark moves.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.write(
        "data/people.jsonl",
        "{\"id\": 1, \"name\": \"ann\", \"address\": {\"city\": \"Oslo\"}}\n{\"id\": 2, \"name\": \"bobby\", \"address\": {\"city\": \"Rome\"}}\n{\"id\": 3, \"name\": \"cy\", \"address\": null}\n",
    );
    let (ok, t) = sync(&p);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT id, name FROM raw_crm.people ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("ann".into())],
            vec![Some("2".into()), Some("bobby".into())],
            vec![Some("3".into()), Some("cy".into())],
        ]
    );
    let moved = bookmark(&p, true);
    assert!(moved > first_file, "{moved} vs {first_file}");
}

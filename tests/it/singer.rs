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

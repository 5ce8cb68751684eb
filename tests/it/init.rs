//! `dango init`.

use std::os::unix::fs::PermissionsExt;

use predicates::str::contains;

use crate::hermetic::Isolated;
use crate::util::TestProject;

#[test]
fn init_creates_the_project_layout() {
    let p = TestProject::new();
    let root = p.path();
    assert_eq!(
        std::fs::read_to_string(root.join(".dango/sources.yml")).unwrap(),
        "version: \"1.0\"\nsources: []\n"
    );
    assert!(root.join(".dlt/config.toml").is_file());
    let mode = std::fs::metadata(root.join(".dlt/secrets.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(root.join("data").is_dir());
    assert!(root.join("custom_sources").is_dir());
    let gi = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(gi.contains(".dlt/secrets.toml"));
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources: []\n# mine\n",
    );
    p.dango()
        .arg("init")
        .assert()
        .failure()
        .stderr(contains("already holds a dango project").and(contains("--force")));
    assert!(
        std::fs::read_to_string(p.path().join(".dango/sources.yml"))
            .unwrap()
            .contains("# mine")
    );
    p.dango().args(["init", "--force"]).assert().success();
    assert!(
        !std::fs::read_to_string(p.path().join(".dango/sources.yml"))
            .unwrap()
            .contains("# mine")
    );
}

#[test]
fn init_into_a_new_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("proj");
    Isolated::new()
        .dango()
        .args(["init", target.to_str().unwrap()])
        .assert()
        .success();
    assert!(target.join(".dango/sources.yml").is_file());
}

#[test]
fn sync_outside_a_project_says_how_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    Isolated::new()
        .dango()
        .current_dir(tmp.path())
        .arg("sync")
        .assert()
        .failure()
        .stderr(contains("dango init"));
}

use predicates::prelude::PredicateBooleanExt;

//! Help with examples for every subcommand, and shell completions.

use crate::util::TestProject;

#[test]
fn every_subcommand_has_help_with_examples() {
    let p = TestProject::new();
    let top = p.dango().arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout).into_owned();
    assert!(
        top.contains("Getting started:") && top.contains("dango init my_project"),
        "{top}"
    );
    for sub in [
        vec!["init"],
        vec!["sync"],
        vec!["source"],
        vec!["validate"],
        vec!["pipeline"],
        vec!["completions"],
        vec!["quickstart"],
        vec!["schedule"],
        vec!["run-scheduler"],
    ] {
        assert!(top.contains(sub[0]), "{sub:?} listed in dango --help");
        let out = p.dango().args(&sub).arg("--help").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{sub:?}: {text}");
        assert!(
            text.contains(&format!("dango {}", sub[0])),
            "{sub:?}: {text}"
        );
    }
    let text =
        String::from_utf8_lossy(&p.dango().args(["sync", "--help"]).output().unwrap().stdout)
            .into_owned();
    for flag in [
        "--full-refresh",
        "--dry-run",
        "--limit",
        "--json",
        "--source",
        "-y",
    ] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
}

#[test]
fn completions_for_bash_zsh_fish() {
    let p = TestProject::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = p.dango().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("dango") && text.contains("pipeline") && text.contains("full-refresh"),
            "{shell}"
        );
    }
    assert!(
        !p.dango()
            .args(["completions", "tcsh"])
            .output()
            .unwrap()
            .status
            .success()
    );
}

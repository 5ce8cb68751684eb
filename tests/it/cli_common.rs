//! Helpers of the CLI tests: an isolated `dango` command (its own global dlt dir, no inherited
//! dlt settings) and sources.yml snippets.

#![allow(dead_code)]

use assert_cmd::Command;

use crate::util::TestProject;

/// `dango` in the project, with an empty global dlt dir and no inherited `RUNTIME__*` etc.
pub fn dango(p: &TestProject) -> Command {
    let mut c = p.dango();
    let global = p.path().join(".test-global-dlt");
    std::fs::create_dir_all(&global).unwrap();
    c.env("DLT_DATA_DIR", &global);
    for (k, _) in std::env::vars() {
        if k.contains("__") || k == "GH_TOKEN" {
            c.env_remove(&k);
        }
    }
    c
}

/// The global dlt dir the isolated command reads.
pub fn global_dir(p: &TestProject) -> std::path::PathBuf {
    let g = p.path().join(".test-global-dlt");
    std::fs::create_dir_all(&g).unwrap();
    g
}

/// A local_files source entry (indented for `sources:`).
pub fn local(name: &str, dir: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    type: local_files\n    local_files:\n      directory: {dir}\n      file_pattern: \"*.jsonl\"\n{extra}"
    )
}

/// A rest_api source entry whose token comes from `GH_TOKEN` (`token_env`).
pub fn rest(name: &str) -> String {
    format!(
        "  - name: {name}\n    type: rest_api\n    rest_api:\n      base_url: https://api.example.com\n      token_env: GH_TOKEN\n      headers:\n        Authorization: \"Bearer ${{GH_TOKEN}}\"\n"
    )
}

/// Writes sources.yml with the given entries.
pub fn sources(p: &TestProject, entries: &[String]) {
    p.write(
        ".dango/sources.yml",
        &format!("version: \"1.0\"\nsources:\n{}", entries.concat()),
    );
}

/// Stdout of a command as a string.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a command as a string.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

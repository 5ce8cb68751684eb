//! Helpers of the CLI tests: sources.yml snippets and command output. The commands themselves
//! come from `TestProject::dango` (hermetic, see `hermetic.rs`).

#![allow(dead_code)]

use crate::util::TestProject;

/// A local_files source entry (indented for `sources:`).
pub fn local(name: &str, dir: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    type: local_files\n    local_files:\n      directory: {dir}\n      file_pattern: \"*.jsonl\"\n{extra}"
    )
}

/// A rest_api source entry whose token comes from `GH_TOKEN` (`token_env`). Its base URL is a
/// closed port of 127.0.0.1: a sync of it fails at once, without DNS.
pub fn rest(name: &str) -> String {
    format!(
        "  - name: {name}\n    type: rest_api\n    rest_api:\n      base_url: http://127.0.0.1:1\n      token_env: GH_TOKEN\n      headers:\n        Authorization: \"Bearer ${{GH_TOKEN}}\"\n"
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

//! The one way tests start a process: hermetically.
//!
//! Every test that runs the `dango` binary builds its command here ([`Isolated::dango`]), so
//! the binary sees nothing of the developer's shell or home:
//!
//! - the environment is cleared; only [`PASSED`] (`PATH`, `TMPDIR`, `RUST_BACKTRACE`,
//!   `LLVM_PROFILE_FILE`) comes through. So no `DESTINATION__*`, `SOURCES__*`, `RUNTIME__*`,
//!   `DLT_*`, `DANGO_*` or proxy variable set in the shell reaches a test;
//! - `HOME` is a temporary directory of the test, and `DLT_DATA_DIR` (the global dlt dir,
//!   which dango otherwise takes from `~/.dlt`, or `/var/dlt` for root) is `$HOME/.dlt`.
//!
//! A test adds the variables it needs with `.env(..)` on the command.
//!
//! Tests of the library run in the test process, which has the developer's environment (the
//! HTTP client reads the proxy variables, for one). They start with [`in_isolated_process`],
//! which runs the test again in a child process of the test binary, hermetic like the commands.
//!
//! This file is also a module of `tests/dlt_compat.rs` (`#[path]`).

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Variables of the test process that a child process gets (nothing else is passed).
pub const PASSED: [&str; 4] = ["PATH", "TMPDIR", "RUST_BACKTRACE", "LLVM_PROFILE_FILE"];

/// Set in the child of [`in_isolated_process`].
const CHILD_MARK: &str = "DANGO_TEST_ISOLATED_CHILD";

/// A temporary home for one test: commands built from it see only that home.
pub struct Isolated {
    home: tempfile::TempDir,
}

impl Default for Isolated {
    fn default() -> Self {
        Self::new()
    }
}

impl Isolated {
    /// A fresh, empty home.
    pub fn new() -> Isolated {
        let home = tempfile::Builder::new()
            .prefix("dango-test-home-")
            .tempdir()
            .expect("temporary HOME");
        Isolated { home }
    }

    /// `$HOME` of the commands.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The global dlt dir the commands read (`$DLT_DATA_DIR` = `$HOME/.dlt`), created.
    pub fn global_dir(&self) -> PathBuf {
        let dir = self.home().join(".dlt");
        std::fs::create_dir_all(&dir).expect("global dlt dir");
        dir
    }

    /// `program` with the hermetic environment (see the module docs).
    pub fn command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env_clear();
        for name in PASSED {
            if let Some(v) = std::env::var_os(name) {
                c.env(name, v);
            }
        }
        c.env("HOME", self.home());
        c.env("DLT_DATA_DIR", self.home().join(".dlt"));
        c
    }

    /// The `dango` binary of this build, hermetic, as a `std::process::Command` (for tests
    /// that spawn it and signal it).
    pub fn dango_std(&self) -> std::process::Command {
        self.command(assert_cmd::cargo::cargo_bin("dango"))
    }

    /// The `dango` binary of this build, hermetic.
    pub fn dango(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.dango_std())
    }
}

/// Runs the calling test in a hermetic child process: returns `true` in that child (go on with
/// the test body) and `false` in the parent after asserting that the child ran the one test
/// `test_path` (e.g. `"library::pipeline_run_returns_load_info"`) and it passed.
///
/// ```ignore
/// if !hermetic::in_isolated_process("library::my_test") {
///     return; // the child ran it and passed
/// }
/// ```
pub fn in_isolated_process(test_path: &str) -> bool {
    if std::env::var_os(CHILD_MARK).is_some() {
        return true;
    }
    let iso = Isolated::new();
    let exe = std::env::current_exe().expect("test binary path");
    let out = iso
        .command(exe)
        .current_dir(std::env::current_dir().expect("current dir"))
        .env(CHILD_MARK, "1")
        .args([test_path, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .expect("cannot run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stdout.contains(&format!("test {test_path} ... ok"))
            && stdout.contains("test result: ok. 1 passed"),
        "{test_path} in a hermetic child process: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    false
}

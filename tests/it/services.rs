//! Where the services that some tests need are: one convention for every test.
//!
//! `.ci/run` provides the services and says where they are with environment variables:
//!
//! | Variable | Service | Example |
//! |---|---|---|
//! | `DANGO_TEST_PYTHON` | a Python with `.ci/requirements.txt` (dlt 1.31.0, pyarrow, deltalake, polars, moto) | `$HOME/.cache/dango-venv/bin/python` |
//! | `DANGO_TEST_PG_URL` | PostgreSQL 15, superuser `dango`, TLS on | `postgresql://dango:dango@127.0.0.1:54329/postgres` |
//! | `DANGO_TEST_MYSQL_URL` | MariaDB 10.11, user `dango` with all grants, TLS on | `mysql://dango:dango@127.0.0.1:33069/mysql` |
//! | `DANGO_TEST_S3_ENDPOINT` | moto's S3 server | `http://127.0.0.1:50009` |
//! | `DANGO_TEST_TLS_CA` | the servers' self-signed certificate (CN localhost, SAN 127.0.0.1) | `/tmp/dango-services/tls/server.crt` |
//! | `DANGO_TEST_SINGER_TAP` | the published Singer tap `tap-jsonl` (PyPI, own venv, `.ci/singer-requirements.txt`) | `$HOME/.cache/dango-singer-tap/bin/tap-jsonl` |
//!
//! `.ci/services.sh` starts them (`source .ci/services.sh && dango_services_start
//! ~/.cache/dango-venv/bin/python` gives a developer the same servers; it reuses running ones).
//! Tests create their own databases, schemas and buckets with unique names, so they run in
//! parallel and never depend on each other's leftovers.
//!
//! `DANGO_TEST_SERVICES=1` (set by `.ci/run`) means every service must be there: a test whose
//! service is missing FAILS. Without it (a developer's machine), such a test prints
//! `skipped: <test>: <reason>` to stderr (uncaptured, so `cargo test` shows it) and passes
//! without checking anything. A variable that
//! is set but names an unusable service (a Python without dlt 1.31.0, a URL whose host is not
//! 127.0.0.1) is always a failure.
//!
//! ```ignore
//! let Some(python) = services::python("dlt_compat::live") else { return };
//! ```
//!
//! Tests read the variables of the test process here, and only here; the commands they start
//! are hermetic (`hermetic.rs`) and get a service's address only explicitly.
//! This file is also a module of `tests/dlt_compat.rs` (`#[path]`).

#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;

/// Set to `1` by `.ci/run`: every service must be present.
pub const REQUIRED: &str = "DANGO_TEST_SERVICES";
/// A Python interpreter with dlt installed.
pub const PYTHON: &str = "DANGO_TEST_PYTHON";
/// A PostgreSQL URL.
pub const PG_URL: &str = "DANGO_TEST_PG_URL";
/// A MariaDB/MySQL URL.
pub const MYSQL_URL: &str = "DANGO_TEST_MYSQL_URL";
/// An S3 endpoint URL.
pub const S3_ENDPOINT: &str = "DANGO_TEST_S3_ENDPOINT";

/// The test servers' self-signed certificate, a CA file for TLS tests.
pub const TLS_CA: &str = "DANGO_TEST_TLS_CA";

/// The published Singer tap `tap-jsonl` (an executable).
pub const SINGER_TAP: &str = "DANGO_TEST_SINGER_TAP";

/// The dlt version the Python service must have.
pub const DLT_VERSION: &str = "1.31.0";

/// The Python interpreter with dlt `DLT_VERSION` (`DANGO_TEST_PYTHON`), or `None` after
/// printing why `test` is skipped. Panics in CI when it is missing, and whenever it is set but
/// is not a Python with that dlt.
pub fn python(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(lookup(test, PYTHON, "a Python with dlt[duckdb]==1.31.0")?);
    let out = std::process::Command::new(&path)
        .args(["-c", "import dlt, duckdb; print(dlt.__version__)"])
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON}={}: cannot run it: {e}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && version == DLT_VERSION,
        "{PYTHON}={}: expected a Python with dlt {DLT_VERSION} and duckdb, found dlt {version:?}{}\n\
         install it with: python3 -m venv ~/.cache/dango-venv && ~/.cache/dango-venv/bin/pip install \"dlt[duckdb]=={DLT_VERSION}\"",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
    );
    Some(path)
}

/// The PostgreSQL URL (`DANGO_TEST_PG_URL`), or `None` after printing why `test` is skipped.
pub fn postgres_url(test: &str) -> Option<String> {
    local_url(test, PG_URL, "a PostgreSQL server")
}

/// The MariaDB/MySQL URL (`DANGO_TEST_MYSQL_URL`), or `None` after printing why `test` is
/// skipped.
pub fn mysql_url(test: &str) -> Option<String> {
    local_url(test, MYSQL_URL, "a MariaDB or MySQL server")
}

/// The S3 endpoint (`DANGO_TEST_S3_ENDPOINT`), or `None` after printing why `test` is skipped.
pub fn s3_endpoint(test: &str) -> Option<String> {
    local_url(test, S3_ENDPOINT, "an S3 server")
}

fn local_url(test: &str, var: &str, what: &str) -> Option<String> {
    let url = lookup(test, var, what)?;
    if let Err(e) = check_local(&url) {
        panic!("{var}={url}: {e}");
    }
    Some(url)
}

/// The CA file that verifies the test servers' TLS certificate (`DANGO_TEST_TLS_CA`), or
/// `None` after printing why `test` is skipped.
pub fn tls_ca(test: &str) -> Option<PathBuf> {
    lookup(test, TLS_CA, "the test servers' CA certificate").map(PathBuf::from)
}

/// The `tap-jsonl` executable (`DANGO_TEST_SINGER_TAP`), or `None` after printing why `test`
/// is skipped.
pub fn singer_tap(test: &str) -> Option<PathBuf> {
    lookup(test, SINGER_TAP, "the Singer tap tap-jsonl from PyPI").map(PathBuf::from)
}

/// The value of `var` in the test process, or `None` after printing the skip; panics when
/// `DANGO_TEST_SERVICES=1`.
fn lookup(test: &str, var: &str, what: &str) -> Option<String> {
    let required = std::env::var(REQUIRED).is_ok_and(|v| v == "1");
    match decide(test, var, what, std::env::var(var).ok(), required) {
        Decision::Use(v) => Some(v),
        Decision::Skip(reason) => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of
            // passing tests, and a skip must be seen.
            let _ = writeln!(std::io::stderr(), "skipped: {reason}");
            None
        }
        Decision::Fail(msg) => panic!("{msg}"),
    }
}

/// What a test does about a service.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// The service is at this address.
    Use(String),
    /// Skip the test, for this reason.
    Skip(String),
    /// Fail the test with this message.
    Fail(String),
}

/// The decision of [`lookup`] for `test`, from the value of `var` and whether services are
/// required.
pub fn decide(
    test: &str,
    var: &str,
    what: &str,
    value: Option<String>,
    required: bool,
) -> Decision {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => Decision::Use(v),
        None if required => Decision::Fail(format!(
            "{test}: {REQUIRED}=1 but {var} is not set: .ci/run must provide {what} and export {var}"
        )),
        None => Decision::Skip(format!(
            "{test}: {var} is not set (needs {what}; see tests/it/services.rs)"
        )),
    }
}

/// Ok when `url` (`scheme://[user[:password]@]host[:port][/...]`) points at this machine:
/// tests never depend on a host other than 127.0.0.1.
pub fn check_local(url: &str) -> Result<(), String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or("not a URL (scheme://host:port/...)")?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    match host {
        "127.0.0.1" | "localhost" | "::1" => Ok(()),
        other => Err(format!(
            "the host is {other:?}; test services run on 127.0.0.1"
        )),
    }
}

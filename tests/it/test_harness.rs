//! The test harness itself: hermetic commands (`hermetic.rs`) and the services convention
//! (`services.rs`).

use std::collections::BTreeMap;

use crate::hermetic::{self, Isolated, PASSED};
use crate::services::{Decision, PG_URL, check_local, decide};

/// The variables a hermetic process may have.
fn allowed(extra: &[&str]) -> Vec<String> {
    PASSED
        .iter()
        .chain(["HOME", "DLT_DATA_DIR"].iter())
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn commands_see_only_the_passed_variables_and_the_test_home() {
    let iso = Isolated::new();
    let out = iso.command("/usr/bin/env").output().unwrap();
    assert!(out.status.success());
    let vars: BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let allowed = allowed(&[]);
    for k in vars.keys() {
        assert!(allowed.contains(k), "{k} leaked into a hermetic process");
    }
    assert_eq!(vars["HOME"], iso.home().display().to_string());
    assert_eq!(
        vars["DLT_DATA_DIR"],
        iso.home().join(".dlt").display().to_string()
    );
    // `dango` gets exactly the same environment.
    let dango = iso.dango_std();
    assert!(dango.get_program().to_string_lossy().ends_with("/dango"));
    let mut set: Vec<String> = dango
        .get_envs()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    set.sort();
    let mut expected: Vec<String> = vars.keys().cloned().collect();
    expected.sort();
    assert_eq!(set, expected);
}

#[test]
fn library_tests_run_in_a_hermetic_child() {
    if !hermetic::in_isolated_process("test_harness::library_tests_run_in_a_hermetic_child") {
        return;
    }
    let allowed = allowed(&["DANGO_TEST_ISOLATED_CHILD"]);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        assert!(allowed.contains(&k), "{k} leaked into the child");
    }
    let home = std::env::var("HOME").unwrap();
    assert!(home.contains("dango-test-home-"), "{home}");
}

#[test]
fn a_missing_service_is_skipped_locally_and_fails_in_ci() {
    let d =
        |value: Option<&str>, required| decide("t", PG_URL, "pg", value.map(Into::into), required);
    assert_eq!(
        d(None, false),
        Decision::Skip(
            "t: DANGO_TEST_PG_URL is not set (needs pg; see tests/it/services.rs)".into()
        )
    );
    assert!(matches!(d(Some(""), false), Decision::Skip(_)));
    assert_eq!(d(Some("u"), false), Decision::Use("u".into()));
    assert_eq!(d(Some("u"), true), Decision::Use("u".into()));
    assert_eq!(
        d(None, true),
        Decision::Fail(
            "t: DANGO_TEST_SERVICES=1 but DANGO_TEST_PG_URL is not set: .ci/run must provide pg and export DANGO_TEST_PG_URL".into()
        )
    );
    assert!(matches!(d(Some(""), true), Decision::Fail(_)));
}

#[test]
fn service_urls_must_point_at_this_machine() {
    for ok in [
        "postgresql://u:p@127.0.0.1:5432/db",
        "mysql://127.0.0.1/db",
        "http://localhost:9000",
        "http://[::1]:9000/bucket",
        "postgresql://u:p%40x@127.0.0.1:5432",
    ] {
        assert_eq!(check_local(ok), Ok(()), "{ok}");
    }
    for bad in [
        "postgresql://u:p@db.example.com:5432/db",
        "http://10.0.0.5:9000",
        "http://127.0.0.1.example.com",
        "127.0.0.1:5432",
    ] {
        assert!(check_local(bad).is_err(), "{bad}");
    }
}

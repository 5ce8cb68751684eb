//! `dango doctor`: per source checks, a server answering 401 fails, secrets shown by name and
//! place only, pending packages with their size, the lock holder, non-zero exit, --json.

use std::io::Write;

use fs4::fs_std::FileExt;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::util::{TestProject, orders_jsonl};

fn rest_project(uri: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\nsources:\n  - name: api\n    type: rest_api\n    rest_api:\n      base_url: {uri}\n      auth_type: bearer\n      token_env: API_TOKEN\n      endpoints:\n        - orders\n"
        ),
    );
    p
}

fn doctor(p: &TestProject, token: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = p
        .dango()
        .args(["doctor", "--json"])
        .env("API_TOKEN", token)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["sources"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap()
}

#[test]
fn a_server_answering_401_fails_the_reachability_check() {
    let api = crate::rest_api::Api::start();
    api.mount(
        Mock::given(method("GET"))
            .and(path("/orders"))
            .and(header("authorization", "Bearer good-token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!([{"id": 1}, {"id": 2}])),
            )
            .with_priority(1),
    );
    api.mount(
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ResponseTemplate::new(401))
            .with_priority(2),
    );
    let p = rest_project(&api.uri());

    let (code, v, text) = doctor(&p, "good-token");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(check(&v, "reachable")["status"], "ok", "{text}");
    let secrets = check(&v, "secrets");
    assert_eq!(secrets["status"], "ok");
    assert!(
        secrets["detail"]
            .as_str()
            .unwrap()
            .contains("API_TOKEN (environment)"),
        "{text}"
    );
    assert!(!text.contains("good-token"), "{text}");
    // Nothing of the project was written by the check.
    assert!(!p.warehouse().exists());

    let (code, v, text) = doctor(&p, "wrong-token");
    assert_eq!(code, Some(1), "{text}");
    let r = check(&v, "reachable");
    assert_eq!(r["status"], "fail");
    assert!(r["detail"].as_str().unwrap().contains("401"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
    assert_eq!(v["ok"], false);

    // A missing variable fails the secrets check by name.
    let out = p.dango().args(["doctor", "api"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("[FAIL] secrets: missing: `token_env` → API_TOKEN is not set")
            || text.contains("[FAIL] config"),
        "{text}"
    );
}

#[test]
fn doctor_reports_pending_packages_the_lock_holder_and_the_last_sync() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(8, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango().arg("sync").assert().success();
    let (code, v, text) = doctor(&p, "");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(check(&v, "pending packages")["detail"], "none");
    assert!(
        check(&v, "last sync")["detail"]
            .as_str()
            .unwrap()
            .starts_with("success at"),
        "{text}"
    );
    assert_eq!(check(&v, "disk")["status"], "ok");
    assert_eq!(v["project"][0]["detail"], "free");
    assert_eq!(v["project"][1]["status"], "ok");

    p.sync_killed_at("after_normalize", &[]);
    let lock = p.path().join(".dango/state/warehouse.lock");
    let mut f = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    assert!(f.try_lock_exclusive().unwrap());
    f.set_len(0).unwrap();
    write!(f, r#"{{"pid":4242,"host":"h","command":"dango sync shop","source":"shop","operation":"load","started_at":"now"}}"#).unwrap();
    let (_, v, text) = doctor(&p, "");
    let pending = check(&v, "pending packages");
    assert_eq!(pending["status"], "warn");
    assert!(
        pending["detail"].as_str().unwrap().contains("normalized")
            && pending["detail"].as_str().unwrap().contains("KiB"),
        "{text}"
    );
    assert!(
        v["project"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("pid 4242"),
        "{text}"
    );
}

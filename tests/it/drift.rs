//! Schema drift (`dango governance drift-report|accept`, the doctor check, the sync warning)
//! and `partial` syncs in the history, through the real binary.

use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::rest_api::{Api, ids, items, ok};
use crate::util::TestProject;

fn shop(rows: &str) -> TestProject {
    let p = TestProject::new();
    p.write("input/orders.jsonl", rows);
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p
}

fn sync(p: &TestProject) -> String {
    let out = p.dango().args(["sync", "shop"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

fn report(p: &TestProject) -> Value {
    let out = p
        .dango()
        .args(["governance", "drift-report", "shop", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"].as_array().unwrap().len(), 1, "{v:#}");
    v["sources"][0].clone()
}

/// (kind, table, column, old type, new type, accepted) of every event.
fn events(r: &Value) -> Vec<(String, String, String, String, String, bool)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                s(&e["kind"]),
                s(&e["table"]),
                s(&e["column"]),
                s(&e["old_type"]),
                s(&e["new_type"]),
                e["accepted"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn ev(
    k: &str,
    t: &str,
    c: &str,
    o: &str,
    n: &str,
    a: bool,
) -> (String, String, String, String, String, bool) {
    (k.into(), t.into(), c.into(), o.into(), n.into(), a)
}

fn newest_load_id(p: &TestProject) -> String {
    p.scalar("SELECT max(load_id) FROM raw_shop._dlt_loads")
}

/// The doctor's drift check: (exit code, status, detail).
fn doctor(p: &TestProject) -> (i32, String, String) {
    let out = p
        .dango()
        .args(["doctor", "shop", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let check = v["sources"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "schema drift")
        .unwrap_or_else(|| panic!("no drift check: {v:#}"))
        .clone();
    (
        out.status.code().unwrap(),
        check["status"].as_str().unwrap().to_string(),
        check["detail"].as_str().unwrap().to_string(),
    )
}

#[test]
fn drift_events_are_recorded_and_breaking_ones_need_accept() {
    let p = shop(
        "{\"id\": 1, \"name\": \"a\", \"price\": 10}\n{\"id\": 2, \"name\": \"b\", \"price\": 20}\n",
    );
    sync(&p);
    let r = report(&p);
    assert_eq!(r["status"], "ok", "{r:#}");
    assert_eq!(r["baseline_load_id"].as_str().unwrap(), newest_load_id(&p));
    assert!(events(&r).is_empty(), "{r:#}");
    assert_eq!(r["baseline"]["orders"]["price"], "bigint");

    // Additive: a new column and a new (nested) table are recorded and accepted silently.
    p.write(
        "input/orders.jsonl",
        "{\"id\": 3, \"name\": \"c\", \"price\": 30, \"note\": \"x\", \"items\": [{\"sku\": \"k1\"}]}\n",
    );
    let err = sync(&p);
    assert!(!err.contains("schema drift"), "{err}");
    let second = newest_load_id(&p);
    let r = report(&p);
    assert_eq!(r["needs_attention"], false, "{r:#}");
    assert_eq!(
        events(&r),
        [
            ev("column_added", "orders", "note", "", "text", true),
            ev("table_added", "orders__items", "", "", "", true),
            ev("column_added", "orders__items", "sku", "", "text", true),
        ]
    );
    assert!(
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["load_id"] == second)
    );
    let (code, status, _) = doctor(&p);
    assert_eq!((code, status.as_str()), (0, "ok"));

    // Breaking: `name` is no longer delivered, `price` gets a text value (a variant column).
    p.write(
        "input/orders.jsonl",
        "{\"id\": 4, \"price\": \"cheap\", \"note\": \"y\"}\n{\"id\": 5, \"price\": 50, \"note\": \"z\"}\n",
    );
    let err = sync(&p);
    assert!(
        err.contains("schema drift needs attention")
            && err.contains("column_removed orders.name")
            && err.contains("type_changed orders.price")
            && err.contains("dango governance accept shop"),
        "{err}"
    );
    // Drift only observes: the data is loaded.
    assert_eq!(
        p.scalar("SELECT price__v_text FROM raw_shop.orders WHERE id = 4"),
        "cheap"
    );
    assert_eq!(
        p.scalar("SELECT count(name) FROM raw_shop.orders WHERE id IN (4, 5)"),
        "0"
    );
    let third = newest_load_id(&p);
    let r = report(&p);
    assert_eq!(r["status"], "needs_attention", "{r:#}");
    let breaking: Vec<_> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["breaking"] == true)
        .cloned()
        .collect();
    assert_eq!(breaking.len(), 2, "{r:#}");
    assert!(breaking.iter().all(|e| e["load_id"] == third.as_str()));
    assert!(
        breaking
            .iter()
            .all(|e| e["detected_at"].as_str().unwrap().len() >= 20)
    );
    assert_eq!(
        events(&r)[3..],
        [
            ev("type_changed", "orders", "price", "bigint", "text", false),
            ev("column_removed", "orders", "name", "text", "", false),
        ]
    );
    let price = breaking
        .iter()
        .find(|e| e["kind"] == "type_changed")
        .unwrap();
    assert_eq!(price["variant_column"], "price__v_text");
    // The text report lists them with the load id.
    let out = p
        .dango()
        .args(["governance", "drift-report"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("needs attention")
            && text.contains(&third)
            && text.contains("column_removed"),
        "{text}"
    );
    let (code, status, detail) = doctor(&p);
    assert_eq!((code, status.as_str()), (1, "fail"), "{detail}");
    assert!(detail.contains("dango governance accept shop"), "{detail}");

    // The same shape again: still pending, not recorded twice.
    sync(&p);
    assert_eq!(events(&report(&p)).len(), 5);

    let out = p
        .dango()
        .args(["governance", "accept", "shop"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Accepted 2 change(s)"), "{text}");
    let r = report(&p);
    assert_eq!(r["status"], "ok", "{r:#}");
    assert!(events(&r).iter().all(|e| e.5));
    assert!(r["baseline"]["orders"].get("name").is_none(), "{r:#}");
    assert_eq!(r["baseline"]["orders"]["price__v_text"], "text");
    let (code, status, _) = doctor(&p);
    assert_eq!((code, status.as_str()), (0, "ok"));

    // After accepting, the same shape is no drift.
    let err = sync(&p);
    assert!(!err.contains("schema drift"), "{err}");
    assert_eq!(events(&report(&p)).len(), 5);
}

#[test]
fn drift_can_be_turned_off() {
    let p = shop("{\"id\": 1, \"name\": \"a\"}\n");
    let out = p
        .dango()
        .args(["sync", "shop"])
        .env("RUNTIME__SCHEMA_DRIFT", "false")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(report(&p)["status"], "no_baseline");
    assert!(!p.path().join(".dango/state/drift/shop.json").exists());
}

fn two_resources(api: &Api) -> TestProject {
    api.mount(Mock::given(path("/good")).respond_with(ok(items(0, 3))));
    api.mount(
        Mock::given(path("/bad")).respond_with(ResponseTemplate::new(500).set_body_string("boom")),
    );
    crate::rest_api::project(&format!(
        "client:\n  base_url: {}\nresources:\n  - good\n  - bad\n",
        api.uri()
    ))
}

fn history(p: &TestProject) -> Vec<Value> {
    let out = p
        .dango()
        .args(["history", "api", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_sync_whose_resource_fails_is_recorded_as_partial() {
    let api = Api::start();
    let p = two_resources(&api);
    let out = p
        .dango()
        .args(["sync", "--json"])
        .env("RUNTIME__PARTIAL_SYNC", "true")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Partial counts as failed for the exit code.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("resource `bad` failed") && err.contains("partial sync"),
        "{err}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sources"][0]["status"], "partial", "{summary:#}");
    // The good resource is loaded, the bad one is not.
    assert_eq!(ids(&p, "raw_api.good"), [0, 1, 2]);
    assert!(!p.tables("raw_api").contains(&"bad".to_string()));
    let h = history(&p);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0]["status"], "partial");
    let e = h[0]["error"].as_str().unwrap();
    assert!(
        e.contains("resource `bad` failed") && e.contains("500"),
        "{e}"
    );
    let good = h[0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "good")
        .unwrap();
    assert_eq!(good["rows_loaded"], 3);
    assert_eq!(h[0]["load_ids"].as_array().unwrap().len(), 1);
}

#[test]
fn without_partial_sync_a_failing_resource_fails_the_source() {
    let api = Api::start();
    let p = two_resources(&api);
    let out = p
        .dango()
        .arg("sync")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    if p.warehouse().exists() {
        assert!(!p.tables("raw_api").contains(&"good".to_string()));
    }
    for r in history(&p) {
        assert_eq!(r["status"], "failed");
    }
}

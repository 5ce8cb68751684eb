//! Shorthand config, incremental placeholders, concurrency, `--limit`, config errors.

use std::time::{Duration, Instant};

use predicates::str::contains;
use serde_json::json;
use wiremock::Mock;
use wiremock::matchers::{path, query_param};

use super::{Api, ids, items, ok, project, sync};

#[test]
fn flat_shorthand_merges_on_id() {
    let api = Api::start();
    let base = api.uri();
    api.mount(Mock::given(path("/v1/orders")).respond_with(ok(
        json!({"data": [{"id": 1, "total": 9.5}, {"id": 2, "total": 3}]}),
    )));
    api.mount(Mock::given(path("/v1/users")).respond_with(ok(json!({"items": items(5, 7)}))));
    let p = project(&format!(
        "base_url: {base}/v1\nheaders:\n  X-Client: dango-test\nendpoints:\n  - orders\n  - name: people\n    path: users\n    data_selector: items\n"
    ));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.orders"), [1, 2]);
    // A second sync of the same rows merges on `id`: no duplicates.
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.orders"), [1, 2]);
    assert_eq!(ids(&p, "raw_api.people"), [5, 6]);
    let cols = p.columns("raw_api", "orders");
    assert_eq!(
        cols[0],
        ("id".into(), "BIGINT".into(), "NO".into()),
        "{cols:?}"
    );
    assert!(
        api.requests()
            .iter()
            .all(|r| r.headers.get("x-client").unwrap() == "dango-test")
    );
    // The schema records merge with primary key id, as Dango's defaults say.
    let schema =
        std::fs::read_to_string(p.path().join(".dlt/pipelines/api/schemas/api.schema.json"))
            .unwrap();
    assert!(
        schema.contains("\"write_disposition\": \"merge\""),
        "{schema}"
    );
}

#[test]
fn incremental_placeholders_and_end_value() {
    let api = Api::start();
    let base = api.uri();
    let rows = json!([
        {"id": 1, "updated_at": "2024-01-01T00:00:00Z"},
        {"id": 2, "updated_at": "2024-01-02T00:00:00Z"},
        {"id": 3, "updated_at": "2024-01-04T00:00:00Z"},
        {"id": 4, "updated_at": "2024-01-05T00:00:00Z"}
    ]);
    api.mount(
        Mock::given(path("/events"))
            .and(query_param("since", "2024-01-02T00:00:00Z"))
            .and(query_param("until", "2024-01-05T00:00:00Z"))
            .respond_with(ok(rows.clone())),
    );
    api.mount(
        Mock::given(path("/legacy"))
            .and(query_param("since", "2024-01-02T00:00:00Z"))
            .respond_with(ok(rows)),
    );
    let p = project(&format!(
        r#"client:
  base_url: {base}
resources:
  - name: events
    endpoint:
      path: events
      params:
        since: "{{incremental.start_value}}"
        until: "{{incremental.end_value}}"
      incremental:
        cursor_path: updated_at
        initial_value: "2024-01-02T00:00:00Z"
        end_value: "2024-01-05T00:00:00Z"
  - name: legacy
    endpoint:
      path: legacy
      params:
        since: {{type: incremental, cursor_path: updated_at, initial_value: "2024-01-02T00:00:00Z"}}
"#
    ));
    sync(&p).success();
    // start is closed, end is open.
    assert_eq!(ids(&p, "raw_api.events"), [2, 3]);
    assert_eq!(ids(&p, "raw_api.legacy"), [2, 3, 4]);
}

#[test]
fn incremental_placeholder_without_incremental_is_rejected() {
    let p = project(
        "client:\n  base_url: http://127.0.0.1:9\nresources:\n  - name: e\n    endpoint:\n      params:\n        since: \"{incremental.start_value}\"\n",
    );
    sync(&p)
        .failure()
        .stderr(contains("Expression `incremental.start_value`"))
        .stderr(contains("Valid expressions must start with one of"));
}

#[test]
fn resources_are_extracted_concurrently() {
    let api = Api::start();
    let base = api.uri();
    let names = ["r1", "r2", "r3", "r4"];
    for n in names {
        api.mount(
            Mock::given(path(format!("/{n}")))
                .respond_with(ok(items(0, 3)).set_delay(Duration::from_millis(1500))),
        );
    }
    let p = project(&format!(
        "client:\n  base_url: {base}\nresources: [r1, r2, r3, r4]\n"
    ));
    let t = Instant::now();
    sync(&p).success();
    let took = t.elapsed();
    for n in names {
        assert_eq!(ids(&p, &format!("raw_api.{n}")), [0, 1, 2]);
    }
    // Serially this takes at least 6 s; with 5 workers about 1.5 s.
    assert!(took < Duration::from_millis(4500), "{took:?}");

    // [extract] workers = 1 runs them one after the other.
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\n[extract]\nworkers = 1\n",
    );
    let t = Instant::now();
    sync(&p).success();
    assert!(t.elapsed() >= Duration::from_secs(6), "{:?}", t.elapsed());
}

#[test]
fn limit_caps_items_per_resource_and_stops_paging() {
    let api = Api::start();
    let base = api.uri();
    for page in 1..=5 {
        api.mount(
            Mock::given(path("/many"))
                .and(query_param("page", page.to_string()))
                .respond_with(ok(
                    json!({"total": 5, "data": items(page * 10, page * 10 + 10)}),
                )),
        );
    }
    let p = project(&format!(
        "client:\n  base_url: {base}\nresources:\n  - name: many\n    endpoint:\n      paginator: {{type: page_number, base_page: 1}}\n"
    ));
    p.dango().args(["sync", "--limit", "15"]).assert().success();
    assert_eq!(p.count("raw_api.many"), 15);
    assert_eq!(api.count("/many"), 2);
}

#[test]
fn config_errors_name_the_key_and_the_allowed_ones() {
    let p = project(
        "client:\n  base_url: http://127.0.0.1:9\nresources:\n  - name: a\n    endpoint:\n      path: a\n      data_selectr: data\n",
    );
    sync(&p)
        .failure()
        .stderr(contains("data_selectr"))
        .stderr(contains("allowed keys"))
        .stderr(contains("data_selector"));
    let p = project(
        "base_url: http://127.0.0.1:9\nendpoints: [a]\nauth_type: bearer\nauth_tokn_env: X\n",
    );
    sync(&p).failure().stderr(contains("auth_tokn_env"));
    let p = project(
        "client:\n  base_url: http://127.0.0.1:9\nresources:\n  - name: c\n    endpoint: a/{resources.nope.id}\n",
    );
    sync(&p)
        .failure()
        .stderr(contains("non existing parent resource `nope`"));
}

#[test]
fn library_api_builds_and_runs_a_rest_source() {
    if !crate::hermetic::in_isolated_process(
        "rest_api::features::library_api_builds_and_runs_a_rest_source",
    ) {
        return; // it ran and passed in a hermetic child
    }
    use dango::sources::rest_api::client::HttpSettings;
    use dango::sources::rest_api::secrets::SecretProvider;
    use dango::sources::rest_api::{BuildContext, RestApiConfig, build_with};

    struct Secrets;
    impl SecretProvider for Secrets {
        fn lookup(&self, source: &str, key: &str, _: bool) -> dango::Result<Option<String>> {
            Ok((source == "lib_api" && key == "token").then(|| "lib-token".to_string()))
        }
        fn env_var(&self, _: &str) -> Option<String> {
            None
        }
        fn missing(&self, _: &str, key: &str, _: Option<&str>) -> dango::Error {
            dango::Error::Config(format!("no {key}"))
        }
    }

    let api = Api::start();
    api.mount(
        Mock::given(path("/x"))
            .and(query_param("since", "2"))
            .and(wiremock::matchers::header(
                "Authorization",
                "Bearer lib-token",
            ))
            .respond_with(ok(items(0, 5))),
    );
    let cfg = RestApiConfig::from_value(&json!({
        "client": {"base_url": api.uri(), "auth": "bearer"},
        "resources": [{"name": "x", "endpoint": {
            "params": {"since": "{incremental.start_value}"},
            "incremental": {"cursor_path": "id", "initial_value": 0}
        }}]
    }))
    .unwrap();
    let ctx = BuildContext {
        secrets: &Secrets,
        http: HttpSettings::default(),
    };
    let source = build_with("lib_api", &cfg, &ctx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A stored cursor (2) in the pipeline state.
    std::fs::create_dir_all(dir.path().join("p")).unwrap();
    std::fs::write(
        dir.path().join("p/state.json"),
        json!({"_state_version": 1, "_state_engine_version": 4, "pipeline_name": "lib_api",
               "sources": {"lib_api": {"resources": {"x": {"incremental": {"id": {"last_value": 2}}}}}}})
        .to_string(),
    )
    .unwrap();
    let mut pipeline = dango::pipeline::Pipeline::builder("lib_api")
        .duckdb(dir.path().join("w.duckdb"))
        .working_dir(dir.path().join("p"))
        .build()
        .unwrap();
    let info = pipeline.run(source).unwrap();
    // The stored cursor (2) is the start: ids 0 and 1 are filtered out.
    assert_eq!(info.row_counts().get("x"), Some(&3));
}

#[test]
fn env_vars_are_substituted_in_the_rest_api_block() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/v2/things"))
            .and(wiremock::matchers::header("X-Api-Token", "tok-subst-77"))
            .and(query_param("region", "eu"))
            .respond_with(ok(json!({"data": items(0, 3)}))),
    );
    let p = project(
        "client:\n  base_url: ${TEST_API_BASE}/v2\n  headers:\n    X-Api-Token: ${TEST_SUBST_TOKEN}\nresources:\n  - name: things\n    endpoint:\n      params: {region: \"${TEST_REGION}\"}\n      data_selector: data\n",
    );
    let out = p
        .dango()
        .args(["sync", "-v"])
        .env("TEST_API_BASE", &base)
        .env("TEST_SUBST_TOKEN", "tok-subst-77")
        .env("TEST_REGION", "eu")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(ids(&p, "raw_api.things"), [0, 1, 2]);
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/api/runtime.log")).unwrap();
    assert!(!log.contains("tok-subst-77") && !stderr.contains("tok-subst-77"));
    // An unset variable is a clear error, before any request.
    let before = api.requests().len();
    p.dango()
        .arg("sync")
        .env("TEST_API_BASE", &base)
        .env_remove("TEST_SUBST_TOKEN")
        .env("TEST_REGION", "eu")
        .assert()
        .failure()
        .stderr(contains("TEST_SUBST_TOKEN is not set"));
    assert_eq!(api.requests().len(), before);
}

//! `dango sync` of `rest_api` sources against in-process HTTP servers on 127.0.0.1:
//! paginators, auth, parent→child, response actions, incremental params, faults.

#[path = "rest_api_faults.rs"]
mod faults;
#[path = "rest_api_features.rs"]
mod features;
#[path = "rest_api_progress.rs"]
mod progress;

use std::time::Duration;

use assert_cmd::assert::Assert;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::TestProject;

/// A wiremock server with its own runtime, usable from blocking tests.
pub struct Api {
    server: MockServer,
    rt: tokio::runtime::Runtime,
}

impl Api {
    pub fn start() -> Api {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Api { server, rt }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn mount(&self, m: Mock) {
        self.rt.block_on(m.mount(&self.server));
    }

    /// Requests received so far, as (path, query) pairs.
    pub fn requests(&self) -> Vec<wiremock::Request> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    pub fn count(&self, p: &str) -> usize {
        self.requests().iter().filter(|r| r.url.path() == p).count()
    }
}

/// A project with one `rest_api` source `api`; `block` is the YAML of the block (unindented).
/// Retries are fast: backoff factor 0.01 s, waits capped at 0.3 s, 5 s timeout.
pub fn project(block: &str) -> TestProject {
    let p = TestProject::new();
    let indented: String = block.lines().map(|l| format!("      {l}\n")).collect();
    p.write(
        ".dango/sources.yml",
        &format!("version: \"1.0\"\nsources:\n  - name: api\n    type: rest_api\n    rest_api:\n{indented}"),
    );
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\nrequest_max_retry_delay = 0.3\nrequest_timeout = 5\n",
    );
    p
}

pub fn sync(p: &TestProject) -> Assert {
    p.dango()
        .arg("sync")
        .timeout(Duration::from_secs(120))
        .assert()
}

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

pub fn items(from: i64, to: i64) -> Value {
    Value::Array(
        (from..to)
            .map(|i| json!({"id": i, "name": format!("n{i}")}))
            .collect(),
    )
}

/// Sorted ids of a table.
pub fn ids(p: &TestProject, table: &str) -> Vec<i64> {
    p.query(&format!("SELECT id FROM {table} ORDER BY id"))
        .into_iter()
        .map(|r| r[0].clone().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn json_link_pages_through_next_urls() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(method("GET"))
            .and(path("/items"))
            .and(query_param_is_missing("page"))
            .respond_with(ok(
                json!({"data": items(0, 3), "paging": {"next": format!("{base}/items?page=2")}}),
            )),
    );
    api.mount(
        Mock::given(method("GET"))
            .and(path("/items"))
            .and(query_param("page", "2"))
            .respond_with(ok(
                json!({"data": items(3, 5), "paging": {"next": "/items?page=3"}}),
            )),
    );
    api.mount(
        Mock::given(method("GET"))
            .and(path("/items"))
            .and(query_param("page", "3"))
            .respond_with(ok(json!({"data": items(5, 6), "paging": {"next": null}}))),
    );
    let p = project(&format!(
        "client:\n  base_url: {base}\n  paginator:\n    type: json_link\n    next_url_path: paging.next\nresources:\n  - name: items\n    endpoint:\n      path: items\n      data_selector: data\n      params:\n        per_page: 3\n"
    ));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.items"), [0, 1, 2, 3, 4, 5]);
    assert_eq!(api.count("/items"), 3);
    // The first request carries the params; next URLs replace them.
    let reqs = api.requests();
    let first = &reqs[0];
    assert_eq!(first.url.query(), Some("per_page=3"));
    assert_eq!(
        p.scalar("SELECT name FROM raw_api.items WHERE id = 4"),
        "n4"
    );
}

#[test]
fn header_link_and_header_cursor() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/a"))
            .and(query_param_is_missing("p"))
            .respond_with(ok(items(0, 2)).insert_header(
                "Link",
                format!("<{base}/a?p=2>; rel=\"next\", <{base}/a?p=2>; rel=\"last\"").as_str(),
            )),
    );
    api.mount(
        Mock::given(path("/a"))
            .and(query_param("p", "2"))
            .respond_with(ok(items(2, 3))),
    );
    api.mount(
        Mock::given(path("/b"))
            .and(query_param_is_missing("cursor"))
            .respond_with(ok(items(10, 12)).insert_header("X-Next", "c2")),
    );
    api.mount(
        Mock::given(path("/b"))
            .and(query_param("cursor", "c2"))
            .respond_with(ok(items(12, 13))),
    );
    let p = project(&format!(
        "client:\n  base_url: {base}/\nresources:\n  - name: a\n    endpoint:\n      path: /a\n      paginator: header_link\n  - name: b\n    endpoint:\n      path: b\n      paginator:\n        type: header_cursor\n        cursor_key: X-Next\n"
    ));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.a"), [0, 1, 2]);
    assert_eq!(ids(&p, "raw_api.b"), [10, 11, 12]);
}

#[test]
fn offset_page_number_and_cursor_stop_rules() {
    let api = Api::start();
    let base = api.uri();
    // offset: limit 7, total 20 → offsets 0, 7, 14.
    for off in [0, 7, 14] {
        api.mount(
            Mock::given(path("/off"))
                .and(query_param("offset", off.to_string()))
                .and(query_param("limit", "7"))
                .respond_with(ok(
                    json!({"total": 20, "items": items(off, (off + 7).min(20))}),
                )),
        );
    }
    // page_number: base_page 1, total 3 pages.
    for page in 1..=3 {
        api.mount(
            Mock::given(path("/pages"))
                .and(query_param("page", page.to_string()))
                .respond_with(ok(json!({"meta": {"total_pages": 3}, "results": items(page * 100, page * 100 + 2)}))),
        );
    }
    // cursor: a falsy cursor stops.
    api.mount(
        Mock::given(path("/cur"))
            .and(query_param_is_missing("after"))
            .respond_with(ok(
                json!({"rows": items(1000, 1002), "cursors": {"next": "x1"}}),
            )),
    );
    api.mount(
        Mock::given(path("/cur"))
            .and(query_param("after", "x1"))
            .respond_with(ok(
                json!({"rows": items(1002, 1003), "cursors": {"next": ""}}),
            )),
    );
    // offset without total: stops at the first empty page.
    for (off, n) in [(0, 2), (2, 0)] {
        api.mount(
            Mock::given(path("/nototal"))
                .and(query_param("offset", off.to_string()))
                .respond_with(ok(json!({"items": items(5000 + off, 5000 + off + n)}))),
        );
    }
    let p = project(&format!(
        r#"client:
  base_url: {base}
resources:
  - name: off
    endpoint:
      path: off
      paginator: {{type: offset, limit: 7}}
  - name: pages
    endpoint:
      path: pages
      paginator: {{type: page_number, base_page: 1, total_path: meta.total_pages}}
  - name: cur
    endpoint:
      path: cur
      paginator: {{type: cursor, cursor_path: cursors.next, cursor_param: after}}
  - name: nototal
    endpoint:
      path: nototal
      paginator: {{type: offset, limit: 2, total_path: null}}
  - name: single
    endpoint:
      path: off
      params: {{offset: 0, limit: 7}}
      paginator: single_page
"#
    ));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.off"), (0..20).collect::<Vec<_>>());
    assert_eq!(ids(&p, "raw_api.pages"), [100, 101, 200, 201, 300, 301]);
    assert_eq!(ids(&p, "raw_api.cur"), [1000, 1001, 1002]);
    assert_eq!(ids(&p, "raw_api.nototal"), [5000, 5001]);
    assert_eq!(ids(&p, "raw_api.single"), (0..7).collect::<Vec<_>>());
    assert_eq!(api.count("/off"), 4);
    assert_eq!(api.count("/pages"), 3);
    assert_eq!(api.count("/nototal"), 2);
}

#[test]
fn auto_detects_paginator_and_selector_and_warns_on_fallback() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/auto"))
            .and(query_param_is_missing("page"))
            .respond_with(ok(
                json!({"meta": {"count": 3}, "results": items(0, 2), "next": "/auto?page=2"}),
            )),
    );
    api.mount(
        Mock::given(path("/auto"))
            .and(query_param("page", "2"))
            .respond_with(ok(
                json!({"meta": {"count": 3}, "results": items(2, 3), "next": null}),
            )),
    );
    api.mount(Mock::given(path("/plain")).respond_with(ok(items(7, 9))));
    let p = project(&format!(
        "client:\n  base_url: {base}\nresources:\n  - auto\n  - plain\n"
    ));
    sync(&p)
        .success()
        .stderr(predicates::str::contains("Fallback `paginator` used"));
    assert_eq!(ids(&p, "raw_api.auto"), [0, 1, 2]);
    assert_eq!(ids(&p, "raw_api.plain"), [7, 8]);
    // The fallback warning names the resource.
    let out = p.dango().arg("sync").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`plain`") && !err.contains("`auto`: Fallback"),
        "{err}"
    );
}

#[test]
fn bearer_api_key_and_basic_auth() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/bearer"))
            .and(header("Authorization", "Bearer tok-123"))
            .respond_with(ok(items(0, 1))),
    );
    api.mount(
        Mock::given(path("/hkey"))
            .and(header("X-Api-Key", "k-456"))
            .respond_with(ok(items(1, 2))),
    );
    api.mount(
        Mock::given(path("/qkey"))
            .and(query_param("api_key", "k-789"))
            .respond_with(ok(items(2, 3))),
    );
    api.mount(
        Mock::given(path("/basic"))
            .and(wiremock::matchers::basic_auth("alice", "pw-000"))
            .respond_with(ok(items(3, 4))),
    );
    let p = project(&format!(
        r#"client:
  base_url: {base}
  auth: {{type: bearer, token_env: API_TOKEN_FOR_TEST}}
resources:
  - bearer
  - name: hkey
    endpoint: {{path: hkey, auth: {{type: api_key, name: X-Api-Key}}}}
  - name: qkey
    endpoint: {{path: qkey, auth: {{type: api_key, name: api_key, location: query, api_key: k-789}}}}
  - name: basic
    endpoint: {{path: basic, auth: {{type: http_basic, username: alice}}}}
"#
    ));
    // api_key from secrets.toml (dlt's credentials section); password from the env (dlt name).
    p.write(
        ".dlt/secrets.toml",
        "[sources.rest_api.api.credentials]\napi_key = \"k-456\"\n",
    );
    p.dango()
        .arg("sync")
        .env("API_TOKEN_FOR_TEST", "tok-123")
        .env("SOURCES__API__CREDENTIALS__PASSWORD", "pw-000")
        .assert()
        .success();
    assert_eq!(ids(&p, "raw_api.bearer"), [0]);
    assert_eq!(ids(&p, "raw_api.hkey"), [1]);
    assert_eq!(ids(&p, "raw_api.qkey"), [2]);
    assert_eq!(ids(&p, "raw_api.basic"), [3]);
}

#[test]
fn missing_secret_is_reported_before_any_request() {
    let api = Api::start();
    let p = project(&format!(
        "client:\n  base_url: {}\n  auth: {{type: bearer, token_env: NOT_SET_ANYWHERE_42}}\nresources:\n  - x\n",
        api.uri()
    ));
    sync(&p)
        .failure()
        .stderr(predicates::str::contains("NOT_SET_ANYWHERE_42"))
        .stderr(predicates::str::contains(
            "SOURCES__REST_API__API__CREDENTIALS__TOKEN",
        ));
    assert!(api.requests().is_empty());
}

#[test]
fn oauth2_client_credentials_fetches_and_refreshes_the_token() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(wiremock::matchers::body_string_contains(
                "grant_type=client_credentials",
            ))
            .and(wiremock::matchers::body_string_contains("client_id=cid"))
            .and(wiremock::matchers::body_string_contains(
                "client_secret=csecret",
            ))
            .respond_with(ok(json!({"access_token": "acc-1", "expires_in": 0}))),
    );
    for page in 1..=3 {
        api.mount(
            Mock::given(path("/o"))
                .and(header("Authorization", "Bearer acc-1"))
                .and(query_param("page", page.to_string()))
                .respond_with(ok(json!({"total": 3, "data": items(page, page + 1)}))),
        );
    }
    let p = project(&format!(
        r#"client:
  base_url: {base}
  auth:
    type: oauth2_client_credentials
    access_token_url: {base}/token
    client_id: cid
    client_secret_env: OAUTH_SECRET_FOR_TEST
resources:
  - name: o
    endpoint:
      path: o
      paginator: {{type: page_number, base_page: 1}}
"#
    ));
    p.dango()
        .arg("sync")
        .env("OAUTH_SECRET_FOR_TEST", "csecret")
        .assert()
        .success();
    assert_eq!(ids(&p, "raw_api.o"), [1, 2, 3]);
    // expires_in 0: a new token for every request.
    assert_eq!(api.count("/token"), 3);
}

#[test]
fn parent_child_placeholders_include_from_parent_and_ignored_404() {
    let api = Api::start();
    let base = api.uri();
    api.mount(Mock::given(path("/issues")).respond_with(ok(json!([
        {"number": 1, "title": "first", "user": {"id": 10}},
        {"number": 2, "title": "second", "user": {"id": 20}},
        {"number": 3, "title": "third", "user": {"id": 30}}
    ]))));
    for n in [1, 2] {
        api.mount(
            Mock::given(path(format!("/issues/{n}/comments")))
                .and(query_param("user", (n * 10).to_string()))
                .respond_with(ok(
                    json!([{"id": n * 100, "body": "a"}, {"id": n * 100 + 1, "body": "b"}]),
                )),
        );
    }
    api.mount(
        Mock::given(path("/issues/3/comments"))
            .respond_with(ResponseTemplate::new(404).set_body_string("no such issue")),
    );
    // Single entity: path ends in a placeholder → `$` selector, one page.
    for n in [1, 2, 3] {
        api.mount(Mock::given(path(format!("/details/{n}"))).respond_with(ok(
            json!({"id": n, "labels": ["x", "y"], "next": "/should-not-page"}),
        )));
    }
    let p = project(&format!(
        r#"client:
  base_url: {base}
  paginator: single_page
resources:
  - name: issues
    selected: false
  - name: comments
    include_from_parent: [title]
    endpoint:
      path: issues/{{resources.issues.number}}/comments
      params:
        user: "{{resources.issues.user.id}}"
      response_actions:
        - status_code: 404
          action: ignore
  - name: details
    endpoint:
      path: details/{{n}}
      paginator: auto
      params:
        n: {{type: resolve, resource: issues, field: number}}
"#
    ));
    sync(&p).success();
    // `issues` is not selected: no table, but it fed its children.
    assert!(!p.tables("raw_api").contains(&"issues".to_string()));
    assert_eq!(
        p.query("SELECT id, _issues_title FROM raw_api.comments ORDER BY id"),
        [
            [Some("100".into()), Some("first".into())],
            [Some("101".into()), Some("first".into())],
            [Some("200".into()), Some("second".into())],
            [Some("201".into()), Some("second".into())],
        ]
    );
    assert_eq!(ids(&p, "raw_api.details"), [1, 2, 3]);
    assert_eq!(p.count("raw_api.details__labels"), 6);
    assert_eq!(api.count("/should-not-page"), 0);
}

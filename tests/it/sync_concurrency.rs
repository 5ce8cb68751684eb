//! Sources synced concurrently, `parallelized` dependent resources and the no-op sync: the
//! data must be what a sequential run (and dlt) writes.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use wiremock::Mock;
use wiremock::matchers::{path, path_regex, query_param};

use crate::rest_api::{Api, ok, project};
use crate::services;
use crate::util::TestProject;

/// A project with `n` local_files sources `s0..s{n-1}` (source `i` has `i + 2` rows), and,
/// with `broken`, a source whose directory does not exist.
fn many_sources(n: usize, broken: bool) -> TestProject {
    let p = TestProject::new();
    let mut yml = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..n {
        let rows: String = (0..i + 2)
            .map(|k| format!("{{\"id\": {k}, \"src\": {i}, \"tags\": [\"a{k}\", \"b\"]}}\n"))
            .collect();
        p.write(&format!("in/s{i}/rows.jsonl"), &rows);
        yml.push_str(&format!(
            "  - name: s{i}\n    type: local_files\n    local_files:\n      directory: in/s{i}\n      file_pattern: \"*.jsonl\"\n      table_name: items\n"
        ));
        if broken && i == 1 {
            yml.push_str(
                "  - name: broken\n    type: local_files\n    local_files:\n      directory: in/missing\n      file_pattern: \"*.jsonl\"\n",
            );
        }
    }
    p.write(".dango/sources.yml", &yml);
    p
}

/// Every dataset's data (without load ids and random row ids), `_dlt_loads` and history
/// counts, as comparable text.
fn warehouse_summary(p: &TestProject, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let ds = format!("raw_s{i}");
        for row in p.query(&format!(
            "SELECT i.id, i.src, string_agg(t.value, ',' ORDER BY t._dlt_list_idx) \
             FROM {ds}.items i JOIN {ds}.items__tags t ON t._dlt_parent_id = i._dlt_id \
             GROUP BY i.id, i.src ORDER BY i.id"
        )) {
            out.push(format!("{ds}: {row:?}"));
        }
        out.push(format!(
            "{ds}: loads {} history {} state {}",
            p.count(&format!("{ds}._dlt_loads")),
            p.scalar(&format!(
                "SELECT count(*) || ' ' || string_agg(status, ',') FROM {ds}._dango_sync_history"
            )),
            p.count(&format!("{ds}._dlt_pipeline_state")),
        ));
    }
    out
}

#[test]
fn concurrent_sources_give_the_warehouse_of_a_sequential_sync() {
    let n = 7;
    let one = many_sources(n, true);
    let four = many_sources(n, true);
    let out1 = one
        .dango()
        .args(["sync"])
        .env("RUNTIME__SYNC_WORKERS", "1")
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let out4 = four
        .dango()
        .args(["sync"])
        .env("RUNTIME__SYNC_WORKERS", "4")
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    // The broken source fails in both; the others load; the exit code says so.
    for out in [&out1, &out4] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("error: source `broken` failed"), "{err}");
        for i in 0..n {
            assert!(err.contains(&format!("s{i}: done in")), "{err}");
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("1 of 8 source(s) failed"), "{stdout}");
    }
    let a = warehouse_summary(&one, n);
    assert_eq!(a, warehouse_summary(&four, n));
    assert!(
        a.contains(&"raw_s3: loads 1 history 1 success state 1".to_string()),
        "{a:?}"
    );
    // Each source's runtime.log holds its own run only.
    let log = std::fs::read_to_string(four.path().join(".dlt/pipelines/s2/runtime.log")).unwrap();
    assert!(log.contains("sync of source s2 started"), "{log}");
    assert!(!log.contains("sync of source s3"), "{log}");
}

#[test]
fn concurrent_sources_with_json_summary() {
    let p = many_sources(3, false);
    let out = p
        .dango()
        .args(["sync", "--json"])
        .env("RUNTIME__SYNC_WORKERS", "3")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    // The summary keeps the order of sources.yml, whatever finished first.
    assert_eq!(names, ["s0", "s1", "s2"]);
    assert_eq!(v["sources"][2]["rows_loaded"], json!(4 + 8));
    p.dango()
        .args(["sync"])
        .env("RUNTIME__SYNC_WORKERS", "0")
        .assert()
        .failure()
        .stderr(predicates::str::contains("sync_workers must be at least 1"));
}

/// posts (two pages) → comments (a list per post, two pages for post 3) and → meta (one
/// object per post, not parallelized).
fn blog_api(api: &Api) {
    let base = api.uri();
    api.mount(Mock::given(path("/posts")).and(query_param("page", "2")).respond_with(ok(
        json!({"data": (4..8).map(|i| json!({"id": i, "title": format!("t{i}")})).collect::<Vec<_>>(), "next": null}),
    )));
    api.mount(Mock::given(path("/posts")).respond_with(ok(json!({
        "data": (1..4).map(|i| json!({"id": i, "title": format!("t{i}")})).collect::<Vec<_>>(),
        "next": format!("{base}/posts?page=2"),
    }))));
    for post in 1..8 {
        let comments: Vec<_> = (0..post % 3 + 1)
            .map(|c| json!({"cid": post * 100 + c, "body": format!("c{c}"), "n": [c, c + 1]}))
            .collect();
        let next = if post == 3 {
            json!(format!("{base}/posts/3/comments?page=2"))
        } else {
            json!(null)
        };
        if post == 3 {
            api.mount(
                Mock::given(path("/posts/3/comments"))
                    .and(query_param("page", "2"))
                    .respond_with(
                        ok(json!({"data": [{"cid": 399, "body": "late", "n": []}], "next": null}))
                            .set_delay(Duration::from_millis(30)),
                    ),
            );
        }
        // Early posts answer slowly: a concurrent fetch finishes out of order.
        api.mount(
            Mock::given(path(format!("/posts/{post}/comments"))).respond_with(
                ok(json!({"data": comments, "next": next}))
                    .set_delay(Duration::from_millis(80 - post as u64 * 10)),
            ),
        );
    }
    api.mount(
        Mock::given(path_regex(r"^/posts/\d+$")).respond_with(ok(json!({"id": 0, "kind": "meta"}))),
    );
}

fn blog_project(api: &Api, parallelized: bool) -> TestProject {
    project(&format!(
        r#"client:
  base_url: {}
  paginator:
    type: json_link
    next_url_path: next
resources:
  - name: posts
    endpoint:
      path: posts
      data_selector: data
  - name: comments
    parallelized: {parallelized}
    include_from_parent: [title]
    endpoint:
      path: posts/{{resources.posts.id}}/comments
      data_selector: data
  - name: meta
    endpoint:
      path: posts/{{resources.posts.id}}
"#,
        api.uri()
    ))
}

/// Rows of a table in load order (DuckDB keeps insertion order for a single-threaded scan of a
/// small table), without the random ids.
fn rows(p: &TestProject, sql: &str) -> Vec<Vec<Option<String>>> {
    p.query(sql)
}

#[test]
fn parallelized_children_give_the_rows_of_a_sequential_fetch() {
    let api = Api::start();
    blog_api(&api);
    let seq = blog_project(&api, false);
    crate::rest_api::sync(&seq).success();
    let sequential_requests = api.requests().len();
    let par = blog_project(&api, true);
    crate::rest_api::sync(&par).success();
    assert_eq!(api.requests().len(), 2 * sequential_requests);
    let q_comments =
        "SELECT cid, body, _posts_title, _dlt_load_id IS NOT NULL FROM raw_api.comments";
    let q_nested = "SELECT c.cid, n.value, n._dlt_list_idx FROM raw_api.comments c \
                    JOIN raw_api.comments__n n ON n._dlt_parent_id = c._dlt_id ORDER BY 1, 3";
    let a = rows(&seq, q_comments);
    assert_eq!(a.len(), 15, "{a:?}");
    assert_eq!(a, rows(&par, q_comments), "same rows in the same order");
    assert_eq!(rows(&seq, q_nested), rows(&par, q_nested));
    // Post 3's second page comes right after its first.
    let cids: Vec<String> = a.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        cids,
        [
            "100", "101", "200", "201", "202", "300", "399", "400", "401", "500", "501", "502",
            "600", "700", "701"
        ]
    );
    for q in [
        "SELECT id, title FROM raw_api.posts",
        "SELECT id, kind FROM raw_api.meta",
    ] {
        assert_eq!(rows(&seq, q), rows(&par, q));
    }
    assert_eq!(par.count("raw_api.meta"), 7);
}

#[test]
fn a_failing_parallelized_child_fails_the_sync_with_its_error() {
    // Post 5's comments have no mock: the server answers 404.
    let api2 = Api::start();
    let base = api2.uri();
    api2.mount(Mock::given(path("/posts")).respond_with(ok(
        json!({"data": [{"id": 1, "title": "a"}, {"id": 5, "title": "b"}], "next": null}),
    )));
    api2.mount(
        Mock::given(path("/posts/1/comments"))
            .respond_with(ok(json!({"data": [{"cid": 1}], "next": null}))),
    );
    let p = project(&format!(
        "client:\n  base_url: {base}\n  paginator:\n    type: json_link\n    next_url_path: next\nresources:\n  - name: posts\n    endpoint:\n      path: posts\n      data_selector: data\n  - name: comments\n    parallelized: true\n    endpoint:\n      path: posts/{{resources.posts.id}}/comments\n      data_selector: data\n"
    ));
    crate::rest_api::sync(&p)
        .failure()
        .stderr(predicates::str::contains("404"))
        .stderr(predicates::str::contains("comments"));
}

const DLT_NOOP: &str = r#"
import sys, dlt
from dlt.sources.rest_api import rest_api_source
base, db, pipes = sys.argv[1], sys.argv[2], sys.argv[3]
def source():
    return rest_api_source({
        "client": {"base_url": base},
        "resources": [{
            "name": "events",
            "write_disposition": "append",
            "endpoint": {
                "path": "events",
                "params": {"since": "{incremental.start_value}"},
                "incremental": {"cursor_path": "id", "initial_value": 0},
                "paginator": "single_page",
                "data_selector": "$",
            },
        }],
    })
p = dlt.pipeline("api", destination=dlt.destinations.duckdb(db), dataset_name="raw_api", pipelines_dir=pipes)
for _ in range(2):
    info = p.run(source())
    print("PACKAGES", len(info.loads_ids))
"#;

fn events_api() -> Api {
    let api = Api::start();
    api.mount(
        Mock::given(path("/events"))
            .and(query_param("since", "0"))
            .respond_with(ok(json!([{"id": 1, "v": "a"}, {"id": 3, "v": "b"}]))),
    );
    api.mount(
        Mock::given(path("/events"))
            .and(query_param("since", "3"))
            .respond_with(ok(json!([]))),
    );
    api
}

/// (`_dlt_loads` rows, `_dlt_pipeline_state` rows, `events` rows) of a DuckDB file.
fn bookkeeping(db: &Path) -> (i64, i64, i64) {
    let cfg = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .unwrap();
    let conn = duckdb::Connection::open_with_flags(db, cfg).unwrap();
    let count = |t: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM raw_api.{t}"), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    (
        count("_dlt_loads"),
        count("_dlt_pipeline_state"),
        count("events"),
    )
}

#[test]
fn a_noop_sync_commits_what_dlt_commits() {
    let api = events_api();
    let p = project(&format!(
        "client:\n  base_url: {}\nresources:\n  - name: events\n    write_disposition: append\n    endpoint:\n      path: events\n      params:\n        since: \"{{incremental.start_value}}\"\n      incremental:\n        cursor_path: id\n        initial_value: 0\n      paginator: single_page\n      data_selector: $\n",
        api.uri()
    ));
    crate::rest_api::sync(&p).success();
    let state_before =
        std::fs::read_to_string(p.path().join(".dlt/pipelines/api/state.json")).unwrap();
    let out = p.dango().args(["sync", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["load_ids"], json!([]), "{v}");
    assert_eq!(v["sources"][0]["status"], "ok");
    let ours = bookkeeping(&p.warehouse());
    assert_eq!(ours, (1, 1, 2));
    assert_eq!(api.requests().len(), 2);
    // Nothing pending, the local state as it was.
    let normalized = p.path().join(".dlt/pipelines/api/normalize/extracted");
    assert_eq!(
        std::fs::read_dir(&normalized)
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    let state_after =
        std::fs::read_to_string(p.path().join(".dlt/pipelines/api/state.json")).unwrap();
    assert_eq!(state_before, state_after);
    // Nothing committed: not even a history record (dlt writes nothing either).
    assert_eq!(p.count("raw_api._dango_sync_history"), 1);

    let Some(python) = services::python("a_noop_sync_commits_what_dlt_commits") else {
        return;
    };
    let api = events_api();
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("noop.py");
    std::fs::write(&script, DLT_NOOP).unwrap();
    let db = tmp.path().join("dlt.duckdb");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(api.uri())
        .arg(&db)
        .arg(tmp.path().join("pipelines"))
        .env_clear()
        .env("HOME", tmp.path())
        .env("DLT_DATA_DIR", tmp.path().join(".dlt"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PACKAGES 1\nPACKAGES 0"), "{text}");
    assert_eq!(
        bookkeeping(&db),
        ours,
        "dlt's bookkeeping after the same two runs"
    );
}

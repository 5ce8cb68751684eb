//! Incremental loading and pipeline state through the real binary: a local HTTP server that
//! filters by the `since`/`until` it receives and records every query; the warehouse rows and
//! the state (local and in `_dlt_pipeline_state`) are checked after each step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::rest_api::{Api, project};
use crate::util::TestProject;

/// Serves `records` from `/items`, keeping those with `updated_at >= since` and `< until`
/// (compared as instants), like an API with a `since` filter.
#[derive(Clone, Default)]
struct Records(Arc<Mutex<Vec<Value>>>);

impl Records {
    fn set(&self, v: Vec<Value>) {
        *self.0.lock().unwrap() = v;
    }
    fn push(&self, v: Value) {
        self.0.lock().unwrap().push(v);
    }
}

fn instant(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&chrono::Utc)
}

impl Respond for Records {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q: std::collections::HashMap<String, String> =
            req.url.query_pairs().into_owned().collect();
        let since = q.get("since").map(|s| instant(s));
        let until = q.get("until").map(|s| instant(s));
        let rows: Vec<Value> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                let t = instant(r["updated_at"].as_str().unwrap());
                since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
            })
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "data": rows }))
    }
}

fn rec(id: i64, t: &str, name: &str) -> Value {
    json!({"id": id, "updated_at": t, "name": name, "tags": [name]})
}

/// A project with resource `items` (cursor `updated_at`) against a server over `records`.
fn setup(disposition: &str) -> (Api, Records, TestProject) {
    let api = Api::start();
    let records = Records::default();
    api.mount(Mock::given(path("/items")).respond_with(records.clone()));
    let p = project(&format!(
        r#"client:
  base_url: {}
  paginator: single_page
resources:
  - name: items
    write_disposition: {disposition}
    primary_key: id
    endpoint:
      path: items
      data_selector: data
      params:
        since: "{{incremental.start_value}}"
      incremental:
        cursor_path: updated_at
        initial_value: "2024-01-01T00:00:00Z"
"#,
        api.uri()
    ));
    (api, records, p)
}

/// The `since` values received, in order.
fn sinces(api: &Api) -> Vec<String> {
    api.requests()
        .iter()
        .filter(|r| r.url.path() == "/items")
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "since")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

fn sync(p: &TestProject, extra: &[&str]) {
    let out = p
        .dango()
        .arg("sync")
        .args(extra)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sync {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn local_state(p: &TestProject) -> Value {
    let text = std::fs::read_to_string(p.path().join(".dlt/pipelines/api/state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cursor(p: &TestProject) -> Value {
    local_state(p)["sources"]["api"]["resources"]["items"]["incremental"]["updated_at"].clone()
}

fn ids(p: &TestProject) -> Vec<i64> {
    p.query("SELECT id FROM raw_api.items ORDER BY id, _dlt_load_id")
        .into_iter()
        .map(|r| r[0].clone().unwrap().parse().unwrap())
        .collect()
}

fn initial_three(records: &Records) {
    records.set(vec![
        rec(1, "2024-01-02T00:00:00Z", "a"),
        rec(2, "2024-01-03T00:00:00Z", "b"),
        rec(3, "2024-01-04T00:00:00Z", "c"),
    ]);
}

#[test]
fn second_sync_asks_only_for_new_records_and_skips_the_boundary() {
    let (api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    assert_eq!(ids(&p), vec![1, 2, 3]);
    let c = cursor(&p);
    assert_eq!(c["last_value"], "2024-01-04T00:00:00Z");
    assert_eq!(c["initial_value"], "2024-01-01T00:00:00Z");
    assert_eq!(c["unique_hashes"], json!(["Cn/dwi436vBb"]));
    // A newer record with another offset (+02:00, one hour after the boundary).
    records.push(rec(4, "2024-01-04T03:00:00+02:00", "d"));
    sync(&p, &[]);
    assert_eq!(
        sinces(&api),
        vec!["2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"]
    );
    // Record 3 sits on the boundary (since is inclusive) and is not loaded twice.
    assert_eq!(ids(&p), vec![1, 2, 3, 4]);
    assert_eq!(cursor(&p)["last_value"], "2024-01-04T03:00:00+02:00");
    // The warehouse holds the same state as state.json, committed with the data.
    let committed = p.scalar(
        "SELECT version_hash FROM raw_api._dlt_pipeline_state ORDER BY _dlt_load_id DESC LIMIT 1",
    );
    assert_eq!(Value::String(committed), local_state(&p)["_version_hash"]);
    // Nothing new: nothing loaded, the cursor stays.
    sync(&p, &[]);
    assert_eq!(ids(&p), vec![1, 2, 3, 4]);
    assert_eq!(sinces(&api)[2], "2024-01-04T03:00:00+02:00");

    let out = p
        .dango()
        .args(["pipeline", "api", "sync-state", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &s["resources"][0];
    assert_eq!(r["resource"], "items");
    assert_eq!(r["cursors"][0]["cursor_path"], "updated_at");
    assert_eq!(r["cursors"][0]["last_value"], "2024-01-04T03:00:00+02:00");
    assert_eq!(r["rows_total"], 4);
    // The no-op committed no load (as dlt): the last load is the one that brought record 4.
    assert_eq!(r["rows_last_sync"], 1);
    assert!(r["last_synced_at"].as_str().is_some());
    let out = p
        .dango()
        .args(["pipeline", "api", "sync-state"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("resource: items"), "{text}");
    assert!(
        text.contains("last_value: 2024-01-04T03:00:00+02:00"),
        "{text}"
    );
    assert!(text.contains("rows in total: 4"), "{text}");
    let out = p
        .dango()
        .args(["pipeline", "api", "info"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("api.items cursor updated_at: last_value 2024-01-04T03:00:00+02:00"),
        "{text}"
    );
}

#[test]
fn updated_records_merge_by_primary_key() {
    let (api, records, p) = setup("merge");
    initial_three(&records);
    sync(&p, &[]);
    records.set(vec![
        rec(1, "2024-01-02T00:00:00Z", "a"),
        rec(2, "2024-01-05T00:00:00Z", "b2"),
        rec(3, "2024-01-04T00:00:00Z", "c"),
    ]);
    sync(&p, &[]);
    assert_eq!(sinces(&api)[1], "2024-01-04T00:00:00Z");
    assert_eq!(
        p.query("SELECT id, name FROM raw_api.items ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), Some("b2".into())],
            vec![Some("3".into()), Some("c".into())],
        ]
    );
}

#[test]
fn windows_leave_the_saved_cursor_alone() {
    let (api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    let before = cursor(&p);
    records.push(rec(5, "2023-12-30T00:00:00Z", "old"));
    sync(&p, &["--since", "2023-12-29", "--until", "2024-01-02"]);
    assert_eq!(sinces(&api)[1], "2023-12-29T00:00:00Z");
    // Rows at or after --until are dropped even if the server sends them.
    assert_eq!(ids(&p), vec![1, 2, 3, 5]);
    assert_eq!(cursor(&p), before);
    sync(&p, &[]);
    assert_eq!(sinces(&api)[2], "2024-01-04T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3, 5]);

    let out = p
        .dango()
        .args(["sync", "--since", "2024-01-01", "--backfill", "7d"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--backfill cannot be combined"));
    let out = p
        .dango()
        .args(["sync", "--since", "2024-02-01", "--until", "2024-01-01"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be before --until"));
    assert_eq!(sinces(&api).len(), 3);
}

#[test]
fn end_value_in_config_is_a_stateless_window() {
    let api = Api::start();
    let records = Records::default();
    initial_three(&records);
    api.mount(Mock::given(path("/items")).respond_with(records.clone()));
    let p = project(&format!(
        "client:\n  base_url: {}\n  paginator: single_page\nresources:\n  - name: items\n    write_disposition: append\n    endpoint:\n      path: items\n      data_selector: data\n      params:\n        since: \"{{incremental.start_value}}\"\n        until: \"{{incremental.end_value}}\"\n      incremental:\n        cursor_path: updated_at\n        initial_value: \"2024-01-02T00:00:00Z\"\n        end_value: \"2024-01-04T00:00:00Z\"\n",
        api.uri()
    ));
    sync(&p, &[]);
    sync(&p, &[]);
    assert_eq!(sinces(&api), vec!["2024-01-02T00:00:00Z"; 2]);
    assert_eq!(ids(&p), vec![1, 1, 2, 2]);
    let st = local_state(&p);
    assert!(
        st["sources"]["api"]["resources"]["items"]["incremental"].is_null(),
        "{st}"
    );
}

#[test]
fn drop_then_resync_loads_from_the_initial_value() {
    let (api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    let out = p
        .dango()
        .args(["pipeline", "api", "drop", "items"])
        .output()
        .unwrap();
    // Not a terminal: the question is declined and nothing changes.
    assert!(!out.status.success());
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("Table(s) to drop: ['items', 'items__tags']"),
        "{plan}"
    );
    assert!(
        plan.contains("Resource(s) state to reset: ['items']"),
        "{plan}"
    );
    assert_eq!(ids(&p), vec![1, 2, 3]);
    let out = p
        .dango()
        .args(["pipeline", "api", "drop", "re:^it", "-y"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tables = p.tables("raw_api");
    assert!(
        !tables.contains(&"items".to_string()) && !tables.contains(&"items__tags".to_string()),
        "{tables:?}"
    );
    // The warehouse state row written by the drop has no cursor either.
    let stored = p
        .scalar("SELECT state FROM raw_api._dlt_pipeline_state ORDER BY _dlt_load_id DESC LIMIT 1");
    let stored = dango::state::PipelineState::decompress(&stored).unwrap();
    assert!(
        stored
            .source("api")
            .get("resources")
            .and_then(|r| r.get("items"))
            .is_none()
    );
    assert!(cursor(&p).is_null());
    // The warehouse state was reset in the same step.
    sync(&p, &[]);
    assert_eq!(sinces(&api)[1], "2024-01-01T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3]);
    // --state-only keeps the table; --state-paths reset a path of the source state.
    let out = p
        .dango()
        .args([
            "pipeline",
            "api",
            "drop",
            "--state-paths",
            "resources.items.incremental",
            "-y",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cursor(&p).is_null());
    assert_eq!(ids(&p), vec![1, 2, 3]);
    let out = p
        .dango()
        .args(["pipeline", "api", "drop", "nope", "-y"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no resource matches `nope`"));
}

/// The Dango bug: after a full refresh, a stale cursor from before it must never come back.
/// Upstream removed the newest record (2024-06-01); after the refresh the cursor is
/// 2024-01-04, so a record added at 2024-03-01 is loaded. With the stale cursor it would be
/// skipped forever.
fn full_refresh_case(kill_after_commit: bool) {
    let (api, records, p) = setup("append");
    initial_three(&records);
    records.push(rec(9, "2024-06-01T00:00:00Z", "later removed"));
    sync(&p, &[]);
    assert_eq!(cursor(&p)["last_value"], "2024-06-01T00:00:00Z");
    initial_three(&records);
    if kill_after_commit {
        p.sync_killed_at("load_before_state_save", &["--full-refresh", "-y"]);
        // The new data is committed; state.json still holds the stale cursor.
        assert_eq!(cursor(&p)["last_value"], "2024-06-01T00:00:00Z");
    } else {
        sync(&p, &["--full-refresh", "-y"]);
        assert_eq!(cursor(&p)["last_value"], "2024-01-04T00:00:00Z");
    }
    assert_eq!(sinces(&api)[1], "2024-01-01T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3]);
    records.push(rec(4, "2024-03-01T00:00:00Z", "new"));
    sync(&p, &[]);
    assert_eq!(sinces(&api)[2], "2024-01-04T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3, 4]);
    assert_eq!(cursor(&p)["last_value"], "2024-03-01T00:00:00Z");
}

#[test]
fn full_refresh_clears_the_cursor() {
    full_refresh_case(false);
}

#[test]
fn full_refresh_killed_before_the_local_state_write_never_restores_a_stale_cursor() {
    full_refresh_case(true);
}

#[test]
fn failed_full_refresh_keeps_old_data_and_state() {
    let (_api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    let before = local_state(&p);
    p.sync_killed_at("load_before_commit", &["--full-refresh", "-y"]);
    assert_eq!(ids(&p), vec![1, 2, 3]);
    assert_eq!(local_state(&p)["sources"], before["sources"]);
}

fn killed_between_commit_and_state_write(point: &str) {
    let (api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    records.push(rec(4, "2024-01-05T00:00:00Z", "d"));
    p.sync_killed_at(point, &[]);
    assert_eq!(ids(&p), vec![1, 2, 3, 4]);
    records.push(rec(5, "2024-01-06T00:00:00Z", "e"));
    sync(&p, &[]);
    // Neither refetched from the old cursor (duplicates) nor skipped.
    assert_eq!(sinces(&api)[2], "2024-01-05T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3, 4, 5]);
}

#[test]
fn sigkill_after_commit_before_package_is_finished() {
    killed_between_commit_and_state_write("load_after_commit");
}

#[test]
fn sigkill_after_commit_before_state_json_is_written() {
    killed_between_commit_and_state_write("load_before_state_save");
}

#[test]
fn state_and_schema_are_restored_from_the_warehouse() {
    let (api, records, p) = setup("append");
    initial_three(&records);
    sync(&p, &[]);
    let before = cursor(&p);
    let dir = p.path().join(".dlt/pipelines");
    std::fs::remove_dir_all(&dir).unwrap();
    let out = p
        .dango()
        .args(["pipeline", "api", "sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Restoring from destination"));
    assert_eq!(cursor(&p), before);
    assert!(dir.join("api/schemas/api.schema.json").is_file());

    // Automatically on run.
    std::fs::remove_dir_all(&dir).unwrap();
    records.push(rec(4, "2024-01-05T00:00:00Z", "d"));
    sync(&p, &[]);
    assert_eq!(sinces(&api)[1], "2024-01-04T00:00:00Z");
    assert_eq!(ids(&p), vec![1, 2, 3, 4]);
}

#[test]
fn local_files_incremental() {
    let p = TestProject::new();
    let line = |id: i64, t: &str| format!("{{\"id\": {id}, \"ts\": \"{t}\"}}\n");
    p.write(
        "in/a.jsonl",
        &(line(1, "2024-01-01T00:00:00Z") + &line(2, "2024-01-02T00:00:00Z")),
    );
    p.local_source(
        "files",
        "in",
        "*.jsonl",
        "      table_name: ev\n      write_disposition: append\n      incremental:\n        cursor_path: ts\n",
    );
    sync(&p, &[]);
    p.write(
        "in/a.jsonl",
        &(line(1, "2024-01-01T00:00:00Z")
            + &line(2, "2024-01-02T00:00:00Z")
            + &line(3, "2024-01-02T00:00:00+00:00")
            + &line(4, "2024-01-03T00:00:00Z")),
    );
    sync(&p, &[]);
    assert_eq!(
        p.query("SELECT id FROM raw_files.ev ORDER BY id")
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["1", "2", "3", "4"]
    );
}

#[test]
fn row_order_desc_stops_paging_once_rows_leave_the_range() {
    let api = Api::start();
    let pages = [
        vec![
            rec(10, "2024-01-10T00:00:00Z", "j"),
            rec(9, "2024-01-09T00:00:00Z", "i"),
        ],
        vec![
            rec(8, "2024-01-08T00:00:00Z", "h"),
            rec(7, "2023-12-31T00:00:00Z", "g"),
        ],
        vec![rec(6, "2023-12-30T00:00:00Z", "f")],
    ];
    for (i, page) in pages.iter().enumerate() {
        api.mount(
            Mock::given(path("/items"))
                .and(wiremock::matchers::query_param("page", (i + 1).to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": page}))),
        );
    }
    api.mount(
        Mock::given(path("/items"))
            .and(wiremock::matchers::query_param("page", "4"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []}))),
    );
    let cfg = |order: &str| {
        format!(
            "client:\n  base_url: {}\nresources:\n  - name: items\n    write_disposition: append\n    endpoint:\n      path: items\n      data_selector: data\n      paginator: {{type: page_number, base_page: 1, total_path: null}}\n      incremental:\n        cursor_path: updated_at\n        initial_value: \"2024-01-01T00:00:00Z\"\n{order}",
            api.uri()
        )
    };
    let p = project(&cfg("        row_order: desc\n"));
    sync(&p, &[]);
    assert_eq!(
        api.count("/items"),
        2,
        "pages after the range must not be fetched"
    );
    assert_eq!(ids(&p), vec![8, 9, 10]);
    // Without row_order every page is read (and filtered).
    let q = project(&cfg(""));
    sync(&q, &[]);
    assert_eq!(api.count("/items"), 2 + 4);
    assert_eq!(ids(&q), vec![8, 9, 10]);
}

/// A library resource keeping its own values in the resource and source state slots.
struct Counter;

impl dango::sources::Resource for Counter {
    fn hints(&self) -> &dango::storage::ResourceHints {
        static H: std::sync::OnceLock<dango::storage::ResourceHints> = std::sync::OnceLock::new();
        H.get_or_init(|| dango::storage::ResourceHints {
            name: "runs".into(),
            table_name: "runs".into(),
            ..Default::default()
        })
    }

    fn extract(&mut self, out: &mut dango::extract::ItemWriter<'_>) -> dango::Result<()> {
        let n = out.state().with_resource("runs", |slot| {
            let n = slot.get("count").and_then(Value::as_i64).unwrap_or(0) + 1;
            slot.insert("count".into(), json!(n));
            n
        });
        out.state()
            .with_source(|s| s.insert("last_run".into(), json!(format!("run {n}"))));
        out.write_item(&json!({"run": n}))
    }
}

#[test]
fn library_state_slots_persist_with_the_data() {
    if !crate::hermetic::in_isolated_process(
        "incremental::library_state_slots_persist_with_the_data",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        dango::pipeline::Pipeline::builder("lib")
            .duckdb(dir.path().join("w.duckdb"))
            .working_dir(dir.path().join("p"))
            .build()
            .unwrap()
    };
    for _ in 0..2 {
        let src = dango::sources::Source::new("lib", vec![Box::new(Counter)]);
        build().run(src).unwrap();
    }
    let st = dango::state::PipelineState::load(&dir.path().join("p/state.json"))
        .unwrap()
        .unwrap();
    let src = st.source("lib");
    assert_eq!(src["resources"]["runs"]["count"], 2);
    assert_eq!(src["last_run"], "run 2");
    // A fresh working dir gets it back from the warehouse.
    std::fs::remove_dir_all(dir.path().join("p")).unwrap();
    let src = dango::sources::Source::new("lib", vec![Box::new(Counter)]);
    build().run(src).unwrap();
    let st = dango::state::PipelineState::load(&dir.path().join("p/state.json"))
        .unwrap()
        .unwrap();
    assert_eq!(st.source("lib")["resources"]["runs"]["count"], 3);
}

#[test]
fn a_window_on_a_source_without_cursor_warns() {
    let p = crate::util::TestProject::new();
    p.write("in/a.jsonl", "{\"id\": 1}\n");
    p.local_source("plain", "in", "*.jsonl", "");
    let out = p
        .dango()
        .args(["sync", "--since", "2024-01-01"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("had no effect on source `plain`") && err.contains("cursor_path"),
        "{err}"
    );
    assert_eq!(p.count("raw_plain.plain"), 1);
    // without the flags, no warning
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("had no effect"));
}

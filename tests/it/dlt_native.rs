//! `type: dlt_native` through the real binary with a real Python and dlt 1.31: the product
//! page's custom source (`tests/fixtures/dlt_native/custom_sources/my_api.py`, copied as
//! written and pointed at `server.py` on 127.0.0.1) loads what dlt's own `pipeline.run` loads
//! (`expected.json`, made by `generate.py`), incrementally; errors name what is wrong.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::services;
use crate::util::TestProject;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dlt_native");
const DATASET: &str = "raw_my_custom_api";
const RANDOM_IDS: [&str; 4] = ["_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id"];

/// `server.py` serving `<dir>/data.json` on a free port of 127.0.0.1.
struct Api {
    dir: tempfile::TempDir,
    child: Child,
    port: String,
}

impl Api {
    fn start(python: &Path, data: &str) -> Api {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(Path::new(FIXTURES).join(data), dir.path().join("data.json")).unwrap();
        let child = Command::new(python)
            .arg(Path::new(FIXTURES).join("server.py"))
            .arg(dir.path())
            .env_clear()
            .spawn()
            .unwrap();
        let port_file = dir.path().join("port");
        let started = Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server.py did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        Api { dir, child, port }
    }

    fn set_data(&self, data: &str) {
        std::fs::copy(
            Path::new(FIXTURES).join(data),
            self.dir.path().join("data.json"),
        )
        .unwrap();
    }

    /// The requests since the last call.
    fn take_requests(&self) -> Vec<String> {
        let log = self.dir.path().join("requests.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        text.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project with the product page's source, pointed at `api`, and `api_key` in secrets.toml.
fn product_page_project(api: &Api, api_key: &str) -> TestProject {
    let p = TestProject::new();
    let module = std::fs::read_to_string(Path::new(FIXTURES).join("custom_sources/my_api.py"))
        .unwrap()
        .replace(
            "https://api.example.com",
            &format!("http://127.0.0.1:{}", api.port),
        );
    p.write("custom_sources/my_api.py", &module);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: my_custom_api\n    type: dlt_native\n    enabled: true\n    dlt_native:\n      source_module: \"custom_sources.my_api\"\n      source_name: \"my_api_source\"\n",
    );
    let secrets = p.path().join(".dlt/secrets.toml");
    let mut text = std::fs::read_to_string(&secrets).unwrap_or_default();
    text.push_str(&format!(
        "\n[sources.my_api_source]\napi_key = \"{api_key}\"\n"
    ));
    std::fs::write(&secrets, text).unwrap();
    p
}

fn sync(p: &TestProject, python: &Path, args: &[&str]) -> std::process::Output {
    p.dango()
        .arg("sync")
        .args(args)
        .env("DANGO_PYTHON", python)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The dataset's tables as `generate.py`'s `snapshot()` writes them.
fn snapshot(p: &TestProject, dataset: &str) -> Value {
    let mut out = serde_json::Map::new();
    for t in p.tables(dataset) {
        if t.starts_with("_dlt_") {
            continue;
        }
        let cols = p.columns(dataset, &t);
        let keep: Vec<String> = cols
            .iter()
            .filter(|c| !RANDOM_IDS.contains(&c.0.as_str()))
            .map(|c| format!("CAST(\"{}\" AS VARCHAR)", c.0))
            .collect();
        let mut rows: Vec<Value> = p
            .query(&format!(
                "SELECT {} FROM \"{dataset}\".\"{t}\"",
                keep.join(", ")
            ))
            .into_iter()
            .map(|r| serde_json::json!(r))
            .collect();
        rows.sort_by_key(python_json);
        out.insert(
            t,
            serde_json::json!({
                "columns": cols.iter().map(|c| serde_json::json!([c.0, c.1, c.2])).collect::<Vec<_>>(),
                "rows": rows,
            }),
        );
    }
    Value::Object(out)
}

/// Python's `json.dumps` of a row (the sort key of `generate.py`): `", "` between items.
fn python_json(v: &Value) -> String {
    match v {
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// `sources` of the newest state in the warehouse.
fn state_sources(p: &TestProject, dataset: &str) -> Value {
    let s = p.scalar(&format!(
        "SELECT state FROM {dataset}._dlt_pipeline_state ORDER BY version DESC LIMIT 1"
    ));
    let state = dango::state::PipelineState::decompress(&s).unwrap();
    state.doc()["sources"].clone()
}

/// Whether the warehouse exists and has `dataset.table`.
fn has_table(p: &TestProject, dataset: &str, table: &str) -> bool {
    p.warehouse().exists() && p.tables(dataset).iter().any(|t| t == table)
}

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn product_page_source_loads_what_dlt_loads_and_the_second_sync_is_incremental() {
    let Some(python) = services::python("dlt_native::product_page") else {
        return;
    };
    let want = expected();
    let api = Api::start(&python, "data1.json");
    let p = product_page_project(&api, "test-key-1234");
    for (phase, data) in [("first", "data1.json"), ("second", "data2.json")] {
        api.set_data(data);
        let out = sync(&p, &python, &[]);
        assert!(out.status.success(), "{phase} sync: {}", text(&out));
        assert_eq!(
            api.take_requests(),
            serde_json::from_value::<Vec<String>>(want[phase]["requests"].clone()).unwrap(),
            "{phase} sync asks the API what dlt asks"
        );
        assert_eq!(
            snapshot(&p, DATASET),
            want[phase]["tables"],
            "{phase} sync: tables differ from dlt's"
        );
        assert_eq!(
            state_sources(&p, DATASET),
            want[phase]["state_sources"],
            "{phase} sync: state differs from dlt's"
        );
    }
    // The local state follows: a third sync with nothing new asks only after the last value.
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        api.take_requests(),
        vec![
            "/items".to_string(),
            "/orders?updated_after=2024-02-06T00%3A00%3A00Z".into()
        ]
    );
    // Restored from the warehouse when the working dir is gone.
    std::fs::remove_dir_all(p.path().join(".dlt/pipelines/my_custom_api")).unwrap();
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        api.take_requests()[1],
        "/orders?updated_after=2024-02-06T00%3A00%3A00Z"
    );
    assert_eq!(p.count(&format!("{DATASET}.orders")), 4);
}

#[test]
fn a_wrong_api_key_is_an_invalid_credentials_error_naming_the_secret() {
    let Some(python) = services::python("dlt_native::wrong_key") else {
        return;
    };
    let api = Api::start(&python, "data1.json");
    let p = product_page_project(&api, "wrong-key-98765");
    let out = sync(&p, &python, &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("Invalid credentials"), "{t}");
    assert!(t.contains("401"), "{t}");
    assert!(t.contains(".dlt/secrets.toml"), "{t}");
    assert!(
        t.contains("`api_key`") && t.contains("sources.my_api_source"),
        "{t}"
    );
    assert!(!t.contains("wrong-key-98765"), "the secret leaked: {t}");
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/my_custom_api/runtime.log"))
        .unwrap_or_default();
    assert!(
        !log.contains("wrong-key-98765"),
        "the secret leaked into the log"
    );
    assert!(!has_table(&p, DATASET, "items"), "nothing committed");
}

/// A source reading `rows.json` with an incremental `id` cursor; raises when `fail` exists.
const FLAKY: &str = r#"import json
import os

import dlt


@dlt.source
def flaky_source():
    @dlt.resource(primary_key="id", write_disposition="append")
    def rows(cursor=dlt.sources.incremental("id", initial_value=0)):
        with open("rows.json") as f:
            data = json.load(f)
        for row in data:
            yield row
        if os.path.exists("fail"):
            raise ValueError("the API sent garbage")

    return rows


def helper():
    return 1
"#;

fn flaky_project() -> TestProject {
    let p = TestProject::new();
    p.write("custom_sources/flaky.py", FLAKY);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: flaky\n    type: dlt_native\n    dlt_native:\n      source_module: flaky\n      source_function: flaky_source\n",
    );
    p
}

fn cursor(p: &TestProject) -> Value {
    state_sources(p, "raw_flaky")["flaky_source"]["resources"]["rows"]["incremental"]["id"]
        ["last_value"]
        .clone()
}

#[test]
fn a_python_exception_reports_type_message_and_user_frame_and_commits_nothing() {
    let Some(python) = services::python("dlt_native::exception") else {
        return;
    };
    let p = flaky_project();
    p.write("rows.json", r#"[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]"#);
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(cursor(&p), 2);
    p.write(
        "rows.json",
        r#"[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]"#,
    );
    p.write("fail", "");
    let out = sync(&p, &python, &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("ValueError: the API sent garbage"), "{t}");
    assert!(t.contains("custom_sources/flaky.py:16"), "{t}");
    assert!(
        !t.contains("dango_dlt_runner"),
        "runner frames are not the user's: {t}"
    );
    assert_eq!(p.count("raw_flaky.rows"), 2, "nothing committed");
    assert_eq!(cursor(&p), 2, "the cursor did not move");
    std::fs::remove_file(p.path().join("fail")).unwrap();
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(p.count("raw_flaky.rows"), 3);
    assert_eq!(cursor(&p), 3);
}

#[test]
fn missing_module_function_and_dlt_are_clear_errors() {
    let Some(python) = services::python("dlt_native::missing") else {
        return;
    };
    let p = flaky_project();
    p.write("rows.json", "[]");
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: flaky\n    type: dlt_native\n    dlt_native:\n      source_module: custom_sources.nope\n      source_name: flaky_source\n",
    );
    let t = text(&sync(&p, &python, &[]));
    assert!(
        t.contains("cannot import module `custom_sources.nope`"),
        "{t}"
    );
    assert!(t.contains("source_module"), "{t}");
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: flaky\n    type: dlt_native\n    dlt_native:\n      source_module: custom_sources.flaky\n      source_name: flakey_source\n",
    );
    let t = text(&sync(&p, &python, &[]));
    assert!(t.contains("has no function `flakey_source`"), "{t}");
    assert!(t.contains("functions found in it: flaky_source"), "{t}");
    // The module's own ImportError is shown as raised, not as "not found".
    p.write("custom_sources/flaky.py", "import not_installed_pkg_xyz\n");
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: flaky\n    type: dlt_native\n    dlt_native:\n      source_module: custom_sources.flaky\n      source_name: flaky_source\n",
    );
    let t = text(&sync(&p, &python, &[]));
    assert!(
        t.contains("ModuleNotFoundError") && t.contains("not_installed_pkg_xyz"),
        "{t}"
    );
    assert!(t.contains("custom_sources/flaky.py:1"), "{t}");
    // A Python without dlt.
    let bare = tempfile::tempdir().unwrap();
    let venv = bare.path().join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status();
    if made.is_ok_and(|s| s.success()) {
        let t = text(&sync(&p, &venv.join("bin/python"), &[]));
        assert!(
            t.contains("cannot import dlt") && t.contains("pip install"),
            "{t}"
        );
        assert!(t.contains("1.31"), "{t}");
    }
    // No Python at all.
    let out = p
        .dango()
        .arg("sync")
        .env("DANGO_PYTHON", "/nonexistent/bin/python")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("DANGO_PYTHON") && t.contains("/nonexistent/bin/python"),
        "{t}"
    );
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A source that writes its pid to `started`, then waits until `go` exists.
const SLOW: &str = r#"import os
import time

import dlt


@dlt.source
def slow_source():
    @dlt.resource(write_disposition="append")
    def rows(cursor=dlt.sources.incremental("id", initial_value=0)):
        yield [{"id": 1}, {"id": 2}]
        with open("started.tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace("started.tmp", "started")
        while not os.path.exists("go"):
            time.sleep(0.05)
        if os.path.exists("die"):
            os.kill(os.getpid(), 9)
        yield [{"id": 3}]

    return rows
"#;

fn wait_for(path: &Path) -> String {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} not written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn sigkill_of_dango_or_of_the_python_child_loses_and_duplicates_nothing() {
    let Some(python) = services::python("dlt_native::sigkill") else {
        return;
    };
    let p = TestProject::new();
    p.write("custom_sources/slow.py", SLOW);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: slow\n    type: dlt_native\n    dlt_native:\n      source_module: slow\n      source_name: slow_source\n",
    );
    // SIGKILL of dango while Python extracts: the child dies with it.
    let mut child = p
        .dango_std()
        .arg("sync")
        .env("DANGO_PYTHON", &python)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let py_pid: i32 = wait_for(&p.path().join("started")).trim().parse().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    while pid_alive(py_pid) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the Python child outlived dango"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL of the Python child: a failed run, nothing committed.
    std::fs::remove_file(p.path().join("started")).unwrap();
    p.write("go", "");
    p.write("die", "");
    let out = sync(&p, &python, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!has_table(&p, "raw_slow", "rows"), "nothing committed");
    // The next sync loads each row once.
    std::fs::remove_file(p.path().join("die")).unwrap();
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        p.query("SELECT id FROM raw_slow.rows ORDER BY id"),
        vec![
            vec![Some("1".into())],
            vec![Some("2".into())],
            vec![Some("3".into())]
        ]
    );
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(p.count("raw_slow.rows"), 3);
    let _: PathBuf = p.path().to_path_buf();
}

#[test]
fn typed_values_arrow_pandas_transformers_and_dynamic_tables_load_what_dlt_loads() {
    let Some(python) = services::python("dlt_native::typed") else {
        return;
    };
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("expected_typed.json")).unwrap(),
    )
    .unwrap();
    let p = TestProject::new();
    p.write(
        "custom_sources/typed_items.py",
        &std::fs::read_to_string(Path::new(FIXTURES).join("custom_sources/typed_items.py"))
            .unwrap(),
    );
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: typed\n    type: dlt_native\n    dlt_native:\n      source_module: custom_sources.typed_items\n      source_name: typed_source\n",
    );
    for phase in ["first", "second"] {
        let out = sync(&p, &python, &[]);
        assert!(out.status.success(), "{phase} sync: {}", text(&out));
        let got = snapshot(&p, "raw_typed");
        for (table, expected) in want[phase]["tables"].as_object().unwrap() {
            assert_eq!(
                &got[table], expected,
                "{phase} sync: table {table} differs from dlt's"
            );
        }
        assert_eq!(
            got.as_object().unwrap().len(),
            want[phase]["tables"].as_object().unwrap().len(),
            "{phase} sync: tables {:?}",
            got.as_object().unwrap().keys().collect::<Vec<_>>()
        );
        // The datetime cursor stays typed (U+F027), as dlt stores it.
        assert_eq!(
            state_sources(&p, "raw_typed"),
            want[phase]["state_sources"],
            "{phase} sync: state differs from dlt's"
        );
    }
}

#[test]
fn sync_flags_limit_full_refresh_window_and_dry_run_work_on_dlt_native() {
    let Some(python) = services::python("dlt_native::flags") else {
        return;
    };
    let api = Api::start(&python, "data1.json");
    let p = product_page_project(&api, "test-key-1234");
    let out = sync(&p, &python, &["--limit", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(p.count(&format!("{DATASET}.items")), 1);
    assert_eq!(p.count(&format!("{DATASET}.orders")), 1);
    let out = sync(&p, &python, &["--full-refresh", "-y"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(p.count(&format!("{DATASET}.items")), 3);
    assert_eq!(p.count(&format!("{DATASET}.orders")), 3);
    let before = state_sources(&p, DATASET);
    api.take_requests();
    let out = sync(
        &p,
        &python,
        &["--since", "2024-02-02", "--until", "2024-02-03"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("had no effect"), "{t}");
    assert_eq!(
        api.take_requests()[1],
        "/orders?updated_after=2024-02-02T00%3A00%3A00Z"
    );
    assert_eq!(
        state_sources(&p, DATASET),
        before,
        "a window never moves the cursor"
    );
    let out = sync(&p, &python, &["--dry-run"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("dlt source my_api_source() from module custom_sources.my_api"),
        "{t}"
    );
    assert!(api.take_requests().is_empty(), "a dry run asks nothing");
}

#[test]
fn streamed_plain_generators_marks_transformers_and_empty_replace_load_what_dlt_loads() {
    let Some(python) = services::python("dlt_native::streamed") else {
        return;
    };
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("expected_streamed.json")).unwrap(),
    )
    .unwrap();
    let p = TestProject::new();
    p.write(
        "custom_sources/streamed_items.py",
        &std::fs::read_to_string(Path::new(FIXTURES).join("custom_sources/streamed_items.py"))
            .unwrap(),
    );
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: streamed\n    type: dlt_native\n    dlt_native:\n      source_module: streamed_items\n      source_name: streamed_source\n",
    );
    let out = sync(&p, &python, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let got = snapshot(&p, "raw_streamed");
    let want = want["tables"].as_object().unwrap();
    for (table, expected) in want {
        assert_eq!(&got[table], expected, "table {table} differs from dlt's");
    }
    assert_eq!(
        got.as_object().unwrap().keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
}

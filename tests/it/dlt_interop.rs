//! dlt's own CLI and Python API on dango's pipelines, both ways: the real `dango` binary and
//! the real dlt 1.31 (`DANGO_TEST_PYTHON`, its `dlt` CLI beside it) on one project, with the
//! warehouse rows and the state checked after each step.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::hermetic::Isolated;
use crate::services;
use crate::util::TestProject;

/// A project with `events`: local JSON lines, merge on `id`, cursor `updated_at`.
pub fn events_project() -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: events\n    type: local_files\n    local_files:\n      directory: data/events\n      file_pattern: \"*.jsonl\"\n      primary_key: id\n      write_disposition: merge\n      incremental:\n        cursor_path: updated_at\n",
    );
    p
}

/// Events `from..=to` (day `i` of January 2024, 10:00 UTC), each with two tags.
pub fn events(from: u32, to: u32) -> String {
    (from..=to)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"updated_at\":\"2024-01-{i:02}T10:00:00Z\",\"name\":\"n{i}\",\"tags\":[\"a{i}\",\"b{i}\"]}}\n"
            )
        })
        .collect()
}

/// Runs `program args` hermetically in the project (its own HOME, no telemetry).
fn run(p: &TestProject, program: &Path, args: &[&str]) -> Output {
    let iso = Isolated::new();
    let mut c = iso.command(program);
    c.current_dir(p.path())
        .env("RUNTIME__DLTHUB_TELEMETRY", "false")
        .args(args);
    c.output().unwrap()
}

/// Runs and asserts success; returns stdout and stderr together.
fn ok(p: &TestProject, program: &Path, args: &[&str]) -> String {
    let out = run(p, program, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program:?} {args:?} failed:\n{text}");
    text
}

fn dlt_cli(python: &Path) -> PathBuf {
    python.parent().unwrap().join("dlt")
}

fn dlt(p: &TestProject, python: &Path, args: &[&str]) -> String {
    let mut all = vec!["pipeline", "--pipelines-dir", ".dlt/pipelines"];
    all.extend_from_slice(args);
    ok(p, &dlt_cli(python), &all)
}

fn dango(p: &TestProject, args: &[&str]) -> String {
    let out = p.dango().args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dango {args:?} failed:\n{text}");
    text
}

fn state(p: &TestProject) -> Value {
    let text = std::fs::read(p.path().join(".dlt/pipelines/events/state.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// The data of both tables, without dlt's ids (which a reload changes).
fn data(p: &TestProject) -> Vec<Vec<Option<String>>> {
    let mut rows = p.query("SELECT id, updated_at, name FROM raw_events.events ORDER BY id");
    rows.extend(p.query(
        "SELECT e.id, t.value, t._dlt_list_idx FROM raw_events.events__tags t \
         JOIN raw_events.events e ON t._dlt_parent_id = e._dlt_id ORDER BY 1, 3",
    ));
    rows
}

/// Every `dango pipeline` verb works on the working dir as it is.
fn every_dango_verb_works(p: &TestProject) {
    for verb in [
        "info",
        "show",
        "trace",
        "schema",
        "load-package",
        "failed-jobs",
        "sync-state",
    ] {
        dango(p, &["pipeline", "events", verb]);
    }
    dango(p, &["pipeline", "events", "schema", "--format", "json"]);
}

#[test]
fn dlt_cli_inspects_drops_and_syncs_a_dango_pipeline() {
    let Some(python) = services::python("dlt_cli_inspects_drops_and_syncs_a_dango_pipeline") else {
        return;
    };
    let p = events_project();
    p.write("data/events/a.jsonl", &events(1, 3));
    dango(&p, &["sync"]);
    p.write("data/events/b.jsonl", &events(4, 5));
    dango(&p, &["sync"]);
    let before = data(&p);
    assert_eq!(before.len(), 5 + 10);

    let list = dlt(&p, &python, &["--list"]);
    assert!(list.contains("events"), "{list}");
    let info = dlt(&p, &python, &["events", "info"]);
    assert!(info.contains("dataset_name: raw_events"), "{info}");
    assert!(info.contains("completed load packages"), "{info}");
    let pkg = dlt(&p, &python, &["events", "load-package"]);
    assert!(pkg.contains("in LOADED state"), "{pkg}");
    assert!(pkg.contains("in completed_jobs"), "{pkg}");
    assert!(!pkg.contains("in new_jobs"), "{pkg}");
    let schema = dlt(&p, &python, &["events", "schema"]);
    assert!(schema.contains("events__tags"), "{schema}");
    dlt(&p, &python, &["events", "failed-jobs"]);
    // dango's schema output has plain numbers, as dlt's
    let ours = dango(&p, &["pipeline", "events", "schema"]);
    assert!(ours.contains("engine_version: 11"), "{ours}");
    assert!(!ours.contains("serde_json"), "{ours}");

    // dlt drops the resource: both tables and its cursor, in the warehouse and locally
    let out = ok(
        &p,
        &dlt_cli(&python),
        &[
            "-y",
            "pipeline",
            "--pipelines-dir",
            ".dlt/pipelines",
            "events",
            "drop",
            "events",
        ],
    );
    assert!(out.contains("Table(s) to drop"), "{out}");
    let tables = p.tables("raw_events");
    assert!(!tables.contains(&"events".to_string()), "{tables:?}");
    assert!(!tables.contains(&"events__tags".to_string()), "{tables:?}");
    assert_eq!(
        state(&p)["sources"]["events"]["resources"],
        serde_json::json!({})
    );
    every_dango_verb_works(&p);

    // dango reloads exactly what dlt dropped
    dango(&p, &["sync"]);
    assert_eq!(data(&p), before);
    let typed = state(&p)["sources"]["events"]["resources"]["events"]["incremental"]["updated_at"]
        ["last_value"]
        .clone();
    assert_eq!(typed, "2024-01-05T10:00:00Z");

    // dlt's sync finds the warehouse through secrets.toml and restores the working dir
    let out = ok(
        &p,
        &dlt_cli(&python),
        &[
            "-y",
            "pipeline",
            "--pipelines-dir",
            ".dlt/pipelines",
            "events",
            "sync",
        ],
    );
    assert!(out.contains("Restoring from destination"), "{out}");
    assert!(!p.path().join("events.duckdb").exists());
    let restored = state(&p);
    assert_eq!(
        restored["sources"]["events"]["resources"]["events"]["incremental"]["updated_at"]["last_value"],
        "2024-01-05T10:00:00Z"
    );
    every_dango_verb_works(&p);
    p.write("data/events/c.jsonl", &events(6, 6));
    let out = dango(&p, &["sync"]);
    assert!(out.contains("events"), "{out}");
    assert_eq!(p.count("raw_events.events"), 6);
    assert_eq!(
        p.scalar("SELECT count(DISTINCT _dlt_load_id) FROM raw_events.events WHERE id = 6"),
        "1"
    );
}

/// dlt's run of the `events` pipeline over events 1..=n with datetime cursors (what
/// `sql_database` and most Python sources store), from the product page's snippet with the
/// project's working dir. With `sync`, `sync_destination()` first. Prints the rows it
/// normalized and whether it attached to an existing pipeline.
const DLT_SCRIPT: &str = r#"
import sys, datetime as dt, dlt
n = int(sys.argv[1])
rows = [{"id": i, "updated_at": dt.datetime(2024, 1, i, 10, tzinfo=dt.timezone.utc), "name": f"n{i}",
         "tags": [f"a{i}", f"b{i}"]} for i in range(1, n + 1)]

@dlt.source(name="events")
def events_source():
    @dlt.resource(name="events", primary_key="id", write_disposition="merge")
    def events(updated_at=dlt.sources.incremental("updated_at")):
        yield rows
    return events

p = dlt.pipeline(pipeline_name="events", destination="duckdb", dataset_name="raw_events",
                 pipelines_dir=".dlt/pipelines")
print("FIRST_RUN", p.first_run)
if "sync" in sys.argv:
    p.sync_destination()
p.run(events_source())
print("ROWS", p.last_trace.last_normalize_info.row_counts.get("events", 0))
"#;

fn dlt_run(p: &TestProject, python: &Path, n: u32, sync: bool) -> String {
    p.write("dlt_events.py", DLT_SCRIPT);
    let n = n.to_string();
    let mut args = vec!["dlt_events.py", n.as_str()];
    if sync {
        args.push("sync");
    }
    ok(p, python, &args)
}

fn load_ids(p: &TestProject) -> Vec<Vec<Option<String>>> {
    p.query(
        "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM raw_events.events \
         GROUP BY _dlt_load_id ORDER BY min(id)",
    )
}

#[test]
fn datetime_cursors_continue_between_dlt_and_dango() {
    let Some(python) = services::python("datetime_cursors_continue_between_dlt_and_dango") else {
        return;
    };
    let p = events_project();
    // dlt first: its state holds the cursor as a typed datetime
    let out = dlt_run(&p, &python, 3, false);
    assert!(
        out.contains("FIRST_RUN True") && out.contains("ROWS 3"),
        "{out}"
    );
    let cursor = |p: &TestProject| {
        state(p)["sources"]["events"]["resources"]["events"]["incremental"]["updated_at"].clone()
    };
    assert_eq!(
        cursor(&p)["last_value"],
        "\u{f027}2024-01-03T10:00:00+00:00"
    );

    // dango continues it with only the new rows, and keeps the cursor typed
    p.write("data/events/a.jsonl", &events(1, 5));
    dango(&p, &["sync"]);
    let ids = load_ids(&p);
    assert_eq!(
        ids,
        vec![
            vec![Some("1,2,3".to_string())],
            vec![Some("4,5".to_string())]
        ]
    );
    assert_eq!(p.count("raw_events.events__tags"), 10);
    assert_eq!(
        cursor(&p)["last_value"],
        "\u{f027}2024-01-05T10:00:00+00:00"
    );
    assert_eq!(
        cursor(&p)["start_value"],
        "\u{f027}2024-01-03T10:00:00+00:00"
    );
    every_dango_verb_works(&p);

    // and dlt continues dango's pipeline: it attaches, then loads only the new row
    let out = dlt_run(&p, &python, 6, true);
    assert!(
        out.contains("FIRST_RUN False") && out.contains("ROWS 1"),
        "{out}"
    );
    assert_eq!(
        load_ids(&p),
        vec![
            vec![Some("1,2,3".to_string())],
            vec![Some("4,5".to_string())],
            vec![Some("6".to_string())]
        ]
    );
    let six = p.scalar("SELECT updated_at FROM raw_events.events WHERE id = 6");
    assert!(six.starts_with("2024-01-06"), "{six}");
    // a working dir dlt wrote into (its packages, its trace) still serves every verb
    every_dango_verb_works(&p);
    let pkg = dango(&p, &["pipeline", "events", "load-package"]);
    assert!(pkg.contains("completed_jobs"), "{pkg}");
    // dango continues after dlt again
    p.write("data/events/b.jsonl", &events(6, 7));
    dango(&p, &["sync"]);
    assert_eq!(p.count("raw_events.events"), 7);
    assert_eq!(load_ids(&p).last().unwrap()[0].as_deref(), Some("7"));
}

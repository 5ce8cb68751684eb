//! Packages the real dlt 1.31 left pending in a dango project's working dir (issue 14):
//! `pipeline.extract()` without a load is loaded by the next `dango sync` exactly as dlt's own
//! `pipeline.load()` loads it (the warehouse rows and types compared with a dlt-only twin),
//! with the state dlt extracted; a package dlt already normalized is refused with a message
//! naming it and how to resolve it.

use std::path::Path;

use crate::dlt_interop::{events, events_project};
use crate::hermetic::Isolated;
use crate::services;
use crate::util::TestProject;

/// dlt's `events` pipeline over the events of `dlt_input/events.jsonl` (their `updated_at`
/// read as datetimes: a typed cursor), into the project's warehouse, stopped after the step
/// named by the argument: `extract`, `normalize` or `load` (all three, as `pipeline.run`).
const DLT_SCRIPT: &str = r#"
import sys, json, datetime as dt, dlt
with open("dlt_input/events.jsonl") as f:
    items = [json.loads(line) for line in f]
for item in items:
    item["updated_at"] = dt.datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00"))

# A bare resource: its source is named after the pipeline (`events`).
events = dlt.resource(items, name="events", primary_key="id", write_disposition="merge")
events.apply_hints(incremental=dlt.sources.incremental("updated_at"))
p = dlt.pipeline(pipeline_name="events", dataset_name="raw_events", pipelines_dir=".dlt/pipelines",
                 destination=dlt.destinations.duckdb("data/warehouse.duckdb"))
p.extract(events)
if sys.argv[1] in ("normalize", "load"):
    p.normalize()
if sys.argv[1] == "load":
    p.load()
print("PENDING", p.has_pending_data)
"#;

/// Runs dlt's pipeline in the project up to `step`.
fn dlt(p: &TestProject, python: &Path, step: &str) {
    p.write("dlt_events.py", DLT_SCRIPT);
    p.write("dlt_input/events.jsonl", &events(1, 3));
    let out = Isolated::new()
        .command(python)
        .current_dir(p.path())
        .env("RUNTIME__DLTHUB_TELEMETRY", "false")
        .args(["dlt_events.py", step])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dlt {step}: {text}");
    let pending = step != "load";
    assert!(
        text.contains(&format!(
            "PENDING {}",
            if pending { "True" } else { "False" }
        )),
        "{text}"
    );
}

/// `dango <args>`: success and the output.
fn dango(p: &TestProject, args: &[&str]) -> (bool, String) {
    let out = p.dango().args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Rows as text, and columns as (name, type, nullable).
type RowsAndColumns = (Vec<Vec<Option<String>>>, Vec<(String, String, String)>);

/// Both tables of events `1..=3` without dlt's ids, and the columns of both.
fn data(p: &TestProject) -> RowsAndColumns {
    let mut rows =
        p.query("SELECT id, updated_at, name FROM raw_events.events WHERE id <= 3 ORDER BY id");
    rows.extend(p.query(
        "SELECT e.id, t.value, t._dlt_list_idx FROM raw_events.events__tags t \
         JOIN raw_events.events e ON t._dlt_parent_id = e._dlt_id WHERE e.id <= 3 ORDER BY 1, 3",
    ));
    let mut cols = p.columns("raw_events", "events");
    cols.extend(p.columns("raw_events", "events__tags"));
    (rows, cols)
}

fn pending_dirs(p: &TestProject) -> Vec<String> {
    let pipe = p.path().join(".dlt/pipelines/events");
    ["normalize/extracted", "load/normalized"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(pipe.join(sub)).into_iter().flatten())
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn dango_sync_loads_a_package_dlt_extracted_but_did_not_load() {
    let Some(python) =
        services::python("dango_sync_loads_a_package_dlt_extracted_but_did_not_load")
    else {
        return;
    };
    // dlt alone: extract, normalize, load.
    let twin = events_project();
    dlt(&twin, &python, "load");
    let (want_rows, want_cols) = data(&twin);
    assert_eq!(want_rows.len(), 3 + 6);

    let p = events_project();
    dlt(&p, &python, "extract");
    assert_eq!(pending_dirs(&p).len(), 1);
    p.write("data/events/a.jsonl", &events(1, 5));
    let (ok, out) = dango(&p, &["sync"]);
    assert!(ok, "{out}");
    // dlt's package loaded as dlt loads it, in its own load
    assert_eq!(data(&p), (want_rows, want_cols));
    assert!(pending_dirs(&p).is_empty(), "{:?}", pending_dirs(&p));
    let loads = p.query(
        "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM raw_events.events \
         GROUP BY _dlt_load_id ORDER BY min(id)",
    );
    // The cursor dlt extracted was committed with its package: dango's own extract went on
    // from it (only 4 and 5 are new; 3 is at the cursor and was seen).
    assert_eq!(
        loads,
        vec![
            vec![Some("1,2,3".to_string())],
            vec![Some("4,5".to_string())]
        ]
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.path().join(".dlt/pipelines/events/state.json")).unwrap(),
    )
    .unwrap();
    let last = &state["sources"]["events"]["resources"]["events"]["incremental"]["updated_at"]["last_value"];
    assert!(
        last.as_str().unwrap().contains("2024-01-05T10:00:00"),
        "{last}"
    );
    // Nothing pending, nothing loaded twice.
    let (ok, out) = dango(&p, &["sync"]);
    assert!(ok, "{out}");
    assert_eq!(p.count("raw_events.events"), 5);
    assert_eq!(p.count("raw_events.events__tags"), 10);
    for verb in ["info", "load-package", "failed-jobs"] {
        let (ok, out) = dango(&p, &["pipeline", "events", verb]);
        assert!(ok, "{verb}: {out}");
    }
}

#[test]
fn a_package_dlt_normalized_but_did_not_load_is_named() {
    let Some(python) = services::python("a_package_dlt_normalized_but_did_not_load_is_named")
    else {
        return;
    };
    let p = events_project();
    dlt(&p, &python, "normalize");
    let pending = pending_dirs(&p);
    assert_eq!(pending.len(), 1);
    let load_id = pending[0].rsplit('/').next().unwrap().to_string();
    p.write("data/events/a.jsonl", &events(1, 5));
    let (ok, out) = dango(&p, &["sync"]);
    assert!(!ok, "{out}");
    for part in [
        "dlt normalized but did not load",
        load_id.as_str(),
        "dango pipeline events abort-packages",
        "drop-pending-packages",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    assert!(!out.contains("package.json"), "{out}");
    // Nothing was loaded.
    let tables = if p.warehouse().exists() {
        p.tables("raw_events")
    } else {
        Vec::new()
    };
    assert!(!tables.contains(&"events".to_string()), "{tables:?}");
    // Discarded as the message says, the next sync runs.
    let (ok, out) = dango(&p, &["pipeline", "events", "abort-packages", "-y"]);
    assert!(ok, "{out}");
    let (ok, out) = dango(&p, &["sync"]);
    assert!(ok, "{out}");
    let ids = p.query("SELECT id FROM raw_events.events ORDER BY id");
    assert!(ids.contains(&vec![Some("5".into())]), "{ids:?}");
}

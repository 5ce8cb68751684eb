//! The library API: `Pipeline::run` with resources from Rust. The tests run in the test
//! process, so each starts with `hermetic::in_isolated_process` (no developer environment).

use dango::pipeline::Pipeline;
use dango::schema::WriteDisposition;
use dango::sources::{IterResource, Source};
use serde_json::json;

#[test]
fn pipeline_run_returns_load_info() {
    if !crate::hermetic::in_isolated_process("library::pipeline_run_returns_load_info") {
        return; // it ran and passed in a hermetic child
    }
    let tmp = tempfile::tempdir().unwrap();
    let pages = vec![
        vec![
            json!({"id": 1, "tags": ["a", "b"]}),
            json!({"id": 2, "tags": []}),
        ],
        vec![json!({"id": 3, "Nested": {"X": 1.5}})],
    ];
    let users = IterResource::new("users", pages.into_iter())
        .write_disposition(WriteDisposition::Replace)
        .max_table_nesting(2);
    let mut pipeline = Pipeline::builder("lib_test")
        .dataset("raw_lib")
        .duckdb(tmp.path().join("w.duckdb"))
        .working_dir(tmp.path().join("pipe"))
        .build()
        .unwrap();
    let info = pipeline
        .run(Source::new("lib_test", vec![Box::new(users)]))
        .unwrap();
    assert_eq!(info.load_packages.len(), 1);
    let counts = info.row_counts();
    assert_eq!(counts.get("users"), Some(&3));
    assert_eq!(counts.get("users__tags"), Some(&2));
    let text = info.to_string();
    assert!(
        text.contains(
            "1 load package(s) were loaded to destination duckdb and into dataset raw_lib"
        ),
        "{text}"
    );
    let job = &info.load_packages[0].jobs[0];
    assert_eq!(job.table, "users");
    assert!(job.size > 0);
    assert_eq!(info.total_rows.get("users"), Some(&3));
    assert!(tmp.path().join("pipe/state.json").is_file());
}

#[test]
fn library_resources_take_a_schema_contract() {
    if !crate::hermetic::in_isolated_process("library::library_resources_take_a_schema_contract") {
        return; // it ran and passed in a hermetic child
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::builder("lib_contract")
        .dataset("raw_lib")
        .duckdb(tmp.path().join("w.duckdb"))
        .working_dir(tmp.path().join("pipe"))
        .build()
        .unwrap();
    let run = |pipeline: &mut Pipeline, rows: Vec<serde_json::Value>| {
        let r = IterResource::new("users", vec![rows].into_iter())
            .write_disposition(WriteDisposition::Append)
            .schema_contract(json!({"columns": "discard_row"}));
        pipeline.run(Source::new("lib_contract", vec![Box::new(r)]))
    };
    run(&mut pipeline, vec![json!({"id": 1})]).unwrap();
    let info = run(
        &mut pipeline,
        vec![json!({"id": 2, "new": 1}), json!({"id": 3})],
    )
    .unwrap();
    assert_eq!(info.row_counts().get("users"), Some(&1));
}

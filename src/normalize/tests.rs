//! Tests of the normalize stage: chunking, parallel equals serial, errors.

use super::*;
use crate::schema::dlt_dict;
use crate::storage::{ExtractedJob, JobOrigin};

fn package(dir: &PipelineDir, load_id: &str, lines: &str) {
    let p = dir.extracted(load_id);
    std::fs::create_dir_all(p.join("new_jobs")).unwrap();
    std::fs::write(p.join("new_jobs/t.1.jsonl"), lines).unwrap();
    let manifest = ExtractedManifest {
        load_id: load_id.into(),
        created_at: "2024-01-01T00:00:00+00:00".into(),
        schema_name: "s".into(),
        resources: vec![ResourceHints {
            name: "t".into(),
            table_name: "t".into(),
            write_disposition: WriteDisposition::Replace,
            ..Default::default()
        }],
        jobs: vec![ExtractedJob {
            file: "t.1.jsonl".into(),
            resource: "t".into(),
            origin: JobOrigin {
                origin: "test".into(),
                same_lines: true,
                linked: None,
            },
            items: 0,
            format: Default::default(),
        }],
    };
    storage::write_json(&p.join("package.json"), &manifest).unwrap();
}

fn run(lines: &str, cfg: NormalizeConfig) -> (serde_json::Value, Vec<u64>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PipelineDir::new(tmp.path());
    dir.create().unwrap();
    package(&dir, "1.0", lines);
    let mut schema = dlt_dict::new_schema("s");
    let info = normalize_package(&dir, "1.0", &mut schema, &cfg).unwrap();
    assert!(dir.normalized("1.0").join("package.json").is_file());
    assert!(!dir.extracted("1.0").exists());
    (
        dlt_dict::to_json(&schema),
        info.row_counts.values().copied().collect(),
    )
}

/// Parallel chunks give the schema a serial run gives, type conflicts across chunks included.
#[test]
fn parallel_equals_serial() {
    let mut lines = String::new();
    for i in 0..300 {
        let row = match i % 7 {
            0 => format!("{{\"a\": {i}, \"l\": [{i}, {{\"x\": 1}}]}}\n"),
            1 => format!("{{\"a\": \"s{i}\", \"b\": true}}\n"),
            2 => format!(
                "{{\"b\": \"2024-01-0{}T00:00:00Z\", \"c\": {{\"d\": 1.5}}}}\n",
                i % 9 + 1
            ),
            3 => "{\"c\": {\"d\": \"x\"}, \"a\": null}\n".to_string(),
            4 => "{\"e\": [[1, 2], []], \"a\": 2.5}\n".to_string(),
            5 => format!("{{\"f{}\": 1}}\n", i % 13),
            _ => "{}\n".to_string(),
        };
        lines.push_str(&row);
    }
    let serial = run(
        &lines,
        NormalizeConfig {
            workers: 1,
            chunk_bytes: 1 << 30,
            ..Default::default()
        },
    );
    let parallel = run(
        &lines,
        NormalizeConfig {
            workers: 4,
            chunk_bytes: 64,
            ..Default::default()
        },
    );
    assert_eq!(serial, parallel);
    let tables = serial.0["tables"].as_object().unwrap();
    assert!(tables.contains_key("t__l"));
    assert!(
        tables["t"]["columns"]
            .as_object()
            .unwrap()
            .contains_key("a__v_text")
    );
}

#[test]
fn bad_line_reports_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PipelineDir::new(tmp.path());
    dir.create().unwrap();
    package(&dir, "1.0", "{\"a\":1}\n\n{\"a\":2}\n{oops\n");
    let mut schema = dlt_dict::new_schema("s");
    let err = normalize_package(
        &dir,
        "1.0",
        &mut schema,
        &NormalizeConfig {
            workers: 2,
            chunk_bytes: 8,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadInput { line: 4, .. }), "{err}");
    assert!(!dir.normalizing("1.0").exists());
}

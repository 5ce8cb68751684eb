//! Tests of the `filesystem` registry entry and its change tracking.

use super::config::{Compression, Format, OnDeleted, settle};
use super::resource::changes;
use super::store::FileEntry;
use super::*;
use crate::config::{RuntimeSettings, Settings};

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

fn entry(rel: &str, size: u64, mtime: &str) -> FileEntry {
    FileEntry {
        rel: rel.into(),
        size,
        mtime: mtime.into(),
        etag: None,
    }
}

#[test]
fn parses_and_rejects_with_messages() {
    let t = crate::sources::types::find("filesystem").unwrap();
    let env = Env::from_vars([("B", "data")]);
    let cfg = t
        .parse(
            "s",
            &yaml("bucket_url: ${B}/in\nfile_glob: \"**/*.csv\"\n"),
            &env,
        )
        .unwrap();
    let text = format!("{cfg:?}");
    assert!(text.contains("bucket_url: \"data/in\""), "{text}");
    let err = t
        .parse("s", &yaml("bucket_url: d\nfile_globe: x\n"), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `file_globe`"), "{err}");
    let err = t
        .parse("s", &yaml("bucket_url: d\ncsv: {delimiter: ab}\n"), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("csv.delimiter must be one character"), "{err}");
    let err = t
        .parse("s", &yaml("bucket_url: d\nformat: xml\n"), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `xml`"), "{err}");
    assert_eq!(
        t.write_disposition(Some(&yaml("bucket_url: d\n"))),
        "append"
    );
}

#[test]
fn formats_and_compression_from_names() {
    assert_eq!(Format::from_name("a/b.CSV"), Some(Format::Csv));
    assert_eq!(Format::from_name("b.jsonl.gz"), Some(Format::Jsonl));
    assert_eq!(Format::from_name("b.parquet"), Some(Format::Parquet));
    assert_eq!(Format::from_name("b.txt"), None);
    assert!(Compression::Auto.gzip("x.csv.gz"));
    assert!(!Compression::Auto.gzip("x.csv"));
    assert!(!Compression::None.gzip("x.csv.gz"));
}

#[test]
fn settles_tracking_and_deletion() {
    let s = settle(None, WriteDisposition::Append, None, OnDeleted::Keep, "x").unwrap();
    assert!(s.track_files && !s.delete_rows);
    let wd: crate::sources::WriteDispositionConfig = serde_json::from_str("\"replace\"").unwrap();
    let s = settle(
        Some(&wd),
        WriteDisposition::Append,
        None,
        OnDeleted::Keep,
        "x",
    )
    .unwrap();
    assert!(!s.track_files);
    let e = settle(
        Some(&wd),
        WriteDisposition::Append,
        Some(true),
        OnDeleted::DeleteRows,
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no effect with write_disposition: replace"),
        "{e}"
    );
    let e = settle(
        None,
        WriteDisposition::Append,
        Some(false),
        OnDeleted::DeleteRows,
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs track_files"), "{e}");
}

#[test]
fn changes_by_size_mtime_and_deletion() {
    let stored: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"a.csv": {"size": 1, "mtime": "t1"}, "b.csv": {"size": 2, "mtime": "t1"}, "gone.csv": {"size": 3, "mtime": "t1"}}"#,
    )
    .unwrap();
    let files = vec![
        entry("a.csv", 1, "t1"),
        entry("b.csv", 2, "t2"),
        entry("c.csv", 5, "t1"),
    ];
    let c = changes(&files, &stored, false);
    let load: Vec<_> = c.load.iter().map(|f| f.rel.as_str()).collect();
    assert_eq!(load, ["b.csv", "c.csv"]);
    assert_eq!(c.deleted, ["gone.csv"]);
    assert_eq!(c.unchanged, 1);
    // replace: all when any changed, none when none did
    assert_eq!(changes(&files, &stored, true).load.len(), 3);
    let same: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"a.csv": {"size": 1, "mtime": "t1"}}"#).unwrap();
    assert!(changes(&files[..1], &same, true).load.is_empty());
    // an ETag change is a change
    let mut e = entry("a.csv", 1, "t1");
    e.etag = Some("\"x\"".into());
    assert_eq!(changes(&[e], &same, false).load.len(), 1);
}

#[test]
fn plans_local_files_with_globstar() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in/sub/deeper")).unwrap();
    std::fs::write(dir.path().join("in/a.csv"), "id\n1\n").unwrap();
    std::fs::write(dir.path().join("in/sub/b.csv"), "id\n2\n").unwrap();
    std::fs::write(dir.path().join("in/sub/deeper/c.csv"), "id\n3\n").unwrap();
    std::fs::write(dir.path().join("in/sub/skip.txt"), "x").unwrap();
    let settings = Settings::with_env(dir.path(), Env::default(), None).unwrap();
    let runtime = RuntimeSettings::default();
    let cx = BuildContext {
        settings: &settings,
        project_root: dir.path(),
        runtime: &runtime,
    };
    let t = crate::sources::types::find("filesystem").unwrap();
    let plan_of = |glob: &str| {
        t.parse(
            "fs",
            &yaml(&format!("bucket_url: in\nfile_glob: \"{glob}\"\n")),
            &Env::default(),
        )
        .unwrap()
        .plan("fs", &cx)
        .unwrap()
    };
    assert_eq!(plan_of("**/*.csv").summary, "3 file(s) match");
    assert_eq!(plan_of("*.csv").summary, "1 file(s) match");
    assert_eq!(plan_of("sub/*").summary, "2 file(s) match");
    let missing = t
        .parse("fs", &yaml("bucket_url: nowhere\n"), &Env::default())
        .unwrap();
    let err = missing.plan("fs", &cx).unwrap_err().to_string();
    assert!(err.contains("is not a directory"), "{err}");
}

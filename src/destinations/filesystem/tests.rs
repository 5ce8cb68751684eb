//! Unit tests: the Delta log written and replayed on a local bucket.

use super::config::Bucket;
use super::delta::{self, Commit};
use super::store::Store;

#[test]
fn commits_are_put_if_absent_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Bucket::Local(dir.path().to_path_buf()), true).unwrap();
    let snap = delta::read_snapshot(&store, "ds/t").unwrap();
    assert_eq!(snap.version, None);
    let add = delta::add_action("a.parquet", 10, &serde_json::json!({"numRecords": 2}));
    let commit =
        |adds: Vec<serde_json::Value>, removes: Vec<serde_json::Value>, job: &str| Commit {
            operation: "WRITE",
            parameters: serde_json::json!({}),
            schema_string: Some(r#"{"type":"struct","fields":[]}"#.into()),
            removes,
            adds,
            load_id: "1.5".into(),
            job: job.into(),
        };
    assert_eq!(
        delta::write_commit(
            &store,
            "ds/t",
            &snap,
            commit(vec![add.clone()], vec![], "j1")
        )
        .unwrap(),
        0
    );
    // A second writer that read the same (empty) snapshot cannot take version 0.
    let err = delta::write_commit(&store, "ds/t", &snap, commit(vec![], vec![], "j2")).unwrap_err();
    assert!(err.to_string().contains("another writer"), "{err}");
    let snap = delta::read_snapshot(&store, "ds/t").unwrap();
    assert_eq!(snap.version, Some(0));
    assert_eq!(snap.row_count(), Some(2));
    assert!(snap.has_commit("1.5", Some("j1")));
    assert!(!snap.has_commit("1.5", Some("j2")));
    assert!(!snap.has_commit("1.6", None));
    delta::write_commit(&store, "ds/t", &snap, commit(vec![], vec![add], "j2")).unwrap();
    let snap = delta::read_snapshot(&store, "ds/t").unwrap();
    assert_eq!(snap.version, Some(1));
    assert!(snap.files.is_empty());
    let log = std::fs::read_to_string(dir.path().join("ds/t/_delta_log/00000000000000000000.json"))
        .unwrap();
    assert!(
        log.contains(r#""protocol":{"minReaderVersion":1,"minWriterVersion":2}"#),
        "{log}"
    );
}

fn config_from(vars: &[(&str, &str)]) -> crate::error::Result<super::FilesystemConfig> {
    let dir = tempfile::tempdir().unwrap();
    let env = crate::config::Env::from_vars(vars.iter().copied());
    let settings = crate::config::Settings::with_env(dir.path(), env, None).unwrap();
    super::FilesystemConfig::from_settings(std::path::Path::new("/proj"), &settings)
}

#[test]
fn bucket_urls_and_formats_are_read_as_dlt_reads_them() {
    use super::{Bucket, TableFormat};
    let c = config_from(&[("DESTINATION__FILESYSTEM__BUCKET_URL", "lake")]).unwrap();
    assert_eq!(c.bucket, Bucket::Local("/proj/lake".into()));
    assert_eq!(c.format, TableFormat::Delta);
    let c = config_from(&[
        ("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://b/some/prefix/"),
        ("DESTINATION__FILESYSTEM__FILE_FORMAT", "parquet"),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY",
            "Very-Secret-1",
        ),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL",
            "http://127.0.0.1:9",
        ),
    ])
    .unwrap();
    assert_eq!(c.format, TableFormat::Parquet);
    let Bucket::S3 {
        bucket,
        prefix,
        credentials,
    } = &c.bucket
    else {
        panic!("{c:?}");
    };
    assert_eq!((bucket.as_str(), prefix.as_str()), ("b", "some/prefix"));
    assert_eq!(
        credentials.secret_access_key.as_deref(),
        Some("Very-Secret-1")
    );
    assert_eq!(credentials.region, "us-east-1");
    assert_eq!(
        credentials.endpoint_url.as_deref(),
        Some("http://127.0.0.1:9")
    );
    // the secret never shows in debug output
    assert!(!format!("{c:?}").contains("Very-Secret-1"));
}

#[test]
fn bad_filesystem_settings_say_how_to_fix_them() {
    let e = config_from(&[]).unwrap_err().to_string();
    assert!(
        e.contains("bucket_url") && e.contains("DESTINATION__FILESYSTEM__BUCKET_URL"),
        "{e}"
    );
    let e = config_from(&[("DESTINATION__FILESYSTEM__BUCKET_URL", "gs://x")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`gs://` protocol is not supported"), "{e}");
    let e = config_from(&[
        ("DESTINATION__FILESYSTEM__BUCKET_URL", "lake"),
        ("DESTINATION__FILESYSTEM__TABLE_FORMAT", "iceberg"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("table format `iceberg` is not supported"), "{e}");
    let e = config_from(&[("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("names no bucket"), "{e}");
}

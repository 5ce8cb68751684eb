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

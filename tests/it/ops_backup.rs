//! Backups: a backup and restore round trip restores the same table fingerprints and state,
//! checksums are verified, secrets are never copied, and a backup is taken before a full
//! refresh.

use crate::util::{TestProject, orders_jsonl};

/// A fingerprint of every row of every table of the source's dataset.
fn fingerprint(p: &TestProject) -> Vec<(String, String)> {
    p.tables("raw_shop")
        .into_iter()
        .map(|t| {
            let fp = p.scalar(&format!(
                "SELECT count(*) || ':' || coalesce(sum(hash(CAST(t AS VARCHAR))), 0) FROM raw_shop.\"{t}\" t"
            ));
            (t, fp)
        })
        .collect()
}

fn backups(p: &TestProject) -> Vec<serde_json::Value> {
    let out = p
        .dango()
        .args(["backup", "list", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn backup_and_restore_round_trip() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(9, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.write(
        ".dlt/secrets.toml",
        "[sources.shop]\napi_key = \"top-secret-value\"\n",
    );
    p.write(".env", "SHOP_KEY=another-secret\n");
    p.dango().arg("sync").assert().success();
    let before = fingerprint(&p);
    let state = std::fs::read(p.path().join(".dlt/pipelines/shop/state.json")).unwrap();

    let out = p.dango().args(["backup", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = std::path::PathBuf::from(v["backup"].as_str().unwrap());
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"data/warehouse.duckdb"), "{paths:?}");
    assert!(paths.contains(&".dango/sources.yml"), "{paths:?}");
    assert!(
        paths.contains(&".dlt/pipelines/shop/state.json"),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("secrets") || p.ends_with(".env")),
        "{paths:?}"
    );
    // No secret value anywhere in the backup.
    for f in &paths {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("top-secret-value") && !text.contains("another-secret"),
            "{f}"
        );
    }

    // Change everything, then restore.
    p.write("input/orders.jsonl", &orders_jsonl(4, 100));
    p.dango().arg("sync").assert().success();
    assert_ne!(fingerprint(&p), before);
    p.dango()
        .args(["backup", "restore", &name])
        .assert()
        .failure();
    p.dango()
        .args(["backup", "restore", &name, "-y"])
        .assert()
        .success();
    assert_eq!(fingerprint(&p), before);
    assert_eq!(
        std::fs::read(p.path().join(".dlt/pipelines/shop/state.json")).unwrap(),
        state
    );

    // A tampered backup is refused before anything changes.
    std::fs::write(dir.join(".dango/sources.yml"), "tampered").unwrap();
    let out = p
        .dango()
        .args(["backup", "restore", &name, "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum does not match"));
    assert_eq!(fingerprint(&p), before);
}

#[test]
fn a_backup_is_taken_before_a_full_refresh_unless_turned_off() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango().arg("sync").assert().success();
    assert_eq!(backups(&p).len(), 0);
    p.dango()
        .args(["sync", "--full-refresh", "-y"])
        .assert()
        .success();
    let b = backups(&p);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["reason"], "before full refresh");
    p.dango()
        .args(["sync", "--full-refresh", "-y"])
        .env("RUNTIME__BACKUP_BEFORE_DESTRUCTIVE", "false")
        .assert()
        .success();
    assert_eq!(backups(&p).len(), 1);
}

//! sources.yml checks, `dango validate`, `dango source list|remove`.

use crate::cli_common::{local, rest, sources, stderr, stdout};
use crate::util::{TestProject, orders_jsonl};

#[test]
fn validate_reports_positions_and_allowed_values() {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: local_files\n    local_files:\n      directory: input\n      pattern: \"*.jsonl\"\n",
    );
    let out = p.dango().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out);
    assert!(
        o.contains(".dango/sources.yml:7:7: sources[0].local_files: unknown field `pattern`"),
        "{o}"
    );
    assert!(o.contains("`file_pattern`"), "allowed keys listed: {o}");
    // sync refuses the same file with the same message and loads nothing
    let out = p.dango().arg("sync").output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains(":7:7:"), "{}", stderr(&out));
    assert!(!p.warehouse().exists());

    p.write(
        ".dango/sources.yml",
        "version: \"2\"\nsources:\n  - name: my-shop\n    type: shopifyy\n  - name: ok\n    type: local_files\n    enabled: perhaps\n",
    );
    let o = stdout(&p.dango().arg("validate").output().unwrap());
    assert!(
        o.contains("sources.yml:7:14") && o.contains("enabled"),
        "{o}"
    );
    p.write(
        ".dango/sources.yml",
        "version: \"2\"\nsources:\n  - name: my-shop\n    type: shopifyy\n",
    );
    let o = stdout(&p.dango().arg("validate").output().unwrap());
    assert!(
        o.contains("sources.yml:1:10: unsupported version `'2'`; allowed: \"1.0\""),
        "{o}"
    );
    assert!(
        o.contains("sources.yml:3:11: source name `my-shop` is invalid"),
        "{o}"
    );
    assert!(
        o.contains(
            "sources.yml:4:11: unknown source type `shopifyy`; allowed: csv, local_files, rest_api"
        ),
        "{o}"
    );
}

#[test]
fn validate_checks_paths_and_passes_a_good_project() {
    let p = TestProject::new();
    sources(&p, &[local("shop", "input", "")]);
    let out = p.dango().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out);
    assert!(
        o.contains("source `shop`: local_files directory") && o.contains("does not exist"),
        "{o}"
    );
    p.write("input/a.jsonl", &orders_jsonl(2, 1));
    let out = p.dango().args(["validate", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["checked"].to_string().contains("1 file(s) match"), "{v}");
    // validate never syncs
    assert!(!p.warehouse().exists());
}

#[test]
fn source_list_and_enabled_only() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(2, 1));
    sources(
        &p,
        &[
            local("shop", "input", "      write_disposition: append\n"),
            local("Old", "input", "").replace(
                "    type: local_files\n",
                "    type: local_files\n    enabled: false\n    description: retired\n",
            ),
            rest("gh"),
        ],
    );
    let o = stdout(&p.dango().args(["source", "list"]).output().unwrap());
    assert!(
        o.contains("shop") && o.contains("Old") && o.contains("gh"),
        "{o}"
    );
    assert!(
        o.contains("append") && o.contains("merge") && o.contains("retired"),
        "{o}"
    );
    let out = p
        .dango()
        .args(["source", "list", "--enabled-only", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop", "gh"]);
    assert_eq!(v[0]["write_disposition"], "append");
    assert_eq!(v[0]["last_sync"], serde_json::Value::Null);
    // after a sync the last sync shows up
    p.dango().args(["sync", "shop"]).assert().success();
    let out = p
        .dango()
        .args(["source", "list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["last_sync"]["status"], "ok");
}

#[test]
fn source_remove_asks_and_keeps_the_rest() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(2, 1));
    sources(&p, &[local("one", "input", ""), local("two", "input", "")]);
    p.dango().arg("sync").assert().success();
    let before = std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap();
    // not a terminal and no -y: refused, nothing changed
    let out = p
        .dango()
        .args(["source", "remove", "one"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("-y"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap(),
        before
    );
    let out = p
        .dango()
        .args(["source", "remove", "one", "-y"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("were kept"), "{}", stdout(&out));
    let after = std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap();
    assert!(
        !after.contains("name: one") && after.contains("name: two"),
        "{after}"
    );
    let o = stdout(&p.dango().args(["source", "list"]).output().unwrap());
    assert!(!o.contains("one") && o.contains("two"), "{o}");
    // its data stays
    assert_eq!(p.count("raw_one.one"), 2);
    let out = p
        .dango()
        .args(["source", "remove", "nope", "-y"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("no source `nope`") && stderr(&out).contains("Known sources: two"),
        "{}",
        stderr(&out)
    );
}

//! Logging: stderr level, runtime.log per pipeline, JSON format, no secrets anywhere.

use crate::cli_common::{local, rest, sources, stderr, stdout};
use crate::util::{TestProject, orders_jsonl};

#[test]
fn every_run_appends_to_runtime_log() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(4, 1));
    sources(&p, &[local("shop", "input", "")]);
    let out = p.dango().arg("sync").output().unwrap();
    assert!(out.status.success());
    // default level WARNING: nothing on stderr from the logger
    assert!(!stderr(&out).contains("INFO"), "{}", stderr(&out));
    p.dango().arg("sync").assert().success();
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/runtime.log")).unwrap();
    assert_eq!(
        log.matches("sync of source shop started").count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("sync of source shop completed").count(),
        2,
        "{log}"
    );
    // -v puts the same lines on stderr
    let out = p.dango().args(["-v", "sync"]).output().unwrap();
    assert!(
        stderr(&out).contains("sync of source shop started"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.count("raw_shop.shop"), 4);
}

#[test]
fn json_log_format() {
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(4, 1));
    sources(&p, &[local("shop", "input", "")]);
    p.write(
        ".dlt/config.toml",
        "[runtime]\nlog_level = \"INFO\"\nlog_format = \"JSON\"\n",
    );
    let out = p.dango().arg("sync").output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("sync of source shop started")),
        "{lines:?}"
    );
    let log = std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/runtime.log")).unwrap();
    for l in log.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string());
    }
}

#[test]
fn no_secret_in_any_log_or_output() {
    const SECRET: &str = "ghp_VerySecretValue12345";
    const SECRET2: &str = "sk_live_OtherSecret6789";
    let p = TestProject::new();
    p.write("input/a.jsonl", &orders_jsonl(4, 1));
    p.write(".env", &format!("GH_TOKEN={SECRET}\n"));
    p.write(
        ".dlt/secrets.toml",
        &format!("[sources.gh2]\ntoken = \"{SECRET2}\"\n"),
    );
    sources(
        &p,
        &[
            local("shop", "input", ""),
            rest("gh"),
            rest("gh2").replace("GH_TOKEN", "UNSET_TOKEN_VAR"),
        ],
    );
    let out = p.dango().args(["-vv", "validate"]).output().unwrap();
    let all = stdout(&out) + &stderr(&out);
    assert!(
        all.contains("resolved config block") && all.contains("***"),
        "the block is logged, redacted: {all}"
    );
    let out2 = p.dango().args(["-vv", "sync"]).output().unwrap();
    let all2 = stdout(&out2) + &stderr(&out2);
    assert_eq!(p.count("raw_shop.shop"), 4);
    let mut logs = String::new();
    for name in ["shop", "gh", "gh2"] {
        logs +=
            &std::fs::read_to_string(p.path().join(format!(".dlt/pipelines/{name}/runtime.log")))
                .unwrap_or_default();
    }
    assert!(logs.contains("resolved config of source gh"), "{logs}");
    for text in [&all, &all2, &logs] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
        assert!(!text.contains(SECRET2), "secret leaked: {text}");
    }
}

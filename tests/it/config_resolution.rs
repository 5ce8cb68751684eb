//! Config and secrets resolution through the real binary: env > secrets.toml > config.toml,
//! project `.dlt/` before the global dir, `.env`, the source lookup chain, dlt's errors.

use crate::cli_common::{local, rest, sources, stderr, stdout};
use crate::util::{TestProject, orders_jsonl};

fn shop() -> TestProject {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(10, 1));
    sources(&p, &[local("shop", "input", "")]);
    p
}

/// Whether a sync logged INFO lines on stderr (the level in effect was INFO or lower).
fn logs_info(p: &TestProject, env: &[(&str, &str)]) -> bool {
    let mut c = p.dango();
    c.arg("sync");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.count("raw_shop.shop"), 10);
    stderr(&out).contains("sync of source shop started")
}

#[test]
fn env_beats_secrets_beats_config() {
    let p = shop();
    p.write(".dlt/config.toml", "[runtime]\nlog_level = \"INFO\"\n");
    assert!(logs_info(&p, &[]), "config.toml INFO");
    p.write(".dlt/secrets.toml", "[runtime]\nlog_level = \"ERROR\"\n");
    assert!(
        !logs_info(&p, &[]),
        "secrets.toml ERROR beats config.toml INFO"
    );
    assert!(
        logs_info(&p, &[("RUNTIME__LOG_LEVEL", "INFO")]),
        "env beats both"
    );
}

#[test]
fn project_dlt_beats_global_dlt() {
    let p = shop();
    p.write(".dlt/config.toml", "# nothing\n");
    std::fs::write(
        p.global_dir().join("config.toml"),
        "[runtime]\nlog_level = \"INFO\"\n",
    )
    .unwrap();
    assert!(logs_info(&p, &[]), "the global config.toml is read");
    p.write(".dlt/config.toml", "[runtime]\nlog_level = \"ERROR\"\n");
    assert!(!logs_info(&p, &[]), "the project's config.toml wins");
}

#[test]
fn dotenv_is_read_without_overriding_the_environment() {
    let p = TestProject::new();
    p.write("a/orders.jsonl", &orders_jsonl(3, 1));
    p.write("b/orders.jsonl", &orders_jsonl(7, 1));
    p.write(".env", "ORDERS_DIR=a\n");
    sources(&p, &[local("shop", "${ORDERS_DIR}", "")]);
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.shop"), 3);
    p.dango()
        .arg("sync")
        .env("ORDERS_DIR", "b")
        .assert()
        .success();
    assert_eq!(p.count("raw_shop.shop"), 7);
    // unset everywhere: a clear error naming the variable
    p.write(".env", "# empty\n");
    let out = p.dango().arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("ORDERS_DIR is not set"), "{err}");
    assert_eq!(p.count("raw_shop.shop"), 7, "old data kept");
}

#[test]
fn runtime_settings_errors_name_their_source() {
    let p = shop();
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_max_attempts = \"lots\"\n",
    );
    let out = p.dango().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out);
    assert!(
        o.contains("[runtime] request_max_attempts must be a whole number, got `lots`"),
        "{o}"
    );
    assert!(o.contains(".dlt/config.toml"), "{o}");
    // the env var wins over the bad file value
    let out = p
        .dango()
        .arg("validate")
        .env("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn missing_secret_lists_every_key_tried_and_the_files() {
    let p = TestProject::new();
    sources(&p, &[rest("gh")]);
    let out = p.dango().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out);
    let keys = [
        "(Environment Variables, GH_TOKEN)",
        "(Environment Variables, GH__SOURCES__REST_API__GH__TOKEN)",
        "(Environment Variables, SOURCES__REST_API__GH__TOKEN)",
        "(Environment Variables, SOURCES__REST_API__TOKEN)",
        "(Environment Variables, SOURCES__GH__TOKEN)",
        "(Environment Variables, TOKEN)",
        "(secrets.toml, sources.rest_api.gh.token)",
        "(secrets.toml, sources.gh.token)",
        "(config.toml, sources.gh.token)",
    ];
    let mut last = 0;
    for k in keys {
        let at = o.find(k).unwrap_or_else(|| panic!("{k} missing in:\n{o}"));
        assert!(at >= last, "{k} out of order in:\n{o}");
        last = at;
    }
    assert!(
        o.contains("Provider `secrets.toml` probed but not found the following locations"),
        "{o}"
    );
    let global = p.global_dir().join("secrets.toml");
    assert!(o.contains(&global.display().to_string()), "{o}");
    assert!(
        o.contains("[sources.gh]") && o.contains("token = \"...\""),
        "{o}"
    );
    assert!(o.contains("set GH_TOKEN (named by `token_env`"), "{o}");

    // found in the project's secrets.toml along the chain: the problem is gone
    p.write(
        ".dlt/secrets.toml",
        "[sources.rest_api.gh]\ntoken = \"from-secrets\"\n",
    );
    let o = stdout(&p.dango().arg("validate").output().unwrap());
    assert!(!o.contains("ConfigFieldMissingException"), "{o}");
    // ... or in the global secrets.toml
    p.write(".dlt/secrets.toml", "# none\n");
    std::fs::write(
        p.global_dir().join("secrets.toml"),
        "[sources.gh]\ntoken = \"global\"\n",
    )
    .unwrap();
    let o = stdout(&p.dango().arg("validate").output().unwrap());
    assert!(!o.contains("ConfigFieldMissingException"), "{o}");
    // ... or the variable in .env
    std::fs::write(p.global_dir().join("secrets.toml"), "").unwrap();
    p.write(".env", "GH_TOKEN=ghp_from_dotenv\n");
    let o = stdout(&p.dango().arg("validate").output().unwrap());
    assert!(!o.contains("ConfigFieldMissingException"), "{o}");
}

#[test]
fn secret_in_config_toml_is_refused() {
    let p = TestProject::new();
    sources(&p, &[rest("gh")]);
    p.write(".dlt/config.toml", "[sources.gh]\ntoken = \"oops\"\n");
    let out = p.dango().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let o = stdout(&out);
    assert!(
        o.contains("Provider `config.toml` cannot hold secret values but key `sources.gh.token` with secret value is present"),
        "{o}"
    );
    assert!(
        o.contains("Move it to") && o.contains(".dlt/secrets.toml"),
        "{o}"
    );
    assert!(!o.contains("oops"), "the value is never printed: {o}");
}

//! Tests of config and secret resolution.

use super::*;

fn project(secrets: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
    if !secrets.is_empty() {
        std::fs::write(dir.path().join(".dlt/secrets.toml"), secrets).unwrap();
    }
    if !config.is_empty() {
        std::fs::write(dir.path().join(".dlt/config.toml"), config).unwrap();
    }
    dir
}

/// Settings of `dir` with no environment and no global dir.
fn isolated(dir: &tempfile::TempDir) -> Settings {
    Settings::with_env(
        dir.path(),
        Env::from_vars::<[(&str, &str); 0], _, _>([]),
        None,
    )
    .unwrap()
}

#[test]
fn env_beats_secrets_beats_config() {
    let dir = project(
        "[runtime]\nlog_level = \"INFO\"\n",
        "[runtime]\nlog_level = \"ERROR\"\nrequest_timeout = 7\n",
    );
    let s = isolated(&dir);
    assert_eq!(s.runtime().unwrap().log_level, "INFO");
    assert_eq!(s.runtime().unwrap().request_timeout, 7.0);
    let s = Settings::with_env(
        dir.path(),
        Env::from_vars([("RUNTIME__LOG_LEVEL", "debug")]),
        None,
    )
    .unwrap();
    let r = s.get(&["runtime"], "log_level").unwrap().unwrap();
    assert_eq!(r.provider, Provider::Environment);
    assert_eq!(s.runtime().unwrap().log_level, "DEBUG");
}

#[test]
fn project_beats_global() {
    let dir = project("[sources.gh]\ntoken = \"project\"\n", "");
    let global = tempfile::tempdir().unwrap();
    std::fs::write(
        global.path().join("secrets.toml"),
        "[sources.gh]\ntoken = \"global\"\nother = \"g\"\n",
    )
    .unwrap();
    let s = Settings::with_env(
        dir.path(),
        Env::from_vars::<[(&str, &str); 0], _, _>([]),
        Some(global.path().into()),
    )
    .unwrap();
    assert_eq!(
        s.source_secret("rest_api", "gh", "token")
            .unwrap()
            .unwrap()
            .as_string(),
        "project"
    );
    let other = s.source_value("rest_api", "gh", "other").unwrap().unwrap();
    assert_eq!(other.as_string(), "g");
    assert!(
        other
            .location
            .contains(&global.path().display().to_string())
    );
}

#[test]
fn lookup_order_is_dlts() {
    let dir = project("", "");
    let s = isolated(&dir).with_pipeline("cfg_demo");
    let env: Vec<String> = s
        .source_lookup_trace("src", "my_source", "api_key")
        .into_iter()
        .filter(|t| t.provider == Provider::Environment)
        .map(|t| t.key)
        .collect();
    assert_eq!(
        env,
        [
            "CFG_DEMO__SOURCES__SRC__MY_SOURCE__API_KEY",
            "CFG_DEMO__SOURCES__SRC__API_KEY",
            "CFG_DEMO__SOURCES__MY_SOURCE__API_KEY",
            "CFG_DEMO__SOURCES__API_KEY",
            "CFG_DEMO__API_KEY",
            "SOURCES__SRC__MY_SOURCE__API_KEY",
            "SOURCES__SRC__API_KEY",
            "SOURCES__MY_SOURCE__API_KEY",
            "SOURCES__API_KEY",
            "API_KEY",
        ]
    );
    // the more specific key wins over a less specific one in the same provider
    let s = Settings::with_env(
        dir.path(),
        Env::from_vars([
            ("SOURCES__API_KEY", "general"),
            ("SOURCES__SRC__MY_SOURCE__API_KEY", "specific"),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(
        s.source_secret("src", "my_source", "api_key")
            .unwrap()
            .unwrap()
            .as_string(),
        "specific"
    );
}

#[test]
fn secret_in_config_is_refused() {
    let dir = project("", "[sources.my_source]\napi_key = \"x\"\n");
    let s = isolated(&dir);
    let err = s
        .source_secret("src", "my_source", "api_key")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Provider `config.toml` cannot hold secret values but key `sources.my_source.api_key` with secret value is present"),
        "{err}"
    );
    // a non-secret lookup of the same key is fine
    assert!(
        s.source_value("src", "my_source", "api_key")
            .unwrap()
            .is_some()
    );
}

#[test]
fn missing_secret_lists_keys_and_files() {
    let dir = project("", "");
    let s = isolated(&dir);
    let err = s
        .require_source_secret("rest_api", "gh", "token")
        .unwrap_err()
        .to_string();
    let env_pos = err
        .find("(Environment Variables, SOURCES__REST_API__GH__TOKEN)")
        .unwrap();
    let last_env = err.find("(Environment Variables, TOKEN)").unwrap();
    let toml_pos = err
        .find("(secrets.toml, sources.rest_api.gh.token)")
        .unwrap();
    assert!(env_pos < last_env && last_env < toml_pos, "{err}");
    assert!(
        err.contains("probed but not found the following locations"),
        "{err}"
    );
    assert!(err.contains(".dlt/secrets.toml"), "{err}");
    assert!(err.contains("[sources.gh]"), "{err}");
}

#[test]
fn bad_numbers_name_the_source() {
    let dir = project("", "[runtime]\nrequest_max_attempts = \"many\"\n");
    let s = isolated(&dir);
    let err = s.runtime().unwrap_err().to_string();
    assert!(
        err.contains("request_max_attempts") && err.contains("config.toml"),
        "{err}"
    );
}

//! The troubleshooting table's errors, as the library builds them (the REST source returns
//! the credential and rate-limit variants; the CLI prints them as they are).

use dango::config::{Env, Settings};

#[test]
fn invalid_credentials_name_the_secret_and_where_to_set_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
    std::fs::write(
        dir.path().join(".dlt/secrets.toml"),
        "[sources.gh]\ntoken = \"ghp_secret_value\"\n",
    )
    .unwrap();
    let s = Settings::with_env(dir.path(), Env::from_vars([("OTHER", "x")]), None).unwrap();
    let (used, fix) = s.credential_hint("rest_api", "gh", "token", None);
    let e = dango::Error::InvalidCredentials {
        source_name: "gh".into(),
        status: 401,
        url: "https://api.example.com/issues".into(),
        used,
        fix,
    };
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 401") && msg.contains(".dlt/secrets.toml [sources.gh] token"),
        "{msg}"
    );
    assert!(!msg.contains("ghp_secret_value"), "{msg}");
    // from a *_env variable
    let s = Settings::with_env(dir.path(), Env::from_vars([("GH_TOKEN", "x1234")]), None).unwrap();
    let (used, fix) = s.credential_hint("rest_api", "gh", "token", Some("GH_TOKEN"));
    assert!(
        used.contains("GH_TOKEN") && fix.contains("GH_TOKEN") && fix.contains(".env"),
        "{used} / {fix}"
    );
    // nothing configured
    std::fs::write(dir.path().join(".dlt/secrets.toml"), "").unwrap();
    let s = Settings::with_env(dir.path(), Env::from_vars([("OTHER", "x")]), None).unwrap();
    let (used, fix) = s.credential_hint("rest_api", "gh", "token", None);
    assert!(
        used.contains("none was configured")
            && fix.contains("[sources.gh] token")
            && fix.contains("SOURCES__GH__TOKEN"),
        "{fix}"
    );
}

#[test]
fn rate_limit_names_the_runtime_keys() {
    let e = dango::Error::RateLimited {
        source_name: "gh".into(),
        url: "https://api.example.com/x".into(),
        attempts: 5,
    };
    let msg = e.to_string();
    for k in [
        "[runtime] request_max_attempts (now 5)",
        "request_backoff_factor",
        "request_max_retry_delay",
        "RUNTIME__REQUEST_MAX_ATTEMPTS",
    ] {
        assert!(msg.contains(k), "{k}: {msg}");
    }
}

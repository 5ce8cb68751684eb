//! The errors of the product page's troubleshooting table, raised for real: `dango sync` of a
//! `rest_api` source against a server on 127.0.0.1 that answers 401, 403 or 429 forever. Each
//! test checks the user-facing message (which secret was used and where it was found, never
//! its value; the fix), the exit code, the requests made (a 401/403 is never retried) and
//! that the failed run loaded nothing.

use std::process::Output;

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::rest_api::{Api, ids, items, ok};
use crate::util::TestProject;

const TOKEN: &str = "tok-Shop-s3cret-77";

/// A project with one `rest_api` source `shop` (resources `customers`, then `orders`) whose
/// client auth is `auth` (YAML flow mapping).
fn shop(base: &str, auth: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!(
            r#"version: "1.0"
sources:
  - name: shop
    type: rest_api
    rest_api:
      client:
        base_url: {base}
        auth: {auth}
        paginator: single_page
      resources:
        - customers
        - orders
"#
        ),
    );
    p
}

/// Runs `dango sync` with fast retries (3 attempts, 10 ms backoff) set through the
/// environment, as the error message tells users to.
fn sync(p: &TestProject, env: &[(&str, &str)]) -> Output {
    let mut cmd = p.dango();
    cmd.arg("sync")
        .env("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
        .env("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
        .env("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0.1")
        .timeout(std::time::Duration::from_secs(120));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// stderr of a run that must have failed with exit code 1 without printing `TOKEN` anywhere.
fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains(TOKEN) && !stdout.contains(TOKEN),
        "the token leaked:\n{stdout}\n{stderr}"
    );
    stderr
}

fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing `{part}` in:\n{text}");
    }
}

/// The first run succeeded (one load, customers 0..2, orders 0..3); the failed one added
/// nothing to the warehouse.
fn assert_only_first_load(p: &TestProject) {
    assert_eq!(p.count("raw_shop._dlt_loads"), 1);
    assert_eq!(ids(p, "raw_shop.customers"), [0, 1]);
    assert_eq!(ids(p, "raw_shop.orders"), [0, 1, 2]);
}

/// `/customers` always answers; `/orders` answers with the good token only, and `refused`
/// otherwise.
fn api_refusing_other_tokens(good: &str, refused: u16) -> Api {
    let api = Api::start();
    api.mount(Mock::given(path("/customers")).respond_with(ok(items(0, 2))));
    api.mount(
        Mock::given(path("/orders"))
            .and(header("Authorization", format!("Bearer {good}").as_str()))
            .respond_with(ok(items(0, 3)))
            .with_priority(1),
    );
    api.mount(
        Mock::given(path("/orders"))
            .respond_with(
                ResponseTemplate::new(refused).set_body_json(json!({"message": "Bad credentials"})),
            )
            .with_priority(2),
    );
    api
}

#[test]
fn http_401_names_the_env_var_that_was_used_and_is_not_retried() {
    let api = api_refusing_other_tokens("good-token-1", 401);
    let base = api.uri();
    let p = shop(&base, "{type: bearer, token_env: SHOP_TOKEN}");
    let first = sync(&p, &[("SHOP_TOKEN", "good-token-1")]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = api.count("/orders");

    let err = failed(&sync(&p, &[("SHOP_TOKEN", TOKEN)]));
    assert_contains(
        &err,
        &[
            &format!(
                "source `shop`: resource `orders`: invalid credentials: 401 Client Error: Unauthorized for url: {base}/orders."
            ),
            " dango used `token` from SHOP_TOKEN (environment), named by `token_env` in .dango/sources.yml.",
            " To fix it: export a valid `token` in SHOP_TOKEN, then run `dango sync` again",
        ],
    );
    assert!(!err.contains("http_show_error_body"), "{err}");
    // Sent with the token from SHOP_TOKEN, once: a 401 is terminal.
    let reqs = api.requests();
    let last = reqs.iter().rfind(|r| r.url.path() == "/orders").unwrap();
    assert_eq!(
        last.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {TOKEN}")
    );
    assert_eq!(api.count("/orders") - before, 1);
    assert_only_first_load(&p);
}

#[test]
fn http_403_names_the_secrets_toml_key_that_was_used() {
    let api = api_refusing_other_tokens("good-token-2", 403);
    let base = api.uri();
    let p = shop(&base, "{type: bearer}");
    p.write(
        ".dlt/secrets.toml",
        "[sources.shop]\ntoken = \"good-token-2\"\n",
    );
    let first = sync(&p, &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = api.count("/orders");

    p.write(
        ".dlt/secrets.toml",
        &format!("[sources.shop]\ntoken = \"{TOKEN}\"\n"),
    );
    let err = failed(&sync(&p, &[]));
    assert_contains(
        &err,
        &[
            &format!(
                "source `shop`: resource `orders`: invalid credentials: 403 Client Error: Forbidden for url: {base}/orders."
            ),
            ".dlt/secrets.toml [sources.shop] token.",
            " dango used `token` from ",
            " To fix it: put a valid `token` at ",
            "then run `dango sync` again. A 403 can also mean that the credentials are valid but lack the permission",
        ],
    );
    assert_eq!(api.count("/orders") - before, 1);
    assert_only_first_load(&p);
}

#[test]
fn http_401_of_the_oauth2_token_request_names_client_id_and_secret() {
    let api = Api::start();
    api.mount(
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(401)),
    );
    api.mount(Mock::given(path("/customers")).respond_with(ok(items(0, 2))));
    let base = api.uri();
    let p = shop(
        &base,
        &format!(
            "{{type: oauth2_client_credentials, access_token_url: {base}/token, client_id: shop-app, client_secret_env: SHOP_CLIENT_SECRET}}"
        ),
    );
    let err = failed(&sync(&p, &[("SHOP_CLIENT_SECRET", TOKEN)]));
    assert_contains(
        &err,
        &[
            &format!(
                "source `shop`: the OAuth2 token request: invalid credentials: 401 Client Error: Unauthorized for url: {base}/token."
            ),
            " dango used `client_id` written in the auth of source `shop` in .dango/sources.yml and `client_secret` from SHOP_CLIENT_SECRET (environment), named by `client_secret_env` in .dango/sources.yml.",
            "; export a valid `client_secret` in SHOP_CLIENT_SECRET, then run `dango sync` again",
        ],
    );
    // At most one token request per resource (two resources run concurrently); retrying
    // the 401 would have made 3 each.
    let tries = api.count("/token");
    assert!((1..=2).contains(&tries), "{tries} token requests");
    // Nothing was loaded, not even the resource that needs no request of its own.
    if p.warehouse().exists() {
        assert!(
            p.tables("raw_shop").is_empty(),
            "{:?}",
            p.tables("raw_shop")
        );
    }
}

#[test]
fn http_429_forever_gives_the_retry_settings_to_raise() {
    let api = Api::start();
    api.mount(Mock::given(path("/customers")).respond_with(ok(items(0, 2))));
    api.mount(
        Mock::given(path("/orders"))
            .respond_with(ok(items(0, 3)))
            .up_to_n_times(1)
            .with_priority(1),
    );
    api.mount(
        Mock::given(path("/orders"))
            .respond_with(ResponseTemplate::new(429))
            .with_priority(2),
    );
    let base = api.uri();
    let p = shop(&base, "{type: bearer, token_env: SHOP_TOKEN}");
    let first = sync(&p, &[("SHOP_TOKEN", TOKEN)]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let err = failed(&sync(&p, &[("SHOP_TOKEN", TOKEN)]));
    assert_contains(
        &err,
        &[
            &format!(
                "source `shop`: resource `orders`: rate limit exceeded: 429 Client Error: Too Many Requests for url: {base}/orders, on all 3 attempt(s)."
            ),
            "raise [runtime] request_max_attempts (now 3) and request_backoff_factor (now 0.01) in .dlt/config.toml",
            "or set RUNTIME__REQUEST_MAX_ATTEMPTS and RUNTIME__REQUEST_BACKOFF_FACTOR",
        ],
    );
    assert!(!err.contains("http_show_error_body"), "{err}");
    // 1 (first run) + 3 attempts.
    assert_eq!(api.count("/orders"), 4);
    assert_only_first_load(&p);
}

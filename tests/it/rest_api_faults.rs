//! Faults: 429 with Retry-After, bursts of 503, connection resets, truncated bodies, slow
//! responses past the timeout, invalid JSON; failed runs commit nothing and leak no secret.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use predicates::str::contains;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use super::{Api, ids, items, ok, project, sync};

#[test]
fn retry_after_is_honoured_and_capped() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/r"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
            .up_to_n_times(1)
            .with_priority(1),
    );
    let far = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(100));
    api.mount(
        Mock::given(path("/r"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", far.as_str()))
            .up_to_n_times(1)
            .with_priority(2),
    );
    api.mount(
        Mock::given(path("/r"))
            .respond_with(ok(items(0, 2)))
            .with_priority(3),
    );
    let p = project(&format!("client:\n  base_url: {base}\nresources:\n  - r\n"));
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\nrequest_max_retry_delay = 1.2\n",
    );
    let t = Instant::now();
    sync(&p).success();
    let took = t.elapsed();
    assert_eq!(ids(&p, "raw_api.r"), [0, 1]);
    assert_eq!(api.count("/r"), 3);
    // 1 s (Retry-After: 1) + 1.2 s (an HTTP date 100 s ahead, capped by request_max_retry_delay).
    assert!(took >= Duration::from_millis(2100), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_burst_of_503_is_retried() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/s"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(4)
            .with_priority(1),
    );
    api.mount(
        Mock::given(path("/s"))
            .respond_with(ok(items(0, 3)))
            .with_priority(2),
    );
    let p = project(&format!("client:\n  base_url: {base}\nresources:\n  - s\n"));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.s"), [0, 1, 2]);
    // 4 failures + 1 success = 5 attempts, dlt's default maximum.
    assert_eq!(api.count("/s"), 5);
}

#[test]
fn exhausted_retries_fail_clearly_and_commit_nothing() {
    let api = Api::start();
    let base = api.uri();
    api.mount(Mock::given(path("/good")).respond_with(ok(items(0, 3))));
    api.mount(
        Mock::given(path("/bad"))
            .respond_with(ResponseTemplate::new(503).set_body_string("upstream down")),
    );
    let p = project(&format!(
        r#"client:
  base_url: {base}
  auth: {{type: api_key, name: api_key, location: query, api_key_env: QKEY_FOR_TEST}}
resources:
  - good
  - name: bad
    endpoint:
      path: bad
      incremental: {{cursor_path: id, initial_value: 0}}
"#
    ));
    let out = p
        .dango()
        .arg("sync")
        .env("QKEY_FOR_TEST", "qsecret-9876")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains("resource `bad`"), "{err}");
    assert!(err.contains("503 Server Error"), "{err}");
    assert!(err.contains(&format!("{base}/bad?api_key=***")), "{err}");
    assert!(err.contains("gave up after 5 attempts"), "{err}");
    assert!(!all.contains("qsecret-9876"), "{all}");
    // The body is shown only with http_show_error_body.
    assert!(!err.contains("upstream down"), "{err}");
    assert_eq!(api.count("/bad"), 5);
    // Nothing from the package was committed, and no cursor was stored.
    if p.warehouse().exists() {
        assert!(!p.tables("raw_api").contains(&"good".to_string()));
    }
    let pipeline = p.path().join(".dlt/pipelines/api");
    for sub in ["normalize/extracted", "load/normalized", "load/loaded"] {
        let d = pipeline.join(sub);
        let n = std::fs::read_dir(&d).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{} is not empty", d.display());
    }
    let state = std::fs::read_to_string(pipeline.join("state.json")).unwrap_or_default();
    assert!(!state.contains("incremental"), "{state}");

    // With http_show_error_body the body is appended.
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\nrequest_max_attempts = 2\nhttp_show_error_body = true\n",
    );
    p.dango()
        .arg("sync")
        .env("QKEY_FOR_TEST", "qsecret-9876")
        .assert()
        .failure()
        .stderr(contains("Response: upstream down"))
        .stderr(contains("gave up after 2 attempts"));
}

/// A raw HTTP server: the first `bad` connections are broken (`reset` = TCP RST right after
/// the request, otherwise a body cut short), later ones get `body` as JSON.
fn flaky_server(bad: usize, reset: bool, body: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let n = h.fetch_add(1, Ordering::SeqCst);
            read_request(&mut s);
            if n < bad {
                if reset {
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: a valid socket and a correctly sized linger struct.
                    unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            &linger as *const libc::linger as *const libc::c_void,
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                } else {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n[{\"id\": 1}, {\"id\"",
                    );
                }
                drop(s);
                continue;
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    (format!("http://{addr}"), hits)
}

fn read_request(s: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn connection_resets_and_truncated_bodies_are_retried() {
    let body = json!([{"id": 1}, {"id": 2}]).to_string();
    let (reset_url, reset_hits) = flaky_server(2, true, body.clone());
    let (cut_url, cut_hits) = flaky_server(2, false, body);
    let p = project(&format!(
        "client:\n  base_url: {reset_url}\nresources:\n  - name: reset\n    endpoint: x\n  - name: cut\n    endpoint: {cut_url}/y\n"
    ));
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.reset"), [1, 2]);
    assert_eq!(ids(&p, "raw_api.cut"), [1, 2]);
    assert_eq!(reset_hits.load(Ordering::SeqCst), 3);
    assert_eq!(cut_hits.load(Ordering::SeqCst), 3);
}

#[test]
fn slow_responses_time_out_and_are_retried() {
    let api = Api::start();
    let base = api.uri();
    api.mount(
        Mock::given(path("/once"))
            .respond_with(ok(items(0, 1)).set_delay(Duration::from_secs(3)))
            .up_to_n_times(1)
            .with_priority(1),
    );
    api.mount(
        Mock::given(path("/once"))
            .respond_with(ok(items(0, 2)))
            .with_priority(2),
    );
    api.mount(
        Mock::given(path("/always"))
            .respond_with(ok(items(0, 1)).set_delay(Duration::from_secs(3))),
    );
    let p = project(&format!(
        "client:\n  base_url: {base}\nresources:\n  - once\n"
    ));
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\nrequest_timeout = 0.5\nrequest_max_attempts = 2\n",
    );
    sync(&p).success();
    assert_eq!(ids(&p, "raw_api.once"), [0, 1]);

    p.write(
        ".dango/sources.yml",
        &format!("version: \"1.0\"\nsources:\n  - name: api\n    type: rest_api\n    rest_api:\n      client: {{base_url: \"{base}\"}}\n      resources: [always]\n"),
    );
    let t = Instant::now();
    sync(&p)
        .failure()
        .stderr(contains("resource `always`"))
        .stderr(contains("timed out"))
        .stderr(contains("after 2 attempt(s)"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn invalid_json_fails_without_retrying() {
    let api = Api::start();
    let base = api.uri();
    api.mount(Mock::given(path("/j")).respond_with(
        ResponseTemplate::new(200).set_body_raw("{\"data\": [1, 2", "application/json"),
    ));
    let p = project(&format!("client:\n  base_url: {base}\nresources:\n  - j\n"));
    sync(&p)
        .failure()
        .stderr(contains("resource `j`"))
        .stderr(contains("is not valid JSON"));
    assert_eq!(api.count("/j"), 1);
}

#[test]
fn tokens_never_appear_in_output_or_pipeline_files() {
    let token = "tok-SUPER-secret-31337";
    let api = Api::start();
    let base = api.uri();
    // A 401 whose body echoes the token, shown because http_show_error_body is on.
    api.mount(
        Mock::given(path("/denied"))
            .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {token}"))),
    );
    api.mount(Mock::given(path("/fine")).respond_with(ok(items(0, 2))));
    let p = project(&format!(
        "base_url: {base}\nauth_type: bearer\ntoken_env: SECRET_TOKEN_FOR_TEST\nendpoints:\n  - denied\n"
    ));
    p.write(
        ".dlt/config.toml",
        "[runtime]\nrequest_backoff_factor = 0.01\nhttp_show_error_body = true\n",
    );
    p.write(".env", &format!("SECRET_TOKEN_FOR_TEST={token}\n"));
    let out = p.dango().args(["-vv", "sync"]).output().unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("401 Client Error"), "{text}");
    assert!(text.contains("bad token ***"), "{text}");
    assert!(!text.contains(token), "{text}");
    // The token came from .env and was sent.
    let reqs = api.requests();
    let sent = &reqs[0];
    assert_eq!(
        sent.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {token}")
    );

    p.write(
        ".dango/sources.yml",
        &format!("version: \"1.0\"\nsources:\n  - name: api\n    type: rest_api\n    rest_api:\n      base_url: {base}\n      auth_type: bearer\n      token_env: SECRET_TOKEN_FOR_TEST\n      endpoints: [fine]\n"),
    );
    let out = p.dango().args(["-vv", "sync"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(token), "{text}");
    let mut stack = vec![p.path().join(".dlt/pipelines")];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                stack.push(e);
            } else {
                files += 1;
                let bytes = std::fs::read(&e).unwrap();
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "{} holds the token",
                    e.display()
                );
            }
        }
    }
    assert!(files > 0);
}

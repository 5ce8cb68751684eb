//! The HTTP client: reqwest on a small tokio runtime, called from blocking code.
//!
//! Retries follow dlt's `Client`: `request_max_attempts` total attempts on transient
//! failures only ([`HttpFailure::is_transient`]: 429, 5xx, connection errors, timeouts and
//! broken bodies), never on 401/403/404 or an invalid request; the wait after attempt n is
//! `min(request_backoff_factor * 2^(n-1), request_max_retry_delay)` seconds, or the
//! `Retry-After` header (seconds or an HTTP date), capped the same way. A request that failed
//! for good becomes an [`Error`] through [`HttpClient::error`]: 401/403 are
//! [`Error::InvalidCredentials`], a 429 that outlasted the retries is [`Error::RateLimited`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::secrets::Redactor;
use crate::config::RuntimeSettings;
use crate::error::{CredentialsRejected, Error, RateLimitExceeded, Result};
use crate::extract::CancelToken;

/// `[runtime]` HTTP settings (dlt's names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// `request_timeout` (seconds, 60).
    pub timeout: Duration,
    /// `request_max_attempts` (total attempts, 5).
    pub max_attempts: u32,
    /// `request_backoff_factor` (seconds, 1).
    pub backoff_factor: f64,
    /// `request_max_retry_delay` (seconds, 300).
    pub max_retry_delay: f64,
    /// `http_show_error_body` (false).
    pub show_error_body: bool,
    /// `http_max_error_body_length` (8192).
    pub max_error_body_length: usize,
    /// Requests of one `parallelized` dependent resource in flight at once (dlt's
    /// `[extract] workers`, 5).
    pub parallel_workers: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            max_attempts: 5,
            backoff_factor: 1.0,
            max_retry_delay: 300.0,
            show_error_body: false,
            max_error_body_length: 8192,
            parallel_workers: 5,
        }
    }
}

/// A `[runtime]` number that must be finite and >= 0.
fn non_negative(key: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::Config(format!(
            "[runtime] {key} must be a number >= 0, got `{v}` (set it in .dlt/config.toml or RUNTIME__{})",
            key.to_ascii_uppercase()
        )))
    }
}

impl HttpSettings {
    /// The HTTP part of `[runtime]` (read once, with its types checked, by
    /// [`Settings::runtime`](crate::config::Settings::runtime)), with the limits HTTP needs.
    pub fn from_runtime(r: &RuntimeSettings) -> Result<HttpSettings> {
        let timeout = non_negative("request_timeout", r.request_timeout)?;
        if timeout == 0.0 {
            return Err(Error::Config(
                "[runtime] request_timeout must be > 0 seconds".into(),
            ));
        }
        let timeout = Duration::try_from_secs_f64(timeout).map_err(|_| {
            Error::Config(format!(
                "[runtime] request_timeout `{timeout}` is too large; use a number of seconds such as 60"
            ))
        })?;
        Ok(HttpSettings {
            timeout,
            max_attempts: r.request_max_attempts.max(1),
            backoff_factor: non_negative("request_backoff_factor", r.request_backoff_factor)?,
            max_retry_delay: non_negative("request_max_retry_delay", r.request_max_retry_delay)?,
            show_error_body: r.http_show_error_body,
            max_error_body_length: r.http_max_error_body_length,
            parallel_workers: 5,
        })
    }

    /// The wait after failed attempt `n` (1-based) without a Retry-After header.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let secs = self.backoff_factor * 2f64.powi(attempt.saturating_sub(1).min(60) as i32);
        Duration::from_secs_f64(secs.min(self.max_retry_delay).max(0.0))
    }

    /// The wait a `Retry-After` value asks for, capped; `None` if absent or not positive.
    pub fn retry_after(&self, value: &str) -> Option<Duration> {
        let v = value.trim();
        let secs = if let Ok(n) = v.parse::<f64>() {
            n
        } else {
            let when = httpdate::parse_http_date(v).ok()?;
            when.duration_since(SystemTime::now()).ok()?.as_secs_f64()
        };
        (secs > 0.0 && secs.is_finite())
            .then(|| Duration::from_secs_f64(secs.min(self.max_retry_delay)))
    }
}

/// A request about to be sent.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: reqwest::Method,
    /// URL (may already carry a query).
    pub url: url::Url,
    /// Query parameters added to the URL.
    pub params: IndexMap<String, String>,
    /// Headers.
    pub headers: IndexMap<String, String>,
    /// JSON body.
    pub json: Option<Value>,
    /// Form body.
    pub form: Option<Vec<(String, String)>>,
}

impl Request {
    /// The URL with the query parameters.
    pub fn full_url(&self) -> url::Url {
        let mut u = self.url.clone();
        if !self.params.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in &self.params {
                q.append_pair(k, v);
            }
        }
        u
    }
}

/// A response read whole (one page).
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes (decompressed).
    pub body: Vec<u8>,
    /// The URL that was requested (with auth params; show it through the redactor only).
    pub url: url::Url,
}

impl Response {
    /// The reason phrase of the status, like `Not Found`.
    pub fn reason(&self) -> &'static str {
        reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Outcome of a request that did not produce an acceptable response.
#[derive(Debug)]
pub enum HttpFailure {
    /// The server answered with a status that is an error, on the last of `.1` attempts.
    Status(Box<Response>, u32),
    /// No usable response.
    Transport {
        /// What went wrong (no URL).
        message: String,
        /// The URL requested (show it through the redactor only).
        url: url::Url,
        /// Attempts made.
        attempts: u32,
        /// A connection error, timeout or broken body (true), or a request that cannot be
        /// sent as it is, such as an invalid header (false).
        transient: bool,
    },
    /// Ctrl-C was pressed while the request (or the wait before a retry) was under way.
    Interrupted,
}

impl HttpFailure {
    /// dlt's `TransientException` vs `TerminalException`: whether sending the same request
    /// again may succeed (429, 5xx, connection errors, timeouts, broken bodies). The client
    /// retries exactly these; 401, 403, 404 and other 4xx are terminal.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpFailure::Status(r, _) => transient_status(r.status),
            HttpFailure::Transport { transient, .. } => *transient,
            HttpFailure::Interrupted => false,
        }
    }
}

/// A failed attempt inside the retry loop: its message and whether it is worth retrying.
struct AttemptError {
    message: String,
    transient: bool,
}

impl AttemptError {
    fn terminal(message: String) -> Self {
        AttemptError {
            message,
            transient: false,
        }
    }
}

/// The shared client: connection pool, runtime, settings and redactor.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    rt: Arc<tokio::runtime::Runtime>,
    /// Settings.
    pub settings: HttpSettings,
    /// Hides secrets in messages.
    pub redactor: Redactor,
    /// Cancels requests in flight and the waits between retries.
    cancel: CancelToken,
}

/// Statuses dlt's client retries (`status_codes=(429, *range(500, 600))`).
pub fn transient_status(s: u16) -> bool {
    s == 429 || (500..600).contains(&s)
}

/// Whether a status means the credentials were refused.
fn credentials_refused(s: u16) -> bool {
    s == 401 || s == 403
}

impl HttpClient {
    /// A client with `settings`.
    pub fn new(settings: HttpSettings, redactor: Redactor) -> Result<HttpClient> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dango-http")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the HTTP runtime: {e}")))?;
        let inner = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .gzip(true)
            .pool_max_idle_per_host(64)
            .user_agent(concat!("dango/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot create the HTTP client: {e}")))?;
        Ok(HttpClient {
            inner,
            rt: Arc::new(rt),
            settings,
            redactor,
            cancel: CancelToken::new(),
        })
    }

    /// The same client (sharing its connection pool) whose requests end with
    /// [`HttpFailure::Interrupted`] as soon as `cancel` trips.
    pub fn with_cancel(&self, cancel: &CancelToken) -> HttpClient {
        HttpClient {
            cancel: cancel.clone(),
            ..self.clone()
        }
    }

    /// Runs a future to completion from blocking code.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Sends `req` with retries. `accept(status, body)` says whether a response ends the
    /// request as is (for response actions); otherwise 2xx/3xx are accepted, retryable
    /// statuses are retried and other statuses are failures.
    pub fn send(
        &self,
        req: &Request,
        accept: &dyn Fn(u16, &[u8]) -> bool,
    ) -> std::result::Result<Response, HttpFailure> {
        self.block_on(async {
            tokio::select! {
                r = self.send_async(req, accept) => r,
                () = self.cancel.cancelled() => Err(HttpFailure::Interrupted),
            }
        })
    }

    async fn send_async(
        &self,
        req: &Request,
        accept: &dyn Fn(u16, &[u8]) -> bool,
    ) -> std::result::Result<Response, HttpFailure> {
        let url = req.full_url();
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.once(req, &url).await;
            let wait = match outcome {
                Ok(resp) => {
                    if accept(resp.status, &resp.body) || resp.status < 400 {
                        return Ok(resp);
                    }
                    // Terminal statuses (401, 403, 404, …) are never retried.
                    if !transient_status(resp.status) || attempt >= max {
                        return Err(HttpFailure::Status(Box::new(resp), attempt));
                    }
                    let wait = resp
                        .headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| self.settings.retry_after(v))
                        .unwrap_or_else(|| self.settings.backoff(attempt));
                    tracing::warn!(
                        "{} {} returned {}; retrying in {:.2}s (attempt {attempt} of {max})",
                        req.method,
                        self.redactor.url(&url),
                        resp.status,
                        wait.as_secs_f64()
                    );
                    wait
                }
                Err(AttemptError { message, transient }) => {
                    if !transient || attempt >= max {
                        return Err(HttpFailure::Transport {
                            message,
                            url,
                            attempts: attempt,
                            transient,
                        });
                    }
                    let wait = self.settings.backoff(attempt);
                    tracing::warn!(
                        "{} {} failed: {message}; retrying in {:.2}s (attempt {attempt} of {max})",
                        req.method,
                        self.redactor.url(&url),
                        wait.as_secs_f64()
                    );
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(
        &self,
        req: &Request,
        url: &url::Url,
    ) -> std::result::Result<Response, AttemptError> {
        let mut b = self.inner.request(req.method.clone(), url.clone());
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                AttemptError::terminal(format!(
                    "invalid header name `{k}` (fix it in .dango/sources.yml)"
                ))
            })?;
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                AttemptError::terminal(format!(
                    "invalid value for header `{k}` (a header value must be visible ASCII without line breaks)"
                ))
            })?;
            if is_sensitive_header(k) {
                value.set_sensitive(true);
            }
            headers.insert(name, value);
        }
        b = b.headers(headers);
        if let Some(j) = &req.json {
            b = b.json(j);
        } else if let Some(f) = &req.form {
            b = b.form(f);
        }
        tracing::debug!("{} {}", req.method, self.redactor.url(url));
        let resp = b.send().await.map_err(|e| AttemptError {
            message: transport_message(&e),
            transient: transient_transport(&e),
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| AttemptError {
            message: format!(
                "the response body was cut off or unreadable ({})",
                transport_message(&e)
            ),
            transient: true,
        })?;
        Ok(Response {
            status,
            headers,
            body: body.to_vec(),
            url: url.clone(),
        })
    }

    /// The error for a request that failed for good. `request` names it for the user
    /// (e.g. resource \`issues\` or the OAuth2 token request); `credentials` gives `(used, fix)` for
    /// a 401/403 (which credential fields were sent, where they came from, where to change
    /// them; never a value). A 401/403 becomes [`Error::InvalidCredentials`], a 429 that
    /// outlasted the retries [`Error::RateLimited`], anything else [`Error::Http`] with dlt's
    /// transient/terminal classification. Every text is redacted.
    pub fn error(
        &self,
        source: &str,
        request: &str,
        method: &reqwest::Method,
        failure: HttpFailure,
        credentials: impl FnOnce() -> (String, String),
    ) -> Error {
        let r = &self.redactor;
        match failure {
            HttpFailure::Interrupted => Error::Interrupted,
            HttpFailure::Status(resp, _) if credentials_refused(resp.status) => {
                let (used, mut fix) = credentials();
                if resp.status == 403 {
                    fix.push_str(". A 403 can also mean that the credentials are valid but lack the permission (scope) this endpoint needs");
                }
                Error::InvalidCredentials(Box::new(CredentialsRejected {
                    source_name: source.to_string(),
                    request: r.redact(request),
                    status: resp.status,
                    reason: resp.reason().to_string(),
                    url: r.url(&resp.url),
                    used: r.redact(&used),
                    fix: r.redact(&fix),
                    response: self.shown_body(&resp),
                }))
            }
            HttpFailure::Status(resp, attempts) if resp.status == 429 => {
                Error::RateLimited(Box::new(RateLimitExceeded {
                    source_name: source.to_string(),
                    request: r.redact(request),
                    url: r.url(&resp.url),
                    attempts,
                    backoff_factor: self.settings.backoff_factor,
                    response: self.shown_body(&resp),
                }))
            }
            f => Error::Http {
                source_name: source.to_string(),
                reason: r.redact(&format!("{request}: {}", self.describe(method, &f))),
                transient: f.is_transient(),
            },
        }
    }

    /// The response body as `http_show_error_body` shows it (cut, redacted), if enabled.
    fn shown_body(&self, resp: &Response) -> Option<String> {
        self.settings.show_error_body.then(|| {
            let cut: String = resp
                .text()
                .chars()
                .take(self.settings.max_error_body_length)
                .collect();
            self.redactor.redact(&cut)
        })
    }

    /// A user-facing message for a failure: dlt's status line (method, sanitized URL,
    /// status), the attempts made, what to do, and (if `http_show_error_body`) the body.
    fn describe(&self, method: &reqwest::Method, f: &HttpFailure) -> String {
        let msg = match f {
            HttpFailure::Status(r, attempts) => {
                let kind = if r.status < 500 {
                    "Client Error"
                } else {
                    "Server Error"
                };
                let mut m = format!(
                    "{} {kind}: {} for url: {} ({method}",
                    r.status,
                    r.reason(),
                    self.redactor.url(&r.url),
                );
                if *attempts > 1 {
                    m.push_str(&format!(", gave up after {attempts} attempts"));
                }
                m.push(')');
                if f.is_transient() {
                    m.push_str(". The server kept failing: run `dango sync` again later, or retry for longer with [runtime] request_max_attempts and request_backoff_factor in .dlt/config.toml (RUNTIME__REQUEST_MAX_ATTEMPTS, RUNTIME__REQUEST_BACKOFF_FACTOR)");
                }
                match self.shown_body(r) {
                    Some(body) => m.push_str(&format!("\nResponse: {body}")),
                    None => m.push_str(". Set `http_show_error_body = true` under [runtime] in .dlt/config.toml to see the response body"),
                }
                m
            }
            HttpFailure::Transport {
                message,
                url,
                attempts,
                ..
            } => format!(
                "{method} {} failed after {attempts} attempt(s): {message}",
                self.redactor.url(url)
            ),
            HttpFailure::Interrupted => "interrupted (Ctrl-C)".to_string(),
        };
        self.redactor.redact(&msg)
    }
}

fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n.contains("key")
        || n.contains("token")
        || n.contains("secret")
        || n == "cookie"
}

/// Whether a reqwest error is worth retrying: everything but a request that cannot be built
/// or a redirect loop (dlt retries `ConnectionError`, `Timeout` and `ChunkedEncodingError`).
fn transient_transport(e: &reqwest::Error) -> bool {
    !(e.is_builder() || e.is_redirect())
}

/// Describes a reqwest error without its URL (the caller shows the sanitized one).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out (raise [runtime] request_timeout if the API is slow)"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = Vec::new();
    while let Some(s) = src {
        detail.push(s.to_string());
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", detail.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_matches_dlt() {
        let s = HttpSettings::default();
        let waits: Vec<u64> = (1..=4).map(|n| s.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        let capped = HttpSettings {
            max_retry_delay: 3.0,
            ..HttpSettings::default()
        };
        assert_eq!(capped.backoff(4), Duration::from_secs(3));
        assert_eq!(capped.retry_after("10"), Some(Duration::from_secs(3)));
        assert_eq!(s.retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(s.retry_after("0"), None);
        assert_eq!(s.retry_after("soon"), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = s.retry_after(&later).unwrap();
        assert!(d.as_secs() >= 28 && d.as_secs() <= 30, "{d:?}");
    }

    fn failure(status: u16, attempts: u32) -> HttpFailure {
        HttpFailure::Status(
            Box::new(Response {
                status,
                headers: HeaderMap::new(),
                body: b"denied for key-in-body-1234".to_vec(),
                url: url::Url::parse("http://127.0.0.1:9/x?api_key=key-in-url-5678&page=2")
                    .unwrap(),
            }),
            attempts,
        )
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for (status, transient) in [
            (429, true),
            (500, true),
            (503, true),
            (599, true),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (422, false),
        ] {
            assert_eq!(transient_status(status), transient, "{status}");
            assert_eq!(failure(status, 1).is_transient(), transient, "{status}");
        }
        let transport = |transient| HttpFailure::Transport {
            message: "could not connect".into(),
            url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            attempts: 1,
            transient,
        };
        assert!(transport(true).is_transient());
        assert!(!transport(false).is_transient());
        assert!(!HttpFailure::Interrupted.is_transient());
    }

    #[test]
    fn failures_become_classified_errors() {
        let settings = HttpSettings {
            backoff_factor: 0.5,
            show_error_body: true,
            ..HttpSettings::default()
        };
        let client = HttpClient::new(settings, Redactor::default()).unwrap();
        client.redactor.add("key-in-body-1234");
        let get = reqwest::Method::GET;
        let hint = || ("`token` from T".to_string(), "fix T".to_string());
        let e = client.error("s", "resource `x`", &get, failure(401, 1), hint);
        assert!(
            matches!(&e, Error::InvalidCredentials(c)
                if c.status == 401 && c.used == "`token` from T" && c.fix == "fix T"),
            "{e:?}"
        );
        assert!(!e.is_transient());
        let msg = e.to_string();
        assert!(
            msg.starts_with("source `s`: resource `x`: invalid credentials: 401 Client Error: Unauthorized for url: http://127.0.0.1:9/x?api_key=***&page=2. dango used `token` from T. To fix it: fix T\nResponse: denied for ***"),
            "{msg}"
        );
        let e = client.error("s", "resource `x`", &get, failure(403, 1), hint);
        assert!(e.to_string().contains("fix T. A 403 can also mean"), "{e}");

        let e = client.error("s", "resource `x`", &get, failure(429, 5), hint);
        assert!(e.is_transient());
        let msg = e.to_string();
        for part in [
            "rate limit exceeded: 429 Client Error",
            "on all 5 attempt(s)",
            "request_max_attempts (now 5)",
            "request_backoff_factor (now 0.5)",
            "RUNTIME__REQUEST_MAX_ATTEMPTS",
            "RUNTIME__REQUEST_BACKOFF_FACTOR",
        ] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
        assert!(!msg.contains("key-in"), "{msg}");

        let e = client.error("s", "resource `x`", &get, failure(503, 5), hint);
        assert!(
            matches!(
                e,
                Error::Http {
                    transient: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("gave up after 5 attempts"), "{e}");
        let e = client.error("s", "resource `x`", &get, failure(404, 1), hint);
        assert!(
            matches!(
                e,
                Error::Http {
                    transient: false,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            client.error("s", "r", &get, HttpFailure::Interrupted, hint),
            Error::Interrupted
        ));
    }
}

//! Keeps secrets out of logs, errors and traces: dango's one redactor.
//!
//! Every secret dango resolves (from `secrets.toml`, the environment, `*_env` keys, `${VAR}`
//! substituted into a secret key, the auth fields of a REST source, OAuth2 access tokens) is
//! registered in one process-wide set, so a secret registered anywhere is hidden everywhere.
//! [`redact`] replaces registered values (also URL-encoded), passwords in URLs
//! (`scheme://user:password@host`), `Bearer`/`Basic`/`token` credentials and the values of
//! sensitive query parameters (`api_key=`, `access_token=`, `…_secret=`, …) with `***`;
//! [`Redactor::url`] shows a URL the same way. The log writers, the CLI's error printer and the
//! REST client's messages all go through it.

use std::borrow::Cow;
use std::sync::{OnceLock, RwLock};

/// Secrets shorter than this (in characters, after trimming) are not registered: too many
/// false hits in ordinary text.
const MIN_SECRET_CHARS: usize = 4;

/// Query parameter names whose values are always hidden (as dlt's URL sanitizer), besides
/// names ending in `_key`, `token` or `secret`.
const SENSITIVE_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "authorization",
    "signature",
    "sig",
    "session",
    "code",
];

/// Whether the value of query parameter `name` is hidden whatever it is.
pub fn is_sensitive_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SENSITIVE_PARAMS.contains(&n.as_str())
        || n.ends_with("_key")
        || n.ends_with("token")
        || n.ends_with("secret")
}

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// A handle to the process-wide redactor (`Redactor::default()`). Every handle shares the same
/// set of secrets; it exists so that components (the REST client, its auth) can carry "the
/// thing that hides secrets" as a value. [`register_secret`] and [`redact`] are the same
/// operations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redactor {
    _shared: (),
}

impl Redactor {
    /// Registers a secret value (and its URL-encoded form); every later message hides it.
    /// Values under 4 characters are ignored.
    pub fn add(&self, secret: &str) {
        let v = secret.trim();
        if v.chars().count() < MIN_SECRET_CHARS {
            return;
        }
        let encoded: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        if let Ok(mut r) = registry().write() {
            for s in [v.to_string(), encoded] {
                if !r.contains(&s) {
                    r.push(s);
                }
            }
            // Longest first, so a secret containing another is replaced whole.
            r.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with registered secrets, URL passwords, bearer/basic/token credentials and the
    /// values of sensitive query parameters replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(r) = registry().read() {
            for s in r.iter() {
                if out.contains(s.as_str()) {
                    out = out.replace(s.as_str(), "***");
                }
            }
        }
        let p = patterns();
        let out = p.url_password.replace_all(&out, "${pre}***@").into_owned();
        let out = p
            .credential
            .replace_all(&out, |c: &regex::Captures<'_>| {
                if looks_like_credential(&c[2]) {
                    format!("{}***", &c[1])
                } else {
                    c[0].to_string()
                }
            })
            .into_owned();
        match p.query_param.replace_all(&out, |c: &regex::Captures<'_>| {
            if is_sensitive_param(&c[2]) {
                format!("{}{}=***", &c[1], &c[2])
            } else {
                c[0].to_string()
            }
        }) {
            Cow::Borrowed(_) => out,
            Cow::Owned(o) => o,
        }
    }

    /// The URL as it may be shown: password and sensitive query values replaced by `***`,
    /// then every known secret hidden.
    pub fn url(&self, url: &url::Url) -> String {
        let mut u = url.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let hide = is_sensitive_param(&k);
                    (
                        k.into_owned(),
                        if hide { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        self.redact(u.as_str()).replace("%2A%2A%2A", "***")
    }
}

/// Registers a secret value with the process-wide [`Redactor`].
pub fn register_secret(value: &str) {
    Redactor::default().add(value);
}

/// `text` as the process-wide [`Redactor`] shows it (see [`Redactor::redact`]).
pub fn redact(text: &str) -> String {
    Redactor::default().redact(text)
}

/// Whether the word after `Bearer`/`Basic`/`token` is a credential rather than English
/// ("the token request", "Basic authentication"): 8+ characters with a digit or one of
/// `._~+/=`, as tokens, JWTs and base64 have.
fn looks_like_credential(word: &str) -> bool {
    word.len() >= 8
        && word
            .chars()
            .any(|c| c.is_ascii_digit() || "._~+/=".contains(c))
}

struct Patterns {
    /// `scheme://user:password@host`.
    url_password: regex::Regex,
    /// `Bearer xxx`, `Basic xxx`, `token xxx` (see [`looks_like_credential`]).
    credential: regex::Regex,
    /// `?name=value` / `&name=value`; hidden when the name is sensitive.
    query_param: regex::Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let mk = |re: &str| regex::Regex::new(re).expect("redaction pattern compiles");
        Patterns {
            url_password: mk(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"),
            credential: mk(r"(?i)(\b(?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=-]+)"),
            query_param: mk(r"([?&])([A-Za-z0-9_.\-]+)=([^&\s#]+)"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_and_patterns() {
        register_secret("sk_live_abcdef123");
        let s = redact(
            "token sk_live_abcdef123 in https://bob:hunter22@db.example/x?api_key=zzz&page=2&client_secret=c1, Authorization: Bearer abc.def.ghi, Authorization: token ghp_1234abcd",
        );
        assert!(!s.contains("sk_live_abcdef123"), "{s}");
        assert!(!s.contains("hunter22"), "{s}");
        assert!(!s.contains("zzz") && !s.contains("c1,"), "{s}");
        assert!(!s.contains("abc.def") && !s.contains("ghp_"), "{s}");
        // English after the words is left alone.
        let plain = "the OAuth2 token request failed; Basic authentication; a bearer token";
        assert_eq!(redact(plain), plain);
        assert!(
            s.contains("page=2") && s.contains("bob:***@db.example"),
            "{s}"
        );
        assert!(s.contains("api_key=***&page=2&client_secret=***"), "{s}");
    }

    #[test]
    fn redacts_urls_and_encoded_values() {
        let r = Redactor::default();
        r.add("s3cr3t-value");
        let u = url::Url::parse("https://u:pw@x.io/a?api_key=abc&page=2&my=s3cr3t-value").unwrap();
        let shown = r.url(&u);
        assert!(!shown.contains("abc") && !shown.contains("pw@"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("page=2"), "{shown}");
        assert_eq!(r.redact("Bearer s3cr3t-value!"), "Bearer ***!");
        // As it appears in a query string.
        r.add("a+b/c=d");
        let u = url::Url::parse_with_params("https://x.io/a", &[("q", "a+b/c=d")]).unwrap();
        assert!(!r.url(&u).contains("a%2Bb"), "{}", r.url(&u));
        // Too short to register; surrounding whitespace is not part of the secret.
        r.add("ab1");
        assert_eq!(redact("tab1e"), "tab1e");
        register_secret("  padded-secret \n");
        assert_eq!(redact("x padded-secret y"), "x *** y");
    }

    #[test]
    fn the_rest_source_and_the_cli_share_one_set() {
        // Registered through the REST client's handle, hidden by the CLI's free function.
        Redactor::default().add("shared-secret-42");
        assert_eq!(redact("got shared-secret-42"), "got ***");
        register_secret("shared-secret-43");
        assert_eq!(
            Redactor::default().redact("got shared-secret-43"),
            "got ***"
        );
    }
}

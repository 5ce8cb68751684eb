//! Secret values: where the source looks them up ([`SecretProvider`], implemented by the
//! project's [`Settings`]: `*_env` keys, environment variables, `.dlt/*.toml` along dlt's
//! lookup chain) and how they are kept out of every message ([`Redactor`]).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use crate::config::Settings;
use crate::error::{Error, Result};

/// Where the REST API source looks up auth fields. A project uses its [`Settings`]; library
/// users can supply their own.
pub trait SecretProvider: Send + Sync {
    /// Field `key` of the auth of source `source` (a `rest_api` source), along dlt's lookup
    /// chain. With `secret`, a value in config.toml is refused.
    fn lookup(&self, source: &str, key: &str, secret: bool) -> Result<Option<String>>;
    /// The value of an environment variable named by a `*_env` key (process environment
    /// first, then the project's `.env` file).
    fn env_var(&self, name: &str) -> Option<String>;
    /// The error for a required field that is not set anywhere: what was tried, and where to
    /// put it. `env_var` is the variable a `<key>_env` entry named, if any.
    fn missing(&self, source: &str, key: &str, env_var: Option<&str>) -> Error;
}

/// dlt's lookup for a rest_api source `name`: each section of the chain
/// (`sources.rest_api.<name>`, `sources.rest_api`, `sources.<name>`, `sources`, the top
/// level), under `credentials` first, then directly.
fn key_paths(key: &str) -> [[&str; 2]; 2] {
    [["credentials", key], ["", key]]
}

/// The key paths of [`key_paths`] as slices (the second without its empty section).
fn as_slices<'a>(paths: &'a [[&'a str; 2]; 2]) -> [&'a [&'a str]; 2] {
    [&paths[0][..], &paths[1][1..]]
}

impl SecretProvider for Settings {
    fn lookup(&self, source: &str, key: &str, secret: bool) -> Result<Option<String>> {
        let paths = key_paths(key);
        let (found, _) = self.source_lookup("rest_api", source, &as_slices(&paths), secret)?;
        Ok(found.map(|r| r.as_string()))
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env().get(name)
    }

    fn missing(&self, source: &str, key: &str, env_var: Option<&str>) -> Error {
        let paths = key_paths(key);
        match self.source_lookup("rest_api", source, &as_slices(&paths), false) {
            Ok((_, traces)) => Settings::missing(self, source, key, &traces, env_var),
            Err(e) => e,
        }
    }
}

/// Replaces known secret values (and sensitive URL parameters) by `***` in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<BTreeSet<String>>>,
}

/// Query parameter names whose values are always hidden (as dlt's URL sanitizer).
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

impl Redactor {
    /// Adds a secret value; every later message hides it.
    pub fn add(&self, secret: &str) {
        if secret.len() >= 3
            && let Ok(mut s) = self.secrets.write()
        {
            s.insert(secret.to_string());
            // As it appears in a query string, too.
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != secret {
                s.insert(encoded);
            }
        }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(s) = self.secrets.read() {
            // Longest first, so a secret containing another is hidden whole.
            let mut list: Vec<&String> = s.iter().collect();
            list.sort_by_key(|x| std::cmp::Reverse(x.len()));
            for secret in list {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), "***");
                }
            }
        }
        out
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
                    let lk = k.to_ascii_lowercase();
                    let hide = SENSITIVE_PARAMS.contains(&lk.as_str())
                        || lk.ends_with("_key")
                        || lk.ends_with("token")
                        || lk.ends_with("secret");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_and_values() {
        let r = Redactor::default();
        r.add("s3cr3t-value");
        let u = url::Url::parse("https://u:pw@x.io/a?api_key=abc&page=2&my=s3cr3t-value").unwrap();
        let shown = r.url(&u);
        assert!(!shown.contains("abc") && !shown.contains("pw@"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("page=2"), "{shown}");
        assert_eq!(r.redact("Bearer s3cr3t-value!"), "Bearer ***!");
        r.add("a+b/c=d");
        let u = url::Url::parse_with_params("https://x.io/a", &[("q", "a+b/c=d")]).unwrap();
        assert!(!r.url(&u).contains("a%2Bb"), "{}", r.url(&u));
    }

    #[test]
    fn settings_find_credentials_along_dlts_chain() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        std::fs::write(
            dir.path().join(".dlt/secrets.toml"),
            "[sources.rest_api.my_api.credentials]\ntoken = \"t1\"\n[sources.rest_api]\napi_key = \"k1\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".dlt/config.toml"),
            "[sources.my_api]\npassword = \"p\"\n",
        )
        .unwrap();
        let env = crate::config::env::Env::from_vars([("MY_VAR", "v1")]);
        let s = Settings::with_env(dir.path(), env, None).unwrap();
        assert_eq!(
            s.lookup("my_api", "token", true).unwrap().as_deref(),
            Some("t1")
        );
        assert_eq!(
            s.lookup("my_api", "api_key", true).unwrap().as_deref(),
            Some("k1")
        );
        assert_eq!(s.lookup("other", "token", true).unwrap(), None);
        // a secret in config.toml is refused with dlt's reason; a setting is fine there
        let err = s
            .lookup("my_api", "password", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ValueNotSecretException"), "{err}");
        assert_eq!(
            s.lookup("my_api", "password", false).unwrap().as_deref(),
            Some("p")
        );
        assert_eq!(s.env_var("MY_VAR").as_deref(), Some("v1"));
        let err = SecretProvider::missing(&s, "my_api", "client_id", Some("CID")).to_string();
        let first = err
            .find("SOURCES__REST_API__MY_API__CREDENTIALS__CLIENT_ID")
            .unwrap();
        let second = err.find("SOURCES__REST_API__MY_API__CLIENT_ID").unwrap();
        assert!(first < second, "{err}");
        assert!(
            err.contains("probed") || err.contains("secrets.toml"),
            "{err}"
        );
        assert!(err.contains("set CID"), "{err}");
    }
}

//! Secret values: where they come from (`*_env` keys, environment variables, `.dlt/*.toml`) and
//! how they are kept out of every message (redaction).
//!
//! The lookup sits behind [`SecretProvider`] so the project-wide config resolver can replace
//! [`ProjectSecrets`] later without touching the rest of the source.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

/// Looks up configuration values by dlt section path (`["sources", "rest_api", "token"]`).
pub trait SecretProvider: Send + Sync {
    /// The value at `path`, if any provider holds it.
    fn get(&self, path: &[&str]) -> Result<Option<String>>;
    /// The value of an environment variable named by a `*_env` key (process environment first,
    /// then the project's `.env` file).
    fn env_var(&self, name: &str) -> Option<String>;
    /// Where values are looked for, for "missing" messages.
    fn describe(&self, path: &[&str]) -> Vec<String>;
}

/// dlt's providers for a project: environment variables (`SOURCES__REST_API__TOKEN`), then
/// `.dlt/secrets.toml`, then `.dlt/config.toml`; `*_env` names also look into `.env`.
pub struct ProjectSecrets {
    root: PathBuf,
    tomls: Vec<(PathBuf, toml::Table)>,
    dotenv: Vec<(String, String)>,
}

impl ProjectSecrets {
    /// Reads the providers of the project at `root`.
    pub fn new(root: &Path) -> Result<ProjectSecrets> {
        let mut tomls = Vec::new();
        for file in ["secrets.toml", "config.toml"] {
            let path = root.join(".dlt").join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let doc: toml::Table = text.parse().map_err(|e| {
                        Error::Config(format!("{} is not valid TOML: {e}", path.display()))
                    })?;
                    tomls.push((path, doc));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        let mut dotenv = Vec::new();
        let env_path = root.join(".env");
        if env_path.is_file() {
            let iter = dotenvy::from_path_iter(&env_path).map_err(|e| {
                Error::Config(format!(
                    "{} is not a valid .env file: {e}",
                    env_path.display()
                ))
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| {
                    Error::Config(format!(
                        "{} is not a valid .env file: {e}",
                        env_path.display()
                    ))
                })?;
                dotenv.push((k, v));
            }
        }
        Ok(ProjectSecrets {
            root: root.to_path_buf(),
            tomls,
            dotenv,
        })
    }
}

/// `["sources", "rest_api", "token"]` → `SOURCES__REST_API__TOKEN`.
pub fn env_name(path: &[&str]) -> String {
    path.iter()
        .map(|s| s.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("__")
}

impl SecretProvider for ProjectSecrets {
    fn get(&self, path: &[&str]) -> Result<Option<String>> {
        if let Ok(v) = std::env::var(env_name(path)) {
            return Ok(Some(v));
        }
        for (_, doc) in &self.tomls {
            let mut cur: Option<&toml::Value> = None;
            let mut table = Some(doc);
            for (i, k) in path.iter().enumerate() {
                let Some(t) = table else { break };
                match t.get(*k) {
                    Some(v) if i + 1 == path.len() => cur = Some(v),
                    Some(toml::Value::Table(t2)) => table = Some(t2),
                    _ => {
                        table = None;
                    }
                }
            }
            if let Some(v) = cur {
                return Ok(Some(match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }));
            }
        }
        Ok(None)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().or_else(|| {
            self.dotenv
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn describe(&self, path: &[&str]) -> Vec<String> {
        vec![
            format!("environment variable {}", env_name(path)),
            format!(
                "[{}] {} in {}",
                path[..path.len() - 1].join("."),
                path[path.len() - 1],
                self.root.join(".dlt").join("secrets.toml").display()
            ),
        ]
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
    fn reads_nested_toml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        std::fs::write(
            dir.path().join(".dlt/secrets.toml"),
            "[sources.rest_api.my_api.credentials]\ntoken = \"t1\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".env"), "MY_VAR=v1\n").unwrap();
        let p = ProjectSecrets::new(dir.path()).unwrap();
        assert_eq!(
            p.get(&["sources", "rest_api", "my_api", "credentials", "token"])
                .unwrap()
                .as_deref(),
            Some("t1")
        );
        assert_eq!(p.get(&["sources", "rest_api", "token"]).unwrap(), None);
        assert_eq!(p.env_var("MY_VAR").as_deref(), Some("v1"));
    }
}

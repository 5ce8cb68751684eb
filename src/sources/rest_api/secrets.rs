//! Secret values: where the source looks them up ([`SecretProvider`], implemented by the
//! project's [`Settings`]: `*_env` keys, environment variables, `.dlt/*.toml` along dlt's
//! lookup chain) and how they are kept out of every message ([`Redactor`], dango's one
//! redactor from [`crate::config::redact`]).

use crate::config::Settings;
pub use crate::config::redact::Redactor;
use crate::error::{Error, Result};

/// A value a [`SecretProvider`] found, with where it was found (for messages such as
/// [`Error::InvalidCredentials`]; never the value itself).
#[derive(Clone)]
pub struct Found {
    /// The value.
    pub value: String,
    /// Where it was found, e.g. `/p/.dlt/secrets.toml [sources.shop] token`,
    /// `environment variable SOURCES__SHOP__TOKEN (environment)` or, for a variable named by
    /// a `*_env` key, `environment` or the `.env` file's path.
    pub origin: String,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("value", &"***")
            .field("origin", &self.origin)
            .finish()
    }
}

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
    /// Like [`SecretProvider::lookup`], with where the value was found. The default says
    /// "the application's secret provider"; [`Settings`] names the file and key or variable.
    fn find(&self, source: &str, key: &str, secret: bool) -> Result<Option<Found>> {
        Ok(self.lookup(source, key, secret)?.map(|value| Found {
            value,
            origin: format!("the application's secret provider (`{key}` of source `{source}`)"),
        }))
    }
    /// Like [`SecretProvider::env_var`], with where the variable is set (`environment` or the
    /// `.env` file). The default says `environment`.
    fn find_env_var(&self, name: &str) -> Option<Found> {
        self.env_var(name).map(|value| Found {
            value,
            origin: "environment".into(),
        })
    }
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
        Ok(self.find(source, key, secret)?.map(|f| f.value))
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env().get(name)
    }

    fn find(&self, source: &str, key: &str, secret: bool) -> Result<Option<Found>> {
        let paths = key_paths(key);
        let (found, _) = self.source_lookup("rest_api", source, &as_slices(&paths), secret)?;
        Ok(found.map(|r| Found {
            value: r.as_string(),
            origin: r.describe(),
        }))
    }

    fn find_env_var(&self, name: &str) -> Option<Found> {
        self.env()
            .lookup(name)
            .map(|(value, origin)| Found { value, origin })
    }

    fn missing(&self, source: &str, key: &str, env_var: Option<&str>) -> Error {
        let paths = key_paths(key);
        match self.source_lookup("rest_api", source, &as_slices(&paths), false) {
            Ok((_, traces)) => Settings::missing(self, source, key, &traces, env_var),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // where each value was found, for the credential errors
        let found = s.find("my_api", "token", true).unwrap().unwrap();
        assert!(
            found
                .origin
                .ends_with(".dlt/secrets.toml [sources.rest_api.my_api.credentials] token"),
            "{}",
            found.origin
        );
        assert!(!format!("{found:?}").contains("t1"));
        let var = s.find_env_var("MY_VAR").unwrap();
        assert_eq!(
            (var.value.as_str(), var.origin.as_str()),
            ("v1", "environment")
        );
        assert!(s.find_env_var("NOT_SET_HERE").is_none());
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

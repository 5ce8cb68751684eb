//! Destination settings as dlt reads them, for any destination type.
//!
//! A key of destination type `postgres` is looked up under `[destination.postgres]`, then
//! `[destination]`, in every provider (environment first: `DESTINATION__POSTGRES__<KEY>`,
//! then `secrets.toml`, then `config.toml`). Credentials are either one value
//! (`credentials = "postgresql://…"`, dlt's "native" form) or a table of parts
//! (`[destination.postgres.credentials]` with `host`, `password`, … or
//! `DESTINATION__POSTGRES__CREDENTIALS__PASSWORD`); a part given on its own wins over the
//! same part of the native form.
//!
//! ```
//! use dango::config::{Env, Settings};
//! use dango::destinations::config::DestinationSettings;
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join(".dlt"))?;
//! std::fs::write(
//!     dir.path().join(".dlt/secrets.toml"),
//!     "[destination.postgres]\ncredentials = \"postgresql://u:pw@db.internal:5432/dwh\"\n",
//! )?;
//! let env = Env::from_vars([("DESTINATION__POSTGRES__CREDENTIALS__HOST", "127.0.0.1")]);
//! let settings = Settings::with_env(dir.path(), env, None)?;
//! let creds = DestinationSettings::new(&settings, "postgres").credentials(&["host", "password"])?;
//! assert!(creds.native.is_some());
//! assert_eq!(creds.part("host").unwrap().as_string(), "127.0.0.1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::settings::{Provider, Resolved, Settings};
use crate::config::{redact, redact::is_secret_key};
use crate::error::{Error, Result};

/// The settings of one destination type (`[destination.<kind>]`, then `[destination]`).
#[derive(Debug, Clone, Copy)]
pub struct DestinationSettings<'a> {
    settings: &'a Settings,
    kind: &'a str,
}

/// Destination credentials as found: the native value and the parts set one by one.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `credentials` as one value (a connection URL for SQL destinations), when it is text.
    pub native: Option<Resolved>,
    /// Parts found under `credentials.<part>`, in the order asked for.
    pub parts: Vec<(String, Resolved)>,
}

impl Credentials {
    /// A part set on its own (`[destination.<kind>.credentials] <name>`), if any.
    pub fn part(&self, name: &str) -> Option<&Resolved> {
        self.parts.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.native.is_none() && self.parts.is_empty()
    }
}

impl<'a> DestinationSettings<'a> {
    /// The settings of destination type `kind` (`postgres`, `duckdb`, `filesystem`).
    pub fn new(settings: &'a Settings, kind: &'a str) -> DestinationSettings<'a> {
        DestinationSettings { settings, kind }
    }

    /// The destination type.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The underlying settings.
    pub fn settings(&self) -> &Settings {
        self.settings
    }

    fn section_chain(&self) -> [Vec<&'a str>; 2] {
        [vec!["destination", self.kind], vec!["destination"]]
    }

    /// `key` under `[destination.<kind>]`, then `[destination]`. A value whose key names a
    /// secret (`password`, `credentials`, …) is refused in config.toml and registered for
    /// redaction.
    pub fn value(&self, key: &str) -> Result<Option<Resolved>> {
        self.value_in(&[], key)
    }

    /// `key` under `[destination.<kind>.<sub…>]`, then `[destination.<sub…>]` (registered for
    /// redaction when `key` names a secret).
    pub fn value_in(&self, sub: &[&str], key: &str) -> Result<Option<Resolved>> {
        for mut sections in self.section_chain() {
            sections.extend_from_slice(sub);
            if let Some(r) = self.settings.get(&sections, key)? {
                // only secret keys: a host or a database name is no secret
                if is_secret_key(key) {
                    redact::register_secret(&r.as_string());
                }
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// `key` parsed as `T`; the error names the key, where it came from and `what` it must be
    /// (never a secret's value).
    pub fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>> {
        let Some(r) = self.value(key)? else {
            return Ok(None);
        };
        let text = r.as_string();
        text.trim().parse::<T>().map(Some).map_err(|_| {
            let shown = if is_secret_key(key) {
                String::new()
            } else {
                format!(", got `{text}`")
            };
            Error::Config(format!(
                "{key} must be {what}{shown} (from {})",
                r.describe()
            ))
        })
    }

    /// The credentials: `credentials` as one value (text; a TOML table counts as parts), and
    /// each of `parts` under `credentials.<part>`. Every value found is registered for
    /// redaction when it is secret (the native value always is).
    pub fn credentials(&self, parts: &[&str]) -> Result<Credentials> {
        let mut out = Credentials::default();
        if let Some(r) = self.value("credentials")?
            && !matches!(r.value, toml::Value::Table(_))
        {
            redact::register_secret(&r.as_string());
            out.native = Some(r);
        }
        for part in parts {
            if let Some(r) = self.value_in(&["credentials"], part)? {
                if is_secret_key(part) {
                    redact::register_secret(&r.as_string());
                }
                out.parts.push((part.to_string(), r));
            }
        }
        Ok(out)
    }

    /// The error for missing credentials: what was looked for, where, and how to set it.
    /// `example_url` is a placeholder URL (no real value), `required` the parts that are
    /// needed when no URL is given.
    pub fn missing_credentials(&self, example_url: &str, required: &[&str]) -> Error {
        let kind = self.kind;
        let upper = kind.to_ascii_uppercase();
        let secrets = self
            .settings
            .files(Provider::SecretsToml)
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".dlt/secrets.toml".into());
        Error::Config(format!(
            "the {kind} destination has no credentials: looked for `credentials` under [destination.{kind}] and [destination] (environment DESTINATION__{upper}__CREDENTIALS, secrets.toml, config.toml) and for the parts {} under [destination.{kind}.credentials]. To fix it, add to {secrets}:\n  [destination.{kind}]\n  credentials = \"{example_url}\"\nor set DESTINATION__{upper}__CREDENTIALS, or the parts (DESTINATION__{upper}__CREDENTIALS__{}, …)",
            required
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", "),
            required
                .first()
                .map(|p| p.to_ascii_uppercase())
                .unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn settings(
        secrets: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        std::fs::write(dir.path().join(".dlt/secrets.toml"), secrets).unwrap();
        std::fs::write(dir.path().join(".dlt/config.toml"), config).unwrap();
        let env = Env::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let s = Settings::with_env(dir.path(), env, None).unwrap();
        (dir, s)
    }

    #[test]
    fn kind_section_then_destination_section() {
        let (_d, s) = settings(
            "",
            "[destination]\nreplace_strategy = \"a\"\n[destination.postgres]\nreplace_strategy = \"b\"\n",
            &[],
        );
        let pg = DestinationSettings::new(&s, "postgres");
        assert_eq!(
            pg.value("replace_strategy").unwrap().unwrap().as_string(),
            "b"
        );
        let fs = DestinationSettings::new(&s, "filesystem");
        assert_eq!(
            fs.value("replace_strategy").unwrap().unwrap().as_string(),
            "a"
        );
        assert!(fs.value("bucket_url").unwrap().is_none());
    }

    #[test]
    fn table_of_parts_and_env_parts() {
        let (_d, s) = settings(
            "[destination.postgres.credentials]\ndatabase = \"dwh\"\nusername = \"loader\"\npassword = \"pw-secret-1\"\nport = 5433\n",
            "",
            &[("DESTINATION__POSTGRES__CREDENTIALS__HOST", "10.0.0.1")],
        );
        let c = DestinationSettings::new(&s, "postgres")
            .credentials(&["database", "username", "password", "host", "port"])
            .unwrap();
        assert!(c.native.is_none());
        assert_eq!(c.part("database").unwrap().as_string(), "dwh");
        assert_eq!(c.part("port").unwrap().as_string(), "5433");
        assert_eq!(c.part("host").unwrap().as_string(), "10.0.0.1");
        assert_eq!(
            c.part("host").unwrap().key,
            "DESTINATION__POSTGRES__CREDENTIALS__HOST"
        );
        // the password is redacted wherever it would be printed
        assert!(!redact::redact("x pw-secret-1 y").contains("pw-secret-1"));
    }

    #[test]
    fn native_url_from_env() {
        let (_d, s) = settings(
            "",
            "",
            &[(
                "DESTINATION__POSTGRES__CREDENTIALS",
                "postgresql://u:pw-secret-2@h/db",
            )],
        );
        let c = DestinationSettings::new(&s, "postgres")
            .credentials(&["host"])
            .unwrap();
        assert_eq!(
            c.native.unwrap().as_string(),
            "postgresql://u:pw-secret-2@h/db"
        );
        let shown = redact::redact("connecting to postgresql://u:pw-secret-2@h/db");
        assert!(!shown.contains("pw-secret-2"), "{shown}");
    }

    #[test]
    fn credentials_in_config_toml_are_refused() {
        let (_d, s) = settings(
            "",
            "[destination.postgres]\ncredentials = \"postgresql://u:pw@h/db\"\n",
            &[],
        );
        let e = DestinationSettings::new(&s, "postgres")
            .credentials(&[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ValueNotSecretException"), "{e}");
        assert!(!e.contains("u:pw@"), "{e}");
    }

    #[test]
    fn missing_names_keys() {
        let (_d, s) = settings("", "", &[]);
        let pg = DestinationSettings::new(&s, "postgres");
        let c = pg.credentials(&["host"]).unwrap();
        assert!(c.is_empty());
        let e = pg
            .missing_credentials("postgresql://user:password@host:5432/database", &["host"])
            .to_string();
        assert!(e.contains("[destination.postgres]"), "{e}");
        assert!(e.contains("DESTINATION__POSTGRES__CREDENTIALS"), "{e}");
    }
}

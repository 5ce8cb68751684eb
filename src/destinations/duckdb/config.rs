//! DuckDB settings: the connection options dlt reads from
//! `[destination.duckdb.credentials]` (`global_config`, `local_config`, `pragmas`).
//!
//! ```toml
//! [destination.duckdb.credentials]
//! global_config = { memory_limit = "2GB", threads = 4 }
//! local_config = { errors_as_json = true }
//! pragmas = ["enable_progress_bar"]
//! ```
//!
//! From the environment, each key holds JSON or TOML text, as dlt accepts it:
//! `DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG='{"memory_limit": "2GB"}'`.

use super::DuckDbOptions;
use crate::config::settings::{Resolved, Settings};
use crate::error::{Error, Result};

const SECTIONS: &[&str] = &["destination", "duckdb", "credentials"];

impl Settings {
    /// DuckDB options for the warehouse: dango's defaults (see
    /// [`DuckDbOptions::default`]), overridden key by key by `global_config`, plus
    /// `local_config` and `pragmas`.
    pub fn duckdb(&self) -> Result<DuckDbOptions> {
        let mut options = DuckDbOptions::default();
        for (k, v) in self.config_table("global_config")? {
            if k == "memory_limit" {
                // the user's limit holds for merges too
                options.merge_memory_limit = None;
            }
            options.global_config.retain(|(name, _)| *name != k);
            options.global_config.push((k, v));
        }
        options.local_config = self.config_table("local_config")?;
        if let Some(r) = self.get(SECTIONS, "pragmas")? {
            options.pragmas = match parse_value(&r)? {
                toml::Value::Array(items) => items.iter().map(setting_text).collect(),
                other => return Err(bad(&r, "pragmas", &other, "a list of strings")),
            };
        }
        Ok(options)
    }

    /// The warehouse file named by dlt's native form of DuckDB credentials, a string
    /// (`[destination.duckdb] credentials = "data/warehouse.duckdb"` in `.dlt/secrets.toml`,
    /// or `DESTINATION__DUCKDB__CREDENTIALS`; `duckdb:///path` too), relative to `root`.
    /// `None` when credentials are absent or a table of options.
    pub fn duckdb_database(&self, root: &std::path::Path) -> Result<Option<std::path::PathBuf>> {
        let Some(r) = self.get_any(&["destination", "duckdb"], "credentials")? else {
            return Ok(None);
        };
        let toml::Value::String(text) = &r.value else {
            return Ok(None);
        };
        let text = text.trim();
        if text.starts_with('{') {
            // an environment value holding the options table as JSON
            return Ok(None);
        }
        if r.provider == crate::config::Provider::ConfigToml {
            return Err(Error::Config(format!(
                "ValueNotSecretException: dlt refuses DuckDB credentials in config.toml ({}). Move `credentials = \"{text}\"` under [destination.duckdb] in .dlt/secrets.toml, where dango and dlt's tools both read it",
                r.describe()
            )));
        }
        let path = text
            .strip_prefix("duckdb:///")
            .map(|p| format!("/{p}"))
            .unwrap_or_else(|| text.to_string());
        if path.is_empty() || path.starts_with(':') {
            return Err(Error::Config(format!(
                "DuckDB credentials `{text}` ({}) do not name a file: dango keeps the warehouse in a file. Use a path such as \"data/warehouse.duckdb\"",
                r.describe()
            )));
        }
        Ok(Some(root.join(path)))
    }

    /// A `{name = value}` table under `[destination.duckdb.credentials]`, values as text.
    fn config_table(&self, key: &str) -> Result<Vec<(String, String)>> {
        let Some(r) = self.get(SECTIONS, key)? else {
            return Ok(Vec::new());
        };
        match parse_value(&r)? {
            toml::Value::Table(t) => Ok(t
                .iter()
                .map(|(k, v)| (k.clone(), setting_text(v)))
                .collect()),
            other => Err(bad(&r, key, &other, "a table of DuckDB settings")),
        }
    }
}

/// The value of a setting; environment values are JSON or TOML text.
fn parse_value(r: &Resolved) -> Result<toml::Value> {
    let toml::Value::String(text) = &r.value else {
        return Ok(r.value.clone());
    };
    let text = text.trim();
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        return toml::Value::try_from(json)
            .map_err(|e| Error::Config(format!("{} is not usable: {e}", r.describe())));
    }
    if let Ok(toml::Value::Table(mut t)) = format!("v = {text}")
        .parse::<toml::Table>()
        .map(toml::Value::Table)
        && let Some(v) = t.remove("v")
    {
        return Ok(v);
    }
    Ok(r.value.clone())
}

fn setting_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn bad(r: &Resolved, key: &str, got: &toml::Value, want: &str) -> Error {
    Error::Config(format!(
        "[destination.duckdb.credentials] {key} must be {want}, got `{got}` (from {})",
        r.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn settings(config: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        std::fs::write(dir.path().join(".dlt/config.toml"), config).unwrap();
        let env = Env::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let s = Settings::with_env(dir.path(), env, None).unwrap();
        (dir, s)
    }

    #[test]
    fn credentials_string_names_the_warehouse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        let load = |secrets: &str, config: &str, env: &[(&str, &str)]| {
            std::fs::write(dir.path().join(".dlt/secrets.toml"), secrets).unwrap();
            std::fs::write(dir.path().join(".dlt/config.toml"), config).unwrap();
            let env = Env::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Settings::with_env(dir.path(), env, None).unwrap()
        };
        let root = dir.path();
        let s = load(
            "[destination.duckdb]\ncredentials = \"data/w.duckdb\"\n",
            "",
            &[],
        );
        assert_eq!(
            s.duckdb_database(root).unwrap(),
            Some(root.join("data/w.duckdb"))
        );
        // the table form of options keeps working, next to the string or without it
        let s = load(
            "",
            "[destination.duckdb.credentials]\nglobal_config = { threads = 1 }\n",
            &[],
        );
        assert_eq!(s.duckdb_database(root).unwrap(), None);
        assert!(
            s.duckdb()
                .unwrap()
                .global_config
                .iter()
                .any(|(k, _)| k == "threads")
        );
        let s = load(
            "[destination.duckdb]\ncredentials = \"duckdb:///tmp/x.duckdb\"\n",
            "",
            &[],
        );
        assert_eq!(
            s.duckdb_database(root).unwrap(),
            Some("/tmp/x.duckdb".into())
        );
        let s = load("", "", &[("DESTINATION__DUCKDB__CREDENTIALS", "e.duckdb")]);
        assert_eq!(
            s.duckdb_database(root).unwrap(),
            Some(root.join("e.duckdb"))
        );
        let s = load(
            "",
            "[destination.duckdb]\ncredentials = \"c.duckdb\"\n",
            &[],
        );
        let e = s.duckdb_database(root).unwrap_err().to_string();
        assert!(e.contains("secrets.toml"), "{e}");
        let s = load(
            "[destination.duckdb]\ncredentials = \":memory:\"\n",
            "",
            &[],
        );
        assert!(s.duckdb_database(root).is_err());
    }

    #[test]
    fn defaults_bound_memory() {
        let (_d, s) = settings("", &[]);
        let o = s.duckdb().unwrap();
        assert_eq!(
            o.global_config,
            vec![(
                "memory_limit".to_string(),
                super::super::default_memory_limit()
            )]
        );
        assert!(o.local_config.is_empty() && o.pragmas.is_empty());
        assert_eq!(
            o.merge_memory_limit,
            Some(super::super::default_merge_memory_limit())
        );
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(
            super::super::default_memory_limit(),
            format!("{}MB", (48 * cores).max(96))
        );
    }

    #[test]
    fn config_toml_overrides_and_adds() {
        let (_d, s) = settings(
            "[destination.duckdb.credentials]\nglobal_config = { memory_limit = \"2GB\", threads = 1 }\nlocal_config = { errors_as_json = true }\npragmas = [\"enable_profiling\"]\n",
            &[],
        );
        let o = s.duckdb().unwrap();
        assert_eq!(
            o.global_config,
            vec![
                ("memory_limit".to_string(), "2GB".to_string()),
                ("threads".to_string(), "1".to_string())
            ]
        );
        assert_eq!(
            o.local_config,
            vec![("errors_as_json".to_string(), "true".to_string())]
        );
        assert_eq!(o.pragmas, vec!["enable_profiling".to_string()]);
        // the user's memory_limit holds for merges too
        assert_eq!(o.merge_memory_limit, None);
    }

    #[test]
    fn env_json_wins() {
        let (_d, s) = settings(
            "[destination.duckdb.credentials]\nglobal_config = { memory_limit = \"2GB\" }\n",
            &[(
                "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG",
                "{\"memory_limit\": \"1GB\"}",
            )],
        );
        let o = s.duckdb().unwrap();
        assert_eq!(
            o.global_config,
            vec![("memory_limit".to_string(), "1GB".to_string())]
        );
    }

    #[test]
    fn wrong_shape_is_a_config_error() {
        let (_d, s) = settings(
            "[destination.duckdb.credentials]\nglobal_config = \"lots\"\n",
            &[],
        );
        let e = s.duckdb().unwrap_err().to_string();
        assert!(e.contains("global_config must be a table"), "{e}");
    }
}

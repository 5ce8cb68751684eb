//! Config and secrets resolution, as dlt does it.
//!
//! Three providers, first hit wins: **environment variables** (sections and key joined by
//! `__`, upper case: `SOURCES__SHOP__API_KEY`, `RUNTIME__LOG_LEVEL`), then **`secrets.toml`**,
//! then **`config.toml`**. Each TOML provider reads the project's `.dlt/<file>` and the global
//! one (`$DLT_DATA_DIR`, else `/var/dlt` for root, else `~/.dlt`); the project file wins. The
//! project's `.env` is read too, without overriding variables that are really set.
//!
//! A source's arguments are looked up along dlt's chain. For key `token` of source `github` of
//! type `rest_api` in pipeline `github`, each provider tries, in order:
//!
//! ```text
//! GITHUB__SOURCES__REST_API__GITHUB__TOKEN   github.sources.rest_api.github.token
//! GITHUB__SOURCES__REST_API__TOKEN           github.sources.rest_api.token
//! GITHUB__SOURCES__GITHUB__TOKEN             github.sources.github.token
//! GITHUB__SOURCES__TOKEN                     github.sources.token
//! GITHUB__TOKEN                              github.token
//! SOURCES__REST_API__GITHUB__TOKEN           sources.rest_api.github.token
//! SOURCES__REST_API__TOKEN                   sources.rest_api.token
//! SOURCES__GITHUB__TOKEN                     sources.github.token
//! SOURCES__TOKEN                             sources.token
//! TOKEN                                      token
//! ```
//!
//! A secret found in `config.toml` is refused with dlt's `ValueNotSecretException` reason, and a
//! missing required secret lists every (provider, key) tried and the files probed.
//!
//! ```
//! use dango::config::{Env, Settings};
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join(".dlt"))?;
//! std::fs::write(dir.path().join(".dlt/secrets.toml"), "[sources.github]\ntoken = \"t0k\"\n")?;
//! let env = Env::from_vars([("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")]);
//! let settings = Settings::with_env(dir.path(), env, None)?.with_pipeline("github");
//! let token = settings.require_source_secret("rest_api", "github", "token")?;
//! assert_eq!(token.as_string(), "t0k");
//! assert_eq!(settings.runtime()?.request_max_attempts, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use crate::config::env::Env;
use crate::config::redact;
use crate::error::{Error, Result};

/// A configuration provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Environment variables (and the project's `.env`).
    Environment,
    /// `secrets.toml` (project, then global).
    SecretsToml,
    /// `config.toml` (project, then global).
    ConfigToml,
}

impl Provider {
    /// dlt's display name of the provider.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Environment => "Environment Variables",
            Provider::SecretsToml => "secrets.toml",
            Provider::ConfigToml => "config.toml",
        }
    }
}

/// A value found by a lookup, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The value (environment values are strings).
    pub value: toml::Value,
    /// The provider that had it.
    pub provider: Provider,
    /// The key as that provider spells it: `SOURCES__X__TOKEN` or `sources.x.token`.
    pub key: String,
    /// The environment variable's origin (`environment` or a `.env` path) or the TOML file.
    pub location: String,
}

impl Resolved {
    /// The value as text (strings unquoted, other values in TOML syntax).
    pub fn as_string(&self) -> String {
        match &self.value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Where the value came from, for messages: `environment variable X` or `file [section] key`.
    pub fn describe(&self) -> String {
        match self.provider {
            Provider::Environment => {
                format!("environment variable {} ({})", self.key, self.location)
            }
            _ => {
                let (sections, key) = match self.key.rsplit_once('.') {
                    Some((s, k)) => (s, k),
                    None => ("", self.key.as_str()),
                };
                if sections.is_empty() {
                    format!("{} top-level key `{key}`", self.location)
                } else {
                    format!("{} [{sections}] {key}", self.location)
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct TomlFile {
    path: PathBuf,
    doc: Option<toml::Table>,
}

impl TomlFile {
    fn read(path: PathBuf) -> Result<TomlFile> {
        let doc = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.parse::<toml::Table>().map_err(|e| {
                Error::Config(format!(
                    "{}: invalid TOML: {}",
                    path.display(),
                    e.to_string().trim_end()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(TomlFile { path, doc })
    }

    fn get(&self, path: &[String]) -> Option<&toml::Value> {
        let doc = self.doc.as_ref()?;
        let (last, sections) = path.split_last()?;
        let mut table = doc;
        for s in sections {
            table = table.get(s)?.as_table()?;
        }
        table.get(last)
    }
}

/// One (provider, key) pair tried by a lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Provider tried.
    pub provider: Provider,
    /// Key as that provider spells it.
    pub key: String,
}

/// Resolved configuration of a project: the providers, in dlt's order.
#[derive(Debug, Clone)]
pub struct Settings {
    env: Env,
    secrets: Vec<TomlFile>,
    configs: Vec<TomlFile>,
    pipeline: Option<String>,
}

/// The global dlt dir: `$DLT_DATA_DIR`, else `/var/dlt` for root, else `~/.dlt`.
pub fn global_dir(env: &Env) -> Option<PathBuf> {
    if let Some(d) = env.get("DLT_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/var/dlt"));
    }
    env.get("HOME").map(|h| Path::new(&h).join(".dlt"))
}

pub use super::redact::is_secret_key;

impl Settings {
    /// Settings of the project at `root`: process environment + `.env`, project `.dlt/` and the
    /// global dlt dir.
    pub fn load(root: &Path) -> Result<Settings> {
        let env = Env::for_project(root)?;
        let global = global_dir(&env);
        Settings::with_env(root, env, global)
    }

    /// Settings with an explicit environment and global dir (`None`: no global files).
    pub fn with_env(root: &Path, env: Env, global: Option<PathBuf>) -> Result<Settings> {
        let mut secrets = vec![TomlFile::read(root.join(".dlt").join("secrets.toml"))?];
        let mut configs = vec![TomlFile::read(root.join(".dlt").join("config.toml"))?];
        if let Some(g) = global {
            let project_dlt = root.join(".dlt");
            let same = g
                .canonicalize()
                .ok()
                .is_some_and(|g| project_dlt.canonicalize().ok().is_some_and(|p| p == g));
            if !same {
                secrets.push(TomlFile::read(g.join("secrets.toml"))?);
                configs.push(TomlFile::read(g.join("config.toml"))?);
            }
        }
        Ok(Settings {
            env,
            secrets,
            configs,
            pipeline: None,
        })
    }

    /// Looks keys up with the pipeline-name prefix first (dlt's `<PIPELINE>__…`).
    pub fn with_pipeline(mut self, name: impl Into<String>) -> Settings {
        self.pipeline = Some(name.into());
        self
    }

    /// The environment the settings read.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The files each TOML provider reads, project first.
    pub fn files(&self, provider: Provider) -> Vec<&Path> {
        let files = match provider {
            Provider::Environment => return Vec::new(),
            Provider::SecretsToml => &self.secrets,
            Provider::ConfigToml => &self.configs,
        };
        files.iter().map(|f| f.path.as_path()).collect()
    }

    fn candidates(&self, section_chain: &[Vec<String>], key: &str) -> Vec<Vec<String>> {
        self.candidates_of(section_chain, &[&[key]])
    }

    /// Every section of the chain (pipeline-scoped first) joined with each of `keys`.
    fn candidates_of(&self, section_chain: &[Vec<String>], keys: &[&[&str]]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let prefixes: Vec<Option<&str>> = match &self.pipeline {
            Some(p) => vec![Some(p.as_str()), None],
            None => vec![None],
        };
        for prefix in prefixes {
            for sections in section_chain {
                for key in keys {
                    let mut path: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
                    path.extend(sections.iter().cloned());
                    path.extend(key.iter().map(|k| k.to_string()));
                    if !out.contains(&path) {
                        out.push(path);
                    }
                }
            }
        }
        out
    }

    fn env_name(path: &[String]) -> String {
        path.join("__").to_ascii_uppercase()
    }

    /// Tries `candidates` in every provider. Returns the hit and the trace of keys tried.
    fn resolve(
        &self,
        candidates: &[Vec<String>],
        secret: bool,
    ) -> Result<(Option<Resolved>, Vec<Trace>)> {
        let mut traces = Vec::new();
        for path in candidates {
            let name = Self::env_name(path);
            traces.push(Trace {
                provider: Provider::Environment,
                key: name.clone(),
            });
            if let Some((v, origin)) = self.env.lookup(&name) {
                return Ok((
                    Some(Resolved {
                        value: toml::Value::String(v),
                        provider: Provider::Environment,
                        key: name,
                        location: origin,
                    }),
                    traces,
                ));
            }
        }
        for (provider, files) in [
            (Provider::SecretsToml, &self.secrets),
            (Provider::ConfigToml, &self.configs),
        ] {
            for path in candidates {
                let dotted = path.join(".");
                traces.push(Trace {
                    provider,
                    key: dotted.clone(),
                });
                for f in files {
                    if let Some(v) = f.get(path) {
                        if secret && provider == Provider::ConfigToml {
                            return Err(Error::Config(format!(
                                "ValueNotSecretException: Provider `config.toml` cannot hold secret values but key `{dotted}` with secret value is present (in {}). Move it to {}",
                                f.path.display(),
                                self.secrets[0].path.display()
                            )));
                        }
                        return Ok((
                            Some(Resolved {
                                value: v.clone(),
                                provider,
                                key: dotted,
                                location: f.path.display().to_string(),
                            }),
                            traces,
                        ));
                    }
                }
            }
        }
        Ok((None, traces))
    }

    /// A setting in one section path (`&["runtime"]`, `"log_level"`): env `RUNTIME__LOG_LEVEL`,
    /// then `[runtime] log_level` in secrets.toml, then in config.toml.
    pub fn get(&self, sections: &[&str], key: &str) -> Result<Option<Resolved>> {
        let mut path: Vec<String> = sections.iter().map(|s| s.to_string()).collect();
        path.push(key.to_string());
        Ok(self.resolve(&[path], is_secret_key(key))?.0)
    }

    /// Like [`Settings::get`], but never refuses a value in config.toml, whatever the key's
    /// name: for keys whose value may be a table of non-secret options there (like
    /// `[destination.duckdb.credentials] global_config`) or a secret string elsewhere.
    pub fn get_any(&self, sections: &[&str], key: &str) -> Result<Option<Resolved>> {
        let mut path: Vec<String> = sections.iter().map(|s| s.to_string()).collect();
        path.push(key.to_string());
        Ok(self.resolve(&[path], false)?.0)
    }

    /// dlt's section chain for a source of `source_type` named `source_name`.
    pub fn source_sections(source_type: &str, source_name: &str) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let mut chain = vec![
            s(&["sources", source_type, source_name]),
            s(&["sources", source_type]),
            s(&["sources", source_name]),
            s(&["sources"]),
            Vec::new(),
        ];
        chain.dedup();
        chain
    }

    /// The keys a source argument is looked up under, in order, per provider (for messages).
    pub fn source_lookup_trace(
        &self,
        source_type: &str,
        source_name: &str,
        key: &str,
    ) -> Vec<Trace> {
        let candidates = self.candidates(&Self::source_sections(source_type, source_name), key);
        let mut out: Vec<Trace> = candidates
            .iter()
            .map(|p| Trace {
                provider: Provider::Environment,
                key: Self::env_name(p),
            })
            .collect();
        for provider in [Provider::SecretsToml, Provider::ConfigToml] {
            out.extend(candidates.iter().map(|p| Trace {
                provider,
                key: p.join("."),
            }));
        }
        out
    }

    /// A (non-secret) argument `key` of a source, along dlt's lookup chain. This is the API
    /// for source implementations: e.g. `source_value("rest_api", "github", "base_url")`.
    pub fn source_value(
        &self,
        source_type: &str,
        source_name: &str,
        key: &str,
    ) -> Result<Option<Resolved>> {
        let candidates = self.candidates(&Self::source_sections(source_type, source_name), key);
        Ok(self.resolve(&candidates, false)?.0)
    }

    /// A secret argument of a source: like [`Settings::source_value`], but a value in
    /// `config.toml` is refused, and the value is registered for redaction from logs and errors.
    pub fn source_secret(
        &self,
        source_type: &str,
        source_name: &str,
        key: &str,
    ) -> Result<Option<Resolved>> {
        let candidates = self.candidates(&Self::source_sections(source_type, source_name), key);
        let found = self.resolve(&candidates, true)?.0;
        if let Some(r) = &found {
            redact::register_secret(&r.as_string());
        }
        Ok(found)
    }

    /// A source argument that may sit under one of several key paths below each section of
    /// the chain, tried in order per section: e.g. `[["credentials", "token"], ["token"]]`
    /// finds `sources.rest_api.<name>.credentials.token`, then `sources.rest_api.<name>.token`,
    /// then `sources.rest_api.credentials.token`, and so on. With `secret`, a value in
    /// config.toml is refused and a found value is registered for redaction. Returns the
    /// value and the (provider, key) pairs tried, for [`Settings::missing`].
    pub fn source_lookup(
        &self,
        source_type: &str,
        source_name: &str,
        keys: &[&[&str]],
        secret: bool,
    ) -> Result<(Option<Resolved>, Vec<Trace>)> {
        let candidates = self.candidates_of(&Self::source_sections(source_type, source_name), keys);
        let (found, traces) = self.resolve(&candidates, secret)?;
        if secret && let Some(r) = &found {
            redact::register_secret(&r.as_string());
        }
        Ok((found, traces))
    }

    /// A required secret of a source; when missing, the error lists every (provider, key)
    /// tried, the files probed and where to put it.
    pub fn require_source_secret(
        &self,
        source_type: &str,
        source_name: &str,
        key: &str,
    ) -> Result<Resolved> {
        let candidates = self.candidates(&Self::source_sections(source_type, source_name), key);
        let (found, traces) = self.resolve(&candidates, true)?;
        match found {
            Some(r) => {
                redact::register_secret(&r.as_string());
                Ok(r)
            }
            None => Err(self.missing(source_name, key, &traces, None)),
        }
    }

    /// The "missing field" error for `key` of `source_name`; `env_hint` names the variable a
    /// `*_env` key pointed at.
    pub fn missing(
        &self,
        source_name: &str,
        key: &str,
        traces: &[Trace],
        env_hint: Option<&str>,
    ) -> Error {
        let mut msg = format!(
            "ConfigFieldMissingException: Missing 1 field(s) in configuration of source `{source_name}`: `{key}`\nfor field `{key}` the following (config provider, key) were tried in order:\n"
        );
        for t in traces {
            msg.push_str(&format!("  ({}, {})\n", t.provider.name(), t.key));
        }
        for provider in [Provider::SecretsToml, Provider::ConfigToml] {
            let missing: Vec<&Path> = self
                .files_of(provider)
                .iter()
                .filter(|f| f.doc.is_none())
                .map(|f| f.path.as_path())
                .collect();
            if !missing.is_empty() {
                msg.push_str(&format!(
                    "Provider `{}` probed but not found the following locations:\n",
                    provider.name()
                ));
                for p in missing {
                    msg.push_str(&format!("\t- {}\n", p.display()));
                }
            }
        }
        let env_name = format!("SOURCES__{}__{}", source_name, key).to_ascii_uppercase();
        msg.push_str(&format!(
            "To fix it, add to {}:\n  [sources.{source_name}]\n  {key} = \"...\"\nor set the environment variable {env_name}",
            self.secrets[0].path.display()
        ));
        if let Some(var) = env_hint {
            msg.push_str(&format!(
                ", or set {var} (named by `{key}_env` in sources.yml) in the environment or the project's .env"
            ));
        }
        msg.push_str(".\nLearn more: https://dlthub.com/docs/general-usage/credentials/");
        Error::Config(msg)
    }

    fn files_of(&self, provider: Provider) -> &[TomlFile] {
        match provider {
            Provider::SecretsToml => &self.secrets,
            Provider::ConfigToml => &self.configs,
            Provider::Environment => &[],
        }
    }

    /// `key` of `sections` parsed as `T`; the error names the key, the value, where it came
    /// from and `what` it must be.
    pub fn parse<T: std::str::FromStr>(
        &self,
        sections: &[&str],
        key: &str,
        what: &str,
    ) -> Result<Option<T>> {
        let Some(r) = self.get(sections, key)? else {
            return Ok(None);
        };
        let text = r.as_string();
        text.trim().parse::<T>().map(Some).map_err(|_| {
            Error::Config(format!(
                "[{}] {key} must be {what}, got `{text}` (from {})",
                sections.join("."),
                r.describe()
            ))
        })
    }

    /// `[runtime]` settings.
    pub fn runtime(&self) -> Result<RuntimeSettings> {
        let d = RuntimeSettings::default();
        let r = &["runtime"];
        let log_level = match self.get(r, "log_level")? {
            None => d.log_level,
            Some(v) => {
                let l = v.as_string().trim().to_ascii_uppercase();
                let ok = [
                    "CRITICAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG", "TRACE",
                ];
                if !ok.contains(&l.as_str()) {
                    return Err(Error::Config(format!(
                        "[runtime] log_level `{}` is not a level (from {}); use one of {}",
                        v.as_string(),
                        v.describe(),
                        ok.join(", ")
                    )));
                }
                l
            }
        };
        let log_format = match self.get(r, "log_format")? {
            Some(v) if v.as_string().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let positive = |v: Option<u64>, key: &str| -> Result<Option<u64>> {
            if v == Some(0) {
                return Err(Error::Config(format!(
                    "[runtime] {key} must be at least 1 (set it in .dlt/config.toml or RUNTIME__{})",
                    key.to_ascii_uppercase()
                )));
            }
            Ok(v)
        };
        Ok(RuntimeSettings {
            log_level,
            log_format,
            request_timeout: self
                .parse(r, "request_timeout", "a number of seconds")?
                .unwrap_or(d.request_timeout),
            request_max_attempts: positive(
                self.parse(r, "request_max_attempts", "a whole number")?,
                "request_max_attempts",
            )?
            .map(|v| v as u32)
            .unwrap_or(d.request_max_attempts),
            request_backoff_factor: self
                .parse(r, "request_backoff_factor", "a number")?
                .unwrap_or(d.request_backoff_factor),
            request_max_retry_delay: self
                .parse(r, "request_max_retry_delay", "a number of seconds")?
                .unwrap_or(d.request_max_retry_delay),
            http_show_error_body: self
                .parse(r, "http_show_error_body", "true or false")?
                .unwrap_or(d.http_show_error_body),
            http_max_error_body_length: self
                .parse(r, "http_max_error_body_length", "a whole number")?
                .unwrap_or(d.http_max_error_body_length),
        })
    }

    /// `[extract]` settings; `[sources.<source>.extract]` wins when `source` is given.
    pub fn extract(&self, source: Option<&str>) -> Result<ExtractSettings> {
        let d = ExtractSettings::default();
        let get = |key: &str| -> Result<Option<usize>> {
            if let Some(s) = source
                && let Some(v) = self.parse(&["sources", s, "extract"], key, "a whole number")?
            {
                return Ok(Some(v));
            }
            self.parse(&["extract"], key, "a whole number")
        };
        Ok(ExtractSettings {
            workers: get("workers")?.unwrap_or(d.workers),
            max_parallel_items: get("max_parallel_items")?.unwrap_or(d.max_parallel_items),
        })
    }

    /// `[normalize]` settings.
    pub fn normalize(&self) -> Result<NormalizeSettings> {
        Ok(NormalizeSettings {
            workers: self
                .parse(&["normalize"], "workers", "a whole number")?
                .unwrap_or(0),
            add_dlt_load_id: self
                .parse(&PARQUET_NORMALIZER, "add_dlt_load_id", "true or false")?
                .unwrap_or(false),
            add_dlt_id: self
                .parse(&PARQUET_NORMALIZER, "add_dlt_id", "true or false")?
                .unwrap_or(false),
        })
    }

    /// The default `schema_contract` of source `source` for resources without their own:
    /// `[sources.<source>] schema_contract`, then `[schema] schema_contract`, then Dango's
    /// `[schema] allow_new_columns` / `allow_column_removal` (see
    /// [`crate::schema::contract::from_seed_settings`]).
    pub fn schema_contract(&self, source: &str) -> Result<Option<serde_json::Value>> {
        for sections in [&["sources", source][..], &["schema"][..]] {
            let Some(r) = self.get(sections, "schema_contract")? else {
                continue;
            };
            let v = match &r.value {
                toml::Value::String(s) if s.trim_start().starts_with('{') => {
                    serde_json::from_str(s).map_err(|e| {
                        Error::Config(format!(
                            "schema_contract from {} is not valid JSON: {e}",
                            r.describe()
                        ))
                    })?
                }
                other => serde_json::to_value(other).unwrap_or_default(),
            };
            crate::schema::contract::SchemaContract::parse(&v)
                .map_err(|e| Error::Config(format!("{e} (from {})", r.describe())))?;
            return Ok(Some(v));
        }
        let allow_new = self.parse(&["schema"], "allow_new_columns", "true or false")?;
        let allow_removal = self.parse(&["schema"], "allow_column_removal", "true or false")?;
        crate::schema::contract::from_seed_settings(allow_new, allow_removal).map_err(Error::Config)
    }

    /// `[load]` settings.
    pub fn load_settings(&self) -> Result<LoadSettings> {
        let d = LoadSettings::default();
        Ok(LoadSettings {
            workers: self
                .parse(&["load"], "workers", "a whole number")?
                .unwrap_or(d.workers),
            raise_on_failed_jobs: self
                .parse(&["load"], "raise_on_failed_jobs", "true or false")?
                .unwrap_or(d.raise_on_failed_jobs),
        })
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`[runtime] log_format = "JSON"`).
    Json,
}

/// `[runtime]`: logging and HTTP retry settings (dlt's names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeSettings {
    /// `log_level`, upper case (`WARNING` by default).
    pub log_level: String,
    /// `log_format`: `JSON` gives JSON lines.
    pub log_format: LogFormat,
    /// `request_timeout` in seconds (60).
    pub request_timeout: f64,
    /// `request_max_attempts`, total attempts including the first (5).
    pub request_max_attempts: u32,
    /// `request_backoff_factor` (1).
    pub request_backoff_factor: f64,
    /// `request_max_retry_delay` in seconds (300).
    pub request_max_retry_delay: f64,
    /// `http_show_error_body` (false).
    pub http_show_error_body: bool,
    /// `http_max_error_body_length` (8192).
    pub http_max_error_body_length: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            log_level: "WARNING".into(),
            log_format: LogFormat::Text,
            request_timeout: 60.0,
            request_max_attempts: 5,
            request_backoff_factor: 1.0,
            request_max_retry_delay: 300.0,
            http_show_error_body: false,
            http_max_error_body_length: 8192,
        }
    }
}

/// `[extract]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractSettings {
    /// `workers` (5).
    pub workers: usize,
    /// `max_parallel_items` (20).
    pub max_parallel_items: usize,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            workers: 5,
            max_parallel_items: 20,
        }
    }
}

/// `[normalize]` settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NormalizeSettings {
    /// `workers`; 0 (the default here) means one per core.
    pub workers: usize,
    /// `[normalize.parquet_normalizer] add_dlt_load_id` (`NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID`,
    /// default false): Arrow tables a source yields get a `_dlt_load_id` column.
    pub add_dlt_load_id: bool,
    /// `[normalize.parquet_normalizer] add_dlt_id` (`NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID`,
    /// default false): Arrow tables a source yields get a random `_dlt_id` column.
    pub add_dlt_id: bool,
}

/// dlt's section of the Arrow normalizer settings.
const PARQUET_NORMALIZER: [&str; 2] = ["normalize", "parquet_normalizer"];

/// `[load]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSettings {
    /// `workers` (20).
    pub workers: usize,
    /// `raise_on_failed_jobs` (true).
    pub raise_on_failed_jobs: bool,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            workers: 20,
            raise_on_failed_jobs: true,
        }
    }
}

#[cfg(test)]
mod tests;

//! The runner's error report (`result.json`'s `error`) as dango errors: what is wrong and how
//! to fix it, never a secret's value.

use std::path::Path;

use serde_json::Value;

use super::DltNativeConfig;
use super::python::{Interpreter, SUPPORTED_DLT};
use crate::config::Settings;
use crate::error::{CredentialsRejected, Error};

/// Where each secret argument of the source function can come from, resolved by dango along
/// dlt's lookup chain (for the credentials error; values are registered for redaction).
#[derive(Debug, Clone, Default)]
pub struct SecretSources {
    settings: Option<Settings>,
    module: String,
    function: String,
}

impl SecretSources {
    /// For the source function of `cfg`.
    pub fn new(settings: &Settings, cfg: &DltNativeConfig) -> SecretSources {
        SecretSources {
            settings: Some(settings.clone()),
            module: cfg.module_section().to_string(),
            function: cfg.source_name.clone(),
        }
    }

    /// "`api_key` from .dlt/secrets.toml (sources.my_api_source.api_key)" for each name.
    fn describe(&self, names: &[String]) -> String {
        let mut parts = Vec::new();
        for n in names {
            let found = self.settings.as_ref().and_then(|s| {
                s.source_secret(&self.module, &self.function, n)
                    .ok()
                    .flatten()
            });
            parts.push(match found {
                Some(r) => format!("`{n}` from {} ({})", r.location, r.key),
                None => format!("`{n}` (not found by dango; passed by the source itself)"),
            });
        }
        if parts.is_empty() {
            "no secret argument (the source's own credentials)".into()
        } else {
            parts.join(", ")
        }
    }
}

fn s<'a>(err: &'a Value, key: &str) -> &'a str {
    err.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The dango error for the runner's report `err`.
pub fn to_error(
    source: &str,
    cfg: &DltNativeConfig,
    python: &Interpreter,
    root: &Path,
    secrets: &SecretSources,
    err: &Value,
) -> Error {
    let py = python.path.display();
    let config = |msg: String| Error::Config(format!("source `{source}`: {msg}"));
    match s(err, "kind") {
        "no_dlt" => config(format!(
            "the Python at {py} ({}) cannot import dlt ({}). Install it into that Python: `{py} -m pip install \"dlt[duckdb]==1.31.0\"` (dango runs dlt {SUPPORTED_DLT}), or point DANGO_PYTHON at a Python that has it",
            python.origin,
            s(err, "message")
        )),
        "dlt_version" => config(format!(
            "the Python at {py} ({}) has dlt {}, but dango's dlt_native supports dlt {SUPPORTED_DLT}. Install a supported dlt: `{py} -m pip install \"dlt[duckdb]==1.31.0\"`",
            python.origin,
            s(err, "version")
        )),
        "no_module" if cfg.verified_type.is_some() => config(format!(
            "type `{}` runs dlt's verified source `{}` ({}() from module `{}`), which is not in the project ({}). Get it with `dlt init {} duckdb` in {} (it creates {}/ and a requirements.txt), install its requirements into {py} (`{py} -m pip install -r requirements.txt`), and put its credentials in .dlt/secrets.toml under [sources.{}]",
            cfg.verified_type.as_deref().unwrap_or_default(),
            cfg.source_module,
            cfg.source_name,
            cfg.source_module,
            s(err, "message"),
            cfg.source_module,
            root.display(),
            cfg.source_module,
            cfg.source_module
        )),
        "no_module" => config(format!(
            "cannot import module `{}` ({}). dango imports it with {} and {} on sys.path; check `source_module` in .dango/sources.yml (for custom_sources/my_api.py write `custom_sources.my_api` or `my_api`)",
            cfg.source_module,
            s(err, "message"),
            root.display(),
            root.join("custom_sources").display()
        )),
        "no_function" => {
            let found: Vec<&str> = err
                .get("found")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let found = if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            };
            config(format!(
                "module `{}` ({}) has no function `{}`. @dlt.source / @dlt.resource functions found in it: {found}. Set `source_name` in the dlt_native block of .dango/sources.yml to one of them",
                cfg.source_module,
                s(err, "file"),
                cfg.source_name
            ))
        }
        _ => exception(source, cfg, secrets, err),
    }
}

/// A Python exception: type, message and the user's frames; a 401/403 is
/// [`Error::InvalidCredentials`]; a missing secret or config value is a config error.
fn exception(source: &str, cfg: &DltNativeConfig, secrets: &SecretSources, err: &Value) -> Error {
    let kind = s(err, "type");
    let message = crate::config::redact::redact(s(err, "message"));
    let names: Vec<String> = err
        .get("secrets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let status = err.get("http_status").and_then(Value::as_u64);
    if let Some(code @ (401 | 403)) = status {
        let first = names.first().cloned().unwrap_or_else(|| "api_key".into());
        return Error::InvalidCredentials(Box::new(CredentialsRejected {
            source_name: source.to_string(),
            request: format!("dlt source `{}`", cfg.source_name),
            status: code as u16,
            reason: if code == 401 {
                "Unauthorized"
            } else {
                "Forbidden"
            }
            .into(),
            url: crate::config::redact::redact(s(err, "url")),
            used: secrets.describe(&names),
            fix: format!(
                "Invalid credentials: check .dlt/secrets.toml: set `{first}` under [sources.{}] (or [sources.{}.{}]), or the environment variable SOURCES__{}__{}",
                cfg.source_name,
                cfg.module_section(),
                cfg.source_name,
                cfg.source_name.to_ascii_uppercase(),
                first.to_ascii_uppercase()
            ),
            response: None,
        }));
    }
    if kind.ends_with("ConfigFieldMissingException") {
        return Error::Config(format!(
            "source `{source}`: the dlt source `{}` is missing config or secret values. Put them in .dlt/secrets.toml under [sources.{}] (or the environment). dlt says: {message}",
            cfg.source_name, cfg.source_name
        ));
    }
    let mut reason = format!("Python raised {kind}: {message}");
    if let Some(frames) = err.get("frames").and_then(Value::as_array) {
        for f in frames {
            reason.push_str(&format!(
                "\n  at {}:{} in {}(): {}",
                s(f, "file"),
                f.get("line").and_then(Value::as_u64).unwrap_or(0),
                s(f, "function"),
                s(f, "code")
            ));
        }
    }
    reason.push_str("\nNothing was loaded and the incremental state did not move; fix the source and run `dango sync` again.");
    Error::Source {
        source_name: source.to_string(),
        reason,
    }
}

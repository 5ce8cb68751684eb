//! What `dango validate` and `dango source add --dlt-native` learn from a module without
//! running it: the runner imports it (with the interpreter lookup of a sync) and reports the
//! `@dlt.source` / `@dlt.resource` functions it holds, and for the configured function which
//! config and secret arguments dlt cannot resolve (and the keys it looked under). Nothing is
//! extracted; values are never reported.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{DltNativeConfig, errors, python};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::extract::CancelToken;

/// What the runner found in a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The `@dlt.source` functions.
    pub sources: Vec<String>,
    /// Every `@dlt.source` and `@dlt.resource` function.
    pub found: Vec<String>,
    /// The module's file, as Python imported it.
    pub file: Option<String>,
}

/// A scratch dir in the system's temp dir, removed when dropped (validate writes nothing into
/// the project).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("dango-dlt-check-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the runner with `extra` added to the request; returns its result, or the dango error
/// its error report maps to.
fn ask(
    source: &str,
    cfg: &DltNativeConfig,
    root: &Path,
    settings: &Settings,
    extra: Value,
) -> Result<Value> {
    let py = python::find_python(source, cfg.python.as_deref(), root, settings.env())?;
    let scratch = Scratch::new()?;
    let runner = scratch.0.join("dango_dlt_runner.py");
    crate::storage::write_atomic(&runner, python::RUNNER.as_bytes())?;
    let result_path = scratch.0.join("result.json");
    let mut req = json!({
        "result": result_path,
        "project_root": root,
        "module": cfg.source_module,
        "function": cfg.source_name,
        "kwargs": cfg.function_kwargs,
    });
    if let (Some(r), Value::Object(extra)) = (req.as_object_mut(), extra) {
        r.extend(extra);
    }
    let request = scratch.0.join("request.json");
    crate::storage::write_json(&request, &req)?;
    let env = super::dotenv_vars(settings.env());
    let ok = python::run_runner(source, &py, &runner, &request, &env, &CancelToken::new())?;
    let result = super::read_json_opt(&result_path)?;
    if let Some(err) = result.get("error") {
        let secrets = errors::SecretSources::new(settings, cfg);
        return Err(errors::to_error(source, cfg, &py, root, &secrets, err));
    }
    if !ok || result.get("ok") != Some(&Value::Bool(true)) {
        return Err(Error::Source {
            source_name: source.to_string(),
            reason: format!(
                "the Python child ({}, {}) ended without a result while importing `{}`; run `dango -v validate` to see its output",
                py.path.display(),
                py.origin,
                cfg.source_module
            ),
        });
    }
    Ok(result)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Imports `cfg.source_module` and lists its dlt functions (the function name is not checked).
pub fn discover(
    source: &str,
    cfg: &DltNativeConfig,
    root: &Path,
    settings: &Settings,
) -> Result<Discovered> {
    let r = ask(source, cfg, root, settings, json!({"discover": true}))?;
    Ok(Discovered {
        sources: strings(&r, "sources"),
        found: strings(&r, "found"),
        file: r.get("file").and_then(Value::as_str).map(str::to_string),
    })
}

/// `dango validate` of a dlt source: the module imports, the function exists, and dlt can
/// resolve every config and secret argument it takes (`function_kwargs` count as given).
/// Returns the line `validate` prints; a missing argument is an error naming it and where dlt
/// looked.
pub fn validate(
    source: &str,
    cfg: &DltNativeConfig,
    root: &Path,
    settings: &Settings,
) -> Result<String> {
    let r = ask(source, cfg, root, settings, json!({"describe": true}))?;
    let missing = r
        .get("missing")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let fields = strings(&r, "fields");
    if missing.is_empty() {
        let args = if fields.is_empty() {
            "it takes no config or secret arguments".to_string()
        } else {
            format!("dlt resolves its arguments ({})", fields.join(", "))
        };
        return Ok(format!(
            "{}.{}() imports; {args}",
            cfg.source_module, cfg.source_name
        ));
    }
    Err(Error::Config(missing_message(source, cfg, &r, &missing)))
}

/// "the dlt source needs `api_key` (secret): not found; dlt looked under ...; put it in ...".
fn missing_message(source: &str, cfg: &DltNativeConfig, r: &Value, missing: &[Value]) -> String {
    let sections = strings(r, "sections");
    let (module, function) = match sections.as_slice() {
        [_, m, f] => (m.clone(), f.clone()),
        _ => (cfg.module_section().to_string(), cfg.source_name.clone()),
    };
    let mut lines = vec![format!(
        "source `{source}`: the dlt source {}() cannot resolve {} argument(s); dlt would fail before extracting anything:",
        cfg.source_name,
        missing.len()
    )];
    for m in missing {
        let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
        let secret = m.get("secret").and_then(Value::as_bool) == Some(true);
        let tried: Vec<String> = m
            .get("tried")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        let t = t.as_array()?;
                        Some(format!(
                            "{} ({})",
                            t.get(1)?.as_str()?,
                            t.first()?.as_str()?
                        ))
                    })
                    .take(6)
                    .collect()
            })
            .unwrap_or_default();
        let (file, kind) = if secret {
            (".dlt/secrets.toml", "secret")
        } else {
            (".dlt/config.toml", "config value")
        };
        lines.push(format!(
            "`{name}` ({kind}) not found; dlt looked under {}, .... Put `{name} = \"...\"` under [sources.{function}] (or [sources.{module}]) in {file}, set SOURCES__{}__{}, or pass it in `function_kwargs`",
            tried.join(", "),
            function.to_ascii_uppercase(),
            name.to_ascii_uppercase()
        ));
    }
    lines.join("\n")
}

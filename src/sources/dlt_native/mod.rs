//! `type: dlt_native`: a user's own dlt source (`custom_sources/my_api.py` with
//! `@dlt.source` / `@dlt.resource`), run unchanged.
//!
//! dlt's own `pipeline.extract(source)` runs in a Python child (the embedded `runner.py`), in a
//! scratch pipelines dir seeded with dango's state of the source and its stored schema, so
//! every dlt semantic comes from dlt itself (secrets and config resolution, incremental
//! cursors, `resource_state()`, transformers, dynamic table names, `with_hints`, contracts
//! decided at extract, `add_limit`, Arrow and pandas items). The object items dlt's extract
//! hands to its item storage come to dango over a pipe while the child runs (`stream`),
//! instead of dlt's buffered, gzipped job files, and dango writes them into its own package as
//! they arrive; the pipe is bounded, so neither side holds more than a buffer. At the end dango
//! reads dlt's package (`package`): each root table becomes a declared table with the hints
//! dlt computed, Parquet jobs (Arrow items) are copied, and the source state dlt ends with
//! becomes the run's source state, committed with the data like every other source's.
//! Nothing of a failed run is kept: the scratch dir and dango's extracting package are
//! removed and the cursor does not move.
//!
//! Modules: `config` (the block), `python` (interpreter lookup, the child process), `stream`
//! (the child's item stream), `package` (reading dlt's package), `errors` (the runner's error
//! report as dango errors).

pub mod check;
mod config;
mod errors;
mod package;
pub mod python;
mod stream;
#[cfg(test)]
mod tests;
pub mod verified;

pub use config::DltNativeConfig;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use serde_norway::Value as Yaml;

use crate::config::Env;
use crate::error::{Error, Result};
use crate::extract::{ItemWriter, Resource};
use crate::sources::Source;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, missing_var_error,
    typed_block,
};
use crate::storage::ResourceHints;

/// The registry entry of `type: dlt_native`.
pub struct DltNativeType;

impl SourceType for DltNativeType {
    fn name(&self) -> &'static str {
        "dlt_native"
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<DltNativeConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Yaml, env: &Env) -> Result<Box<dyn SourceConfig>> {
        Ok(Box::new(parse_native(source, block, env)?))
    }

    fn write_disposition(&self, _block: Option<&Yaml>) -> String {
        "per resource".into()
    }
}

/// Dango's `pipeline_name` / `dataset_name` keys are accepted with their defaults only: dango
/// keys a source's pipeline dir (`.dlt/pipelines/<source>`), its state, history, drift baseline
/// and every `dango pipeline <source>` verb by the source's name, and loads it into
/// `raw_<source>`; another name would split one source over two pipelines.
fn check_names(source: &str, cfg: &DltNativeConfig) -> Result<()> {
    let lower = source.to_ascii_lowercase();
    let dataset = format!("raw_{lower}");
    let odd_pipeline = cfg
        .pipeline_name
        .as_deref()
        .filter(|p| !p.eq_ignore_ascii_case(source));
    let odd_dataset = cfg.dataset_name.as_deref().filter(|d| *d != dataset);
    if odd_pipeline.is_none() && odd_dataset.is_none() {
        return Ok(());
    }
    let what = match (odd_pipeline, odd_dataset) {
        (Some(p), Some(d)) => format!("pipeline_name `{p}` and dataset_name `{d}`"),
        (Some(p), None) => format!("pipeline_name `{p}`"),
        (None, Some(d)) => format!("dataset_name `{d}`"),
        (None, None) => String::new(),
    };
    let wanted = odd_dataset
        .and_then(|d| d.strip_prefix("raw_"))
        .or(odd_pipeline)
        .unwrap_or(source);
    Err(Error::Config(format!(
        "source `{source}`: dlt_native: {what} is not supported: dango names a source's pipeline after the source (`{lower}`: its state, history and `dango pipeline {lower} ...`) and loads it into dataset `{dataset}`. To load into `raw_{wanted}`, name the source `{wanted}` and remove pipeline_name / dataset_name from the block"
    )))
}

/// The `dlt_native` config of a source entry of type `ty` (`dlt_native` or one of Dango's API
/// types), `None` for other types.
pub fn dlt_config(
    ty: &str,
    source: &str,
    block: &Yaml,
    env: &Env,
) -> Option<Result<DltNativeConfig>> {
    if ty == "dlt_native" {
        return Some(parse_native(source, block, env));
    }
    verified::VERIFIED
        .iter()
        .find(|t| t.name == ty)
        .map(|t| t.config(source, block, env))
}

/// The `dlt_native:` block of `source`, `${VAR}` and `*_env` resolved.
fn parse_native(source: &str, block: &Yaml, env: &Env) -> Result<DltNativeConfig> {
    let mut cfg: DltNativeConfig = typed_block(block).map_err(|e| {
        Error::Config(format!(
            "source `{source}`: dlt_native: {e}. Fix it in .dango/sources.yml"
        ))
    })?;
    (cfg.function_kwargs, cfg.unset_env) = resolve_kwargs(source, &cfg.function_kwargs, env)?;
    check_names(source, &cfg)?;
    Ok(cfg)
}

/// The kwargs after [`resolve_kwargs`], and the `*_env` keys whose variable is not set.
type ResolvedKwargs = (
    std::collections::BTreeMap<String, Value>,
    Vec<(String, String)>,
);

/// `${VAR}` in the kwargs' strings, and Dango's `*_env` convention: `api_key_env: MY_KEY` passes
/// `api_key` = `$MY_KEY` (dropped when unset, so dlt resolves `api_key` from its secrets; the
/// unset ones are returned too).
pub(super) fn resolve_kwargs(
    source: &str,
    kwargs: &std::collections::BTreeMap<String, Value>,
    env: &Env,
) -> Result<ResolvedKwargs> {
    let mut out = std::collections::BTreeMap::new();
    let mut unset = Vec::new();
    let mut missing = Vec::new();
    for (k, v) in kwargs {
        if let Some(base) = k.strip_suffix("_env")
            && let Some(var) = v.as_str()
        {
            if let Some(val) = env.get(var) {
                if crate::config::redact::is_secret_key(base) {
                    crate::config::redact::register_secret(&val);
                }
                out.insert(base.to_string(), Value::String(val));
            } else {
                unset.push((k.clone(), var.to_string()));
            }
            continue;
        }
        let mut v = v.clone();
        crate::config::env::substitute_json(&mut v, env, Some(k), &mut missing);
        out.insert(k.clone(), v);
    }
    if let Some(var) = missing.first() {
        return Err(missing_var_error(source, var));
    }
    Ok((out, unset))
}

impl DltNativeConfig {
    /// The module's file, if it is a plain file or package under the project (for messages
    /// and `validate`; Python decides in the end).
    fn module_file(&self, root: &Path) -> Option<PathBuf> {
        let rel = self.source_module.replace('.', "/");
        [root.to_path_buf(), root.join("custom_sources")]
            .iter()
            .flat_map(|base| {
                [
                    base.join(format!("{rel}.py")),
                    base.join(&rel).join("__init__.py"),
                ]
            })
            .find(|p| p.is_file())
    }
}

impl SourceConfig for DltNativeConfig {
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan> {
        let python = python::find_python(
            source,
            self.python.as_deref(),
            cx.project_root,
            cx.settings.env(),
        )?;
        let file = self.module_file(cx.project_root);
        let file_text = file
            .as_ref()
            .map(|f| {
                f.strip_prefix(cx.project_root)
                    .unwrap_or(f)
                    .display()
                    .to_string()
            })
            .unwrap_or_else(|| "an installed module".into());
        let mut plan = Plan {
            summary: format!(
                "{}.{} ({file_text}) with {}",
                self.source_module,
                self.source_name,
                python.path.display()
            ),
            lines: vec![
                format!(
                    "dlt source {}() from module {} ({file_text})",
                    self.source_name, self.source_module
                ),
                format!("Python: {} ({})", python.path.display(), python.origin),
            ],
            ..Plan::default()
        };
        for (key, var) in &self.unset_env {
            let arg = key.strip_suffix("_env").unwrap_or(key);
            plan.lines.push(format!(
                "warning: `{key}` names {var}, which is not set: dlt will look for `{arg}` in .dlt/secrets.toml or the environment ([sources.{}] {arg} = ...); set {var} (or put it in .env) to pass it",
                self.module_section()
            ));
        }
        if !self.unset_env.is_empty() {
            plan.details.insert(
                "unset_env".into(),
                json!(
                    self.unset_env
                        .iter()
                        .map(|(k, v)| json!({"key": k, "variable": v}))
                        .collect::<Vec<_>>()
                ),
            );
        }
        plan.details
            .insert("module".into(), json!(self.source_module));
        plan.details
            .insert("function".into(), json!(self.source_name));
        plan.details.insert("python".into(), json!(python.path));
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        let python = python::find_python(
            source,
            self.python.as_deref(),
            cx.project_root,
            cx.settings.env(),
        )?;
        let r = DltNativeResource {
            hints: ResourceHints {
                name: self.source_name.clone(),
                table_name: self.source_name.clone(),
                ..ResourceHints::default()
            },
            cfg: self.clone(),
            pipeline: source.to_string(),
            root: cx.project_root.to_path_buf(),
            python,
            env: dotenv_vars(cx.settings.env()),
            secrets: errors::SecretSources::new(cx.settings, self),
        };
        Ok(Source::new(self.source_name.clone(), vec![Box::new(r)]))
    }
}

/// The `.env` variables the process environment does not set (the child sees them as dlt
/// would see exported variables).
pub(super) fn dotenv_vars(env: &Env) -> Vec<(String, String)> {
    let Some(path) = env.dotenv_path() else {
        return Vec::new();
    };
    let Ok(iter) = dotenvy::from_path_iter(path) else {
        return Vec::new();
    };
    iter.flatten()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect()
}

/// The whole dlt source as one dango resource: it runs dlt's extract and declares the tables
/// dlt wrote.
struct DltNativeResource {
    hints: ResourceHints,
    cfg: DltNativeConfig,
    pipeline: String,
    root: PathBuf,
    python: python::Interpreter,
    env: Vec<(String, String)>,
    secrets: errors::SecretSources,
}

impl Resource for DltNativeResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    /// Declared while extracting: dlt decides the tables (dynamic names, variants).
    fn tables(&self) -> Vec<ResourceHints> {
        Vec::new()
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        let work = self
            .root
            .join(".dlt")
            .join("pipelines")
            .join(&self.pipeline);
        let scratch_root = work.join("dlt_native");
        // A run killed earlier left its scratch dir: nothing in it was committed.
        let _ = std::fs::remove_dir_all(&scratch_root);
        let scratch = scratch_root.join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
        let result = self.run_in(&scratch, &work, out);
        let _ = std::fs::remove_dir_all(&scratch_root);
        result
    }
}

impl DltNativeResource {
    fn run_in(&self, scratch: &Path, work: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
        let runner = scratch.join("dango_dlt_runner.py");
        crate::storage::write_atomic(&runner, python::RUNNER.as_bytes())?;
        let request = scratch.join("request.json");
        let result_path = scratch.join("result.json");
        let pipelines_dir = scratch.join("pipelines");
        // A full refresh starts from a fresh schema (its marker is written before extract).
        let schema = if work.join("full_refresh.json").exists() {
            Value::Null
        } else {
            read_json_opt(
                &work
                    .join("schemas")
                    .join(format!("{}.schema.json", self.pipeline)),
            )?
        };
        let req = json!({
            "result": result_path,
            "project_root": self.root,
            "module": self.cfg.source_module,
            "function": self.cfg.source_name,
            "kwargs": self.cfg.function_kwargs,
            "pipeline_name": self.pipeline,
            "dataset_name": format!("raw_{}", self.pipeline),
            "pipelines_dir": pipelines_dir,
            "scratch_duckdb": scratch.join("unused.duckdb"),
            "limit": out.limit(),
            "resources": self.cfg.resources,
            "window": out.state().window().map(|w| json!({
                "since": w.since.map(|d| d.to_string()),
                "until": w.until.map(|d| d.to_string()),
            })),
            "source_state": Value::Object(out.state().doc()),
            "schema": schema,
            "stream_fd": python::STREAM_FD,
        });
        crate::storage::write_json(&request, &req)?;
        let (items, items_w) = std::io::pipe().map_err(|e| {
            Error::Internal(format!("cannot create a pipe for the Python child: {e}"))
        })?;
        let child = python::Child::spawn(
            &self.pipeline,
            &self.python,
            &runner,
            &request,
            &self.env,
            Some(items_w),
        )?;
        // dango writes the items while the child still extracts.
        let watcher = child.kill_on_cancel(out.cancel_token());
        let streamed = stream::read(items, out);
        if streamed.is_err() {
            child.kill();
        }
        let ok = child.wait(out.cancel_token(), std::time::Duration::from_millis(5));
        let _ = watcher.join();
        let ok = ok?;
        out.cancel_token().check()?;
        let result = read_json_opt(&result_path)?;
        if let Some(err) = result.get("error") {
            return Err(errors::to_error(
                &self.pipeline,
                &self.cfg,
                &self.python,
                &self.root,
                &self.secrets,
                err,
            ));
        }
        if !ok || result.get("ok") != Some(&Value::Bool(true)) {
            return Err(Error::Source {
                source_name: self.pipeline.clone(),
                reason: format!(
                    "the Python child ({}) ended without a result; see the log (.dlt/pipelines/{}/runtime.log) for its output",
                    self.python.path.display(),
                    self.pipeline
                ),
            });
        }
        let dlt_source = result
            .get("source_name")
            .and_then(Value::as_str)
            .unwrap_or(&self.cfg.source_name)
            .to_string();
        let windowed = result
            .get("windowed")
            .and_then(Value::as_array)
            .is_some_and(|w| !w.is_empty());
        if windowed {
            out.state().mark_window_used();
        }
        // The state dlt ends with, typed values as dlt wrote them; an ad-hoc window
        // (--since/--until) leaves the stored state as it was.
        let dlt_state = read_json_opt(&pipelines_dir.join(&self.pipeline).join("state.json"))?;
        if out.state().window().is_none()
            && let Some(Value::Object(doc)) =
                dlt_state.get("sources").and_then(|s| s.get(&dlt_source))
        {
            let doc = doc.clone();
            out.state().with_source(|s| *s = doc);
        }
        let streamed = streamed?;
        let pkg = result.get("package").and_then(Value::as_str).map(Path::new);
        finish_package(pkg, &streamed, out)
    }
}

/// Declares the tables of the run in the order and with the hints of the schema dlt ended
/// with (the package's `schema.json`): those that received streamed items and those with job
/// files in dlt's package (Parquet for Arrow items, an empty job for a `replace` table that got
/// nothing), whose items it then copies.
fn finish_package(
    dir: Option<&Path>,
    streamed: &stream::Streamed,
    out: &mut ItemWriter<'_>,
) -> Result<()> {
    let schema = match dir {
        Some(dir) => read_json_opt(&dir.join("schema.json"))?,
        None => Value::Null,
    };
    let empty = Map::new();
    let tables = schema
        .get("tables")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let jobs = match dir {
        Some(dir) => package::jobs(dir, tables)?,
        None => Vec::new(),
    };
    let used =
        |t: &str| streamed.tables.iter().any(|s| s == t) || jobs.iter().any(|j| j.table == t);
    let mut names: Vec<&str> = tables
        .keys()
        .map(String::as_str)
        .filter(|t| used(t))
        .collect();
    for t in streamed.tables.iter().chain(jobs.iter().map(|j| &j.table)) {
        if !names.contains(&t.as_str()) {
            names.push(t);
        }
    }
    for name in names {
        let t = tables
            .get(name)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        out.declare(&package::hints(name, t));
    }
    for job in &jobs {
        let mut w = out.sibling(&job.table);
        package::copy_job(job, &mut w)?;
        w.close()?;
    }
    Ok(())
}

/// Declares each root table of the dlt package and streams its jobs.
pub fn copy_package(dir: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
    let schema = read_json_opt(&dir.join("schema.json"))?;
    let empty = Map::new();
    let tables = schema
        .get("tables")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let jobs = package::jobs(dir, tables)?;
    let mut declared: Vec<String> = Vec::new();
    for job in &jobs {
        if !declared.contains(&job.table) {
            let t = tables
                .get(&job.table)
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            out.declare(&package::hints(&job.table, t));
            declared.push(job.table.clone());
        }
        let mut w = out.sibling(&job.table);
        package::copy_job(job, &mut w)?;
        w.close()?;
    }
    Ok(())
}

pub(super) fn read_json_opt(path: &Path) -> Result<Value> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(e) => Err(Error::io(path, e)),
    }
}

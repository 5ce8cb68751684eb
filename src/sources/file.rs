//! `.dango/sources.yml` in Dango's format.
//!
//! ```yaml
//! version: "1.0"
//! destination: postgres       # optional: duckdb (default), postgres, ...
//! sources:
//!   - name: orders            # [A-Za-z0-9_], used lower-cased
//!     type: local_files
//!     destination: duckdb     # optional: wins over the file's `destination:`
//!     enabled: true
//!     description: Orders export
//!     tags: [shop]
//!     local_files:            # exactly one block, named after the type
//!       directory: ${ORDERS_DIR}
//!       file_pattern: "*.jsonl"
//! ```
//!
//! Every problem is reported as `file:line:column: what is wrong` with the allowed keys or
//! values. In config blocks, a key ending in `_env` names an environment variable (also read
//! from the project's `.env`) whose value is passed as the key without the suffix; `${VAR}` is
//! substituted in strings.
//!
//! What a type's block holds and what it builds comes from the source registry
//! ([`crate::sources::registry`]); this module knows the entry around the block.

mod destination;
mod entry;
mod locate;

pub use locate::{Seg, locate};

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use serde_norway::Value;

use crate::config::env::{Env, substitute};
use crate::config::redact;
use crate::config::settings::{Settings, is_secret_key};
use crate::error::{Error, Result};
use crate::sources::registry::{SourceConfig, SourceType};
use crate::sources::types as registry;
use locate::item_lines;

/// Every source type Dango's sources.yml knows (the product's list; types registered in
/// [`registry::SOURCE_TYPES`] and missing here are known too, see [`known_types`]).
pub const DANGO_TYPES: &[&str] = &[
    "csv",
    "local_files",
    "rest_api",
    "dlt_native",
    "filesystem",
    "facebook_ads",
    "google_ads",
    "google_analytics",
    "google_sheets",
    "matomo",
    "mux",
    "airtable",
    "hubspot",
    "salesforce",
    "pipedrive",
    "freshdesk",
    "zendesk",
    "asana",
    "jira",
    "workable",
    "shopify",
    "stripe",
    "notion",
    "inbox",
    "mongodb",
    "postgres",
    "sql_database",
    "kafka",
    "kinesis",
    "github",
    "slack",
    "chess",
    "scrapy",
    "strapi",
    "personio",
];

/// Block keys Dango's sources.yml declares (with the registered types' keys: [`block_keys`]).
const BLOCK_KEYS: &[&str] = &[
    "local_files",
    "csv",
    "rest_api",
    "dlt_native",
    "generic_config",
];

/// Every type name an entry may have: [`DANGO_TYPES`], then registered types not in it.
pub fn known_types() -> Vec<&'static str> {
    let mut v = DANGO_TYPES.to_vec();
    v.extend(
        registry::names()
            .into_iter()
            .filter(|n| !DANGO_TYPES.contains(n)),
    );
    v
}

/// The names of the types this build can run (the registered ones).
pub fn supported_types() -> Vec<&'static str> {
    registry::names()
}

/// Every block key an entry may hold: Dango's, then registered keys not among them.
pub fn block_keys() -> Vec<&'static str> {
    let mut v = BLOCK_KEYS.to_vec();
    for t in registry::SOURCE_TYPES {
        if !v.contains(&t.block_key()) {
            v.push(t.block_key());
        }
    }
    v
}

/// The block key of a known type this build cannot run: the type itself for `csv` and
/// `dlt_native`, `generic_config` for the API types (stripe, hubspot, …).
fn unregistered_block_key(ty: &str) -> &'static str {
    match ty {
        "csv" => "csv",
        "dlt_native" => "dlt_native",
        _ => "generic_config",
    }
}

/// `.dango/sources.yml`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// Format version, `"1.0"`.
    pub version: Value,
    /// The destination type of every source without its own `destination:` (`duckdb` when
    /// not set; see [`SourcesFile::destination_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Declared sources.
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
}

/// One entry of `sources:` (unknown keys are rejected with the allowed ones).
#[derive(Debug, Clone, Serialize)]
pub struct SourceEntry {
    /// Source name: `[A-Za-z0-9_]`, used lower-cased as pipeline name and `raw_<name>` dataset.
    pub name: String,
    /// Source type, e.g. `local_files` (one of [`known_types`]).
    #[serde(rename = "type")]
    pub source_type: String,
    /// Whether `dango sync` runs it.
    pub enabled: bool,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The destination type of this source (wins over the file's `destination:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// `table_format` of this source's filesystem destination (wins over
    /// `[destination.filesystem] table_format`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_format: Option<String>,
    /// `file_format` of this source's filesystem destination (`parquet`: plain Parquet files;
    /// wins over `[destination.filesystem]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_format: Option<String>,
    /// Config blocks by key (one of [`block_keys`]), as written, in file order. A valid entry
    /// has exactly one: its type's ([`SourceEntry::block_key`]).
    #[serde(flatten)]
    pub blocks: IndexMap<String, Value>,
    /// Index in `sources:` (for messages).
    #[serde(skip)]
    pub index: usize,
    /// The file's `destination:`, which applies when the entry has none (set when the file is
    /// read; see [`SourceEntry::destination_type`]).
    #[serde(skip)]
    pub file_destination: Option<String>,
}

/// A config block after `*_env` keys and `${VAR}` substitution.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBlock {
    /// The block, with `x_env: VAR` replaced by `x: <value of VAR>` when VAR is set.
    pub block: Value,
    /// `(key, VAR)` of `*_env` keys whose variable is not set (the key was dropped; resolve it
    /// from secrets.toml / config with [`Settings::source_secret`]).
    pub unset_env: Vec<(String, String)>,
    /// Variables referenced as `${VAR}` that are not set.
    pub missing_vars: Vec<String>,
}

/// A problem found in sources.yml, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
    /// False for problems that only affect that source (a type this build cannot run yet):
    /// the other sources still sync.
    pub fatal: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

fn problems_error(problems: &[Problem]) -> Error {
    if problems.len() == 1 {
        return Error::Config(problems[0].to_string());
    }
    Error::Config(format!(
        "{} problem(s) in sources.yml:\n  {}",
        problems.len(),
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// A serde error as a problem of the whole file.
fn serde_problem(e: &serde_norway::Error, path: &Path) -> Problem {
    let msg = e.to_string();
    let re = regex::Regex::new(r"\s+at line \d+ column \d+$").ok();
    let msg = re
        .map(|re| re.replace(&msg, "").into_owned())
        .unwrap_or(msg);
    Problem {
        path: path.to_path_buf(),
        position: e.location().map(|l| (l.line(), l.column())),
        message: format!("{msg}. Fix it and run `dango validate`"),
        fatal: true,
    }
}

impl SourcesFile {
    /// Reads and checks the project's `.dango/sources.yml`.
    pub fn load(project: &crate::config::Project) -> Result<SourcesFile> {
        let path = project.sources_file();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        SourcesFile::parse(&text, &path)
    }

    /// Parses and checks the text of sources.yml (`path` is for messages). A source of a type
    /// this build cannot run is no error here: it fails on its own when synced.
    pub fn parse(text: &str, path: &Path) -> Result<SourcesFile> {
        let (file, problems) = Self::parse_with_problems(text, path);
        let fatal: Vec<Problem> = problems.into_iter().filter(|p| p.fatal).collect();
        match file {
            Some(f) if fatal.is_empty() => Ok(f),
            _ => Err(problems_error(&fatal)),
        }
    }

    /// Parses sources.yml and lists every problem (positions included) without stopping at the
    /// first; `None` when the file cannot be read as a whole.
    pub fn parse_with_problems(text: &str, path: &Path) -> (Option<SourcesFile>, Vec<Problem>) {
        let mut file: SourcesFile = match serde_norway::from_str(text) {
            Ok(f) => f,
            Err(e) => return (None, vec![serde_problem(&e, path)]),
        };
        // Blocks the registered types check as the file is read.
        for t in registry::SOURCE_TYPES {
            if let Some(e) = t.check_text(text) {
                return (None, vec![serde_problem(&e, path)]);
            }
        }
        let mut problems = Vec::new();
        let at = |segs: &[Seg<'_>], message: String| Problem {
            path: path.to_path_buf(),
            position: locate(text, segs),
            message,
            fatal: true,
        };
        let version_ok = match &file.version {
            Value::String(s) => s == "1.0",
            Value::Number(n) => n.as_f64() == Some(1.0),
            _ => false,
        };
        if !version_ok {
            problems.push(at(
                &[Seg::Key("version")],
                format!(
                    "unsupported version `{}`; allowed: \"1.0\"",
                    serde_norway::to_string(&file.version)
                        .unwrap_or_default()
                        .trim()
                ),
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        for (i, s) in file.sources.iter_mut().enumerate() {
            s.index = i;
            s.file_destination = file.destination.clone();
            let name_at = [Seg::Key("sources"), Seg::Index(i), Seg::Key("name")];
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                problems.push(at(
                    &name_at,
                    format!(
                        "source name `{}` is invalid: use letters, digits and `_` only (e.g. `{}`)",
                        s.name,
                        s.name
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                            .collect::<String>()
                    ),
                ));
            }
            let lower = s.name.to_ascii_lowercase();
            if seen.contains(&lower) {
                problems.push(at(
                    &name_at,
                    format!(
                        "source `{}` is declared twice; names must be unique (case-insensitive)",
                        s.name
                    ),
                ));
            }
            seen.push(lower);
            s.check_type(&at, &mut problems);
        }
        destination::check(&file, &at, &mut problems);
        (Some(file), problems)
    }

    /// Finds a source by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&SourceEntry> {
        self.sources
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Removes source `name` from the text of sources.yml, keeping everything else (comments
    /// included) as it was. Returns the new text.
    pub fn remove_from_text(text: &str, path: &Path, name: &str) -> Result<String> {
        let file = SourcesFile::parse(text, path)?;
        let entry = file.get(name).ok_or_else(|| {
            Error::Config(format!(
                "no source `{name}` in {}. Known sources: {}",
                path.display(),
                file.names_or_none()
            ))
        })?;
        let (start, end) = item_lines(text, entry.index).ok_or_else(|| {
            Error::Config(format!(
                "cannot find source `{name}` in the text of {}; edit the file by hand",
                path.display()
            ))
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let mut out: Vec<&str> = Vec::with_capacity(lines.len());
        out.extend(&lines[..start]);
        out.extend(&lines[end..]);
        let mut new_text = out.join("\n");
        new_text.push('\n');
        if file.sources.len() == 1 {
            // `sources:` with no items left: make it an explicit empty list.
            let re = regex::Regex::new(r"(?m)^sources:\s*$")
                .map_err(|e| Error::Internal(e.to_string()))?;
            new_text = re.replace(&new_text, "sources: []").into_owned();
        }
        let check = SourcesFile::parse(&new_text, path)?;
        if check.sources.len() + 1 != file.sources.len() {
            return Err(Error::Config(format!(
                "removing `{name}` from {} would change other sources; edit the file by hand",
                path.display()
            )));
        }
        Ok(new_text)
    }

    /// Names of the sources, comma-separated, or `(none)`.
    pub fn names_or_none(&self) -> String {
        if self.sources.is_empty() {
            "(none)".into()
        } else {
            self.sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

impl SourceEntry {
    /// Lower-cased name: the pipeline name.
    pub fn pipeline_name(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// The dataset (DuckDB schema): `raw_<name>`.
    pub fn dataset_name(&self) -> String {
        format!("raw_{}", self.pipeline_name())
    }

    /// The registered type of this entry (`None`: a type this build cannot run).
    pub fn source_type_entry(&self) -> Option<&'static dyn SourceType> {
        registry::find(&self.source_type)
    }

    /// The block key for the type: the registered type's ([`SourceType::block_key`]); for
    /// known types this build cannot run, the type itself for `csv` and `dlt_native` and
    /// `generic_config` for the API types.
    pub fn block_key(&self) -> &'static str {
        match self.source_type_entry() {
            Some(t) => t
                .alt_block_keys()
                .iter()
                .copied()
                .find(|k| !self.blocks.contains_key(t.block_key()) && self.blocks.contains_key(*k))
                .unwrap_or(t.block_key()),
            None => unregistered_block_key(&self.source_type),
        }
    }

    /// Checks the type and the blocks of the entry (at `self.index` in `sources:`).
    fn check_type(&self, at: &dyn Fn(&[Seg<'_>], String) -> Problem, problems: &mut Vec<Problem>) {
        let i = self.index;
        let ty = self.source_type.as_str();
        let type_at = [Seg::Key("sources"), Seg::Index(i), Seg::Key("type")];
        let known = known_types();
        if !known.contains(&ty) {
            problems.push(at(
                &type_at,
                format!("unknown source type `{ty}`; allowed: {}", known.join(", ")),
            ));
            return;
        }
        let want = self.block_key();
        for key in self.blocks.keys() {
            if key != want {
                problems.push(at(
                    &[Seg::Key("sources"), Seg::Index(i), Seg::Key(key)],
                    format!(
                        "source `{}` of type `{ty}` takes a `{want}:` block, not `{key}:`",
                        self.name
                    ),
                ));
            }
        }
        if self.block().is_none() {
            problems.push(at(
                &[Seg::Key("sources"), Seg::Index(i)],
                format!(
                    "source `{}` has type `{ty}` but no `{want}:` block; add one",
                    self.name
                ),
            ));
        }
        if self.source_type_entry().is_none() {
            let mut p = at(
                &type_at,
                format!(
                    "source type `{ty}` is not supported by this version of dango yet; supported: {}",
                    supported_types().join(", ")
                ),
            );
            p.fatal = false;
            problems.push(p);
        }
    }

    /// The type's block as written.
    pub fn block(&self) -> Option<Value> {
        self.blocks.get(self.block_key()).cloned()
    }

    /// The type's block with `*_env` keys and `${VAR}` resolved from `env`.
    pub fn resolved_block(&self, env: &Env) -> Option<ResolvedBlock> {
        let mut block = self.block()?;
        let mut unset_env = Vec::new();
        let mut missing_vars = Vec::new();
        resolve_value(&mut block, env, None, &mut unset_env, &mut missing_vars);
        Some(ResolvedBlock {
            block,
            unset_env,
            missing_vars,
        })
    }

    /// The type's block, fully resolved: `*_env` keys from the environment / `.env`, and those
    /// whose variable is unset from the settings along dlt's lookup chain
    /// (`sources.<type>.<name>.<key>`, …). Errors list what is missing and where to put it.
    pub fn resolve_config(&self, settings: &Settings) -> Result<Value> {
        let settings = &settings.clone().with_pipeline(self.pipeline_name());
        let problems = self.config_problems(settings);
        if let Some(e) = problems.into_iter().next() {
            return Err(e);
        }
        let Some(mut r) = self.resolved_block(settings.env()) else {
            return Err(Error::Config(format!(
                "source `{}` has no `{}:` block",
                self.name,
                self.block_key()
            )));
        };
        for (key, _) in &r.unset_env {
            let found = if is_secret_key(key) {
                self.secret(settings, key)?
            } else {
                settings.source_value(&self.source_type, &self.pipeline_name(), key)?
            };
            if let (Some(v), Value::Mapping(m)) = (found, &mut r.block) {
                m.insert(Value::String(key.clone()), Value::String(v.as_string()));
            }
        }
        Ok(r.block)
    }

    fn secret(&self, settings: &Settings, key: &str) -> Result<Option<crate::config::Resolved>> {
        settings.source_secret(&self.source_type, &self.pipeline_name(), key)
    }

    /// dlt's config sections of a dlt source's arguments (the module's section, the function),
    /// `None` for other types.
    fn dlt_sections(&self, env: &Env) -> Option<(String, String)> {
        let block = self.block().unwrap_or(Value::Null);
        let cfg =
            crate::sources::dlt_native::dlt_config(&self.source_type, &self.name, &block, env)?
                .ok()?;
        Some((cfg.module_section().to_string(), cfg.source_name.clone()))
    }

    /// Problems with the source's configuration: `${VAR}` not set, `*_env` variables unset and
    /// the key not found along the lookup chain, secrets placed in config.toml.
    pub fn config_problems(&self, settings: &Settings) -> Vec<Error> {
        let settings = &settings.clone().with_pipeline(self.pipeline_name());
        let mut out = Vec::new();
        let Some(r) = self.resolved_block(settings.env()) else {
            return out;
        };
        for var in &r.missing_vars {
            out.push(Error::Config(format!(
                "source `{}`: `${{{var}}}` is used in sources.yml but {var} is not set. Set it in the environment or in {}",
                self.name,
                settings
                    .env()
                    .dotenv_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the project's .env".into())
            )));
        }
        // A dlt source (`dlt_native`, Dango's API types) resolves an argument along dlt's
        // chain: the module's section, then the function's name.
        let (section, name) = self
            .dlt_sections(settings.env())
            .unwrap_or_else(|| (self.source_type.clone(), self.pipeline_name()));
        for (key, var) in &r.unset_env {
            let found = if is_secret_key(key) {
                settings.source_secret(&section, &name, key)
            } else {
                settings.source_value(&section, &name, key)
            };
            match found {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let mut traces = vec![crate::config::Trace {
                        provider: crate::config::Provider::Environment,
                        key: var.clone(),
                    }];
                    traces.extend(settings.source_lookup_trace(&section, &name, key));
                    out.push(settings.missing(&name, key, &traces, Some(var.as_str())));
                }
                Err(e) => out.push(e),
            }
        }
        out
    }

    /// Parses the config block of a registered type ([`SourceType::parse`]).
    pub fn config(&self, env: &Env) -> Result<Box<dyn SourceConfig>> {
        let ty = self.source_type.as_str();
        let Some(t) = self.source_type_entry() else {
            return Err(Error::Config(format!(
                "source `{}`: type `{ty}` is not supported by this version of dango yet; supported: {}",
                self.name,
                supported_types().join(", ")
            )));
        };
        let block = self.blocks.get(self.block_key()).ok_or_else(|| {
            Error::Config(format!(
                "source `{}` has type `{ty}` but no `{}:` block",
                self.name,
                t.block_key()
            ))
        })?;
        t.parse(&self.name, block, env)
    }

    /// The write disposition `dango source list` shows (`-` for types this build cannot run).
    pub fn write_disposition(&self) -> String {
        match self.source_type_entry() {
            Some(t) => t.write_disposition(self.blocks.get(self.block_key())),
            None => "-".into(),
        }
    }
}

pub use crate::sources::registry::missing_var_error;

fn resolve_value(
    v: &mut Value,
    env: &Env,
    key: Option<&str>,
    unset_env: &mut Vec<(String, String)>,
    missing_vars: &mut Vec<String>,
) {
    match v {
        Value::String(s) => {
            let (out, missing) = substitute(s, env);
            if out != *s && key.is_some_and(is_secret_key) {
                redact::register_secret(&out);
            }
            *s = out;
            missing_vars.extend(missing);
        }
        Value::Sequence(items) => {
            for item in items {
                resolve_value(item, env, key, unset_env, missing_vars);
            }
        }
        Value::Mapping(m) => {
            let keys: Vec<Value> = m.keys().cloned().collect();
            for k in keys {
                let Some(ks) = k.as_str().map(str::to_string) else {
                    continue;
                };
                if let Some(base) = ks.strip_suffix("_env")
                    && !base.is_empty()
                    && let Some(Value::String(var)) = m.get(&k).cloned()
                {
                    m.shift_remove(&k);
                    match env.get(&var) {
                        Some(val) => {
                            if is_secret_key(base) {
                                redact::register_secret(&val);
                            }
                            m.insert(Value::String(base.to_string()), Value::String(val));
                        }
                        None => unset_env.push((base.to_string(), var)),
                    }
                    continue;
                }
                if let Some(child) = m.get_mut(&k) {
                    resolve_value(child, env, Some(&ks), unset_env, missing_vars);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;

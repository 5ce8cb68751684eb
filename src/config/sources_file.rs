//! `.dango/sources.yml` in Dango's format.
//!
//! ```yaml
//! version: "1.0"
//! sources:
//!   - name: orders            # [A-Za-z0-9_], used lower-cased
//!     type: local_files
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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_norway::Value;

use crate::config::env::{Env, substitute};
use crate::config::redact;
use crate::config::settings::{Settings, is_secret_key};
use crate::error::{Error, Result};
use crate::sources::local_files::LocalFilesConfig;

/// Source types this build of dango can run.
pub const SUPPORTED_TYPES: &[&str] = &["local_files", "rest_api"];

/// Every source type Dango's sources.yml knows.
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

/// Block keys a source entry can hold.
const BLOCK_KEYS: &[&str] = &[
    "local_files",
    "csv",
    "rest_api",
    "dlt_native",
    "generic_config",
];

/// `.dango/sources.yml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// Format version, `"1.0"`.
    pub version: Value,
    /// Declared sources.
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
}

/// One entry of `sources:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// Source name: `[A-Za-z0-9_]`, used lower-cased as pipeline name and `raw_<name>` dataset.
    pub name: String,
    /// Source type, e.g. `local_files` (one of [`DANGO_TYPES`]).
    #[serde(rename = "type")]
    pub source_type: String,
    /// Whether `dango sync` runs it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `local_files` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_files: Option<LocalFilesConfig>,
    /// `csv` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<Value>,
    /// `rest_api` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api: Option<Value>,
    /// `dlt_native` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlt_native: Option<Value>,
    /// `generic_config` block of the API types (stripe, hubspot, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_config: Option<Value>,
    /// Index in `sources:` (for messages).
    #[serde(skip)]
    pub index: usize,
}

fn yes() -> bool {
    true
}

/// A source's parsed config block.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceConfig {
    /// `local_files`.
    LocalFiles(Box<LocalFilesConfig>),
    /// `rest_api`.
    RestApi(Box<crate::sources::rest_api::RestApiConfig>),
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

/// One step of a path into the YAML document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t == "---"
}

/// Finds the 1-based (line, column) of the node at `path` in block-style YAML `text`.
/// Returns the deepest position found when the full path does not exist.
pub fn locate(text: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // Scope: children start after line `from`, with indent > `parent` (or == for "- " items
    // under a key when `dash_equal`), and optionally an inline first child at (line, col).
    let mut from = 0usize;
    let mut parent: isize = -1;
    let mut dash_equal = false;
    let mut inline: Option<(usize, usize)> = None;
    let mut found: Option<(usize, usize)> = None;
    for seg in path {
        let mut children: Vec<(usize, usize)> = Vec::new();
        if let Some(p) = inline {
            children.push(p);
        }
        let mut level: Option<usize> = inline.map(|p| p.1);
        for (i, line) in lines.iter().enumerate().skip(from) {
            if is_blank(line) {
                continue;
            }
            let ind = indent_of(line);
            let dash = line[ind..].starts_with("- ") || line[ind..].trim_end() == "-";
            if (ind as isize) < parent || (ind as isize == parent && !(dash_equal && dash)) {
                break;
            }
            match level {
                None => {
                    level = Some(ind);
                    children.push((i, ind));
                }
                Some(l) if l == ind => children.push((i, ind)),
                Some(l) if ind < l => break,
                _ => {}
            }
        }
        match seg {
            Seg::Key(k) => {
                let Some(hit) = children.iter().copied().find(|&(l, c)| {
                    let rest = &lines[l][c..];
                    let rest = rest.trim_start_matches(['"', '\'']);
                    rest.strip_prefix(k).is_some_and(|r| {
                        let r = r.trim_start_matches(['"', '\'']);
                        r.starts_with(':')
                    })
                }) else {
                    break;
                };
                // Point at an inline value (as serde does), else at the key.
                let line = lines[hit.0];
                let value_col = line[hit.1..].find(':').map(|i| {
                    let after = &line[hit.1 + i + 1..];
                    (
                        hit.1 + i + 1 + (after.len() - after.trim_start().len()),
                        after.trim(),
                    )
                });
                found = match value_col {
                    Some((col, v)) if !v.is_empty() && !v.starts_with('#') => Some((hit.0, col)),
                    _ => Some(hit),
                };
                from = hit.0 + 1;
                parent = hit.1 as isize;
                dash_equal = true;
                inline = None;
            }
            Seg::Index(n) => {
                let items: Vec<(usize, usize)> = children
                    .iter()
                    .copied()
                    .filter(|&(l, c)| lines[l][c..].starts_with('-'))
                    .collect();
                let Some(&hit) = items.get(*n) else {
                    break;
                };
                let after = &lines[hit.0][hit.1 + 1..];
                let content = hit.1 + 1 + (after.len() - after.trim_start().len());
                found = Some((hit.0, content));
                from = hit.0 + 1;
                parent = hit.1 as isize;
                dash_equal = false;
                inline = if after.trim().is_empty() {
                    None
                } else {
                    Some((hit.0, content))
                };
            }
        }
    }
    found.map(|(l, c)| (l + 1, c + 1))
}

/// The lines (0-based, end exclusive) of item `index` of `sources:`.
fn item_lines(text: &str, index: usize) -> Option<(usize, usize)> {
    let (line, col) = locate(text, &[Seg::Key("sources"), Seg::Index(index)])?;
    let lines: Vec<&str> = text.lines().collect();
    let start = line - 1;
    let dash_col = lines[start][..col - 1].rfind('-')?;
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            let ind = indent_of(l);
            if ind <= dash_col {
                break;
            }
        }
        end += 1;
    }
    // Trailing blank/comment lines belong to what follows.
    while end > start + 1 && is_blank(lines[end - 1]) {
        end -= 1;
    }
    Some((start, end))
}

impl SourcesFile {
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
        let mut problems = Vec::new();
        let mut file: SourcesFile = match serde_norway::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let msg = e.to_string();
                let re = regex::Regex::new(r"\s+at line \d+ column \d+$").ok();
                let msg = re
                    .map(|re| re.replace(&msg, "").into_owned())
                    .unwrap_or(msg);
                problems.push(Problem {
                    path: path.to_path_buf(),
                    position: e.location().map(|l| (l.line(), l.column())),
                    message: format!("{msg}. Fix it and run `dango validate`"),
                    fatal: true,
                });
                return (None, problems);
            }
        };
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
            let ty = s.source_type.as_str();
            let type_at = [Seg::Key("sources"), Seg::Index(i), Seg::Key("type")];
            if !DANGO_TYPES.contains(&ty) {
                problems.push(at(
                    &type_at,
                    format!(
                        "unknown source type `{ty}`; allowed: {}",
                        DANGO_TYPES.join(", ")
                    ),
                ));
                continue;
            }
            let want = s.block_key();
            for key in BLOCK_KEYS {
                if *key != want && s.raw_block(key).is_some() {
                    problems.push(at(
                        &[Seg::Key("sources"), Seg::Index(i), Seg::Key(key)],
                        format!(
                            "source `{}` of type `{ty}` takes a `{want}:` block, not `{key}:`",
                            s.name
                        ),
                    ));
                }
            }
            if s.raw_block(want).is_none() {
                problems.push(at(
                    &[Seg::Key("sources"), Seg::Index(i)],
                    format!(
                        "source `{}` has type `{ty}` but no `{want}:` block; add one",
                        s.name
                    ),
                ));
            }
            if !SUPPORTED_TYPES.contains(&ty) {
                let mut p = at(
                    &type_at,
                    format!(
                        "source type `{ty}` is not supported by this version of dango yet; supported: {}",
                        SUPPORTED_TYPES.join(", ")
                    ),
                );
                p.fatal = false;
                problems.push(p);
            }
        }
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

    /// The block key for the type: the type itself for `local_files`, `csv`, `rest_api` and
    /// `dlt_native`, `generic_config` for the API types.
    pub fn block_key(&self) -> &'static str {
        match self.source_type.as_str() {
            "local_files" => "local_files",
            "csv" => "csv",
            "rest_api" => "rest_api",
            "dlt_native" => "dlt_native",
            _ => "generic_config",
        }
    }

    fn raw_block(&self, key: &str) -> Option<Value> {
        match key {
            "local_files" => self
                .local_files
                .as_ref()
                .and_then(|c| serde_norway::to_value(c).ok()),
            "csv" => self.csv.clone(),
            "rest_api" => self.rest_api.clone(),
            "dlt_native" => self.dlt_native.clone(),
            "generic_config" => self.generic_config.clone(),
            _ => None,
        }
    }

    /// The type's block as written.
    pub fn block(&self) -> Option<Value> {
        self.raw_block(self.block_key())
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
        for (key, var) in &r.unset_env {
            let name = self.pipeline_name();
            let found = if is_secret_key(key) {
                self.secret(settings, key)
            } else {
                settings.source_value(&self.source_type, &name, key)
            };
            match found {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let mut traces = vec![crate::config::Trace {
                        provider: crate::config::Provider::Environment,
                        key: var.clone(),
                    }];
                    traces.extend(settings.source_lookup_trace(&self.source_type, &name, key));
                    out.push(settings.missing(&name, key, &traces, Some(var.as_str())));
                }
                Err(e) => out.push(e),
            }
        }
        out
    }

    /// Parses the config block of a runnable type.
    pub fn config(&self, env: &Env) -> Result<SourceConfig> {
        let ty = self.source_type.as_str();
        match (ty, &self.local_files) {
            ("local_files", Some(cfg)) => {
                let mut cfg = cfg.clone();
                let mut missing = Vec::new();
                for s in [&mut cfg.directory, &mut cfg.file_pattern] {
                    let (v, m) = substitute(s, env);
                    *s = v;
                    missing.extend(m);
                }
                if let Some(t) = cfg.table_name.as_mut() {
                    let (v, m) = substitute(t, env);
                    *t = v;
                    missing.extend(m);
                }
                if let Some(var) = missing.first() {
                    return Err(Error::Config(format!(
                        "source `{}`: `${{{var}}}` is used in sources.yml but {var} is not set. Set it in the environment or the project's .env",
                        self.name
                    )));
                }
                Ok(SourceConfig::LocalFiles(Box::new(cfg)))
            }
            // `${VAR}` is substituted here; the REST source resolves its own `*_env` keys and
            // secrets (dlt's rest_api lookup chain through `Settings`).
            ("rest_api", _) => {
                let block = self.rest_api.clone().ok_or_else(|| {
                    Error::Config(format!(
                        "source `{}` has type `rest_api` but no `rest_api:` block",
                        self.name
                    ))
                })?;
                let mut missing = Vec::new();
                let block = serde_json::to_value(&block)
                    .map(|mut v| {
                        crate::config::env::substitute_json(&mut v, env, None, &mut missing);
                        v
                    })
                    .map_err(|e| Error::Config(e.to_string()))?;
                if let Some(var) = missing.first() {
                    return Err(Error::Config(format!(
                        "source `{}`: `${{{var}}}` is used in sources.yml but {var} is not set. Set it in the environment or the project's .env",
                        self.name
                    )));
                }
                crate::sources::rest_api::RestApiConfig::from_value(&block)
                    .map(|c| SourceConfig::RestApi(Box::new(c)))
                    .map_err(|e| Error::Config(format!("source `{}`: {e}", self.name)))
            }
            _ => Err(Error::Config(format!(
                "source `{}`: type `{ty}` is not supported by this version of dango yet; supported: {}",
                self.name,
                SUPPORTED_TYPES.join(", ")
            ))),
        }
    }
}

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

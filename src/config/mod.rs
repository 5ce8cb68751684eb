//! Project configuration: the project layout and `.dango/sources.yml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::sources::local_files::LocalFilesConfig;
use crate::sources::rest_api::RestApiConfig;

/// Source types this build of dango can run.
pub const SUPPORTED_TYPES: &[&str] = &["local_files", "rest_api"];

/// A dango project rooted at a directory.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// The project at `root` (not checked).
    pub fn new(root: impl Into<PathBuf>) -> Project {
        Project { root: root.into() }
    }

    /// Finds the project: `dir` itself or the nearest parent holding `.dango/sources.yml`.
    pub fn discover(dir: &Path) -> Result<Project> {
        let start = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut cur: Option<&Path> = Some(&start);
        while let Some(d) = cur {
            if d.join(".dango").join("sources.yml").is_file() {
                return Ok(Project::new(d));
            }
            cur = d.parent();
        }
        Err(Error::Config(format!(
            "{} is not inside a dango project (no .dango/sources.yml found). Run `dango init` to create one, or pass `-p DIR`",
            dir.display()
        )))
    }

    /// Project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.dango/sources.yml`.
    pub fn sources_file(&self) -> PathBuf {
        self.root.join(".dango").join("sources.yml")
    }

    /// `data/warehouse.duckdb`.
    pub fn warehouse(&self) -> PathBuf {
        self.root.join("data").join("warehouse.duckdb")
    }

    /// `.dlt/pipelines/<name>/`: project-local, never `~/.dlt`.
    pub fn pipeline_dir(&self, name: &str) -> PathBuf {
        self.root.join(".dlt").join("pipelines").join(name)
    }

    /// Names of pipelines that have a working dir.
    pub fn pipeline_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(".dlt").join("pipelines"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A `[section] key` setting as dlt resolves it: the environment variable
    /// `SECTION__KEY` first, then `.dlt/secrets.toml`, then `.dlt/config.toml`.
    pub fn setting(&self, section: &str, key: &str) -> Result<Option<String>> {
        let env = format!(
            "{}__{}",
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        );
        if let Ok(v) = std::env::var(&env) {
            return Ok(Some(v));
        }
        for file in ["secrets.toml", "config.toml"] {
            let path = self.root.join(".dlt").join(file);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, e)),
            };
            let doc: toml::Table = text
                .parse()
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            if let Some(v) = doc.get(section).and_then(|s| s.get(key)) {
                return Ok(Some(match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }));
            }
        }
        Ok(None)
    }

    /// `[normalize] workers` (0 = one per core).
    pub fn normalize_workers(&self) -> Result<usize> {
        match self.setting("normalize", "workers")? {
            None => Ok(0),
            Some(v) => v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "[normalize] workers must be a whole number, got `{v}` (set it in .dlt/config.toml or NORMALIZE__WORKERS)"
                ))
            }),
        }
    }

    /// Reads and checks `.dango/sources.yml`.
    pub fn sources(&self) -> Result<SourcesFile> {
        let path = self.sources_file();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        SourcesFile::parse(&text, &path)
    }
}

/// `.dango/sources.yml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// Format version, `"1.0"`.
    pub version: String,
    /// Declared sources.
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
}

/// One entry of `sources:`.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceEntry {
    /// Source name: `[A-Za-z0-9_]`, used lower-cased as pipeline name and `raw_<name>` dataset.
    pub name: String,
    /// Source type, e.g. `local_files`.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Whether `dango sync` runs it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Free tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The type's config block (exactly one, named after the type).
    #[serde(flatten)]
    pub blocks: BTreeMap<String, serde_norway::Value>,
}

fn yes() -> bool {
    true
}

/// A source's parsed config block.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// `local_files`.
    LocalFiles(LocalFilesConfig),
    /// `rest_api`.
    RestApi(Box<RestApiConfig>),
}

impl SourcesFile {
    /// Parses and validates the text of sources.yml (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<SourcesFile> {
        let file: SourcesFile = serde_norway::from_str(text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let mut problems = Vec::new();
        if file.version != "1.0" {
            problems.push(format!(
                "unsupported version `{}`; use version: \"1.0\"",
                file.version
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &file.sources {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                problems.push(format!(
                    "source name `{}` is invalid: use letters, digits and `_` only",
                    s.name
                ));
            }
            if !seen.insert(s.name.to_ascii_lowercase()) {
                problems.push(format!("source `{}` is declared twice", s.name));
            }
            if let Err(e) = s.config() {
                problems.push(e.to_string());
            }
        }
        if !problems.is_empty() {
            return Err(Error::Config(format!(
                "{} has {} problem(s):\n  - {}",
                path.display(),
                problems.len(),
                problems.join("\n  - ")
            )));
        }
        Ok(file)
    }

    /// Finds a source by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&SourceEntry> {
        self.sources
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
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

    /// Parses the config block.
    pub fn config(&self) -> Result<SourceConfig> {
        let ty = self.source_type.as_str();
        let others: Vec<&String> = self.blocks.keys().filter(|k| k.as_str() != ty).collect();
        if !others.is_empty() {
            return Err(Error::Config(format!(
                "source `{}`: unknown key(s) {}; a `{ty}` source takes name, type, enabled, description, tags and one `{ty}:` block",
                self.name,
                others
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !SUPPORTED_TYPES.contains(&ty) {
            return Err(Error::Config(format!(
                "source `{}`: type `{ty}` is not supported; supported types: {}",
                self.name,
                SUPPORTED_TYPES.join(", ")
            )));
        }
        let block = self.blocks.get(ty).cloned().ok_or_else(|| {
            Error::Config(format!(
                "source `{}` has type `{ty}` but no `{ty}:` block",
                self.name
            ))
        })?;
        match ty {
            "local_files" => serde_norway::from_value::<LocalFilesConfig>(block)
                .map(SourceConfig::LocalFiles)
                .map_err(|e| {
                    Error::Config(format!(
                        "source `{}`: invalid `local_files` block: {e}",
                        self.name
                    ))
                }),
            "rest_api" => serde_json::to_value(&block)
                .map_err(|e| Error::Config(e.to_string()))
                .and_then(|v| RestApiConfig::from_value(&v))
                .map(|c| SourceConfig::RestApi(Box::new(c)))
                .map_err(|e| Error::Config(format!("source `{}`: {e}", self.name))),
            _ => Err(Error::Config(format!(
                "source type `{ty}` is not supported"
            ))),
        }
    }
}

/// Text of a new, empty sources.yml.
pub const EMPTY_SOURCES_YML: &str = "version: \"1.0\"\nsources: []\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_files() {
        let text = "version: \"1.0\"\nsources:\n  - name: Orders\n    type: local_files\n    local_files:\n      directory: data\n      file_pattern: \"*.jsonl\"\n";
        let f = SourcesFile::parse(text, Path::new("s.yml")).unwrap();
        assert_eq!(f.sources[0].pipeline_name(), "orders");
        assert_eq!(f.sources[0].dataset_name(), "raw_orders");
        assert!(matches!(
            f.sources[0].config().unwrap(),
            SourceConfig::LocalFiles(_)
        ));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_names() {
        let text = "version: \"1.0\"\nsources:\n  - name: a-b\n    type: local_files\n    local_files:\n      directory: d\n      pattern: x\n";
        let err = SourcesFile::parse(text, Path::new("s.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a-b"), "{err}");
        assert!(err.contains("pattern"), "{err}");
        let text = "version: \"1.0\"\nsourcez: []\n";
        let err = SourcesFile::parse(text, Path::new("s.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sourcez") && err.contains("line"), "{err}");
    }
}

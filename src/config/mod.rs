//! Project configuration: the project layout (the sources it declares are read by
//! [`crate::sources::SourcesFile`]), and
//! dlt's config and secrets resolution ([`settings`]: env > secrets.toml > config.toml,
//! project `.dlt/` before the global dir, `.env` loaded).

pub mod env;
pub mod redact;
pub mod settings;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use env::Env;
pub use settings::{
    ExtractSettings, LoadSettings, LogFormat, NormalizeSettings, Provider, Resolved,
    RuntimeSettings, Settings, Trace,
};

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

    /// The warehouse file: the one dlt's DuckDB credentials string names
    /// (`[destination.duckdb] credentials = "data/warehouse.duckdb"` in `.dlt/secrets.toml`,
    /// which `dango init` writes), else `data/warehouse.duckdb`. Unreadable settings give the
    /// default here; a sync reports them.
    pub fn warehouse(&self) -> PathBuf {
        self.settings()
            .ok()
            .and_then(|s| s.duckdb_database(&self.root).ok().flatten())
            .unwrap_or_else(|| self.default_warehouse())
    }

    /// `data/warehouse.duckdb`, the warehouse when no credentials name another file.
    pub fn default_warehouse(&self) -> PathBuf {
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

    /// The project's settings: environment (and `.env`), `.dlt/secrets.toml`,
    /// `.dlt/config.toml`, then the global dlt dir.
    pub fn settings(&self) -> Result<Settings> {
        Settings::load(&self.root)
    }

    /// One `[section] key` setting as dlt resolves it (environment `SECTION__KEY`, then
    /// secrets.toml, then config.toml, project before global), as text.
    pub fn setting(&self, section: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .settings()?
            .get(&[section], key)?
            .map(|r| r.as_string()))
    }

    /// `.dlt/pipelines/<name>/runtime.log`.
    pub fn runtime_log(&self, name: &str) -> PathBuf {
        self.pipeline_dir(name).join("runtime.log")
    }
}

/// Text of a new, empty sources.yml.
pub const EMPTY_SOURCES_YML: &str = "version: \"1.0\"\nsources: []\n";

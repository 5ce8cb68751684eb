//! The `dlt_native:` block of a source in `.dango/sources.yml`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A user's own dlt source (a Python module with a `@dlt.source` function), run unchanged with
/// dlt's own extract.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DltNativeConfig {
    /// The module, imported with the project root and `custom_sources/` on `sys.path`:
    /// `custom_sources.my_api` or `my_api`.
    pub source_module: String,
    /// The `@dlt.source` (or `@dlt.resource`) function in the module. Dango's
    /// `source_function` is the same key.
    #[serde(alias = "source_function")]
    pub source_name: String,
    /// Keyword arguments passed to the function. `${VAR}` is substituted; a key ending in
    /// `_env` names an environment variable whose value is passed under the key without the
    /// suffix (dropped when unset, so dlt resolves it from `.dlt/secrets.toml`).
    #[serde(default)]
    pub function_kwargs: BTreeMap<String, serde_json::Value>,
    /// The Python interpreter (after `DANGO_PYTHON`, before the project's `.venv/bin/python`
    /// and `python3` on PATH). Relative paths are taken from the project root.
    #[serde(default)]
    pub python: Option<String>,
    /// Dango's pipeline name: accepted when it is the source's name (the default; dango keys
    /// every pipeline by its source's name).
    #[serde(default)]
    pub pipeline_name: Option<String>,
    /// Dango's dataset name: accepted when it is `raw_<source name>` (the default; dango loads
    /// each source into `raw_<source name>`).
    #[serde(default)]
    pub dataset_name: Option<String>,
    /// Only these resources of the source are extracted (dlt's `with_resources`); all of the
    /// selected ones by default.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Set for Dango's API types (`stripe`, ...): the type whose dlt verified source this runs
    /// (errors say how to get the module). Not a key of the block.
    #[serde(skip)]
    pub verified_type: Option<String>,
    /// The `*_env` keys of the block whose variable is not set (`(key, variable)`): their
    /// argument is left to dlt's secrets resolution; `dango sync --dry-run` names them. Not a
    /// key of the block.
    #[serde(skip)]
    pub unset_env: Vec<(String, String)>,
}

impl DltNativeConfig {
    /// The last component of the module path: dlt's config section of the source
    /// (`sources.<module>.<function>.<key>`).
    pub fn module_section(&self) -> &str {
        self.source_module
            .rsplit('.')
            .next()
            .unwrap_or(&self.source_module)
    }
}

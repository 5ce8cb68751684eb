//! Which destination a pipeline loads into, for reading and maintenance: decided from the
//! project's sources.yml and the pipeline's local state, above the destinations themselves
//! (which know neither).

use std::sync::Arc;

use crate::destinations::DestinationFactory;
use crate::error::Result;

/// The destination type pipeline `name` loads into: its source's `destination:` in
/// sources.yml, else the type its local `state.json` records (a source removed from the
/// file), else `duckdb`.
pub fn pipeline_destination_type(project: &crate::config::Project, name: &str) -> String {
    if let Ok(file) = crate::sources::SourcesFile::load(project)
        && let Some(entry) = file.get(name)
    {
        return entry.destination_type().to_string();
    }
    let state = project
        .pipeline_dir(&name.to_ascii_lowercase())
        .join("state.json");
    crate::state::PipelineState::load(&state)
        .ok()
        .flatten()
        .and_then(|s| {
            s.doc()
                .get("destination_type")
                .and_then(|v| v.as_str())
                .map(|t| t.trim_start_matches("dlt.destinations.").to_string())
        })
        .filter(|t| crate::destinations::names().contains(&t.as_str()))
        .unwrap_or_else(|| "duckdb".into())
}

/// The destination pipeline `name` loads into ([`pipeline_destination_type`]), for reading
/// and maintenance (`dango pipeline …`, state restore). DuckDB is opened with default options,
/// as in [`crate::destinations::for_inspection`]; other types read their settings (credentials) from the
/// project's settings.
pub fn for_pipeline(
    project: &crate::config::Project,
    name: &str,
) -> Result<Arc<dyn DestinationFactory>> {
    match pipeline_destination_type(project, name).as_str() {
        "duckdb" => Ok(crate::destinations::for_inspection(project)),
        kind => {
            // The source's own settings (a filesystem source's `file_format`) win.
            let entry = crate::sources::SourcesFile::load(project)
                .ok()
                .and_then(|f| f.get(name).map(|e| e.destination_settings()))
                .unwrap_or_default();
            crate::destinations::configured_for_entry(kind, &entry, project, &project.settings()?)
        }
    }
}

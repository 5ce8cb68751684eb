//! Packages dlt left pending in the shared working dir (`pipeline.extract()` without a load,
//! or a dlt run killed after its extract): dlt would normalize and load them on the next run,
//! and so does dango.
//!
//! An extracted package of dlt (`normalize/extracted/<load_id>/` with dlt's layout: `new_jobs/`
//! of `typed-jsonl.gz` or Parquet, `schema.json`, `load_package_state.json`, no dango
//! `package.json`) is read by the `dlt_native` source's reader into a new dango extracted
//! package, with the pipeline state dlt extracted with it; the dlt folder then goes. The
//! package is then normalized and loaded like any pending one ([`super::resume`]).
//!
//! Crash safety: the new package's load id is written into the dlt folder
//! (`dango_adopted.json`) before the new package is published, and the dlt folder is removed
//! after. A run that finds the marker and the package it names drops the dlt folder without
//! reading it again; a marker without its package (the run died before publishing) is read
//! again.
//!
//! A package dlt already normalized (`load/normalized/<load_id>/` without `package.json`)
//! holds dlt's load files, which dango does not load: the run stops with a message naming the
//! package and how to finish or discard it.

use std::path::Path;

use serde_json::Value;

use super::Pipeline;
use crate::error::{Error, Result};
use crate::extract::PackageWriter;
use crate::state::PipelineState;
use crate::storage::dlt_files::LOAD_PACKAGE_STATE_FILE;

/// The marker in a dlt package folder naming the dango package made from it.
const ADOPTED_FILE: &str = "dango_adopted.json";

/// Whether a package folder is one dlt wrote (dango's packages have a `package.json`).
fn is_dlt_package(dir: &Path) -> bool {
    !dir.join("package.json").exists()
}

/// The pipeline state dlt extracted with its package (`pipeline_state.state` of
/// `load_package_state.json`, zlib + base64), if it has one.
fn dlt_package_state(dir: &Path) -> Result<Option<PipelineState>> {
    let path = dir.join(LOAD_PACKAGE_STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    match doc
        .get("pipeline_state")
        .and_then(|s| s.get("state"))
        .and_then(Value::as_str)
    {
        Some(text) => PipelineState::decompress(text).map(Some),
        None => Ok(None),
    }
}

impl Pipeline {
    /// Turns the extracted packages dlt left into dango packages; refuses dlt's normalized
    /// ones (see the module docs).
    pub(super) fn adopt_dlt_packages(&self) -> Result<()> {
        for id in self.dir.list("load/normalized")? {
            let path = self.dir.normalized(&id);
            if is_dlt_package(&path) {
                return Err(Error::Config(format!(
                    "pipeline `{name}` has a package dlt normalized but did not load: {id} ({path}). dango does not load dlt's normalized files. \
                     Finish it with dlt (`dlt.attach(\"{name}\", pipelines_dir=\".dlt/pipelines\").load()` in Python), \
                     or discard it: `dango pipeline {name} abort-packages` (dlt: `dlt pipeline --pipelines-dir .dlt/pipelines {name} drop-pending-packages`), \
                     then run dango again",
                    name = self.name,
                    path = path.display(),
                )));
            }
        }
        for id in self.dir.list("normalize/extracted")? {
            let dlt_dir = self.dir.extracted(&id);
            if !is_dlt_package(&dlt_dir) {
                continue;
            }
            let adopted: Option<String> =
                crate::storage::read_json(&dlt_dir.join(ADOPTED_FILE)).ok();
            if let Some(new_id) = adopted
                && [
                    self.dir.extracted(&new_id),
                    self.dir.normalized(&new_id),
                    self.dir.loaded(&new_id),
                ]
                .iter()
                .any(|p| p.exists())
            {
                std::fs::remove_dir_all(&dlt_dir).map_err(|e| Error::io(&dlt_dir, e))?;
                continue;
            }
            tracing::info!(load_id = %id, "Taking over a package dlt extracted but did not load.");
            self.adopt_extracted(&dlt_dir)
                .map_err(|e| e.in_step(&self.name, "extract", Some(&id)))?;
        }
        Ok(())
    }

    /// One dlt extracted package into a new dango one (published), the dlt folder removed.
    fn adopt_extracted(&self, dlt_dir: &Path) -> Result<()> {
        let writer = PackageWriter::new(&self.dir, &self.name)?;
        let copied = {
            // Undeclared: the package's tables are declared as their jobs are copied.
            let mut out = writer.writer("dlt package");
            crate::sources::dlt_native::copy_package(dlt_dir, &mut out)
        };
        let published = copied
            .and_then(|_| match dlt_package_state(dlt_dir)? {
                Some(state) => writer.attach_pipeline_state(&state),
                None => Ok(()),
            })
            .and_then(|_| {
                crate::storage::write_json(&dlt_dir.join(ADOPTED_FILE), &writer.load_id())
            });
        if let Err(e) = published {
            writer.abort();
            return Err(e);
        }
        let load_id = writer.finish()?;
        tracing::info!(load_id = %load_id, "dlt's package is pending as a dango package.");
        std::fs::remove_dir_all(dlt_dir).map_err(|e| Error::io(dlt_dir, e))
    }
}

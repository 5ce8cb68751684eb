//! A normalize that starts while its package is still being extracted: [`Early::arrow_job`]
//! normalizes each Arrow job file as soon as extract closes it (and hands the output to the
//! load, see [`super::JobSink`]); [`Early::finish`] normalizes the rest once the package is
//! extracted and publishes the normalized package, as [`super::normalize_package`] does.
//!
//! Only jobs of the package's first resource are taken early, in the order extract closes
//! them, so the schema grows in the same order as when the whole package is normalized at
//! once (the jobs of later resources wait for the complete package).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::arrow_items::{self, Normalized};
use super::relational::{RootIdKind, TableSettings};
use super::writer::JobWriters;
use super::{JobSink, NormalizeConfig, NormalizeInfo, contract, prepare};
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::storage::{ExtractedJob, ExtractedManifest, PipelineDir, ResourceHints};

/// A package being normalized (see the module docs).
pub struct Early<'s> {
    /// The folder the normalized package is written to.
    pub(super) out: PathBuf,
    pub(super) writers: JobWriters<'s>,
    /// What the Arrow jobs normalized so far produced.
    pub(super) done: Normalized,
    /// Extracted job files normalized so far.
    pub(super) processed: HashSet<String>,
    load_id: String,
    resources: Vec<ResourceHints>,
    settings: HashMap<String, TableSettings>,
}

impl<'s> Early<'s> {
    /// Starts normalizing package `load_id` of `dir` for `resources` (which it declares in
    /// `schema`), handing job files to `sink`.
    pub fn start(
        dir: &PipelineDir,
        load_id: &str,
        schema: &mut Schema,
        cfg: &NormalizeConfig,
        resources: &[ResourceHints],
        sink: Option<JobSink<'s>>,
    ) -> Result<Early<'s>> {
        let out = dir.normalizing(load_id);
        if out.exists() {
            std::fs::remove_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        }
        crate::storage::jobs::create_folders(&out)?;
        let settings = prepare(schema, resources, cfg.naming);
        let mut writers = JobWriters::new(out.join("new_jobs"));
        if let Some(sink) = sink {
            writers.set_sink(sink);
        }
        Ok(Early {
            out,
            writers,
            done: Normalized::default(),
            processed: HashSet::new(),
            load_id: load_id.to_string(),
            resources: resources.to_vec(),
            settings,
        })
    }

    /// Whether `job` is one [`Early::arrow_job`] takes: an Arrow job of the first resource.
    pub fn takes(&self, job: &ExtractedJob) -> bool {
        !job.format.is_jsonl()
            && self
                .resources
                .first()
                .is_some_and(|r| r.name == job.resource)
    }

    /// Normalizes the closed Arrow job `job` (its file at `path`) into `schema` now. Jobs
    /// [`Early::takes`] refuses are left for [`Early::finish`].
    pub fn arrow_job(
        &mut self,
        schema: &mut Schema,
        cfg: &NormalizeConfig,
        job: &ExtractedJob,
        path: &Path,
    ) -> Result<()> {
        if !self.takes(job) {
            return Ok(());
        }
        let settings = self
            .settings
            .get(&job.resource)
            .cloned()
            .unwrap_or(TableSettings {
                root_table: cfg.naming.normalize_tables_path(&job.resource),
                max_nesting: 1000,
                propagate_root_id: false,
                root_id: RootIdKind::Random,
                naming: cfg.naming,
            });
        let contract = contract::resource_contract(&self.resources, &job.resource, cfg)?;
        let manifest = ExtractedManifest {
            load_id: self.load_id.clone(),
            created_at: String::new(),
            schema_name: schema.name.clone(),
            resources: self.resources.clone(),
            jobs: vec![job.clone()],
        };
        let pkg = arrow_items::Package {
            manifest: &manifest,
            paths: &[path.to_path_buf()],
            settings: &[settings],
            contracts: &[contract],
            load_id: &self.load_id,
            cfg,
            out: self.out.join("new_jobs"),
        };
        let none = |_: &str| false;
        let done = pkg.normalize(schema, &mut self.writers, &none)?;
        // The Arrow path writes its own files: they go to the load too, and so do the dict
        // path's files of this job.
        for j in &done.jobs {
            self.writers.hand_over(j, schema);
        }
        self.writers.close_open(schema)?;
        self.done = std::mem::take(&mut self.done).with_later(done);
        self.processed.insert(job.file.clone());
        Ok(())
    }

    /// Normalizes the rest of the (now extracted) package and publishes it, as
    /// [`super::normalize_package`].
    pub fn finish(
        self,
        dir: &PipelineDir,
        schema: &mut Schema,
        cfg: &NormalizeConfig,
    ) -> Result<NormalizeInfo> {
        let load_id = self.load_id.clone();
        super::normalize_rest(dir, &load_id, schema, cfg, self)
    }

    /// Throws the partial output away (the package was not extracted after all).
    pub fn abort(self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

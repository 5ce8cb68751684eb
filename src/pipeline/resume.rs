//! Crash-resume: how a run that died at any point is finished by the next one.
//!
//! # The protocol
//!
//! Every stage writes into an "in progress" folder of the pipeline's working dir and publishes
//! it with one `rename` ([`crate::storage`]):
//!
//! | folder | written by | complete when |
//! |---|---|---|
//! | `normalize/extracting/<id>` → `normalize/extracted/<id>` | extract | renamed |
//! | `normalize/normalizing/<id>` → `load/normalized/<id>` | normalize | renamed |
//! | `load/normalized/<id>` → `load/loaded/<id>` | load | `_dlt_loads` has `<id>` |
//!
//! A run, holding the pipeline lock (`<working dir>/.lock`, an OS file lock the kernel frees
//! when the holder dies, so a killed run never blocks the next), first:
//!
//! 1. discards in-progress folders (`extracting`, `normalizing`): their data was never
//!    published, and the source is read again;
//! 2. normalizes complete extracted packages (in load id order), then
//! 3. loads normalized packages. The destination commits a package's data, schema, state
//!    and `_dlt_loads` row together ([`crate::load`]); if the process died after that commit,
//!    `_dlt_loads` already holds the load id and the package is only moved to `loaded/`.
//!    A non-transactional destination resumes job by job from the job folders of the
//!    package ([`crate::storage::jobs`]).
//!
//! The pipeline state travels the same way: the state an extract computes (new cursors) is
//! written into its package as `pipeline_state.json` and becomes the local `state.json` only
//! after the package commits. Before extracting, a run restores state and schema from the
//! destination when the local state is missing or older ([`crate::state::warehouse`]), so a
//! crash between the commit and the local write neither refetches nor skips data.
//!
//! A full refresh writes a marker (`full_refresh.json`, holding its load id) before it
//! extracts. While the marker is there the pipeline uses a fresh schema and state, and the
//! marked package replaces the whole dataset inside its load transaction. If the run dies
//! before that package was extracted, nothing was dropped: the marker is removed and the old
//! data and state are kept.

use std::fs::File;
use std::path::PathBuf;

use fs4::fs_std::FileExt;

use super::Pipeline;
use crate::destinations::{Destination, OpenMode};
use crate::error::{Error, Result};
use crate::load::{self, LoadedPackage};
use crate::normalize;
use crate::schema::dlt_dict;

impl Pipeline {
    /// The full-refresh marker.
    fn refresh_marker(&self) -> PathBuf {
        self.dir.root().join("full_refresh.json")
    }

    /// The load id of a full-refresh package not yet committed.
    pub(super) fn refresh_pending(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.refresh_marker()).ok()?;
        serde_json::from_str::<String>(&text).ok()
    }

    /// Marks `load_id` as the package of a full refresh.
    pub(super) fn mark_refresh(&self, load_id: &str) -> Result<()> {
        crate::storage::write_atomic(
            &self.refresh_marker(),
            serde_json::to_string(load_id)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    fn clear_refresh_marker(&self) -> Result<()> {
        let m = self.refresh_marker();
        std::fs::remove_file(&m).map_err(|e| Error::io(&m, e))
    }

    /// Takes the pipeline lock (held until the returned file is dropped).
    pub(super) fn lock(&self) -> Result<File> {
        let path = self.dir.root().join(".lock");
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        match f.try_lock_exclusive() {
            Ok(true) => Ok(f),
            Ok(false) | Err(_) => Err(Error::Config(format!(
                "pipeline `{}` is being run by another process (lock {}). Wait for it to finish",
                self.name,
                path.display()
            ))),
        }
    }

    /// Takes the project's writer lock, when the pipeline has one, for a write to the
    /// destination (held until the guard drops).
    pub(super) fn commit_lock(&self) -> Result<Option<crate::ops::lock::LockGuard>> {
        match &self.commit_lock {
            Some(l) => l.acquire(&self.name, "load").map(Some),
            None => Ok(None),
        }
    }

    /// For a read of the destination before extracting: the lock if it is free, waiting for
    /// it only when `must` (another process holding it has the warehouse open).
    pub(super) fn read_lock(&self, must: bool) -> Result<Option<crate::ops::lock::LockGuard>> {
        match &self.commit_lock {
            Some(l) if must => l.acquire(&self.name, "read state").map(Some),
            Some(l) => l.try_acquire(&self.name, "read state"),
            None => Ok(None),
        }
    }

    /// Full refresh: drops pending packages, which hold data of the state being dropped.
    pub(super) fn drop_pending(&self) -> Result<()> {
        for sub in ["normalize/extracted", "load/normalized"] {
            for id in self.dir.list(sub)? {
                let p = self.dir.root().join(sub).join(&id);
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                tracing::info!(load_id = %id, "Full refresh: dropped a pending package.");
            }
        }
        Ok(())
    }

    /// Finishes pending work of earlier, interrupted runs: discards half-written packages,
    /// normalizes complete extracted packages and loads normalized ones.
    pub fn resume_pending(&mut self) -> Result<Vec<LoadedPackage>> {
        let _lock = self.lock()?;
        self.resume_locked()
    }

    /// [`Pipeline::resume_pending`] with the lock held.
    pub(super) fn resume_locked(&mut self) -> Result<Vec<LoadedPackage>> {
        let discarded = self.dir.discard_in_progress()?;
        for id in discarded {
            tracing::info!(load_id = %id, "Discarded an unfinished package of an interrupted run.");
        }
        if let Some(id) = self.refresh_pending()
            && !self.dir.extracted(&id).exists()
            && !self.dir.normalized(&id).exists()
        {
            // The full refresh never got a complete package: nothing was dropped, the old
            // state and data are intact.
            tracing::warn!(load_id = %id, "A full refresh was interrupted before its data was extracted; the old data and state are kept. Run it again with --full-refresh.");
            self.clear_refresh_marker()?;
        }
        self.adopt_dlt_packages()?;
        let mut schema = self.schema()?;
        for id in self.dir.list("normalize/extracted")? {
            if self.dir.normalized(&id).exists() || self.dir.loaded(&id).exists() {
                let p = self.dir.extracted(&id);
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                continue;
            }
            tracing::info!(load_id = %id, "Normalizing a pending extracted package.");
            normalize::normalize_package(&self.dir, &id, &mut schema, &self.normalize)
                .map_err(|e| e.in_step(&self.name, "normalize", Some(&id)))?;
        }
        let mut loaded = Vec::new();
        let pending = self.dir.list("load/normalized")?;
        if pending.is_empty() {
            return Ok(loaded);
        }
        if let Some(shared) = self.shared.clone() {
            let name = self.name.clone();
            return shared.with(&name, "load", false, |dest| {
                for id in pending {
                    tracing::info!(load_id = %id, "Loading a pending normalized package.");
                    loaded.push(self.load_one(dest, &id)?);
                }
                Ok(loaded)
            });
        }
        let _commit = self.commit_lock()?;
        let mut dest = self.destination.open(OpenMode::ReadWrite)?;
        for id in pending {
            tracing::info!(load_id = %id, "Loading a pending normalized package.");
            loaded.push(self.load_one(dest.as_mut(), &id)?);
        }
        Ok(loaded)
    }

    /// Loads one normalized package, then makes the local state and schema follow the
    /// destination.
    pub(super) fn load_one(
        &mut self,
        dest: &mut dyn Destination,
        load_id: &str,
    ) -> Result<LoadedPackage> {
        self.load_one_begun(dest, load_id, None)
    }

    /// [`Pipeline::load_one`], ending a load `begun` while the package was normalized.
    pub(super) fn load_one_begun(
        &mut self,
        dest: &mut dyn Destination,
        load_id: &str,
        begun: Option<load::streamed::Begun>,
    ) -> Result<LoadedPackage> {
        let refresh = self.refresh_pending().as_deref() == Some(load_id);
        // The state extracted with the package is the state its data commits.
        let mut state = match crate::state::package_state(&self.dir.normalized(load_id))? {
            Some(s) => s,
            None => self.state()?,
        };
        let package_schema = load::package_schema(&self.dir, load_id)
            .map_err(|e| e.in_step(&self.name, "load", Some(load_id)))?;
        state.mark_extracted();
        let opts = load::LoadOptions {
            replace_dataset: refresh,
            replace_strategy: self.replace_strategy,
            refuse_empty_replace: self.refuse_empty_replace,
        };
        let loaded = match begun {
            Some(b) => b.finish(&self.dir, load_id, dest, &self.dataset, &state, opts),
            None => load::load_package_with(&self.dir, load_id, dest, &self.dataset, &state, opts),
        };
        let pkg = match loaded {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, Error::EmptyReplaceRefused { .. }) {
                    self.discard_refused(load_id, refresh)?;
                }
                return Err(e.in_step(&self.name, "load", Some(load_id)));
            }
        };
        crate::fault::point("load_before_state_save");
        // The destination is committed: the local copies follow it.
        state.save(&self.dir.state_path())?;
        crate::storage::write_atomic(
            &self.dir.schema_path(&self.name),
            dlt_dict::to_json_string_pretty(&package_schema).as_bytes(),
        )?;
        if refresh {
            self.clear_refresh_marker()?;
            self.full_refresh = false;
        }
        Ok(pkg)
    }

    /// An empty replace was refused (nothing was committed): the package goes, with the
    /// full-refresh marker, so state, cursors and data stay as they were and the next run
    /// extracts again.
    fn discard_refused(&mut self, load_id: &str, refresh: bool) -> Result<()> {
        let p = self.dir.normalized(load_id);
        std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        if refresh {
            self.clear_refresh_marker()?;
            self.full_refresh = false;
        }
        Ok(())
    }
}

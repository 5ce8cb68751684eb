//! Before extracting, a run compares its local state with the destination's (dlt's
//! `sync_destination`): a lost or older local state (deleted dir, killed before the local
//! write) follows the destination.
//!
//! The comparison is skipped when neither side changed since the last one found them in
//! agreement: the destination's [fingerprint](crate::destinations::DestinationFactory::fingerprint)
//! (for DuckDB: the warehouse file's and its WAL's identity, size and change times) and the
//! local state's version and hash are recorded in `destination_checked.json` after a
//! comparison. A repeat sync that finds nothing new then never opens the warehouse. A
//! fingerprint is only recorded when the destination last changed well before the comparison
//! started ([`SETTLED`]), so a write in the same tick of the file system's clock as an earlier
//! one cannot go unseen.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Pipeline;
use crate::error::{Error, Result};
use crate::state::PipelineState;
use crate::state::warehouse::Restored;

/// How long before a comparison the destination must have last changed for its fingerprint
/// to be recorded (far above any file system's timestamp granularity).
pub const SETTLED: Duration = Duration::from_secs(2);

/// What `destination_checked.json` records.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Checked {
    fingerprint: String,
    dataset: String,
    state_version: i64,
    state_hash: String,
}

impl Pipeline {
    fn checked_path(&self) -> std::path::PathBuf {
        self.dir.root().join("destination_checked.json")
    }

    fn checked_now(&self, fingerprint: &str, state: &PipelineState) -> Checked {
        Checked {
            fingerprint: fingerprint.to_string(),
            dataset: self.dataset.clone(),
            state_version: state.state_version(),
            state_hash: state.stored_hash().to_string(),
        }
    }

    /// Whether the last comparison saw this destination and this local state.
    fn unchanged_since_checked(&self, fingerprint: &str, state: &PipelineState) -> bool {
        let Ok(bytes) = std::fs::read(self.checked_path()) else {
            return false;
        };
        serde_json::from_slice::<Checked>(&bytes)
            .is_ok_and(|c| c == self.checked_now(fingerprint, state))
    }

    /// Records a comparison that started at `started` with the destination at `before`,
    /// if the destination is unchanged since and had settled before it.
    fn remember_check(&self, before: Option<(String, SystemTime)>, started: SystemTime) {
        let Some((fingerprint, changed_at)) = before else {
            return;
        };
        let settled = changed_at + SETTLED <= started;
        let same = self
            .destination
            .fingerprint()
            .is_some_and(|(now, _)| now == fingerprint);
        let local = PipelineState::load(&self.dir.state_path()).ok().flatten();
        let Some(local) = local.filter(|_| settled && same) else {
            let _ = std::fs::remove_file(self.checked_path());
            return;
        };
        // A cache: no fsync (a file lost or torn by a crash only makes the next run
        // compare again), but a rename, so it is never read half-written.
        let checked = self.checked_now(&fingerprint, &local);
        let path = self.checked_path();
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        let written = serde_json::to_vec(&checked)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!("cannot record the state comparison: {e}");
        }
    }

    /// Before extracting: a lost or older local state follows the destination.
    pub(super) fn follow_destination(&self) -> Result<()> {
        let fingerprint = self.destination.fingerprint();
        let local = PipelineState::load(&self.dir.state_path())?;
        if let (Some((fp, _)), Some(state)) = (&fingerprint, &local)
            && self.unchanged_since_checked(fp, state)
        {
            tracing::debug!(
                "the destination and the local state are unchanged since they were last compared"
            );
            return Ok(());
        }
        let started = SystemTime::now();
        // A writer holding the project lock has the warehouse open: wait for it only when
        // there is no local state to go on with.
        let must = local.is_none();
        let outcome = match &self.shared {
            Some(_) if !self.destination.exists() => Ok(Some(Restored::Nothing)),
            Some(shared) => {
                let read = |d: &mut dyn crate::destinations::Destination| {
                    crate::state::warehouse::restore_from(
                        d,
                        &self.dataset,
                        &self.name,
                        &self.dir,
                        false,
                    )
                };
                let r = if must {
                    shared.with(&self.name, "read state", false, read).map(Some)
                } else {
                    shared.try_with(&self.name, "read state", read)
                };
                match r {
                    // Waiting for the lock timed out: an error, as for a pipeline of its own.
                    Err(Error::WarehouseLocked { path, reason })
                        if shared.lock_path() == Some(path.as_path()) =>
                    {
                        return Err(Error::WarehouseLocked { path, reason });
                    }
                    r => r,
                }
            }
            None => {
                let read = self.read_lock(must)?;
                if self.commit_lock.is_some() && read.is_none() {
                    Ok(None)
                } else {
                    self.sync_destination().map(Some)
                }
            }
        };
        match outcome {
            Ok(None) => {
                tracing::debug!("another process is loading; the local state is used as it is");
                Ok(())
            }
            Ok(Some(restored)) => {
                if let Restored::State { local, warehouse } = restored {
                    tracing::warn!(
                        "pipeline {}: the local state (version {local:?}) was older than the destination's (version {warehouse}); restored state and schema from the destination",
                        self.name
                    );
                }
                self.remember_check(fingerprint, started);
                Ok(())
            }
            // Another process writes the warehouse: go on with the local state; the load
            // waits for the warehouse anyway.
            Err(e @ Error::WarehouseLocked { .. }) => {
                tracing::warn!("cannot compare the local state with the destination's: {e}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

//! Partial syncs: when `[runtime] partial_sync` is on and some resources of a source fail
//! while extracting, the source is run again without them, so the others load; the history
//! records the sync as `partial` with the failed resources' errors. Off by default: a failing
//! resource fails the whole source and nothing is committed.

use std::sync::{Arc, Mutex};

use crate::config::Settings;
use crate::config::redact::redact;
use crate::extract::{ItemWriter, Resource};
use crate::incremental::ResourceCursor;
use crate::pipeline::{LoadInfo, Pipeline};
use crate::sources::Source;
use crate::storage::ResourceHints;

/// A resource that failed, and its error (redacted).
pub(crate) type FailedResource = (String, String);

type Failures = Arc<Mutex<Vec<(String, String)>>>;

/// Remembers which resource failed (other than by Ctrl-C), passing everything through.
struct Watched {
    inner: Box<dyn Resource>,
    failures: Failures,
}

impl Resource for Watched {
    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> crate::Result<()> {
        let r = self.inner.extract(out);
        if let Err(e) = &r
            && !matches!(e, crate::Error::Interrupted)
        {
            self.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((self.inner.hints().name.clone(), redact(&e.to_string())));
        }
        r
    }

    fn tables(&self) -> Vec<ResourceHints> {
        self.inner.tables()
    }

    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        self.inner.cursors()
    }

    fn overlaps_load(&self) -> bool {
        self.inner.overlaps_load()
    }
}

/// Whether partial syncs are on (`[runtime] partial_sync`, `RUNTIME__PARTIAL_SYNC`).
pub(crate) fn enabled(settings: &Settings) -> crate::Result<bool> {
    Ok(settings
        .parse(&["runtime"], "partial_sync", "true or false")?
        .unwrap_or(false))
}

/// Runs the pipeline `build` makes on its source; with partial syncs on, a run whose
/// resources failed while extracting is repeated without them (a new pipeline and source
/// each time), as long as some resource is left. Returns the result and the resources left
/// out (empty unless the result is a partial success).
pub(crate) fn run(
    settings: &Settings,
    build: impl Fn() -> crate::Result<(Pipeline, Source)>,
) -> (crate::Result<LoadInfo>, Vec<FailedResource>) {
    let on = match enabled(settings) {
        Ok(on) => on,
        Err(e) => return (Err(e), Vec::new()),
    };
    let mut skipped: Vec<FailedResource> = Vec::new();
    loop {
        let (mut pipeline, mut source) = match build() {
            Ok(b) => b,
            Err(e) => return (Err(e), Vec::new()),
        };
        if !on {
            return (pipeline.run(source), Vec::new());
        }
        let all = source.resources.len();
        source
            .resources
            .retain(|r| !skipped.iter().any(|(n, _)| *n == r.hints().name));
        if source.resources.is_empty() {
            return (
                Err(crate::Error::Internal(
                    "every resource was left out of a partial sync".into(),
                )),
                Vec::new(),
            );
        }
        let failures: Failures = Arc::default();
        let resources = std::mem::take(&mut source.resources);
        source.resources = resources
            .into_iter()
            .map(|inner| {
                Box::new(Watched {
                    inner,
                    failures: failures.clone(),
                }) as Box<dyn Resource>
            })
            .collect();
        let cancel = pipeline.cancel_token().clone();
        let result = pipeline.run(source);
        let failed = std::mem::take(&mut *failures.lock().unwrap_or_else(|p| p.into_inner()));
        let e = match result {
            Ok(info) => return (Ok(info), skipped),
            Err(e) => e,
        };
        let left = all.saturating_sub(skipped.len() + failed.len());
        if failed.is_empty() || cancel.is_cancelled() || left == 0 {
            return (Err(e), Vec::new());
        }
        for (name, err) in &failed {
            tracing::warn!(pipeline = %source_name(&pipeline), "resource {name} failed: {err}");
            eprintln!(
                "warning: source `{}`: resource `{name}` failed: {err}. Loading the other {left} resource(s) without it (partial sync)",
                source_name(&pipeline)
            );
        }
        skipped.extend(failed);
    }
}

fn source_name(p: &Pipeline) -> &str {
    p.name()
}

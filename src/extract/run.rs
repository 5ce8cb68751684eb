//! The run context: what one pipeline run hands down to extract, its sources and their HTTP
//! clients. It holds a [`CancelToken`] (the caller trips it: the CLI on Ctrl-C, a dashboard
//! on a button) and a progress sink ([`ProgressFn`]).
//!
//! Lower stages never reach up for these: each run creates its own context, so two
//! pipelines in one process run and cancel independently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Progress of a run, reported to a [`ProgressFn`] (the CLI's live display).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// A step started: `extract`, `normalize` or `load`.
    Step(&'static str),
    /// A resource read a page (an HTTP response, a file): running totals so far.
    Extracting {
        /// Resource name.
        resource: String,
        /// Items written so far.
        items: u64,
        /// Pages (responses, files) read so far.
        pages: u64,
        /// Bytes read so far.
        bytes: u64,
    },
    /// A resource finished extracting.
    ResourceExtracted {
        /// Resource name.
        resource: String,
        /// Items extracted.
        items: u64,
        /// Pages (responses, files) read.
        pages: u64,
        /// Bytes read.
        bytes: u64,
    },
    /// Normalize finished with this many rows over all tables.
    Normalized {
        /// Rows.
        rows: u64,
    },
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A cancellation flag shared by everything one run does. Clones share the flag.
///
/// Cancelling is cooperative: extract checks the token between pages and every 1024 items,
/// HTTP requests (and the waits between their retries) end as soon as it trips, and the
/// pipeline checks it between steps. What was committed stays; the next run resumes.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CancelToken")
            .field(&self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks the run to stop at its next safe point. Idempotent.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// `Err(Error::Interrupted)` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Resolves when the token is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What a run hands down to extract and the sources: cancellation and progress.
#[derive(Clone, Default)]
pub struct RunContext {
    /// Trips to stop the run.
    pub cancel: CancelToken,
    /// Where progress goes (nowhere by default).
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("cancel", &self.cancel)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RunContext {
    /// A context with a fresh token and no progress sink.
    pub fn new() -> RunContext {
        RunContext::default()
    }

    /// Reports `p` to the progress sink, if any.
    pub fn report(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag_and_tokens_are_independent() {
        let a = CancelToken::new();
        let a2 = a.clone();
        let b = CancelToken::new();
        a.cancel();
        assert!(a2.is_cancelled());
        assert!(matches!(a2.check(), Err(Error::Interrupted)));
        assert!(!b.is_cancelled());
        assert!(b.check().is_ok());
    }

    #[test]
    fn cancelled_future_wakes_on_cancel() {
        let t = CancelToken::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t2 = t.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            t2.cancel();
        });
        rt.block_on(t.cancelled());
        assert!(t.is_cancelled());
        // Already cancelled: resolves at once.
        rt.block_on(t.cancelled());
    }
}

//! Ctrl-C for the CLI: the first SIGINT cancels the command's [`CancelToken`], so the running
//! pipeline stops at its next safe point (between pages, resources and steps); what was
//! committed stays and the next run resumes pending packages. A second SIGINT stops the
//! process at once (also safe: every stage is crash-safe).
//!
//! The signal handler only sets a flag (that is all a handler may do); a watcher thread trips
//! the token. The library never looks at signals: it only sees the token.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::extract::CancelToken;

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // Second Ctrl-C: leave now, with the conventional status.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
    let msg = b"\nInterrupted: stopping at the next safe point (Ctrl-C again to stop now)...\n";
    // SAFETY: write is async-signal-safe; the buffer is valid for its length.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
}

/// Installs the SIGINT handler (once per process) and returns the token it cancels.
pub fn install() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let token = CancelToken::new();
            let handler: extern "C" fn(libc::c_int) = on_sigint;
            // SAFETY: the handler only touches an atomic and calls async-signal-safe functions.
            unsafe {
                libc::signal(libc::SIGINT, handler as libc::sighandler_t);
            }
            let t = token.clone();
            let watcher = std::thread::Builder::new()
                .name("dango-sigint".into())
                .spawn(move || {
                    while !REQUESTED.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    t.cancel();
                });
            if let Err(e) = watcher {
                tracing::warn!("cannot watch for Ctrl-C ({e}); Ctrl-C stops the process at once");
                // SAFETY: restores the default action, so Ctrl-C still ends the process.
                unsafe {
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                }
            }
            token
        })
        .clone()
}

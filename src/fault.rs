//! Fault injection for crash-safety tests.
//!
//! When the environment variable `DANGO_FAULT` names a point that the process reaches, the
//! process kills itself with `SIGKILL` right there: no destructors, no flushing, exactly like
//! a power cut or `kill -9`. The tests in `tests/crash.rs` use it to prove that every stage can
//! die at any of these points and the next `dango sync` still ends with the right data.

use std::sync::OnceLock;

/// Stops the process with SIGKILL if `DANGO_FAULT` equals `name`.
pub fn point(name: &str) {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    let fault = FAULT.get_or_init(|| std::env::var("DANGO_FAULT").ok());
    if fault.as_deref() == Some(name) {
        // SAFETY: getpid and kill have no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

//! Fault injection for crash-safety tests.
//!
//! When the environment variable `DANGO_FAULT` names a point that the process reaches, the
//! process kills itself with `SIGKILL` right there: no destructors, no flushing, exactly like
//! a power cut or `kill -9`. The tests in `tests/it/crash.rs` use it to prove that every stage
//! can die at any of these points and the next `dango sync` still ends with the right data.
//!
//! Only the `dango` binary reads `DANGO_FAULT` ([`arm_from_env`] in `main`): a process that uses
//! the library (the library's own tests and doc tests too) never dies of it.

use std::sync::OnceLock;

static FAULT: OnceLock<Option<String>> = OnceLock::new();

/// Reads `DANGO_FAULT`, once; [`point`] does nothing in a process that never called this.
pub fn arm_from_env() {
    FAULT.get_or_init(|| std::env::var("DANGO_FAULT").ok());
}

/// Stops the process with SIGKILL if it is armed ([`arm_from_env`]) and `DANGO_FAULT` equals
/// `name`.
pub fn point(name: &str) {
    if FAULT.get().and_then(Option::as_deref) == Some(name) {
        // SAFETY: getpid and kill have no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

//! The project's writer lock: one process at a time writes the warehouse or a pipeline's
//! state.
//!
//! The lock is an OS file lock (`flock`, through `fs4`) on `.dango/state/warehouse.lock`: the
//! kernel frees it when the holder dies, even of SIGKILL, so a killed run never blocks the
//! next. The holder writes who it is into the file (pid, host, command, source, operation,
//! started_at); a process that waits shows it, and the timeout error names it.
//!
//! Only commits serialize: a sync extracts and normalizes without the lock and takes it to
//! load (open the warehouse read-write, commit, count rows, write its history record).
//!
//! Threads of one process (sources synced concurrently) serialize through the same lock: an
//! in-process gate per lock file is taken first (a waiting thread wakes as soon as it is
//! released), then the file lock, which keeps out other processes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The holder's command line (secrets redacted).
    pub command: String,
    /// The source (pipeline) it works on, or `-` for project-wide operations.
    pub source: String,
    /// What it does: `load`, `drop`, `backup`, `restore`, ...
    pub operation: String,
    /// When it took the lock (RFC 3339, UTC).
    pub started_at: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} ({}; {} of source {}, since {})",
            self.pid, self.host, self.command, self.operation, self.source, self.started_at
        )
    }
}

/// Called while waiting: the holder (if it could be read), how long we waited, the timeout.
pub type WaitFn = Arc<dyn Fn(Option<&Holder>, Duration, Duration) + Send + Sync>;

/// The project's writer lock (cheap to clone; nothing is locked until [`ProjectLock::acquire`]).
#[derive(Clone)]
pub struct ProjectLock {
    path: PathBuf,
    timeout: Duration,
    on_wait: Option<WaitFn>,
}

impl std::fmt::Debug for ProjectLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectLock")
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Held lock; released (holder info cleared) when dropped.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
        gate_release(&self.path);
    }
}

/// Lock files held by a thread of this process.
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
static RELEASED: std::sync::Condvar = std::sync::Condvar::new();

fn held() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the in-process gate of `path`, waiting at most `wait`; false on timeout.
fn gate_take(path: &Path, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut g = held();
    while g.iter().any(|p| p == path) {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        g = RELEASED
            .wait_timeout(g, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    g.push(path.to_path_buf());
    true
}

fn gate_release(path: &Path) {
    let mut g = held();
    if let Some(i) = g.iter().position(|p| p == path) {
        g.swap_remove(i);
    }
    drop(g);
    RELEASED.notify_all();
}

impl ProjectLock {
    /// The lock of the project at `root` (`.dango/state/warehouse.lock`), waiting up to
    /// `timeout`.
    pub fn for_project(root: &Path, timeout: Duration) -> ProjectLock {
        ProjectLock {
            path: root.join(".dango").join("state").join("warehouse.lock"),
            timeout,
            on_wait: None,
        }
    }

    /// Reports waiting through `f` (about once a second).
    pub fn on_wait(mut self, f: WaitFn) -> ProjectLock {
        self.on_wait = Some(f);
        self
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Takes the lock without waiting: `None` when another process holds it.
    pub fn try_acquire(&self, source: &str, operation: &str) -> Result<Option<LockGuard>> {
        if !gate_take(&self.path, Duration::ZERO) {
            return Ok(None);
        }
        let file = match self.open() {
            Ok(f) => f,
            Err(e) => {
                gate_release(&self.path);
                return Err(e);
            }
        };
        match file.try_lock_exclusive() {
            Ok(true) => match self.took(file, source, operation) {
                Ok(g) => Ok(Some(g)),
                Err(e) => {
                    gate_release(&self.path);
                    Err(e)
                }
            },
            Ok(false) => {
                gate_release(&self.path);
                Ok(None)
            }
            Err(e) => {
                gate_release(&self.path);
                Err(Error::io(&self.path, e))
            }
        }
    }

    /// Takes the lock, waiting up to the timeout (reporting through the wait callback), then
    /// fails with [`Error::WarehouseLocked`] naming the holder.
    pub fn acquire(&self, source: &str, operation: &str) -> Result<LockGuard> {
        let started = Instant::now();
        self.gate(started)?;
        let taken = self.acquire_file(source, operation, started);
        if taken.is_err() {
            gate_release(&self.path);
        }
        taken
    }

    /// Waits for another thread of this process holding the lock (reporting the wait).
    fn gate(&self, started: Instant) -> Result<()> {
        loop {
            let waited = started.elapsed();
            let step = Duration::from_secs(1).min(self.timeout.saturating_sub(waited));
            if gate_take(&self.path, step) {
                return Ok(());
            }
            let waited = started.elapsed();
            let holder = self.holder();
            if waited >= self.timeout {
                return Err(self.timed_out(holder));
            }
            // Another source of this sync is committing: said only when it takes long.
            if let Some(f) = &self.on_wait
                && waited >= Duration::from_secs(1)
            {
                f(holder.as_ref(), waited, self.timeout);
            }
        }
    }

    fn timed_out(&self, holder: Option<Holder>) -> Error {
        let who = holder
            .map(|h| format!("held by {h}"))
            .unwrap_or_else(|| "held by another process".into());
        Error::WarehouseLocked {
            path: self.path.clone(),
            reason: format!(
                "{who}; waited {}s, the limit set by [runtime] lock_timeout (RUNTIME__LOCK_TIMEOUT)",
                self.timeout.as_secs()
            ),
        }
    }

    /// The file lock, once the in-process gate is held.
    fn acquire_file(&self, source: &str, operation: &str, started: Instant) -> Result<LockGuard> {
        let file = self.open()?;
        let mut last_report: Option<Instant> = None;
        loop {
            match file.try_lock_exclusive() {
                Ok(true) => return self.took(file, source, operation),
                Ok(false) => {}
                Err(e) => return Err(Error::io(&self.path, e)),
            }
            let waited = started.elapsed();
            let holder = self.holder();
            if waited >= self.timeout {
                return Err(self.timed_out(holder));
            }
            if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                if let Some(f) = &self.on_wait {
                    f(holder.as_ref(), waited, self.timeout);
                }
                last_report = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(100).min(self.timeout - waited));
        }
    }

    fn took(&self, mut file: File, source: &str, operation: &str) -> Result<LockGuard> {
        let holder = Holder {
            pid: std::process::id(),
            host: hostname(),
            command: crate::config::redact::redact(&std::env::args().collect::<Vec<_>>().join(" ")),
            source: source.to_string(),
            operation: operation.to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let text = serde_json::to_string(&holder).unwrap_or_default();
        let written = file
            .set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|_| file.flush());
        if let Err(e) = written {
            let _ = FileExt::unlock(&file);
            return Err(Error::io(&self.path, e));
        }
        Ok(LockGuard {
            file,
            path: self.path.clone(),
        })
    }

    /// The current holder, when the lock is held and its info is readable.
    pub fn holder(&self) -> Option<Holder> {
        let mut text = String::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The holder when the lock is held by another process right now (`None` when free).
    pub fn current_holder(&self) -> Result<Option<Holder>> {
        if !self.path.exists() {
            return Ok(None);
        }
        match self.try_acquire("-", "check")? {
            Some(_guard) => Ok(None),
            None => Ok(Some(self.holder().unwrap_or(Holder {
                pid: 0,
                host: "?".into(),
                command: "(unknown)".into(),
                source: "?".into(),
                operation: "?".into(),
                started_at: "?".into(),
            }))),
        }
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A wait reporter for the command line: a live line on a terminal, a line every 30 s
/// otherwise.
pub fn stderr_reporter(live: bool) -> WaitFn {
    Arc::new(move |holder, waited, timeout| {
        let secs = waited.as_secs();
        if !live && secs % 30 != 0 {
            return;
        }
        let who = holder
            .map(|h| h.to_string())
            .unwrap_or_else(|| "another process".into());
        let line = format!(
            "waiting for the warehouse lock held by {who}: {secs}s of {}s",
            timeout.as_secs()
        );
        if live {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_names_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = ProjectLock::for_project(tmp.path(), Duration::from_millis(300));
        let g = lock.acquire("orders", "load").unwrap();
        let h = lock.current_holder().unwrap().unwrap();
        assert_eq!(h.pid, std::process::id());
        assert_eq!(h.source, "orders");
        let err = lock.acquire("other", "load").unwrap_err().to_string();
        assert!(err.contains("source orders"), "{err}");
        assert!(err.contains("lock_timeout"), "{err}");
        drop(g);
        assert!(lock.current_holder().unwrap().is_none());
        assert!(lock.try_acquire("other", "load").unwrap().is_some());
    }

    #[test]
    fn threads_of_one_process_take_turns_without_polling() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = ProjectLock::for_project(tmp.path(), Duration::from_secs(10));
        let g = lock.acquire("a", "load").unwrap();
        assert!(lock.try_acquire("b", "load").unwrap().is_none());
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let g = lock.acquire("b", "load").unwrap();
                (Instant::now(), lock.holder().unwrap().source, g)
            })
        };
        std::thread::sleep(Duration::from_millis(150));
        let released = Instant::now();
        drop(g);
        let (acquired, holder, g) = waiter.join().unwrap();
        // The waiter got the lock only once it was released.
        assert!(acquired >= released);
        assert!(released.elapsed() < Duration::from_secs(5));
        assert_eq!(holder, "b");
        drop(g);
        let short = ProjectLock::for_project(tmp.path(), Duration::ZERO);
        let g = lock.acquire("c", "load").unwrap();
        let err = short.acquire("d", "load").unwrap_err().to_string();
        assert!(err.contains("source c"), "{err}");
        drop(g);
        assert!(short.acquire("d", "load").is_ok());
    }
}

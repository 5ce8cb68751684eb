//! The Python side of `dlt_native`: finding the interpreter and running the embedded runner
//! (`runner.py`) as a child process that stops with the run (Ctrl-C, a failed resource) and
//! dies with dango (a SIGKILL of dango leaves no extract running).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Env;
use crate::error::{Error, Result};
use crate::extract::CancelToken;

/// The runner, embedded in the binary; written into the run's scratch dir.
pub const RUNNER: &str = include_str!("runner.py");

/// The dlt versions the runner supports (checked by the runner at start).
pub const SUPPORTED_DLT: &str = "1.31.x";

/// A Python interpreter and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The executable.
    pub path: PathBuf,
    /// Where it came from (`DANGO_PYTHON`, the `python` key, `.venv`, `PATH`).
    pub origin: String,
}

/// Finds the interpreter: `DANGO_PYTHON`, else the block's `python`, else the project's
/// `.venv/bin/python`, else `python3` on `PATH`.
pub fn find_python(
    source: &str,
    python_key: Option<&str>,
    root: &Path,
    env: &Env,
) -> Result<Interpreter> {
    if let Some(p) = env.get("DANGO_PYTHON").filter(|p| !p.is_empty()) {
        return existing(source, PathBuf::from(&p), "DANGO_PYTHON".into());
    }
    if let Some(p) = python_key {
        let path = root.join(p);
        return existing(
            source,
            path,
            "`python` in the dlt_native block of .dango/sources.yml".into(),
        );
    }
    let venv = root.join(".venv").join("bin").join("python");
    if venv.exists() {
        return Ok(Interpreter {
            path: venv,
            origin: "the project's .venv".into(),
        });
    }
    let path = env.get("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("python3");
        if is_executable(&candidate) {
            return Ok(Interpreter {
                path: candidate,
                origin: "python3 on PATH".into(),
            });
        }
    }
    Err(Error::Config(format!(
        "source `{source}`: no Python found to run the dlt source. dango looked for DANGO_PYTHON (not set), `python:` in the source's dlt_native block (not set), {} (missing) and python3 on PATH (not found). Install Python 3 and dlt (`python3 -m venv .venv && .venv/bin/pip install \"dlt=={}\"` in the project), or set DANGO_PYTHON to a Python that has dlt",
        root.join(".venv/bin/python").display(),
        SUPPORTED_DLT.replace(".x", ".0"),
    )))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn existing(source: &str, path: PathBuf, origin: String) -> Result<Interpreter> {
    if is_executable(&path) {
        Ok(Interpreter { path, origin })
    } else {
        Err(Error::Config(format!(
            "source `{source}`: the Python named by {origin} ({}) does not exist or is not executable. Point it at a Python that has dlt installed (`pip install dlt`)",
            path.display()
        )))
    }
}

/// Runs `runner.py <request>` with `python`, in `cwd`, with the project's environment
/// (`env_vars` added). stdout and stderr lines go to the log (redacted). Stops the child when
/// `cancel` fires and returns [`Error::Interrupted`]. Returns whether the child exited with 0.
pub fn run_runner(
    source: &str,
    python: &Interpreter,
    runner: &Path,
    request: &Path,
    env_vars: &[(String, String)],
    cancel: &CancelToken,
) -> Result<bool> {
    let child = Child::spawn(source, python, runner, request, env_vars, None)?;
    child.wait(cancel, Duration::from_millis(20))
}

/// The file descriptor the child writes its item stream to (`stream_fd` of the request).
pub const STREAM_FD: i32 = 3;

/// A running runner: the process and the threads logging its output.
pub struct Child {
    process: Arc<Mutex<Option<std::process::Child>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Child {
    /// Starts `runner.py <request>`; with `stream`, that pipe's write end becomes the child's
    /// [`STREAM_FD`] (and only the child's: the parent's copy is closed, so the pipe ends when
    /// the child does).
    pub fn spawn(
        source: &str,
        python: &Interpreter,
        runner: &Path,
        request: &Path,
        env_vars: &[(String, String)],
        stream: Option<std::io::PipeWriter>,
    ) -> Result<Child> {
        use std::os::fd::AsRawFd;
        let mut cmd = Command::new(&python.path);
        cmd.arg(runner)
            .arg(request)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (k, v) in env_vars {
            cmd.env(k, v);
        }
        let stream_fd = stream.as_ref().map(|w| w.as_raw_fd());
        // The child dies with dango: a SIGKILL of dango never leaves an extract running.
        // SAFETY: prctl and dup2 are async-signal-safe and touch no memory of the parent.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                match stream_fd {
                    // Already there: only its close-on-exec flag goes.
                    Some(fd) if fd == STREAM_FD => {
                        let flags = libc::fcntl(fd, libc::F_GETFD);
                        if flags < 0
                            || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0
                        {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Some(fd) if libc::dup2(fd, STREAM_FD) < 0 => {
                        return Err(std::io::Error::last_os_error());
                    }
                    _ => {}
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::Config(format!(
                "source `{source}`: cannot start {} ({}): {e}",
                python.path.display(),
                python.origin
            ))
        })?;
        drop(stream);
        let mut readers = Vec::new();
        for (stream, is_err) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
                false,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
                true,
            ),
        ] {
            let Some(stream) = stream else { continue };
            let source = source.to_string();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let line = crate::config::redact::redact(&line);
                    if is_err {
                        tracing::info!(source = %source, "python: {line}");
                    } else {
                        tracing::info!(source = %source, "python stdout: {line}");
                    }
                }
            }));
        }
        Ok(Child {
            process: Arc::new(Mutex::new(Some(child))),
            readers,
        })
    }

    /// Kills the child when `cancel` fires, from another thread, while this one reads its
    /// stream; ends when the child was waited for.
    pub fn kill_on_cancel(&self, cancel: &CancelToken) -> std::thread::JoinHandle<()> {
        let process = Arc::clone(&self.process);
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            loop {
                {
                    let mut guard = process.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(child) = guard.as_mut() else { return };
                    if cancel.is_cancelled() {
                        let _ = child.kill();
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }

    /// Kills the child (when dango cannot take its items any more).
    pub fn kill(&self) {
        let mut guard = self.process.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(child) = guard.as_mut() {
            let _ = child.kill();
        }
    }

    /// Waits for the child (polling `cancel` every `poll`): whether it exited with 0, or
    /// [`Error::Interrupted`] after killing it.
    pub fn wait(self, cancel: &CancelToken, poll: Duration) -> Result<bool> {
        let status = loop {
            let mut guard = self.process.lock().unwrap_or_else(|p| p.into_inner());
            let Some(child) = guard.as_mut() else {
                return Err(Error::Internal(
                    "the Python child was already waited for".into(),
                ));
            };
            if cancel.is_cancelled() {
                let _ = child.kill();
                let _ = child.wait();
                guard.take();
                drop(guard);
                for r in self.readers {
                    let _ = r.join();
                }
                return Err(Error::Interrupted);
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    guard.take();
                    break status;
                }
                Ok(None) => {
                    drop(guard);
                    std::thread::sleep(poll);
                }
                Err(e) => {
                    guard.take();
                    return Err(Error::Internal(format!(
                        "cannot wait for the Python child: {e}"
                    )));
                }
            }
        };
        for r in self.readers {
            let _ = r.join();
        }
        Ok(status.success())
    }
}

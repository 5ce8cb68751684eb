//! `dango run-scheduler`: runs `.dango/schedules.yml` in the foreground (for systemd or a
//! container).
//!
//! Each run is a child `dango sync --json <sources>` process, the same code path as the
//! command: a crash or a leak in one sync cannot take the scheduler down, each child gets a
//! fresh process (its own Ctrl-C token, logging and DuckDB connection), and the project lock
//! serializes the commits of children that run at once. Children run in their own process
//! group, so a terminal's Ctrl-C reaches only the scheduler, which forwards it once.
//!
//! The scheduler never runs two syncs of one source at once (a busy source is skipped and
//! logged), catches up at most one missed run per schedule after downtime (from
//! `.dango/state/scheduler.json`), and on SIGTERM or SIGINT interrupts the running syncs at
//! their next safe point (committed data stays, nothing is half-loaded), waits for them and
//! exits 0. It logs one line per fired, skipped and finished run on stdout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use fs4::fs_std::FileExt;

use crate::config::Project;
use crate::ops::schedule::{self, Busy, Clock, Schedule, SchedulerState, SchedulesFile};

pub(super) const EXAMPLES: &str = "\
Examples:
  dango run-scheduler                 run .dango/schedules.yml until SIGTERM or Ctrl-C
  dango schedule list                 what runs when

Each run is `dango sync <its sources>` in a child process, recorded in the sync history with
trigger `schedule:<name>`; its output goes to .dango/logs/schedule-<name>.log. A source is
never synced by two runs at once (the later one skips it). After downtime, each schedule
catches up its first missed run only. SIGTERM or Ctrl-C stops the running syncs at their next
safe point and exits 0. Changes to schedules.yml are picked up while it runs.

A systemd unit:
  [Service]
  WorkingDirectory=/srv/my_project
  ExecStart=/usr/local/bin/dango run-scheduler
  KillMode=mixed                      # SIGTERM to the scheduler only; it stops its syncs
  TimeoutStopSec=300
  Restart=on-failure";

/// Arguments of `dango run-scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

fn install_signals() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only touches an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

/// One line of the scheduler's log, stamped with the scheduler's clock.
fn log(clock: &Clock, msg: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} {msg}",
        clock.now().to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let _ = out.flush();
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A child sync the scheduler waits for.
struct Running {
    schedule: String,
    sources: Vec<String>,
    pid: u32,
    started: std::time::Instant,
    log: PathBuf,
}

/// A child that ended: its id, exit code (`None`: killed by a signal), its stdout.
struct Ended {
    id: u64,
    code: Option<i32>,
    stdout: String,
}

struct Scheduler {
    project: Project,
    clock: Clock,
    verbose: u8,
    schedules: Vec<(Schedule, Option<DateTime<Utc>>)>,
    file_stamp: Option<std::time::SystemTime>,
    state: SchedulerState,
    busy: Busy,
    running: BTreeMap<u64, Running>,
    next_id: u64,
    tx: mpsc::Sender<Ended>,
}

/// Runs `dango run-scheduler`.
pub fn run(
    project: Option<PathBuf>,
    verbose: u8,
    _args: SchedulerArgs,
) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let settings = project.settings()?;
    super::init_logging(verbose, Some(&settings.runtime()?));
    let _lock = scheduler_lock(project.root())?;
    let clock = Clock::from_env()?;
    let (file, _) = SchedulesFile::load(project.root())?;
    let schedules = file.resolved()?;
    install_signals();
    let (tx, rx) = mpsc::channel();
    let mut s = Scheduler {
        file_stamp: stamp(project.root()),
        project,
        clock,
        verbose,
        schedules: Vec::new(),
        state: SchedulerState::default(),
        busy: Busy::default(),
        running: BTreeMap::new(),
        next_id: 0,
        tx,
    };
    s.state = SchedulerState::load(s.project.root());
    s.start(schedules);
    while SIGNALS.load(Ordering::SeqCst) == 0 {
        s.reload_if_changed();
        s.fire_due();
        let wait = s.wait_time();
        match rx.recv_timeout(wait) {
            Ok(ended) => s.finished(ended),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("internal error: scheduler channel closed")
            }
        }
    }
    s.shutdown(&rx);
    Ok(ExitCode::SUCCESS)
}

/// Holds `.dango/state/scheduler.lock` while the scheduler runs: one scheduler per project.
fn scheduler_lock(root: &Path) -> anyhow::Result<std::fs::File> {
    let p = schedule::lock_path(root);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .with_context(|| format!("cannot open {}", p.display()))?;
    if !f.try_lock_exclusive().unwrap_or(false) {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        bail!(
            "another `dango run-scheduler` is running for this project ({}); stop it first (it holds {})",
            holder.trim(),
            p.display()
        );
    }
    f.set_len(0)?;
    write!(
        f,
        "pid {} on {}",
        std::process::id(),
        crate::ops::lock::hostname()
    )?;
    Ok(f)
}

fn stamp(root: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(schedule::file::path(root))
        .and_then(|m| m.modified())
        .ok()
}

impl Scheduler {
    fn log(&self, msg: &str) {
        log(&self.clock, msg);
    }

    /// Sets the timers, runs the one catch-up per schedule, and records what is handled.
    fn start(&mut self, schedules: Vec<Schedule>) {
        let now = self.clock.now();
        let enabled: Vec<Schedule> = schedules.into_iter().filter(|s| s.enabled).collect();
        self.state
            .schedules
            .retain(|name, _| enabled.iter().any(|s| &s.name == name));
        self.log(&format!(
            "scheduler started for {}: {} enabled schedule(s), pid {}",
            self.project.root().display(),
            enabled.len(),
            std::process::id()
        ));
        let mut catch_up = Vec::new();
        for s in &enabled {
            let next = s.next_after(now);
            self.log(&format!(
                "schedule {}: {}, next run {}",
                s.name,
                s.when,
                next.map(ts).unwrap_or_else(|| "never".into())
            ));
            if let Some(due) = schedule::missed_run(s, &self.state, now) {
                catch_up.push((s.clone(), due));
            }
            self.state.handled(s, now);
        }
        self.schedules = enabled
            .into_iter()
            .map(|s| {
                let next = s.next_after(now);
                (s, next)
            })
            .collect();
        for (s, due) in catch_up {
            self.fire(&s, due, true);
        }
        self.save();
    }

    fn save(&self) {
        if let Err(e) = self.state.save(self.project.root()) {
            self.log(&format!("warning: cannot save the scheduler's record: {e}"));
        }
    }

    /// Picks up a changed schedules.yml; a broken one is logged and the old schedules stay.
    fn reload_if_changed(&mut self) {
        let st = stamp(self.project.root());
        if st == self.file_stamp {
            return;
        }
        self.file_stamp = st;
        let loaded = SchedulesFile::load(self.project.root()).and_then(|(f, _)| f.resolved());
        match loaded {
            Err(e) => self.log(&format!(
                "schedules.yml changed but cannot be used, keeping the previous schedules: {e}"
            )),
            Ok(list) => {
                let now = self.clock.now();
                let old = std::mem::take(&mut self.schedules);
                for s in list.into_iter().filter(|s| s.enabled) {
                    let kept = old
                        .iter()
                        .find(|(o, _)| {
                            o.name == s.name && o.expr == s.expr && o.timezone == s.timezone
                        })
                        .map(|(_, n)| *n);
                    let next = kept.unwrap_or_else(|| s.next_after(now));
                    if kept.is_none() {
                        self.state.handled(&s, now);
                    }
                    self.schedules.push((s, next));
                }
                let names: Vec<&str> = self
                    .schedules
                    .iter()
                    .map(|(s, _)| s.name.as_str())
                    .collect();
                self.state
                    .schedules
                    .retain(|n, _| names.contains(&n.as_str()));
                self.log(&format!(
                    "schedules.yml reloaded: {} enabled schedule(s): {}",
                    names.len(),
                    names.join(", ")
                ));
                self.save();
            }
        }
    }

    fn fire_due(&mut self) {
        let now = self.clock.now();
        let due: Vec<(Schedule, DateTime<Utc>)> = self
            .schedules
            .iter()
            .filter_map(|(s, n)| n.filter(|n| *n <= now).map(|n| (s.clone(), n)))
            .collect();
        for (s, at) in due {
            self.fire(&s, at, false);
            if let Some(e) = self.schedules.iter_mut().find(|(x, _)| x.name == s.name) {
                e.1 = s.next_after(now.max(at));
            }
            self.state.handled(&s, now.max(at));
        }
    }

    fn wait_time(&self) -> Duration {
        let now = self.clock.now();
        let next = self.schedules.iter().filter_map(|(_, n)| *n).min();
        let until = next
            .map(|n| (n - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600));
        until.min(Duration::from_millis(250))
    }

    /// Starts a run of `s` due at `due`, or logs why it cannot run.
    fn fire(&mut self, s: &Schedule, due: DateTime<Utc>, catch_up: bool) {
        let what = if catch_up {
            format!(
                "catch-up of the missed run due {} (later missed runs are not repeated)",
                ts(due)
            )
        } else {
            format!("due {}", ts(due))
        };
        let file = match crate::sources::SourcesFile::load(&self.project) {
            Ok(f) => f,
            Err(e) => {
                self.log(&format!(
                    "skipped {}: {what}: cannot read sources.yml: {e}",
                    s.name
                ));
                self.record_skip(s);
                return;
            }
        };
        let (wanted, not) = schedule::sources_of(s, &file);
        for (src, why) in not {
            self.log(&format!("skipped {}: source {src} is {why}", s.name));
        }
        let (free, busy) = self.busy.split(&wanted);
        for (src, by) in busy {
            self.log(&format!(
                "skipped {}: source {src} is still being synced by schedule {by} ({what})",
                s.name
            ));
        }
        if free.is_empty() {
            self.log(&format!("skipped {}: no source to sync ({what})", s.name));
            self.record_skip(s);
            return;
        }
        match self.spawn(s, &free) {
            Ok((pid, log)) => {
                self.log(&format!(
                    "fired {}: sync {} ({what}, pid {pid}, output in {})",
                    s.name,
                    free.join(", "),
                    log.display()
                ));
                let now = self.clock.now();
                let r = self.state.handled(s, now);
                r.last_started = Some(now);
                r.last_status = Some("running".into());
            }
            Err(e) => {
                self.log(&format!(
                    "failed {}: cannot start `dango sync`: {e:#}",
                    s.name
                ));
                self.record_skip(s);
            }
        }
        self.save();
    }

    fn record_skip(&mut self, s: &Schedule) {
        let now = self.clock.now();
        let r = self.state.handled(s, now);
        r.last_status = Some("skipped".into());
        self.save();
    }

    fn spawn(&mut self, s: &Schedule, sources: &[String]) -> anyhow::Result<(u32, PathBuf)> {
        let root = self.project.root();
        let log_path = root
            .join(".dango")
            .join("logs")
            .join(format!("schedule-{}.log", s.name));
        std::fs::create_dir_all(log_path.parent().unwrap_or(root))?;
        let mut logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        writeln!(
            logf,
            "=== {} schedule {}: dango sync {}",
            ts(self.clock.now()),
            s.name,
            sources.join(" ")
        )?;
        let exe = std::env::current_exe().context("cannot find the dango executable")?;
        let mut cmd = Command::new(exe);
        cmd.arg("-p").arg(root);
        for _ in 0..self.verbose {
            cmd.arg("-v");
        }
        cmd.arg("sync")
            .arg("--json")
            .args(sources)
            .env("DANGO_SYNC_TRIGGER", format!("schedule:{}", s.name))
            .env_remove(schedule::NOW_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(logf))
            .process_group(0);
        let mut child = cmd.spawn().context("cannot start the child process")?;
        let pid = child.id();
        let id = self.next_id;
        self.next_id += 1;
        let tx = self.tx.clone();
        let mut stdout = child.stdout.take();
        std::thread::Builder::new()
            .name(format!("dango-schedule-{id}"))
            .spawn(move || {
                let mut out = String::new();
                if let Some(o) = stdout.as_mut() {
                    let _ = o.read_to_string(&mut out);
                }
                let code = child.wait().ok().and_then(|s| s.code());
                let _ = tx.send(Ended {
                    id,
                    code,
                    stdout: out,
                });
            })?;
        self.busy.take(sources, &s.name);
        self.running.insert(
            id,
            Running {
                schedule: s.name.clone(),
                sources: sources.to_vec(),
                pid,
                started: std::time::Instant::now(),
                log: log_path.clone(),
            },
        );
        Ok((pid, log_path))
    }

    fn finished(&mut self, e: Ended) {
        let Some(r) = self.running.remove(&e.id) else {
            return;
        };
        self.busy.release(&r.sources);
        let status = match e.code {
            Some(0) => "success",
            Some(130) => "interrupted",
            _ => "failed",
        };
        let mut detail = summary(&e.stdout);
        if detail.is_empty() {
            detail = match e.code {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".into(),
            };
        }
        if status != "success" {
            detail.push_str(&format!("; see {}", r.log.display()));
        }
        self.log(&format!(
            "finished {}: {status} in {:.1}s: {detail}",
            r.schedule,
            r.started.elapsed().as_secs_f64()
        ));
        let now = self.clock.now();
        if let Some(rec) = self.state.schedules.get_mut(&r.schedule) {
            rec.last_finished = Some(now);
            rec.last_status = Some(status.into());
        }
        self.save();
    }

    /// Interrupts the running syncs (SIGINT: their next safe point), waits for them, and
    /// saves the record. A second signal asks them again (a dango sync then stops at once,
    /// which is crash-safe too).
    fn shutdown(&mut self, rx: &mpsc::Receiver<Ended>) {
        let mut seen = SIGNALS.load(Ordering::SeqCst);
        self.log(&format!(
            "stopping: interrupting {} running sync(s) at their next safe point",
            self.running.len()
        ));
        self.signal_children();
        while !self.running.is_empty() {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(e) => self.finished(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let now_seen = SIGNALS.load(Ordering::SeqCst);
            if now_seen != seen {
                seen = now_seen;
                self.log("second signal: stopping the running sync(s) at once");
                self.signal_children();
            }
        }
        self.save();
        self.log("scheduler stopped");
    }

    fn signal_children(&self) {
        for r in self.running.values() {
            // SAFETY: kill with a pid of a child we started and have not reaped.
            unsafe {
                libc::kill(r.pid as libc::pid_t, libc::SIGINT);
            }
        }
    }
}

/// `orders ok, 100 row(s); customers failed: ...` from `dango sync --json`.
fn summary(stdout: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return String::new();
    };
    let parts: Vec<String> = v["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let name = s["source"].as_str().unwrap_or("?");
            let st = s["status"].as_str().unwrap_or("?");
            match s["error"].as_str() {
                Some(err) => format!("{name} {st}: {err}"),
                None => format!(
                    "{name} {st}, {} row(s)",
                    s["rows_loaded"].as_u64().unwrap_or(0)
                ),
            }
        })
        .collect();
    parts.join("; ")
}

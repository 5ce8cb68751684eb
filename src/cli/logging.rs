//! Logging: human-readable (or JSON) lines on stderr at the configured level, and every run
//! appended to `.dlt/pipelines/<name>/runtime.log`. Every line goes through
//! [`crate::config::redact::redact`], so no secret reaches a log.
//!
//! Level: `-v` (info) / `-vv` (debug) win, then `RUNTIME__LOG_LEVEL`, then `[runtime] log_level`
//! (secrets.toml, config.toml), default `WARNING`. The runtime.log gets at least INFO.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::config::redact::redact;

/// The open runtime.log of each thread that syncs a source (sources may sync concurrently).
/// A line logged on another thread (a worker of a stage) goes to the only open log; when
/// several sources sync at once, such a line goes to stderr only.
static LOG_FILES: Mutex<Vec<(std::thread::ThreadId, File)>> = Mutex::new(Vec::new());

/// Where log lines go.
#[derive(Clone, Copy)]
enum Sink {
    Stderr,
    RuntimeLog,
}

/// A writer that redacts secrets from every write.
struct Redacting(Sink);

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = redact(&String::from_utf8_lossy(buf));
        match self.0 {
            Sink::Stderr => std::io::stderr().write_all(text.as_bytes())?,
            Sink::RuntimeLog => {
                if let Ok(mut g) = LOG_FILES.lock() {
                    let me = std::thread::current().id();
                    let only = g.len() == 1;
                    if let Some((_, f)) = g.iter_mut().find(|(t, _)| *t == me || only) {
                        f.write_all(text.as_bytes())?;
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Make(Sink);

impl<'a> MakeWriter<'a> for Make {
    type Writer = Redacting;
    fn make_writer(&'a self) -> Redacting {
        Redacting(self.0)
    }
}

/// dlt's level name to a tracing level.
pub fn level_from_name(name: &str) -> LevelFilter {
    match name.trim().to_ascii_uppercase().as_str() {
        "CRITICAL" | "ERROR" => LevelFilter::ERROR,
        "WARNING" | "WARN" => LevelFilter::WARN,
        "INFO" => LevelFilter::INFO,
        "DEBUG" => LevelFilter::DEBUG,
        "TRACE" => LevelFilter::TRACE,
        _ => LevelFilter::WARN,
    }
}

/// Installs the global subscriber. `level` is the stderr level; the runtime.log gets at least
/// INFO. Call once.
pub fn init(level: LevelFilter, format: LogFormat) {
    let file_level = level.max(LevelFilter::INFO);
    let stderr_targets = Targets::new().with_target("dango", level);
    let file_targets = Targets::new().with_target("dango", file_level);
    let (stderr, file): (
        Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>,
        Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>,
    ) = match format {
        LogFormat::Json => (
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(Make(Sink::Stderr))
                .with_filter(stderr_targets)
                .boxed(),
            tracing_subscriber::fmt::layer()
                .json()
                .with_ansi(false)
                .with_writer(Make(Sink::RuntimeLog))
                .with_filter(file_targets)
                .boxed(),
        ),
        LogFormat::Text => (
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(Make(Sink::Stderr))
                .with_filter(stderr_targets)
                .boxed(),
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Make(Sink::RuntimeLog))
                .with_filter(file_targets)
                .boxed(),
        ),
    };
    let _ = tracing_subscriber::registry()
        .with(vec![stderr, file])
        .try_init();
}

/// Sends the log lines of this thread (also) to `path` (appending), until
/// [`close_runtime_log`].
pub fn open_runtime_log(path: &Path) {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let f = OpenOptions::new().create(true).append(true).open(path);
    if let Ok(mut g) = LOG_FILES.lock() {
        let me = std::thread::current().id();
        g.retain(|(t, _)| *t != me);
        if let Ok(f) = f {
            g.push((me, f));
        }
    }
}

/// Stops writing this thread's lines to its runtime.log.
pub fn close_runtime_log() {
    if let Ok(mut g) = LOG_FILES.lock() {
        let me = std::thread::current().id();
        for (_, f) in g.iter_mut().filter(|(t, _)| *t == me) {
            let _ = f.flush();
        }
        g.retain(|(t, _)| *t != me);
    }
}

//! The crate-wide error type.
//!
//! Every variant says what went wrong and, where the user can act, what to do next.

use std::path::{Path, PathBuf};

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the dango library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{op} {path}: {source}", op = "cannot access", path = path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A project or source configuration is invalid.
    #[error("{0}")]
    Config(String),

    /// Input data is malformed.
    #[error(
        "{origin}:{line}: {reason}. Fix or remove that line and run `dango sync` again; nothing from this run was loaded"
    )]
    BadInput {
        /// File (or other origin) of the data.
        origin: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },

    /// A hard-linked source file was modified in place after it was extracted.
    #[error(
        "{origin} was modified while dango was loading it (load package {load_id} links to the file instead of copying it). The package was discarded and nothing from it was loaded: run `dango sync` again, and write files to a temporary name then rename them into place"
    )]
    SourceChanged {
        /// The file.
        origin: String,
        /// The discarded package.
        load_id: String,
    },

    /// A source failed while producing data.
    #[error("source `{source_name}`: {reason}")]
    Source {
        /// Source name.
        source_name: String,
        /// What went wrong.
        reason: String,
    },

    /// Normalization of a row failed.
    #[error("in schema `{schema}`: {reason}")]
    Normalize {
        /// Schema name.
        schema: String,
        /// What went wrong.
        reason: String,
    },

    /// The destination rejected a statement.
    #[error("destination error while {context}: {reason}")]
    Destination {
        /// What the loader was doing.
        context: String,
        /// The database's message.
        reason: String,
    },

    /// The warehouse is locked by another process.
    #[error("the warehouse {path} is in use by another process ({reason}). Wait for the other `dango` run to finish, or close the program holding the file, then try again", path = path.display())]
    WarehouseLocked {
        /// Warehouse file.
        path: PathBuf,
        /// The database's message.
        reason: String,
    },

    /// A stored file is unreadable.
    #[error("{path} is corrupt: {reason}. Remove it (the next run rebuilds it) or restore it from a backup", path = path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A pipeline step failed; wraps the cause with the step and load id.
    #[error("pipeline `{pipeline}` failed at step {step}{}: {source}", load_id.as_ref().map(|l| format!(" (load id {l})")).unwrap_or_default())]
    StepFailed {
        /// Pipeline name.
        pipeline: String,
        /// extract, normalize or load.
        step: &'static str,
        /// The package, when one exists.
        load_id: Option<String>,
        /// The cause.
        #[source]
        source: Box<Error>,
    },

    /// The run was interrupted (Ctrl-C).
    #[error("interrupted; committed data is kept and the next run resumes pending work")]
    Interrupted,

    /// No pipeline of that name in the project.
    #[error("pipeline `{name}` not found in {dir}. Known pipelines: {known}. A pipeline is created by its first sync: run `dango sync {name}`{sources}", dir = dir.display(), known = if known.is_empty() { "(none)".to_string() } else { known.join(", ") }, sources = if sources.is_empty() { String::new() } else { format!(" (sources in sources.yml: {})", sources.join(", ")) })]
    PipelineNotFound {
        /// The name asked for.
        name: String,
        /// The pipelines dir searched.
        dir: PathBuf,
        /// Pipelines that exist.
        known: Vec<String>,
        /// Sources declared in sources.yml.
        sources: Vec<String>,
    },

    /// The API rejected the credentials (HTTP 401/403).
    #[error(
        "source `{source_name}`: invalid credentials: HTTP {status} from {url}. dango used {used}. To fix it: {fix}"
    )]
    InvalidCredentials {
        /// Source name.
        source_name: String,
        /// HTTP status (401 or 403).
        status: u16,
        /// The URL, without secrets.
        url: String,
        /// Which secret was used and where it came from (never its value), e.g. "`token` from
        /// environment variable GH_TOKEN"; see [`crate::config::Settings::credential_hint`].
        used: String,
        /// Where to set it.
        fix: String,
    },

    /// Still rate limited (HTTP 429) after every retry.
    #[error(
        "source `{source_name}`: rate limit exceeded: HTTP 429 from {url} after {attempts} attempt(s). To wait longer, raise the retry settings in .dlt/config.toml: [runtime] request_max_attempts (now {attempts}), request_backoff_factor and request_max_retry_delay (or RUNTIME__REQUEST_MAX_ATTEMPTS, RUNTIME__REQUEST_BACKOFF_FACTOR, RUNTIME__REQUEST_MAX_RETRY_DELAY), or sync less often"
    )]
    RateLimited {
        /// Source name.
        source_name: String,
        /// The URL, without secrets.
        url: String,
        /// Attempts made (`request_max_attempts`).
        attempts: u32,
    },

    /// The data no longer fits the tables in the warehouse.
    #[error("pipeline `{pipeline}`: schema mismatch: {changes}. To reload the source with the new shape, run `dango sync {pipeline} --full-refresh` (drops and reloads its tables), or pin the type with a column hint in .dango/sources.yml", changes = changes.join("; "))]
    SchemaMismatch {
        /// Pipeline name.
        pipeline: String,
        /// What changed, one entry per column: "table.column: warehouse BIGINT, new data text".
        changes: Vec<String>,
    },

    /// Data breaks a `freeze` schema contract (dlt's `DataValidationError`).
    #[error("{0}")]
    DataValidation(Box<crate::schema::contract::DataValidationError>),

    /// A bug: an invariant did not hold.
    #[error("internal error: {0}. This is a bug in dango; please report it")]
    Internal(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Wraps the error as a failure of a pipeline step.
    pub fn in_step(self, pipeline: &str, step: &'static str, load_id: Option<&str>) -> Error {
        match self {
            e @ (Error::StepFailed { .. } | Error::Interrupted) => e,
            e => Error::StepFailed {
                pipeline: pipeline.to_string(),
                step,
                load_id: load_id.map(str::to_string),
                source: Box::new(e),
            },
        }
    }
}

impl From<duckdb::Error> for Error {
    fn from(e: duckdb::Error) -> Error {
        Error::Destination {
            context: "running a statement".into(),
            reason: e.to_string(),
        }
    }
}

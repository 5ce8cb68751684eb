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

    /// An HTTP request of a source failed for good (after the retries, when the failure was
    /// transient), other than a rejection of the credentials or a rate limit.
    #[error("source `{source_name}`: {reason}")]
    Http {
        /// Source name.
        source_name: String,
        /// What failed: the request (URL without secrets), the status or transport error,
        /// the attempts made and what to do.
        reason: String,
        /// Whether the same request may succeed later unchanged (5xx, timeouts, connection
        /// errors) or not (4xx, an invalid request); see [`Error::is_transient`].
        transient: bool,
    },

    /// The API rejected the credentials (HTTP 401/403). Never retried.
    #[error("{0}")]
    InvalidCredentials(Box<CredentialsRejected>),

    /// Still rate limited (HTTP 429) after every attempt `[runtime] request_max_attempts`
    /// allows (dlt's retry settings). Transient: a later run may succeed.
    #[error("{0}")]
    RateLimited(Box<RateLimitExceeded>),

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

    /// A load would have left previously non-empty tables with 0 rows; it was refused
    /// before the commit and nothing changed.
    #[error("refused to replace {} with nothing: the load would leave {} empty. Nothing was changed (data, state and cursors are as they were). If the source really is empty now, run the sync again with --allow-empty-replace", tables.iter().map(|(t, n)| format!("table {t} ({n} rows before)")).collect::<Vec<_>>().join(", "), if tables.len() == 1 { "it" } else { "them" })]
    EmptyReplaceRefused {
        /// The tables, with their rows before the load.
        tables: Vec<(String, u64)>,
    },

    /// A bug: an invariant did not hold.
    #[error("internal error: {0}. This is a bug in dango; please report it")]
    Internal(String),
}

/// The details of [`Error::InvalidCredentials`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "source `{source_name}`: {request}: invalid credentials: {status} Client Error: {reason} for url: {url}. dango used {used}. To fix it: {fix}{}",
    response.as_deref().map(|b| format!("\nResponse: {b}")).unwrap_or_default()
)]
pub struct CredentialsRejected {
    /// Source name.
    pub source_name: String,
    /// The request that was refused, e.g. resource \`issues\` or the OAuth2 token request.
    pub request: String,
    /// HTTP status (401 or 403).
    pub status: u16,
    /// Its reason phrase (`Unauthorized`, `Forbidden`).
    pub reason: String,
    /// The URL, without secrets.
    pub url: String,
    /// Which credential fields were sent and where each came from (never a value), e.g.
    /// "`token` from SHOP_TOKEN (environment), named by `token_env` in .dango/sources.yml".
    pub used: String,
    /// What to change, and where.
    pub fix: String,
    /// The response body (redacted), with `[runtime] http_show_error_body`.
    pub response: Option<String>,
}

/// The details of [`Error::RateLimited`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "source `{source_name}`: {request}: rate limit exceeded: 429 Client Error: Too Many Requests for url: {url}, on all {attempts} attempt(s). The API is throttling dango. To retry for longer, raise [runtime] request_max_attempts (now {attempts}) and request_backoff_factor (now {backoff_factor}) in .dlt/config.toml, or set RUNTIME__REQUEST_MAX_ATTEMPTS and RUNTIME__REQUEST_BACKOFF_FACTOR (each wait is capped by request_max_retry_delay, RUNTIME__REQUEST_MAX_RETRY_DELAY); or sync less often{}",
    response.as_deref().map(|b| format!("\nResponse: {b}")).unwrap_or_default()
)]
pub struct RateLimitExceeded {
    /// Source name.
    pub source_name: String,
    /// The throttled request, e.g. resource \`issues\` or the OAuth2 token request.
    pub request: String,
    /// The URL, without secrets.
    pub url: String,
    /// Attempts made (`request_max_attempts`).
    pub attempts: u32,
    /// `request_backoff_factor` in seconds.
    pub backoff_factor: f64,
    /// The last response body (redacted), with `[runtime] http_show_error_body`.
    pub response: Option<String>,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// dlt's `TransientException` vs `TerminalException`: whether running the same thing
    /// again later, unchanged, may succeed (a rate limit, a 5xx, a timeout or connection
    /// error, a warehouse locked by another run). Terminal errors (rejected credentials,
    /// other 4xx, bad configuration or data) need a fix first; retrying them only repeats
    /// the failure. The REST client retries a request only on transient failures (see
    /// [`crate::sources::rest_api::client::HttpFailure::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited(_) | Error::WarehouseLocked { .. } => true,
            Error::Http { transient, .. } => *transient,
            Error::StepFailed { source, .. } => source.is_transient(),
            _ => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_terminal_errors() {
        let rate = Error::RateLimited(Box::new(RateLimitExceeded {
            source_name: "s".into(),
            request: "resource `x`".into(),
            url: "http://127.0.0.1/x".into(),
            attempts: 3,
            backoff_factor: 1.0,
            response: None,
        }));
        let creds = Error::InvalidCredentials(Box::new(CredentialsRejected {
            source_name: "s".into(),
            request: "resource `x`".into(),
            status: 401,
            reason: "Unauthorized".into(),
            url: "http://127.0.0.1/x".into(),
            used: "`token` from T".into(),
            fix: "export T".into(),
            response: None,
        }));
        let http = |transient| Error::Http {
            source_name: "s".into(),
            reason: "503".into(),
            transient,
        };
        assert!(rate.is_transient());
        assert!(http(true).is_transient());
        assert!(!http(false).is_transient());
        assert!(!creds.is_transient());
        assert!(!Error::Config("bad".into()).is_transient());
        // The classification survives the step wrapper.
        assert!(rate.in_step("p", "extract", None).is_transient());
        assert!(!creds.in_step("p", "extract", None).is_transient());
    }
}

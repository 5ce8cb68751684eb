//! Integration tests: the real `dango` binary on temporary projects, against real DuckDB.

mod hermetic;
mod services;
mod util;

mod bad_input;
mod cli_common;
mod cli_help;
mod cli_logging;
mod cli_pipeline;
mod cli_sources;
mod cli_sync;
mod config_resolution;
mod contracts;
mod crash;
mod filesystem;
mod http_errors;
mod incremental;
mod init;
mod library;
mod merge;
mod merge_replay;
mod quickstart;
mod rest_api;
mod run_context;
mod sync_local_files;
mod test_harness;
mod typed_items;

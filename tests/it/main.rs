//! Integration tests: the real `dango` binary on temporary projects, against real DuckDB.

mod util;

mod bad_input;
mod crash;
mod init;
mod library;
mod merge;
mod quickstart;
mod rest_api;
mod sync_local_files;

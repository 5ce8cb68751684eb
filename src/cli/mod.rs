//! The command line: a thin layer over the library.

mod init;
mod quickstart;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// dango: load data into DuckDB with dlt's warehouse layout, fast and crash-safe.
#[derive(Debug, Parser)]
#[command(name = "dango", version, about, long_about = None)]
pub struct Opts {
    /// Project directory (default: the current directory or its nearest parent project).
    #[arg(short = 'p', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project: .dango/sources.yml, .dlt/, data/, custom_sources/.
    ///
    /// Example: `dango init my_project`
    Init(init::InitArgs),
    /// Sync sources into the warehouse (all enabled sources, or the ones named).
    ///
    /// Example: `dango sync orders`
    Sync(sync::SyncArgs),
    /// Create a demo project with generated sample orders, sync it and show what was loaded.
    ///
    /// Example: `dango quickstart demo`
    Quickstart(quickstart::QuickstartArgs),
}

/// Parses arguments and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let opts = Opts::parse();
    init_logging(opts.verbose);
    match opts.command {
        Command::Init(args) => init::run(opts.project, args),
        Command::Sync(args) => sync::run(opts.project, args),
        Command::Quickstart(args) => quickstart::run(args),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => std::env::var("RUNTIME__LOG_LEVEL")
            .map(|l| l.to_ascii_lowercase())
            .unwrap_or_else(|_| "warn".into()),
        1 => "info".into(),
        _ => "debug".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!("dango={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("dango=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Resolves the project from `-p` or the current directory.
pub(crate) fn project(dir: Option<PathBuf>) -> anyhow::Result<crate::config::Project> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    Ok(crate::config::Project::discover(&dir)?)
}

//! The command line: a thin layer over the library.

mod abort;
mod backup;
mod doctor;
mod governance;
mod history;
mod init;
mod interrupt;
pub mod logging;
mod ops_common;
mod partial;
mod pipeline;
mod pipeline_state;
mod quickstart;
mod schedule;
mod scheduler;
mod source;
mod source_add;
mod sync;
mod sync_window;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::redact::redact;

const MAIN_EXAMPLES: &str = "\
Getting started:
  dango init my_project && cd my_project   create a project
  $EDITOR .dango/sources.yml                declare a source (see `dango source --help`)
  dango validate                            check config, secrets and paths
  dango sync                                load every enabled source
  dango pipeline list                       see what was loaded
  dango pipeline <source> show              tables, columns, row counts, sample rows

Config and secrets are read as dlt reads them: environment (SECTION__KEY), then
.dlt/secrets.toml, then .dlt/config.toml (project first, then ~/.dlt). Log level:
-v / RUNTIME__LOG_LEVEL / [runtime] log_level.";

/// dango: load data into DuckDB with dlt's warehouse layout, fast and crash-safe.
#[derive(Debug, Parser)]
#[command(name = "dango", version, about, long_about = None, after_help = MAIN_EXAMPLES)]
pub struct Opts {
    /// Project directory (default: the current directory or its nearest parent project).
    #[arg(short = 'p', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// More output: log level INFO (-v) or DEBUG (-vv) on stderr; `pipeline info -v` shows state.
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
    #[command(
        after_help = "Examples:\n  dango init my_project\n  dango init --force        # rewrite the config files of the project here"
    )]
    Init(init::InitArgs),
    /// Sync sources into the warehouse (all enabled sources, or the ones named).
    #[command(after_help = sync::EXAMPLES)]
    Sync(sync::SyncArgs),
    /// Add, list or remove the sources declared in .dango/sources.yml.
    #[command(after_help = source::EXAMPLES)]
    Source(source::SourceArgs),
    /// Check sources.yml, secrets and paths without syncing; lists every problem.
    #[command(
        after_help = "Examples:\n  dango validate\n  dango validate --json\n\nExit code 0 when everything is fine, 1 when a problem was found."
    )]
    Validate(validate::ValidateArgs),
    /// Inspect pipelines: info, show, trace, schema, load packages, failed jobs.
    #[command(after_help = pipeline::EXAMPLES)]
    Pipeline(pipeline::PipelineArgs),
    /// Back up the warehouse, config and pipeline state; list or restore backups.
    #[command(after_help = backup::EXAMPLES)]
    Backup(backup::BackupArgs),
    /// Check each source: config, secrets, reachability, pending packages, disk, last sync.
    #[command(after_help = doctor::EXAMPLES)]
    Doctor(doctor::DoctorArgs),
    /// Sync history of the sources: status, rows, anomalies (kept in the warehouse).
    #[command(after_help = history::EXAMPLES)]
    History(history::HistoryArgs),
    /// List, add, remove, enable or disable the schedules in .dango/schedules.yml.
    #[command(after_help = schedule::EXAMPLES)]
    Schedule(schedule::ScheduleArgs),
    /// Run the schedules in the foreground until SIGTERM or Ctrl-C (for systemd or a container).
    #[command(name = "run-scheduler", after_help = scheduler::EXAMPLES)]
    RunScheduler(scheduler::SchedulerArgs),
    /// Schema drift: what changed in each source's tables and columns; accept the changes.
    #[command(after_help = governance::EXAMPLES)]
    Governance(governance::GovernanceArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  dango completions bash > ~/.local/share/bash-completion/completions/dango\n  dango completions zsh > \"${fpath[1]}/_dango\"\n  dango completions fish > ~/.config/fish/completions/dango.fish"
    )]
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
    /// Create a demo project with generated sample orders, sync it and show what was loaded.
    #[command(after_help = "Example:\n  dango quickstart demo --orders 1000")]
    Quickstart(quickstart::QuickstartArgs),
}

/// Parses arguments and runs the command. Errors are printed here (secrets redacted).
pub fn run() -> anyhow::Result<ExitCode> {
    let opts = Opts::parse();
    let result = dispatch(opts);
    match result {
        Ok(code) => Ok(code),
        Err(err) => {
            if err
                .downcast_ref::<crate::Error>()
                .is_some_and(|e| matches!(e, crate::Error::Interrupted))
            {
                eprintln!("{}", redact(&format!("{err:#}")));
                return Ok(ExitCode::from(130));
            }
            eprintln!("error: {}", redact(&format!("{err:#}")));
            Ok(ExitCode::from(2))
        }
    }
}

fn dispatch(opts: Opts) -> anyhow::Result<ExitCode> {
    let verbose = opts.verbose;
    match opts.command {
        Command::Init(args) => {
            init_logging(verbose, None);
            init::run(opts.project, args)
        }
        Command::Sync(args) => sync::run(opts.project, verbose, args),
        Command::Source(args) => {
            init_logging(verbose, None);
            source::run(opts.project, args)
        }
        Command::Validate(args) => validate::run(opts.project, verbose, args),
        Command::Pipeline(args) => {
            init_logging(verbose, None);
            pipeline::run(opts.project, verbose, args)
        }
        Command::Backup(args) => {
            init_logging(verbose, None);
            backup::run(opts.project, args)
        }
        Command::Doctor(args) => {
            init_logging(verbose, None);
            doctor::run(opts.project, args)
        }
        Command::History(args) => {
            init_logging(verbose, None);
            history::run(opts.project, args)
        }
        Command::Schedule(args) => {
            init_logging(verbose, None);
            schedule::run(opts.project, args)
        }
        Command::RunScheduler(args) => scheduler::run(opts.project, verbose, args),
        Command::Governance(args) => {
            init_logging(verbose, None);
            governance::run(opts.project, args)
        }
        Command::Completions { shell } => {
            let mut cmd = Opts::command();
            clap_complete::generate(shell, &mut cmd, "dango", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Quickstart(args) => {
            init_logging(verbose, None);
            quickstart::run(args)
        }
    }
}

/// Sets up logging from `-v` and, when known, the project's `[runtime]` settings.
pub(crate) fn init_logging(verbose: u8, runtime: Option<&crate::config::RuntimeSettings>) {
    let level = match verbose {
        0 => match runtime {
            Some(r) => logging::level_from_name(&r.log_level),
            None => std::env::var("RUNTIME__LOG_LEVEL")
                .map(|l| logging::level_from_name(&l))
                .unwrap_or(tracing::level_filters::LevelFilter::WARN),
        },
        1 => tracing::level_filters::LevelFilter::INFO,
        _ => tracing::level_filters::LevelFilter::DEBUG,
    };
    let format = runtime
        .map(|r| r.log_format)
        .unwrap_or(crate::config::LogFormat::Text);
    logging::init(level, format);
}

/// Resolves the project from `-p` or the current directory.
pub(crate) fn project(dir: Option<PathBuf>) -> anyhow::Result<crate::config::Project> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    Ok(crate::config::Project::discover(&dir)?)
}

/// Asks a yes/no question on the terminal; `false` when stdin is not a terminal.
pub(crate) fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

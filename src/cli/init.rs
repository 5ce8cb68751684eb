//! `dango init`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::EMPTY_SOURCES_YML;

/// Arguments of `dango init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the project in (default: `-p` or the current directory).
    pub dir: Option<PathBuf>,
    /// Overwrite an existing project's configuration files.
    #[arg(long)]
    pub force: bool,
    /// Do not register the dlt sources found in `custom_sources/*.py`.
    #[arg(long)]
    pub no_custom_sources: bool,
}

const CONFIG_TOML: &str = "# dlt configuration: [runtime], [extract], [normalize], [load], [sources.<name>]\n[runtime]\nlog_level = \"WARNING\"\n";
/// The warehouse in dlt's native form of DuckDB credentials: dango reads the path from it, and
/// dlt's CLI (`dlt pipeline … sync | drop`) and `dlt.pipeline(…, destination="duckdb")` find the
/// same warehouse (dlt refuses credentials in config.toml).
const SECRETS_TOML: &str = "# Credentials. Keep this file out of version control.\n# [sources.<source_name>]\n# api_key = \"...\"\n\n# The warehouse, for dango and for dlt's own tools (dlt pipeline ..., dlt.pipeline(...)).\n[destination.duckdb]\ncredentials = \"data/warehouse.duckdb\"\n";
const GITIGNORE: &str =
    "# dango\n.dlt/secrets.toml\n.dlt/pipelines/\n.env\ndata/*.duckdb\ndata/*.duckdb.wal\n";

/// Runs `dango init`.
pub fn run(project: Option<PathBuf>, args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.or(project).unwrap_or_else(|| PathBuf::from("."));
    create_project(&dir, args.force)?;
    println!("Created a dango project in {}", dir.display());
    if !args.no_custom_sources {
        register_custom_sources(&dir)?;
    }
    println!(
        "Next: declare sources in {}, then run `dango sync`.",
        dir.join(".dango/sources.yml").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates the project layout in `dir`; refuses to overwrite unless `force`.
pub fn create_project(dir: &Path, force: bool) -> anyhow::Result<()> {
    let sources = dir.join(".dango").join("sources.yml");
    if sources.exists() && !force {
        bail!(
            "{} already holds a dango project ({} exists). Use `dango init --force` to overwrite its configuration files",
            dir.display(),
            sources.display()
        );
    }
    for sub in [".dango", ".dlt", "data", "custom_sources"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    write(&sources, EMPTY_SOURCES_YML)?;
    write(&dir.join(".dlt").join("config.toml"), CONFIG_TOML)?;
    let secrets = dir.join(".dlt").join("secrets.toml");
    write(&secrets, SECRETS_TOML)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", secrets.display()))?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() || force {
        write(&gitignore, GITIGNORE)?;
    }
    Ok(())
}

/// Registers each module of `custom_sources/*.py` that has one `@dlt.source` as a `dlt_native`
/// source (what `dango source add --dlt-native` does); says why for the others, and how to
/// add them.
fn register_custom_sources(dir: &Path) -> anyhow::Result<()> {
    let folder = dir.join("custom_sources");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "py")
                && p.file_stem()
                    .is_some_and(|s| !s.to_string_lossy().starts_with('_'))
                && p.is_file()
        })
        .collect();
    if files.is_empty() {
        return Ok(());
    }
    files.sort();
    let project = crate::config::Project::new(dir.canonicalize()?);
    println!(
        "Found {} module(s) in custom_sources/: importing each to find its dlt sources",
        files.len()
    );
    for file in files {
        let rel = Path::new("custom_sources").join(file.file_name().unwrap_or_default());
        let args = super::source_add::AddArgs {
            dlt_native: project.root().join(&rel),
            name: None,
            function: None,
            template: false,
        };
        if let Err(e) = super::source_add::run(&project, args) {
            println!(
                "Skipped {}: {}
  Add it with `dango source add --dlt-native {} [--function <name>] [--name <source>]`",
                rel.display(),
                crate::config::redact::redact(&format!("{e:#}")),
                rel.display()
            );
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

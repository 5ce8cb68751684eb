//! `dango pipeline <name> abort-packages` (alias `drop-pending-packages`).

use std::process::ExitCode;

use anyhow::bail;
use fs4::fs_std::FileExt;

use crate::config::Project;
use crate::ops::disk::human;
use crate::ops::packages::{abort, pending};
use crate::storage::PipelineDir;

/// Aborts the pending packages of pipeline `name` (asks unless `yes`).
pub(super) fn run(
    project: &Project,
    name: &str,
    yes: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let root = project.pipeline_dir(name);
    if !root.is_dir() {
        return Err(crate::Error::PipelineNotFound {
            name: name.to_string(),
            dir: project.root().join(".dlt").join("pipelines"),
            known: project.pipeline_names(),
            sources: Vec::new(),
        }
        .into());
    }
    let dir = PipelineDir::new(&root);
    // The pipeline's own lock: no run of it may be using the packages.
    let lock_path = root.join(".lock");
    let own = std::fs::File::create(&lock_path).map_err(|e| crate::Error::io(&lock_path, e))?;
    if !own.try_lock_exclusive().unwrap_or(false) {
        bail!(
            "pipeline `{name}` is being run by another process (lock {}). Wait for it to finish, then abort its packages",
            lock_path.display()
        );
    }
    let packages = pending(&dir)?;
    if packages.is_empty() {
        if as_json {
            println!("{}", serde_json::json!({"aborted": []}));
        } else {
            println!("Pipeline `{name}` has no pending load packages: nothing to abort.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !as_json {
        println!(
            "Pending load packages of pipeline `{name}` that will be discarded (their data was never loaded; committed data is not touched):"
        );
        for p in &packages {
            println!(
                "  {} ({}): {} job(s), {} row(s), {}",
                p.load_id,
                p.state,
                p.jobs,
                p.rows,
                human(p.size)
            );
        }
    }
    if !yes
        && !super::confirm(&format!(
            "Abort {} package(s) of pipeline `{name}`?",
            packages.len()
        ))
    {
        bail!(
            "not confirmed; nothing was changed. Pass -y to confirm without a prompt: `dango pipeline {name} abort-packages -y`"
        );
    }
    let _lock = super::ops_common::lock_of(project)?.acquire(name, "abort packages")?;
    let reason = format!(
        "aborted by `dango pipeline {name} abort-packages` at {}: this package was never loaded",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    abort(&dir, &packages, &reason)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"aborted": packages}))?
        );
    } else {
        println!(
            "Aborted {} package(s). Their jobs are listed by `dango pipeline {name} failed-jobs`; the next `dango sync {name}` extracts again.",
            packages.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `dango sync --dry-run`: resolve config and secrets and print the plan.

use std::process::ExitCode;

use serde_json::json;

use super::SyncArgs;
use crate::config::redact::redact;
use crate::config::{Project, Settings};
use crate::sources::{BuildContext, SourceEntry};

/// Prints the plan of `selected`; exit code 1 if a source has problems.
pub(super) fn dry_run(
    project: &Project,
    settings: &Settings,
    selected: &[&SourceEntry],
    args: &SyncArgs,
) -> anyhow::Result<ExitCode> {
    let mut problems = 0;
    let mut plan = Vec::new();
    let mut plan_lines: Vec<Vec<String>> = Vec::new();
    let runtime = settings.runtime()?;
    let cx = BuildContext {
        settings,
        project_root: project.root(),
        runtime: &runtime,
    };
    for entry in selected {
        let name = entry.pipeline_name();
        let mut p = json!({
            "source": name,
            "type": entry.source_type,
            "pipeline": name,
            "dataset": entry.dataset_name(),
            "warehouse": project.warehouse(),
            "working_dir": project.pipeline_dir(&name),
            "full_refresh": args.full_refresh,
            "limit": args.limit,
        });
        let mut errs: Vec<String> = entry
            .config_problems(settings)
            .iter()
            .map(|e| redact(&e.to_string()))
            .collect();
        let mut lines = Vec::new();
        match entry.config(settings.env()) {
            Ok(cfg) => match cfg.plan(&name, &cx) {
                Ok(plan) => {
                    if let Some(m) = p.as_object_mut() {
                        m.extend(plan.details);
                    }
                    lines = plan.lines;
                }
                Err(e) => errs.push(redact(&e.to_string())),
            },
            Err(e) => errs.push(redact(&e.to_string())),
        }
        problems += errs.len();
        p["problems"] = json!(errs);
        plan.push(p);
        plan_lines.push(lines);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"dry_run": true, "sources": plan}))?
        );
    } else {
        println!("Dry run: nothing will be extracted, loaded or written.");
        for (p, lines) in plan.iter().zip(plan_lines) {
            println!(
                "- {} ({}): pipeline {} into dataset {} of {}",
                p["source"].as_str().unwrap_or_default(),
                p["type"].as_str().unwrap_or_default(),
                p["pipeline"].as_str().unwrap_or_default(),
                p["dataset"].as_str().unwrap_or_default(),
                project.warehouse().display()
            );
            for line in lines {
                println!("  {line}");
            }
            if args.full_refresh {
                println!("  full refresh: would drop its tables, state and pending packages first");
            }
            if let Some(limit) = args.limit {
                println!("  at most {limit} item(s) per resource");
            }
            for e in p["problems"].as_array().into_iter().flatten() {
                println!("  problem: {}", e.as_str().unwrap_or_default());
            }
        }
    }
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

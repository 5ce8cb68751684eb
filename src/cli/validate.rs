//! `dango validate`: config, secrets and paths, without syncing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::config::redact::redact;
use crate::sources::BuildContext;
use crate::sources::SourcesFile;
use crate::sources::dlt_native;
use crate::sources::file::known_types;

/// Arguments of `dango validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dango validate`.
pub fn run(project: Option<PathBuf>, verbose: u8, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let project = super::project(project)?;
    let mut problems: Vec<String> = Vec::new();
    let mut checked: Vec<String> = Vec::new();
    let settings = match project.settings() {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let runtime = settings.as_ref().and_then(|s| match s.runtime() {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    });
    super::init_logging(verbose, runtime.as_ref());
    if let Some(s) = &settings {
        for r in [
            s.extract(None).err(),
            s.normalize().err(),
            s.load_settings().err(),
        ]
        .into_iter()
        .flatten()
        {
            problems.push(r.to_string());
        }
    }
    let path = project.sources_file();
    let text = std::fs::read_to_string(&path).map_err(|e| crate::Error::io(&path, e))?;
    let (file, file_problems) = SourcesFile::parse_with_problems(&text, &path);
    problems.extend(file_problems.iter().map(|p| p.to_string()));
    if let (Some(file), Some(settings)) = (file, &settings) {
        checked.push(format!(
            "{}: {} source(s)",
            path.display(),
            file.sources.len()
        ));
        let names: Vec<&str> = file.sources.iter().map(|s| s.name.as_str()).collect();
        match crate::ops::schedule::file::check_file(project.root(), &names) {
            Ok(None) => {}
            Ok(Some(n)) => checked.push(format!(".dango/schedules.yml: {n} schedule(s)")),
            Err(p) => problems.extend(p),
        }
        let known = known_types();
        let runtime = runtime.clone().unwrap_or_default();
        let cx = BuildContext {
            settings,
            project_root: project.root(),
            runtime: &runtime,
        };
        for s in &file.sources {
            if !known.contains(&s.source_type.as_str()) {
                continue;
            }
            let before = problems.len();
            // A dlt source (`dlt_native`, Dango's API types): dlt resolves its arguments, and
            // the module is imported to check them.
            let dlt = s
                .block()
                .and_then(|b| dlt_native::dlt_config(&s.source_type, &s.name, &b, settings.env()));
            if dlt.is_none() {
                for e in s.config_problems(settings) {
                    problems.push(format!("source `{}`: {e}", s.name));
                }
            }
            if s.source_type_entry().is_some() {
                match s.config(settings.env()) {
                    Ok(cfg) => match cfg.plan(&s.pipeline_name(), &cx) {
                        Ok(plan) => match &dlt {
                            Some(Ok(d)) => match dlt_native::check::validate(
                                &s.pipeline_name(),
                                d,
                                project.root(),
                                settings,
                            ) {
                                Ok(line) => checked.push(format!(
                                    "source `{}`: {line} (Python: {})",
                                    s.name,
                                    plan.details
                                        .get("python")
                                        .and_then(|p| p.as_str())
                                        .unwrap_or("?")
                                )),
                                Err(e) => problems.push(e.to_string()),
                            },
                            _ => checked.push(format!("source `{}`: {}", s.name, plan.summary)),
                        },
                        Err(e) => problems.push(format!("source `{}`: {e}", s.name)),
                    },
                    Err(e) => problems.push(e.to_string()),
                }
            }
            tracing::debug!(source = %s.name, "checked source `{}`: {} problem(s)", s.name, problems.len() - before);
            if let Some(r) = s.resolved_block(settings.env()) {
                tracing::debug!(source = %s.name, "resolved config block: {}", serde_json::to_string(&r.block).unwrap_or_default());
            }
        }
    }
    let problems: Vec<String> = problems.iter().map(|p| redact(p)).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": problems.is_empty(), "checked": checked, "problems": problems})
            )?
        );
    } else if problems.is_empty() {
        for c in &checked {
            println!("ok  {c}");
        }
        println!("Everything is valid. Run `dango sync` to load.");
    } else {
        for c in &checked {
            println!("ok  {c}");
        }
        println!("{} problem(s):", problems.len());
        for p in &problems {
            let mut lines = p.lines();
            if let Some(first) = lines.next() {
                println!("  - {first}");
            }
            for l in lines {
                println!("    {l}");
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

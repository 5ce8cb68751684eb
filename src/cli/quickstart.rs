//! `dango quickstart`: a demo project with generated nested orders, synced end to end.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Project;

/// Arguments of `dango quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Directory of the demo project.
    #[arg(default_value = "dango-quickstart")]
    pub dir: PathBuf,
    /// Number of sample orders to generate.
    #[arg(long, default_value_t = 10_000)]
    pub orders: u64,
}

const SOURCE_NAME: &str = "shop";

fn sources_yml() -> String {
    format!(
        "version: \"1.0\"\nsources:\n  - name: {SOURCE_NAME}\n    type: local_files\n    enabled: true\n    description: Generated sample orders (dango quickstart)\n    local_files:\n      directory: data/sample\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n"
    )
}

/// Runs `dango quickstart`.
pub fn run(args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir;
    let project = Project::new(&dir);
    if project.sources_file().exists() {
        let file = crate::sources::SourcesFile::load(&project)?;
        if file.get(SOURCE_NAME).is_none() {
            bail!(
                "{} already holds a dango project without the quickstart source `{SOURCE_NAME}`. Pick another directory: `dango quickstart <DIR>`",
                dir.display()
            );
        }
    } else {
        super::init::create_project(&dir, false)?;
        std::fs::write(project.sources_file(), sources_yml())
            .with_context(|| format!("cannot write {}", project.sources_file().display()))?;
    }
    let sample_dir = dir.join("data").join("sample");
    std::fs::create_dir_all(&sample_dir)?;
    let sample = sample_dir.join("orders.jsonl");
    let tmp = sample_dir.join(".orders.jsonl.tmp");
    {
        let f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        crate::sample::write_orders(std::io::BufWriter::new(f), args.orders, 42)?;
    }
    std::fs::rename(&tmp, &sample)?;
    println!(
        "Generated {} sample orders in {}",
        args.orders,
        sample.display()
    );

    let project = Project::new(dir.canonicalize()?);
    let file = crate::sources::SourcesFile::load(&project)?;
    let entry = file
        .get(SOURCE_NAME)
        .context("quickstart source missing from sources.yml")?;
    let settings = project.settings()?;
    let run = super::sync::sync_source(
        &project,
        &settings,
        entry,
        &super::sync::RunOptions::default(),
    );
    let info = match run.result {
        Ok(info) => info,
        Err(e) => bail!("quickstart sync failed: {e}"),
    };
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["table", "rows loaded by this run", "total rows"]);
    for (t, n) in info.row_counts() {
        let total = info.total_rows.get(&t).copied().unwrap_or(0);
        table.add_row(vec![
            format!("{}.{}", info.dataset_name, t),
            n.to_string(),
            total.to_string(),
        ]);
    }
    println!("{table}");
    println!(
        "Synced in {:.2}s into {}. Query it with: duckdb {} \"SELECT * FROM {}.orders LIMIT 5\"",
        run.duration.as_secs_f64(),
        project.warehouse().display(),
        project.warehouse().display(),
        info.dataset_name
    );
    Ok(ExitCode::SUCCESS)
}

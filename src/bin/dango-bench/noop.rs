//! `--workload noop`: a repeat sync that finds nothing new, against Python dlt 1.31 doing the
//! same no-op, each as a whole process (start, config, state check, extract, exit):
//!
//! - `rest`: an incremental `rest_api` resource whose server answers one empty page;
//! - `files`: a `local_files` source with `track_files: true` and no new file (dlt: the
//!   `filesystem` source with an incremental on `modification_date` | `read_jsonl`).
//!
//! Both sides load the data once first (not timed), then the no-op is timed `--runs` times
//! (at least 5; the medians are compared). The report also counts what the no-ops committed
//! (`_dlt_loads` rows; dlt writes none).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, ensure};

use super::small::{self, count, dango, dlt, median, timed};
use super::{Args, Run};

const DLT_SCRIPT: &str = r#"
import sys, dlt
from dlt.sources.rest_api import rest_api_source
from dlt.sources.filesystem import filesystem, read_jsonl
mode, arg, db = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "rest":
    source = rest_api_source({
        "client": {"base_url": arg},
        "resources": [{
            "name": "events", "write_disposition": "append",
            "endpoint": {"path": "events", "params": {"since": "{incremental.start_value}"},
                         "incremental": {"cursor_path": "id", "initial_value": 0},
                         "paginator": "single_page", "data_selector": "$"},
        }],
    })
else:
    files = filesystem(bucket_url=arg, file_glob="*.jsonl")
    files.apply_hints(incremental=dlt.sources.incremental("modification_date"))
    source = (files | read_jsonl()).with_name("items")
p = dlt.pipeline(mode, destination=dlt.destinations.duckdb(db), dataset_name="raw_" + mode,
                 pipelines_dir="pipelines")
info = p.run(source, write_disposition="append") if mode != "rest" else p.run(source)
print("PACKAGES", len(info.loads_ids))
"#;

/// Runs the workload; `Ok(false)` if a side committed a load on a no-op.
pub fn bench(args: &Args, bin: &Path, work: &Path) -> Result<bool> {
    let python = small::python()?;
    let rows = 100;
    let handler: Arc<small::Handler> = Arc::new(move |target: &str| {
        if !target.starts_with("/events") {
            return None;
        }
        Some(match small::query_param(target, "since") {
            Some("0") => {
                let items: Vec<String> = (1..=rows)
                    .map(|i| format!("{{\"id\":{i},\"v\":\"row {i}\"}}"))
                    .collect();
                format!("[{}]", items.join(","))
            }
            _ => "[]".to_string(),
        })
    });
    let addr = small::serve(handler, Duration::ZERO)?;
    let base = format!("http://{addr}");
    let input = work.join("noop-input");
    std::fs::create_dir_all(&input)?;
    let lines: String = (1..=rows)
        .map(|i| format!("{{\"id\":{i},\"v\":\"row {i}\"}}\n"))
        .collect();
    std::fs::write(input.join("rows.jsonl"), lines)?;
    let proj = work.join("noop-proj");
    let input_text = serde_json::to_string(input.to_str().unwrap_or_default())?;
    let sources = format!(
        "version: \"1.0\"\nsources:\n  - name: rest\n    type: rest_api\n    rest_api:\n      client:\n        base_url: {base}\n      resources:\n        - name: events\n          write_disposition: append\n          endpoint:\n            path: events\n            params:\n              since: \"{{incremental.start_value}}\"\n            incremental:\n              cursor_path: id\n              initial_value: 0\n            paginator: single_page\n            data_selector: $\n  - name: files\n    type: local_files\n    local_files:\n      directory: {input_text}\n      file_pattern: \"*.jsonl\"\n      table_name: items\n      write_disposition: append\n      track_files: true\n"
    );
    small::project(&proj, &sources, "")?;
    let dlt_dir = work.join("noop-dlt");
    std::fs::create_dir_all(&dlt_dir)?;
    let log = work.join("noop.log");
    let warehouse = proj.join("data/warehouse.duckdb");
    let runs = args.runs.max(5);
    println!("dango-bench noop: {runs} timed no-op runs per side, {rows} rows loaded first");
    let mut ok = true;
    for (mode, arg) in [
        ("rest", base.clone()),
        ("files", input_text.trim_matches('"').to_string()),
    ] {
        let db = dlt_dir.join(format!("{mode}.duckdb"));
        let db_text = db.to_string_lossy().to_string();
        let dlt_cmd = || dlt(&python, &dlt_dir, DLT_SCRIPT, &[mode, &arg, &db_text]);
        timed(dango(bin, &proj, &["sync", mode], &[]), &log)?;
        timed(dlt_cmd()?, &log)?;
        let loads = format!("SELECT count(*) FROM raw_{mode}._dlt_loads");
        let (d0, p0) = (count(&warehouse, &loads)?, count(&db, &loads)?);
        let (mut ours, mut theirs): (Vec<Run>, Vec<Run>) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(timed(dango(bin, &proj, &["sync", mode], &[]), &log)?);
            theirs.push(timed(dlt_cmd()?, &log)?);
        }
        let (d1, p1) = (count(&warehouse, &loads)?, count(&db, &loads)?);
        let rows_sql = format!(
            "SELECT count(*) FROM raw_{mode}.{}",
            if mode == "rest" { "events" } else { "items" }
        );
        let (dr, pr) = (count(&warehouse, &rows_sql)?, count(&db, &rows_sql)?);
        ensure!(
            dr == rows && pr == rows,
            "{mode}: rows dango {dr}, dlt {pr}, expected {rows}"
        );
        small::line(
            &format!("no-op sync ({mode})"),
            &median(&ours),
            &median(&theirs),
            "dlt",
            0.05,
        );
        println!(
            "  loads committed by {runs} no-ops: dango {}, dlt {}",
            d1 - d0,
            p1 - p0
        );
        ok &= d1 == d0 && p1 == p0;
    }
    Ok(ok)
}

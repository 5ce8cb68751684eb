//! The summary `dango sync` prints when its sources are done: a table, or JSON.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::cli::history::SourceRun;
use crate::config::redact::redact;

fn status(r: &SourceRun) -> &'static str {
    match &r.result {
        Ok(_) if r.is_partial() => "partial",
        Ok(_) => "ok",
        Err(crate::Error::Interrupted) => "interrupted",
        Err(crate::Error::StepFailed { source, .. })
            if matches!(**source, crate::Error::Interrupted) =>
        {
            "interrupted"
        }
        Err(_) => "failed",
    }
}

pub(super) fn summary_json(runs: &[SourceRun], not_run: &[String]) -> serde_json::Value {
    let mut sources: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let (tables, load_ids, error) = match &r.result {
                Ok(info) => {
                    let loaded = info.row_counts();
                    let mut names: Vec<String> = loaded.keys().cloned().collect();
                    for t in info.total_rows.keys() {
                        if !names.contains(t) {
                            names.push(t.clone());
                        }
                    }
                    let tables: Vec<serde_json::Value> = names
                        .iter()
                        .map(|t| {
                            json!({
                                "table": t,
                                "rows_loaded": loaded.get(t).copied().unwrap_or(0),
                                "total_rows": info.total_rows.get(t).copied(),
                            })
                        })
                        .collect();
                    let ids: Vec<&str> = info
                        .load_packages
                        .iter()
                        .map(|p| p.load_id.as_str())
                        .collect();
                    (tables, json!(ids), serde_json::Value::Null)
                }
                Err(e) => (Vec::new(), json!([]), json!(redact(&e.to_string()))),
            };
            let rows_loaded = tables_sum(&tables, "rows_loaded");
            json!({
                "source": r.name,
                "status": status(r),
                "dataset": format!("raw_{}", r.name),
                "tables": tables,
                "rows_loaded": rows_loaded,
                "load_ids": load_ids,
                "duration_secs": (r.duration.as_secs_f64() * 1000.0).round() / 1000.0,
                "error": error,
            })
        })
        .collect();
    for n in not_run {
        sources.push(json!({"source": n, "status": "not run", "tables": [], "rows_loaded": 0, "error": "interrupted before it started"}));
    }
    json!({
        "ok": runs.iter().all(|r| r.result.is_ok()) && not_run.is_empty(),
        "sources": sources,
    })
}

fn tables_sum(tables: &[serde_json::Value], key: &str) -> u64 {
    tables.iter().filter_map(|t| t[key].as_u64()).sum()
}

pub(super) fn print_summary(runs: &[SourceRun], not_run: &[String]) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "source",
        "status",
        "table",
        "rows loaded (this run)",
        "total rows (table)",
        "duration",
    ]);
    let mut errors = Vec::new();
    for r in runs {
        let dur = format!("{:.2}s", r.duration.as_secs_f64());
        match &r.result {
            Ok(info) => {
                let loaded = info.row_counts();
                if loaded.is_empty() {
                    table.add_row(vec![
                        r.name.clone(),
                        status(r).into(),
                        "-".into(),
                        "0".into(),
                        "-".into(),
                        dur.clone(),
                    ]);
                }
                for (i, (t, n)) in loaded.iter().enumerate() {
                    let total = info.total_rows.get(t).copied().unwrap_or(0);
                    let first = i == 0;
                    table.add_row(vec![
                        if first { r.name.clone() } else { String::new() },
                        if first {
                            status(r).into()
                        } else {
                            String::new()
                        },
                        t.clone(),
                        n.to_string(),
                        total.to_string(),
                        if first { dur.clone() } else { String::new() },
                    ]);
                }
            }
            Err(e) => {
                table.add_row(vec![
                    r.name.clone(),
                    status(r).into(),
                    "-".into(),
                    "0".into(),
                    "-".into(),
                    dur,
                ]);
                errors.push(format!("{}: {}", r.name, redact(&e.to_string())));
            }
        }
    }
    for n in not_run {
        table.add_row(vec![
            n.clone(),
            "not run".into(),
            "-".into(),
            "0".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    println!("{table}");
    let failed = runs.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        println!(
            "{failed} of {} source(s) failed:",
            runs.len() + not_run.len()
        );
        for e in errors {
            println!("  {e}");
        }
    }
}

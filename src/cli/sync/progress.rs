//! The progress display of `dango sync`: a live display on a terminal, plain lines otherwise.

use std::sync::Arc;
use std::time::Duration;

use crate::pipeline::{Progress, ProgressFn};

/// The progress callback of one source: a live display on a terminal (a line for the source
/// with its stage, a line per resource with items, pages and bytes), plain lines otherwise
/// (none with `--json`).
pub(super) fn progress_for(
    name: &str,
    multi: Option<&indicatif::MultiProgress>,
    quiet: bool,
) -> (ProgressFn, Option<indicatif::ProgressBar>) {
    if let Some(multi) = multi {
        return live_progress(name, multi.clone());
    }
    let name = name.to_string();
    let f: ProgressFn = Arc::new(move |p: &Progress| {
        if quiet {
            return;
        }
        if let Some(line) = plain_line(&name, p) {
            eprintln!("{line}");
        }
    });
    (f, None)
}

/// The plain progress line of an event (`None` for the per-page events).
fn plain_line(name: &str, p: &Progress) -> Option<String> {
    Some(match p {
        Progress::Step(s) => format!("{name}: {s}"),
        Progress::ResourceExtracted {
            resource,
            items,
            pages,
            bytes,
        } => format!(
            "{name}: resource {resource}: {}",
            extracted(*items, *pages, *bytes)
        ),
        Progress::Normalized { rows } => format!("{name}: normalized {rows} row(s)"),
        Progress::Extracting { .. } => return None,
    })
}

fn live_progress(
    name: &str,
    multi: indicatif::MultiProgress,
) -> (ProgressFn, Option<indicatif::ProgressBar>) {
    let style = |t: &str| {
        indicatif::ProgressStyle::with_template(t)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
    };
    let source_bar = multi.add(indicatif::ProgressBar::new_spinner());
    source_bar.set_style(style("{spinner} {prefix:.bold} {elapsed} {msg}"));
    source_bar.set_prefix(name.to_string());
    source_bar.enable_steady_tick(Duration::from_millis(120));
    let resource_style = style("  {prefix}: {msg}");
    let bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>> =
        Default::default();
    let m = multi.clone();
    let bar_of = move |resource: &str| {
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(resource.to_string())
            .or_insert_with(|| {
                let b = m.add(indicatif::ProgressBar::new_spinner());
                b.set_style(resource_style.clone());
                b.set_prefix(resource.to_string());
                b
            })
            .clone()
    };
    let bar = source_bar.clone();
    let source = name.to_string();
    let f: ProgressFn = Arc::new(move |p: &Progress| match p {
        Progress::Step(s) => source_bar.set_message(format!("{s}...")),
        Progress::Extracting {
            resource,
            items,
            pages,
            bytes,
        } => {
            bar_of(resource).set_message(format!("extracting: {}", counts(*items, *pages, *bytes)))
        }
        Progress::ResourceExtracted {
            resource,
            items,
            pages,
            bytes,
        } => {
            // The final counts stay above the display; the live line goes.
            bar_of(resource).finish_and_clear();
            let _ = multi.println(format!(
                "  {source}: {resource}: {}",
                extracted(*items, *pages, *bytes)
            ));
        }
        Progress::Normalized { rows } => {
            source_bar.set_message(format!("normalized {rows} row(s)"))
        }
    });
    (f, Some(bar))
}

/// "12 item(s), 3 page(s), 1.2 MiB" (the parts that are known).
fn counts(items: u64, pages: u64, bytes: u64) -> String {
    let mut parts = Vec::new();
    if items > 0 {
        parts.push(format!("{items} item(s)"));
    }
    if pages > 0 {
        parts.push(format!("{pages} page(s)"));
    }
    if bytes > 0 {
        parts.push(indicatif::HumanBytes(bytes).to_string());
    }
    parts.join(", ")
}

/// "extracted" with what the extract counted (a `.jsonl` file copied as is has its items
/// counted at normalize time).
fn extracted(items: u64, pages: u64, bytes: u64) -> String {
    let c = counts(items, pages, bytes);
    if c.is_empty() {
        "extracted".into()
    } else {
        format!("extracted {c}")
    }
}

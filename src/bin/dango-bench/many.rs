//! `--workload many`: many small sources.
//!
//! - The per-source overhead: one `local_files` source of 1 row, synced `--runs` times (at
//!   least 5; the median is printed).
//! - 50 `local_files` sources of 1,000 rows (JSON lines) in one `dango sync` (sources run
//!   `[runtime] sync_workers` at a time; also timed one at a time), into a fresh warehouse,
//!   against 50 dlt pipeline runs of the same files, one pipeline per file, in one Python
//!   process (dlt imported once: the cheapest way to run them with dlt).

use std::path::Path;

use anyhow::{Result, ensure};

use super::small::{self, count, dango, dlt, median, timed};
use super::{Args, Run};

const SOURCES: usize = 50;
const ROWS: usize = 1000;

const DLT_SCRIPT: &str = r#"
import sys, json, dlt
inputs, db = sys.argv[1], sys.argv[2]
n = int(sys.argv[3])
for i in range(n):
    def rows(i=i):
        with open(f"{inputs}/s{i}/rows.jsonl") as f:
            for line in f:
                yield json.loads(line)
    p = dlt.pipeline(f"s{i}", destination=dlt.destinations.duckdb(db), dataset_name=f"raw_s{i}",
                     pipelines_dir="pipelines")
    p.run(dlt.resource(rows, name="items", write_disposition="replace"))
"#;

/// The median of `v` (the upper one of an even count).
fn median_of(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the workload; `Ok(false)` if the row counts disagree.
pub fn bench(args: &Args, bin: &Path, work: &Path) -> Result<bool> {
    let python = small::python()?;
    let inputs = work.join("many-input");
    let mut yml = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..SOURCES {
        let dir = inputs.join(format!("s{i}"));
        std::fs::create_dir_all(&dir)?;
        let rows: String = (0..ROWS)
            .map(|k| {
                format!(
                    "{{\"id\":{k},\"source\":{i},\"name\":\"item {k}\",\"price\":{}.5,\"tags\":[\"a\",\"b\"]}}\n",
                    k % 97
                )
            })
            .collect();
        std::fs::write(dir.join("rows.jsonl"), rows)?;
        let d = serde_json::to_string(dir.to_str().unwrap_or_default())?;
        yml.push_str(&format!(
            "  - name: s{i}\n    type: local_files\n    local_files:\n      directory: {d}\n      file_pattern: \"*.jsonl\"\n      table_name: items\n"
        ));
    }
    let one_dir = inputs.join("one");
    std::fs::create_dir_all(&one_dir)?;
    std::fs::write(one_dir.join("rows.jsonl"), "{\"id\":1,\"name\":\"x\"}\n")?;
    let one_yml = format!(
        "version: \"1.0\"\nsources:\n  - name: one\n    type: local_files\n    local_files:\n      directory: {}\n      file_pattern: \"*.jsonl\"\n",
        serde_json::to_string(one_dir.to_str().unwrap_or_default())?
    );
    let log = work.join("many.log");
    let runs = args.runs.max(5);
    println!(
        "dango-bench many: {SOURCES} sources x {ROWS} rows; per-source overhead over {runs} syncs"
    );

    let one = work.join("many-one");
    small::project(&one, &one_yml, "")?;
    let mut overhead = Vec::new();
    for _ in 0..runs {
        overhead.push(timed(dango(bin, &one, &["sync"], &[]), &log)?);
    }
    let o = median(&overhead);
    println!(
        "per-source overhead (1-row source, whole `dango sync`): {:.3} s, CPU {:.3} s, peak {:.1} MiB",
        o.wall.as_secs_f64(),
        o.cpu.as_secs_f64(),
        o.peak_rss_kib as f64 / 1024.0
    );

    let proj = work.join("many-proj");
    let dlt_dir = work.join("many-dlt");
    let db = dlt_dir.join("dlt.duckdb");
    let inputs_text = inputs.to_string_lossy().to_string();
    let db_text = db.to_string_lossy().to_string();
    let n = SOURCES.to_string();
    let (mut conc, mut seq, mut reference): (Vec<Run>, Vec<Run>, Vec<Run>) = Default::default();
    let pairs = args.runs.max(1);
    for _ in 0..pairs {
        small::project(&proj, &yml, "")?;
        conc.push(timed(dango(bin, &proj, &["sync"], &[]), &log)?);
        small::project(&proj, &yml, "")?;
        let one_at_a_time = [("RUNTIME__SYNC_WORKERS", "1")];
        seq.push(timed(dango(bin, &proj, &["sync"], &one_at_a_time), &log)?);
        if dlt_dir.exists() {
            std::fs::remove_dir_all(&dlt_dir)?;
        }
        std::fs::create_dir_all(&dlt_dir)?;
        let cmd = dlt(&python, &dlt_dir, DLT_SCRIPT, &[&inputs_text, &db_text, &n])?;
        reference.push(timed(cmd, &log)?);
    }
    let warehouse = proj.join("data/warehouse.duckdb");
    for i in [0, SOURCES - 1] {
        let sql = format!("SELECT count(*) FROM raw_s{i}.items");
        let (d, p) = (count(&warehouse, &sql)?, count(&db, &sql)?);
        ensure!(
            d == ROWS as u64 && p == ROWS as u64,
            "s{i}: dango {d} rows, dlt {p}, expected {ROWS}"
        );
    }
    let (c, s, r) = (median(&conc), median(&seq), median(&reference));
    let label = format!("{SOURCES} sources x {ROWS} rows");
    let met = small::line(&label, &c, &r, "dlt", 0.05);
    small::line(&format!("{label} (sync_workers=1)"), &s, &r, "dlt", 0.05);
    // Each pair ran back to back: on a busy machine their ratios say more than the medians.
    let ratios = |dango: &[Run]| -> Vec<f64> {
        dango
            .iter()
            .zip(&reference)
            .map(|(d, r)| d.wall.as_secs_f64() / r.wall.as_secs_f64())
            .collect()
    };
    let show = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (pc, ps) = (ratios(&conc), ratios(&seq));
    println!(
        "  same-pair ratios: concurrent {} (median {:.3}x), one at a time {} (median {:.3}x)",
        show(&pc),
        median_of(&pc),
        show(&ps),
        median_of(&ps)
    );
    println!(
        "  concurrent vs one at a time: {:.2}x faster",
        s.wall.as_secs_f64() / c.wall.as_secs_f64()
    );
    let _ = met;
    Ok(true)
}

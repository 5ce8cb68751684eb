//! The CSV workload (`--workload csv`): one generated CSV file of `--orders` rows (about 100
//! bytes each: 10,000,000 rows make about 1 GB; integers, text, floats, booleans, ISO dates and
//! timestamps, empty fields as NULL). Each run times, back to back, DuckDB's own
//! `CREATE TABLE … AS SELECT * FROM read_csv(…)` into a fresh database file and the real
//! `dango sync` of a `filesystem` source (`replace`, no tracking) into a fresh warehouse. The
//! report gives the median of the per-run ratios and dango's peak RSS.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use duckdb::{AccessMode, Config, Connection};

use super::{Args, Run, group, mib_text, run_dango};

/// Runs the workload; false when dango or DuckDB loaded another number of rows.
pub fn bench(args: &Args, dango_bin: Option<&Path>, work: &Path) -> Result<bool> {
    let input_dir = work.join("input");
    fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("rows.csv");
    let started = Instant::now();
    let bytes = write_csv(&input, args.orders)?;
    println!(
        "dango-bench: CSV of {} rows, {} (generated in {:.1} s, not part of the comparison)",
        group(args.orders),
        mib_text(bytes),
        started.elapsed().as_secs_f64()
    );
    let (proj, ref_db) = (work.join("proj"), work.join("ref.duckdb"));
    let (mut natives, mut dangos) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let native = run_native(&input, &ref_db)?;
        println!(
            "run {run}: DuckDB read_csv {:.2} s",
            native.wall.as_secs_f64()
        );
        natives.push(native);
        if let Some(bin) = dango_bin {
            write_project(&proj, &input_dir)?;
            let d = run_dango(bin, &proj, work)?;
            println!(
                "run {run}: dango sync {:.2} s, peak RSS {:.0} MiB",
                d.wall.as_secs_f64(),
                d.peak_rss_kib as f64 / 1024.0
            );
            dangos.push(d);
        }
    }
    let native_rows = count(&ref_db, "main.rows")?;
    let Some(_) = dango_bin else {
        return Ok(native_rows == args.orders);
    };
    let loaded = count(
        &proj.join("data").join("warehouse.duckdb"),
        "raw_bench.rows",
    )?;
    let mut ratios: Vec<f64> = natives
        .iter()
        .zip(&dangos)
        .map(|(n, d)| d.wall.as_secs_f64() / n.wall.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let best = |r: &[Run]| {
        r.iter()
            .map(|r| r.wall.as_secs_f64())
            .fold(f64::MAX, f64::min)
    };
    let rss = dangos.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    println!(
        "\n== dango-bench csv: {} rows, {}, {} run(s) ==",
        group(args.orders),
        mib_text(bytes),
        natives.len()
    );
    println!("DuckDB read_csv best   {:>8.2} s", best(&natives));
    println!("dango sync best        {:>8.2} s", best(&dangos));
    println!(
        "ratio dango/DuckDB     {:>8.2}x (median of the runs' ratios; target <= 1.2x)",
        ratios[ratios.len() / 2]
    );
    println!("dango peak RSS         {:>8.1} MiB", rss as f64 / 1024.0);
    let ok = loaded == args.orders && native_rows == args.orders;
    let flag = if ok { "OK" } else { "*** MISMATCH ***" };
    println!(
        "rows loaded            dango {}, DuckDB {}, generated {} {flag}",
        group(loaded),
        group(native_rows),
        group(args.orders)
    );
    Ok(ok)
}

/// Writes `rows` rows; returns the file's size.
fn write_csv(path: &Path, rows: u64) -> Result<u64> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(
        w,
        "id,customer,amount,ratio,active,day,created_at,status,note"
    )?;
    const STATUS: [&str; 4] = ["new", "paid", "shipped", "cancelled"];
    for i in 0..rows {
        let day = 1 + i % 28;
        let (h, m, s) = (i % 24, i / 24 % 60, i / 1440 % 60);
        let note = if i % 7 == 0 {
            String::new()
        } else {
            format!("note {}", i * 31 % 100_003)
        };
        writeln!(
            w,
            "{i},customer {c},{a}.{cents:02},{r},{active},2024-{mon:02}-{day:02},2024-{mon:02}-{day:02}T{h:02}:{m:02}:{s:02},{st},{note}",
            c = i % 100_000,
            a = i % 10_000,
            cents = i % 100,
            r = (i % 1000) as f64 / 7.0,
            active = i % 2 == 0,
            mon = 1 + i % 12,
            st = STATUS[(i % 4) as usize],
        )?;
    }
    w.flush()?;
    Ok(fs::metadata(path)?.len())
}

/// DuckDB's own load of the file into a fresh database file, in this process.
fn run_native(input: &Path, db: &Path) -> Result<Run> {
    for p in [db.to_path_buf(), db.with_extension("duckdb.wal")] {
        if p.exists() {
            fs::remove_file(&p)?;
        }
    }
    let started = Instant::now();
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.execute_batch(&format!(
        "SET autoinstall_known_extensions = false; CREATE TABLE rows AS SELECT * FROM read_csv('{}')",
        input.display()
    ))?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(Run {
        wall: started.elapsed(),
        cpu: Duration::ZERO,
        peak_rss_kib: 0,
        extract: None,
    })
}

fn write_project(proj: &Path, input_dir: &Path) -> Result<()> {
    if proj.exists() {
        fs::remove_dir_all(proj).with_context(|| format!("removing {}", proj.display()))?;
    }
    for dir in [".dango", ".dlt", "data"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    let dir = serde_json::to_string(input_dir.to_str().context("work dir is not UTF-8")?)?;
    fs::write(
        proj.join(".dango/sources.yml"),
        format!(
            "version: \"1.0\"\nsources:\n  - name: bench\n    type: filesystem\n    filesystem:\n      bucket_url: {dir}\n      file_glob: \"*.csv\"\n      table_name: rows\n      write_disposition: replace\n      track_files: false\n"
        ),
    )?;
    fs::write(proj.join(".dlt/config.toml"), "")?;
    fs::write(proj.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

fn count(db: &Path, table: &str) -> Result<u64> {
    let config = Config::default().access_mode(AccessMode::ReadOnly)?;
    let conn = Connection::open_with_flags(db, config)
        .with_context(|| format!("opening {}", db.display()))?;
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(u64::try_from(n)?)
}

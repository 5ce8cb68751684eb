//! The PostgreSQL workload (`--workload postgres`): a table of `--orders` rows of mixed types
//! (bigint key, int, numeric(12,2), double, text, varchar, bool, date, timestamp, timestamptz,
//! a text column with NULLs) in a database of its own on the server of `DANGO_BENCH_PG_URL`
//! (else `DANGO_TEST_PG_URL`). Each run times, back to back, a bare `psql` read of the whole
//! table (`\copy (SELECT …) TO <file>`: the floor any client pays to get the rows out) and the
//! real `dango sync` of a `sql_database` source into a fresh DuckDB warehouse. The report gives
//! the median of the per-run ratios (the machine may be busy: only paired runs compare) and
//! dango's peak RSS. When a Python with dlt's `sql_database` dependencies is found
//! (`DANGO_BENCH_SQL_PYTHON`, default `~/.cache/dango-bench-venv/bin/python`, made from
//! `.ci/bench-requirements.txt`), each run also times dlt 1.31's `sql_database` with its fastest
//! backend (`backend="pyarrow"`) loading the same table into DuckDB.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use duckdb::{AccessMode, Config, Connection};

use super::{Args, Run, group, measured, run_dango, wait4};

/// The table every run reads.
const TABLE: &str = "bench_rows";

/// dlt's side: `sql_database(backend="pyarrow")` into a DuckDB file, then the row count.
const DLT_SCRIPT: &str = r#"
import sys, dlt, duckdb
from dlt.sources.sql_database import sql_database
url, table, db, pipelines_dir = sys.argv[1:5]
src = sql_database(credentials=url, table_names=[table], backend="pyarrow", chunk_size=50000)
p = dlt.pipeline(pipeline_name="bench_dlt_sql", destination=dlt.destinations.duckdb(db),
                 dataset_name="raw_bench", pipelines_dir=pipelines_dir)
p.run(src)
con = duckdb.connect(db, read_only=True)
print("ROWS", con.execute(f"SELECT count(*) FROM raw_bench.{table}").fetchone()[0])
"#;

/// The Python for dlt's side, or why there is none.
fn dlt_python() -> std::result::Result<PathBuf, String> {
    let p = match std::env::var_os("DANGO_BENCH_SQL_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?)
            .join(".cache/dango-bench-venv/bin/python"),
    };
    let ok = Command::new(&p)
        .args(["-c", "import dlt, sqlalchemy, psycopg2, pyarrow, duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "no Python with dlt's sql_database dependencies at {} (python3 -m venv ~/.cache/dango-bench-venv && ~/.cache/dango-bench-venv/bin/pip install -r .ci/bench-requirements.txt, or set DANGO_BENCH_SQL_PYTHON)",
            p.display()
        ))
    }
}

/// dlt's `sql_database` (pyarrow backend) loading the table into a fresh DuckDB file; the
/// run and the rows it loaded.
fn run_dlt(python: &Path, url: &str, work: &Path) -> Result<(Run, u64)> {
    let dir = work.join("dlt");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("run.py"), DLT_SCRIPT)?;
    let out = dir.join("out.log");
    let log = fs::File::create(&out)?;
    let started = Instant::now();
    let child = Command::new(python)
        .arg(dir.join("run.py"))
        .args([url, TABLE])
        .arg(dir.join("dlt.duckdb"))
        .arg(dir.join("pipelines"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning dlt's Python")?;
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    let text = fs::read_to_string(&out).unwrap_or_default();
    if !status.success() {
        bail!(
            "dlt's sql_database run failed ({status}); its output is in {}:\n{}",
            out.display(),
            text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    let rows = text
        .lines()
        .find_map(|l| l.strip_prefix("ROWS "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok((measured(wall, &usage, std::time::Duration::ZERO), rows))
}

/// Runs the workload; false when dango loaded another number of rows than the table holds.
pub fn bench(args: &Args, dango_bin: Option<&Path>, work: &Path) -> Result<bool> {
    let admin = std::env::var("DANGO_BENCH_PG_URL")
        .or_else(|_| std::env::var("DANGO_TEST_PG_URL"))
        .context("set DANGO_BENCH_PG_URL (or DANGO_TEST_PG_URL) to a PostgreSQL server URL, e.g. postgresql://user:pw@127.0.0.1:5432/postgres")?;
    let db = format!("dango_bench_{}", std::process::id());
    let base = admin.split('?').next().unwrap_or(&admin);
    let url = format!("{}/{db}", base.rsplit_once('/').map_or(base, |b| b.0));
    let rows = args.orders;
    println!(
        "dango-bench: PostgreSQL table of {} rows, work dir {}",
        group(rows),
        work.display()
    );
    exec(&admin, &format!("DROP DATABASE IF EXISTS {db}"))?;
    exec(&admin, &format!("CREATE DATABASE {db}"))?;
    let result = runs(args, dango_bin, work, &url, rows);
    let dropped = exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
    let ok = result?;
    dropped?;
    Ok(ok)
}

fn runs(args: &Args, dango_bin: Option<&Path>, work: &Path, url: &str, rows: u64) -> Result<bool> {
    let started = Instant::now();
    exec(
        url,
        &format!(
            "CREATE TABLE {TABLE} (id bigint PRIMARY KEY, customer_id int NOT NULL,
               amount numeric(12, 2), ratio double precision, name text, code varchar(16),
               active boolean, day date, created_at timestamp, updated_at timestamptz, note text);
             INSERT INTO {TABLE} SELECT g, g % 100000, (g % 10000000) / 100.0, g * 0.001,
               'customer ' || g, 'C' || (g % 9999), g % 3 = 0, DATE '2020-01-01' + (g % 2000)::int,
               TIMESTAMP '2020-01-01' + g * INTERVAL '1 second',
               TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 minute',
               CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) END
             FROM generate_series(1, {rows}) g"
        ),
    )?;
    exec(url, &format!("VACUUM ANALYZE {TABLE}"))?;
    println!(
        "filled the table in {:.1} s, not part of the comparison",
        started.elapsed().as_secs_f64()
    );
    let proj = work.join("proj");
    let python = dlt_python();
    if let Err(why) = &python {
        println!("dlt's side is skipped: {why}");
    }
    let (mut copies, mut dangos, mut dlts) = (Vec::new(), Vec::new(), Vec::new());
    let mut dlt_rows = None;
    for run in 1..=args.runs {
        let copy = run_copy(url, work)?;
        println!("run {run}: psql \\copy {:.2} s", copy.wall.as_secs_f64());
        copies.push(copy);
        if let Ok(py) = &python {
            let (d, n) = run_dlt(py, url, work)?;
            println!(
                "run {run}: dlt sql_database (pyarrow) {:.2} s, peak RSS {:.0} MiB",
                d.wall.as_secs_f64(),
                d.peak_rss_kib as f64 / 1024.0
            );
            dlts.push(d);
            dlt_rows = Some(n);
        }
        if let Some(bin) = dango_bin {
            write_project(&proj, url)?;
            let d = run_dango(bin, &proj, work)?;
            println!(
                "run {run}: dango sync {:.2} s, peak RSS {:.0} MiB",
                d.wall.as_secs_f64(),
                d.peak_rss_kib as f64 / 1024.0
            );
            dangos.push(d);
        }
    }
    let Some(_) = dango_bin else {
        return Ok(true);
    };
    let loaded = count(&proj.join("data").join("warehouse.duckdb"))?;
    report(&copies, &dangos, rows, loaded);
    report_dlt(&dangos, &dlts, rows, dlt_rows);
    Ok(loaded == rows && dlt_rows.is_none_or(|n| n == rows))
}

/// `psql` reading every row of the table into a file (text COPY format).
fn run_copy(url: &str, work: &Path) -> Result<Run> {
    let out = work.join("copy.txt");
    let started = Instant::now();
    let child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            &format!("\\copy (SELECT * FROM {TABLE}) TO '{}'", out.display()),
        ])
        .stdin(Stdio::null())
        .spawn()
        .context("spawning psql (the reference needs PostgreSQL's client on PATH)")?;
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("psql \\copy failed ({status})");
    }
    let _ = fs::remove_file(&out);
    Ok(measured(wall, &usage, std::time::Duration::ZERO))
}

/// A fresh project whose source `bench` reads the table into DuckDB.
fn write_project(proj: &Path, url: &str) -> Result<()> {
    if proj.exists() {
        fs::remove_dir_all(proj).with_context(|| format!("removing {}", proj.display()))?;
    }
    for dir in [".dango", ".dlt", "data"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    fs::write(
        proj.join(".dango/sources.yml"),
        format!(
            "version: \"1.0\"\nsources:\n  - name: bench\n    type: sql_database\n    sql_database:\n      table_names: [{TABLE}]\n"
        ),
    )?;
    fs::write(proj.join(".dlt/config.toml"), "")?;
    fs::write(
        proj.join(".dlt/secrets.toml"),
        format!("[sources.sql_database.bench]\ncredentials = {url:?}\n"),
    )?;
    Ok(())
}

/// Rows dango loaded.
fn count(db: &Path) -> Result<u64> {
    let config = Config::default().access_mode(AccessMode::ReadOnly)?;
    let conn = Connection::open_with_flags(db, config)
        .with_context(|| format!("opening {}", db.display()))?;
    let n: i64 = conn.query_row(
        &format!("SELECT count(*) FROM raw_bench.{TABLE}"),
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n)?)
}

/// The median of the paired runs' wall-time ratios `a / b`.
fn median_ratio(a: &[Run], b: &[Run]) -> f64 {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.wall.as_secs_f64() / b.wall.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// The fastest run's wall time in seconds.
fn best(runs: &[Run]) -> f64 {
    runs.iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(f64::MAX, f64::min)
}

/// The row check's verdict.
fn flag(loaded: u64, rows: u64) -> &'static str {
    if loaded == rows {
        "OK"
    } else {
        "*** MISMATCH ***"
    }
}

fn report(copies: &[Run], dangos: &[Run], rows: u64, loaded: u64) {
    let median = median_ratio(dangos, copies);
    let rss = dangos.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    println!(
        "\n== dango-bench postgres: {} rows, {} run(s) ==",
        group(rows),
        copies.len()
    );
    println!("psql \\copy best        {:>8.2} s", best(copies));
    println!("dango sync best        {:>8.2} s", best(dangos));
    println!("ratio dango/copy       {median:>8.2}x (median of the runs' ratios; target <= 1.5x)");
    println!(
        "dango peak RSS         {:>8.1} MiB (target <= 300)",
        rss as f64 / 1024.0
    );
    let flag = flag(loaded, rows);
    println!(
        "rows loaded            {:>8} of {} {flag}",
        group(loaded),
        group(rows)
    );
}

/// dlt's line: its best time, the median of the per-run ratios dango/dlt, its peak RSS.
fn report_dlt(dangos: &[Run], dlts: &[Run], rows: u64, dlt_rows: Option<u64>) {
    let Some(loaded) = dlt_rows else {
        return;
    };
    let best = best(dlts);
    let rss = dlts.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    println!(
        "dlt sql_database best  {best:>8.2} s (backend=\"pyarrow\"), peak RSS {:.1} MiB",
        rss as f64 / 1024.0
    );
    println!(
        "ratio dango/dlt        {:>8.3}x (median of the runs' ratios; target <= 0.2x)",
        median_ratio(dangos, dlts)
    );
    let flag = flag(loaded, rows);
    println!(
        "rows loaded by dlt     {:>8} of {} {flag}",
        group(loaded),
        group(rows)
    );
}

/// Runs `sql` (one or more statements, no TLS: a local server) on `url`.
fn exec(url: &str, sql: &str) -> Result<()> {
    let url = if url.contains("sslmode=") {
        url.to_string()
    } else {
        format!(
            "{url}{}sslmode=disable",
            if url.contains('?') { '&' } else { '?' }
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        tokio::spawn(conn);
        client.batch_execute(sql).await.context("running SQL")?;
        Ok(())
    })
}

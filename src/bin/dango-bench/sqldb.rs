//! The PostgreSQL workload (`--workload postgres`): a table of `--orders` rows of mixed types
//! (bigint key, int, numeric(12,2), double, text, varchar, bool, date, timestamp, timestamptz,
//! a text column with NULLs) in a database of its own on the server of `DANGO_BENCH_PG_URL`
//! (else `DANGO_TEST_PG_URL`). Each run times, back to back, a bare `psql` read of the whole
//! table (`\copy (SELECT …) TO <file>`: the floor any client pays to get the rows out) and the
//! real `dango sync` of a `sql_database` source into a fresh DuckDB warehouse. The report gives
//! the median of the per-run ratios (the machine may be busy: only paired runs compare) and
//! dango's peak RSS.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use duckdb::{AccessMode, Config, Connection};

use super::{Args, Run, group, measured, run_dango, wait4};

/// The table every run reads.
const TABLE: &str = "bench_rows";

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
    let (mut copies, mut dangos) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let copy = run_copy(url, work)?;
        println!("run {run}: psql \\copy {:.2} s", copy.wall.as_secs_f64());
        copies.push(copy);
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
    Ok(loaded == rows)
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

fn report(copies: &[Run], dangos: &[Run], rows: u64, loaded: u64) {
    let mut ratios: Vec<f64> = copies
        .iter()
        .zip(dangos)
        .map(|(c, d)| d.wall.as_secs_f64() / c.wall.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let best = |r: &[Run]| {
        r.iter()
            .map(|r| r.wall.as_secs_f64())
            .fold(f64::MAX, f64::min)
    };
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
    let flag = if loaded == rows {
        "OK"
    } else {
        "*** MISMATCH ***"
    };
    println!(
        "rows loaded            {:>8} of {} {flag}",
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

//! `dango-bench --workload destinations`: W1 (N nested orders as JSONL) through `dango sync`
//! into DuckDB, Postgres and Delta Lake (local disk) in the same run, with the ratios to the
//! DuckDB sync (targets: Postgres ≤ 1.5×, Delta ≤ 1.3×) and each sync's peak RSS.
//!
//! Also, when the tools are there:
//! - the server's own floors: `psql \copy … FROM … CSV` of the three tables dango loaded
//!   (exported as CSV first), into empty copies of them with their UNIQUE index, and into
//!   copies without it followed by `ADD UNIQUE` (what dango does for new tables);
//! - Python dlt (`DANGO_TEST_PYTHON`, dlt 1.31) on the first `--dlt-orders` orders (100,000 by
//!   default) into Postgres (dlt's default `insert_values` loader) and into Delta
//!   (`table_format="delta"`), beside dango on the same smaller file.
//!
//! Postgres comes from `DANGO_BENCH_PG_URL` or `DANGO_TEST_PG_URL` (a server URL; a database
//! of its own is created and dropped per run). Without one, the Postgres side is skipped.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dango::destinations::postgres::PgClient;
use dango::sample::{self, ROOT_TABLE};

use super::{Run, SCHEMA, SEED, TABLES, group, mib_text, run_dango, table_counts};

/// Orders for the dlt comparison (dlt takes minutes for 1M).
const DLT_ORDERS: u64 = 100_000;

/// A destination a project loads into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    DuckDb,
    Postgres,
    Delta,
}

/// A fresh project whose `bench` source loads `input_dir/*.jsonl` into `target`.
fn write_project(proj: &Path, input_dir: &Path, target: Target, pg_url: &str) -> Result<()> {
    if proj.exists() {
        fs::remove_dir_all(proj).with_context(|| format!("removing {}", proj.display()))?;
    }
    for dir in [".dango", ".dlt", "data"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    let dir = serde_json::to_string(input_dir.to_str().context("work dir is not UTF-8")?)?;
    let destination = match target {
        Target::DuckDb => "duckdb",
        Target::Postgres => "postgres",
        Target::Delta => "filesystem",
    };
    let sources = format!(
        "version: \"1.0\"\ndestination: {destination}\nsources:\n  - name: bench\n    type: local_files\n    local_files:\n      \
         directory: {dir}\n      file_pattern: \"*.jsonl\"\n      table_name: {ROOT_TABLE}\n"
    );
    fs::write(proj.join(".dango/sources.yml"), sources)?;
    let config = match target {
        Target::Delta => {
            "[destination.filesystem]\nbucket_url = \"lake\"\ntable_format = \"delta\"\n"
        }
        _ => "",
    };
    fs::write(proj.join(".dlt/config.toml"), config)?;
    let secrets = match target {
        Target::Postgres => format!(
            "[destination.postgres]\ncredentials = {}\n",
            serde_json::to_string(pg_url)?
        ),
        _ => String::new(),
    };
    fs::write(proj.join(".dlt/secrets.toml"), secrets)?;
    Ok(())
}

/// Connects to `url` (dango's own credential parser and client).
fn pg_connect(url: &str) -> Result<PgClient> {
    let dir = tempfile_dir()?;
    let env = dango::config::Env::from_vars([("DESTINATION__POSTGRES__CREDENTIALS", url)]);
    let settings = dango::config::Settings::with_env(&dir, env, None)?;
    let creds = dango::destinations::postgres::config::credentials(
        &dango::destinations::config::DestinationSettings::new(&settings, "postgres"),
    )?;
    let _ = fs::remove_dir_all(&dir);
    Ok(PgClient::connect(&creds, false)?)
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("dango-bench-pg-{}", std::process::id()));
    fs::create_dir_all(&d)?;
    Ok(d)
}

/// `url` with database `db`.
fn with_database(url: &str, db: &str) -> Result<String> {
    let mut u = url::Url::parse(url).context("the Postgres URL")?;
    u.set_path(&format!("/{db}"));
    Ok(u.to_string())
}

/// A database of its own for one run, dropped by [`PgDb::drop`].
struct PgDb {
    admin: PgClient,
    name: String,
    url: String,
}

impl PgDb {
    fn create(server: &str, tag: &str) -> Result<PgDb> {
        let admin = pg_connect(server)?;
        let name = format!("dango_bench_{tag}_{}", std::process::id());
        admin.execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))?;
        admin.execute(&format!("CREATE DATABASE \"{name}\""))?;
        let url = with_database(server, &name)?;
        Ok(PgDb { admin, name, url })
    }

    fn counts(&self, schema: &str) -> Result<[u64; 3]> {
        let c = pg_connect(&self.url)?;
        let mut out = [0; 3];
        for (n, t) in out.iter_mut().zip(TABLES) {
            *n = c.query_count(&format!("SELECT count(*) FROM \"{schema}\".\"{t}\""), &[])? as u64;
        }
        Ok(out)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = self.admin.execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

/// Row counts of the Delta tables dango wrote (through dango's own reader of the log).
fn delta_counts(proj: &Path) -> Result<[u64; 3]> {
    use dango::destinations::filesystem::{Bucket, Filesystem, FilesystemConfig, TableFormat};
    use dango::destinations::{DestinationFactory, OpenMode};
    let fs = Filesystem::new(FilesystemConfig {
        bucket: Bucket::Local(proj.join("lake")),
        format: TableFormat::Delta,
    });
    let client = fs.open(OpenMode::ReadOnly)?;
    let mut out = [0; 3];
    for (n, t) in out.iter_mut().zip(TABLES) {
        *n = client.row_count(SCHEMA, t)?;
    }
    Ok(out)
}

/// One dango sync of `input_dir` into `target`: the run, its row counts, and with `floor`
/// (Postgres) the `psql \copy` floor of the same tables.
fn sync_into(
    bin: &Path,
    work: &Path,
    input_dir: &Path,
    target: Target,
    pg_server: Option<&str>,
    floor: bool,
) -> Result<(Run, [u64; 3], Option<Floor>)> {
    let proj = work.join("proj");
    let db = match (target, pg_server) {
        (Target::Postgres, Some(server)) => Some(PgDb::create(server, "dango")?),
        _ => None,
    };
    let url = db.as_ref().map(|d| d.url.clone()).unwrap_or_default();
    write_project(&proj, input_dir, target, &url)?;
    let run = run_dango(bin, &proj, work)?;
    let counts = match target {
        Target::DuckDb => table_counts(&proj.join("data/warehouse.duckdb"))?,
        Target::Postgres => db.as_ref().context("no database")?.counts(SCHEMA)?,
        Target::Delta => delta_counts(&proj)?,
    };
    let floor = match &db {
        Some(db) if floor => copy_floor(&db.url, work)?,
        _ => None,
    };
    if let Some(f) = floor {
        println!(
            "  psql \\copy of the three tables as CSV: {:.2} s into indexed tables, {:.2} s with the index built after",
            f.indexed.as_secs_f64(),
            f.index_after.as_secs_f64()
        );
    }
    Ok((run, counts, floor))
}

/// The server's own bulk-load floors for the three tables dango loaded (exported as CSV
/// first): `psql \copy … FROM … CSV` into empty copies with their UNIQUE index (every row
/// goes through it), and into copies without it followed by `ADD UNIQUE` (the index built
/// once, as dango does for new tables). `None` without `psql`.
fn copy_floor(url: &str, work: &Path) -> Result<Option<Floor>> {
    let psql = |script: &str| -> Result<bool> {
        let out = Command::new("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", script])
            .stdin(Stdio::null())
            .output();
        match out {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
            Ok(o) if o.status.success() => Ok(true),
            Ok(o) => bail!("psql failed: {}", String::from_utf8_lossy(&o.stderr)),
        }
    };
    let dir = work.join("csv");
    fs::create_dir_all(&dir)?;
    if !psql("CREATE SCHEMA floor; CREATE SCHEMA floor_late")? {
        return Ok(None);
    }
    for t in TABLES {
        let file = dir.join(format!("{t}.csv"));
        psql(&format!("\\copy {SCHEMA}.{t} TO '{}' CSV", file.display()))?;
        psql(&format!(
            "CREATE TABLE floor.{t} (LIKE {SCHEMA}.{t} INCLUDING ALL); \
             CREATE TABLE floor_late.{t} (LIKE {SCHEMA}.{t} INCLUDING ALL EXCLUDING INDEXES)"
        ))?;
    }
    let started = Instant::now();
    for t in TABLES {
        let file = dir.join(format!("{t}.csv"));
        psql(&format!("\\copy floor.{t} FROM '{}' CSV", file.display()))?;
    }
    let indexed = started.elapsed();
    let started = Instant::now();
    for t in TABLES {
        let file = dir.join(format!("{t}.csv"));
        psql(&format!(
            "\\copy floor_late.{t} FROM '{}' CSV",
            file.display()
        ))?;
        psql(&format!("ALTER TABLE floor_late.{t} ADD UNIQUE (_dlt_id)"))?;
    }
    let index_after = started.elapsed();
    let _ = fs::remove_dir_all(&dir);
    Ok(Some(Floor {
        indexed,
        index_after,
    }))
}

/// The two `psql \copy` floors of [`copy_floor`].
#[derive(Debug, Clone, Copy)]
struct Floor {
    /// Into tables with their UNIQUE index.
    indexed: Duration,
    /// Into tables without it, then `ADD UNIQUE`.
    index_after: Duration,
}

/// The first `n` lines of `input` into `out`.
fn head(input: &Path, out: &Path, n: u64) -> Result<()> {
    let r = BufReader::new(File::open(input)?);
    let mut w = BufWriter::new(File::create(out)?);
    for line in r.lines().take(n as usize) {
        w.write_all(line?.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// dlt 1.31 loading the orders with its own extract and normalize (a resource of dicts read
/// with orjson), into Postgres or Delta.
const DLT_SCRIPT: &str = r#"
import sys, os, orjson, dlt
path, kind, target, pipes = sys.argv[1:5]
def orders():
    with open(path, "rb") as f:
        for line in f:
            yield orjson.loads(line)
res = dlt.resource(orders, name="orders")
if kind == "postgres":
    p = dlt.pipeline(pipeline_name="bench_pg", pipelines_dir=pipes,
                     destination=dlt.destinations.postgres(credentials=target),
                     dataset_name="raw_bench")
    info = p.run(res)
else:
    p = dlt.pipeline(pipeline_name="bench_delta", pipelines_dir=pipes,
                     destination=dlt.destinations.filesystem(bucket_url=target),
                     dataset_name="raw_bench")
    info = p.run(res, table_format="delta")
info.raise_on_failed_jobs()
rows = p.last_trace.last_normalize_info.row_counts
print(rows.get("orders", 0), rows.get("orders__line_items", 0), rows.get("orders__line_items__discounts", 0))
"#;

/// Times dlt on `input` into `kind`; the run and the row counts dlt normalized.
fn run_dlt(
    py: &Path,
    input: &Path,
    kind: Target,
    work: &Path,
    pg: Option<&str>,
) -> Result<(Duration, String)> {
    let pipes = work.join("dlt_pipelines");
    let _ = fs::remove_dir_all(&pipes);
    let (kind_arg, target, _db) = match kind {
        Target::Postgres => {
            let db = PgDb::create(pg.context("no Postgres")?, "dlt")?;
            ("postgres", db.url.clone(), Some(db))
        }
        _ => {
            let lake = work.join("dlt_lake");
            let _ = fs::remove_dir_all(&lake);
            ("delta", lake.display().to_string(), None)
        }
    };
    let started = Instant::now();
    let out = Command::new(py)
        .args(["-c", DLT_SCRIPT])
        .arg(input)
        .args([kind_arg, &target])
        .arg(&pipes)
        .env("RUNTIME__LOG_LEVEL", "WARNING")
        .stdin(Stdio::null())
        .output()
        .context("running dlt")?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!("dlt failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = fs::remove_dir_all(&pipes);
    let _ = fs::remove_dir_all(work.join("dlt_lake"));
    Ok((
        took,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

fn rss(r: &Run) -> String {
    format!("{:.0} MiB", r.peak_rss_kib as f64 / 1024.0)
}

/// Runs the benchmark; `Ok(false)` if row counts disagree.
pub fn bench(orders: u64, runs: u32, bin: Option<&Path>, work: &Path) -> Result<bool> {
    let bin = bin.context("the destinations workload runs dango: drop --reference-only")?;
    let input_dir = work.join("input");
    fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("orders.jsonl");
    let expected = sample::write_orders_with_stats(File::create(&input)?, orders, SEED)?;
    let want = [expected.orders, expected.line_items, expected.discounts];
    println!(
        "dango-bench destinations: {} orders, input {}",
        group(orders),
        mib_text(expected.bytes)
    );
    let pg = std::env::var("DANGO_BENCH_PG_URL")
        .or_else(|_| std::env::var("DANGO_TEST_PG_URL"))
        .ok();
    if pg.is_none() {
        println!("(no DANGO_BENCH_PG_URL / DANGO_TEST_PG_URL: Postgres skipped)");
    }
    let mut targets = vec![Target::DuckDb, Target::Delta];
    if pg.is_some() {
        targets.insert(1, Target::Postgres);
    }
    let mut ok = true;
    let mut pg_ratios = Vec::new();
    let mut delta_ratios = Vec::new();
    let mut duck_secs = Vec::new();
    let mut floors = Vec::new();
    let mut late_floors = Vec::new();
    let mut pg_to_floor = Vec::new();
    for run in 1..=runs {
        let mut by: Vec<(Target, Run)> = Vec::new();
        for &t in &targets {
            let (r, counts, floor) = sync_into(bin, work, &input_dir, t, pg.as_deref(), true)?;
            floors.extend(floor.map(|f| f.indexed.as_secs_f64()));
            late_floors.extend(floor.map(|f| f.index_after.as_secs_f64()));
            if let Some(f) = floor {
                pg_to_floor.push(r.wall.as_secs_f64() / f.index_after.as_secs_f64());
            }
            let flag = if counts == want {
                ""
            } else {
                "  *** MISMATCH ***"
            };
            ok &= counts == want;
            println!(
                "run {run}: {t:?} {:.2} s, CPU {:.2} s, peak RSS {}, rows {:?}{flag}",
                r.wall.as_secs_f64(),
                r.cpu.as_secs_f64(),
                rss(&r),
                counts
            );
            by.push((t, r));
        }
        let secs = |t: Target| {
            by.iter()
                .find(|(x, _)| *x == t)
                .map(|(_, r)| r.wall.as_secs_f64())
        };
        let duck = secs(Target::DuckDb).unwrap_or(f64::NAN);
        duck_secs.push(duck);
        if let Some(p) = secs(Target::Postgres) {
            pg_ratios.push(p / duck);
        }
        if let Some(d) = secs(Target::Delta) {
            delta_ratios.push(d / duck);
        }
    }
    let median = |v: &mut Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    println!(
        "\n== {} orders, {runs} run(s), median of same-run ratios ==",
        group(orders)
    );
    if let Some(r) = median(&mut pg_ratios) {
        println!("Postgres / DuckDB: {r:.2}x (target <= 1.5x)");
    }
    if let Some(r) = median(&mut delta_ratios) {
        println!("Delta    / DuckDB: {r:.2}x (target <= 1.3x)");
    }
    if let (Some(f), Some(d)) = (median(&mut floors), median(&mut duck_secs)) {
        println!(
            "psql \\copy CSV floor, indexed tables: {f:.2} s ({:.2}x the DuckDB sync)",
            f / d
        );
    }
    if let (Some(f), Some(d)) = (median(&mut late_floors), median(&mut duck_secs)) {
        println!(
            "psql \\copy CSV floor, index built after: {f:.2} s ({:.2}x the DuckDB sync)",
            f / d
        );
    }
    if let Some(r) = median(&mut pg_to_floor) {
        println!("Postgres sync / that floor: {r:.2}x (median of same-run ratios)");
    }
    match std::env::var_os("DANGO_TEST_PYTHON") {
        Some(py) => ok &= dlt_side(Path::new(&py), orders, bin, work, &input, pg.as_deref())?,
        None => println!("(no DANGO_TEST_PYTHON: the dlt comparison is skipped)"),
    }
    Ok(ok)
}

/// dlt and dango on the first `DLT_ORDERS` orders, into Postgres and Delta.
fn dlt_side(
    py: &Path,
    orders: u64,
    bin: &Path,
    work: &Path,
    input: &Path,
    pg: Option<&str>,
) -> Result<bool> {
    let n = orders.min(DLT_ORDERS);
    let small_dir = work.join("input_small");
    fs::create_dir_all(&small_dir)?;
    let small = small_dir.join("orders.jsonl");
    head(input, &small, n)?;
    println!("\n== dlt 1.31 vs dango on {} orders ==", group(n));
    let mut targets = vec![Target::Delta];
    if pg.is_some() {
        targets.insert(0, Target::Postgres);
    }
    for t in targets {
        let (dango_run, counts, _) = sync_into(bin, work, &small_dir, t, pg, false)?;
        let (dlt, dlt_rows) = run_dlt(py, &small, t, work, pg)?;
        let d = dango_run.wall.as_secs_f64();
        println!(
            "{t:?}: dango {d:.2} s (rows {counts:?}), dlt {:.2} s (rows {dlt_rows}): dlt / dango {:.1}x",
            dlt.as_secs_f64(),
            dlt.as_secs_f64() / d
        );
    }
    let _ = fs::remove_dir_all(&small_dir);
    Ok(true)
}

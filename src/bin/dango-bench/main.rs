//! `dango-bench`: times `dango sync` against a reference on the same generated orders.
//!
//! - `--workload files` (default): a local JSONL file, against DuckDB's own native JSON load
//!   of the same file into the same three tables.
//! - `--workload rest`: a `rest_api` source against an in-process HTTP server serving
//!   pre-rendered `json_link` pages, against a bare HTTP client downloading the same pages
//!   (see `rest.rs`).
//!
//! ```text
//! cargo build --release --bin dango --bin dango-bench
//! target/release/dango-bench --orders 1000000
//! target/release/dango-bench --workload rest --orders 1000000 --page-size 1000
//! ```

mod children;
mod csvfile;
mod dest;
mod dlt_native;
mod many;
mod merge;
mod noop;
mod rest;
mod small;
mod sqldb;

use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use dango::sample::{self, DISCOUNTS_TABLE, LINE_ITEMS_TABLE, ROOT_TABLE, SampleStats};
use duckdb::{AccessMode, Config, Connection};

/// Seed of the generated input: fixed, so every run loads the same bytes.
const SEED: u64 = 42;
/// Dataset (schema) dango loads the `bench` source into.
const SCHEMA: &str = "raw_bench";
const TABLES: [&str; 3] = [ROOT_TABLE, LINE_ITEMS_TABLE, DISCOUNTS_TABLE];

/// Benchmark `dango sync` against DuckDB's native JSON load of the same data.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Number of orders to generate.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    orders: u64,
    /// Work directory [default: a fresh directory under the system temp dir].
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Keep the work directory (input, project, databases, dango log).
    #[arg(long)]
    keep: bool,
    /// Timed runs of each side; the fastest run is reported.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Only generate the input and run the DuckDB reference (no dango).
    #[arg(long)]
    reference_only: bool,
    /// Merge benchmark: load `--orders` nested orders with `write_disposition: merge`, then time
    /// the merge of `--orders`/10 changed ones (some with shrunk child lists) against the same
    /// delete-insert as plain DuckDB SQL.
    #[arg(long, conflicts_with = "reference_only")]
    merge: bool,
    /// dango executable [default: `dango` next to this binary].
    #[arg(long)]
    dango_bin: Option<PathBuf>,
    /// What to load: a local JSONL file, or a REST API served from memory.
    #[arg(long, value_enum, default_value_t = Workload::Files)]
    workload: Workload,
    /// dlt_native workload: also sync 10× the orders and compare the peak RSS.
    #[arg(long)]
    memory_check: bool,
    /// Orders per page (rest workload).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    page_size: u64,
    /// Internal: runs the DuckDB reference load of INPUT into DB in this process and exits.
    /// The benchmark runs the reference as a child process, like dango, so both are measured
    /// the same way and the parent stays small (a child's peak RSS counts the memory of the
    /// process that spawned it).
    #[arg(long, hide = true, num_args = 2, value_names = ["INPUT", "DB"])]
    native_child: Option<Vec<PathBuf>>,
}

/// The benchmark's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    /// A local JSONL file against DuckDB's native JSON load.
    Files,
    /// A `rest_api` source (json_link pages) against a bare HTTP download.
    Rest,
    /// A PostgreSQL table of `--orders` rows against a bare `psql \copy` (`sqldb.rs`).
    Postgres,
    /// A CSV file of `--orders` rows against DuckDB's own `read_csv` (`csvfile.rs`).
    Csv,
    /// A sync that finds nothing new (REST and local files) against dlt's (`noop.rs`).
    Noop,
    /// 50 small sources in one sync against 50 dlt pipeline runs (`many.rs`).
    Many,
    /// Parallelized dependent REST resources against sequential ones (`children.rs`).
    Children,
    /// A Python dlt resource (`dlt_native`) against dlt's own `pipeline.run`.
    DltNative,
    /// The same local JSONL file into DuckDB, Postgres and Delta (see `dest.rs`).
    Destinations,
}

/// A run and the row counts of the three tables it loaded.
type Side = (Run, [u64; 3]);

/// Measurements of one timed run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    /// dango's extract step (from its `Extracted.` log line).
    extract: Option<Duration>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some([input, db]) = args.native_child.as_deref() {
        return match native_load(input, db) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dango-bench: DuckDB native load: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let setup = dango_bin(&args).and_then(|b| Ok((b, work_dir(args.workdir.as_deref())?)));
    let (dango_bin, (work, created)) = match setup {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("dango-bench: error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match (&dango_bin, args.merge, args.workload) {
        (Some(bin), true, _) => merge::bench_merge(args.orders, bin, &work),
        (_, _, Workload::Files) => bench(&args, dango_bin.as_deref(), &work),
        (_, _, Workload::Rest) => rest::bench(&args, dango_bin.as_deref(), &work, SEED),
        (_, _, Workload::Postgres) => sqldb::bench(&args, dango_bin.as_deref(), &work),
        (_, _, Workload::Csv) => csvfile::bench(&args, dango_bin.as_deref(), &work),
        (Some(bin), _, Workload::Noop) => noop::bench(&args, bin, &work),
        (Some(bin), _, Workload::Many) => many::bench(&args, bin, &work),
        (Some(bin), _, Workload::Children) => children::bench(&args, bin, &work),
        (_, _, Workload::DltNative) => dlt_native::bench(&args, dango_bin.as_deref(), &work),
        (_, _, Workload::Destinations) => {
            dest::bench(args.orders, args.runs, dango_bin.as_deref(), &work)
        }
        (None, _, _) => Err(anyhow::anyhow!(
            "this workload has no --reference-only mode"
        )),
    };
    match &result {
        Err(e) => eprintln!("\ndango-bench: error: {e:#}"),
        Ok(false) => eprintln!("\ndango-bench: FAILED: *** MISMATCH *** in row counts"),
        Ok(true) => {}
    }
    let ok = matches!(result, Ok(true));
    if args.keep || !ok {
        eprintln!("work dir kept: {}", work.display());
    } else {
        clean(&work, created);
    }
    ExitCode::from(u8::from(!ok))
}

/// The dango executable to run, or `None` with `--reference-only`.
fn dango_bin(args: &Args) -> Result<Option<PathBuf>> {
    if args.reference_only {
        return Ok(None);
    }
    let bin = match &args.dango_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?.with_file_name("dango"),
    };
    if !bin.is_file() {
        let bin = bin.display();
        bail!("dango binary not found at {bin}: build it with cargo build --release");
    }
    Ok(Some(bin))
}

/// Runs the benchmark; `Ok(false)` if row counts disagree.
fn bench(args: &Args, dango_bin: Option<&Path>, work: &Path) -> Result<bool> {
    let input_dir = work.join("input");
    fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("orders.jsonl");
    let orders = group(args.orders);
    println!("dango-bench: {orders} orders, work dir {}", work.display());
    let started = Instant::now();
    let file = File::create(&input).with_context(|| format!("creating {}", input.display()))?;
    let expected = sample::write_orders_with_stats(file, args.orders, SEED)?;
    let (secs, size) = (started.elapsed().as_secs_f64(), mib_text(expected.bytes));
    let rate = mib(expected.bytes) / secs;
    println!("generated {size} in {secs:.2} s ({rate:.0} MiB/s), not part of the comparison");

    let (proj, ref_db) = (work.join("proj"), work.join("ref.duckdb"));
    let (mut dango_runs, mut native_runs) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        if let Some(bin) = dango_bin {
            write_project(&proj, &input_dir)?;
            let r = run_dango(bin, &proj, work)?;
            println!("run {run}: dango sync {:.2} s", r.wall.as_secs_f64());
            dango_runs.push(r);
        }
        let r = run_native(&input, &ref_db)?;
        println!("run {run}: DuckDB native {:.2} s", r.wall.as_secs_f64());
        native_runs.push(r);
    }
    let native_counts = table_counts(&ref_db)?;
    let warehouse = proj.join("data").join("warehouse.duckdb");
    let dango_counts = dango_bin.map(|_| table_counts(&warehouse)).transpose()?;
    // Fastest run of each side; dango's peak RSS is the max over all runs.
    let best = |runs: &[Run]| runs.iter().min_by_key(|r| r.wall).copied();
    let peak_rss_kib = dango_runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    let dango = best(&dango_runs).map(|r| Run { peak_rss_kib, ..r });
    let native = (best(&native_runs).context("no runs")?, native_counts);
    let dango = dango.zip(dango_counts);
    Ok(report(args.runs, &expected, dango, native))
}

/// (work directory, whether this run created it)
fn work_dir(requested: Option<&Path>) -> Result<(PathBuf, bool)> {
    let dir = if let Some(dir) = requested {
        dir.to_path_buf()
    } else {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        std::env::temp_dir().join(format!("dango-bench-{}-{nanos}", std::process::id()))
    };
    let created = !dir.exists();
    fs::create_dir_all(&dir).with_context(|| format!("creating work dir {}", dir.display()))?;
    Ok((dir.canonicalize()?, created))
}

/// Removes what the benchmark wrote, and the work dir if this run created it:
/// never anything else in a user-given directory.
fn clean(work: &Path, created: bool) {
    for dir in [
        "input",
        "changed",
        "proj",
        "ref.duckdb.tmp",
        "noop-input",
        "noop-proj",
        "noop-dlt",
        "many-input",
        "many-one",
        "many-proj",
        "many-dlt",
        "children-par",
        "children-seq",
        "input_small",
        "csv",
    ] {
        let _ = fs::remove_dir_all(work.join(dir));
    }
    for file in [
        "ref.duckdb",
        "ref.duckdb.wal",
        "dango-sync.log",
        "noop.log",
        "many.log",
        "children.log",
    ] {
        let _ = fs::remove_file(work.join(file));
    }
    if created {
        let _ = fs::remove_dir(work);
    }
}

/// A fresh dango project (empty warehouse) whose `bench` source reads
/// `input_dir/*.jsonl` into table `orders`.
fn write_project(proj: &Path, input_dir: &Path) -> Result<()> {
    if proj.exists() {
        fs::remove_dir_all(proj).with_context(|| format!("removing {}", proj.display()))?;
    }
    for dir in [".dango", ".dlt", "data"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    // A JSON string is a valid YAML double-quoted scalar.
    let dir = serde_json::to_string(input_dir.to_str().context("work dir is not UTF-8")?)?;
    let sources = format!(
        "version: \"1.0\"\nsources:\n  - name: bench\n    type: local_files\n    local_files:\n      \
         directory: {dir}\n      file_pattern: \"*.jsonl\"\n      table_name: {ROOT_TABLE}\n"
    );
    fs::write(proj.join(".dango/sources.yml"), sources)?;
    fs::write(proj.join(".dlt/config.toml"), "")?;
    fs::write(proj.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

/// Runs `dango sync -p <proj>` and reaps it with `wait4` for its rusage.
fn run_dango(bin: &Path, proj: &Path, work: &Path) -> Result<Run> {
    let log_path = work.join("dango-sync.log");
    let log = File::create(&log_path)?;
    let started = Instant::now();
    let child = Command::new(bin)
        .args([Path::new("sync"), Path::new("-v"), Path::new("-p"), proj])
        .current_dir(proj)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if !status.success() {
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        let log_path = log_path.display();
        bail!("`dango sync` failed ({status}); end of {log_path}:\n{tail}");
    }
    // Stage timings from dango's own log (`-v`), to see where the time goes.
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let mut extract = None;
    for line in log.lines() {
        if ["Extracted.", "Normalized.", "Loaded."]
            .iter()
            .any(|s| line.contains(s))
        {
            println!("  dango stage: {}", line.trim());
        }
        if line.contains("Extracted.") {
            extract = logged_elapsed(line);
        }
    }
    Ok(Run {
        extract,
        ..measured(wall, &usage, Duration::ZERO)
    })
}

/// The `elapsed=1.5s` / `elapsed=639.1ms` value of a log line.
fn logged_elapsed(line: &str) -> Option<Duration> {
    let v = line.split("elapsed=").nth(1)?.split_whitespace().next()?;
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("µs") {
        (n, 1e-6)
    } else {
        (v.strip_suffix('s')?, 1.0)
    };
    Some(Duration::from_secs_f64(num.parse::<f64>().ok()? * scale))
}

/// Reaps child `pid`, with its resource usage. On Linux the peak RSS is the child's own
/// `VmHWM`, polled while it runs: `ru_maxrss` also counts the memory of this process at spawn
/// time (the REST workload holds every page in memory), which would overstate the child.
fn wait4(pid: u32) -> Result<(ExitStatus, libc::rusage)> {
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let status = format!("/proc/{pid}/status");
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = fs::read_to_string(&status)
                    .ok()
                    .and_then(|s| vm_hwm_kib(&s))
                {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let reaped = reap(pid);
    stop.store(true, Ordering::Relaxed);
    let peak = poller.join().unwrap_or(0);
    let (status, mut usage) = reaped?;
    if peak > 0 {
        usage.ru_maxrss = libc::c_long::try_from(peak).unwrap_or(libc::c_long::MAX);
    }
    Ok((status, usage))
}

/// `VmHWM` (peak resident set, KiB) from a `/proc/<pid>/status` text.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reap(pid: u32) -> Result<(ExitStatus, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pointers to live locals; `pid` is our unreaped child (std never
    // waits on a `Child` unless asked). No signal handlers are set: no EINTR.
    if unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) } != pid {
        return Err(std::io::Error::last_os_error()).context("wait4 on dango");
    }
    Ok((ExitStatus::from_raw(status), usage))
}

fn self_usage() -> libc::rusage {
    // SAFETY: as in `wait4`; getrusage only writes to `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    usage
}

fn cpu_time(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A run that took `wall`, with CPU time (minus `cpu_before`) and peak RSS
/// from `usage` (`ru_maxrss` is in KiB on Linux, in bytes on macOS).
fn measured(wall: Duration, usage: &libc::rusage, cpu_before: Duration) -> Run {
    let cpu = cpu_time(usage).saturating_sub(cpu_before);
    let peak_rss_kib = usage.ru_maxrss as u64 / if cfg!(target_os = "macos") { 1024 } else { 1 };
    Run {
        wall,
        cpu,
        peak_rss_kib,
        extract: None,
    }
}

/// The root table's columns from the raw orders, with dlt's names (the file reference and
/// the merge reference share them).
const ORDERS_COLUMNS: &str =
    "orderId AS order_id, customerId AS customer_id, customerEmail AS customer_email, status,
    createdAt AS created_at, updatedAt AS updated_at, totalAmount AS total_amount, currency,
    shippingAddress.street AS shipping_address__street,
    shippingAddress.city AS shipping_address__city,
    shippingAddress.zipCode AS shipping_address__zip_code,
    shippingAddress.countryCode AS shipping_address__country_code,
    isGift AS is_gift, notes, '{load_id}' AS _dlt_load_id, _dlt_id";

/// DuckDB's own load: `read_json` into a temp table, then the three tables
/// with dlt names and system columns (`_dlt_id` as random UUIDs, parent keys,
/// list indexes), in one transaction.
const NATIVE_SQL: &str = "
SET autoinstall_known_extensions = false; SET autoload_known_extensions = true;
BEGIN;
CREATE SCHEMA {schema};
CREATE TEMP TABLE raw AS SELECT *, gen_random_uuid()::VARCHAR AS _dlt_id
  FROM read_json('{input}', format = 'newline_delimited');
CREATE TABLE {schema}.{orders} AS
  SELECT {orders_columns}
  FROM raw;
CREATE TEMP TABLE items AS
  SELECT unnest(lineItems) AS item, unnest(range(len(lineItems))) AS _dlt_list_idx,
    raw._dlt_id AS _dlt_parent_id, gen_random_uuid()::VARCHAR AS _dlt_id
  FROM raw;
DROP TABLE raw;
CREATE TABLE {schema}.{line_items} AS
  SELECT item.sku AS sku, item.productName AS product_name, item.quantity AS quantity,
    item.unitPrice AS unit_price, _dlt_parent_id, _dlt_list_idx, _dlt_id
  FROM items;
CREATE TABLE {schema}.{discounts} AS
  SELECT d.code AS code, d.amountOff AS amount_off, _dlt_parent_id, _dlt_list_idx,
    gen_random_uuid()::VARCHAR AS _dlt_id
  FROM (SELECT unnest(item.discounts) AS d, unnest(range(len(item.discounts))) AS _dlt_list_idx,
      items._dlt_id AS _dlt_parent_id FROM items);
DROP TABLE items;
COMMIT;";

/// Times the reference in a child process (`--native-child`), from its start to its exit
/// (opening a fresh database, loading, closing it so the checkpoint counts); CPU and peak RSS
/// are the child's, as for dango.
fn run_native(input: &Path, db: &Path) -> Result<Run> {
    let _ = fs::remove_file(db.with_extension("duckdb.wal"));
    if db.exists() {
        fs::remove_file(db)?;
    }
    let started = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .arg("--native-child")
        .args([input, db])
        .stdin(Stdio::null())
        .spawn()
        .context("spawning the DuckDB reference")?;
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("the DuckDB reference load failed ({status})");
    }
    Ok(measured(wall, &usage, Duration::ZERO))
}

/// The reference itself: DuckDB's `read_json` + `unnest` into the three tables.
fn native_load(input: &Path, db: &Path) -> Result<()> {
    let load_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let input = input.to_str().context("work dir is not UTF-8")?;
    let sql = NATIVE_SQL
        .replace("{orders_columns}", ORDERS_COLUMNS)
        .replace("{load_id}", &format!("{load_id:.6}"))
        .replace("{schema}", SCHEMA)
        .replace("{orders}", ROOT_TABLE)
        .replace("{line_items}", LINE_ITEMS_TABLE)
        .replace("{discounts}", DISCOUNTS_TABLE)
        .replace("{input}", &input.replace('\'', "''"));
    run_sql(db, &sql).context("DuckDB native load")
}

/// Opens `db`, runs the reference `sql` and closes it (so the checkpoint counts).
fn run_sql(db: &Path, sql: &str) -> Result<()> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.execute_batch(sql)?;
    conn.close()
        .map_err(|(_, e)| e)
        .context("closing the reference database")?;
    Ok(())
}

/// Row counts of the three tables, opened read-only.
fn table_counts(db: &Path) -> Result<[u64; 3]> {
    let config = Config::default().access_mode(AccessMode::ReadOnly)?;
    let conn = Connection::open_with_flags(db, config)
        .with_context(|| format!("opening {}", db.display()))?;
    let mut counts = [0; 3];
    for (count, table) in counts.iter_mut().zip(TABLES) {
        let sql = format!("SELECT count(*) FROM {SCHEMA}.{table}");
        let n: i64 = conn
            .query_row(&sql, [], |row| row.get(0))
            .with_context(|| sql.clone())?;
        *count = u64::try_from(n)?;
    }
    Ok(counts)
}

/// (label, value) report lines of one run that loaded `rows` rows in total.
fn metrics(r: Run, expected: &SampleStats, rows: u64) -> [(&'static str, String); 6] {
    let secs = r.wall.as_secs_f64();
    [
        ("wall time (s)", format!("{secs:.2}")),
        ("CPU user+sys (s)", format!("{:.2}", r.cpu.as_secs_f64())),
        ("orders/s", group((expected.orders as f64 / secs) as u64)),
        ("rows/s (3 tables)", group((rows as f64 / secs) as u64)),
        ("input MiB/s", format!("{:.1}", mib(expected.bytes) / secs)),
        (
            "peak RSS (MiB)",
            format!("{:.1}", r.peak_rss_kib as f64 / 1024.0),
        ),
    ]
}

/// Prints the report; false if the row counts of dango, the reference and the
/// generator disagree (each such table is flagged `*** MISMATCH ***`).
fn report(runs: u32, expected: &SampleStats, dango: Option<Side>, native: Side) -> bool {
    let (orders, input) = (group(expected.orders), mib_text(expected.bytes));
    println!("\n== dango-bench: {orders} orders, input {input}, best of {runs} run(s) ==");
    println!("{:<20} {:>14} {:>14}", "", "dango sync", "DuckDB native");
    let native_metrics = metrics(native.0, expected, native.1.iter().sum());
    let dango_metrics = dango.map(|(r, counts)| metrics(r, expected, counts.iter().sum()));
    for (i, (label, n)) in native_metrics.iter().enumerate() {
        let d = dango_metrics.as_ref().map_or("-", |m| m[i].1.as_str());
        println!("{label:<20} {d:>14} {n:>14}");
    }
    if let Some((d, _)) = dango {
        let ratio = d.wall.as_secs_f64() / native.0.wall.as_secs_f64();
        println!("{:<20} {ratio:>13.2}x", "ratio dango/native");
    }
    println!("\nrows                             generated       dango      native");
    let generated = [expected.orders, expected.line_items, expected.discounts];
    let mut ok = true;
    for (i, table) in TABLES.iter().enumerate() {
        let (n, g) = (native.1[i], generated[i]);
        let d = dango.map(|(_, counts)| counts[i]);
        let row_ok = d.is_none_or(|d| d == n) && n == g;
        ok &= row_ok;
        let flag = if row_ok { "" } else { "  *** MISMATCH ***" };
        let d = d.map_or_else(|| "-".to_string(), group);
        let (g, n) = (group(g), group(n));
        println!("{table:<30} {g:>11} {d:>11} {n:>11}{flag}");
    }
    if ok {
        println!("row counts: OK");
    }
    ok
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn mib_text(bytes: u64) -> String {
    format!("{:.1} MiB", mib(bytes))
}

/// 1234567 -> "1,234,567"
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

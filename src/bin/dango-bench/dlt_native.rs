//! The `dlt_native` workload: a Python `@dlt.resource` that generates N nested orders as dicts
//! (the JSONL workload's shape), run by `dango sync` (dlt's extract in a Python child streaming
//! its items to dango, then dango's normalize and load) and by Python dlt's own `pipeline.run(...,
//! loader_file_format="parquet")` into DuckDB, in the same run. Also times the floor: the same
//! generator's dicts serialized with orjson to a file by Python alone.
//!
//! Peak RSS is summed over the process tree (dango and its Python child; each process's own
//! `VmHWM`, polled while it runs). `--memory-check` also syncs 10× the orders and compares the
//! peaks (the target: within 1.2×).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Args, group, table_counts, vm_hwm_kib};

/// The generator module (`custom_sources/bench_orders.py` of the project).
const MODULE: &str = r#"import random

import dlt

STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
CITIES = ["Lisbon", "Oslo", "Austin", "Kyoto", "Lima", "Accra"]


def orders_gen(n, seed=42):
    rnd = random.Random(seed)
    for i in range(n):
        items = []
        for j in range(rnd.randint(1, 4)):
            items.append({
                "sku": f"SKU-{rnd.randint(1, 50000):05d}",
                "productName": f"Product {rnd.randint(1, 9999)}",
                "quantity": rnd.randint(1, 5),
                "unitPrice": round(rnd.uniform(1, 500), 2),
                "discounts": [{"code": f"D{rnd.randint(1, 99)}", "amountOff": round(rnd.uniform(0, 20), 2)}
                              for _ in range(rnd.randint(0, 2))],
            })
        day = 1 + i % 28
        yield {
            "orderId": i + 1,
            "customerId": rnd.randint(1, 100000),
            "customerEmail": f"user{rnd.randint(1, 100000)}@example.com",
            "status": rnd.choice(STATUSES),
            "createdAt": f"2024-03-{day:02d}T10:{i % 60:02d}:00Z",
            "updatedAt": f"2024-04-{day:02d}T11:{i % 60:02d}:00Z",
            "totalAmount": round(sum(it["unitPrice"] * it["quantity"] for it in items), 2),
            "currency": "EUR",
            "shippingAddress": {"street": f"{rnd.randint(1, 999)} Main St", "city": rnd.choice(CITIES),
                                "zipCode": f"{rnd.randint(10000, 99999)}", "countryCode": "PT"},
            "isGift": rnd.random() < 0.1,
            "notes": None if rnd.random() < 0.7 else "leave at the door",
            "lineItems": items,
        }


@dlt.resource(name="orders", write_disposition="append")
def orders(n: int = 1000):
    yield from orders_gen(n)
"#;

/// dlt's own run of the same resource (argv: project pipelines_dir db n).
const DLT_RUN: &str = r#"import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "custom_sources"))
import dlt
from bench_orders import orders
p = dlt.pipeline(pipeline_name="bench", pipelines_dir=sys.argv[2],
                 destination=dlt.destinations.duckdb(sys.argv[3]), dataset_name="raw_bench")
p.run(orders(int(sys.argv[4])), loader_file_format="parquet")
"#;

/// The floor: the generator's dicts as orjson lines (argv: project out n).
const FLOOR: &str = r#"import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "custom_sources"))
import orjson
from bench_orders import orders_gen
with open(sys.argv[2], "wb") as f:
    for o in orders_gen(int(sys.argv[3])):
        f.write(orjson.dumps(o))
        f.write(b"\n")
"#;

/// Wall time, CPU time and peak RSS (summed over the process tree) of one command.
#[derive(Debug, Clone, Copy)]
struct TreeRun {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    processes: usize,
}

/// The direct children of `pid` (`/proc/<pid>/task/<tid>/children`).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// CPU time of this process's reaped children (and theirs), so far.
fn children_cpu() -> Duration {
    // SAFETY: rusage is plain old data; getrusage only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &raw mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs `cmd` to its end, polling the `VmHWM` of it and every descendant; the peak is the
/// sum of each process's own peak.
fn run_tree(mut cmd: Command, log: &Path) -> Result<TreeRun> {
    let out = fs::File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut child = cmd.spawn().context("spawning the benchmark command")?;
    let root = child.id();
    let mut peaks: HashMap<u32, u64> = HashMap::new();
    let status = loop {
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            if let Some(kib) = fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| vm_hwm_kib(&s))
            {
                let e = peaks.entry(pid).or_default();
                *e = (*e).max(kib);
            }
            stack.extend(children(pid));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        bail!(
            "{cmd:?} failed ({status}); end of {}:\n{}",
            log.display(),
            lines[lines.len().saturating_sub(20)..].join("\n")
        );
    }
    Ok(TreeRun {
        wall,
        cpu,
        peak_kib: peaks.values().sum(),
        processes: peaks.len(),
    })
}

/// A project whose `bench` source is the generator, `n` orders.
fn write_project(proj: &Path, n: u64) -> Result<()> {
    if proj.exists() {
        fs::remove_dir_all(proj)?;
    }
    for dir in [".dango", ".dlt", "data", "custom_sources"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    fs::write(proj.join("custom_sources/bench_orders.py"), MODULE)?;
    fs::write(
        proj.join(".dango/sources.yml"),
        format!(
            "version: \"1.0\"\nsources:\n  - name: bench\n    type: dlt_native\n    dlt_native:\n      source_module: bench_orders\n      source_name: orders\n      function_kwargs: {{n: {n}}}\n"
        ),
    )?;
    fs::write(proj.join(".dlt/config.toml"), "")?;
    fs::write(proj.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

/// The Python that runs both sides: `DANGO_PYTHON`, else `~/.cache/dango-venv/bin/python`.
fn python() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DANGO_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let p = PathBuf::from(home).join(".cache/dango-venv/bin/python");
    if !p.exists() {
        bail!("no Python with dlt: set DANGO_PYTHON (dlt 1.31, pyarrow, orjson)");
    }
    Ok(p)
}

fn sync(bin: &Path, py: &Path, proj: &Path, work: &Path, n: u64) -> Result<(TreeRun, [u64; 3])> {
    write_project(proj, n)?;
    let mut cmd = Command::new(bin);
    cmd.args(["sync", "-v", "-p"])
        .arg(proj)
        .current_dir(proj)
        .env("DANGO_PYTHON", py);
    let run = run_tree(cmd, &work.join("dango-sync.log"))?;
    Ok((run, table_counts(&proj.join("data/warehouse.duckdb"))?))
}

fn line(label: &str, r: &TreeRun) {
    println!(
        "{label:<28} {:>9.2} s  cpu {:>7.2} s  peak RSS {:>7.1} MiB ({} process(es))",
        r.wall.as_secs_f64(),
        r.cpu.as_secs_f64(),
        r.peak_kib as f64 / 1024.0,
        r.processes
    );
}

/// The best run: dango and its row counts, dlt and its row counts, the floor.
type Best = (TreeRun, [u64; 3], TreeRun, [u64; 3], TreeRun);

/// Runs the workload; `Ok(false)` when dango and dlt loaded different row counts.
pub fn bench(args: &Args, dango_bin: Option<&Path>, work: &Path) -> Result<bool> {
    let bin = dango_bin.context("the dlt_native workload needs the dango binary")?;
    let py = python()?;
    let n = args.orders;
    let proj = work.join("project");
    println!(
        "dlt_native: {} orders generated by a Python resource, Python {}",
        group(n),
        py.display()
    );
    let mut best: Option<Best> = None;
    for run in 1..=args.runs {
        let (dango, dango_counts) = sync(bin, &py, &proj, work, n)?;
        line(&format!("run {run}: dango sync"), &dango);
        let dlt_dir = work.join("dlt");
        let _ = fs::remove_dir_all(&dlt_dir);
        fs::create_dir_all(&dlt_dir)?;
        fs::write(dlt_dir.join("run.py"), DLT_RUN)?;
        let db = dlt_dir.join("bench.duckdb");
        let mut cmd = Command::new(&py);
        cmd.arg(dlt_dir.join("run.py"))
            .arg(&proj)
            .arg(dlt_dir.join("pipelines"))
            .arg(&db)
            .arg(n.to_string())
            .current_dir(&dlt_dir);
        let dlt = run_tree(cmd, &work.join("dlt-run.log"))?;
        line(&format!("run {run}: dlt pipeline.run"), &dlt);
        let dlt_counts = table_counts(&db)?;
        fs::write(dlt_dir.join("floor.py"), FLOOR)?;
        let mut cmd = Command::new(&py);
        cmd.arg(dlt_dir.join("floor.py"))
            .arg(&proj)
            .arg(dlt_dir.join("orders.jsonl"))
            .arg(n.to_string());
        let floor = run_tree(cmd, &work.join("floor.log"))?;
        line(&format!("run {run}: floor (orjson)"), &floor);
        let _ = fs::remove_dir_all(&dlt_dir);
        if best.as_ref().is_none_or(|b| dango.wall < b.0.wall) {
            best = Some((dango, dango_counts, dlt, dlt_counts, floor));
        }
    }
    let Some((dango, dango_counts, dlt, dlt_counts, floor)) = best else {
        bail!("no run");
    };
    println!(
        "\n== dango-bench dlt_native: {} orders, best of {} ==",
        group(n),
        args.runs
    );
    line("dango sync", &dango);
    line("dlt pipeline.run (parquet)", &dlt);
    line("floor: Python + orjson", &floor);
    println!(
        "ratio dango/dlt: {:.3}x (target <= 0.2x); dango / floor: {:.2}x; dango peak RSS {:.1} MiB (target <= 400 MiB)",
        dango.wall.as_secs_f64() / dlt.wall.as_secs_f64(),
        dango.wall.as_secs_f64() / floor.wall.as_secs_f64(),
        dango.peak_kib as f64 / 1024.0
    );
    println!("rows (orders, line items, discounts): dango {dango_counts:?}, dlt {dlt_counts:?}");
    if args.memory_check {
        let big = n * 10;
        let (r, counts) = sync(bin, &py, &proj, work, big)?;
        line(&format!("dango sync of {}", group(big)), &r);
        println!(
            "memory: {} orders peak {:.1} MiB vs {} orders {:.1} MiB: {:.2}x (target <= 1.2x); rows {counts:?}",
            group(big),
            r.peak_kib as f64 / 1024.0,
            group(n),
            dango.peak_kib as f64 / 1024.0,
            r.peak_kib as f64 / dango.peak_kib as f64
        );
    }
    Ok(dango_counts == dlt_counts)
}

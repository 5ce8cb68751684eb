//! Helpers of the small workloads (`noop`, `many`, `children`): an HTTP server whose answers
//! come from a function (with an artificial latency per request), timed child processes
//! (dango or a Python with dlt), medians and the report lines.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Run, measured, wait4};

/// Answers a request target (`/posts?page=2`) with a JSON body, or `None` for a 404.
pub type Handler = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Starts a server on 127.0.0.1 that answers with `handler` after sleeping `latency` per
/// request (one thread per connection, keep-alive). Runs until the process ends.
pub fn serve(handler: Arc<Handler>, latency: Duration) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the benchmark server")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let _ = connection(stream, &*handler, latency);
            });
        }
    });
    Ok(addr)
}

fn connection(stream: TcpStream, handler: &Handler, latency: Duration) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let resp = match handler(&target) {
            Some(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
        };
        out.write_all(resp.as_bytes())?;
    }
}

/// The value of query parameter `key` in a request target.
pub fn query_param<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    let (_, q) = target.split_once('?')?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// The Python with dlt: `DANGO_BENCH_PYTHON`, else `~/.cache/dango-venv/bin/python`.
pub fn python() -> Result<PathBuf> {
    let p = match std::env::var_os("DANGO_BENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/dango-venv/bin/python"),
    };
    if !p.is_file() {
        bail!(
            "no Python with dlt at {} (set DANGO_BENCH_PYTHON to a Python with dlt 1.31.0)",
            p.display()
        );
    }
    Ok(p)
}

/// A fresh project dir with `sources_yml` and `config_toml`.
pub fn project(dir: &Path, sources_yml: &str, config_toml: &str) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    for d in [".dango", ".dlt", "data"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::write(dir.join(".dango/sources.yml"), sources_yml)?;
    std::fs::write(dir.join(".dlt/config.toml"), config_toml)?;
    std::fs::write(dir.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

/// Runs `cmd` (output to `log`), timing it from spawn to exit, with its CPU and peak RSS;
/// fails with the end of the log if it fails.
pub fn timed(mut cmd: Command, log: &Path) -> Result<Run> {
    let out = std::fs::File::create(log)?;
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("spawning a benchmark run")?;
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        bail!(
            "{cmd:?} failed ({status}); end of {}:\n{tail}",
            log.display()
        );
    }
    Ok(measured(wall, &usage, Duration::ZERO))
}

/// `dango <args>` in project `proj`, with `env`.
pub fn dango(bin: &Path, proj: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).arg("-p").arg(proj).current_dir(proj);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `python script args...` in `dir` (dlt's telemetry off).
pub fn dlt(python: &Path, dir: &Path, script: &str, args: &[&str]) -> Result<Command> {
    let path = dir.join("bench_dlt.py");
    std::fs::write(&path, script)?;
    let mut c = Command::new(python);
    c.arg(&path)
        .args(args)
        .current_dir(dir)
        .env("RUNTIME__DLTHUB_TELEMETRY", "false");
    Ok(c)
}

/// The run with the median wall time; peak RSS is the maximum over all.
pub fn median(runs: &[Run]) -> Run {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|r| r.wall);
    let peak = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    Run {
        peak_rss_kib: peak,
        ..sorted[sorted.len() / 2]
    }
}

/// One report line: `label`, dango's median, the reference's, their ratio and peak RSS.
pub fn line(label: &str, dango: &Run, reference: &Run, reference_name: &str, target: f64) -> bool {
    let ratio = dango.wall.as_secs_f64() / reference.wall.as_secs_f64();
    let met = ratio <= target;
    println!(
        "{label:<34} dango {:>8.3} s ({:>6.1} MiB)  {reference_name} {:>8.3} s ({:>6.1} MiB)  ratio {ratio:>6.3}x  target <= {target}x: {}",
        dango.wall.as_secs_f64(),
        dango.peak_rss_kib as f64 / 1024.0,
        reference.wall.as_secs_f64(),
        reference.peak_rss_kib as f64 / 1024.0,
        if met { "met" } else { "NOT MET" }
    );
    met
}

/// Row count of `sql` (a `SELECT count(*)`) in the DuckDB file `db`, read-only.
pub fn count(db: &Path, sql: &str) -> Result<u64> {
    let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly)?;
    let conn = duckdb::Connection::open_with_flags(db, config)
        .with_context(|| format!("opening {}", db.display()))?;
    let n: i64 = conn
        .query_row(sql, [], |r| r.get(0))
        .with_context(|| sql.to_string())?;
    Ok(u64::try_from(n)?)
}

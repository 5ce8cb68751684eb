//! The REST workload: an in-process HTTP server serves the generated orders as pre-rendered
//! JSON pages (`{"data": [...], "next": "<url of the next page>"}`, dlt's `json_link`
//! paginator) from memory, so the server is not the bottleneck. The benchmark times a bare
//! HTTP client downloading every page in sequence (following `next`, as dango must) and the
//! real `dango sync` of a `rest_api` source against the same server into a fresh warehouse.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dango::sample::{OrderGenerator, SampleStats};

use super::{Args, Run, TABLES, group, mib, mib_text, run_dango, table_counts};

/// Pre-rendered HTTP responses (status line, headers and body), one per page.
struct Pages {
    responses: Vec<Vec<u8>>,
    /// Bytes of the JSON bodies.
    body_bytes: u64,
    stats: SampleStats,
}

/// Renders `orders` orders into pages of `page_size` items whose `next` links point at
/// `addr`.
fn render_pages(orders: u64, page_size: u64, seed: u64, addr: SocketAddr) -> Pages {
    let mut generator = OrderGenerator::new(orders, seed);
    let n_pages = orders.div_ceil(page_size);
    let mut responses = Vec::with_capacity(n_pages as usize);
    let mut body_bytes = 0;
    let mut lines = Vec::new();
    for page in 1..=n_pages {
        lines.clear();
        let mut body = Vec::with_capacity(page_size as usize * 700);
        body.extend_from_slice(b"{\"data\":[");
        for i in 0..page_size {
            lines.clear();
            if !generator.write_next(&mut lines) {
                break;
            }
            if i > 0 {
                body.push(b',');
            }
            // Without the generator's trailing newline.
            body.extend_from_slice(&lines[..lines.len() - 1]);
        }
        body.extend_from_slice(b"],\"next\":");
        if page < n_pages {
            let next = format!("\"http://{addr}/orders?page={}\"", page + 1);
            body.extend_from_slice(next.as_bytes());
        } else {
            body.extend_from_slice(b"null");
        }
        body.push(b'}');
        body_bytes += body.len() as u64;
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        responses.push(resp);
    }
    Pages {
        responses,
        body_bytes,
        stats: generator.stats(),
    }
}

/// Serves `pages` on `listener` (one thread per connection, HTTP/1.1 keep-alive) until the
/// process ends.
fn serve(listener: TcpListener, pages: Arc<Pages>) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let pages = Arc::clone(&pages);
            std::thread::spawn(move || {
                let _ = serve_connection(stream, &pages);
            });
        }
    });
}

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

fn serve_connection(stream: TcpStream, pages: &Pages) -> std::io::Result<()> {
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
        // Skip the headers (GET requests have no body).
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let page = match target.split_once('?') {
            None if target == "/orders" => Some(1),
            Some(("/orders", query)) => query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|n| n.parse::<usize>().ok()),
            _ => None,
        };
        match page.and_then(|p| pages.responses.get(p.wrapping_sub(1))) {
            Some(resp) => out.write_all(resp)?,
            None => out.write_all(NOT_FOUND)?,
        }
    }
}

/// The `next` link of a page; everything else is skipped (but still read and checked).
#[derive(serde::Deserialize)]
struct NextLink {
    next: Option<String>,
}

/// Downloads every page in sequence with a bare reqwest client, following `next`.
/// Returns the run (CPU and RSS are not measured: the server shares this process), the pages
/// and the body bytes received.
fn bare_download(addr: SocketAddr) -> Result<(Duration, u64, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder().gzip(true).build()?;
    let started = Instant::now();
    let (pages, bytes) = rt.block_on(async {
        let mut url = Some(format!("http://{addr}/orders"));
        let (mut pages, mut bytes) = (0u64, 0u64);
        while let Some(u) = url.take() {
            let resp = client.get(&u).send().await?.error_for_status()?;
            let body = resp.bytes().await?;
            pages += 1;
            bytes += body.len() as u64;
            url = serde_json::from_slice::<NextLink>(&body)?.next;
        }
        anyhow::Ok((pages, bytes))
    })?;
    Ok((started.elapsed(), pages, bytes))
}

/// A fresh dango project whose `bench` source is a `rest_api` source reading the orders from
/// `addr` (json_link paginator, `data` selector, append).
fn write_project(proj: &Path, addr: SocketAddr) -> Result<()> {
    if proj.exists() {
        std::fs::remove_dir_all(proj).with_context(|| format!("removing {}", proj.display()))?;
    }
    for dir in [".dango", ".dlt", "data"] {
        std::fs::create_dir_all(proj.join(dir))?;
    }
    let sources = format!(
        "version: \"1.0\"
sources:
  - name: bench
    type: rest_api
    rest_api:
      client:
        base_url: http://{addr}/
        paginator: {{type: json_link, next_url_path: next}}
      resources:
        - name: orders
          write_disposition: append
          endpoint:
            path: orders
            data_selector: data
"
    );
    std::fs::write(proj.join(".dango/sources.yml"), sources)?;
    std::fs::write(proj.join(".dlt/config.toml"), "")?;
    std::fs::write(proj.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

/// Runs the REST workload; `Ok(false)` if the warehouse row counts disagree with the
/// generator.
pub(super) fn bench(args: &Args, dango_bin: Option<&Path>, work: &Path, seed: u64) -> Result<bool> {
    let Some(dango_bin) = dango_bin else {
        bail!("--reference-only does not apply to the rest workload");
    };
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the local HTTP server")?;
    let addr = listener.local_addr()?;
    let orders = group(args.orders);
    println!(
        "dango-bench rest: {orders} orders, page size {}, server http://{addr}, work dir {}",
        args.page_size,
        work.display()
    );
    let started = Instant::now();
    let pages = Arc::new(render_pages(args.orders, args.page_size, seed, addr));
    let size = mib_text(pages.body_bytes);
    println!(
        "rendered {} pages ({size}) in {:.2} s, not part of the comparison",
        group(pages.responses.len() as u64),
        started.elapsed().as_secs_f64()
    );
    serve(listener, Arc::clone(&pages));

    let proj = work.join("proj");
    let (mut bare_runs, mut dango_runs) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let (wall, n, bytes) = bare_download(addr)?;
        if n != pages.responses.len() as u64 || bytes != pages.body_bytes {
            bail!(
                "the bare client got {n} pages / {bytes} bytes, expected {} / {}",
                pages.responses.len(),
                pages.body_bytes
            );
        }
        println!("run {run}: bare HTTP download {:.2} s", wall.as_secs_f64());
        bare_runs.push(wall);
        write_project(&proj, addr)?;
        let r = run_dango(dango_bin, &proj, work)?;
        println!("run {run}: dango sync {:.2} s", r.wall.as_secs_f64());
        dango_runs.push(r);
    }
    let counts = table_counts(&proj.join("data").join("warehouse.duckdb"))?;
    let bare = bare_runs.iter().min().copied().context("no runs")?;
    let peak_rss_kib = dango_runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    let best = dango_runs
        .iter()
        .min_by_key(|r| r.wall)
        .context("no runs")?;
    let dango = Run {
        peak_rss_kib,
        ..*best
    };
    Ok(report(args.runs, &pages, bare, dango, counts))
}

/// Prints the report; false if the row counts disagree with the generator.
fn report(runs: u32, pages: &Pages, bare: Duration, dango: Run, counts: [u64; 3]) -> bool {
    let expected = &pages.stats;
    let (orders, size) = (group(expected.orders), mib_text(pages.body_bytes));
    let n_pages = group(pages.responses.len() as u64);
    println!(
        "\n== dango-bench rest: {orders} orders, {n_pages} pages, {size}, best of {runs} run(s) =="
    );
    println!("{:<22} {:>14} {:>14}", "", "dango sync", "bare download");
    let (d, b) = (dango.wall.as_secs_f64(), bare.as_secs_f64());
    let rows: u64 = counts.iter().sum();
    let line = |label: &str, d: String, b: String| println!("{label:<22} {d:>14} {b:>14}");
    line("wall time (s)", format!("{d:.2}"), format!("{b:.2}"));
    line(
        "orders/s",
        group((expected.orders as f64 / d) as u64),
        group((expected.orders as f64 / b) as u64),
    );
    line(
        "rows/s (3 tables)",
        group((rows as f64 / d) as u64),
        "-".into(),
    );
    line(
        "MiB/s",
        format!("{:.1}", mib(pages.body_bytes) / d),
        format!("{:.1}", mib(pages.body_bytes) / b),
    );
    line(
        "CPU user+sys (s)",
        format!("{:.2}", dango.cpu.as_secs_f64()),
        "-".into(),
    );
    line(
        "peak RSS (MiB)",
        format!("{:.1}", dango.peak_rss_kib as f64 / 1024.0),
        "-".into(),
    );
    println!(
        "{:<22} {:>13.2}x (target <= 1.3x)",
        "ratio dango/bare",
        d / b
    );
    if let Some(e) = dango.extract {
        let e = e.as_secs_f64();
        println!("{:<22} {e:>14.2} {b:>14.2}", "extract step (s)");
        println!("{:<22} {:>13.2}x", "ratio extract/bare", e / b);
    }
    println!("\nrows                             generated       dango");
    let generated = [expected.orders, expected.line_items, expected.discounts];
    let mut ok = true;
    for (i, table) in TABLES.iter().enumerate() {
        let row_ok = counts[i] == generated[i];
        ok &= row_ok;
        let flag = if row_ok { "" } else { "  *** MISMATCH ***" };
        println!(
            "{table:<30} {:>11} {:>11}{flag}",
            group(generated[i]),
            group(counts[i])
        );
    }
    if ok {
        println!("row counts: OK");
    }
    ok
}

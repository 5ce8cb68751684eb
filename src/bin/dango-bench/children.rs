//! `--workload children`: a `posts` → `posts/{resources.posts.id}/comments` source against a
//! server that waits before every answer (`DANGO_BENCH_LATENCY_MS`, default 50 ms: a remote
//! API; a local json-server answers in about 6 ms), with `parallelized: true` on `comments`
//! against the same config without it (one request after the other), in the same run.
//! `--orders` is not used: 250 posts in pages of 50, 3 comments each (255 requests).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, ensure};

use super::small::{self, count, dango, median, timed};
use super::{Args, Run};

const POSTS: u64 = 250;
const PAGE: u64 = 50;
const COMMENTS: u64 = 3;

/// The server's wait per request.
fn latency() -> Duration {
    let ms = std::env::var("DANGO_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    Duration::from_millis(ms)
}

fn answer(addr: &str, target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap_or("");
    if path == "/posts" {
        let page: u64 = small::query_param(target, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let first = (page - 1) * PAGE + 1;
        let last = (page * PAGE).min(POSTS);
        let posts: Vec<String> = (first..=last)
            .map(|i| format!("{{\"id\":{i},\"title\":\"post {i}\",\"user\":{}}}", i % 7))
            .collect();
        let next = if last < POSTS {
            format!("\"http://{addr}/posts?page={}\"", page + 1)
        } else {
            "null".into()
        };
        return Some(format!(
            "{{\"data\":[{}],\"next\":{next}}}",
            posts.join(",")
        ));
    }
    let post: u64 = path
        .strip_prefix("/posts/")?
        .strip_suffix("/comments")?
        .parse()
        .ok()?;
    let comments: Vec<String> = (0..COMMENTS)
        .map(|c| {
            format!(
                "{{\"id\":{},\"postId\":{post},\"body\":\"comment {c} of {post}\"}}",
                post * 10 + c
            )
        })
        .collect();
    Some(format!("[{}]", comments.join(",")))
}

fn sources_yml(base: &str, parallelized: bool) -> String {
    format!(
        "version: \"1.0\"\nsources:\n  - name: blog\n    type: rest_api\n    rest_api:\n      client:\n        base_url: {base}\n      resources:\n        - name: posts\n          endpoint:\n            path: posts\n            data_selector: data\n            paginator:\n              type: json_link\n              next_url_path: next\n        - name: comments\n          parallelized: {parallelized}\n          endpoint:\n            path: posts/{{resources.posts.id}}/comments\n            data_selector: $\n            paginator: single_page\n"
    )
}

/// Runs the workload; `Ok(false)` if the two runs loaded different rows.
pub fn bench(args: &Args, bin: &Path, work: &Path) -> Result<bool> {
    let addr = Arc::new(std::sync::OnceLock::<String>::new());
    let a = Arc::clone(&addr);
    let handler: Arc<small::Handler> =
        Arc::new(move |t: &str| answer(a.get().map(String::as_str).unwrap_or(""), t));
    let latency = latency();
    let sock = small::serve(handler, latency)?;
    let _ = addr.set(sock.to_string());
    let base = format!("http://{sock}");
    let requests = POSTS.div_ceil(PAGE) + POSTS;
    println!(
        "dango-bench children: {POSTS} posts, {COMMENTS} comments each, {requests} requests, {} ms per request",
        latency.as_millis()
    );
    let log = work.join("children.log");
    let (par_proj, seq_proj) = (work.join("children-par"), work.join("children-seq"));
    let (mut par, mut seq): (Vec<Run>, Vec<Run>) = Default::default();
    for _ in 0..args.runs.max(3) {
        small::project(&par_proj, &sources_yml(&base, true), "")?;
        par.push(timed(dango(bin, &par_proj, &["sync"], &[]), &log)?);
        small::project(&seq_proj, &sources_yml(&base, false), "")?;
        seq.push(timed(dango(bin, &seq_proj, &["sync"], &[]), &log)?);
    }
    let sql = "SELECT count(*) FROM raw_blog.comments";
    let sum = "SELECT sum(id * 7 + post_id) FROM raw_blog.comments";
    let (pw, sw) = (
        par_proj.join("data/warehouse.duckdb"),
        seq_proj.join("data/warehouse.duckdb"),
    );
    let (pc, sc) = (count(&pw, sql)?, count(&sw, sql)?);
    ensure!(
        pc == POSTS * COMMENTS,
        "parallelized run loaded {pc} comments"
    );
    let same = pc == sc && count(&pw, sum)? == count(&sw, sum)?;
    let (p, s) = (median(&par), median(&seq));
    let speedup = s.wall.as_secs_f64() / p.wall.as_secs_f64();
    println!(
        "parallelized: {:.2} s (CPU {:.2} s, {:.1} MiB); sequential: {:.2} s (CPU {:.2} s); {speedup:.2}x faster; target >= 3x: {}",
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64(),
        p.peak_rss_kib as f64 / 1024.0,
        s.wall.as_secs_f64(),
        s.cpu.as_secs_f64(),
        if speedup >= 3.0 { "met" } else { "NOT MET" }
    );
    println!(
        "rows: {pc} comments parallelized, {sc} sequential: {}",
        if same { "same" } else { "*** MISMATCH ***" }
    );
    Ok(same)
}

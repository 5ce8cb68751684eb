//! Progress lines (items, pages, bytes) and Ctrl-C inside a long REST extraction.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, Respond, ResponseTemplate};

use super::{Api, ids, items, ok, project};

/// `/pages?page=N` (N from 1): 10 items per page, `next` links up to `pages`, each response
/// delayed by `delay_ms`.
struct Pages {
    base: String,
    pages: i64,
    delay_ms: Arc<AtomicU64>,
}

impl Pages {
    fn body(&self, page: i64) -> Value {
        let next = if page < self.pages {
            json!(format!("{}/pages?page={}", self.base, page + 1))
        } else {
            Value::Null
        };
        json!({"data": items((page - 1) * 10, page * 10), "next": next})
    }
}

impl Respond for Pages {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let page = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let delay = Duration::from_millis(self.delay_ms.load(Ordering::SeqCst));
        ok(self.body(page)).set_delay(delay)
    }
}

const BLOCK: &str = "client:\n  base_url: {base}\n  paginator: {type: json_link, next_url_path: next}\nresources:\n  - name: things\n    write_disposition: append\n    endpoint:\n      path: pages\n      data_selector: data\n";

fn paged_api(pages: i64, delay_ms: u64) -> (Api, Arc<AtomicU64>, Pages) {
    let api = Api::start();
    let delay = Arc::new(AtomicU64::new(delay_ms));
    let responder = |d: &Arc<AtomicU64>| Pages {
        base: api.uri(),
        pages,
        delay_ms: Arc::clone(d),
    };
    api.mount(Mock::given(path("/pages")).respond_with(responder(&delay)));
    let expected = responder(&delay);
    (api, delay, expected)
}

#[test]
fn plain_progress_lines_show_items_pages_and_bytes() {
    let (api, _, pages) = paged_api(3, 0);
    let p = project(&BLOCK.replace("{base}", &api.uri()));
    let out = p.dango().arg("sync").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The bytes are the bodies the server sent.
    let bytes: usize = (1..=3)
        .map(|n| serde_json::to_vec(&pages.body(n)).unwrap().len())
        .sum();
    let human = indicatif::HumanBytes(bytes as u64).to_string();
    let line = format!("api: resource things: extracted 30 item(s), 3 page(s), {human}");
    assert!(stderr.lines().any(|l| l == line), "{line}\n{stderr}");
    for stage in ["api: extract", "api: normalize", "api: load"] {
        assert!(stderr.lines().any(|l| l == stage), "{stage}\n{stderr}");
    }
    assert_eq!(ids(&p, "raw_api.things"), (0..30).collect::<Vec<_>>());
}

#[test]
fn ctrl_c_during_a_slow_rest_extraction_stops_within_a_page() {
    // 40 pages of 250 ms: 10 s to extract; Ctrl-C comes after about one second.
    let (api, delay, _) = paged_api(40, 250);
    let p = project(&BLOCK.replace("{base}", &api.uri()));
    let mut child = p
        .dango_std()
        .arg("sync")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line == "api: extract" {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(1200));
    let signalled = Instant::now();
    // SAFETY: plain kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(
        took < Duration::from_secs(3),
        "stopped after {took:?}\n{seen}"
    );
    assert!(seen.contains("api: interrupted"), "{seen}");
    let fetched = api.count("/pages");
    assert!(
        fetched < 40,
        "the extraction ran to the end ({fetched} pages)\n{seen}"
    );
    // Nothing of the interrupted package was committed or left to resume.
    if p.warehouse().exists() {
        assert!(p.tables("raw_api").is_empty());
    }
    for sub in [
        "normalize/extracting",
        "normalize/extracted",
        "load/normalized",
    ] {
        let dir = p.path().join(".dlt/pipelines/api").join(sub);
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "{} is not empty", dir.display());
    }
    // The next run loads everything once.
    delay.store(0, Ordering::SeqCst);
    p.dango().arg("sync").assert().success();
    assert_eq!(ids(&p, "raw_api.things"), (0..400).collect::<Vec<_>>());
}

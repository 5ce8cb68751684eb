//! Stuck packages: `dango pipeline <name> abort-packages` (alias `drop-pending-packages`), and
//! the out-of-disk error (a real 40 MB filesystem) that says where, how much and what to do.

use std::path::{Path, PathBuf};

use crate::hermetic::Isolated;
use crate::util::{TestProject, orders_jsonl};

#[test]
fn abort_packages_asks_discards_pending_packages_and_keeps_them_in_failed_jobs() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(6, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p.dango().arg("sync").assert().success();
    p.write("input/orders.jsonl", &orders_jsonl(4, 50));
    p.sync_killed_at("after_normalize", &[]);
    let pending = p.path().join(".dlt/pipelines/shop/load/normalized");
    assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 1);

    // Without -y and no terminal to ask on: nothing is changed.
    let out = p
        .dango()
        .args(["pipeline", "shop", "abort-packages"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stdout.contains("(normalized): 2 job(s)") || stdout.contains("(normalized):"),
        "{stdout}"
    );
    assert!(
        stderr.contains("not confirmed; nothing was changed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 1);

    // The old name works too; committed data is not touched.
    p.dango()
        .args(["pipeline", "shop", "drop-pending-packages", "-y"])
        .assert()
        .success();
    assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 0);
    assert_eq!(p.count("raw_shop.orders"), 6);
    let failed = p
        .dango()
        .args(["pipeline", "shop", "failed-jobs", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    let jobs = v["failed_jobs"].as_array().unwrap();
    assert!(!jobs.is_empty());
    assert!(jobs.iter().any(|j| j["table"] == "orders"));
    assert!(
        jobs.iter()
            .all(|j| j["error"].as_str().unwrap().contains("abort-packages"))
    );
    assert_eq!(v["pending_packages"].as_array().unwrap().len(), 0);

    // An extracted (not yet normalized) package is aborted the same way.
    p.sync_killed_at("after_extract", &[]);
    let out = p
        .dango()
        .args(["pipeline", "shop", "abort-packages", "-y", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["aborted"][0]["state"], "extracted");
    assert_eq!(p.count("raw_shop.orders"), 6);
    // The next sync extracts again and loads.
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.orders"), 4);
}

/// A 40 MB tmpfs, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new() -> Option<Mount> {
        let dir = tempfile::Builder::new()
            .prefix("dango-enospc-")
            .tempdir()
            .unwrap()
            .keep();
        let ok = std::process::Command::new("mount")
            // 80 MB: the second sync below needs about 22 MB of disk beyond what the project
            // holds (package, jobs, DuckDB's writes and checkpoint; polled with `du`), close to
            // the 32 MB a 40 MB tmpfs left free; since one connection serves a whole `dango
            // sync` (the checkpoint at its close), the resumed load no longer fit.
            .args(["-t", "tmpfs", "-o", "size=80m", "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Mount(dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn fill(path: &Path, leave: u64) {
    let free = dango::ops::disk::free_space(path).unwrap();
    let f = std::fs::File::create(path.join("filler")).unwrap();
    f.set_len(0).unwrap();
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let chunk = vec![1u8; 1 << 16];
    let mut left = free.saturating_sub(leave);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = w.flush();
}

#[test]
fn out_of_disk_says_where_how_much_and_what_to_do() {
    let Some(mnt) = Mount::new() else {
        eprintln!(
            "skipped: out_of_disk_says_where_how_much_and_what_to_do: cannot mount a tmpfs (needs root)"
        );
        return;
    };
    let iso = Isolated::new();
    let root = mnt.0.join("proj");
    std::fs::create_dir_all(&root).unwrap();
    let dango = |args: &[&str]| {
        let mut c = iso.dango();
        c.current_dir(&root).args(args);
        c
    };
    dango(&["init"]).assert().success();
    std::fs::create_dir_all(root.join("input")).unwrap();
    std::fs::write(root.join("input/orders.jsonl"), orders_jsonl(2000, 1)).unwrap();
    std::fs::write(
        root.join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: local_files\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n",
    )
    .unwrap();
    dango(&["sync"]).assert().success();
    std::fs::write(root.join("input/orders.jsonl"), orders_jsonl(20_000, 5000)).unwrap();
    fill(&mnt.0, 256 * 1024);

    let out = dango(&["sync"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    assert!(all.contains("ran out of disk space"), "{all}");
    assert!(all.contains(&root.display().to_string()), "{all}");
    assert!(
        all.contains("free now") && all.contains("need roughly"),
        "{all}"
    );
    assert!(all.contains("abort-packages"), "{all}");
    assert!(!all.contains("This is a bug"), "{all}");
    std::fs::remove_file(mnt.0.join("filler")).unwrap();

    // Committed data was never touched; with space again, the next sync finishes the job.
    let q = |sql: &str| -> i64 {
        let conn = duckdb::Connection::open_with_flags(
            root.join("data/warehouse.duckdb"),
            duckdb::Config::default()
                .access_mode(duckdb::AccessMode::ReadOnly)
                .unwrap(),
        )
        .unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!(q("SELECT count(*) FROM raw_shop.orders"), 2000);
    dango(&["sync"]).assert().success();
    assert_eq!(q("SELECT count(*) FROM raw_shop.orders"), 20_000);
}

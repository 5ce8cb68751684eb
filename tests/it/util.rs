//! Test helpers: a temporary project and warehouse queries.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use duckdb::types::Value;

use crate::hermetic::Isolated;

/// A temporary dango project created with `dango init`, with its own temporary home.
pub struct TestProject {
    dir: tempfile::TempDir,
    iso: Isolated,
}

impl TestProject {
    /// A fresh project.
    pub fn new() -> TestProject {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = TestProject {
            dir,
            iso: Isolated::new(),
        };
        p.dango().arg("init").assert().success();
        p
    }

    /// Project root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file under the project (creating folders).
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Writes sources.yml with one local_files source.
    pub fn local_source(&self, name: &str, dir: &str, pattern: &str, extra: &str) {
        self.write(
            ".dango/sources.yml",
            &format!(
                "version: \"1.0\"\nsources:\n  - name: {name}\n    type: local_files\n    local_files:\n      directory: {dir}\n      file_pattern: \"{pattern}\"\n{extra}"
            ),
        );
    }

    /// The global dlt dir `dango` reads (`$DLT_DATA_DIR` = `$HOME/.dlt` of the test home).
    pub fn global_dir(&self) -> PathBuf {
        self.iso.global_dir()
    }

    /// `dango` running in the project dir, hermetic (`hermetic.rs`).
    pub fn dango(&self) -> Command {
        let mut c = self.iso.dango();
        c.current_dir(self.path());
        c
    }

    /// The same as [`TestProject::dango`], as a `std::process::Command` (to spawn and signal).
    pub fn dango_std(&self) -> std::process::Command {
        let mut c = self.iso.dango_std();
        c.current_dir(self.path());
        c
    }

    /// Runs `dango sync <extra>` that kills itself with SIGKILL at fault `point` (see
    /// `src/fault.rs`); asserts it really died of SIGKILL.
    pub fn sync_killed_at(&self, point: &str, extra: &[&str]) {
        self.sync_killed_at_with(point, extra, &[]);
    }

    /// [`TestProject::sync_killed_at`] with extra environment variables.
    pub fn sync_killed_at_with(&self, point: &str, extra: &[&str], envs: &[(&str, &str)]) {
        use std::os::unix::process::ExitStatusExt;
        let out = self
            .dango()
            .arg("sync")
            .args(extra)
            .envs(envs.iter().copied())
            .env("DANGO_FAULT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "expected SIGKILL at {point}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The warehouse file.
    pub fn warehouse(&self) -> PathBuf {
        self.path().join("data").join("warehouse.duckdb")
    }

    /// Runs a query against the warehouse; every cell rendered as text (NULL → None).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let cfg = duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .unwrap()
            .with("autoinstall_known_extensions", "false")
            .unwrap();
        let conn =
            duckdb::Connection::open_with_flags(self.warehouse(), cfg).expect("open warehouse");
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let n = row.as_ref().column_count();
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                let v: Value = row.get(i).unwrap();
                // The same rendering as `dango pipeline show`.
                cells.push(dango::destinations::duckdb::render(v));
            }
            out.push(cells);
        }
        out
    }

    /// A single scalar as text.
    pub fn scalar(&self, sql: &str) -> String {
        self.query(sql)[0][0].clone().unwrap_or_default()
    }

    /// Row count of a table.
    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap()
    }

    /// (column, type, nullable) of a table, in order.
    pub fn columns(&self, schema: &str, table: &str) -> Vec<(String, String, String)> {
        self.query(&format!(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap(),
                r[1].clone().unwrap(),
                r[2].clone().unwrap(),
            )
        })
        .collect()
    }

    /// Table names of a schema, sorted (dlt's tables: dango's own `_dango_*` tables, like the
    /// sync history, are left out).
    pub fn tables(&self, schema: &str) -> Vec<String> {
        self.query(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' AND NOT starts_with(table_name, '_dango_') ORDER BY table_name"
        ))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
    }
}

/// Nested orders as JSON lines: `n` orders, order i has (i % 3) + 1 items with tags.
pub fn orders_jsonl(n: usize, start: usize) -> String {
    let mut s = String::new();
    for i in start..start + n {
        let items: Vec<String> = (0..(i % 3) + 1)
            .map(|j| format!(r#"{{"sku":"S{i}-{j}","qty":{j},"tags":["a","b"]}}"#))
            .collect();
        s.push_str(&format!(
            r#"{{"orderId":{i},"createdAt":"2024-01-0{}T10:00:00Z","total":{}.5,"paid":{},"customer":{{"firstName":"N{i}","address":{{"zipCode":"0{i}"}}}},"lineItems":[{}]}}"#,
            (i % 9) + 1,
            i,
            i % 2 == 0,
            items.join(",")
        ));
        s.push('\n');
    }
    s
}

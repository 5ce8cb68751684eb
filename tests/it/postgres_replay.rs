//! Test helpers for the Postgres destination: a database of its own per test on the server of
//! `services::postgres_url`, and the replay of a dlt scenario (`tests/fixtures/dlt_merge/`
//! inputs, `tests/fixtures/dlt_postgres/expected/` results made by dlt 1.31 on Postgres)
//! through `dango sync` into Postgres, compared after every load by `replay_common.rs`: all
//! tables (dlt's own by columns only), columns (Postgres type names, nullability, order), rows
//! with load labels, scd2 validity labels and raw ids, staging row counts, and dlt's error for
//! failed loads.

#![allow(dead_code)]

use std::process::Command;

use dango::destinations::postgres::PgClient;
use serde_json::Value;

use crate::replay_common::{self, ReplayTarget};
use crate::util::TestProject;

/// A database created for one test, dropped when the guard goes.
pub struct PgDb {
    admin: PgClient,
    /// The database name.
    pub name: String,
    /// A URL of the database (the service's user and password).
    pub url: String,
}

/// Credentials of `url` through dango's own parser.
pub fn credentials(url: &str) -> dango::destinations::postgres::PgCredentials {
    let dir = tempfile::tempdir().unwrap();
    let env = dango::config::Env::from_vars([("DESTINATION__POSTGRES__CREDENTIALS", url)]);
    let settings = dango::config::Settings::with_env(dir.path(), env, None).unwrap();
    dango::destinations::postgres::config::credentials(
        &dango::destinations::config::DestinationSettings::new(&settings, "postgres"),
    )
    .unwrap()
}

/// `url` with another database.
pub fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

impl PgDb {
    /// A fresh database named after `test` on the server at `server_url`.
    pub fn create(server_url: &str, test: &str) -> PgDb {
        let admin = PgClient::connect(&credentials(server_url), false).unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("dango_it_{test}_{}_{nanos}", std::process::id());
        let name: String = name.chars().take(63).collect();
        admin
            .execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .unwrap();
        admin
            .execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        let url = with_database(server_url, &name);
        PgDb { admin, name, url }
    }

    /// A new connection to the database.
    pub fn client(&self) -> PgClient {
        PgClient::connect(&credentials(&self.url), false).unwrap()
    }

    /// Every row of `sql` with every value as text (`None` for NULL).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.client().text_rows(sql).unwrap().1
    }

    /// The first value of `sql` as text.
    pub fn scalar(&self, sql: &str) -> String {
        self.query(sql)[0][0].clone().unwrap_or_default()
    }

    /// Rows of a table.
    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap()
    }

    /// (name, type, nullable YES/NO) of a table's columns, in order.
    pub fn columns(&self, schema: &str, table: &str) -> Vec<(String, String, String)> {
        self.query(&format!(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relname = '{table}' AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
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

    /// Tables of a schema, sorted.
    pub fn tables(&self, schema: &str) -> Vec<String> {
        self.query(&format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind = 'r' ORDER BY 1"
        ))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
    }

    /// Whether a schema exists.
    pub fn has_schema(&self, schema: &str) -> bool {
        self.scalar(&format!(
            "SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'"
        )) != "0"
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

/// A project whose one source `name` loads `input/*.jsonl` into Postgres (`destination:
/// postgres` at the top of sources.yml), with `extra` lines in the `local_files` block.
pub fn pg_source(p: &TestProject, name: &str, extra: &str) {
    p.write(
        ".dango/sources.yml",
        &format!(
            "version: \"1.0\"\ndestination: postgres\nsources:\n  - name: {name}\n    type: local_files\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n{extra}"
        ),
    );
}

/// The Postgres database of a replay.
struct Postgres {
    db: PgDb,
}

/// A dlt scenario replayed into Postgres.
pub struct PgReplay;

impl PgReplay {
    /// Replays scenario `name` (inputs in `tests/fixtures/<inputs>/<name>/`) into a new
    /// database of `server_url`; checks each load against dlt's Postgres result.
    pub fn run(server_url: &str, inputs: &str, name: &str) {
        let fixtures = replay_common::fixtures();
        let target = Postgres {
            db: PgDb::create(server_url, name),
        };
        replay_common::Replay::run(
            target,
            name,
            &fixtures.join(inputs).join(name),
            &fixtures
                .join("dlt_postgres/expected")
                .join(format!("{name}.json")),
        );
    }
}

impl ReplayTarget for Postgres {
    fn write_source(&self, p: &TestProject, name: &str, extra: &str) {
        pg_source(p, name, extra);
    }

    fn prepare_sync(&self, cmd: &mut Command) {
        cmd.env("DESTINATION__POSTGRES__CREDENTIALS", &self.db.url);
    }

    fn query(&self, _p: &TestProject, sql: &str) -> Vec<Vec<Option<String>>> {
        self.db.query(sql)
    }

    fn checks_failure_details(&self) -> bool {
        false
    }

    fn compare_tables<'a>(
        &self,
        _p: &TestProject,
        ctx: &str,
        ds: &str,
        load: &'a Value,
    ) -> Vec<&'a Value> {
        let db = &self.db;
        let staging = format!("{ds}_staging");
        let want_schemata: Vec<&str> = load["schemata"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            db.has_schema(ds),
            want_schemata.contains(&ds),
            "{ctx}: does {ds} exist"
        );
        if !db.has_schema(ds) {
            return Vec::new();
        }
        assert_eq!(
            db.has_schema(&staging),
            want_schemata.contains(&staging.as_str()),
            "{ctx}: does {staging} exist"
        );
        for (t, n) in load["staging_row_counts"].as_object().into_iter().flatten() {
            let got = db.count(&format!("\"{staging}\".\"{t}\""));
            assert_eq!(Some(got), n.as_i64(), "{ctx}: rows of {staging}.{t}");
        }
        let want_tables: Vec<&Value> = load["tables"].as_array().unwrap().iter().collect();
        let mut want_names: Vec<String> = want_tables
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        want_names.sort();
        // dango's own sync history sits beside dlt's tables; dlt's layout is the rest.
        let got: Vec<String> = db
            .tables(ds)
            .into_iter()
            .filter(|t| t != "_dango_sync_history")
            .collect();
        assert_eq!(got, want_names, "{ctx}: tables");
        want_tables
    }

    fn columns(
        &self,
        _p: &TestProject,
        schema: &str,
        table: &str,
    ) -> Vec<(String, String, String)> {
        self.db.columns(schema, table)
    }

    /// Every timestamp column as microseconds (the fixture holds them so).
    fn rows_sql(
        &self,
        columns: &[(String, String, String)],
        _validity: &[String],
        schema: &str,
        table: &str,
    ) -> String {
        let pairs: Vec<String> = columns
            .iter()
            .map(|(c, ty, _)| {
                let v = if ty.starts_with("timestamp") {
                    format!("(extract(epoch from \"{c}\") * 1000000)::bigint")
                } else {
                    format!("\"{c}\"")
                };
                format!("'{c}', {v}")
            })
            .collect();
        let parts: Vec<String> = pairs
            .chunks(40)
            .map(|c| format!("jsonb_build_object({})", c.join(", ")))
            .collect();
        format!(
            "SELECT ({})::text FROM \"{schema}\".\"{table}\"",
            parts.join(" || "),
        )
    }
}

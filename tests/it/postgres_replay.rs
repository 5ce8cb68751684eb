//! Test helpers for the Postgres destination: a database of its own per test on the server of
//! `services::postgres_url`, and the replay of a dlt scenario (`tests/fixtures/dlt_merge/`
//! inputs, `tests/fixtures/dlt_postgres/expected/` results made by dlt 1.31 on Postgres)
//! through `dango sync` into Postgres, compared after every load as `merge_replay.rs` does for
//! DuckDB: data tables, columns (Postgres type names, nullability, order), rows with load
//! labels, scd2 validity labels and raw ids, staging row counts, and dlt's error for failed
//! loads.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dango::destinations::postgres::PgClient;
use serde_json::{Map, Value};

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

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Renders hints as YAML flow lines of a `local_files` block (JSON is valid YAML).
fn yaml_hints(hints: &Value) -> String {
    let mut out = String::new();
    for key in [
        "write_disposition",
        "primary_key",
        "merge_key",
        "columns",
        "schema_contract",
    ] {
        if let Some(v) = hints.get(key) {
            out.push_str(&format!("      {key}: {v}\n"));
        }
    }
    out
}

/// Numbers compare as f64.
fn canon(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(canon).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), canon(v))).collect()),
        v => v.clone(),
    }
}

const ID_COLUMNS: [&str; 3] = ["_dlt_id", "_dlt_parent_id", "_dlt_root_id"];

fn row_key(row: &Map<String, Value>, raw: Option<&Map<String, Value>>) -> String {
    let mut m: BTreeMap<String, Value> = row
        .iter()
        .filter(|(k, _)| !ID_COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), canon(v)))
        .collect();
    if let Some(raw) = raw {
        for (k, v) in raw {
            m.insert(format!("raw:{k}"), v.clone());
        }
    }
    serde_json::to_string(&m).unwrap()
}

fn validity_columns(schema_table: Option<&Value>) -> Vec<String> {
    let Some(cols) = schema_table.and_then(|t| t["columns"].as_object()) else {
        return Vec::new();
    };
    cols.values()
        .filter(|c| c.get("x-valid-from").is_some() || c.get("x-valid-to").is_some())
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn load_micros(load_id: &str) -> i64 {
    (load_id.parse::<f64>().unwrap() * 1e6).round() as i64
}

/// A dlt scenario replayed into Postgres.
pub struct PgReplay {
    name: String,
    p: TestProject,
    db: PgDb,
    dataset: String,
    labels: HashMap<String, usize>,
}

impl PgReplay {
    /// Replays scenario `name` (inputs in `tests/fixtures/<inputs>/<name>/`) into a new
    /// database of `server_url`; checks each load against dlt's Postgres result.
    pub fn run(server_url: &str, inputs: &str, name: &str) {
        let dir = fixtures().join(inputs).join(name);
        let resource: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("resource.json")).unwrap())
                .unwrap();
        let expected_path = fixtures()
            .join("dlt_postgres/expected")
            .join(format!("{name}.json"));
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        let mut r = PgReplay {
            name: name.to_string(),
            p: TestProject::new(),
            db: PgDb::create(server_url, name),
            dataset: expected["dataset"].as_str().unwrap().to_string(),
            labels: HashMap::new(),
        };
        for (i, load) in expected["loads"].as_array().unwrap().iter().enumerate() {
            let spec = &resource["loads"][i];
            let hints = spec.get("hints").unwrap_or(&resource["hints"]);
            r.sync(i + 1, &dir, spec, hints, &resource["env"], load);
            r.compare(i + 1, load);
        }
    }

    fn sync(
        &mut self,
        k: usize,
        dir: &Path,
        spec: &Value,
        hints: &Value,
        env: &Value,
        load: &Value,
    ) {
        let p = &self.p;
        let file = spec["file"].as_str().unwrap();
        let table = spec["table"].as_str().unwrap();
        let _ = std::fs::remove_dir_all(p.path().join("input"));
        p.write(
            "input/data.jsonl",
            &std::fs::read_to_string(dir.join(file)).unwrap(),
        );
        pg_source(
            p,
            &self.name,
            &format!("      table_name: {table}\n{}", yaml_hints(hints)),
        );
        let mut cmd = p.dango();
        cmd.arg("sync")
            .env("DESTINATION__POSTGRES__CREDENTIALS", &self.db.url);
        for (k, v) in env.as_object().into_iter().flatten() {
            cmd.env(k, v.as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let ctx = format!("{} load {k}", self.name);
        if load["status"] == "ok" {
            assert!(out.status.success(), "{ctx}: sync failed:\n{stderr}");
            let sql = format!(
                "SELECT load_id FROM \"{}\".\"_dlt_loads\" ORDER BY load_id",
                self.dataset
            );
            for row in self.db.query(&sql) {
                let id = row[0].clone().unwrap();
                self.labels.entry(id).or_insert(k);
            }
        } else {
            assert!(!out.status.success(), "{ctx}: dlt failed, dango did not");
            let messages = load["error"]["messages"].as_array().unwrap();
            let inner = messages.last().unwrap().as_str().unwrap();
            let stable = inner.split("<random id>").next().unwrap();
            let stable = stable.trim_end_matches("_dlt_id: ");
            assert!(
                stderr.contains(stable),
                "{ctx}: error should contain\n  {stable}\ngot:\n{stderr}"
            );
            // dlt: abort_packages(). The package is pending in dango too; discard it.
            let pipe = p.path().join(".dlt/pipelines").join(&self.name);
            for sub in ["normalize/extracted", "load/normalized"] {
                for e in std::fs::read_dir(pipe.join(sub)).into_iter().flatten() {
                    std::fs::remove_dir_all(e.unwrap().path()).unwrap();
                }
            }
        }
    }

    fn compare(&self, k: usize, load: &Value) {
        let db = &self.db;
        let ctx = format!("{} load {k}", self.name);
        let ds = &self.dataset;
        let staging = format!("{ds}_staging");
        let want_schemata: Vec<&str> = load["schemata"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            db.has_schema(ds),
            want_schemata.contains(&ds.as_str()),
            "{ctx}: does {ds} exist"
        );
        if !db.has_schema(ds) {
            return;
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
        assert_eq!(db.tables(ds), want_names, "{ctx}: tables");
        for t in want_tables {
            self.compare_table(&ctx, t, &load["schema_tables"]);
        }
    }

    fn compare_table(&self, ctx: &str, t: &Value, schema_tables: &Value) {
        let db = &self.db;
        let tname = t["name"].as_str().unwrap();
        let want_cols: Vec<(String, String, String)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let nullable = if c["nullable"].as_bool().unwrap() {
                    "YES"
                } else {
                    "NO"
                };
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                    nullable.to_string(),
                )
            })
            .collect();
        let got_cols = db.columns(&self.dataset, tname);
        assert_eq!(got_cols, want_cols, "{ctx}: columns of {tname}");
        let Some(want_rows) = t["rows"].as_array() else {
            return; // dlt's own tables: columns only
        };
        let validity = validity_columns(schema_tables.get(tname));
        let raw_ids = t["raw_ids"].as_array();
        let mut want: Vec<String> = want_rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let raw = raw_ids.map(|ids| ids[i].as_object().unwrap());
                row_key(r.as_object().unwrap(), raw)
            })
            .collect();
        want.sort();

        let pairs: Vec<String> = got_cols
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
        let sql = format!(
            "SELECT ({})::text FROM \"{}\".\"{tname}\"",
            parts.join(" || "),
            self.dataset
        );
        let by_micros: HashMap<i64, usize> = self
            .labels
            .iter()
            .map(|(id, k)| (load_micros(id), *k))
            .collect();
        let mut got: Vec<String> = db
            .query(&sql)
            .into_iter()
            .map(|r| {
                let mut row: Map<String, Value> =
                    serde_json::from_str(r[0].as_deref().unwrap()).unwrap();
                if let Some(Value::String(id)) = row.get("_dlt_load_id") {
                    let label = match self.labels.get(id) {
                        Some(k) => format!("<load {k}>"),
                        None => format!("unknown load id {id}"),
                    };
                    row.insert("_dlt_load_id".into(), Value::String(label));
                }
                for c in &validity {
                    if let Some(us) = row.get(c).and_then(|v| v.as_i64()) {
                        let label = match by_micros.get(&us) {
                            Some(k) => format!("<load {k}>"),
                            None => format!("{us} is no package's creation time"),
                        };
                        row.insert(c.clone(), Value::String(label));
                    }
                }
                let raw: Option<Map<String, Value>> = raw_ids.map(|_| {
                    ID_COLUMNS
                        .iter()
                        .filter_map(|c| row.get(*c).map(|v| (c.to_string(), v.clone())))
                        .collect()
                });
                row_key(&row, raw.as_ref())
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "{ctx}: rows of {tname}");
    }
}

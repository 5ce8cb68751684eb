//! The replay of a dlt scenario through `dango sync`, shared by the DuckDB replay
//! (`merge_replay.rs`) and the Postgres one (`postgres_replay.rs`): each load of the scenario
//! is a sync of a `local_files` source with the load's hints (and the scenario's environment);
//! after each load the warehouse is compared with dlt 1.31's result:
//!
//! - a failed dlt load must fail in dango too, with dlt's innermost message; the pending
//!   package is then discarded (dlt: `abort_packages()`);
//! - the data tables (and whether `<dataset>_staging` exists) match dlt's, as the
//!   [`ReplayTarget`] compares them;
//! - each table's columns match by name, type and nullability, in dlt's order;
//! - each table's rows match as a multiset of: the non-`_dlt_` values, `_dlt_list_idx`, the
//!   label (`<load K>`) of the load that wrote `_dlt_load_id`, the scd2 validity columns as the
//!   label of the package whose creation time they hold (or NULL), and, where dlt's ids are
//!   deterministic (`raw_ids`), the verbatim `_dlt_id` / `_dlt_parent_id` / `_dlt_root_id`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use crate::util::TestProject;

/// Where a replay loads, and how its warehouse is read.
pub trait ReplayTarget {
    /// Writes the project's `sources.yml`: one `local_files` source `name` reading
    /// `input/*.jsonl`, with `extra` lines in its block.
    fn write_source(&self, p: &TestProject, name: &str, extra: &str);
    /// Adds what `dango sync` needs to reach the target (credentials).
    fn prepare_sync(&self, _cmd: &mut Command) {}
    /// Every row of `sql` with every value as text (`None` for NULL).
    fn query(&self, p: &TestProject, sql: &str) -> Vec<Vec<Option<String>>>;
    /// Whether a failed load is checked beyond dlt's message: the step, the hint on how to
    /// proceed and the number of pending packages.
    fn checks_failure_details(&self) -> bool;
    /// Compares the datasets and the table list after load `load` (`ctx` names it); returns
    /// the tables of dlt's result to compare one by one (none when the dataset is absent).
    fn compare_tables<'a>(
        &self,
        p: &TestProject,
        ctx: &str,
        dataset: &str,
        load: &'a Value,
    ) -> Vec<&'a Value>;
    /// (name, type, nullable YES/NO) of a table's columns, in order.
    fn columns(&self, p: &TestProject, schema: &str, table: &str) -> Vec<(String, String, String)>;
    /// SQL giving each row of `schema.table` as one JSON object (text), the scd2 `validity`
    /// columns (at least) as microseconds since the epoch.
    fn rows_sql(
        &self,
        columns: &[(String, String, String)],
        validity: &[String],
        schema: &str,
        table: &str,
    ) -> String;
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

/// Numbers compare as f64 (the warehouse and Python print them differently).
fn canon(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(canon).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), canon(v))).collect()),
        v => v.clone(),
    }
}

const ID_COLUMNS: [&str; 3] = ["_dlt_id", "_dlt_parent_id", "_dlt_root_id"];

/// The comparable content of a row: everything but the (random) id columns, plus the raw ids
/// when the fixture has them.
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

/// Names of the scd2 validity columns of a stored dlt table.
fn validity_columns(schema_table: Option<&Value>) -> Vec<String> {
    let Some(cols) = schema_table.and_then(|t| t["columns"].as_object()) else {
        return Vec::new();
    };
    cols.values()
        .filter(|c| c.get("x-valid-from").is_some() || c.get("x-valid-to").is_some())
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Microseconds since the epoch of a load id (`<unix seconds>.<fraction>`).
fn load_micros(load_id: &str) -> i64 {
    (load_id.parse::<f64>().unwrap() * 1e6).round() as i64
}

/// A scenario being replayed into `T`.
pub struct Replay<T: ReplayTarget> {
    name: String,
    p: TestProject,
    target: T,
    dataset: String,
    /// Load id → its load number in the scenario.
    labels: HashMap<String, usize>,
}

impl<T: ReplayTarget> Replay<T> {
    /// Replays every load of the scenario in `inputs` (its `resource.json` and input files)
    /// into `target` and checks each against dlt's result in `expected` (a JSON file).
    pub fn run(target: T, name: &str, inputs: &Path, expected: &Path) {
        let resource: Value =
            serde_json::from_str(&std::fs::read_to_string(inputs.join("resource.json")).unwrap())
                .unwrap();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
        let mut r = Replay {
            name: name.to_string(),
            p: TestProject::new(),
            target,
            dataset: expected["dataset"].as_str().unwrap().to_string(),
            labels: HashMap::new(),
        };
        for (i, load) in expected["loads"].as_array().unwrap().iter().enumerate() {
            let spec = &resource["loads"][i];
            let hints = spec.get("hints").unwrap_or(&resource["hints"]);
            r.sync(i + 1, inputs, spec, hints, &resource["env"], load);
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
        self.target.write_source(
            p,
            &self.name,
            &format!("      table_name: {table}\n{}", yaml_hints(hints)),
        );
        let mut cmd = p.dango_std();
        cmd.arg("sync");
        self.target.prepare_sync(&mut cmd);
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
            for row in self.target.query(p, &sql) {
                let id = row[0].clone().unwrap();
                self.labels.entry(id).or_insert(k);
            }
        } else {
            assert!(!out.status.success(), "{ctx}: dlt failed, dango did not");
            self.check_failure(&ctx, &stderr, load);
        }
    }

    /// A failed load: dlt's message (and more, see [`ReplayTarget::checks_failure_details`]),
    /// then the pending package is discarded (dlt: `abort_packages()`).
    fn check_failure(&self, ctx: &str, stderr: &str, load: &Value) {
        let messages = load["error"]["messages"].as_array().unwrap();
        let inner = messages.last().unwrap().as_str().unwrap();
        // Random parts are normalized in the fixture; compare up to the first of them.
        let stable = inner.split("<random id>").next().unwrap();
        let stable = stable.trim_end_matches("_dlt_id: ");
        assert!(
            stderr.contains(stable),
            "{ctx}: error should contain\n  {stable}\ngot:\n{stderr}"
        );
        let details = self.target.checks_failure_details();
        if details {
            let step = load["error"]["step"].as_str().unwrap();
            assert!(
                stderr.contains(&format!("failed at step {step}")),
                "{ctx}: dlt failed at {step}:\n{stderr}"
            );
            assert!(
                stderr.contains("schema_contract")
                    && (step == "extract" || stderr.contains("--full-refresh")),
                "{ctx}: the error should say how to proceed:\n{stderr}"
            );
        }
        let pipe = self.p.path().join(".dlt/pipelines").join(&self.name);
        let pending: Vec<_> = ["normalize/extracted", "load/normalized"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(pipe.join(sub)).into_iter().flatten())
            .flatten()
            .collect();
        if details {
            let want = &load["pending_before_drop"];
            let want_pending =
                want["extracted"].as_u64().unwrap_or(0) + want["normalized"].as_u64().unwrap_or(0);
            assert_eq!(
                pending.len() as u64,
                want_pending,
                "{ctx}: pending packages after the failure"
            );
        }
        for e in pending {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }

    fn compare(&self, k: usize, load: &Value) {
        let ctx = format!("{} load {k}", self.name);
        let tables = self
            .target
            .compare_tables(&self.p, &ctx, &self.dataset, load);
        for t in tables {
            self.compare_table(&ctx, t, &load["schema_tables"]);
        }
    }

    fn compare_table(&self, ctx: &str, t: &Value, schema_tables: &Value) {
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
        let got_cols = self.target.columns(&self.p, &self.dataset, tname);
        assert_eq!(got_cols, want_cols, "{ctx}: columns of {tname}");
        let want_rows = match t["rows"].as_array() {
            Some(rows) => rows,
            None if tname.starts_with("_dlt") => return, // dlt's own tables: columns only
            None => panic!("{ctx}: the fixture has no rows of {tname}"),
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

        let sql = self
            .target
            .rows_sql(&got_cols, &validity, &self.dataset, tname);
        let mut got: Vec<String> = self
            .target
            .query(&self.p, &sql)
            .into_iter()
            .map(|r| {
                let row: Map<String, Value> =
                    serde_json::from_str(r[0].as_deref().unwrap()).unwrap();
                self.labelled_key(row, &validity, raw_ids.is_some())
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "{ctx}: rows of {tname}");
    }

    /// The [`row_key`] of a warehouse row, its load id and validity columns as load labels.
    fn labelled_key(&self, mut row: Map<String, Value>, validity: &[String], raw: bool) -> String {
        let by_micros: HashMap<i64, usize> = self
            .labels
            .iter()
            .map(|(id, k)| (load_micros(id), *k))
            .collect();
        if let Some(Value::String(id)) = row.get("_dlt_load_id") {
            let label = match self.labels.get(id) {
                Some(k) => format!("<load {k}>"),
                None => format!("unknown load id {id}"),
            };
            row.insert("_dlt_load_id".into(), Value::String(label));
        }
        for c in validity {
            if let Some(us) = row.get(c).and_then(|v| v.as_i64()) {
                let label = match by_micros.get(&us) {
                    Some(k) => format!("<load {k}>"),
                    None => format!("{us} is no package's creation time"),
                };
                row.insert(c.clone(), Value::String(label));
            }
        }
        let raw: Option<Map<String, Value>> = raw.then(|| {
            ID_COLUMNS
                .iter()
                .filter_map(|c| row.get(*c).map(|v| (c.to_string(), v.clone())))
                .collect()
        });
        row_key(&row, raw.as_ref())
    }
}

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

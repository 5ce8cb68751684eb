//! Replays a scenario of `tests/fixtures/dlt_merge/` through `dango sync` into DuckDB and
//! compares the warehouse with dlt 1.31's after every load (the replay and what it compares:
//! `replay_common.rs`).
//!
//! On DuckDB a failed load is also checked for the step it failed at, the hint on how to
//! proceed and the pending packages it leaves; the dataset's data tables (not dlt's own)
//! are compared, and the scd2 validity columns are read as microseconds.

use serde_json::Value;

use crate::replay_common::{self, ReplayTarget};
use crate::util::TestProject;

/// The project's DuckDB warehouse.
struct DuckDb;

/// A scenario of `tests/fixtures/dlt_merge/`, replayed into DuckDB.
pub struct Replay;

impl Replay {
    /// Replays every load of scenario `name` and checks each against dlt's result.
    pub fn run(name: &str) {
        let fixtures = replay_common::fixtures().join("dlt_merge");
        replay_common::Replay::run(
            DuckDb,
            name,
            &fixtures.join(name),
            &fixtures.join("expected").join(format!("{name}.json")),
        );
    }
}

impl ReplayTarget for DuckDb {
    fn write_source(&self, p: &TestProject, name: &str, extra: &str) {
        p.local_source(name, "input", "*.jsonl", extra);
    }

    fn query(&self, p: &TestProject, sql: &str) -> Vec<Vec<Option<String>>> {
        p.query(sql)
    }

    fn checks_failure_details(&self) -> bool {
        true
    }

    fn compare_tables<'a>(
        &self,
        p: &TestProject,
        ctx: &str,
        ds: &str,
        load: &'a Value,
    ) -> Vec<&'a Value> {
        let staging = format!("{ds}_staging");
        if !p.warehouse().exists() {
            let schemata = load["schemata"].as_array().map(|a| a.len()).unwrap_or(0);
            assert_eq!(
                schemata, 0,
                "{ctx}: dlt created a dataset, dango no warehouse"
            );
            return Vec::new();
        }
        let want_schemata: Vec<&str> = load["schemata"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        let has_staging = !p.tables(&staging).is_empty()
            || p.scalar(&format!(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{staging}'"
            )) != "0";
        assert_eq!(
            has_staging,
            want_schemata.contains(&staging.as_str()),
            "{ctx}: does {staging} exist"
        );
        for (t, n) in load["staging_row_counts"].as_object().into_iter().flatten() {
            let got = p.count(&format!("\"{staging}\".\"{t}\""));
            assert_eq!(Some(got), n.as_i64(), "{ctx}: rows of {staging}.{t}");
        }
        let want_tables: Vec<&Value> = load["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["name"].as_str().unwrap().starts_with("_dlt"))
            .collect();
        let mut want_names: Vec<String> = want_tables
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        want_names.sort();
        let got_names: Vec<String> = p
            .tables(ds)
            .into_iter()
            .filter(|t| !t.starts_with("_dlt"))
            .collect();
        assert_eq!(got_names, want_names, "{ctx}: data tables");
        want_tables
    }

    fn columns(&self, p: &TestProject, schema: &str, table: &str) -> Vec<(String, String, String)> {
        p.columns(schema, table)
    }

    fn rows_sql(
        &self,
        columns: &[(String, String, String)],
        validity: &[String],
        schema: &str,
        table: &str,
    ) -> String {
        let select: Vec<String> = columns
            .iter()
            .map(|(c, _, _)| {
                if validity.contains(c) {
                    format!("\"{c}\" := epoch_us(\"{c}\")")
                } else {
                    format!("\"{c}\" := \"{c}\"")
                }
            })
            .collect();
        format!(
            "SELECT CAST(to_json(struct_pack({})) AS VARCHAR) FROM \"{schema}\".\"{table}\"",
            select.join(", "),
        )
    }
}

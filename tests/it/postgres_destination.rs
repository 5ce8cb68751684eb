//! Destination selection (`destination:` in sources.yml, `[destination.<type>]` settings) and
//! the Postgres destination against the real server (`services::postgres_url`).

use crate::util::{TestProject, orders_jsonl};

fn sources(destination_top: &str, destination_entry: &str) -> String {
    format!(
        "version: \"1.0\"\n{destination_top}sources:\n  - name: shop\n    type: local_files\n{destination_entry}    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n      table_name: orders\n"
    )
}

#[test]
fn unknown_destination_is_refused_by_validate_with_its_position() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    p.write(
        ".dango/sources.yml",
        &sources("", "    destination: oracle\n"),
    );
    let out = p.dango().arg("validate").output().unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("sources.yml:5:18: unknown destination `oracle` for source `shop`; dango supports: duckdb, postgres"),
        "{err}"
    );
}

#[test]
fn postgres_without_credentials_names_the_keys() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    p.write(
        ".dango/sources.yml",
        &sources("destination: postgres\n", ""),
    );
    let out = p.dango().arg("sync").output().unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the postgres destination has no credentials")
            && err.contains("[destination.postgres]")
            && err.contains("DESTINATION__POSTGRES__CREDENTIALS"),
        "{err}"
    );
    // nothing was loaded anywhere
    assert!(!p.warehouse().exists());
}

#[test]
fn malformed_credentials_never_show_the_password() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    p.write(
        ".dango/sources.yml",
        &sources("destination: postgres\n", ""),
    );
    let out = p
        .dango()
        .arg("sync")
        .env(
            "DESTINATION__POSTGRES__CREDENTIALS",
            "postgresql://loader:Hunter2-Sekrit@127.0.0.1:1/dwh?sslmode=sometimes",
        )
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("sslmode must be one of"), "{err}");
    assert!(err.contains("DESTINATION__POSTGRES__CREDENTIALS"), "{err}");
    assert!(!err.contains("Hunter2-Sekrit"), "{err}");
}

#[test]
fn the_entry_destination_wins_over_the_file() {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    // the file says postgres (with no credentials); the entry says duckdb and loads there
    p.write(
        ".dango/sources.yml",
        &sources("destination: postgres\n", "    destination: duckdb\n"),
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_shop.orders"), 3);
    let info = p
        .dango()
        .args(["pipeline", "shop", "info"])
        .output()
        .unwrap();
    assert!(info.status.success());
}

// --- Against the real server -------------------------------------------------------------

use crate::postgres_replay::{PgDb, PgReplay, pg_source, with_database};
use crate::services;

/// The server URL, or `None` (skip) outside CI without a server.
fn server(test: &str) -> Option<String> {
    services::postgres_url(&format!("postgres_destination::{test}"))
}

/// Replays dlt scenarios (inputs from `tests/fixtures/<inputs>/`) into Postgres and compares
/// each load with dlt 1.31's Postgres result (`tests/fixtures/dlt_postgres/expected/`).
macro_rules! replay {
    ($($test:ident: $inputs:literal $name:literal;)*) => {$(
        #[test]
        fn $test() {
            let Some(url) = server(stringify!($test)) else { return };
            PgReplay::run(&url, $inputs, $name);
        }
    )*};
}

replay! {
    dlt_types_and_nested_tables: "dlt_postgres" "compat_types";
    dlt_every_type_with_hints: "dlt_postgres" "hinted_types";
    dlt_long_identifiers_are_shortened: "dlt_postgres" "long_names";
    dlt_replace_truncate_and_insert: "dlt_merge" "replace_truncate";
    dlt_replace_insert_from_staging: "dlt_merge" "replace_staging";
    dlt_merge_delete_insert_nested: "dlt_merge" "delete_insert_nested";
    dlt_merge_delete_insert_dups: "dlt_merge" "delete_insert_dups";
    dlt_merge_delete_insert_dups_sort_asc: "dlt_merge" "delete_insert_dups_sort_asc";
    dlt_merge_delete_insert_dups_sort_desc: "dlt_merge" "delete_insert_dups_sort_desc";
    dlt_merge_delete_insert_merge_key: "dlt_merge" "delete_insert_merge_key";
    dlt_merge_delete_insert_pk_merge_key: "dlt_merge" "delete_insert_pk_merge_key";
    dlt_merge_hard_delete_bool: "dlt_merge" "hard_delete_bool";
    dlt_merge_hard_delete_timestamp: "dlt_merge" "hard_delete_timestamp";
    dlt_merge_upsert: "dlt_merge" "upsert";
    dlt_merge_insert_only: "dlt_merge" "insert_only";
    dlt_merge_scd2: "dlt_merge" "scd2";
    dlt_merge_scd2_merge_key: "dlt_merge" "scd2_merge_key";
    dlt_merge_scd2_validity_names: "dlt_merge" "scd2_validity_names";
    dlt_merge_without_keys_appends: "dlt_merge" "no_key_merge";
    dlt_contract_columns_freeze: "dlt_merge" "contract_columns_freeze";
    dlt_contract_tables_discard_row: "dlt_merge" "contract_tables_discard_row";
}

/// A project loading `input/*.jsonl` into the database of `db` as source `name`.
fn pg_project(db: &PgDb, name: &str, extra: &str) -> TestProject {
    let p = TestProject::new();
    pg_source(&p, name, extra);
    // credentials as a table of parts in secrets.toml (the URL form is tested by the replays)
    let u = url::Url::parse(&db.url).unwrap();
    p.write(
        ".dlt/secrets.toml",
        &format!(
            "[destination.postgres.credentials]\ndatabase = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nhost = \"{}\"\nport = {}\n",
            db.name,
            u.username(),
            u.password().unwrap_or_default(),
            u.host_str().unwrap(),
            u.port().unwrap_or(5432)
        ),
    );
    p
}

/// The UNIQUE constraints of a schema as `table.constraint(columns)`, sorted.
fn unique_constraints(db: &PgDb, schema: &str) -> Vec<String> {
    ids(
        db,
        &format!(
            "SELECT c.relname || '.' || k.conname || pg_get_constraintdef(k.oid) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND k.contype = 'u' ORDER BY 1"
        ),
    )
}

/// Schemas whose name ends in `_dango_load` (the loading schemas of new tables).
fn loading_schemas(db: &PgDb) -> Vec<String> {
    ids(
        db,
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE '%\\_dango\\_load' ORDER BY 1",
    )
}

fn ids(db: &PgDb, sql: &str) -> Vec<String> {
    db.query(sql)
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

#[test]
fn append_replace_and_every_pipeline_verb() {
    let Some(url) = server("append_replace_and_every_pipeline_verb") else {
        return;
    };
    let db = PgDb::create(&url, "verbs");
    let p = pg_project(
        &db,
        "shop",
        "      table_name: orders\n      write_disposition: append\n",
    );
    p.write("input/orders.jsonl", &orders_jsonl(10, 1));
    p.dango().arg("sync").assert().success();
    // The new tables were filled on worker connections and moved in by the load transaction,
    // their UNIQUE constraints added after the rows: the catalog is what dlt's inline
    // `_dlt_id … UNIQUE` gives, and no loading schema is left.
    let want_unique = vec![
        "_dlt_pipeline_state._dlt_pipeline_state__dlt_id_keyUNIQUE (_dlt_id)".to_string(),
        "orders.orders__dlt_id_keyUNIQUE (_dlt_id)".to_string(),
        "orders__line_items.orders__line_items__dlt_id_keyUNIQUE (_dlt_id)".to_string(),
        "orders__line_items__tags.orders__line_items__tags__dlt_id_keyUNIQUE (_dlt_id)".to_string(),
    ];
    assert_eq!(unique_constraints(&db, "raw_shop"), want_unique);
    assert_eq!(loading_schemas(&db), Vec::<String>::new());
    p.dango().arg("sync").assert().success();
    assert_eq!(unique_constraints(&db, "raw_shop"), want_unique);
    // append: the same file twice
    assert_eq!(db.count("raw_shop.orders"), 20);
    assert_eq!(db.count("raw_shop._dlt_loads"), 2);
    // dlt's types
    let cols = db.columns("raw_shop", "orders");
    let ty = |c: &str| cols.iter().find(|(n, _, _)| n == c).unwrap().1.clone();
    assert_eq!(ty("order_id"), "bigint");
    assert_eq!(ty("created_at"), "timestamp with time zone");
    assert_eq!(ty("total"), "double precision");
    assert_eq!(ty("paid"), "boolean");
    assert_eq!(ty("customer__address__zip_code"), "character varying");
    assert_eq!(
        db.scalar("SELECT created_at FROM raw_shop.orders WHERE order_id = 3 LIMIT 1"),
        "2024-01-04 10:00:00+00"
    );
    // nested rows point to their parents
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM raw_shop.orders__line_items i LEFT JOIN raw_shop.orders o ON o._dlt_id = i._dlt_parent_id WHERE o._dlt_id IS NULL"
        ),
        "0"
    );
    // replace: one copy left
    pg_source(
        &p,
        "shop",
        "      table_name: orders\n      write_disposition: replace\n",
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(db.count("raw_shop.orders"), 10);
    assert_eq!(
        db.count("raw_shop.orders__line_items"),
        (1..=10).map(|i| (i % 3) + 1).sum::<i64>()
    );
    for verb in [
        "info",
        "show",
        "trace",
        "load-package",
        "failed-jobs",
        "sync-state",
    ] {
        let out = p.dango().args(["pipeline", "shop", verb]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{verb}: {text}");
        assert!(!text.contains(&db.url), "{verb} shows the password: {text}");
    }
    let out = p
        .dango()
        .args(["pipeline", "shop", "info", "--json"])
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["destination"], "postgres");
    assert_eq!(
        info["state"]["destination_type"],
        "dlt.destinations.postgres"
    );
    let out = p
        .dango()
        .args(["pipeline", "shop", "show"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("raw_shop.orders: 10 row(s)"));
    // drop removes the tables in Postgres
    p.dango()
        .args(["pipeline", "shop", "drop", "orders", "-y"])
        .assert()
        .success();
    assert!(!db.tables("raw_shop").contains(&"orders".to_string()));
    p.dango().arg("sync").assert().success();
    assert_eq!(db.count("raw_shop.orders"), 10);
}

#[test]
fn state_is_restored_from_postgres() {
    let Some(url) = server("state_is_restored_from_postgres") else {
        return;
    };
    let db = PgDb::create(&url, "restore");
    let p = pg_project(
        &db,
        "files",
        "      table_name: ev\n      write_disposition: append\n      incremental:\n        cursor_path: ts\n",
    );
    let line = |id: i64, t: &str| format!("{{\"id\": {id}, \"ts\": \"{t}\"}}\n");
    p.write(
        "input/a.jsonl",
        &(line(1, "2024-01-01T00:00:00Z") + &line(2, "2024-01-02T00:00:00Z")),
    );
    p.dango().arg("sync").assert().success();
    // the working dir is lost: the cursor comes back from _dlt_pipeline_state
    std::fs::remove_dir_all(p.path().join(".dlt/pipelines/files")).unwrap();
    p.write(
        "input/a.jsonl",
        &(line(1, "2024-01-01T00:00:00Z")
            + &line(2, "2024-01-02T00:00:00Z")
            + &line(3, "2024-01-03T00:00:00Z")),
    );
    p.dango().arg("sync").assert().success();
    assert_eq!(
        ids(&db, "SELECT id FROM raw_files.ev ORDER BY id"),
        vec!["1", "2", "3"]
    );
    // `pipeline sync` restores state and schema on demand
    std::fs::remove_dir_all(p.path().join(".dlt/pipelines/files/schemas")).unwrap();
    std::fs::remove_file(p.path().join(".dlt/pipelines/files/state.json")).unwrap();
    p.dango()
        .args(["pipeline", "files", "sync"])
        .assert()
        .success();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dlt/pipelines/files/state.json")).unwrap(),
    )
    .unwrap();
    let cursor = &state["sources"]["files"]["resources"]["ev"]["incremental"]["ts"];
    assert!(
        cursor["last_value"]
            .as_str()
            .is_some_and(|v| v.contains("2024-01-03")),
        "{state}"
    );
    assert_eq!(state["destination_type"], "dlt.destinations.postgres");
}

/// (fault point, copies of the data after the crash and one clean run), as `crash.rs`.
const CRASHES: &[(&str, i64)] = &[
    ("after_normalize", 2),
    ("load_before_commit", 2),
    ("load_after_commit", 2),
];

#[test]
fn sigkill_during_a_load_then_sync_loses_and_duplicates_nothing() {
    let Some(url) = server("sigkill_during_a_load_then_sync_loses_and_duplicates_nothing") else {
        return;
    };
    for (point, copies) in CRASHES {
        let db = PgDb::create(&url, &format!("crash_{point}"));
        let p = pg_project(
            &db,
            "shop",
            "      table_name: orders\n      write_disposition: append\n",
        );
        p.write("input/orders.jsonl", &orders_jsonl(20, 1));
        p.sync_killed_at(point, &[]);
        p.dango().arg("sync").assert().success();
        assert_eq!(
            db.count("raw_shop.orders"),
            20 * copies,
            "after a crash at {point}"
        );
        assert_eq!(
            db.count("raw_shop.orders__line_items"),
            (1..=20).map(|i| (i % 3) + 1).sum::<i64>() * copies,
            "{point}"
        );
        assert_eq!(
            db.scalar(
                "SELECT count(*) FROM raw_shop.orders WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_shop._dlt_loads)"
            ),
            "0",
            "{point}: rows of no completed load"
        );
        assert_eq!(
            db.scalar("SELECT count(*) - count(DISTINCT load_id) FROM raw_shop._dlt_loads"),
            "0",
            "{point}"
        );
        assert_eq!(db.count("raw_shop._dlt_loads"), *copies, "{point}");
        // a crash before the commit may leave the loading schema; the next load drops it
        assert_eq!(loading_schemas(&db), Vec::<String>::new(), "{point}");
        assert_eq!(
            unique_constraints(&db, "raw_shop").len(),
            4,
            "{point}: {:?}",
            unique_constraints(&db, "raw_shop")
        );
    }
}

#[test]
fn tls_modes_and_wrong_password() {
    let Some(url) = server("tls_modes_and_wrong_password") else {
        return;
    };
    let Some(ca) = services::tls_ca("postgres_destination::tls_modes_and_wrong_password") else {
        return;
    };
    let db = PgDb::create(&url, "tls");
    let p = TestProject::new();
    pg_source(&p, "shop", "      table_name: orders\n");
    p.write("input/orders.jsonl", &orders_jsonl(3, 1));
    let sync = |creds: &str| {
        let out = p
            .dango()
            .arg("sync")
            .env("DESTINATION__POSTGRES__CREDENTIALS", creds)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    // verify-full against the test CA (the certificate is for 127.0.0.1)
    let full = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url,
        ca.display()
    );
    let (ok, text) = sync(&full);
    assert!(ok, "{text}");
    assert_eq!(db.count("raw_shop.orders"), 3);
    // the connection really is encrypted
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE s.ssl AND a.pid = pg_backend_pid()"),
        "1"
    );
    // verify-full with the public roots refuses the self-signed certificate
    let (ok, text) = sync(&format!("{}?sslmode=verify-full", db.url));
    assert!(!ok);
    assert!(
        text.contains("connecting to the postgres destination"),
        "{text}"
    );
    // a wrong password: a clear error that never shows it
    let bad = with_database(&url, &db.name).replacen(":dango@", ":Wr0ng-Pa55word@", 1);
    let (ok, text) = sync(&bad);
    assert!(!ok);
    assert!(
        text.contains("password authentication failed")
            && text.contains("Check the user name and password"),
        "{text}"
    );
    assert!(!text.contains("Wr0ng-Pa55word"), "{text}");
}

#[test]
fn server_dropping_the_connection_mid_copy_leaves_nothing_half_loaded() {
    let Some(url) = server("server_dropping_the_connection_mid_copy_leaves_nothing_half_loaded")
    else {
        return;
    };
    let db = PgDb::create(&url, "dropconn");
    let p = pg_project(
        &db,
        "shop",
        "      table_name: orders\n      write_disposition: append\n",
    );
    let monitor = db.client();
    let mut orders = 50_000;
    let mut interrupted = false;
    for _ in 0..4 {
        p.write("input/orders.jsonl", &orders_jsonl(orders, 1));
        let mut child = p
            .dango_std()
            .arg("sync")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // the server ends dango's session while it streams a COPY
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'dango' AND query LIKE 'COPY%' AND state = 'active'",
            db.name
        );
        while child.try_wait().unwrap().is_none() {
            if monitor.text_rows(&sql).unwrap().1[0][0].as_deref() != Some("0") {
                interrupted = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let out = child.wait_with_output().unwrap();
        if interrupted {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "the sync went on after losing its connection"
            );
            assert!(err.contains("loading into raw_shop."), "{err}");
            break;
        }
        // the load was too quick to catch: start over with more data
        assert!(out.status.success());
        db.client().execute("DROP SCHEMA raw_shop CASCADE").unwrap();
        std::fs::remove_dir_all(p.path().join(".dlt/pipelines/shop")).unwrap();
        orders *= 2;
    }
    assert!(interrupted, "no COPY was caught to interrupt");
    // nothing of the interrupted load is visible
    assert!(db.tables("raw_shop").is_empty() || db.count("raw_shop._dlt_loads") == 0);
    // the next sync finishes the interrupted package, then loads its own (append): two whole
    // copies, each load once
    p.dango().arg("sync").assert().success();
    assert_eq!(db.count("raw_shop.orders"), 2 * orders as i64);
    assert_eq!(db.count("raw_shop._dlt_loads"), 2);
    assert_eq!(
        db.count("raw_shop.orders__line_items"),
        2 * (1..=orders as i64).map(|i| (i % 3) + 1).sum::<i64>()
    );
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM raw_shop.orders WHERE _dlt_load_id NOT IN (SELECT load_id FROM raw_shop._dlt_loads)"
        ),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT count(DISTINCT order_id) FROM raw_shop.orders"),
        orders.to_string()
    );
    assert_eq!(loading_schemas(&db), Vec::<String>::new());
}

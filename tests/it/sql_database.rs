//! `type: sql_database` (and Dango's `type: postgres`) through the real binary against the
//! real servers (`services.rs`): PostgreSQL compared with what dlt 1.31's `sql_database`
//! loaded from the same tables (`tests/fixtures/dlt_sql_database/`, made by its
//! `generate.py`), dango's documented improvements, TLS, errors, SQLite and MariaDB.

use std::path::Path;

use serde_json::Value;

use crate::services;
use crate::util::TestProject;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dlt_sql_database"
);

/// A PostgreSQL database of its own for one test, dropped at the end.
struct PgDb {
    admin: String,
    name: String,
    /// `postgresql://user:pw@host:port/<name>` (the server's TLS left to each test).
    url: String,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn with_param(url: &str, p: &str) -> String {
    format!("{url}{}{p}", if url.contains('?') { "&" } else { "?" })
}

fn pg_exec(url: &str, sql: &str) {
    let url = with_param(url, "sslmode=disable");
    rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client.batch_execute(sql).await.expect("test SQL");
    });
}

impl PgDb {
    fn new(test: &str) -> Option<PgDb> {
        let admin = services::postgres_url(&format!("sql_database::{test}"))?;
        let name = format!("dango_sqldb_{test}_{}", std::process::id());
        pg_exec(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
        pg_exec(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.split('?').next().unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        Some(PgDb { admin, name, url })
    }

    fn exec(&self, sql: &str) {
        pg_exec(&self.url, sql);
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        pg_exec(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// A project whose one source `shop` has `block` (YAML lines under the block key, indented by
/// 6) and the database URL in `.dlt/secrets.toml` under `[sources.sql_database.shop]`.
fn project(ty: &str, key: &str, block: &str, url: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        &format!("version: \"1.0\"\nsources:\n  - name: shop\n    type: {ty}\n    {key}:\n{block}"),
    );
    p.write(
        ".dlt/secrets.toml",
        &format!("[sources.sql_database.shop]\ncredentials = \"{url}\"\n"),
    );
    p
}

fn sync(p: &TestProject, args: &[&str]) -> (bool, String) {
    let out = p.dango().arg("sync").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Rows of `table` as text (DuckDB's `CAST(... AS VARCHAR)`), `_dlt_*` columns left out,
/// ordered by `id`.
fn rows(p: &TestProject, table: &str) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> = p
        .columns("raw_shop", table)
        .into_iter()
        .map(|c| c.0)
        .filter(|c| c != "_dlt_load_id" && c != "_dlt_id")
        .collect();
    let sel: Vec<String> = cols
        .iter()
        .map(|c| format!("CAST(\"{c}\" AS VARCHAR)"))
        .collect();
    p.query(&format!(
        "SELECT {} FROM raw_shop.\"{table}\" ORDER BY id",
        sel.join(", ")
    ))
}

fn expected_rows(v: &Value) -> Vec<Vec<Option<String>>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn postgres_matches_dlt_sql_database() {
    let Some(db) = PgDb::new("fixture") else {
        return;
    };
    db.exec(&fixture("tables.sql"));
    let block = "      table_names: [all_types, events]\n      tables:\n        events:\n          write_disposition: merge\n          incremental: {cursor_path: updated_at, initial_value: \"2024-01-01T03:00:00Z\"}\n";
    let p = project("sql_database", "sql_database", block, &db.url);
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    db.exec(&fixture("second_run.sql"));
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    let expected: Value = serde_json::from_str(&fixture("expected.json")).unwrap();
    // events: types, and dlt's merge with boundary deduplication.
    let ev = &expected["events"];
    let cols: Vec<Value> = p
        .columns("raw_shop", "events")
        .into_iter()
        .map(|(n, t, nullable)| serde_json::json!([n, t, nullable]))
        .collect();
    assert_eq!(cols, ev["columns"].as_array().unwrap().clone());
    assert_eq!(rows(&p, "events"), expected_rows(&ev["rows"]));
    // all_types: every column dlt maps, with the same DuckDB types and values. Known
    // difference: a JSON string scalar in a jsonb column stays JSON (`"text"`) in dango;
    // dlt moves it to a `c_jsonb__v_text` variant column.
    let at = &expected["all_types"];
    let want_cols: Vec<Value> = at["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[0] != "c_jsonb__v_text")
        .cloned()
        .collect();
    let cols: Vec<Value> = p
        .columns("raw_shop", "all_types")
        .into_iter()
        .map(|(n, t, nullable)| serde_json::json!([n, t, nullable]))
        .collect();
    assert_eq!(cols, want_cols);
    let mut want = expected_rows(&at["rows"]);
    let jsonb = 16;
    for r in &mut want {
        let variant = r.pop().unwrap();
        if let Some(v) = variant {
            assert_eq!(r[jsonb], None);
            r[jsonb] = Some(format!("\"{v}\""));
        }
    }
    assert_eq!(rows(&p, "all_types"), want);
    // The stored cursor: dlt's last value and one boundary hash.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dlt/pipelines/shop/state.json")).unwrap(),
    )
    .unwrap();
    let cur = &state["sources"]["shop"]["resources"]["events"]["incremental"]["updated_at"];
    assert_eq!(
        cur["last_value"].as_str().unwrap().replace('T', " "),
        expected["events_cursor"]["last_value"].as_str().unwrap()
    );
    assert_eq!(
        cur["unique_hashes"].as_array().unwrap().len() as u64,
        expected["events_cursor"]["unique_hashes"].as_u64().unwrap()
    );
}

#[test]
fn postgres_types_dlt_loses_are_kept() {
    let Some(db) = PgDb::new("improved") else {
        return;
    };
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, iv interval, n numeric, big numeric(50, 20), b bytea, r real);
         INSERT INTO t VALUES (1, '1 year 2 mons 3 days 04:05:06.5', 1.0123456789012345678, 12345678901234567890123456789.01234567890123456789, '\\x01', 0.1),
                              (2, '-1 day', 7, NULL, NULL, NULL);",
    );
    let p = project(
        "sql_database",
        "sql_database",
        "      schema: public\n",
        &db.url,
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    let cols = p.columns("raw_shop", "t");
    let ty = |n: &str| cols.iter().find(|c| c.0 == n).unwrap().1.clone();
    assert_eq!(ty("iv"), "VARCHAR");
    assert_eq!(ty("n"), "VARCHAR");
    assert_eq!(ty("big"), "VARCHAR");
    assert_eq!(
        p.query("SELECT iv, n, big, r FROM raw_shop.t ORDER BY id"),
        vec![
            vec![
                Some("P1Y2M3DT4H5M6.5S".into()),
                Some("1.0123456789012345678".into()),
                Some("12345678901234567890123456789.01234567890123456789".into()),
                Some("0.1".into()),
            ],
            vec![Some("P-1D".into()), Some("7".into()), None, None],
        ]
    );
    // Reflected primary key, NOT NULL.
    assert_eq!(cols[0], ("id".into(), "BIGINT".into(), "NO".into()));
}

#[test]
fn postgres_tls_modes_and_ca_file() {
    let Some(db) = PgDb::new("tls") else { return };
    let Some(ca) = services::tls_ca("sql_database::tls") else {
        return;
    };
    db.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    for (mode, host_ok) in [
        (
            format!("sslmode=verify-full&sslrootcert={}", ca.display()),
            true,
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
            true,
        ),
        ("sslmode=require".to_string(), true),
        ("sslmode=disable".to_string(), true),
        // The bundled Mozilla roots do not trust the test server's self-signed certificate.
        ("sslmode=verify-full".to_string(), false),
    ] {
        let p = project(
            "sql_database",
            "sql_database",
            "      chunk_size: 1\n",
            &with_param(&db.url, &mode),
        );
        let (ok, out) = sync(&p, &[]);
        assert_eq!(ok, host_ok, "{mode}: {out}");
        if ok {
            assert_eq!(p.count("raw_shop.t"), 2, "{mode}");
        } else {
            assert!(
                out.contains("cannot connect to PostgreSQL") && out.contains("certificate"),
                "{out}"
            );
        }
    }
    // The host name is checked with verify-full: `localhost` is in the certificate.
    let local = db.url.replace("127.0.0.1", "localhost");
    let p = project(
        "sql_database",
        "sql_database",
        "      chunk_size: 10\n",
        &with_param(
            &local,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        ),
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
}

#[test]
fn postgres_errors_are_clear_and_commit_nothing() {
    let Some(db) = PgDb::new("errors") else {
        return;
    };
    db.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let (user_pw, rest) = db.url.split_once('@').unwrap();
    let bad_pw = format!(
        "{}:Wr0ng-S3cret@{rest}",
        user_pw.rsplit_once(':').unwrap().0
    );
    let cases: Vec<(String, String, &[&str])> = vec![
        (
            bad_pw,
            "      chunk_size: 10\n".into(),
            &[
                "authentication failed",
                "[sources.sql_database.shop] credentials",
            ],
        ),
        (
            db.url.clone(),
            "      schema: nope\n".into(),
            &["schema `nope` does not exist"],
        ),
        (
            db.url.clone(),
            "      table_names: [t, missing]\n".into(),
            &["table `missing` does not exist", "it has: t"],
        ),
        (
            "postgresql://u:pw@127.0.0.1:1/x".into(),
            "      chunk_size: 10\n".into(),
            &["cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/x"],
        ),
        (
            db.url.clone(),
            "      tables:\n        t: {incremental: {cursor_path: nope}}\n".into(),
            &["cursor_path `nope` is not a column"],
        ),
    ];
    for (url, block, needles) in cases {
        let p = project("sql_database", "sql_database", &block, &url);
        let (ok, out) = sync(&p, &[]);
        assert!(!ok, "{out}");
        for n in needles {
            assert!(out.contains(n), "missing `{n}` in: {out}");
        }
        assert!(!out.contains("Wr0ng-S3cret"), "the password leaked: {out}");
        assert!(
            !p.warehouse().exists() || p.tables("raw_shop").is_empty(),
            "{out}"
        );
    }
}

#[test]
fn postgres_type_generic_config_flags_and_pipeline_verbs() {
    let Some(db) = PgDb::new("verbs") else { return };
    db.exec(
        "CREATE TABLE orders (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO orders SELECT g, g FROM generate_series(1, 250) g;",
    );
    // Dango's `type: postgres` with `generic_config:`; the URL from credentials_env (the
    // secrets.toml entry of `project` is not used then).
    let p = project(
        "postgres",
        "generic_config",
        "      credentials_env: SHOP_URL\n      chunk_size: 100\n      tables:\n        orders: {write_disposition: merge, incremental: {cursor_path: n}}\n",
        "postgresql://nobody:nothing@127.0.0.1:1/none",
    );
    let run = |args: &[&str]| {
        let out = p
            .dango()
            .arg("sync")
            .args(args)
            .env("SHOP_URL", &db.url)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.contains("127.0.0.1") && !dry.contains(&db.url), "{dry}");
    assert!(!p.warehouse().exists() || p.tables("raw_shop").is_empty());
    run(&["--limit", "120"]);
    assert_eq!(p.count("raw_shop.orders"), 120);
    run(&[]);
    assert_eq!(p.count("raw_shop.orders"), 250);
    db.exec("UPDATE orders SET n = n + 1000 WHERE id <= 5; INSERT INTO orders VALUES (251, 2000);");
    run(&[]);
    assert_eq!(p.count("raw_shop.orders"), 251);
    assert_eq!(
        p.scalar("SELECT n FROM raw_shop.orders WHERE id = 3"),
        "1003"
    );
    run(&["--full-refresh", "-y"]);
    assert_eq!(p.count("raw_shop.orders"), 251);
    let verb = |args: &[&str], needle: &str| {
        let out = p
            .dango()
            .args(args)
            .env("SHOP_URL", &db.url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(needle), "{args:?}: no `{needle}` in {text}");
    };
    verb(&["source", "list"], "postgres");
    verb(&["pipeline", "list"], "shop");
    verb(&["pipeline", "shop", "info"], "orders");
    verb(&["pipeline", "shop", "show"], "orders");
    verb(&["pipeline", "shop", "trace"], "orders");
    verb(&["pipeline", "shop", "schema"], "orders");
    verb(&["pipeline", "shop", "load-package"], "orders");
    verb(&["pipeline", "shop", "sync-state"], "2000");
    verb(&["pipeline", "shop", "sync"], "");
    verb(&["pipeline", "shop", "drop", "orders", "-y"], "");
    assert!(!p.tables("raw_shop").contains(&"orders".to_string()));
    run(&[]);
    assert_eq!(p.count("raw_shop.orders"), 251);
}

#[test]
fn sqlite_files_load_with_their_keys() {
    let p = TestProject::new();
    let path = p.path().join("data/shop.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL, price DECIMAL(10, 2),
           ratio REAL, ok BOOLEAN, day DATE, at DATETIME, raw BLOB, doc JSON, loose);
         INSERT INTO items VALUES (1, 'a', 1.5, 0.25, 1, '2024-01-02', '2024-01-02 03:04:05', x'0102', '{\"k\": [1]}', 'x'),
                                  (2, 'b', NULL, NULL, 0, NULL, NULL, NULL, NULL, 5);",
    )
    .unwrap();
    drop(conn);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: sql_database\n    sql_database:\n      credentials: sqlite:///data/shop.db\n      tables:\n        items: {write_disposition: merge, incremental: {cursor_path: id}}\n",
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    let cols = p.columns("raw_shop", "items");
    let want = [
        ("id", "BIGINT", "NO"),
        ("name", "VARCHAR", "NO"),
        ("price", "DECIMAL(10,2)", "YES"),
        ("ratio", "DOUBLE", "YES"),
        ("ok", "BOOLEAN", "YES"),
        ("day", "DATE", "YES"),
        ("at", "TIMESTAMP", "YES"),
        ("raw", "BLOB", "YES"),
        ("doc", "JSON", "YES"),
        ("loose", "VARCHAR", "YES"),
    ];
    for (i, (n, t, null)) in want.iter().enumerate() {
        assert_eq!(cols[i], (n.to_string(), t.to_string(), null.to_string()));
    }
    assert_eq!(
        rows(&p, "items"),
        vec![
            vec![
                Some("1"),
                Some("a"),
                Some("1.50"),
                Some("0.25"),
                Some("true"),
                Some("2024-01-02"),
                Some("2024-01-02 03:04:05"),
                Some("\\x01\\x02"),
                Some("{\"k\":[1]}"),
                Some("x")
            ],
            vec![
                Some("2"),
                Some("b"),
                None,
                None,
                Some("false"),
                None,
                None,
                None,
                None,
                Some("5")
            ],
        ]
        .into_iter()
        .map(|r| r
            .into_iter()
            .map(|c| c.map(str::to_string))
            .collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("INSERT INTO items (id, name) VALUES (3, 'c');")
        .unwrap();
    drop(conn);
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("extracted 2 item(s)") || out.contains("extracted 1 item(s)"),
        "{out}"
    );
    assert_eq!(p.count("raw_shop.items"), 3);
}

/// A MariaDB database of its own for one test, dropped at the end.
struct MyDb {
    admin: String,
    name: String,
    url: String,
}

fn my_exec(url: &str, sql: &str) {
    use mysql_async::prelude::Queryable;
    let url = url.to_string();
    let sql = sql.to_string();
    rt().block_on(async move {
        let mut conn = mysql_async::Conn::from_url(url)
            .await
            .expect("connect to the test MariaDB");
        conn.query_drop(sql).await.expect("test SQL");
        conn.disconnect().await.unwrap();
    });
}

impl MyDb {
    fn new(test: &str) -> Option<MyDb> {
        let admin = services::mysql_url(&format!("sql_database::{test}"))?;
        let name = format!("dango_sqldb_{test}_{}", std::process::id());
        my_exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"),
        );
        let base = admin.split('?').next().unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        Some(MyDb { admin, name, url })
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        my_exec(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {}", self.name),
        );
    }
}

#[test]
fn mariadb_tables_load_over_tls() {
    let Some(db) = MyDb::new("maria") else { return };
    let Some(ca) = services::tls_ca("sql_database::maria") else {
        return;
    };
    my_exec(
        &db.url,
        "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), f DOUBLE,
           small SMALLINT, day DATE, at DATETIME(6), doc JSON, raw VARBINARY(10), kind ENUM('a','b'));
         INSERT INTO orders VALUES (1, 'x', 12.50, 0.5, 7, '2024-01-02', '2024-01-02 03:04:05.250000', '{\"a\": 1}', x'01ff', 'b'),
                                   (2, 'y', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    );
    // mysql_async verifies with webpki, which refuses a CA certificate as the server's own
    // (the test server's self-signed one): VERIFY_* needs a CA that signed the server's
    // certificate. The refusal is a clear certificate error.
    let p = project(
        "sql_database",
        "sql_database",
        "      chunk_size: 10\n",
        &with_param(
            &db.url,
            &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", ca.display()),
        ),
    );
    let (ok, out) = sync(&p, &[]);
    assert!(
        !ok && out.contains("cannot connect to MySQL") && out.contains("certificate"),
        "{out}"
    );
    for mode in [
        "ssl-mode=REQUIRED".to_string(),
        "ssl-mode=PREFERRED".to_string(),
    ] {
        let p = project(
            "sql_database",
            "sql_database",
            "      tables:\n        orders: {incremental: {cursor_path: id}}\n",
            &with_param(&db.url, &mode),
        );
        let (ok, out) = sync(&p, &[]);
        assert!(ok, "{mode}: {out}");
        let cols: Vec<(String, String)> = p
            .columns("raw_shop", "orders")
            .into_iter()
            .map(|c| (c.0, c.1))
            .filter(|c| !c.0.starts_with("_dlt"))
            .collect();
        let want: Vec<(String, String)> = [
            ("id", "BIGINT"),
            ("name", "VARCHAR"),
            ("amount", "DECIMAL(10,2)"),
            ("f", "DOUBLE"),
            ("small", "BIGINT"),
            ("day", "DATE"),
            ("at", "TIMESTAMP"),
            // MariaDB's JSON is LONGTEXT with a check: text, as SQLAlchemy reflects it.
            ("doc", "VARCHAR"),
            ("raw", "BLOB"),
            ("kind", "VARCHAR"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(cols, want);
        assert_eq!(
            rows(&p, "orders")[0],
            [
                "1",
                "x",
                "12.50",
                "0.5",
                "7",
                "2024-01-02",
                "2024-01-02 03:04:05.25",
                "{\"a\": 1}",
                "\\x01\\xFF",
                "b"
            ]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
        );
        my_exec(
            &db.url,
            "INSERT INTO orders (id, name) VALUES (3, 'z') ON DUPLICATE KEY UPDATE name = 'z'",
        );
        let (ok, out) = sync(&p, &[]);
        assert!(ok, "{out}");
        assert_eq!(p.count("raw_shop.orders"), 3);
        my_exec(&db.url, "DELETE FROM orders WHERE id = 3");
    }
    // Bad credentials: the error names where they came from and never shows the password.
    let bad = db.url.replacen(":dango@", ":Wr0ng-S3cret@", 1);
    let p = project(
        "sql_database",
        "sql_database",
        "      chunk_size: 10\n",
        &bad,
    );
    let (ok, out) = sync(&p, &[]);
    assert!(
        !ok && out.contains("authentication failed") && !out.contains("Wr0ng-S3cret"),
        "{out}"
    );
}

#[test]
fn sql_database_takes_dangos_generic_config_block() {
    let p = TestProject::new();
    let path = p.path().join("shop.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    drop(conn);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: sql_database\n    generic_config:\n      table_names: [t]\n",
    );
    // The URL from `[sources.shop]` in secrets.toml (relative to the project).
    p.write(
        ".dlt/secrets.toml",
        "[sources.shop]\ncredentials = \"sqlite:///shop.db\"\n",
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    assert_eq!(
        rows(&p, "t"),
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), Some("b".into())]
        ]
    );
    let out = p.dango().args(["source", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("append"));
}

#[test]
fn postgres_since_until_window_leaves_the_cursor() {
    let Some(db) = PgDb::new("window") else {
        return;
    };
    db.exec(&fixture("tables.sql"));
    let block = "      table_names: [events]\n      tables:\n        events:\n          incremental: {cursor_path: updated_at, initial_value: \"2024-01-01T00:00:00Z\"}\n";
    let p = project("sql_database", "sql_database", block, &db.url);
    db.exec("INSERT INTO events VALUES (20, '2024-03-05 12:00:00+00', 'march')");
    let (ok, out) = sync(&p, &["--since", "2024-03-01", "--until", "2024-04-01"]);
    assert!(ok, "{out}");
    assert_eq!(
        p.scalar("SELECT string_agg(CAST(id AS VARCHAR), ',') FROM raw_shop.events"),
        "20"
    );
    // The window moved no cursor: the next sync loads everything from initial_value.
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    assert_eq!(p.count("raw_shop.events"), 12);
}

#[test]
fn postgres_empty_bytea_and_json_at_minimal() {
    let Some(db) = PgDb::new("minimal") else {
        return;
    };
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, doc jsonb, arr int[], b bytea);
         INSERT INTO t VALUES (1, '{\"a\": 1, \"n\": {\"k\": \"x\"}}', '{1,2}', ''),
                              (2, NULL, NULL, '\\x01'), (3, '{\"a\": 3}', '{}', '');",
    );
    // full: JSON kept whole; an empty bytea is an empty binary (dlt writes a marker string
    // into a `b__v_text` variant column instead).
    let p = project(
        "sql_database",
        "sql_database",
        "      table_names: [t]\n",
        &db.url,
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    let names: Vec<String> = p
        .columns("raw_shop", "t")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(
        names,
        ["id", "doc", "arr", "b", "_dlt_load_id", "_dlt_id"].map(String::from)
    );
    assert_eq!(
        p.query("SELECT CAST(id AS VARCHAR), CAST(octet_length(b) AS VARCHAR), CAST(doc AS VARCHAR) FROM raw_shop.t ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("0".into()), Some("{\"a\":1,\"n\":{\"k\":\"x\"}}".into())],
            vec![Some("2".into()), Some("1".into()), None],
            vec![Some("3".into()), Some("0".into()), Some("{\"a\":3}".into())],
        ]
    );
    // minimal: as dlt infers the driver's values, objects flatten into `doc__*` columns and
    // arrays become nested tables.
    let p = project(
        "sql_database",
        "sql_database",
        "      table_names: [t]\n      reflection_level: minimal\n",
        &db.url,
    );
    let (ok, out) = sync(&p, &[]);
    assert!(ok, "{out}");
    let cols: Vec<(String, String)> = p
        .columns("raw_shop", "t")
        .into_iter()
        .map(|c| (c.0, c.1))
        .collect();
    for (n, t) in [
        ("doc__a", "BIGINT"),
        ("doc__n__k", "VARCHAR"),
        ("b", "BLOB"),
    ] {
        assert!(
            cols.contains(&(n.to_string(), t.to_string())),
            "{n} {t}: {cols:?}"
        );
    }
    assert!(
        !cols.iter().any(|c| c.0 == "doc" || c.0 == "arr"),
        "{cols:?}"
    );
    assert_eq!(
        p.query("SELECT CAST(t.id AS VARCHAR), CAST(a.value AS VARCHAR) FROM raw_shop.t__arr a JOIN raw_shop.t t ON a._dlt_parent_id = t._dlt_id ORDER BY t.id, a._dlt_list_idx"),
        vec![
            vec![Some("1".into()), Some("1".into())],
            vec![Some("1".into()), Some("2".into())],
        ]
    );
    assert_eq!(
        p.query("SELECT CAST(doc__a AS VARCHAR) FROM raw_shop.t ORDER BY id"),
        vec![vec![Some("1".into())], vec![None], vec![Some("3".into())]]
    );
}

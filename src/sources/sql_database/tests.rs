//! Unit tests of the `sql_database` block, its credentials chain and URLs.

use super::*;
use crate::sources::types::find;

fn parse_block(ty: &str, yaml: &str) -> Result<Box<dyn SourceConfig>> {
    let block: Value = serde_norway::from_str(yaml).unwrap();
    find(ty).unwrap().parse(
        "shop",
        &block,
        &Env::from_vars(Vec::<(String, String)>::new()),
    )
}

#[test]
fn blocks_parse_for_both_types() {
    let ok = "credentials: sqlite:///x.db\ntable_names: [a]\ntables:\n  a: {write_disposition: merge, primary_key: id, incremental: {cursor_path: id}}\n";
    parse_block("sql_database", ok).unwrap();
    parse_block("postgres", ok).unwrap();
    assert_eq!(find("postgres").unwrap().block_key(), "generic_config");
    let e = parse_block("sql_database", "credentials: x\nchunk: 5\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `chunk`"), "{e}");
    let e = parse_block("sql_database", "credentials: x\nchunk_size: 0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("chunk_size must be at least 1"), "{e}");
    let e = parse_block("sql_database", "credentials: x\nreflection_level: most\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("minimal"), "{e}");
}

#[test]
fn credentials_sections_go_from_specific_to_shared() {
    let s: Vec<String> = credential_sections("sql_database", "shop")
        .iter()
        .map(|s| s.join("."))
        .collect();
    assert_eq!(
        s,
        [
            "sources.sql_database.shop",
            "sources.shop",
            "sources.sql_database"
        ]
    );
    let s: Vec<String> = credential_sections("postgres", "shop")
        .iter()
        .map(|s| s.join("."))
        .collect();
    assert_eq!(
        s,
        [
            "sources.postgres.shop",
            "sources.sql_database.shop",
            "sources.shop",
            "sources.postgres",
            "sources.sql_database"
        ]
    );
}

#[test]
fn urls_are_redacted_and_parsed() {
    let u = DbUrl::new(
        "postgresql://me:s3cret-pw@127.0.0.1:5432/shop?sslmode=verify-full",
        "test",
    );
    assert_eq!(
        u.shown(),
        "postgresql://me:***@127.0.0.1:5432/shop?sslmode=verify-full"
    );
    assert!(!format!("{u:?}").contains("s3cret"));
    let e = DbUrl::new(
        "postgresql://me:pw@127.0.0.1/shop?sslmode=sometimes",
        "test",
    )
    .target(std::path::Path::new("."))
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("unknown sslmode `sometimes`") && !e.contains(":pw@"),
        "{e}"
    );
    let e = DbUrl::new("oracle://u:pw@h/x", "X")
        .target(std::path::Path::new("."))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("scheme `oracle`"), "{e}");
    let e = DbUrl::new("sqlite:///missing.db", "X")
        .target(std::path::Path::new("/nonexistent"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("/nonexistent/missing.db") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn dlt_credential_fields_make_a_url() {
    let t: toml::Value = toml::from_str(
        "drivername = \"postgresql\"\nusername = \"u\"\npassword = \"p@ss\"\nhost = \"h\"\nport = 5432\ndatabase = \"d\"\n",
    )
    .unwrap();
    assert_eq!(url_of(&t, "x").unwrap(), "postgresql://u:p%40ss@h:5432/d");
}

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

//! `dango quickstart`.

use predicates::str::contains;

use crate::hermetic::Isolated;

#[test]
fn quickstart_loads_the_sample_and_is_safe_to_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let iso = Isolated::new();
    for _ in 0..2 {
        iso.dango()
            .args(["quickstart", dir.to_str().unwrap(), "--orders", "500"])
            .assert()
            .success()
            .stdout(contains("raw_shop.orders").and(contains("500")));
    }
    let p = dir.join("data/warehouse.duckdb");
    let conn = duckdb::Connection::open_with_flags(
        &p,
        duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .unwrap(),
    )
    .unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM raw_shop.orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 500, "replace: a rerun does not duplicate");
    let loads: i64 = conn
        .query_row(
            "SELECT count(*) FROM raw_shop._dlt_loads WHERE status = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(loads, 2);
    let items: i64 = conn
        .query_row(
            "SELECT count(*) FROM raw_shop.orders__line_items i JOIN raw_shop.orders o ON i._dlt_parent_id = o._dlt_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(items >= 500, "every line item links to an order");
}

use predicates::prelude::PredicateBooleanExt;

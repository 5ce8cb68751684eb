use std::collections::BTreeMap;

use super::observe::ColumnShape;
use super::*;

fn table(rows: u64, cols: &[(&str, &str)], delivered: &[&str]) -> ObservedTable {
    ObservedTable {
        columns: cols
            .iter()
            .map(|(c, t)| {
                (
                    c.to_string(),
                    ColumnShape {
                        data_type: t.to_string(),
                        variant: c.contains("__v_"),
                    },
                )
            })
            .collect(),
        rows,
        delivered: Some(delivered.iter().map(|c| c.to_string()).collect()),
    }
}

fn obs(id: &str, tables: Vec<(&str, ObservedTable)>) -> Observed {
    Observed {
        load_id: id.into(),
        tables: tables
            .into_iter()
            .map(|(t, o)| (t.to_string(), o))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn kinds(events: &[DriftEvent]) -> Vec<String> {
    events.iter().map(|e| e.describe()).collect()
}

#[test]
fn additive_changes_are_accepted_breaking_ones_wait_for_accept() {
    let s = DriftSettings {
        enabled: true,
        removed_min_rows: 1,
    };
    let mut r = DriftRecord::default();
    let first = obs(
        "1",
        vec![(
            "orders",
            table(
                2,
                &[("id", "bigint"), ("price", "bigint")],
                &["id", "price"],
            ),
        )],
    );
    assert!(r.observe(&first, "t1", &s).is_empty());
    assert_eq!(r.status(), "ok");

    // A new column and a new table: recorded, accepted.
    let second = obs(
        "2",
        vec![
            (
                "orders",
                table(
                    2,
                    &[("id", "bigint"), ("price", "bigint"), ("note", "text")],
                    &["id", "price", "note"],
                ),
            ),
            ("customers", table(1, &[("id", "bigint")], &["id"])),
        ],
    );
    let e = r.observe(&second, "t2", &s);
    assert_eq!(
        kinds(&e),
        [
            "table_added customers",
            "column_added customers.id (bigint)",
            "column_added orders.note (text)"
        ]
    );
    assert!(!r.needs_attention());
    assert_eq!(r.baseline["orders"]["note"], "text");

    // price stops coming, a variant appears: both need attention, once.
    let third = obs(
        "3",
        vec![(
            "orders",
            table(
                3,
                &[
                    ("id", "bigint"),
                    ("price", "bigint"),
                    ("note", "text"),
                    ("note__v_bigint", "bigint"),
                ],
                &["id", "note", "note__v_bigint"],
            ),
        )],
    );
    let e = r.observe(&third, "t3", &s);
    assert_eq!(
        kinds(&e),
        [
            "type_changed orders.note (text -> bigint), variant column note__v_bigint",
            "column_removed orders.price (was bigint)"
        ]
    );
    assert_eq!(r.status(), "needs_attention");
    assert!(
        r.observe(&third, "t4", &s).is_empty(),
        "pending ones are not repeated"
    );
    // A table without rows in a load says nothing about its columns.
    let quiet = obs("5", vec![("orders", table(0, &[("id", "bigint")], &[]))]);
    assert!(r.observe(&quiet, "t5", &s).is_empty());

    let accepted = r.accept("t6");
    assert_eq!(accepted.len(), 2);
    assert!(!r.needs_attention());
    assert!(!r.baseline["orders"].contains_key("price"));
    assert_eq!(r.baseline["orders"]["note__v_bigint"], "bigint");
    // The same shape again is no drift; an absent variant is not a removed column.
    assert!(r.observe(&third, "t7", &s).is_empty());
    let no_variant = obs(
        "8",
        vec![(
            "orders",
            table(1, &[("id", "bigint"), ("note", "text")], &["id", "note"]),
        )],
    );
    assert!(r.observe(&no_variant, "t8", &s).is_empty());
    // A plain type change.
    let retyped = obs(
        "9",
        vec![(
            "orders",
            table(1, &[("id", "text"), ("note", "text")], &["id", "note"]),
        )],
    );
    assert_eq!(
        kinds(&r.observe(&retyped, "t9", &s)),
        ["type_changed orders.id (bigint -> text)"]
    );
}

#[test]
fn removed_needs_enough_rows_and_readable_jobs() {
    let s = DriftSettings {
        enabled: true,
        removed_min_rows: 10,
    };
    let mut r = DriftRecord::default();
    let cols = [("id", "bigint"), ("sparse", "text")];
    r.observe(
        &obs("1", vec![("t", table(20, &cols, &["id", "sparse"]))]),
        "t1",
        &s,
    );
    assert!(
        r.observe(&obs("2", vec![("t", table(5, &cols, &["id"]))]), "t2", &s)
            .is_empty()
    );
    let mut unreadable = table(50, &cols, &[]);
    unreadable.delivered = None;
    assert!(
        r.observe(&obs("3", vec![("t", unreadable)]), "t3", &s)
            .is_empty()
    );
    assert_eq!(
        r.observe(&obs("4", vec![("t", table(10, &cols, &["id"]))]), "t4", &s)
            .len(),
        1
    );
}

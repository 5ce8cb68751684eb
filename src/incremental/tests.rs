use super::*;
use serde_json::json;

fn cfg(v: Value) -> IncrementalConfig {
    IncrementalConfig::parse(&v, "incremental").unwrap()
}

fn keep(inc: &Incremental, item: Value) -> bool {
    inc.filter(&item).unwrap() == Decision::Keep
}

#[test]
fn hashes_match_dlt() {
    // Values computed with dlt 1.31's digest_dedup_value.
    assert_eq!(digest_dedup_value(&json!(1)), "669czW83KR00");
    assert_eq!(digest_dedup_value(&json!([1, "a"])), "ndvRJS8rm8iA");
    assert_eq!(
        digest_dedup_value(&json!({"z": [1, 2], "id": 1, "n": null, "b": "x"})),
        "FEd47vT0heZa"
    );
    assert_eq!(digest_dedup_value(&json!("a")), "HXVczKyPrzLo");
}

#[test]
fn typed_comparison() {
    use std::cmp::Ordering::*;
    let c = |a: Value, b: Value| compare(&a, &b);
    assert_eq!(c(json!(9), json!(10)), Some(Less));
    assert_eq!(c(json!(9.5), json!(10)), Some(Less));
    assert_eq!(c(json!("9"), json!("10")), Some(Greater)); // plain strings: text
    assert_eq!(
        c(
            json!("2024-01-01T10:00:00+02:00"),
            json!("2024-01-01T09:00:00Z")
        ),
        Some(Less)
    );
    assert_eq!(
        c(
            json!("2024-01-01T09:00:00Z"),
            json!("2024-01-01T09:00:00.000+00:00")
        ),
        Some(Equal)
    );
    assert_eq!(
        c(json!("2024-01-02"), json!("2024-01-01T23:00:00Z")),
        Some(Greater)
    );
    assert_eq!(c(json!(1), json!("a")), None);
}

#[test]
fn filters_range_tracks_max_and_dedups_boundary() {
    let c = cfg(json!({"cursor_path": "updated_at", "initial_value": "2024-01-02T00:00:00Z"}));
    let inc = Incremental::bind("r", &c, &["id".into()], None, None).unwrap();
    let row = |id: i64, t: &str| json!({"id": id, "updated_at": t});
    assert!(!keep(&inc, row(1, "2024-01-01T00:00:00Z")));
    assert!(keep(&inc, row(2, "2024-01-02T00:00:00Z")));
    assert!(keep(&inc, row(3, "2024-01-04T00:00:00+00:00")));
    assert!(keep(&inc, row(4, "2024-01-04T02:00:00+02:00")));
    let st = inc.state().unwrap();
    assert_eq!(st["last_value"], json!("2024-01-04T00:00:00+00:00"));
    assert_eq!(st["unique_hashes"].as_array().unwrap().len(), 2);
    assert_eq!(st["start_value"], json!("2024-01-02T00:00:00Z"));

    // Next run: the boundary rows 3 and 4 are not loaded again, a new one at the boundary is.
    let inc2 = Incremental::bind("r", &c, &["id".into()], Some(&st), None).unwrap();
    assert_eq!(inc2.start_value, Some(json!("2024-01-04T00:00:00+00:00")));
    assert!(!keep(&inc2, row(3, "2024-01-04T00:00:00Z")));
    assert!(!keep(&inc2, row(4, "2024-01-04T00:00:00Z")));
    assert!(keep(&inc2, row(5, "2024-01-04T00:00:00Z")));
    assert!(!keep(&inc2, row(6, "2024-01-03T00:00:00Z")));
    let st2 = inc2.state().unwrap();
    assert_eq!(st2["unique_hashes"].as_array().unwrap().len(), 3);
}

#[test]
fn end_value_is_stateless_and_closed_ranges() {
    let c = cfg(
        json!({"cursor_path": "n", "initial_value": 2, "end_value": 5, "range_end": "closed", "range_start": "open"}),
    );
    let stored = json!({"last_value": 100});
    let inc = Incremental::bind("r", &c, &[], Some(&stored), None).unwrap();
    assert_eq!(inc.start_value, Some(json!(2)));
    assert!(!keep(&inc, json!({"n": 2})));
    assert!(keep(&inc, json!({"n": 3})));
    assert!(keep(&inc, json!({"n": 5})));
    assert!(!keep(&inc, json!({"n": 6})));
    assert!(inc.state().is_none());
}

#[test]
fn min_row_order_missing_and_lag() {
    let c = cfg(
        json!({"cursor_path": "n", "initial_value": 10, "last_value_func": "min", "row_order": "desc"}),
    );
    let inc = Incremental::bind("r", &c, &[], None, None).unwrap();
    assert!(keep(&inc, json!({"n": 9})));
    assert!(!inc.should_stop());
    assert!(!keep(&inc, json!({"n": 11})));
    assert!(inc.should_stop());
    assert_eq!(inc.last_value(), Some(json!(9)));

    let c = cfg(json!({"cursor_path": "n", "on_cursor_value_missing": "exclude"}));
    let inc = Incremental::bind("r", &c, &[], None, None).unwrap();
    assert!(!keep(&inc, json!({"x": 1})));
    let c = cfg(json!({"cursor_path": "n"}));
    let inc = Incremental::bind("r", &c, &[], None, None).unwrap();
    let e = inc.filter(&json!({"x": 1})).unwrap_err().to_string();
    assert!(e.contains("was not found"), "{e}");

    let c = cfg(json!({"cursor_path": "t", "initial_value": "2024-01-01T00:00:00Z", "lag": 3600}));
    let st = json!({"last_value": "2024-01-05T00:00:00Z"});
    let inc = Incremental::bind("r", &c, &[], Some(&st), None).unwrap();
    assert_eq!(inc.start_value, Some(json!("2024-01-04T23:00:00Z")));
    // Rows in the lag window are loaded again, but the cursor never moves back.
    assert!(keep(&inc, json!({"t": "2024-01-04T23:30:00Z"})));
    assert_eq!(inc.state().unwrap()["last_value"], "2024-01-05T00:00:00Z");
}

#[test]
fn window_replaces_values_and_is_stateless() {
    let c = cfg(json!({"cursor_path": "t", "initial_value": "2020-01-01T00:00:00Z"}));
    let w = Window {
        since: chrono::NaiveDate::from_ymd_opt(2024, 3, 1),
        until: chrono::NaiveDate::from_ymd_opt(2024, 3, 5),
    };
    let st = json!({"last_value": "2025-01-01T00:00:00Z"});
    let inc = Incremental::bind("r", &c, &[], Some(&st), Some(&w)).unwrap();
    assert_eq!(
        inc.placeholder("start_value"),
        json!("2024-03-01T00:00:00Z")
    );
    assert_eq!(inc.placeholder("end_value"), json!("2024-03-05T00:00:00Z"));
    assert!(inc.is_stateless());
    let c = cfg(json!({"cursor_path": "t", "initial_value": 0}));
    let inc = Incremental::bind("r", &c, &[], None, Some(&w)).unwrap();
    assert_eq!(inc.placeholder("start_value"), json!(1709251200));
}

#[test]
fn config_errors() {
    let e = IncrementalConfig::parse(&json!({"cursor_path": "a", "end_value": 3}), "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("initial_value"), "{e}");
    let e = IncrementalConfig::parse(
        &json!({"cursor_path": "a", "initial_value": 5, "end_value": 3}),
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("higher"), "{e}");
    assert!(IncrementalConfig::parse(&json!({"cursor_path": "a", "bogus": 1}), "x").is_err());
}

#[test]
fn continues_a_typed_cursor_dlt_stored() {
    // As dlt 1.31 stores a datetime cursor in state.json.
    let stored = json!({
        "initial_value": "\u{f027}2024-01-01T00:00:00+00:00",
        "last_value": "\u{f027}2024-01-02T10:00:00+00:00",
        "unique_hashes": ["669czW83KR00"],
        "start_value": "\u{f027}2024-01-01T00:00:00+00:00"
    });
    let c = cfg(json!({"cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z"}));
    let inc = Incremental::bind("r", &c, &["id".into()], Some(&stored), None).unwrap();
    assert_eq!(
        inc.placeholder("start_value"),
        json!("2024-01-02T10:00:00+00:00")
    );
    let row = |id: i64, t: &str| json!({"id": id, "updated_at": t});
    assert!(!keep(&inc, row(0, "2024-01-01T00:00:00Z")));
    assert!(!keep(&inc, row(1, "2024-01-02T10:00:00Z"))); // boundary row dlt already loaded
    assert!(keep(&inc, row(2, "2024-01-02T10:00:00Z")));
    assert!(keep(&inc, row(3, "2024-01-05T00:00:00Z")));
    assert_eq!(
        inc.state().unwrap(),
        json!({
            "initial_value": "\u{f027}2024-01-01T00:00:00+00:00",
            "last_value": "\u{f027}2024-01-05T00:00:00+00:00",
            "unique_hashes": [digest_dedup_value(&json!(3))],
            "start_value": "\u{f027}2024-01-02T10:00:00+00:00"
        })
    );
    assert_eq!(
        compare(&json!("\u{f026}10.5"), &json!(9)),
        Some(std::cmp::Ordering::Greater)
    );
}

/// `filter_batch` decides and tracks exactly as `filter` row by row: boundary rows at the
/// stored value (deduplicated by hash), rows past `end_value`, missing cursors, ties at the
/// newest value, unsorted batches and several batches in a row.
#[test]
fn filter_batch_equals_filter_row_by_row() {
    let row = |id: i64, t: Option<i64>| match t {
        Some(t) => json!({"id": id, "n": t}),
        None => json!({"id": id, "n": null}),
    };
    let batches: Vec<Vec<Value>> = vec![
        vec![
            row(1, Some(5)),
            row(2, Some(10)),
            row(3, Some(10)),
            row(4, Some(7)),
            row(5, None),
            row(6, Some(12)),
            row(7, Some(12)),
            row(8, Some(30)),
            row(9, Some(11)),
        ],
        vec![row(10, Some(12)), row(11, Some(9)), row(12, Some(13))],
        vec![row(13, Some(13)), row(3, Some(10)), row(14, Some(8))],
    ];
    let configs = [
        json!({"cursor_path": "n", "on_cursor_value_missing": "include"}),
        json!({"cursor_path": "n", "on_cursor_value_missing": "exclude", "initial_value": 6, "end_value": 13}),
        json!({"cursor_path": "n", "on_cursor_value_missing": "include", "primary_key": []}),
        json!({"cursor_path": "n", "on_cursor_value_missing": "include", "range_start": "open"}),
        json!({"cursor_path": "n", "on_cursor_value_missing": "include", "last_value_func": "min", "initial_value": 12}),
    ];
    // A stored state: last value 10 with the hash of row 2 (row 3 also has 10 and is new).
    let stored = json!({"initial_value": null, "last_value": 10, "start_value": 8,
                        "unique_hashes": [digest_dedup_value(&json!(2))]});
    for c in configs {
        let c = cfg(c);
        for stored in [None, Some(&stored)] {
            let one = Incremental::bind("r", &c, &["id".into()], stored, None).unwrap();
            let all = Incremental::bind("r", &c, &["id".into()], stored, None).unwrap();
            for batch in &batches {
                let singly: Vec<Decision> = batch.iter().map(|i| one.filter(i).unwrap()).collect();
                let cursor: Vec<Value> = batch.iter().map(|i| i["n"].clone()).collect();
                let at_once = all
                    .filter_batch(&cursor, &mut |r| batch[r].clone())
                    .unwrap();
                assert_eq!(singly, at_once, "{c:?} stored {stored:?}");
            }
            assert_eq!(one.state(), all.state(), "{c:?} stored {stored:?}");
            assert_eq!(one.last_value(), all.last_value());
        }
    }
}

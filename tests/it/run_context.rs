//! The run context through the library: two pipelines in one process run at the same time and
//! are cancelled independently; a cancelled run commits nothing and the next run loads.

use dango::pipeline::{CancelToken, Pipeline};
use dango::sources::{IterResource, Source};
use serde_json::json;

fn pipeline(dir: &std::path::Path, name: &str, token: &CancelToken) -> Pipeline {
    Pipeline::builder(name)
        .dataset(format!("raw_{name}"))
        .duckdb(dir.join(format!("{name}.duckdb")))
        .working_dir(dir.join(name))
        .cancel_token(token.clone())
        .build()
        .unwrap()
}

/// Pages of 100 rows; once `cancel_at` pages were handed out, `token` is cancelled (as a
/// Ctrl-C handler or a dashboard would, from outside the pipeline).
fn pages(
    n: usize,
    cancel_at: Option<(usize, CancelToken)>,
) -> impl Iterator<Item = Vec<serde_json::Value>> + Send {
    (0..n).map(move |p| {
        if let Some((at, t)) = &cancel_at
            && p == *at
        {
            t.cancel();
        }
        (0..100).map(|i| json!({"id": p * 100 + i})).collect()
    })
}

fn count(db: &std::path::Path, table: &str) -> Option<i64> {
    let conn = duckdb::Connection::open(db).ok()?;
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .ok()
}

#[test]
fn two_pipelines_run_and_cancel_independently() {
    if !crate::hermetic::in_isolated_process(
        "run_context::two_pipelines_run_and_cancel_independently",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (ta, tb) = (CancelToken::new(), CancelToken::new());
    let mut a = pipeline(&dir, "a", &ta);
    let mut b = pipeline(&dir, "b", &tb);
    let ta2 = ta.clone();
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(move || {
            let r = IterResource::new("items", pages(50, Some((5, ta2))));
            a.run(Source::new("a", vec![Box::new(r)]))
        });
        let hb = s.spawn(move || {
            let r = IterResource::new("items", pages(50, None));
            b.run(Source::new("b", vec![Box::new(r)]))
        });
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(
        matches!(ra, Err(dango::Error::Interrupted)),
        "cancelled pipeline: {ra:?}"
    );
    assert!(!tb.is_cancelled());
    let info = rb.expect("the other pipeline is not affected");
    assert_eq!(info.row_counts().get("items"), Some(&5000));
    assert_eq!(count(&dir.join("b.duckdb"), "raw_b.items"), Some(5000));
    // Nothing of the cancelled run was committed, and no package is left pending.
    assert_eq!(count(&dir.join("a.duckdb"), "raw_a.items"), None);
    assert!(
        std::fs::read_dir(dir.join("a/normalize/extracted"))
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    );

    // A new run with a fresh token loads everything.
    let mut a = pipeline(&dir, "a", &CancelToken::new());
    let r = IterResource::new("items", pages(50, None));
    let info = a.run(Source::new("a", vec![Box::new(r)])).unwrap();
    assert_eq!(info.row_counts().get("items"), Some(&5000));
    assert_eq!(count(&dir.join("a.duckdb"), "raw_a.items"), Some(5000));
}

#[test]
fn a_token_cancelled_before_the_run_stops_it_before_extract() {
    if !crate::hermetic::in_isolated_process(
        "run_context::a_token_cancelled_before_the_run_stops_it_before_extract",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = CancelToken::new();
    t.cancel();
    let mut p = pipeline(tmp.path(), "c", &t);
    let r = IterResource::new("items", pages(3, None));
    let res = p.run(Source::new("c", vec![Box::new(r)]));
    assert!(matches!(res, Err(dango::Error::Interrupted)), "{res:?}");
    assert_eq!(count(&tmp.path().join("c.duckdb"), "raw_c.items"), None);
}

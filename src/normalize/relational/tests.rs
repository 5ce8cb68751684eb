//! Tests of the relational normalizer: flattening, nested tables, ids.

use super::*;
use crate::normalize::value::parse_json;

#[derive(Default)]
struct Collect {
    rows: Vec<(String, Vec<(String, String)>)>,
    ids: RowIds,
}

impl<'a> RowSink<'a> for Collect {
    type Error = ();
    fn row<'v>(
        &mut self,
        table: &Rc<str>,
        _parent: Option<&Rc<str>>,
        cells: &[(Rc<str>, Cell<'v, 'a>)],
    ) -> Result<bool, ()> {
        let cols = cells
            .iter()
            .map(|(n, c)| {
                let mut s = String::new();
                cell_json(c, &mut s);
                (n.to_string(), s)
            })
            .collect();
        self.rows.push((table.to_string(), cols));
        Ok(true)
    }

    fn nested_id(&mut self, parent: &RowId, table: &Rc<str>, idx: i64) -> RowId {
        RowId::Known(self.ids.known_now(parent, table, idx))
    }
}

fn settings(max_nesting: i64) -> TableSettings {
    TableSettings {
        root_table: "t".into(),
        max_nesting,
        propagate_root_id: false,
        root_id: RootIdKind::Random,
        naming: crate::normalize::naming::Naming::default(),
    }
}

fn run(json: &str, max_nesting: i64) -> Vec<(String, Vec<(String, String)>)> {
    let v = parse_json(json).unwrap();
    let mut n = Normalizer::new(settings(max_nesting), "1.5", 7);
    let mut sink = Collect::default();
    n.normalize_item(&v, &(), &mut sink).unwrap();
    sink.rows
}

fn names(row: &(String, Vec<(String, String)>)) -> Vec<&str> {
    row.1.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn lifo_flatten_order() {
    let rows = run(r#"{"a":{"b":{"c":2}},"b":{"z":1},"x":1}"#, 1000);
    assert_eq!(
        names(&rows[0]),
        ["x", "b__z", "a__b__c", "_dlt_load_id", "_dlt_id"]
    );
}

#[test]
fn nested_lists_and_ids() {
    let rows = run(r#"{"id":1,"Tags":["a",null],"m":[[1,2],[3]]}"#, 1000);
    let tables: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        tables,
        [
            "t",
            "t__tags",
            "t__tags",
            "t__m",
            "t__m__list",
            "t__m__list",
            "t__m",
            "t__m__list"
        ]
    );
    assert_eq!(
        names(&rows[1]),
        ["value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    );
    assert_eq!(
        names(&rows[3]),
        ["_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    );
    let root_id = rows[0].1.last().unwrap().1.trim_matches('"').to_string();
    let expected = nested_row_id(&root_id, "t__tags", 1);
    assert_eq!(rows[2].1[3].1, format!("\"{expected}\""));
}

#[test]
fn max_nesting_keeps_json() {
    let rows = run(r#"{"d":{"x":1,"dd":{"y":2}},"l":[1]}"#, 1);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        names(&rows[0]),
        ["d__x", "d__dd", "_dlt_load_id", "_dlt_id"]
    );
    let rows = run(r#"{"d":{"x":1},"l":[1]}"#, 0);
    assert_eq!(names(&rows[0]), ["d", "l", "_dlt_load_id", "_dlt_id"]);
}

#[test]
fn colliding_keys_last_wins() {
    let rows = run(r#"{"userName":1,"user_name":2}"#, 1000);
    assert_eq!(rows[0].1[0], ("user_name".to_string(), "2".to_string()));
}

#[test]
fn key_hash_matches_dlt() {
    let v = parse_json(r#"{"id":1}"#).unwrap();
    let mut n = Normalizer::new(
        TableSettings {
            root_id: RootIdKind::KeyHash(vec!["id".into()]),
            ..settings(1000)
        },
        "1",
        0,
    );
    let mut sink = Collect::default();
    n.normalize_item(&v, &(), &mut sink).unwrap();
    assert_eq!(sink.rows[0].1.last().unwrap().1, "\"z5jIxXIbUnmbKw\"");
}

#[test]
fn recycle_keeps_the_buffer() {
    let mut v: Vec<(Rc<str>, Cell<'static, 'static>)> = Vec::with_capacity(40);
    v.push((Rc::from("a"), Cell::Int(1)));
    let w: Vec<(Rc<str>, Cell<'_, '_>)> = recycle(v);
    assert!(w.is_empty());
    assert!(w.capacity() >= 40);
}

#[test]
fn same_key_is_string_equality() {
    let keys = [
        "",
        "a",
        "ab",
        "abcdefg",
        "abcdefgh",
        "abcdefgi",
        "abcdefghi",
        "abcdefghij",
        "bbcdefghij",
        "abcdefghijklmnop",
        "abcdefghijklmnoq",
        "abcdefghijklmnopq",
        "ü",
        "üa",
    ];
    for a in keys {
        for b in keys {
            assert_eq!(same_key(a, b), a == b, "{a:?} {b:?}");
        }
    }
}

//! Typed (Arrow) items through the library: one Arrow table loaded along dlt's Arrow normalizer
//! and along its dict path, compared with what dlt 1.31 wrote for the same table
//! (`tests/fixtures/dlt_arrow/`, made by its `generate.py`).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, ListArray, StringArray, StructArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use dango::normalize::NormalizeConfig;
use dango::pipeline::Pipeline;
use dango::sources::{ArrowResource, Source};
use dango::storage::ArrowMode;
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dlt_arrow/expected.json"
);

fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// The table of `generate.py`'s `make_table()`.
fn table() -> RecordBatch {
    let address_fields = Fields::from(vec![
        Field::new("city", DataType::Utf8, true),
        Field::new("zip", DataType::Int64, true),
        Field::new("since", DataType::Date32, true),
    ]);
    let since = (micros(2001, 2, 3, 0, 0, 0, 0) / 86_400_000_000) as i32;
    let address = StructArray::new(
        address_fields.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("Oslo"), None, None])) as ArrayRef,
            Arc::new(Int64Array::from(vec![Some(150), Some(9), None])),
            Arc::new(Date32Array::from(vec![Some(since), None, None])),
        ],
        Some(NullBuffer::from(vec![true, true, false])),
    );
    let tags = ListArray::new(
        Arc::new(Field::new("item", DataType::Utf8, true)),
        OffsetBuffer::new(vec![0, 2, 2, 2].into()),
        Arc::new(StringArray::from(vec!["a", "b"])),
        Some(NullBuffer::from(vec![true, true, false])),
    );
    let line_fields = Fields::from(vec![
        Field::new("sku", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]);
    let lines = ListArray::new(
        Arc::new(Field::new(
            "item",
            DataType::Struct(line_fields.clone()),
            true,
        )),
        OffsetBuffer::new(vec![0, 2, 3, 3].into()),
        Arc::new(StructArray::new(
            line_fields,
            vec![
                Arc::new(StringArray::from(vec!["x", "y", "z"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
            ],
            None,
        )),
        Some(NullBuffer::from(vec![true, true, false])),
    );
    let prices = ListArray::new(
        Arc::new(Field::new("item", DataType::Decimal128(5, 1), true)),
        OffsetBuffer::new(vec![0, 2, 3, 3].into()),
        Arc::new(
            Decimal128Array::from(vec![Some(15), None, Some(-99_999)])
                .with_precision_and_scale(5, 1)
                .unwrap(),
        ),
        Some(NullBuffer::from(vec![true, true, false])),
    );
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "Amount",
            Arc::new(
                Decimal128Array::from(vec![Some(1_234_567_890), Some(-5), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "tsUtc",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(micros(2024, 1, 2, 3, 4, 5, 123_456)),
                    Some(micros(1999, 12, 31, 23, 59, 59, 0)),
                    None,
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "ts_naive",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(micros(2024, 1, 2, 3, 4, 5, 123_000) / 1000),
                Some(micros(2000, 2, 29, 0, 0, 0, 0) / 1000),
                None,
            ])),
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![Some(19_724), Some(0), None])),
        ),
        (
            "payload",
            Arc::new(BinaryArray::from(vec![
                Some(&[0u8, 1, 255][..]),
                Some(&[][..]),
                None,
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        (
            "qty",
            Arc::new(Int32Array::from(vec![Some(7), Some(i32::MIN), None])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![Some(1.5), Some(-0.0), None])),
        ),
        (
            "User Name",
            Arc::new(StringArray::from(vec![
                Some("ann"),
                Some("b\u{e9}la \"q\""),
                None,
            ])),
        ),
        (
            "at",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some((3 * 3600 + 4 * 60 + 5) * 1_000_000 + 6),
                Some(0),
                None,
            ])),
        ),
        ("address", Arc::new(address)),
        ("tags", Arc::new(tags)),
        ("lines", Arc::new(lines)),
        ("prices", Arc::new(prices)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays).unwrap()
}

fn fixture(scenario: &str) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["scenarios"][scenario].as_object().unwrap().clone()
}

struct Loaded {
    _tmp: tempfile::TempDir,
    db: std::path::PathBuf,
    schema: dango::schema::Schema,
}

fn load(name: &str, batches: Vec<RecordBatch>, mode: ArrowMode, cfg: NormalizeConfig) -> Loaded {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("w.duckdb");
    let mut pipeline = Pipeline::builder(name)
        .dataset("typed")
        .duckdb(&db)
        .working_dir(tmp.path().join("pipe"))
        .normalize(cfg)
        .build()
        .unwrap();
    let r = ArrowResource::new("items", batches.into_iter(), mode);
    pipeline.run(Source::new(name, vec![Box::new(r)])).unwrap();
    let schema = pipeline.schema().unwrap();
    Loaded {
        _tmp: tmp,
        db,
        schema,
    }
}

fn strings(conn: &duckdb::Connection, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query(duckdb::params_from_iter(params.iter())).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let cols = row.as_ref().column_count();
        out.push(
            (0..cols)
                .map(|i| row.get::<_, Option<String>>(i).unwrap())
                .collect(),
        );
    }
    out
}

fn as_strings(v: &Value) -> Vec<Vec<Option<String>>> {
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

/// dango's one documented difference from dlt's dict path: an empty binary loads as an empty
/// binary, where dlt writes its typed-JSON marker `\u{f02b}` into a `<col>__v_text` variant
/// column. The fixture's expectation is rewritten accordingly (variant column gone, `''` in the
/// binary column).
fn without_empty_bytes_marker(exp: &mut Value) {
    const MARKER: &str = "\u{f02b}";
    let names: Vec<String> = exp["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_string())
        .collect();
    for (vi, variant) in names.iter().enumerate() {
        let Some(base) = variant.strip_suffix("__v_text") else {
            continue;
        };
        let rows = exp["rows"].as_array().unwrap();
        let only_markers = rows.iter().all(|r| r[vi].is_null() || r[vi] == MARKER);
        let Some(bi) = names.iter().position(|n| n == base) else {
            continue;
        };
        if !only_markers {
            continue;
        }
        for r in exp["rows"].as_array_mut().unwrap() {
            let r = r.as_array_mut().unwrap();
            if r[vi] == MARKER {
                r[bi] = Value::String(String::new());
            }
            r.remove(vi);
        }
        exp["columns"].as_array_mut().unwrap().remove(vi);
        exp["dlt_columns"]
            .as_object_mut()
            .unwrap()
            .shift_remove(variant.as_str());
        let item = format!(", CAST(c.\"{variant}\" AS VARCHAR) AS \"{variant}\"");
        let query = exp["query"].as_str().unwrap().replace(&item, "");
        exp["query"] = Value::String(query);
        return;
    }
}

/// Compares the warehouse and the stored schema with dlt's fixture for `scenario`.
fn assert_matches_dlt(loaded: &Loaded, scenario: &str) {
    let mut expected = fixture(scenario);
    for exp in expected.values_mut() {
        without_empty_bytes_marker(exp);
    }
    let conn = duckdb::Connection::open(&loaded.db).unwrap();
    let tables = strings(
        &conn,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'typed' \
         AND table_name NOT LIKE '_dlt%' ORDER BY table_name",
        &[],
    );
    let names: Vec<String> = tables.into_iter().map(|r| r[0].clone().unwrap()).collect();
    let want: Vec<&String> = expected.keys().collect();
    assert_eq!(names.iter().collect::<Vec<_>>(), want, "{scenario}: tables");
    for (table, exp) in &expected {
        let columns = strings(
            &conn,
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'typed' AND table_name = ? ORDER BY ordinal_position",
            &[table],
        );
        assert_eq!(
            columns,
            as_strings(&exp["columns"]),
            "{scenario}: columns of {table}"
        );
        let sql = exp["query"].as_str().unwrap().replace("{ds}", "typed");
        assert_eq!(
            strings(&conn, &sql, &[]),
            as_strings(&exp["rows"]),
            "{scenario}: rows of {table}"
        );
        let t = loaded.schema.table(table).unwrap();
        let dlt_names: Vec<&String> = exp["dlt_columns"].as_object().unwrap().keys().collect();
        let our_names: Vec<&String> = t
            .columns
            .values()
            .filter(|c| c.is_complete())
            .map(|c| &c.name)
            .collect();
        assert_eq!(
            our_names, dlt_names,
            "{scenario}: schema columns of {table}"
        );
        for (name, want) in exp["dlt_columns"].as_object().unwrap() {
            let c = &t.columns[name];
            let got = serde_json::json!({
                "data_type": c.data_type.map(|d| d.as_str()),
                "precision": c.precision,
                "scale": c.scale,
                "timezone": c.timezone,
                "nullable": c.nullable,
            });
            for key in ["data_type", "precision", "scale", "timezone", "nullable"] {
                let w = want.get(key).cloned().unwrap_or(Value::Null);
                if key == "nullable" && w.is_null() {
                    continue;
                }
                assert_eq!(got[key], w, "{scenario}: {key} of {table}.{name}");
            }
        }
    }
}

#[test]
fn arrow_tables_load_as_dlts_arrow_normalizer_loads_them() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::arrow_tables_load_as_dlts_arrow_normalizer_loads_them",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let loaded = load(
        "typed_arrow",
        vec![table()],
        ArrowMode::Tables,
        NormalizeConfig::default(),
    );
    assert_matches_dlt(&loaded, "arrow");
}

#[test]
fn arrow_tables_get_dlt_columns_when_the_parquet_normalizer_says_so() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::arrow_tables_get_dlt_columns_when_the_parquet_normalizer_says_so",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let cfg = NormalizeConfig {
        add_dlt_load_id: true,
        add_dlt_id: true,
        ..NormalizeConfig::default()
    };
    let loaded = load("typed_arrow_ids", vec![table()], ArrowMode::Tables, cfg);
    assert_matches_dlt(&loaded, "arrow_ids");
}

#[test]
fn arrow_rows_load_as_dlts_dict_path_loads_them() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::arrow_rows_load_as_dlts_dict_path_loads_them",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let loaded = load(
        "typed_dicts",
        vec![table()],
        ArrowMode::Dicts,
        NormalizeConfig::default(),
    );
    assert_matches_dlt(&loaded, "dicts_hinted");
}

#[test]
fn batches_split_anywhere_load_the_same_rows() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::batches_split_anywhere_load_the_same_rows",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let t = table();
    let batches = vec![t.slice(0, 1), t.slice(1, 0), t.slice(1, 2)];
    let loaded = load(
        "typed_split",
        batches,
        ArrowMode::Dicts,
        NormalizeConfig::default(),
    );
    assert_matches_dlt(&loaded, "dicts_hinted");
}

#[test]
fn limit_cuts_the_batch() {
    if !crate::hermetic::in_isolated_process("typed_items::limit_cuts_the_batch") {
        return; // it ran and passed in a hermetic child
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("w.duckdb");
    let mut pipeline = Pipeline::builder("typed_limit")
        .dataset("typed")
        .duckdb(&db)
        .working_dir(tmp.path().join("pipe"))
        .limit(Some(2))
        .build()
        .unwrap();
    let r = ArrowResource::new(
        "items",
        vec![table(), table()].into_iter(),
        ArrowMode::Tables,
    );
    let info = pipeline
        .run(Source::new("typed_limit", vec![Box::new(r)]))
        .unwrap();
    assert_eq!(info.row_counts().get("items"), Some(&2));
    let conn = duckdb::Connection::open(&db).unwrap();
    let ids = strings(
        &conn,
        "SELECT CAST(id AS VARCHAR) FROM typed.items ORDER BY id",
        &[],
    );
    assert_eq!(ids, vec![vec![Some("1".into())], vec![Some("2".into())]]);
}

#[test]
fn decimals_beyond_double_precision_keep_every_digit() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::decimals_beyond_double_precision_keep_every_digit",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let values = Decimal128Array::from(vec![Some(12_345_678_901_234_567_890_123_456_789_i128)])
        .with_precision_and_scale(38, 9)
        .unwrap();
    let batch = RecordBatch::try_from_iter([("d", Arc::new(values) as ArrayRef)]).unwrap();
    for mode in [ArrowMode::Tables, ArrowMode::Dicts] {
        let loaded = load(
            "typed_decimal",
            vec![batch.clone()],
            mode,
            NormalizeConfig::default(),
        );
        let conn = duckdb::Connection::open(&loaded.db).unwrap();
        let got = strings(&conn, "SELECT CAST(d AS VARCHAR) FROM typed.items", &[]);
        assert_eq!(
            got,
            vec![vec![Some("12345678901234567890.123456789".into())]],
            "{mode:?}"
        );
        let c = &loaded.schema.table("items").unwrap().columns["d"];
        assert_eq!((c.precision, c.scale), (Some(38), Some(9)), "{mode:?}");
    }
}

#[test]
fn parquet_normalizer_keys_resolve_like_dlts() {
    use dango::config::{Env, Settings};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
    std::fs::write(
        dir.path().join(".dlt/config.toml"),
        "[normalize.parquet_normalizer]\nadd_dlt_load_id = true\n",
    )
    .unwrap();
    let s = Settings::with_env(
        dir.path(),
        Env::from_vars([("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")]),
        None,
    )
    .unwrap();
    let n = s.normalize().unwrap();
    assert!(n.add_dlt_load_id && n.add_dlt_id);
    let s = Settings::with_env(
        dir.path(),
        Env::from_vars([("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "maybe")]),
        None,
    )
    .unwrap();
    let err = s.normalize().unwrap_err().to_string();
    assert!(
        err.contains("add_dlt_id") && err.contains("true or false"),
        "{err}"
    );
}

/// dlt 1.31 on the same data (`pyarrow.table`, a second load with a new column `Extra` =
/// `[None, "x"]` for ids 2 and 3): `discard_row` keeps ids 1, 2 and no `extra` column,
/// `discard_value` keeps 1, 2, 3 without it, `freeze` fails naming the column.
#[test]
fn arrow_tables_follow_column_contracts_as_dlt_does() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::arrow_tables_follow_column_contracts_as_dlt_does",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let first =
        RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    let second = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef),
        (
            "Extra",
            Arc::new(StringArray::from(vec![None, Some("x")])) as ArrayRef,
        ),
    ])
    .unwrap();
    for (mode, ids) in [
        ("discard_row", Some(vec!["1", "2"])),
        ("discard_value", Some(vec!["1", "2", "3"])),
        ("freeze", None),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("w.duckdb");
        let mut pipeline = Pipeline::builder("typed_contract")
            .dataset("typed")
            .duckdb(&db)
            .working_dir(tmp.path().join("pipe"))
            .build()
            .unwrap();
        let run = |pipeline: &mut Pipeline, batch: &RecordBatch, contract: Option<&str>| {
            let mut r =
                ArrowResource::new("items", vec![batch.clone()].into_iter(), ArrowMode::Tables);
            if let Some(c) = contract {
                r = r.schema_contract(serde_json::json!({ "columns": c }));
            }
            pipeline.run(Source::new("typed_contract", vec![Box::new(r)]))
        };
        run(&mut pipeline, &first, None).unwrap();
        let second_run = run(&mut pipeline, &second, Some(mode));
        let conn = duckdb::Connection::open(&db).unwrap();
        let got = strings(
            &conn,
            "SELECT CAST(id AS VARCHAR) FROM typed.items ORDER BY id",
            &[],
        );
        let columns = strings(
            &conn,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'typed' \
             AND table_name = 'items' ORDER BY ordinal_position",
            &[],
        );
        assert_eq!(columns, vec![vec![Some("id".to_string())]], "{mode}");
        match ids {
            Some(ids) => {
                second_run.unwrap();
                let want: Vec<Vec<Option<String>>> =
                    ids.iter().map(|i| vec![Some(i.to_string())]).collect();
                assert_eq!(got, want, "{mode}");
            }
            None => {
                let err = second_run.unwrap_err().to_string();
                assert!(
                    err.contains(
                        "Column: `extra` . Contract on `columns` with `contract_mode=freeze` is violated"
                    ),
                    "{err}"
                );
                assert_eq!(got, vec![vec![Some("1".to_string())]]);
            }
        }
    }
}

#[test]
fn a_new_batch_schema_starts_a_new_job_and_both_load() {
    if !crate::hermetic::in_isolated_process(
        "typed_items::a_new_batch_schema_starts_a_new_job_and_both_load",
    ) {
        return; // it ran and passed in a hermetic child
    }
    let a = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
        .unwrap();
    // nullable fields, as pyarrow makes them by default (a NOT NULL `name` would reject the
    // first batch's rows, in dlt too)
    let b = RecordBatch::try_from_iter_with_nullable([
        ("id", Arc::new(Int64Array::from(vec![2])) as ArrayRef, true),
        (
            "name",
            Arc::new(StringArray::from(vec!["b"])) as ArrayRef,
            true,
        ),
    ])
    .unwrap();
    for mode in [ArrowMode::Tables, ArrowMode::Dicts] {
        let loaded = load(
            "typed_schemas",
            vec![a.clone(), b.clone()],
            mode,
            NormalizeConfig::default(),
        );
        let conn = duckdb::Connection::open(&loaded.db).unwrap();
        let got = strings(
            &conn,
            "SELECT CAST(id AS VARCHAR), name FROM typed.items ORDER BY id",
            &[],
        );
        assert_eq!(
            got,
            vec![
                vec![Some("1".into()), None],
                vec![Some("2".into()), Some("b".into())]
            ],
            "{mode:?}"
        );
    }
}

#[test]
fn extracted_job_formats_read_old_manifests() {
    use dango::storage::{ExtractedJob, JobFormat};
    let old = serde_json::json!({
        "file": "t.1.jsonl",
        "resource": "t",
        "origin": {"origin": "x", "same_lines": true},
        "items": 2
    });
    let job: ExtractedJob = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(job.format, JobFormat::Jsonl);
    assert_eq!(serde_json::to_value(&job).unwrap(), old);
    let arrow = ExtractedJob {
        format: JobFormat::Arrow(ArrowMode::Tables),
        ..job
    };
    let v = serde_json::to_value(&arrow).unwrap();
    assert_eq!(v["format"], serde_json::json!({"arrow": "tables"}));
    let back: ExtractedJob = serde_json::from_value(v).unwrap();
    assert_eq!(back.format, JobFormat::Arrow(ArrowMode::Tables));
}

#[test]
fn merged_arrow_items_replace_rows_by_key() {
    if !crate::hermetic::in_isolated_process("typed_items::merged_arrow_items_replace_rows_by_key")
    {
        return; // it ran and passed in a hermetic child
    }
    let batch = |ids: Vec<i64>, names: Vec<&str>| {
        RecordBatch::try_from_iter_with_nullable([
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef, true),
            ("name", Arc::new(StringArray::from(names)) as ArrayRef, true),
        ])
        .unwrap()
    };
    for mode in [ArrowMode::Tables, ArrowMode::Dicts] {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("w.duckdb");
        let mut pipeline = Pipeline::builder("typed_merge")
            .dataset("typed")
            .duckdb(&db)
            .working_dir(tmp.path().join("pipe"))
            .build()
            .unwrap();
        for b in [
            batch(vec![1, 2], vec!["a", "b"]),
            batch(vec![2, 3], vec!["B", "c"]),
        ] {
            let r = ArrowResource::new("items", vec![b].into_iter(), mode)
                .write_disposition(dango::schema::WriteDisposition::Merge)
                .primary_key(["id"]);
            pipeline
                .run(Source::new("typed_merge", vec![Box::new(r)]))
                .unwrap();
        }
        let conn = duckdb::Connection::open(&db).unwrap();
        let got = strings(
            &conn,
            "SELECT CAST(id AS VARCHAR), name FROM typed.items ORDER BY id",
            &[],
        );
        let want: Vec<Vec<Option<String>>> = [("1", "a"), ("2", "B"), ("3", "c")]
            .iter()
            .map(|(i, n)| vec![Some(i.to_string()), Some(n.to_string())])
            .collect();
        assert_eq!(got, want, "{mode:?}");
    }
}

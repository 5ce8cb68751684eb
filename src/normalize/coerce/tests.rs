use super::*;

/// Renders a scalar as `type:value` (doubles by bits, binary as hex) for comparison.
fn render(s: &Scalar<'_>) -> String {
    match s {
        Scalar::Text(s) => format!("text:{s}"),
        Scalar::Bigint(i) => format!("bigint:{i}"),
        Scalar::Double(f) => format!("double:{}", f.to_bits()),
        Scalar::Bool(b) => format!("bool:{b}"),
        Scalar::Timestamp(x) => format!("timestamp:{x}"),
        Scalar::Date(x) => format!("date:{x}"),
        Scalar::Time(x) => format!("time:{x}"),
        Scalar::Decimal(x) => format!("decimal:{x}"),
        Scalar::Wei(x) => format!("wei:{x}"),
        Scalar::Json(s) => format!("json:{s}"),
        Scalar::Binary(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("binary:{hex}")
        }
    }
}

/// (value as JSON, column type, expected `type:value` or `None` for a variant), generated with
/// dlt 1.31's `coerce_value(column_type, py_type_to_sc_type(type(v)), v)`; decimals/wei as
/// DuckDB stores them (scaled, rounded half away from zero); doubles as Python `repr`.
/// Deviations from dlt, where it produces values the load rejects, are `None` here:
/// `9223372036854775808`/`-9.3e18` → bigint, `1e29` → decimal, 10^38 → wei.
const CASES: &[(&str, DataType, Option<&str>)] = &[
    ("5", DataType::Text, Some("text:5")),
    (
        "-9223372036854775808",
        DataType::Text,
        Some("text:-9223372036854775808"),
    ),
    ("true", DataType::Text, Some("text:True")),
    ("false", DataType::Text, Some("text:False")),
    ("1.0", DataType::Text, Some("text:1.0")),
    ("1e20", DataType::Text, Some("text:1e+20")),
    ("1e16", DataType::Text, Some("text:1e+16")),
    ("1e15", DataType::Text, Some("text:1000000000000000.0")),
    ("-0.0", DataType::Text, Some("text:-0.0")),
    ("0.1", DataType::Text, Some("text:0.1")),
    ("1.5e-7", DataType::Text, Some("text:1.5e-07")),
    ("0.0001", DataType::Text, Some("text:0.0001")),
    ("0.00001", DataType::Text, Some("text:1e-05")),
    ("123456789.125", DataType::Text, Some("text:123456789.125")),
    (
        "18446744073709551616",
        DataType::Text,
        Some("text:18446744073709551616"),
    ),
    (
        "{\"a\":1,\"b\":[1.0,1e20,1e-6,\"\\u00e9\"],\"a\":3}",
        DataType::Text,
        Some("text:{\"a\":3,\"b\":[1.0,1e+20,1e-6,\"é\"]}"),
    ),
    ("[]", DataType::Text, Some("text:[]")),
    (
        "\"2024-01-01T10:00:00Z\"",
        DataType::Text,
        Some("text:2024-01-01T10:00:00Z"),
    ),
    ("\" 42 \"", DataType::Bigint, Some("bigint:42")),
    ("\"0x1F\"", DataType::Bigint, Some("bigint:31")),
    ("\"0x0x1f\"", DataType::Bigint, Some("bigint:31")),
    ("\"0X1F\"", DataType::Bigint, None),
    ("\"-0x5\"", DataType::Bigint, None),
    ("\"1_000\"", DataType::Bigint, Some("bigint:1000")),
    ("\"1__000\"", DataType::Bigint, None),
    ("\"٣٣\"", DataType::Bigint, Some("bigint:33")),
    ("\"1.0\"", DataType::Bigint, None),
    ("\"9223372036854775808\"", DataType::Bigint, None),
    (
        "\"0x7fffffffffffffff\"",
        DataType::Bigint,
        Some("bigint:9223372036854775807"),
    ),
    ("2.0", DataType::Bigint, Some("bigint:2")),
    ("2.5", DataType::Bigint, None),
    ("-9.3e18", DataType::Bigint, None),
    ("true", DataType::Bigint, None),
    ("9223372036854775808", DataType::Bigint, None),
    ("5", DataType::Double, Some("double:5.0")),
    (
        "9223372036854775807",
        DataType::Double,
        Some("double:9.223372036854776e+18"),
    ),
    ("\" 1.5 \"", DataType::Double, Some("double:1.5")),
    ("\"1e400\"", DataType::Double, Some("double:inf")),
    ("\"nan\"", DataType::Double, Some("double:nan")),
    ("\"0x10\"", DataType::Double, Some("double:16.0")),
    ("\"abc\"", DataType::Double, None),
    ("true", DataType::Double, None),
    (
        "18446744073709551616",
        DataType::Double,
        Some("double:1.8446744073709552e+19"),
    ),
    ("\"yes\"", DataType::Bool, Some("bool:true")),
    ("\"No\"", DataType::Bool, Some("bool:false")),
    ("\"T\"", DataType::Bool, Some("bool:true")),
    ("\"0\"", DataType::Bool, Some("bool:false")),
    ("\"maybe\"", DataType::Bool, None),
    ("\" true\"", DataType::Bool, None),
    ("0", DataType::Bool, Some("bool:false")),
    ("-3", DataType::Bool, Some("bool:true")),
    ("0.0", DataType::Bool, Some("bool:false")),
    ("0.5", DataType::Bool, Some("bool:true")),
    ("18446744073709551616", DataType::Bool, Some("bool:true")),
    (
        "\"2024-01-01T10:00:00+02:00\"",
        DataType::Timestamp,
        Some("timestamp:1704096000000000"),
    ),
    (
        "\"2024-01-01\"",
        DataType::Timestamp,
        Some("timestamp:1704067200000000"),
    ),
    (
        "\"1704103200\"",
        DataType::Timestamp,
        Some("timestamp:1704103200000000"),
    ),
    ("\"10:00:00\"", DataType::Timestamp, None),
    (
        "1704103200",
        DataType::Timestamp,
        Some("timestamp:1704103200000000"),
    ),
    (
        "1704103200.5",
        DataType::Timestamp,
        Some("timestamp:1704103200500000"),
    ),
    ("253402300800", DataType::Timestamp, None),
    ("true", DataType::Timestamp, None),
    ("\"2024-01-01\"", DataType::Date, Some("date:19723")),
    (
        "\"2024-01-01T01:00:00+02:00\"",
        DataType::Date,
        Some("date:19722"),
    ),
    ("\"20240101 1\"", DataType::Date, Some("date:19723")),
    ("1704103200", DataType::Date, Some("date:19723")),
    ("-1.5", DataType::Date, Some("date:-1")),
    ("\"nope\"", DataType::Date, None),
    ("\"10:00:00\"", DataType::Time, Some("time:36000000000")),
    (
        "\"10:00:00.5+02:00\"",
        DataType::Time,
        Some("time:28800500000"),
    ),
    ("\"T10:00\"", DataType::Time, Some("time:36000000000")),
    ("\"2024-01-01T10:00:00\"", DataType::Time, None),
    ("36000", DataType::Time, None),
    (
        "\"{\\\"a\\\":1,\\\"b\\\":2,\\\"a\\\":3}\"",
        DataType::Json,
        Some("json:{\"a\":3,\"b\":2}"),
    ),
    (
        "\" [1, 2.0, 1e20] \"",
        DataType::Json,
        Some("json:[1,2.0,1e+20]"),
    ),
    ("\"5\"", DataType::Json, Some("json:5")),
    ("\"\\\"s\\\"\"", DataType::Json, Some("json:\"s\"")),
    (
        "\"123456789012345678901234567890\"",
        DataType::Json,
        Some("json:1.2345678901234568e+29"),
    ),
    ("\"NaN\"", DataType::Json, None),
    ("\"{bad\"", DataType::Json, None),
    ("5", DataType::Json, None),
    (
        "{\"a\":[1,{\"b\":null}]}",
        DataType::Json,
        Some("json:{\"a\":[1,{\"b\":null}]}"),
    ),
    (
        "\"1.0000000005\"",
        DataType::Decimal,
        Some("decimal:1000000001"),
    ),
    (
        "\"-1.0000000005\"",
        DataType::Decimal,
        Some("decimal:-1000000001"),
    ),
    ("\"1e-10\"", DataType::Decimal, Some("decimal:0")),
    (
        "\"1_000.5\"",
        DataType::Decimal,
        Some("decimal:1000500000000"),
    ),
    ("\"0x10\"", DataType::Decimal, Some("decimal:16000000000")),
    ("\"Infinity\"", DataType::Decimal, None),
    (
        "\"99999999999999999999999999999.999999999\"",
        DataType::Decimal,
        Some("decimal:99999999999999999999999999999999999999"),
    ),
    ("\"1e29\"", DataType::Decimal, None),
    ("5", DataType::Decimal, Some("decimal:5000000000")),
    ("0.1", DataType::Decimal, Some("decimal:100000000")),
    (
        "1e20",
        DataType::Decimal,
        Some("decimal:100000000000000000000000000000"),
    ),
    ("true", DataType::Decimal, None),
    ("\"2.5\"", DataType::Wei, Some("wei:3")),
    ("\"-2.5\"", DataType::Wei, Some("wei:-3")),
    ("\"1e20\"", DataType::Wei, Some("wei:100000000000000000000")),
    (
        "18446744073709551616",
        DataType::Wei,
        Some("wei:18446744073709551616"),
    ),
    (
        "99999999999999999999999999999999999999",
        DataType::Wei,
        Some("wei:99999999999999999999999999999999999999"),
    ),
    (
        "100000000000000000000000000000000000000",
        DataType::Wei,
        None,
    ),
    ("1.5", DataType::Wei, Some("wei:2")),
    ("\"QUJD\"", DataType::Binary, Some("binary:414243")),
    ("\"QR==\"", DataType::Binary, Some("binary:41")),
    ("\"QQ\"", DataType::Binary, None),
    ("\"QUJD=\"", DataType::Binary, Some("binary:414243")),
    ("\"QU JD\"", DataType::Binary, None),
    ("\"0x0102 ff\"", DataType::Binary, Some("binary:0102ff")),
    ("\"0x0 1\"", DataType::Binary, None),
    ("\"\"", DataType::Binary, Some("binary:")),
    ("256", DataType::Binary, Some("binary:0001")),
    ("0", DataType::Binary, Some("binary:")),
    ("-1", DataType::Binary, None),
    (
        "18446744073709551616",
        DataType::Binary,
        Some("binary:000000000000000001"),
    ),
];

#[test]
fn coerces_like_dlt() {
    for &(json, t, expected) in CASES {
        let v = parse_json(json).expect("valid test JSON");
        let expected = expected.map(|e| match e.strip_prefix("double:") {
            Some(repr) => format!("double:{}", repr.parse::<f64>().expect("repr").to_bits()),
            None => e.to_string(),
        });
        assert_eq!(
            to_scalar(&v, t).as_ref().map(render),
            expected,
            "{json} -> {t}"
        );
    }
}

#[test]
fn identity_and_borrowing() {
    let text = r#"["x", 5, 1.5, true, null]"#;
    let Value::Array(items) = parse_json(text).expect("json") else {
        panic!("array expected")
    };
    assert!(matches!(
        to_scalar(&items[0], DataType::Text),
        Some(Scalar::Text(Cow::Borrowed("x")))
    ));
    assert_eq!(
        to_scalar(&items[1], DataType::Bigint),
        Some(Scalar::Bigint(5))
    );
    assert_eq!(
        to_scalar(&items[2], DataType::Double),
        Some(Scalar::Double(1.5))
    );
    assert_eq!(
        to_scalar(&items[3], DataType::Bool),
        Some(Scalar::Bool(true))
    );
    assert_eq!(to_scalar(&items[4], DataType::Text), None);
    assert_eq!(
        to_scalar(&Value::Int(7), DataType::Wei),
        Some(Scalar::Wei(7))
    );
    assert_eq!(
        to_scalar(&Value::Int(-7), DataType::Decimal),
        Some(Scalar::Decimal(-7_000_000_000))
    );
    assert_eq!(
        to_scalar(&Value::Float(f64::INFINITY), DataType::Decimal),
        None
    );
    assert_eq!(
        to_scalar(&Value::BigInt("junk".into()), DataType::Text),
        None
    );
}

#[test]
fn infers_types() {
    let cases = [
        ("\"x\"", Some(DataType::Text)),
        ("\"2024-01-01T10:00:00Z\"", Some(DataType::Timestamp)),
        ("\"2024-01-01\"", Some(DataType::Text)),
        ("\"1704103200\"", Some(DataType::Text)),
        ("5", Some(DataType::Bigint)),
        ("1.0", Some(DataType::Double)),
        ("true", Some(DataType::Bool)),
        ("null", None),
        ("{\"a\":1}", Some(DataType::Json)),
        ("[1]", Some(DataType::Json)),
        ("9223372036854775808", Some(DataType::Wei)),
        ("-9223372036854775809", Some(DataType::Wei)),
        (
            "99999999999999999999999999999999999999",
            Some(DataType::Wei),
        ),
        (
            "100000000000000000000000000000000000000",
            Some(DataType::Text),
        ),
    ];
    for (json, expected) in cases {
        let v = parse_json(json).expect("json");
        assert_eq!(infer_type(&v), expected, "{json}");
    }
    let big = parse_json("9223372036854775808").expect("json");
    assert_eq!(base_type(&big), Some(DataType::Bigint));
    assert_eq!(base_type(&Value::Null), None);
}

#[test]
fn compact_json() {
    let v = parse_json(r#"{"b": [1, 2.50, "\u00e9\n\u0001"], "a": {"x": null}, "b": 1e20}"#)
        .expect("json");
    assert_eq!(
        json_compact(&v).as_deref(),
        Some(r#"{"b":1e+20,"a":{"x":null}}"#)
    );
    let v = parse_json(r#"["\u00e9\n\u0001\"\\", 18446744073709551616]"#).expect("json");
    assert_eq!(
        json_compact(&v).as_deref(),
        Some("[\"\u{e9}\\n\\u0001\\\"\\\\\",18446744073709551616]")
    );
    assert_eq!(json_compact(&Value::Float(f64::NAN)), None);
}

#[test]
fn odd_inputs_do_not_panic() {
    let huge_hex = format!("0x{}", "f".repeat(100_000));
    let huge_dec = "9".repeat(5_000);
    let values = [
        Value::Str(Cow::Owned(huge_hex)),
        Value::Str(Cow::Owned(huge_dec.clone())),
        Value::BigInt(huge_dec.into()),
        Value::BigInt("-0".into()),
        Value::Str(Cow::Borrowed("0x")),
        Value::Str(Cow::Borrowed("0x-0")),
        Value::Str(Cow::Borrowed("1e999999999999999999")),
        Value::Str(Cow::Borrowed("\u{663}\u{e9}")),
        Value::Float(f64::MAX),
        Value::Float(f64::MIN_POSITIVE),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
    ];
    let types = [
        DataType::Text,
        DataType::Double,
        DataType::Bool,
        DataType::Timestamp,
        DataType::Bigint,
        DataType::Binary,
        DataType::Json,
        DataType::Decimal,
        DataType::Wei,
        DataType::Date,
        DataType::Time,
    ];
    for v in &values {
        let _ = infer_type(v);
        for t in types {
            let _ = to_scalar(v, t);
        }
    }
    assert_eq!(
        to_scalar(&values[0], DataType::Double),
        None,
        "hex beyond f64 overflows like float(int)"
    );
    assert_eq!(
        to_scalar(&values[5], DataType::Double),
        Some(Scalar::Double(0.0))
    );
}

/// The fast path of `YYYY-MM-DDTHH:MM:SSZ` answers as the general parser does, and leaves
/// every other text to it.
#[test]
fn utc_timestamp_fast_agrees_with_the_parser() {
    let mut texts: Vec<String> = [
        "1970-01-01T00:00:00Z",
        "2024-02-29T23:59:59Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-13-01T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",
        "2024-01-01t00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00+00:00",
        "2024-1-01T00:00:00Zx",
        "+024-01-01T00:00:00Z",
    ]
    .map(String::from)
    .to_vec();
    for _ in 0..20_000 {
        texts.push(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            rand::random_range(1..10_000),
            rand::random_range(0..14),
            rand::random_range(0..33),
            rand::random_range(0..25),
            rand::random_range(0..61),
            rand::random_range(0..61),
        ));
    }
    for t in &texts {
        if let Some(fast) = utc_timestamp_fast(t) {
            assert_eq!(Some(fast), parse_timestamp_any(t), "{t}");
        }
    }
    assert_eq!(utc_timestamp_fast("1970-01-01T00:00:01Z"), Some(1_000_000));
    assert_eq!(
        utc_timestamp_fast("2024-01-01T00:01:18Z"),
        Some(1_704_067_278_000_000)
    );
    assert_eq!(utc_timestamp_fast("2024-02-30T00:00:00Z"), None);
}

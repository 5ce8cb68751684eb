//! The parser against serde_json (with `arbitrary_precision`, through `Value`'s `Deserialize`):
//! the same value for every valid text, an error for every invalid one.

use std::borrow::Cow;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::*;
use crate::json::{split_array, split_object};

fn serde_parse(text: &str) -> Option<Value<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Value::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(v)
}

/// Floats compare by bits, so `-0.0` and `0.0` differ and NaN never appears.
fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn check(text: &str) {
    let ours = parse_json(text);
    let theirs = serde_parse(text);
    match (&ours, &theirs) {
        (Ok(a), Some(b)) => assert!(same(a, b), "{text:?}: {a:?} != {b:?}"),
        (Err(_), None) => {}
        _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
    }
    // the splitter validates exactly as the parser does
    let wrapped = format!("[{text}]");
    assert_eq!(
        split_array(&wrapped).is_some(),
        parse_json(&wrapped).is_ok(),
        "{wrapped:?}"
    );
}

#[test]
fn agrees_with_serde_json_on_chosen_texts() {
    let texts = [
        "0",
        "-0",
        "-0.0",
        "1",
        "-1",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "999999999999999999",
        "1000000000000000000",
        "18446744073709551615",
        "123456789012345678901234567890",
        "1.5",
        "0.1",
        "2.2250738585072011e-308",
        "1e400",
        "-1e400",
        "1e-400",
        "1E+2",
        "1e-2",
        "17976931348623157e292",
        "3.141592653589793238462643383279",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "1e+",
        "+1",
        "NaN",
        "Infinity",
        "-Infinity",
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "truex",
        "\"\"",
        "\"abc\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u4e2d\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ud83dx\"",
        "\"\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\x\"",
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "\"unterminated",
        "\"é 中 😀\"",
        "[]",
        "[ ]",
        "[1,2,3]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[",
        "]",
        "{}",
        "{ }",
        "{\"a\":1}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":}",
        "{\"b\":1,\"a\":2,\"b\":3}",
        "{\"k\\u0041\":[{\"x\":null,\"y\":[true,false]}],\"z\":{}}",
        " \t\r\n{\"a\" : [ 1 , 2.5e3 , \"x\" ] } \n",
        "{} {}",
        "1 2",
        "",
        "   ",
    ];
    for t in texts {
        check(t);
    }
}

#[test]
fn borrows_strings_without_escapes() {
    let v = parse_json(r#"{"key":"plain","esc":"a\nb"}"#).unwrap();
    let Value::Object(fields) = v else { panic!() };
    assert!(matches!(fields[0].0, Cow::Borrowed("key")));
    assert!(matches!(fields[0].1, Value::Str(Cow::Borrowed("plain"))));
    assert!(matches!(&fields[1].1, Value::Str(Cow::Owned(s)) if s == "a\nb"));
}

#[test]
fn depth_limit_is_an_error() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse_json(&ok).is_ok());
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let e = parse_json(&deep).unwrap_err();
    assert_eq!(e.message, "recursion limit exceeded");
    let hostile = "{\"a\":".repeat(100_000);
    assert!(parse_json(&hostile).is_err());
}

#[test]
fn errors_say_where() {
    let e = parse_json("{\"a\": 1,\n \"b\": x}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 7));
    assert_eq!(e.to_string(), "expected value at line 2 column 7");
}

fn random_value(rng: &mut StdRng, depth: u32, out: &mut String) {
    let pick = if depth > 3 {
        rng.random_range(0..6)
    } else {
        rng.random_range(0..8)
    };
    match pick {
        0 => out.push_str(["null", "true", "false"][rng.random_range(0..3)]),
        1 => out.push_str(&rng.random::<i64>().to_string()),
        2 => {
            let digits = rng.random_range(1..40);
            if rng.random_bool(0.5) {
                out.push('-');
            }
            out.push(char::from(b'1' + rng.random_range(0..9)));
            for _ in 1..digits {
                out.push(char::from(b'0' + rng.random_range(0..10)));
            }
        }
        3 => {
            let f: f64 = f64::from_bits(rng.random());
            if f.is_finite() {
                out.push_str(&format!("{f:?}"));
            } else {
                out.push_str(&format!("{}", rng.random::<f64>() * 1e6));
            }
        }
        4 => out.push_str(&format!(
            "{}.{}e{}",
            rng.random_range(0..1000),
            rng.random_range(0..100_000),
            rng.random_range(-330..330)
        )),
        5 => random_string(rng, out),
        6 => {
            out.push('[');
            for i in 0..rng.random_range(0..5) {
                if i > 0 {
                    out.push(',');
                }
                random_value(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.random_range(0..5) {
                if i > 0 {
                    out.push(',');
                }
                random_string(rng, out);
                out.push(':');
                random_value(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

fn random_string(rng: &mut StdRng, out: &mut String) {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        " ",
        "é",
        "中",
        "😀",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u0041",
        "\\u00e9",
        "\\ud83d\\ude00",
        "\\t",
        "_",
        "0",
    ];
    out.push('"');
    for _ in 0..rng.random_range(0..8) {
        out.push_str(PIECES[rng.random_range(0..PIECES.len())]);
    }
    out.push('"');
}

#[test]
fn agrees_with_serde_json_on_random_documents_and_mutations() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for _ in 0..3000 {
        let mut text = String::new();
        random_value(&mut rng, 0, &mut text);
        check(&text);
        // single-byte mutations exercise the error paths
        let bytes = text.as_bytes();
        for _ in 0..4 {
            let mut m = bytes.to_vec();
            let at = rng.random_range(0..m.len().max(1));
            match rng.random_range(0..3) {
                0 if !m.is_empty() => {
                    m.remove(at);
                }
                1 => m.insert(at, b"{}[],:\"\\0-e.x \t"[rng.random_range(0..15)]),
                _ if !m.is_empty() => m.truncate(at),
                _ => {}
            }
            if let Ok(s) = String::from_utf8(m) {
                check(&s);
            }
        }
    }
}

/// Whatever the full parser rejects, the splitter rejects too, and the other way round.
#[test]
fn accepts_exactly_what_the_parser_accepts() {
    let values = [
        "1",
        "-0",
        "01",
        "1.",
        "1e5",
        "-",
        "true",
        "tru",
        "nul",
        "null",
        "\"a\"",
        "\"a",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"a\u{1}\"",
        "[1,]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:2}",
        "{\"a\":[{\"b\":[]}]}",
        "NaN",
        "[",
        "{",
        "\"\\u12\"",
    ];
    for v in values {
        let in_array = format!("[{v}]");
        assert_eq!(
            split_array(&in_array).is_some(),
            parse_json(&in_array).is_ok(),
            "{in_array}"
        );
        let in_object = format!("{{\"k\": {v}}}");
        assert_eq!(
            split_object(&in_object, "k").is_some(),
            parse_json(&in_object).is_ok(),
            "{in_object}"
        );
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(split_array(&deep).is_none());
    assert!(split_object("{\"a\": 1} x", "a").is_none());
    assert!(split_object("[1]", "a").is_none());
}

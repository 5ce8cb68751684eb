//! orjson's compact `dumps`, as dlt writes JSON text and hashes it.
//!
//! dlt writes JSON with orjson: no spaces, non-ASCII characters unescaped, floats in orjson's
//! format ([`super::num::orjson_float`]). What it writes is a parsed Python value, so an object
//! is a `dict`: of duplicate keys the last value wins, at the first key's position. With
//! [`Keys::Sorted`] (orjson's `OPT_SORT_KEYS`, which dlt uses for row hashes, state version
//! hashes and dedup digests) every object's keys are sorted by their code points, recursively.
//!
//! One writer serves every JSON tree dango holds: normalize's [`Value`](crate::normalize::value::Value)
//! and `serde_json::Value` (which keeps numbers as their text: integers are written as Python
//! `int`s, the others as the `float` Python would parse).

use std::collections::HashSet;
use std::fmt::Write as _;

use super::num::write_orjson_float;

/// How the writer orders the keys of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Document order (orjson's default).
    AsGiven,
    /// Sorted by code point, recursively (`OPT_SORT_KEYS`).
    Sorted,
}

/// One JSON value as the writer sees it, children not yet visited.
pub enum Node<'a, T: JsonTree + 'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer of any size, as decimal digits with an optional sign.
    BigInt(&'a str),
    /// A float.
    Float(f64),
    /// A string.
    Str(&'a str),
    /// An array.
    Array(&'a [T]),
    /// An object's fields in document order (duplicate keys possible).
    Object(T::Fields<'a>),
}

/// A JSON tree the writer can walk.
pub trait JsonTree: Sized {
    /// The fields of an object, in document order.
    type Fields<'a>: Iterator<Item = (&'a str, &'a Self)> + Clone
    where
        Self: 'a;

    /// What this value is.
    fn node(&self) -> Node<'_, Self>;
}

/// `orjson.dumps(v)`: compact JSON of `v`, keys in document order.
pub fn dumps<T: JsonTree>(v: &T) -> String {
    let mut out = String::new();
    write(v, Keys::AsGiven, &mut out);
    out
}

/// `orjson.dumps(v, option=OPT_SORT_KEYS)`: compact JSON of `v`, keys sorted.
pub fn dumps_sorted<T: JsonTree>(v: &T) -> String {
    let mut out = String::new();
    write(v, Keys::Sorted, &mut out);
    out
}

/// Appends the compact JSON of `v` to `out`. Returns `false` if `v` holds a non-finite float,
/// which is written as `null` (orjson's output; dlt's own `json.loads` rejects the `NaN` and
/// `Infinity` Python would have written).
pub fn write<T: JsonTree>(v: &T, keys: Keys, out: &mut String) -> bool {
    match v.node() {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::BigInt(digits) => write_int_digits(digits, out),
        Node::Float(f) => {
            if !write_orjson_float(f, out) {
                out.push_str("null");
                return false;
            }
        }
        Node::Str(s) => write_str(s, out),
        Node::Array(items) => {
            out.push('[');
            let mut finite = true;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                finite &= write(item, keys, out);
            }
            out.push(']');
            return finite;
        }
        Node::Object(fields) => return write_object(fields, keys, out),
    }
    true
}

/// Appends an object made of `fields` (document order, duplicates allowed) to `out`, as
/// [`write`] does for an object value.
pub fn write_object<'a, T: JsonTree + 'a>(
    fields: impl Iterator<Item = (&'a str, &'a T)> + Clone,
    keys: Keys,
    out: &mut String,
) -> bool {
    match keys {
        Keys::Sorted => {
            let mut sorted: Vec<(&str, &T)> = fields.collect();
            // stable: of equal keys the last in document order is last here, and wins
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let mut kept = sorted.iter().enumerate().filter_map(|(i, field)| {
                let overwritten = sorted.get(i + 1).is_some_and(|next| next.0 == field.0);
                (!overwritten).then_some(*field)
            });
            write_fields(&mut kept, keys, out)
        }
        Keys::AsGiven if has_duplicate_keys(fields.clone()) => {
            // a dict: each key once, at its first position, with its last value
            let all: Vec<(&str, &T)> = fields.collect();
            let mut seen = HashSet::with_capacity(all.len());
            let mut kept = all
                .iter()
                .filter(|(key, _)| seen.insert(*key))
                .map(|(key, _)| {
                    let last = all.iter().rev().find(|(k, _)| k == key);
                    (*key, last.map_or(all[0].1, |(_, v)| *v))
                });
            write_fields(&mut kept, keys, out)
        }
        Keys::AsGiven => write_fields(&mut { fields }, keys, out),
    }
}

/// `{"k":v,...}` of fields already in order and unique.
fn write_fields<'a, T: JsonTree + 'a>(
    fields: &mut impl Iterator<Item = (&'a str, &'a T)>,
    keys: Keys,
    out: &mut String,
) -> bool {
    out.push('{');
    let mut finite = true;
    for (i, (key, value)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(key, out);
        out.push(':');
        finite &= write(value, keys, out);
    }
    out.push('}');
    finite
}

/// Whether a key occurs twice. Objects are small: pairwise up to 16 keys, hashed beyond.
fn has_duplicate_keys<'a, T: 'a>(
    mut fields: impl Iterator<Item = (&'a str, &'a T)> + Clone,
) -> bool {
    if fields.clone().nth(16).is_some() {
        let mut seen = HashSet::new();
        return fields.any(|(key, _)| !seen.insert(key));
    }
    while let Some((key, _)) = fields.next() {
        if fields.clone().any(|(k, _)| k == key) {
            return true;
        }
    }
    false
}

/// Appends a JSON string literal as orjson writes it: `"`, `\` and control characters escaped
/// (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`), everything else as it is.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so `i` is a char boundary
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a Python `int` given as decimal digits: sign kept, `+` and leading zeros dropped.
fn write_int_digits(digits: &str, out: &mut String) {
    let (neg, body) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, digits.strip_prefix('+').unwrap_or(digits)),
    };
    let magnitude = body.trim_start_matches('0');
    if magnitude.is_empty() {
        out.push('0');
        return;
    }
    if neg {
        out.push('-');
    }
    out.push_str(magnitude);
}

/// The fields of a `serde_json` object.
#[derive(Clone)]
pub struct SerdeFields<'a>(serde_json::map::Iter<'a>);

impl<'a> Iterator for SerdeFields<'a> {
    type Item = (&'a str, &'a serde_json::Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), v))
    }
}

impl JsonTree for serde_json::Value {
    type Fields<'a> = SerdeFields<'a>;

    fn node(&self) -> Node<'_, Self> {
        use serde_json::Value as J;
        match self {
            J::Null => Node::Null,
            J::Bool(b) => Node::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => {
                    // numbers are kept as their text (`arbitrary_precision`)
                    let text = n.as_str();
                    if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                        // as Python's `float()`: out of range is infinite
                        Node::Float(text.parse::<f64>().unwrap_or(f64::INFINITY))
                    } else {
                        Node::BigInt(text)
                    }
                }
            },
            J::String(s) => Node::Str(s),
            J::Array(items) => Node::Array(items),
            J::Object(fields) => Node::Object(SerdeFields(fields.iter())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn serde(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("valid test JSON")
    }

    #[test]
    fn writes_like_orjson() {
        // orjson.dumps(json.loads(text)) and with OPT_SORT_KEYS
        let cases = [
            (
                r#"{"b": [1, 2.50, "\u00e9\n\u0001\"\\"], "a": {"x": null, "c": true}}"#,
                "{\"b\":[1,2.5,\"\u{e9}\\n\\u0001\\\"\\\\\"],\"a\":{\"x\":null,\"c\":true}}",
                "{\"a\":{\"c\":true,\"x\":null},\"b\":[1,2.5,\"\u{e9}\\n\\u0001\\\"\\\\\"]}",
            ),
            (
                r#"[1e20, -0.0, 1E5, 0.00001, 1e-7, 18446744073709551616, -0, false]"#,
                "[1e+20,-0.0,100000.0,0.00001,1e-7,18446744073709551616,0,false]",
                "[1e+20,-0.0,100000.0,0.00001,1e-7,18446744073709551616,0,false]",
            ),
            (
                r#"{"\u0000\b\f\t\r\u001f": "", "": {}, "é": [], "z": "\u2028"}"#,
                "{\"\\u0000\\b\\f\\t\\r\\u001f\":\"\",\"\":{},\"\u{e9}\":[],\"z\":\"\u{2028}\"}",
                "{\"\":{},\"\\u0000\\b\\f\\t\\r\\u001f\":\"\",\"z\":\"\u{2028}\",\"\u{e9}\":[]}",
            ),
        ];
        for (text, plain, sorted) in cases {
            let v = serde(text);
            assert_eq!(dumps(&v), plain, "{text}");
            assert_eq!(dumps_sorted(&v), sorted, "{text}");
        }
    }

    #[test]
    fn non_finite_floats_are_null_and_reported() {
        let v = serde("[1e400, 1]");
        let mut out = String::new();
        assert!(!write(&v, Keys::AsGiven, &mut out));
        assert_eq!(out, "[null,1]");
        let mut out = String::new();
        assert!(write(&json!({"a": [1.5]}), Keys::Sorted, &mut out));
    }

    /// A tree with duplicate keys, which serde_json cannot hold.
    #[derive(Debug)]
    enum Dup {
        Int(i64),
        Obj(Vec<(String, Dup)>),
    }

    #[derive(Clone)]
    struct DupFields<'a>(std::slice::Iter<'a, (String, Dup)>);

    impl<'a> Iterator for DupFields<'a> {
        type Item = (&'a str, &'a Dup);
        fn next(&mut self) -> Option<Self::Item> {
            self.0.next().map(|(k, v)| (k.as_str(), v))
        }
    }

    impl JsonTree for Dup {
        type Fields<'a> = DupFields<'a>;
        fn node(&self) -> Node<'_, Self> {
            match self {
                Dup::Int(i) => Node::Int(*i),
                Dup::Obj(fields) => Node::Object(DupFields(fields.iter())),
            }
        }
    }

    #[test]
    fn duplicate_keys_collapse_like_a_dict() {
        let obj = |pairs: &[(&str, i64)]| {
            Dup::Obj(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), Dup::Int(*v)))
                    .collect(),
            )
        };
        // json.loads('{"b":1,"a":2,"b":3}') == {"b": 3, "a": 2}
        let v = obj(&[("b", 1), ("a", 2), ("b", 3)]);
        assert_eq!(dumps(&v), r#"{"b":3,"a":2}"#);
        assert_eq!(dumps_sorted(&v), r#"{"a":2,"b":3}"#);
        // beyond the pairwise check
        let many: Vec<(String, i64)> = (0..40).map(|i| (format!("k{}", i % 30), i)).collect();
        let refs: Vec<(&str, i64)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let v = obj(&refs);
        let plain = dumps(&v);
        assert!(plain.starts_with(r#"{"k0":30,"k1":31,"#), "{plain}");
        assert!(plain.ends_with(r#""k29":29}"#), "{plain}");
        assert_eq!(plain.matches(':').count(), 30);
        let sorted = dumps_sorted(&v);
        assert!(
            sorted.starts_with(r#"{"k0":30,"k1":31,"k10":10,"#),
            "{sorted}"
        );
        assert_eq!(sorted.matches(':').count(), 30);
        // no duplicates: document order kept
        assert_eq!(dumps(&obj(&[("b", 1), ("a", 2)])), r#"{"b":1,"a":2}"#);
    }
}

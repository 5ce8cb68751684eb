//! Parsed JSON items and typed cell values.
//!
//! [`Value`] is what extract hands to normalize: a JSON value that borrows its strings from the
//! input buffer where it can, keeps object keys in source order, and keeps integers that do not
//! fit `i64` exactly as their digits. [`Scalar`] is a value after type inference or coercion,
//! ready for a columnar builder.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::pycompat::json;

mod parse;

pub use parse::{MAX_DEPTH, ParseError, parse_json};

/// A JSON value as read from a source.
// A word-sized tag keeps the payload aligned, so moving a value copies whole words (with a
// byte tag, every move copied bytes 1..32 at odd offsets and stalled store forwarding).
#[derive(Debug, Clone, PartialEq)]
#[repr(u64)]
pub enum Value<'a> {
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer literal outside the `i64` range, kept as its decimal digits (with sign).
    BigInt(Box<str>),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, keys in source order (duplicates kept; the last one wins downstream).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    /// Converts to an owned value that borrows nothing.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::BigInt(s) => Value::BigInt(s),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Array(a) => Value::Array(a.into_iter().map(Value::into_owned).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Looks a key up in an object (the last occurrence wins, as in dlt).
    pub fn get(&self, key: &str) -> Option<&Value<'_>> {
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Writes the value as compact JSON, as orjson writes the parsed Python value (see
    /// [`crate::pycompat::json`]): no spaces, duplicate keys collapsed, non-finite floats as
    /// `null`.
    pub fn write_json(&self, out: &mut String) {
        json::write(self, json::Keys::AsGiven, out);
    }

    /// The value as compact JSON text.
    pub fn to_json_string(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    /// Converts to a `serde_json::Value` (owned).
    pub fn to_serde(&self) -> serde_json::Value {
        serde_json::from_str(&self.to_json_string()).unwrap_or(serde_json::Value::Null)
    }

    /// Converts from a `serde_json::Value`.
    pub fn from_serde(v: &serde_json::Value) -> Value<'static> {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => parse_number(&n.to_string()),
            serde_json::Value::String(s) => Value::Str(Cow::Owned(s.clone())),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_serde).collect()),
            serde_json::Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), Value::from_serde(v)))
                    .collect(),
            ),
        }
    }
}

/// The fields of an object [`Value`], for the JSON writer.
#[derive(Clone)]
pub struct Fields<'v, 'a>(std::slice::Iter<'v, (Cow<'a, str>, Value<'a>)>);

impl<'v, 'a> Iterator for Fields<'v, 'a> {
    type Item = (&'v str, &'v Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> json::JsonTree for Value<'a> {
    type Fields<'v>
        = Fields<'v, 'a>
    where
        Self: 'v;

    fn node(&self) -> json::Node<'_, Self> {
        match self {
            Value::Null => json::Node::Null,
            Value::Bool(b) => json::Node::Bool(*b),
            Value::Int(i) => json::Node::Int(*i),
            Value::BigInt(digits) => json::Node::BigInt(digits),
            Value::Float(f) => json::Node::Float(*f),
            Value::Str(s) => json::Node::Str(s),
            Value::Array(items) => json::Node::Array(items),
            Value::Object(fields) => json::Node::Object(Fields(fields.iter())),
        }
    }
}

/// Parses the text of a JSON number into a [`Value`]: `Int` when it is an integer in `i64`
/// range, `BigInt` for a larger integer literal, `Float` otherwise.
pub fn parse_number(s: &str) -> Value<'static> {
    let is_integer = !s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if is_integer {
        match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(s.into()),
        }
    } else {
        match s.parse::<f64>() {
            Ok(f) => Value::Float(f),
            Err(_) => Value::BigInt(s.into()),
        }
    }
}

/// serde_json's private key for numbers under `arbitrary_precision`.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(v.to_string().into()),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut fields: Vec<(Cow<'de, str>, Value<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if fields.is_empty() && key.0 == NUMBER_TOKEN {
                let digits: String = map.next_value()?;
                return Ok(parse_number(&digits));
            }
            let value: Value<'de> = map.next_value()?;
            fields.push((key.0, value));
        }
        Ok(Value::Object(fields))
    }
}

/// An object key that borrows from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A typed cell value, after inference or coercion into a column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `text`.
    Text(Cow<'a, str>),
    /// `bigint`.
    Bigint(i64),
    /// `double`.
    Double(f64),
    /// `bool`.
    Bool(bool),
    /// `timestamp`: microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// `date`: days since the Unix epoch.
    Date(i32),
    /// `time`: microseconds since midnight.
    Time(i64),
    /// `decimal`: the value scaled by 10^9 (dlt's default `DECIMAL(38,9)`).
    Decimal(i128),
    /// `wei`: an integer for `DECIMAL(38,0)`.
    Wei(i128),
    /// `json`: compact JSON text.
    Json(String),
    /// `binary`.
    Binary(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_exactly() {
        assert_eq!(parse_json("1").unwrap(), Value::Int(1));
        assert_eq!(
            parse_json("-9223372036854775808").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            parse_json("18446744073709551616").unwrap(),
            Value::BigInt("18446744073709551616".into())
        );
        assert_eq!(parse_json("1.0").unwrap(), Value::Float(1.0));
        assert_eq!(parse_json("1e3").unwrap(), Value::Float(1000.0));
    }

    #[test]
    fn keeps_key_order_and_borrows() {
        let text = r#"{"b":1,"a":"x","c":{"z":null}}"#;
        let v = parse_json(text).unwrap();
        let Value::Object(fields) = &v else { panic!() };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert!(matches!(&fields[1].1, Value::Str(Cow::Borrowed("x"))));
        assert_eq!(v.to_json_string(), text);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_json(&deep).is_err());
    }

    #[test]
    fn nan_is_rejected() {
        assert!(parse_json("NaN").is_err());
        assert!(parse_json("[Infinity]").is_err());
    }
}

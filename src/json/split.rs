//! Validating without building: the fields of a top-level object and the items of an array as
//! the text slices they are, each checked to be valid JSON (the same grammar as normalize's
//! [`parse_json`](crate::normalize::value::parse_json)) but never turned into values. The REST
//! source splits a page into its items this way and writes them as sent.

use std::borrow::Cow;

use super::Scanner;

/// A JSON object split into its fields: each key with the text of its value (surrounding
/// whitespace excluded), in document order, duplicates kept. The value of `items_key`, if it
/// is an array, also comes split into its items (of duplicate keys the last one counts).
pub struct SplitObject<'a> {
    /// Every field, `items_key` included.
    pub fields: Vec<(Cow<'a, str>, &'a str)>,
    /// The items of the `items_key` array.
    pub items: Option<Vec<&'a str>>,
}

/// Splits a JSON object (see [`SplitObject`]); `None` if `text` is not a valid JSON object.
/// Each value is validated once, never built.
pub fn split_object<'a>(text: &'a str, items_key: &str) -> Option<SplitObject<'a>> {
    let mut p = Scanner::new(text);
    p.skip_ws();
    if p.peek() != Some(b'{') {
        return None;
    }
    let mut out = SplitObject {
        fields: Vec::new(),
        items: None,
    };
    p.walk_object(|p, key| {
        let start = p.pos;
        if key == items_key {
            // of duplicate keys the last one counts, as in a parsed object
            out.items = match p.peek() {
                Some(b'[') => Some(p.array_items()?),
                _ => p.skip_value().map(|()| None)?,
            };
        } else {
            p.skip_value()?;
        }
        out.fields.push((key, &text[start..p.pos]));
        Some(())
    })?;
    p.skip_ws();
    (p.pos == p.bytes.len()).then_some(out)
}

/// The items of a JSON array as their texts. `None` if `text` is not a valid JSON array.
pub fn split_array(text: &str) -> Option<Vec<&str>> {
    let mut p = Scanner::new(text);
    p.skip_ws();
    if p.peek() != Some(b'[') {
        return None;
    }
    let items = p.array_items()?;
    p.skip_ws();
    (p.pos == p.bytes.len()).then_some(items)
}

impl<'a> Scanner<'a> {
    /// The items of the array at the current position, validated, as text slices.
    fn array_items(&mut self) -> Option<Vec<&'a str>> {
        let mut items = Vec::new();
        self.walk_array(|p| {
            let start = p.pos;
            p.skip_value()?;
            items.push(&p.text[start..p.pos]);
            Some(())
        })?;
        Some(items)
    }

    /// Moves past one valid JSON value without building it.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                // Builds only strings with escapes, which are rare.
                self.string().map(drop)
            }
            Some(b'{') => self.walk_object(|p, _| p.skip_value()),
            Some(b'[') => self.walk_array(Scanner::skip_value),
            Some(b'-' | b'0'..=b'9') => self.scan_number().map(drop),
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    /// Walks the object at the current position (`{`): `value` reads each field's value
    /// after its key.
    fn walk_object(
        &mut self,
        mut value: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return self.fail("key must be a string");
            }
            self.pos += 1;
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.fail("expected `:`");
            }
            self.pos += 1;
            self.skip_ws();
            value(self, key)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return self.fail("expected `,` or `}`"),
            }
        }
    }

    /// Walks the array at the current position (`[`): `item` reads each item.
    fn walk_array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            item(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return self.fail("expected `,` or `]`"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_items_as_sent() {
        let text = r#" {"data": [ {"id":1,"x":1.50} , {"id":2,"s":"a\nb"} ], "next" : "/p?page=2", "n\u0041": null } "#;
        let split = split_object(text, "data").unwrap();
        let keys: Vec<&str> = split.fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["data", "next", "nA"]);
        assert_eq!(split.fields[1].1, r#""/p?page=2""#);
        assert_eq!(split.fields[2].1, "null");
        let items = split.items.unwrap();
        assert_eq!(items, [r#"{"id":1,"x":1.50}"#, r#"{"id":2,"s":"a\nb"}"#]);
        assert_eq!(split_array(split.fields[0].1).unwrap(), items);
        assert_eq!(split_array(" [ ] "), Some(vec![]));
        assert!(split_object("{}", "data").unwrap().fields.is_empty());
        assert!(
            split_object(r#"{"data": 1}"#, "data")
                .unwrap()
                .items
                .is_none()
        );
        let dup = split_object(r#"{"data": [1], "data": null}"#, "data").unwrap();
        assert!(dup.items.is_none());
        let dup = split_object(r#"{"data": null, "data": [{}]}"#, "data").unwrap();
        assert_eq!(dup.items.unwrap(), ["{}"]);
    }
}

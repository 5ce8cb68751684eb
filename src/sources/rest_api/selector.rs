//! JSONPath helpers: dlt-style paths (`data`, `cursors.next`, `$.items[*]`) and the
//! auto-detection of `data_selector` on the first response.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::error::{Error, Result};

/// A compiled path. Plain dotted paths (`a.b.c`) are walked directly (fast, and items can be
/// moved out of the page); anything else goes through `serde_json_path`.
#[derive(Debug, Clone)]
pub enum Path {
    /// The whole document (`$`).
    Root,
    /// Object keys walked in order.
    Keys(Vec<String>),
    /// A general JSONPath expression.
    Json(Box<JsonPath>, String),
}

/// Keys under which dlt looks for the data list first.
const DATA_KEYS: &[&str] = &[
    "data", "items", "results", "entries", "records", "rows", "entities", "payload", "content",
    "objects", "values",
];
/// Keys whose lists are never data.
const NON_DATA_KEYS: &[&str] = &[
    "meta",
    "metadata",
    "pagination",
    "links",
    "extras",
    "headers",
];

impl Path {
    /// Parses a dlt path: `$`, `$.a.b`, `a.b`, `$.items[*].id`, `$['a-b']`.
    pub fn parse(text: &str) -> Result<Path> {
        let t = text.trim();
        if t.is_empty() || t == "$" {
            return Ok(Path::Root);
        }
        let plain = t.strip_prefix("$.").unwrap_or(t);
        let is_plain = !plain.starts_with('$')
            && plain.split('.').all(|seg| {
                !seg.is_empty() && !seg.contains(['[', ']', '*', '(', ')', '?', '@', '\'', '"'])
            });
        if is_plain {
            return Ok(Path::Keys(plain.split('.').map(str::to_string).collect()));
        }
        let expr = if t.starts_with('$') {
            t.to_string()
        } else {
            format!("$.{t}")
        };
        JsonPath::parse(&expr)
            .map(|p| Path::Json(Box::new(p), t.to_string()))
            .map_err(|e| Error::Config(format!("`{text}` is not a valid JSONPath: {e}")))
    }

    /// The first value the path finds in `doc`.
    pub fn first<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        match self {
            Path::Root => Some(doc),
            Path::Keys(keys) => {
                let mut cur = doc;
                for k in keys {
                    cur = match cur {
                        Value::Object(m) => m.get(k)?,
                        Value::Array(a) => a.get(k.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Some(cur)
            }
            Path::Json(p, _) => p.query(doc).first(),
        }
    }

    /// All values the path finds in `doc`.
    pub fn all<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        match self {
            Path::Json(p, _) => p.query(doc).all(),
            other => other.first(doc).into_iter().collect(),
        }
    }

    /// The page's items as dlt selects them: a single match is unwrapped, `null` is no items,
    /// and a non-list is one item. Takes values out of `doc` where it can.
    pub fn take_items(&self, doc: &mut Value) -> Vec<Value> {
        let found: Value = match self {
            Path::Root => doc.take(),
            Path::Keys(keys) => {
                let mut cur = &mut *doc;
                for k in keys {
                    let next = match cur {
                        Value::Object(m) => m.get_mut(k),
                        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                        _ => None,
                    };
                    match next {
                        Some(n) => cur = n,
                        None => return Vec::new(),
                    }
                }
                cur.take()
            }
            Path::Json(p, _) => {
                let all = p.query(doc).all();
                match all.len() {
                    0 => Value::Null,
                    1 => all[0].clone(),
                    _ => Value::Array(all.into_iter().cloned().collect()),
                }
            }
        };
        match found {
            Value::Null => Vec::new(),
            Value::Array(a) => a,
            other => vec![other],
        }
    }

    /// The path as text (for logs and messages).
    pub fn text(&self) -> String {
        match self {
            Path::Root => "$".into(),
            Path::Keys(k) => k.join("."),
            Path::Json(_, t) => t.clone(),
        }
    }
}

/// dlt's `data_selector` auto-detection on the first response: the first list (depth-first,
/// at most 3 key levels) under a well-known data key, else the first list, else `$`.
pub fn detect_data_selector(doc: &Value) -> Path {
    let Value::Object(_) = doc else {
        return Path::Root;
    };
    let mut lists: Vec<Vec<String>> = Vec::new();
    collect_lists(doc, &mut Vec::new(), &mut lists, 0);
    let preferred = lists.iter().find(|p| {
        let last = p.last().map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        DATA_KEYS.contains(&last.as_str())
            && !p
                .iter()
                .any(|k| NON_DATA_KEYS.contains(&k.to_ascii_lowercase().as_str()))
    });
    match preferred.or(lists.first()) {
        Some(p) => Path::Keys(p.clone()),
        None => Path::Root,
    }
}

fn collect_lists(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>, depth: usize) {
    let Value::Object(m) = v else { return };
    if depth >= 3 {
        return;
    }
    for (k, child) in m {
        path.push(k.clone());
        match child {
            Value::Array(_) => out.push(path.clone()),
            Value::Object(_) => collect_lists(child, path, out, depth + 1),
            _ => {}
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_plain_and_jsonpath() {
        let doc = json!({"a": {"b-c": [1, 2]}, "cursors": {"next": "x"}});
        assert_eq!(
            Path::parse("cursors.next").unwrap().first(&doc),
            Some(&json!("x"))
        );
        assert_eq!(
            Path::parse("$.cursors.next").unwrap().first(&doc),
            Some(&json!("x"))
        );
        assert_eq!(
            Path::parse("a.b-c").unwrap().first(&doc),
            Some(&json!([1, 2]))
        );
        assert_eq!(
            Path::parse("$['a']['b-c'][1]").unwrap().first(&doc),
            Some(&json!(2))
        );
        assert!(Path::parse("$[").is_err());
    }

    #[test]
    fn takes_items_like_dlt() {
        let mut d = json!({"data": [{"id": 1}, {"id": 2}]});
        assert_eq!(Path::parse("data").unwrap().take_items(&mut d).len(), 2);
        let mut d = json!({"data": null});
        assert!(Path::parse("data").unwrap().take_items(&mut d).is_empty());
        let mut d = json!({"id": 1});
        assert_eq!(Path::Root.take_items(&mut d), vec![json!({"id": 1})]);
        let mut d = json!({"a": [{"id": 1}, {"id": 2}]});
        assert_eq!(
            Path::parse("$.a[*].id").unwrap().take_items(&mut d),
            vec![json!(1), json!(2)]
        );
    }

    #[test]
    fn detects_selector() {
        let d = json!({"meta": {"items": [1]}, "page": {"results": [1]}, "x": [1]});
        assert_eq!(detect_data_selector(&d).text(), "page.results");
        let d = json!({"total": 3, "things": [1]});
        assert_eq!(detect_data_selector(&d).text(), "things");
        assert_eq!(detect_data_selector(&json!([1, 2])).text(), "$");
        assert_eq!(detect_data_selector(&json!({"id": 1})).text(), "$");
    }
}

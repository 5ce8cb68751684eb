//! The fast path of a page: items are written to the package as the bytes the API sent,
//! without building a `serde_json::Value` per item and serializing it again.
//!
//! It applies when the data selector is one top-level key and the paginator reads nothing
//! under that key (json_link, header_link, header_cursor, single_page), and the resource
//! writes its items as they are (no children, incremental filter or parent fields). The body
//! is split into its top-level fields; the data list is read as raw items, and every other
//! field is parsed into the skeleton the paginator reads. Anything unusual (the data is not
//! a list of objects, the body is not an object) falls back to the general path.

use serde_json::Value;

use super::Node;
use super::paginators::Paginator;
use super::selector::Path;

use crate::extract::ItemWriter;
use crate::json::split_object;

/// A page split into the paginator's view and the raw items.
pub(crate) struct RawPage<'a> {
    /// The body without the data list (its key holds an empty list).
    pub(crate) skeleton: Value,
    /// The items, as sent.
    pub(crate) items: Vec<&'a str>,
}

/// The data key if the fast path applies to `node` with this selector and paginator.
pub(crate) fn eligible<'s>(
    node: &Node,
    selector: Option<&'s Path>,
    paginator: Option<&Paginator>,
) -> Option<&'s str> {
    if !node.selected
        || !node.children.is_empty()
        || node.incremental.is_some()
        || !node.include_from_parent.is_empty()
    {
        return None;
    }
    let Some(Path::Keys(keys)) = selector else {
        return None;
    };
    let [key] = keys.as_slice() else {
        return None;
    };
    let ok = match paginator? {
        Paginator::Single | Paginator::HeaderLink { .. } | Paginator::HeaderCursor { .. } => true,
        Paginator::JsonLink { path, .. } => match path {
            Path::Keys(p) => p.first() != Some(key),
            _ => false,
        },
        Paginator::Range(_) | Paginator::Cursor { .. } => false,
    };
    ok.then_some(key.as_str())
}

/// Splits `body` at the data `key`; `None` if the page does not have the expected shape or is
/// not valid JSON (the general path then reports it). Every item is checked to be valid JSON
/// but not built: it is written as sent.
pub(crate) fn split<'a>(body: &'a [u8], key: &str) -> Option<RawPage<'a>> {
    let text = std::str::from_utf8(body).ok()?;
    let split = split_object(text, key)?;
    let items = split.items?;
    let mut skeleton = serde_json::Map::new();
    for (k, raw) in split.fields {
        let v = if k == key {
            Value::Array(Vec::new())
        } else {
            serde_json::from_str(raw).ok()?
        };
        skeleton.insert(k.into_owned(), v);
    }
    items.iter().all(|i| i.starts_with('{')).then_some(RawPage {
        skeleton: Value::Object(skeleton),
        items,
    })
}

/// Writes the raw items (compacted first if an item spans lines).
pub(crate) fn write(out: &mut ItemWriter<'_>, items: &[&str]) -> crate::error::Result<()> {
    for text in items {
        if text.as_bytes().contains(&b'\n') {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
            out.write_item(&v)?;
        } else {
            out.write_raw(text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_page_and_keeps_item_bytes() {
        let body = br#"{"data":[{"id":1,"x":1.50},{"id":2,"s":"a\nb"}],"next":"/p?page=2"}"#;
        let page = split(body, "data").unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0], r#"{"id":1,"x":1.50}"#);
        assert_eq!(
            page.skeleton,
            serde_json::json!({"data": [], "next": "/p?page=2"})
        );
        assert!(split(br#"{"data":[1,2]}"#, "data").is_none());
        assert!(split(br#"[{"id":1}]"#, "data").is_none());
        assert!(split(br#"{"other":[]}"#, "data").is_none());
    }
}

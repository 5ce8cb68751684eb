//! JSON scanning shared by the sources and normalize.
//!
//! `Scanner` is the low-level reader: whitespace, strings (escapes decoded, strings without
//! escapes borrowed), the number grammar, literals and the nesting limit, with errors that say
//! where the text is wrong. It accepts exactly RFC 8259 JSON, as serde_json does: no
//! `NaN`/`Infinity`, no control characters inside strings, no lone surrogates.
//!
//! Two readers are built on it: normalize's value parser
//! ([`crate::normalize::value::parse_json`]), and the validating splitter in [`split`]
//! ([`split_object`], [`split_array`]), which checks text without building values; the REST
//! source splits a page into its items with it and writes them as sent.

mod scan;
pub mod split;

pub(crate) use scan::Scanner;
pub use scan::{MAX_DEPTH, ParseError};
pub use split::{SplitObject, split_array, split_object};

//! dlt's `snake_case` naming convention (case-insensitive, `snake_case_ci_65536` on DuckDB).
//!
//! Ports `dlt/common/normalizers/naming/snake_case.py` and the path helpers of `naming.py`,
//! including the Python details that matter for byte-compatible names: `str.strip()` uses
//! Python's Unicode whitespace, and the regex class `[^a-zA-Z\d_]` keeps Unicode decimal digits
//! (`\d` is Unicode in Python) while dropping every other non-ASCII character. The Unicode
//! tables behind both are in [`crate::pycompat::unicode`].

use std::collections::HashMap;

use base64::Engine as _;

use crate::pycompat::unicode::{decimal_digit, is_py_space, py_strip};

/// Separator of nested path components in column and table names.
pub const PATH_SEPARATOR: &str = "__";

/// Name given to a row key that is empty or only whitespace (`EMPTY_KEY_IDENTIFIER`).
pub const EMPTY_KEY: &str = "_empty";

/// The naming convention's `max_length` when no destination sets one: DuckDB's maximum
/// identifier length (the default destination's). Normalize uses the destination's
/// [`crate::destinations::Capabilities::max_identifier_length`] through [`Naming`].
pub const MAX_IDENTIFIER_LENGTH: usize = 65536;

/// dlt's `snake_case` naming convention with a destination's identifier limit (dlt creates the
/// convention with `max_length = capabilities.max_identifier_length`): names longer than the
/// limit are shortened with dlt's hash tag ([`shorten_identifier`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Naming {
    max_length: usize,
}

impl Default for Naming {
    fn default() -> Naming {
        Naming::new(MAX_IDENTIFIER_LENGTH)
    }
}

impl Naming {
    /// The convention with identifiers of at most `max_length` characters.
    pub const fn new(max_length: usize) -> Naming {
        Naming { max_length }
    }

    /// The convention of a destination.
    pub fn for_destination(caps: &crate::destinations::Capabilities) -> Naming {
        Naming::new(caps.max_identifier_length)
    }

    /// The identifier limit.
    pub fn max_length(self) -> usize {
        self.max_length
    }

    /// [`normalize_identifier`] with this limit.
    pub fn normalize_identifier(self, s: &str) -> String {
        let stripped = py_strip(s);
        if stripped.is_empty() {
            return EMPTY_KEY.to_string();
        }
        shorten_identifier(&snake_identifier(stripped), stripped, self.max_length)
    }

    /// [`normalize_table_identifier`] with this limit.
    pub fn normalize_table_identifier(self, s: &str) -> String {
        self.normalize_identifier(s)
    }

    /// Splits on `__`, drops blank parts, normalizes each part, re-joins and shortens.
    fn normalize_path_parts(self, s: &str) -> String {
        let parts: Vec<String> = s
            .split(PATH_SEPARATOR)
            .filter(|p| !py_strip(p).is_empty())
            .map(|p| self.normalize_identifier(p))
            .collect();
        let joined = parts.join(PATH_SEPARATOR);
        shorten_identifier(&joined, s, self.max_length)
    }

    /// [`normalize_path`] with this limit.
    pub fn normalize_path(self, s: &str) -> String {
        self.normalize_path_parts(s)
    }

    /// [`normalize_tables_path`] with this limit.
    pub fn normalize_tables_path(self, s: &str) -> String {
        self.normalize_path_parts(s)
    }

    /// [`normalize_key`] with this limit.
    pub fn normalize_key(self, key: &str) -> String {
        if key.chars().all(is_py_space) {
            EMPTY_KEY.to_string()
        } else {
            self.normalize_path(key)
        }
    }

    /// [`shorten_fragments`] with this limit.
    pub fn shorten_fragments(self, parts: &[&str]) -> String {
        let path = make_path(parts);
        shorten_identifier(&path, &path, self.max_length)
    }
}

/// Length in bytes of the shake_128 digest used for the shortening tag (0.001 collision odds).
const TAG_BYTES: usize = 4;

/// Normalizes one identifier with dlt's `snake_case` rules (`NamingConvention.normalize_identifier`).
///
/// Steps: strip; translate `+-*@|` to `x_xal`; replace each run of characters outside
/// `[a-zA-Z\d_]` with `_`; break camel case; lowercase; prefix `_` to a leading digit; turn
/// trailing `_` into `x`; collapse `__+` into `_`; shorten beyond [`MAX_IDENTIFIER_LENGTH`].
///
/// dlt raises `ValueError` for an empty or all-whitespace input; this returns [`EMPTY_KEY`]
/// instead, which is what dlt's relational normalizer puts in place of such a row key.
pub fn normalize_identifier(s: &str) -> String {
    Naming::default().normalize_identifier(s)
}

/// The snake_case form of a stripped, non-empty identifier, before shortening.
fn snake_identifier(stripped: &str) -> String {
    // translate + replace runs of non-alphanumerics with a single `_`
    let mut chars: Vec<char> = Vec::with_capacity(stripped.len());
    let mut in_run = false;
    for c in stripped.chars() {
        let c = match c {
            '+' | '*' => 'x',
            '-' => '_',
            '@' => 'a',
            '|' => 'l',
            c => c,
        };
        if c.is_ascii_alphanumeric() || c == '_' || decimal_digit(c).is_some() {
            chars.push(c);
            in_run = false;
        } else if !in_run {
            chars.push('_');
            in_run = true;
        }
    }
    to_snake_case(&chars)
}

/// `_to_snake_case` on an already reduced alphabet (ASCII letters, Unicode digits, `_`).
fn to_snake_case(chars: &[char]) -> String {
    // `([^_])([A-Z][a-z]+)` -> `\1_\2`, scanning left to right without overlaps
    let mut b1: Vec<char> = Vec::with_capacity(chars.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let upper_next = chars.get(i + 1).is_some_and(char::is_ascii_uppercase);
        let lower_after = chars.get(i + 2).is_some_and(char::is_ascii_lowercase);
        if c != '_' && upper_next && lower_after {
            let mut end = i + 3;
            while chars.get(end).is_some_and(char::is_ascii_lowercase) {
                end += 1;
            }
            b1.push(c);
            b1.push('_');
            b1.extend_from_slice(&chars[i + 1..end]);
            i = end;
        } else {
            b1.push(c);
            i += 1;
        }
    }
    // `([a-z0-9])([A-Z])` -> `\1_\2`, then lower()
    let mut b2 = String::with_capacity(b1.len() + 8);
    let mut i = 0;
    while i < b1.len() {
        let c = b1[i];
        let is_low_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        if is_low_or_digit && b1.get(i + 1).is_some_and(char::is_ascii_uppercase) {
            b2.push(c);
            b2.push('_');
            b2.push(b1[i + 1].to_ascii_lowercase());
            i += 2;
        } else {
            b2.push(c.to_ascii_lowercase());
            i += 1;
        }
    }
    // leading digits (`^\d+`, Unicode) are prefixed with `_`
    let mut ident = String::with_capacity(b2.len() + 2);
    if b2.chars().next().and_then(decimal_digit).is_some() {
        ident.push('_');
    }
    // trailing `_` become `x`
    let trimmed = b2.trim_end_matches('_');
    let trailing = b2.len() - trimmed.len();
    ident.push_str(trimmed);
    ident.extend(std::iter::repeat_n('x', trailing));
    // collapse `__+` into `_`
    let mut out = String::with_capacity(ident.len());
    let mut prev_underscore = false;
    for c in ident.chars() {
        if c == '_' {
            if !prev_underscore {
                out.push(c);
            }
            prev_underscore = true;
        } else {
            out.push(c);
            prev_underscore = false;
        }
    }
    out
}

/// Normalizes a table, dataset or schema name; the same as [`normalize_identifier`] in `snake_case`.
pub fn normalize_table_identifier(s: &str) -> String {
    normalize_identifier(s)
}

/// Normalizes a path of identifiers (`NamingConvention.normalize_path`), used for row keys.
///
/// `a__B` → `a__b`, `__dunder` → `dunder`, `x__` → `x`. A path with no non-blank part (e.g.
/// `__`) gives the empty string, as in dlt.
pub fn normalize_path(s: &str) -> String {
    Naming::default().normalize_path(s)
}

/// Normalizes a path of table identifiers (`NamingConvention.normalize_tables_path`), used for
/// table names: `Orders.Items V2` → `orders_items_v2`.
pub fn normalize_tables_path(s: &str) -> String {
    Naming::default().normalize_tables_path(s)
}

/// Normalizes a key of a data item into a column name, as dlt's relational normalizer does:
/// [`EMPTY_KEY`] for an empty or all-whitespace key, else [`normalize_path`].
///
/// A key made only of `__` separators and blanks (`"__"`, `" __ "`) gives the empty string;
/// dlt then fails the load on the empty column name, so callers should reject or rename it.
pub fn normalize_key(key: &str) -> String {
    Naming::default().normalize_key(key)
}

/// Joins identifiers with `__`, skipping blank ones; neither normalizes nor shortens (`make_path`).
pub fn make_path(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts.iter().filter(|p| !py_strip(p).is_empty()) {
        if !out.is_empty() {
            out.push_str(PATH_SEPARATOR);
        }
        out.push_str(part);
    }
    out
}

/// Joins already normalized identifiers with `__` and shortens the result, hashing the joined
/// path (`NamingConvention.shorten_fragments`). Used for flattened columns, nested tables and
/// variant columns.
pub fn shorten_fragments(parts: &[&str]) -> String {
    Naming::default().shorten_fragments(parts)
}

/// Shortens `normalized` to `max_len` characters if it is longer (`NamingConvention.shorten_identifier`).
///
/// The middle is replaced by a 6-character tag: base64 of the 4-byte shake_128 digest of
/// `original` (the un-normalized identifier), `=` stripped, `/`→`a`, `+`→`b`, lowercased. The
/// result keeps `ceil(r/2)` leading and `floor(r/2)` trailing characters, `r = max_len - 6`.
/// `max_len == 0` disables shortening. A `max_len` below the tag length (where dlt asserts)
/// returns the start of the tag.
pub fn shorten_identifier(normalized: &str, original: &str, max_len: usize) -> String {
    if max_len == 0 {
        return normalized.to_string();
    }
    let len = normalized.chars().count();
    if len <= max_len {
        return normalized.to_string();
    }
    let tag = compute_tag(original);
    let tag_len = tag.chars().count();
    if max_len < tag_len {
        return tag.chars().take(max_len).collect();
    }
    let remaining = max_len - tag_len;
    let head = remaining / 2 + remaining % 2;
    let tail = remaining / 2;
    let mut out = String::with_capacity(max_len * 4);
    out.extend(normalized.chars().take(head));
    out.push_str(&tag);
    out.extend(normalized.chars().skip(len - tail));
    out
}

/// The shortening tag of an identifier.
fn compute_tag(identifier: &str) -> String {
    let mut digest = [0u8; TAG_BYTES];
    crate::pycompat::hash::shake128(identifier.as_bytes(), &mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(digest)
        .chars()
        .map(|c| match c {
            '/' => 'a',
            '+' => 'b',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Entries after which [`NameCache`] starts over, bounding its memory.
const NAME_CACHE_LIMIT: usize = 100_000;

/// A memo of [`normalize_key`] for row keys, which repeat in every row.
///
/// Bounded: the cache is cleared once it holds more than 100 000 names.
#[derive(Debug, Default, Clone)]
pub struct NameCache {
    names: HashMap<String, String>,
}

impl NameCache {
    /// An empty cache.
    pub fn new() -> NameCache {
        NameCache::default()
    }

    /// The column name of a row key: [`normalize_key`], memoized.
    pub fn normalize_key(&mut self, key: &str) -> &str {
        if !self.names.contains_key(key) {
            if self.names.len() >= NAME_CACHE_LIMIT {
                self.names.clear();
            }
            self.names.insert(key.to_string(), normalize_key(key));
        }
        self.names.get(key).map_or(EMPTY_KEY, String::as_str)
    }

    /// Number of memoized names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing is memoized.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, `normalize_identifier` (`None`: dlt raises), `normalize_path`,
    /// `normalize_tables_path`, row-level key), generated with dlt 1.31's
    /// `snake_case.NamingConvention(max_length=65536)`.
    const CASES: &[(&str, Option<&str>, &str, &str, &str)] = &[
        (
            "userName",
            Some("user_name"),
            "user_name",
            "user_name",
            "user_name",
        ),
        (
            "HTTPResponseCode",
            Some("http_response_code"),
            "http_response_code",
            "http_response_code",
            "http_response_code",
        ),
        (
            "getHTTP2Response",
            Some("get_http2_response"),
            "get_http2_response",
            "get_http2_response",
            "get_http2_response",
        ),
        ("aBC", Some("a_bc"), "a_bc", "a_bc", "a_bc"),
        (
            "CamelCaseID",
            Some("camel_case_id"),
            "camel_case_id",
            "camel_case_id",
            "camel_case_id",
        ),
        ("1st", Some("_1st"), "_1st", "_1st", "_1st"),
        ("x+y", Some("xxy"), "xxy", "xxy", "xxy"),
        ("@home", Some("ahome"), "ahome", "ahome", "ahome"),
        ("col#1", Some("col_1"), "col_1", "col_1", "col_1"),
        (
            "Trailing_",
            Some("trailingx"),
            "trailingx",
            "trailingx",
            "trailingx",
        ),
        ("_", Some("x"), "x", "x", "x"),
        ("Café", Some("cafx"), "cafx", "cafx", "cafx"),
        ("ŁódźCity", Some("_d_city"), "_d_city", "_d_city", "_d_city"),
        ("ID", Some("id"), "id", "id", "id"),
        ("userID", Some("user_id"), "user_id", "user_id", "user_id"),
        (
            "HTTPServer2Go",
            Some("http_server2_go"),
            "http_server2_go",
            "http_server2_go",
            "http_server2_go",
        ),
        ("id", Some("id"), "id", "id", "id"),
        ("Id", Some("id"), "id", "id", "id"),
        ("iD", Some("i_d"), "i_d", "i_d", "i_d"),
        (
            "  spaced name  ",
            Some("spaced_name"),
            "spaced_name",
            "spaced_name",
            "spaced_name",
        ),
        (
            "with space",
            Some("with_space"),
            "with_space",
            "with_space",
            "with_space",
        ),
        ("tab\tsep", Some("tab_sep"), "tab_sep", "tab_sep", "tab_sep"),
        ("a-b-c", Some("a_b_c"), "a_b_c", "a_b_c", "a_b_c"),
        ("a*b", Some("axb"), "axb", "axb", "axb"),
        ("a|b", Some("alb"), "alb", "alb", "alb"),
        ("a__b", Some("a_b"), "a__b", "a__b", "a__b"),
        ("a___b", Some("a_b"), "a___b", "a___b", "a___b"),
        ("a____b", Some("a_b"), "a__b", "a__b", "a__b"),
        ("__dunder", Some("_dunder"), "dunder", "dunder", "dunder"),
        ("x__", Some("xxx"), "x", "x", "x"),
        (
            "trailing__",
            Some("trailingxx"),
            "trailing",
            "trailing",
            "trailing",
        ),
        ("a__B", Some("a_b"), "a__b", "a__b", "a__b"),
        ("__dlt_id", Some("_dlt_id"), "dlt_id", "dlt_id", "dlt_id"),
        ("_dlt_id", Some("_dlt_id"), "_dlt_id", "_dlt_id", "_dlt_id"),
        (
            "Orders.Items V2",
            Some("orders_items_v2"),
            "orders_items_v2",
            "orders_items_v2",
            "orders_items_v2",
        ),
        (
            "MyTable",
            Some("my_table"),
            "my_table",
            "my_table",
            "my_table",
        ),
        (
            "My-DataSet",
            Some("my_data_set"),
            "my_data_set",
            "my_data_set",
            "my_data_set",
        ),
        ("٣abc", Some("_٣abc"), "_٣abc", "_٣abc", "_٣abc"),
        ("abc٣", Some("abc٣"), "abc٣", "abc٣", "abc٣"),
        ("٣", Some("_٣"), "_٣", "_٣", "_٣"),
        ("０１２", Some("_０１２"), "_０１２", "_０１２", "_０１２"),
        ("😀", Some("x"), "x", "x", "x"),
        ("a😀b", Some("a_b"), "a_b", "a_b", "a_b"),
        ("😀😀", Some("x"), "x", "x", "x"),
        ("é", Some("x"), "x", "x", "x"),
        ("ñandú", Some("_andx"), "_andx", "_andx", "_andx"),
        ("straße", Some("stra_e"), "stra_e", "stra_e", "stra_e"),
        (
            "İstanbul",
            Some("_stanbul"),
            "_stanbul",
            "_stanbul",
            "_stanbul",
        ),
        ("ǅemal", Some("_emal"), "_emal", "_emal", "_emal"),
        ("ABCDef", Some("abc_def"), "abc_def", "abc_def", "abc_def"),
        ("ABcDe", Some("a_bc_de"), "a_bc_de", "a_bc_de", "a_bc_de"),
        (
            "aBcDef",
            Some("a_bc_def"),
            "a_bc_def",
            "a_bc_def",
            "a_bc_def",
        ),
        ("XAbCd", Some("x_ab_cd"), "x_ab_cd", "x_ab_cd", "x_ab_cd"),
        ("AAbCd", Some("a_ab_cd"), "a_ab_cd", "a_ab_cd", "a_ab_cd"),
        (
            "value1Value2",
            Some("value1_value2"),
            "value1_value2",
            "value1_value2",
            "value1_value2",
        ),
        ("v1V2", Some("v1_v2"), "v1_v2", "v1_v2", "v1_v2"),
        (
            "camelCase_",
            Some("camel_casex"),
            "camel_casex",
            "camel_casex",
            "camel_casex",
        ),
        ("__", Some("xx"), "", "", ""),
        ("___a___", Some("_axxx"), "_a__x", "_a__x", "_a__x"),
        ("a.b.c", Some("a_b_c"), "a_b_c", "a_b_c", "a_b_c"),
        ("123", Some("_123"), "_123", "_123", "_123"),
        ("1_2_3", Some("_1_2_3"), "_1_2_3", "_1_2_3", "_1_2_3"),
        ("_1", Some("_1"), "_1", "_1", "_1"),
        ("__1", Some("_1"), "_1", "_1", "_1"),
        ("a__1b", Some("a_1b"), "a___1b", "a___1b", "a___1b"),
        (
            "snake_case",
            Some("snake_case"),
            "snake_case",
            "snake_case",
            "snake_case",
        ),
        (
            "SCREAMING_SNAKE",
            Some("screaming_snake"),
            "screaming_snake",
            "screaming_snake",
            "screaming_snake",
        ),
        (
            "kebab-case-Name",
            Some("kebab_case_name"),
            "kebab_case_name",
            "kebab_case_name",
            "kebab_case_name",
        ),
        ("x\u{a0}y", Some("x_y"), "x_y", "x_y", "x_y"),
        ("\u{2028}lead", Some("lead"), "lead", "lead", "lead"),
        ("a\u{1c}b", Some("a_b"), "a_b", "a_b", "a_b"),
        ("  ", None, "", "", "_empty"),
        ("\u{85}", None, "", "", "_empty"),
        ("a__  __b", Some("a_b"), "a__b", "a__b", "a__b"),
        ("a__ __b", Some("a_b"), "a__b", "a__b", "a__b"),
    ];

    #[test]
    fn matches_dlt_snake_case() {
        for &(input, ident, path, tables, key) in CASES {
            assert_eq!(
                normalize_identifier(input),
                ident.unwrap_or(EMPTY_KEY),
                "identifier {input:?}"
            );
            assert_eq!(normalize_path(input), path, "path {input:?}");
            assert_eq!(
                normalize_tables_path(input),
                tables,
                "tables path {input:?}"
            );
            assert_eq!(
                normalize_table_identifier(input),
                ident.unwrap_or(EMPTY_KEY)
            );
            assert_eq!(normalize_key(input), key, "key {input:?}");
        }
    }

    #[test]
    fn shortens_like_dlt() {
        // NamingConvention.shorten_identifier(normalized, original, max_length) in dlt
        let cases = [
            (
                "abcdefghijklmnopqrstuvwxyz",
                "AbcdefghijklmnopqrstuvwxyZ",
                10,
                "ab1uucgwyz",
            ),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "abcdefghijklmnopqrstuvwxyz",
                11,
                "abclhyrnayz",
            ),
            ("short", "short", 10, "short"),
            ("abcdefghij", "x", 6, "5hlf4w"),
            ("a\u{663}bcdefghijkl", "x", 9, "a\u{663}5hlf4wl"),
            ("abcdefghij", "orig", 0, "abcdefghij"),
        ];
        for (normalized, original, max_len, expected) in cases {
            assert_eq!(shorten_identifier(normalized, original, max_len), expected);
        }
        // below the tag length dlt asserts; here the tag is cut
        assert_eq!(shorten_identifier("abcdefghij", "x", 3), "5hl");
        let long = "a".repeat(MAX_IDENTIFIER_LENGTH + 1);
        let short = normalize_identifier(&long);
        assert_eq!(short.len(), MAX_IDENTIFIER_LENGTH);
        assert_eq!(
            normalize_identifier(&"a".repeat(MAX_IDENTIFIER_LENGTH)).len(),
            MAX_IDENTIFIER_LENGTH
        );
    }

    #[test]
    fn makes_paths() {
        assert_eq!(make_path(&["a", "b", "c"]), "a__b__c");
        assert_eq!(make_path(&["a", "", " ", "c"]), "a__c");
        assert_eq!(make_path(&[]), "");
        assert_eq!(shorten_fragments(&["t", "a", "v_text"]), "t__a__v_text");
    }

    #[test]
    fn name_cache_memoizes_and_stays_bounded() {
        let mut cache = NameCache::new();
        assert!(cache.is_empty());
        assert_eq!(cache.normalize_key("userName"), "user_name");
        assert_eq!(cache.normalize_key("userName"), "user_name");
        assert_eq!(cache.normalize_key(" "), EMPTY_KEY);
        assert_eq!(cache.normalize_key("a__B"), "a__b");
        assert_eq!(cache.len(), 3);
        for i in 0..(NAME_CACHE_LIMIT + 10) {
            let key = format!("k{i}");
            assert_eq!(cache.normalize_key(&key), key);
        }
        assert!(cache.len() <= NAME_CACHE_LIMIT);
    }
}

//! Python compatibility: the places where dango must produce exactly the bytes dlt (CPython,
//! orjson, pendulum, hashlib) produces, so ids, hashes, names and stored documents match dlt's.
//!
//! Everything that imitates a Python library lives here, so a difference from dlt has one
//! place to be fixed:
//! - [`hash`]: hashlib's `shake_128` and `sha3_256`;
//! - [`json`]: orjson's compact `dumps` (with `OPT_SORT_KEYS` for hashes);
//! - [`num`]: `int()` and `float()` of text, `repr(float)`, orjson's float format;
//! - [`unicode`]: the Unicode tables behind `str.isspace()`, `str.strip()` and `\d`;
//! - [`datetime`]: `date`/`time`/`datetime` validation, `date.fromisoformat`, `fromtimestamp`;
//! - [`pendulum`]: pendulum's ISO 8601 parser and its `_parse_common` fallback;
//! - [`typed`]: dlt's typed JSON values (U+F026.. prefixed strings), decoded and encoded.
//!
//! dlt's own rules built on these (naming, type detection and coercion, the relational
//! normalizer) stay in [`crate::normalize`].

pub mod datetime;
pub mod hash;
pub mod json;
pub mod num;
pub mod pendulum;
pub mod typed;
pub mod unicode;
